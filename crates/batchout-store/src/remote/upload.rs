//! Reading a local file for an upload, for every remote backend: in order,
//! in blocks, each hashed as it is read (its request's checksum, and the
//! checksums of the whole file), on a thread of its own at background
//! priority, refused if the file changes meanwhile.
//!
//! - A file is read in order by one reader that feeds the checksums of the
//!   whole file, computes each block's checksum, and hands the block's bytes,
//!   in memory, to the uploads. The reader is a thread of its own,
//!   `batchout-upload`, at background priority (decision 0008).
//! - The file's length and modification time are taken when it is opened and
//!   checked after every block and once the last byte is read (with the file at
//!   the path, which must still be the same file): if anything changed, or the
//!   file has more or fewer bytes than it had, the upload fails with
//!   [`Error::SourceChanged`] before the backend makes anything visible, so
//!   nothing half-old half-new is ever stored.
//! - Blocks go up `concurrency` at a time while the reader reads the next one:
//!   memory stays within (`concurrency` + 1) × the block size, whatever the
//!   file's size.

use std::fs::File;
use std::future::Future;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::checksum::{BodyChecksum, ContentChecksums, ContentHasher, RequestHasher};
use crate::{Error, RequestChecksum, Result};

/// How much of a block is read, then hashed, at a time: small enough to
/// stay in a core's cache between the read and the hashing.
const HASH_SLICE: u64 = 256 * 1024;

/// What the reader hands to the uploads.
enum Piece {
    /// The next block, in order, with the permit that counts it as in
    /// memory.
    Block(Block, OwnedSemaphorePermit),
    /// Every byte was read, and the file did not change: its checksums.
    End(ContentChecksums),
}

/// The bytes of one request, and their checksum.
pub(crate) struct Block {
    /// Its place in the file, from 0.
    pub(crate) index: u64,
    pub(crate) bytes: Bytes,
    pub(crate) checksum: BodyChecksum,
}

/// Reads `source` in blocks of `block_size` on a thread of its own, `nice`
/// lower than the rest (decision 0008), and sends each with `send`, up to
/// `concurrency` at once, in memory at most `concurrency` + 1 blocks. Returns
/// the checksums of the whole file, once every block is sent and the file
/// found unchanged.
///
/// # Errors
///
/// The first error of a read or a send; [`Error::SourceChanged`].
pub(crate) async fn send_blocks<F, S>(
    source: Source,
    block_size: u64,
    concurrency: usize,
    nice: u8,
    send: S,
) -> Result<ContentChecksums>
where
    S: Fn(Block) -> F,
    F: Future<Output = Result<()>>,
{
    let concurrency = concurrency.max(1);
    let permits = Arc::new(Semaphore::new(concurrency + 1));
    let _stop_reader = CloseOnDrop(Arc::clone(&permits));
    let (sender, receiver) = mpsc::unbounded_channel();
    let runtime = tokio::runtime::Handle::current();
    let path = source.path.clone();
    crate::priority::spawn_lowered("batchout-upload", nice, move || {
        read_blocks(source, block_size, &permits, &sender, &runtime);
    })
    .map_err(|e| Error::io("read", &path, e))?;

    let pieces = stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|piece| (piece, receiver))
    });
    let send = &send;
    pieces
        .map(|piece| async move {
            match piece? {
                // The permit is held here, until the send ends, rather than
                // by the block: a `send` that moves only the bytes out of
                // the block would otherwise free it when its future is made,
                // and the reader would run ahead of the bound.
                Piece::Block(block, _in_memory) => send(block).await.map(|()| None),
                Piece::End(checksums) => Ok(Some(checksums)),
            }
        })
        .buffer_unordered(concurrency)
        .try_fold(None, |found: Option<ContentChecksums>, end| async move {
            Ok(found.or(end))
        })
        .await?
        .ok_or_else(|| {
            let stopped = std::io::Error::other("the reader stopped before the end of the file");
            Error::io("read", &path, stopped)
        })
}

/// A file opened for an upload: read whole already (it fits one request),
/// or to be read in blocks.
pub(crate) enum Opened {
    /// The whole file, and its checksums.
    Whole(Block, ContentChecksums),
    /// A file larger than one request.
    Large(Box<Source>),
}

/// Opens `path` for an upload on a blocking thread, and reads it whole there
/// when it is at most `single_max` bytes (consistent by construction, but a
/// file that changed while it was read is still reported, and not stored).
///
/// # Errors
///
/// [`Error::Io`] when it cannot be read or is not a regular file;
/// [`Error::SourceChanged`].
pub(crate) async fn open(
    path: PathBuf,
    checksum: RequestChecksum,
    sha256: bool,
    single_max: u64,
) -> Result<Opened> {
    blocking(move || {
        let mut source = Source::open(path, checksum, sha256)?;
        if source.len > single_max {
            return Ok(Opened::Large(Box::new(source)));
        }
        let block = source.next_block(source.len)?;
        Ok(Opened::Whole(block, source.finish()?))
    })
    .await
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
            Piece::Block(block, permit)
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
pub(crate) struct Source {
    pub(crate) path: PathBuf,
    file: File,
    /// Its length when opened.
    pub(crate) len: u64,
    modified: Option<SystemTime>,
    identity: Identity,
    hasher: ContentHasher,
    checksum: RequestChecksum,
}

impl Source {
    /// Opens `path`, to send with `checksum` on each request and to record
    /// its SHA-256 too if `sha256`.
    pub(crate) fn open(path: PathBuf, checksum: RequestChecksum, sha256: bool) -> Result<Self> {
        let file = File::open(&path).map_err(|e| Error::io("read", &path, e))?;
        let meta = file.metadata().map_err(|e| Error::io("read", &path, e))?;
        if !meta.is_file() {
            let e =
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "it is not a regular file");
            return Err(Error::io("read", &path, e));
        }
        Ok(Self {
            len: meta.len(),
            modified: meta.modified().ok(),
            identity: Identity::of(&meta),
            path,
            file,
            hasher: ContentHasher::new(sha256),
            checksum,
        })
    }

    /// Reads the next `len` bytes, hashing them, and checks that the file has
    /// not changed so far.
    ///
    /// The block is read and hashed a [`HASH_SLICE`] at a time, so each slice
    /// is hashed while it is still in the processor's cache, not fetched from
    /// memory again in a second pass over the whole block.
    pub(crate) fn next_block(&mut self, len: u64) -> Result<Block> {
        let capacity = usize::try_from(len).unwrap_or(0);
        let mut buffer = Vec::with_capacity(capacity);
        let mut request = self.checksum.hasher();
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
        let (checksum, crc) = request.finish();
        if let Some(crc) = crc {
            self.hasher.add_crc(crc, len);
        }
        self.check_unchanged()?;
        Ok(Block {
            index: 0,
            bytes: buffer.into(),
            checksum,
        })
    }

    /// After the last byte: the file must end there, be unchanged, and still
    /// be the file at its path. Returns the checksums of what was read.
    pub(crate) fn finish(self) -> Result<ContentChecksums> {
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
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::io("read", "the file to upload", std::io::Error::other(e)))?
}

#[cfg(test)]
mod tests {
    use md5::Digest;
    use sha2::Sha256;

    use super::*;
    use crate::checksum::{crc64nvme_hex, hex};

    #[test]
    fn a_file_read_whole_is_hashed_and_checked() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "abc").expect("write");
        let mut source = Source::open(path.clone(), RequestChecksum::Md5, true).expect("opens");
        let block = source.next_block(3).expect("read");
        assert_eq!(
            block.checksum.azure_header(),
            ("content-md5", "kAFQmDzST7DWlj99KOF/cg==".to_owned())
        );
        let checksums = source.finish().expect("unchanged");
        assert_eq!(
            checksums.sha256.as_deref(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(crc64nvme_hex(checksums.crc64nvme), "05e5cabb3fc1faeb");
    }

    /// The checksum a body should carry, computed in one go by the hashing
    /// crates themselves.
    fn expected(checksum: RequestChecksum, body: &[u8]) -> BodyChecksum {
        match checksum {
            RequestChecksum::Md5 => BodyChecksum::Md5(md5::Md5::digest(body).into()),
            RequestChecksum::Crc64 => {
                BodyChecksum::Crc64(crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, body))
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

        /// Blocks are read and hashed a slice at a time; whatever the sizes,
        /// each carries the checksum of its whole bytes, and the file's
        /// checksums are those of all of it.
        #[test]
        fn blocks_read_in_slices_carry_the_checksums_of_their_whole_bytes(
            len in 0..(3 * HASH_SLICE + 5000),
            block_size in 1..(2 * HASH_SLICE + 3),
            crc64 in proptest::bool::ANY,
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
            let mut offset = 0;
            while offset < len {
                let take = block_size.min(len - offset);
                let body = &data[offset as usize..(offset + take) as usize];
                let block = source.next_block(take).expect("read");
                proptest::prop_assert_eq!(&block.bytes[..], body);
                proptest::prop_assert_eq!(block.checksum, expected(checksum, body));
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
