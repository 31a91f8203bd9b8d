//! Whole-blob uploads (one Put Blob, or Put Block… then Put Block List), with
//! their integrity checks.
//!
//! - Every request carries a checksum of its body (`Content-MD5` or
//!   `x-ms-content-crc64`, see [`crate::RequestChecksum`]), so the service
//!   refuses a body corrupted on the way (`400 Md5Mismatch` or
//!   `Crc64Mismatch`, retried, then reported as [`Error::CorruptedInTransit`]).
//! - A file is read in order by one reader that feeds the checksums of the
//!   whole file, computes each request's checksum, and hands the request's
//!   bytes, in memory, to the uploads. The reader is a thread of its own,
//!   `batchout-upload`, at background priority ([`crate::AzureOptions::nice`]).
//!   With `Content-MD5`, it first hashes the blocks several at a time, in SIMD
//!   lanes, then reads each again to send it, and refuses one whose bytes
//!   changed in between ([`crate::md5_lanes`]).
//!   The whole file's CRC-64/NVME (`x-ms-meta-crc64nvme`), and its SHA-256
//!   (`x-ms-meta-sha256`) when [`crate::AzureOptions::sha256`] asks for it, go
//!   into the blob's metadata with the request that makes the blob visible, so
//!   what is recorded is the checksum of exactly what was sent.
//! - The file's length and modification time are taken when it is opened and
//!   checked after every block and once the last byte is read (with the file at
//!   the path, which must still be the same file): if anything changed, or the
//!   file has more or fewer bytes than it had, the upload fails with
//!   [`Error::SourceChanged`] before the blob is written. Put Blob, or Put Block
//!   List, is then never sent, so the blob keeps its previous content and
//!   nothing half-old half-new is ever stored.
//! - Blocks go up `block_concurrency` at a time while the reader reads the next
//!   one: memory stays within (`block_concurrency` + 1) × `block_size`, plus a
//!   64 KiB slice per MD5 lane, whatever the file's size. Uploaded blocks stay
//!   invisible until Put Block List commits them. Their ids carry a token
//!   unique to the upload, so two writers of one blob at once never commit
//!   each other's blocks.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use reqwest::Method;
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use super::AzureStore;
use super::client::{Payload, Request};
use crate::checksum::{
    ContentChecksums, ContentHasher, RequestHasher, crc64nvme_hex, hex, md5_header,
};
use crate::md5_lanes::{BlockSums, Md5Lanes};
use crate::{BlobType, Error, Location, ObjectMeta, PutOptions, RequestChecksum, Result};

/// The metadata header that holds a blob's CRC-64/NVME, 16 hex digits.
pub(super) const CRC64NVME_HEADER: &str = "x-ms-meta-crc64nvme";
/// The metadata header that holds a blob's SHA-256, 64 hex digits.
pub(super) const SHA256_HEADER: &str = "x-ms-meta-sha256";

/// The most blocks one block blob may hold.
const MAX_BLOCKS: u64 = 50_000;

/// How much of a block is read, then hashed, at a time: small enough to
/// stay in a core's cache between the read and the hashing.
const HASH_SLICE: u64 = 256 * 1024;

/// Bytes in memory above which hashing moves off the async threads.
const INLINE_HASH_MAX: usize = 256 * 1024;

/// Writes bytes in memory with one Put Blob.
pub(super) async fn put_bytes(
    store: &AzureStore,
    location: &Location,
    bytes: Bytes,
    content_type: &str,
    options: &PutOptions,
) -> Result<ObjectMeta> {
    let algorithm = store.inner.checksum;
    let sha256 = store.inner.options.sha256;
    let hash = move |bytes: &Bytes| {
        let (checksum, crc) = algorithm.header_and_crc(bytes);
        (checksum, ContentHasher::of(bytes, crc, sha256))
    };
    let (checksum, checksums) = if bytes.len() <= INLINE_HASH_MAX {
        hash(&bytes)
    } else {
        let shared = bytes.clone();
        blocking(move || Ok(hash(&shared))).await?
    };
    put_blob(
        store,
        location,
        bytes,
        checksum,
        checksums,
        content_type,
        options,
    )
    .await
}

/// Writes a local file: one Put Blob up to `single_put_max`, else blocks.
pub(super) async fn put_file(
    store: &AzureStore,
    location: &Location,
    path: &Path,
    content_type: &str,
    options: &PutOptions,
) -> Result<ObjectMeta> {
    let owned = path.to_owned();
    let algorithm = store.inner.checksum;
    let sha256 = store.inner.options.sha256;
    let single_put_max = store.inner.options.single_put_max;
    // One trip to a blocking thread: open, and for a file of one request, read
    // it whole (consistent by construction, but a file that changed while it
    // was read is still reported, and not stored).
    let opened = blocking(move || {
        let mut source = Source::open(owned, algorithm, sha256)?;
        if source.len > single_put_max {
            return Ok(Opened::Large(Box::new(source)));
        }
        let block = source.next_block(source.len)?;
        Ok(Opened::Whole(block, source.finish()?))
    })
    .await?;
    let (block, checksums) = match opened {
        Opened::Large(source) => {
            return put_blocks(store, location, *source, content_type, options).await;
        }
        Opened::Whole(block, checksums) => (block, checksums),
    };
    put_blob(
        store,
        location,
        block.bytes,
        block.checksum,
        checksums,
        content_type,
        options,
    )
    .await
}

/// A file opened for an upload: read whole already, or to be read in blocks.
enum Opened {
    Whole(Block, ContentChecksums),
    Large(Box<Source>),
}

/// One Put Blob of a block blob, with its checksums.
async fn put_blob(
    store: &AzureStore,
    location: &Location,
    bytes: Bytes,
    checksum: (&'static str, String),
    checksums: ContentChecksums,
    content_type: &str,
    options: &PutOptions,
) -> Result<ObjectMeta> {
    let size = bytes.len() as u64;
    let request = Request::new(
        "write",
        Method::PUT,
        &location.container,
        Some(location.name.as_str()),
    )
    .header("x-ms-blob-type", "BlockBlob")
    .header("x-ms-blob-content-type", content_type)
    .checksum_header(checksum);
    let request = recording(request, &checksums).payload(Payload::Bytes(bytes));
    let response = store.send_checked(&request).await.0?;
    options.count(size);
    let meta = super::written_meta(
        location,
        size,
        content_type.to_owned(),
        BlobType::Block,
        response.headers(),
    );
    Ok(recorded(meta, checksums))
}

/// The request that makes a blob visible, with its whole checksums as metadata.
fn recording<'a>(request: Request<'a>, checksums: &ContentChecksums) -> Request<'a> {
    let request = request.header(CRC64NVME_HEADER, crc64nvme_hex(checksums.crc64nvme));
    match &checksums.sha256 {
        Some(sha256) => request.header(SHA256_HEADER, sha256.clone()),
        None => request,
    }
}

/// The properties of a blob just written, with the checksums it records.
fn recorded(mut meta: ObjectMeta, checksums: ContentChecksums) -> ObjectMeta {
    meta.crc64nvme = Some(checksums.crc64nvme);
    meta.sha256 = checksums.sha256;
    meta
}

/// What the reader hands to the uploads.
enum Piece {
    /// The next block, in order.
    Block(Block),
    /// Every byte was read, and the file did not change: its checksums.
    End(ContentChecksums),
}

/// The bytes of one request, and the header with their checksum.
struct Block {
    index: u64,
    bytes: Bytes,
    checksum: (&'static str, String),
    /// Held while the block is in memory; bounds how many are.
    _permit: Option<OwnedSemaphorePermit>,
}

/// Uploads a file larger than one request as blocks, and commits them.
async fn put_blocks(
    store: &AzureStore,
    location: &Location,
    mut source: Source,
    content_type: &str,
    options: &PutOptions,
) -> Result<ObjectMeta> {
    let tuning = &store.inner.options;
    let len = source.len;
    // A blob holds at most 50,000 blocks: larger files get larger blocks.
    let block_size = tuning.block_size.max(len.div_ceil(MAX_BLOCKS)).max(1);
    let concurrency = tuning.block_concurrency.max(1);
    let count = len.div_ceil(block_size);
    let token = upload_token();
    let ids: Vec<String> = (0..count).map(|index| block_id(&token, index)).collect();
    source.hash_in_lanes(block_size);

    // In memory at once: the blocks in flight, and the one being read.
    let permits = Arc::new(Semaphore::new(concurrency + 1));
    let _stop_reader = CloseOnDrop(Arc::clone(&permits));
    let (sender, receiver) = mpsc::unbounded_channel();
    let runtime = tokio::runtime::Handle::current();
    let path = source.path.clone();
    crate::priority::spawn_lowered("batchout-upload", tuning.nice, move || {
        read_blocks(source, block_size, &permits, &sender, &runtime);
    })
    .map_err(|e| Error::io("read", path, e))?;

    let pieces = stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|piece| (piece, receiver))
    });
    let checksums = pieces
        .map(|piece| {
            let ids = &ids;
            async move {
                match piece? {
                    Piece::Block(block) => {
                        let len = block.bytes.len() as u64;
                        put_block(store, location, &ids[block.index as usize], block).await?;
                        options.count(len);
                        Ok(None)
                    }
                    Piece::End(checksums) => Ok(Some(checksums)),
                }
            }
        })
        .buffer_unordered(concurrency)
        .try_fold(None, |found: Option<ContentChecksums>, end| async move {
            Ok(found.or(end))
        })
        .await?
        .ok_or_else(|| {
            let stopped = std::io::Error::other("the reader stopped before the end of the file");
            Error::io("read", location.name.as_str(), stopped)
        })?;

    let mut list = String::with_capacity(40 + ids.len() * 60);
    list.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
    for id in &ids {
        list.push_str("<Latest>");
        list.push_str(id);
        list.push_str("</Latest>");
    }
    list.push_str("</BlockList>");
    let request = Request::new(
        "write",
        Method::PUT,
        &location.container,
        Some(location.name.as_str()),
    )
    .query("comp", "blocklist")
    .header("x-ms-blob-content-type", content_type)
    .checksum_header(store.inner.checksum.header(list.as_bytes()));
    let request = recording(request, &checksums).payload(Payload::Bytes(list.into()));
    let response = store.send_checked(&request).await.0?;
    let meta = super::written_meta(
        location,
        len,
        content_type.to_owned(),
        BlobType::Block,
        response.headers(),
    );
    Ok(recorded(meta, checksums))
}

/// One Put Block.
async fn put_block(store: &AzureStore, location: &Location, id: &str, block: Block) -> Result<()> {
    let request = Request::new(
        "write",
        Method::PUT,
        &location.container,
        Some(location.name.as_str()),
    )
    .query("comp", "block")
    .query("blockid", id)
    .checksum_header(block.checksum)
    .payload(Payload::Bytes(block.bytes));
    store.send_checked(&request).await.0.map(drop)
}

/// The reader's thread: reads the blocks in order, each once a permit frees,
/// and sends them, then the file's checksums (or the first error, after which it
/// stops). It stops too when the upload is given up (the permits are closed,
/// or nobody receives).
fn read_blocks(
    mut source: Source,
    block_size: u64,
    permits: &Arc<Semaphore>,
    sender: &mpsc::UnboundedSender<Result<Piece>>,
    runtime: &tokio::runtime::Handle,
) {
    let mut offset = 0;
    let mut index = 0;
    while offset < source.len {
        let Ok(permit) = runtime.block_on(Arc::clone(permits).acquire_owned()) else {
            return;
        };
        let len = block_size.min(source.len - offset);
        let piece = source.next_block(len).map(|mut block| {
            block.index = index;
            block._permit = Some(permit);
            Piece::Block(block)
        });
        let failed = piece.is_err();
        if sender.send(piece).is_err() || failed {
            return;
        }
        offset += len;
        index += 1;
    }
    let _ = sender.send(source.finish().map(Piece::End));
}

/// Closes the permits when the upload ends, however it ends, so a reader
/// waiting for one stops.
struct CloseOnDrop(Arc<Semaphore>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// A local file being read for an upload, with what it was when opened.
struct Source {
    path: PathBuf,
    file: File,
    len: u64,
    /// Bytes read so far.
    read: u64,
    /// Where the `Content-MD5`s of blocks come from when they are hashed
    /// ahead, several at a time (see [`Source::hash_in_lanes`]).
    lanes: Option<Md5Lanes>,
    modified: Option<SystemTime>,
    identity: Identity,
    hasher: ContentHasher,
    checksum: RequestChecksum,
}

impl Source {
    /// Opens `path`, to send with `checksum` on each request and to record
    /// its SHA-256 too if `sha256`.
    fn open(path: PathBuf, checksum: RequestChecksum, sha256: bool) -> Result<Self> {
        let file = File::open(&path).map_err(|e| Error::io("read", &path, e))?;
        let meta = file.metadata().map_err(|e| Error::io("read", &path, e))?;
        if !meta.is_file() {
            let e =
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "it is not a regular file");
            return Err(Error::io("read", &path, e));
        }
        Ok(Self {
            len: meta.len(),
            read: 0,
            lanes: None,
            modified: meta.modified().ok(),
            identity: Identity::of(&meta),
            path,
            file,
            hasher: ContentHasher::new(sha256),
            checksum,
        })
    }

    /// Has the `Content-MD5`s of the blocks to come, of `block_size` bytes
    /// each, computed several blocks at a time, ahead of their reading, where
    /// that pays ([`Md5Lanes::for_file`]). Only [`Source::next_block`]s of
    /// `block_size` bytes, but the last, may follow.
    fn hash_in_lanes(&mut self, block_size: u64) {
        if self.checksum == RequestChecksum::Md5 {
            self.lanes = Md5Lanes::for_file(block_size, self.len);
        }
    }

    /// Reads the next `len` bytes, hashing them, and checks that the file has
    /// not changed so far.
    ///
    /// The block is read and hashed a [`HASH_SLICE`] at a time, so each slice
    /// is hashed while it is still in the processor's cache, not fetched from
    /// memory again in a second pass over the whole block. When its MD5 was
    /// computed ahead, only its CRC-64/NVME is computed here, and it must be
    /// the one computed with the MD5: the bytes sent are those hashed.
    fn next_block(&mut self, len: u64) -> Result<Block> {
        let ahead = self.hashed_ahead(len)?;
        let capacity = usize::try_from(len).unwrap_or(0);
        let mut buffer = Vec::with_capacity(capacity);
        let mut request = match ahead {
            Some(_) => RequestChecksum::Crc64.hasher(),
            None => self.checksum.hasher(),
        };
        let mut rest = (&self.file).take(len);
        loop {
            let start = buffer.len();
            let read = (&mut rest)
                .take(HASH_SLICE)
                .read_to_end(&mut buffer)
                .map_err(|e| Error::io("read", &self.path, e))?;
            if read == 0 {
                break;
            }
            let slice = &buffer[start..];
            request.update(slice);
            match &request {
                // The request's CRC is the content's: added once, below.
                RequestHasher::Crc64(_) => self.hasher.update_all_but_crc(slice),
                RequestHasher::Md5(_) => self.hasher.update(slice),
            }
        }
        if buffer.len() as u64 != len {
            return Err(self.changed("it ended early"));
        }
        let (mut checksum, crc) = request.finish();
        if let Some(crc) = crc {
            self.hasher.add_crc(crc, len);
        }
        if let Some(sums) = ahead {
            if crc != Some(sums.crc64nvme) {
                return Err(self.changed("its bytes changed between two reads"));
            }
            checksum = md5_header(&sums.md5);
        }
        self.read += len;
        self.check_unchanged()?;
        Ok(Block {
            index: 0,
            bytes: buffer.into(),
            checksum,
            _permit: None,
        })
    }

    /// The sums of the next block, of `len` bytes, when they are hashed ahead.
    fn hashed_ahead(&mut self, len: u64) -> Result<Option<BlockSums>> {
        let Some(lanes) = &mut self.lanes else {
            return Ok(None);
        };
        match lanes.next(&self.file, self.read) {
            Ok(sums) if sums.len == len => Ok(Some(sums)),
            Ok(sums) => {
                let odd = format!("a block of {len} bytes was read as {}", sums.len);
                Err(Error::io("read", &self.path, std::io::Error::other(odd)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                Err(self.changed("it ended early"))
            }
            Err(e) => Err(Error::io("read", &self.path, e)),
        }
    }

    /// After the last byte: the file must end there, be unchanged, and still
    /// be the file at its path. Returns the checksums of what was read.
    fn finish(self) -> Result<ContentChecksums> {
        let mut more = [0u8; 1];
        let extra = (&self.file)
            .read(&mut more)
            .map_err(|e| Error::io("read", &self.path, e))?;
        if extra != 0 {
            return Err(self.changed("it grew"));
        }
        self.check_unchanged()?;
        match std::fs::metadata(&self.path) {
            Ok(now) if Identity::of(&now) == self.identity && self.same(&now) => {}
            Ok(_) => return Err(self.changed("another file took its place")),
            Err(e) => {
                tracing::debug!(path = %self.path.display(), error = %e, "cannot stat the source again");
                return Err(self.changed("it can no longer be found"));
            }
        }
        Ok(self.hasher.finish())
    }

    fn check_unchanged(&self) -> Result<()> {
        let now = self
            .file
            .metadata()
            .map_err(|e| Error::io("read", &self.path, e))?;
        if self.same(&now) {
            Ok(())
        } else {
            Err(self.changed("its length or modification time changed"))
        }
    }

    fn same(&self, now: &std::fs::Metadata) -> bool {
        now.len() == self.len && now.modified().ok() == self.modified
    }

    fn changed(&self, how: &str) -> Error {
        tracing::warn!(path = %self.path.display(), how, "the file changed while it was being uploaded");
        Error::SourceChanged {
            path: self.path.clone(),
        }
    }
}

/// Which file a path names: device and inode where there are such.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity(u64, u64);

impl Identity {
    #[cfg(unix)]
    fn of(meta: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self(meta.dev(), meta.ino())
    }

    #[cfg(not(unix))]
    fn of(_meta: &std::fs::Metadata) -> Self {
        Self(0, 0)
    }
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::io("read", "the file to upload", std::io::Error::other(e)))?
}

/// A token unique to one upload (time, process, counter), 16 hex digits.
fn upload_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut hasher = Sha256::new();
    hasher.update(nanos.to_le_bytes());
    hasher.update(std::process::id().to_le_bytes());
    hasher.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    hex(&hasher.finalize()[..8])
}

/// Block ids must all have the same length: the upload's token and a
/// zero-padded index, base64.
fn block_id(token: &str, index: u64) -> String {
    BASE64.encode(format!("{token}-{index:010}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_ids_have_one_length_and_differ_between_uploads() {
        let (a, b) = (upload_token(), upload_token());
        assert_ne!(a, b);
        assert_eq!(block_id(&a, 0).len(), block_id(&b, 9_999_999).len());
        assert_ne!(block_id(&a, 1), block_id(&a, 2));
        assert_ne!(block_id(&a, 1), block_id(&b, 1));
    }

    #[test]
    fn a_file_read_whole_is_hashed_and_checked() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "abc").expect("write");
        let mut source = Source::open(path.clone(), RequestChecksum::Md5, true).expect("opens");
        let block = source.next_block(3).expect("read");
        assert_eq!(
            block.checksum,
            ("content-md5", "kAFQmDzST7DWlj99KOF/cg==".to_owned())
        );
        let checksums = source.finish().expect("unchanged");
        assert_eq!(
            checksums.sha256.as_deref(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(crc64nvme_hex(checksums.crc64nvme), "05e5cabb3fc1faeb");
    }

    /// The request header a body should carry, computed in one go by the
    /// hashing crates themselves.
    fn expected_header(checksum: RequestChecksum, body: &[u8]) -> (&'static str, String) {
        match checksum {
            RequestChecksum::Md5 => ("content-md5", BASE64.encode(md5::Md5::digest(body))),
            RequestChecksum::Crc64 => {
                let crc = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, body);
                ("x-ms-content-crc64", BASE64.encode(crc.to_le_bytes()))
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

        /// Blocks are read and hashed a slice at a time, their MD5s several
        /// blocks at a time or not; whatever the sizes, each carries the
        /// checksum of its whole bytes, and the file's checksums are those of
        /// all of it.
        #[test]
        fn blocks_read_in_slices_carry_the_checksums_of_their_whole_bytes(
            len in 0..(3 * HASH_SLICE + 5000),
            block_size in 1..(2 * HASH_SLICE + 3),
            crc64 in proptest::bool::ANY,
            lanes in 0..17_usize,
            sha256 in proptest::bool::ANY,
            seed in proptest::num::u8::ANY,
        ) {
            let data: Vec<u8> = (0..len)
                .map(|i| ((i.wrapping_mul(2_654_435_761) >> 13) as u8) ^ seed)
                .collect();
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("f.bin");
            std::fs::write(&path, &data).expect("write");
            let checksum = if crc64 { RequestChecksum::Crc64 } else { RequestChecksum::Md5 };
            let mut source = Source::open(path, checksum, sha256).expect("opens");
            if lanes > 0 && !crc64 {
                let engine = md5_many::Md5Many::new();
                source.lanes = Some(Md5Lanes::with_group(engine, lanes, block_size, len));
            }
            let mut offset = 0;
            while offset < len {
                let take = block_size.min(len - offset);
                let body = &data[offset as usize..(offset + take) as usize];
                let block = source.next_block(take).expect("read");
                proptest::prop_assert_eq!(&block.bytes[..], body);
                proptest::prop_assert_eq!(block.checksum, expected_header(checksum, body));
                offset += take;
            }
            let whole = source.finish().expect("unchanged");
            proptest::prop_assert_eq!(
                whole.crc64nvme,
                crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, &data)
            );
            let sha = sha256.then(|| hex(&Sha256::digest(&data)));
            proptest::prop_assert_eq!(whole.sha256, sha);
        }
    }

    #[test]
    fn a_block_that_changed_after_it_was_hashed_ahead_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.bin");
        std::fs::write(&path, vec![7u8; 3000]).expect("write");
        let mut source = Source::open(path.clone(), RequestChecksum::Md5, false).expect("opens");
        let engine = md5_many::Md5Many::new();
        source.lanes = Some(Md5Lanes::with_group(engine, 3, 1000, 3000));
        // The first block's reading hashes all three.
        source.next_block(1000).expect("first block");
        // The third block changes in place, and its modification time is put
        // back: only its bytes tell.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open");
        let modified = file.metadata().expect("stat").modified().expect("mtime");
        std::os::unix::fs::FileExt::write_all_at(&file, b"x", 2500).expect("write");
        file.set_modified(modified).expect("put the time back");
        source.next_block(1000).expect("second block, unchanged");
        let Err(err) = source.next_block(1000) else {
            panic!("a block whose bytes changed was read");
        };
        assert!(matches!(err, Error::SourceChanged { .. }), "{err}");
    }

    #[test]
    fn a_file_that_grows_while_it_is_read_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "abc").expect("write");
        let mut source = Source::open(path.clone(), RequestChecksum::Crc64, false).expect("opens");
        source.next_block(3).expect("read");
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        std::io::Write::write_all(&mut file, b"d").expect("append");
        let err = source.finish().unwrap_err();
        assert!(matches!(err, Error::SourceChanged { .. }), "{err}");
        assert!(err.to_string().contains("save it again"), "{err}");
    }

    #[test]
    fn a_file_replaced_at_its_path_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "abc").expect("write");
        let mut source = Source::open(path.clone(), RequestChecksum::Crc64, false).expect("opens");
        source.next_block(3).expect("read");
        let other = dir.path().join("b.txt");
        std::fs::write(&other, "xyz").expect("write");
        std::fs::rename(&other, &path).expect("replace");
        assert!(matches!(source.finish(), Err(Error::SourceChanged { .. })));
    }
}
