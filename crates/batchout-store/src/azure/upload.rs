//! Whole-blob uploads on Azure: one Put Blob, or Put Block… then Put Block
//! List, with their integrity checks.
//!
//! - Every request carries a checksum of its body (`Content-MD5` or
//!   `x-ms-content-crc64`, see [`crate::RequestChecksum`]), so the service
//!   refuses a body corrupted on the way (`400 Md5Mismatch` or
//!   `Crc64Mismatch`, retried, then reported as [`crate::Error::CorruptedInTransit`]).
//! - A file is read, hashed and checked for changes by the reader that every
//!   remote backend shares (`remote::upload`): nothing is made visible for a
//!   file that changed while it was read.
//! - The whole file's CRC-64/NVME (`x-ms-meta-crc64nvme`), and its SHA-256
//!   (`x-ms-meta-sha256`) when [`crate::TransferOptions::sha256`] asks for
//!   it, go into the blob's metadata with the request that makes the blob
//!   visible, so what is recorded is the checksum of exactly what was sent.
//! - Blocks go up `block_concurrency` at a time, invisible until Put Block
//!   List commits them. Their ids carry a token unique to the upload, so two
//!   writers of one blob at once never commit each other's blocks.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use reqwest::Method;
use sha2::{Digest, Sha256};

use super::AzureStore;
use super::request::Request;
use crate::checksum::{BodyChecksum, ContentChecksums, ContentHasher, crc64nvme_hex, hex};
use crate::remote::http::Payload;
use crate::remote::upload::{self, Block, Opened, Source};
use crate::{BlobType, Error, Location, ObjectMeta, PutOptions, Result};

/// The metadata header that holds a blob's CRC-64/NVME, 16 hex digits.
pub(super) const CRC64NVME_HEADER: &str = "x-ms-meta-crc64nvme";
/// The metadata header that holds a blob's SHA-256, 64 hex digits.
pub(super) const SHA256_HEADER: &str = "x-ms-meta-sha256";

/// The most blocks one block blob may hold.
const MAX_BLOCKS: u64 = 50_000;

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
    let sha256 = store.inner.options.transfer.sha256;
    let hash = move |bytes: &Bytes| {
        let (checksum, crc) = algorithm.of_with_crc(bytes);
        (checksum, ContentHasher::of(bytes, crc, sha256))
    };
    let (checksum, checksums) = if bytes.len() <= INLINE_HASH_MAX {
        hash(&bytes)
    } else {
        let shared = bytes.clone();
        upload::blocking(move || Ok(hash(&shared))).await?
    };
    let blob = Whole {
        bytes,
        checksum,
        checksums,
    };
    put_blob(store, location, blob, content_type, options).await
}

/// Writes a local file: one Put Blob up to `single_put_max`, else blocks.
pub(super) async fn put_file(
    store: &AzureStore,
    location: &Location,
    path: &Path,
    content_type: &str,
    options: &PutOptions,
) -> Result<ObjectMeta> {
    let transfer = &store.inner.options.transfer;
    let opened = upload::open(
        path.to_owned(),
        store.inner.checksum,
        transfer.sha256,
        transfer.single_put_max,
    )
    .await?;
    match opened {
        Opened::Large(source) => put_blocks(store, location, *source, content_type, options).await,
        Opened::Whole(block, checksums) => {
            let blob = Whole {
                bytes: block.bytes,
                checksum: block.checksum,
                checksums,
            };
            put_blob(store, location, blob, content_type, options).await
        }
    }
}

/// A blob's bytes, with its request's checksum and its whole checksums.
struct Whole {
    bytes: Bytes,
    checksum: BodyChecksum,
    checksums: ContentChecksums,
}

/// One Put Blob of a block blob, with its checksums.
async fn put_blob(
    store: &AzureStore,
    location: &Location,
    blob: Whole,
    content_type: &str,
    options: &PutOptions,
) -> Result<ObjectMeta> {
    let size = blob.bytes.len() as u64;
    let request = Request::new(
        "write",
        Method::PUT,
        &location.container,
        Some(location.name.as_str()),
    )
    .header("x-ms-blob-type", "BlockBlob")
    .header("x-ms-blob-content-type", content_type)
    .checksum(blob.checksum);
    let request = conditioned(request, options);
    let request = recording(request, &blob.checksums).payload(Payload::Bytes(blob.bytes));
    let response = store
        .send_checked(&request)
        .await
        .0
        .map_err(|e| modified(e, location, options))?;
    options.count(size);
    let meta = super::written_meta(
        location,
        size,
        content_type.to_owned(),
        BlobType::Block,
        response.headers(),
    );
    Ok(recorded(meta, blob.checksums))
}

/// The request that makes a blob visible, on the version
/// [`PutOptions::if_match`] names, if any.
fn conditioned<'a>(request: Request<'a>, options: &PutOptions) -> Request<'a> {
    match &options.if_match {
        Some(etag) => request.header("if-match", etag.clone()),
        None => request,
    }
}

/// A failed `If-Match` (412, or 404 for a blob gone): another version.
fn modified(error: Error, location: &Location, options: &PutOptions) -> Error {
    match error {
        Error::Service { status: 412, .. } | Error::NotFound { .. }
            if options.if_match.is_some() =>
        {
            Error::Modified {
                container: location.container.to_string(),
                name: location.name.to_string(),
            }
        }
        other => other,
    }
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

/// Uploads a file larger than one request as blocks, and commits them.
async fn put_blocks(
    store: &AzureStore,
    location: &Location,
    source: Source,
    content_type: &str,
    options: &PutOptions,
) -> Result<ObjectMeta> {
    let transfer = &store.inner.options.transfer;
    let len = source.len;
    // A blob holds at most 50,000 blocks: larger files get larger blocks.
    let block_size = transfer.block_size.max(len.div_ceil(MAX_BLOCKS)).max(1);
    let count = len.div_ceil(block_size);
    let token = upload_token();
    let ids: Vec<String> = (0..count).map(|index| block_id(&token, index)).collect();
    let send = |block: Block| {
        let ids = &ids;
        async move {
            let len = block.bytes.len() as u64;
            let id = &ids[usize::try_from(block.index).unwrap_or(usize::MAX)];
            put_block(store, location, id, block).await?;
            options.count(len);
            Ok(())
        }
    };
    let checksums = upload::send_blocks(
        source,
        block_size,
        transfer.block_concurrency,
        transfer.nice,
        send,
    )
    .await?;

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
    .checksum(store.inner.checksum.of(list.as_bytes()));
    let request = conditioned(request, options);
    let request = recording(request, &checksums).payload(Payload::Bytes(list.into()));
    let response = store
        .send_checked(&request)
        .await
        .0
        .map_err(|e| modified(e, location, options))?;
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
    .checksum(block.checksum)
    .payload(Payload::Bytes(block.bytes));
    store.send_checked(&request).await.0.map(drop)
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
}
