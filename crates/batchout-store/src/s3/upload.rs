//! Whole-object uploads to S3: one PutObject, or a multipart upload, with
//! their integrity checks.
//!
//! - Every request that carries content carries its CRC-64/NVME
//!   (`x-amz-checksum-crc64nvme`), which the server computes again: a body
//!   corrupted on the way is refused (`400 BadDigest`, retried, then
//!   reported as [`Error::CorruptedInTransit`]).
//! - The object records the CRC-64/NVME of its whole content as S3's own
//!   full-object checksum: the header of a PutObject, or, for a multipart
//!   upload (`x-amz-checksum-type: FULL_OBJECT`), the checksum of
//!   CompleteMultipartUpload, which the server checks against the parts
//!   before the object appears. Reads get it back with
//!   `x-amz-checksum-mode: ENABLED`.
//! - A file is read, hashed and checked for changes by the reader that every
//!   remote backend shares (`remote::upload`): nothing is made visible for a
//!   file that changed while it was read, and a failed multipart upload is
//!   aborted.
//! - The SHA-256, when [`crate::TransferOptions::sha256`] asks for it, is
//!   recorded as `x-amz-meta-sha256` by a PutObject only: a multipart
//!   upload's metadata is set before its content is read.

use std::path::Path;

use bytes::Bytes;
use reqwest::Method;

use super::request::Request;
use super::{S3Store, crc64nvme_base64, xml};
use crate::checksum::{BodyChecksum, ContentChecksums, ContentHasher};
use crate::remote::http::Payload;
use crate::remote::upload::{self, Block, Opened, Source};
use crate::{Error, Location, ObjectMeta, PutOptions, RequestChecksum, Result};

/// The header of S3's CRC-64/NVME checksum.
pub(super) const CRC64NVME_HEADER: &str = "x-amz-checksum-crc64nvme";
/// The metadata header that holds an object's SHA-256, 64 hex digits.
pub(super) const SHA256_HEADER: &str = "x-amz-meta-sha256";

/// The most parts one multipart upload may have.
const MAX_PARTS: u64 = 10_000;
/// The smallest part S3 takes (but the last).
pub(super) const MIN_PART: u64 = 5 * 1024 * 1024;

/// On what a write is made.
#[derive(Debug, Clone, Copy)]
pub(super) enum Condition<'a> {
    /// Whatever is there.
    Any,
    /// Over this version (`If-Match`).
    IfMatch(&'a str),
    /// Only where nothing is (`If-None-Match: *`).
    Absent,
}

impl<'a> Condition<'a> {
    fn of(options: &'a PutOptions) -> Self {
        options
            .if_match
            .as_deref()
            .map_or(Condition::Any, Condition::IfMatch)
    }

    /// The request, with the condition's header.
    fn apply<'r>(self, request: Request<'r>) -> Request<'r> {
        match self {
            Condition::Any => request,
            Condition::IfMatch(etag) => request.header("if-match", etag.to_owned()),
            Condition::Absent => request.header("if-none-match", "*"),
        }
    }

    /// A failed condition as [`Error::Modified`]: a 412, or a 404 for an
    /// object gone under `If-Match` (which some servers answer).
    pub(super) fn error(self, error: Error, location: &Location) -> Error {
        match (self, error) {
            (Condition::IfMatch(_) | Condition::Absent, Error::Service { status: 412, .. })
            | (Condition::IfMatch(_), Error::NotFound { .. }) => Error::Modified {
                container: location.container.to_string(),
                name: location.name.to_string(),
            },
            (_, other) => other,
        }
    }
}
/// Bytes in memory above which hashing moves off the async threads.
const INLINE_HASH_MAX: usize = 256 * 1024;

/// Writes bytes in memory with one PutObject.
pub(super) async fn put_bytes(
    store: &S3Store,
    location: &Location,
    bytes: Bytes,
    content_type: &str,
    options: &PutOptions,
) -> Result<ObjectMeta> {
    let sha256 = store.inner.options.transfer.sha256;
    let hash = move |bytes: &Bytes| {
        let (checksum, crc) = RequestChecksum::Crc64.of_with_crc(bytes);
        (checksum, ContentHasher::of(bytes, crc, sha256))
    };
    let (checksum, checksums) = if bytes.len() <= INLINE_HASH_MAX {
        hash(&bytes)
    } else {
        let shared = bytes.clone();
        upload::blocking(move || Ok(hash(&shared))).await?
    };
    put_object(
        store,
        location,
        bytes,
        checksum,
        checksums,
        content_type,
        options,
        Condition::of(options),
    )
    .await
}

/// Creates an object with `bytes` where none is (`If-None-Match: *`): the
/// first append to an object; [`Error::Modified`] when one is there.
pub(super) async fn create(
    store: &S3Store,
    location: &Location,
    bytes: Bytes,
    content_type: &str,
) -> Result<ObjectMeta> {
    let (checksum, crc) = RequestChecksum::Crc64.of_with_crc(&bytes);
    let checksums = ContentHasher::of(&bytes, crc, false);
    put_object(
        store,
        location,
        bytes,
        checksum,
        checksums,
        content_type,
        &PutOptions::default(),
        Condition::Absent,
    )
    .await
}

/// Writes a local file: one PutObject up to `single_put_max`, else a
/// multipart upload.
pub(super) async fn put_file(
    store: &S3Store,
    location: &Location,
    path: &Path,
    content_type: &str,
    options: &PutOptions,
) -> Result<ObjectMeta> {
    let transfer = &store.inner.options.transfer;
    let opened = upload::open(
        path.to_owned(),
        RequestChecksum::Crc64,
        transfer.sha256,
        transfer.single_put_max,
    )
    .await?;
    match opened {
        Opened::Large(source) => put_parts(store, location, *source, content_type, options).await,
        Opened::Whole(block, checksums) => {
            put_object(
                store,
                location,
                block.bytes,
                block.checksum,
                checksums,
                content_type,
                options,
                Condition::of(options),
            )
            .await
        }
    }
}

/// The value of `x-amz-checksum-crc64nvme` for a body's checksum.
pub(super) fn crc_header(checksum: BodyChecksum) -> String {
    match checksum {
        BodyChecksum::Crc64(crc) => crc64nvme_base64(crc),
        // Bodies here are always hashed with CRC-64/NVME.
        BodyChecksum::Md5(_) => unreachable!("S3 bodies carry a CRC-64/NVME"),
    }
}

/// One PutObject, with its checksums, on `condition`.
#[allow(clippy::too_many_arguments)]
async fn put_object(
    store: &S3Store,
    location: &Location,
    bytes: Bytes,
    checksum: BodyChecksum,
    checksums: ContentChecksums,
    content_type: &str,
    options: &PutOptions,
    condition: Condition<'_>,
) -> Result<ObjectMeta> {
    let size = bytes.len() as u64;
    let mut request = store
        .object("write", Method::PUT, location)
        .header("content-type", content_type.to_owned())
        .header(CRC64NVME_HEADER, crc_header(checksum));
    if let Some(sha256) = &checksums.sha256 {
        request = request.header(SHA256_HEADER, sha256.clone());
    }
    let request = condition.apply(request).payload(Payload::Bytes(bytes));
    let response = send_checked(store, &request)
        .await
        .map_err(|e| condition.error(e, location))?;
    options.count(size);
    Ok(written(
        location,
        size,
        content_type,
        response.headers(),
        checksums,
    ))
}

/// The properties of an object just written, with the checksums it records.
fn written(
    location: &Location,
    size: u64,
    content_type: &str,
    headers: &reqwest::header::HeaderMap,
    checksums: ContentChecksums,
) -> ObjectMeta {
    let mut meta = ObjectMeta::new(location.name.as_str(), size);
    meta.content_type = Some(content_type.to_owned());
    meta.blob_type = Some(crate::BlobType::Block);
    meta.etag = headers
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    meta.last_modified = Some(std::time::SystemTime::now());
    meta.crc64nvme = Some(checksums.crc64nvme);
    meta.sha256 = checksums.sha256;
    meta
}

/// Sends an upload request whose body carries its checksum. A body the
/// server found corrupted on the way (`400 BadDigest`; nothing was stored)
/// is sent again while the retry policy's attempts last, then reported as
/// [`Error::CorruptedInTransit`].
pub(super) async fn send_checked(
    store: &S3Store,
    request: &Request<'_>,
) -> Result<reqwest::Response> {
    let mut attempts = 0;
    loop {
        let (result, made) = store.client().send_counted(request).await;
        attempts += made;
        match result {
            Err(Error::Service {
                status: 400,
                code,
                operation,
                target,
                ..
            }) if code == "BadDigest" || code == "XAmzContentChecksumMismatch" => {
                tracing::warn!(%target, attempts, %code, "the server found the request's body corrupted on the way");
                if attempts < store.inner.options.retry.attempts {
                    continue;
                }
                return Err(Error::CorruptedInTransit {
                    store: store.to_string(),
                    operation,
                    target,
                });
            }
            other => return other,
        }
    }
}

/// Uploads a file larger than one request in parts, and completes it; on
/// any failure, aborts it.
async fn put_parts(
    store: &S3Store,
    location: &Location,
    source: Source,
    content_type: &str,
    options: &PutOptions,
) -> Result<ObjectMeta> {
    let transfer = &store.inner.options.transfer;
    let len = source.len;
    // At most 10,000 parts, each but the last at least 5 MiB.
    let part_size = transfer
        .block_size
        .max(len.div_ceil(MAX_PARTS))
        .max(MIN_PART);
    let upload_id = start(store, location, content_type).await?;
    let uploaded = upload_parts(store, location, source, part_size, &upload_id, options).await;
    let condition = Condition::of(options);
    let completed = match uploaded {
        Ok((parts, checksums)) => complete(
            store,
            location,
            &upload_id,
            &parts,
            Some(checksums.crc64nvme),
            condition,
        )
        .await
        .map(|done| (done, checksums)),
        Err(e) => Err(e),
    };
    match completed {
        Ok((done, checksums)) => {
            let mut meta = written(location, len, content_type, &done.headers, checksums);
            meta.etag = done.etag.or(meta.etag);
            Ok(meta)
        }
        Err(e) => {
            abort(store, location, &upload_id).await;
            Err(condition.error(e, location))
        }
    }
}

/// CreateMultipartUpload, recording the whole object's CRC-64/NVME
/// (`FULL_OBJECT`). Returns the upload id.
pub(super) async fn start(
    store: &S3Store,
    location: &Location,
    content_type: &str,
) -> Result<String> {
    let request = store
        .object("write", Method::POST, location)
        .query("uploads", "")
        .header("content-type", content_type.to_owned())
        .header("x-amz-checksum-algorithm", "CRC64NVME")
        .header("x-amz-checksum-type", "FULL_OBJECT");
    let answer = store.client().send(&request).await?;
    let body = answer
        .text()
        .await
        .map_err(|e| store.client().unreachable(&request, &e))?;
    xml::element(&body, "UploadId").ok_or_else(|| Error::Service {
        store: store.to_string(),
        operation: "write",
        target: location.to_string(),
        status: 200,
        code: "-".into(),
        message: "the server started a multipart upload but gave no upload id".into(),
    })
}

/// AbortMultipartUpload, its failure logged: a lifecycle rule for
/// incomplete uploads removes the parts of one that could not be aborted.
pub(super) async fn abort(store: &S3Store, location: &Location, upload_id: &str) {
    let abort = store
        .object("write", Method::DELETE, location)
        .query("uploadId", upload_id.to_owned());
    if let Err(abort_error) = store.client().send(&abort).await {
        tracing::warn!(blob = %location, error = %abort_error, "could not abort the multipart upload; a lifecycle rule for incomplete uploads removes its parts");
    }
}

/// One part's ETag and checksum (S3's base64), where the server gave one.
pub(super) struct Part {
    pub(super) etag: String,
    pub(super) crc: Option<String>,
}

/// What CompleteMultipartUpload answered.
pub(super) struct Completed {
    pub(super) headers: reqwest::header::HeaderMap,
    /// The object's new ETag, from the answer's body.
    pub(super) etag: Option<String>,
}

/// Sends the file's parts, `block_concurrency` at once. Returns each part's
/// ETag and checksum, in order, and the file's checksums.
async fn upload_parts(
    store: &S3Store,
    location: &Location,
    source: Source,
    part_size: u64,
    upload_id: &str,
    options: &PutOptions,
) -> Result<(Vec<Part>, ContentChecksums)> {
    let transfer = &store.inner.options.transfer;
    let count = usize::try_from(source.len.div_ceil(part_size)).unwrap_or(usize::MAX);
    let parts = std::sync::Mutex::new((0..count).map(|_| None).collect::<Vec<Option<Part>>>());
    let send = |block: Block| {
        let parts = &parts;
        async move {
            let len = block.bytes.len() as u64;
            let index = usize::try_from(block.index).unwrap_or(usize::MAX);
            let crc = crc_header(block.checksum);
            let request = store
                .object("write", Method::PUT, location)
                .query("partNumber", (index + 1).to_string())
                .query("uploadId", upload_id.to_owned())
                .header(CRC64NVME_HEADER, crc.clone())
                .payload(Payload::Bytes(block.bytes));
            let response = send_checked(store, &request).await?;
            let etag = response
                .headers()
                .get("etag")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            if let Ok(mut parts) = parts.lock()
                && let Some(slot) = parts.get_mut(index)
            {
                *slot = Some(Part {
                    etag,
                    crc: Some(crc),
                });
            }
            options.count(len);
            Ok(())
        }
    };
    let checksums = upload::send_blocks(
        source,
        part_size,
        transfer.block_concurrency,
        transfer.nice,
        send,
    )
    .await?;
    let parts = parts
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .collect::<Option<Vec<Part>>>()
        .ok_or_else(|| Error::Service {
            store: store.to_string(),
            operation: "write",
            target: location.to_string(),
            status: 200,
            code: "-".into(),
            message: "a part of the multipart upload was not sent".into(),
        })?;
    Ok((parts, checksums))
}

/// CompleteMultipartUpload on `condition`, with the whole object's
/// CRC-64/NVME, where known, for the server to check.
pub(super) async fn complete(
    store: &S3Store,
    location: &Location,
    upload_id: &str,
    parts: &[Part],
    crc64nvme: Option<u64>,
    condition: Condition<'_>,
) -> Result<Completed> {
    let mut list = String::with_capacity(80 + parts.len() * 120);
    list.push_str("<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    for (index, part) in parts.iter().enumerate() {
        list.push_str(&format!(
            "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag>",
            index + 1,
            escape(&part.etag),
        ));
        if let Some(crc) = &part.crc {
            list.push_str(&format!("<ChecksumCRC64NVME>{crc}</ChecksumCRC64NVME>"));
        }
        list.push_str("</Part>");
    }
    list.push_str("</CompleteMultipartUpload>");
    let mut request = store
        .object("write", Method::POST, location)
        .query("uploadId", upload_id.to_owned())
        .header("content-type", "application/xml");
    if let Some(crc) = crc64nvme {
        request = request
            .header(CRC64NVME_HEADER, crc64nvme_base64(crc))
            .header("x-amz-checksum-type", "FULL_OBJECT");
    }
    let request = condition
        .apply(request)
        .payload(Payload::Bytes(list.into()));
    let response = send_checked(store, &request).await?;
    let headers = response.headers().clone();
    // S3 may answer 200 and tell of a failure in the body.
    let body = response
        .text()
        .await
        .map_err(|e| store.client().unreachable(&request, &e))?;
    let error = xml::parse_error(&body);
    if let Some(code) = error.code {
        let status = match code.as_str() {
            "InternalError" | "SlowDown" => 503,
            "PreconditionFailed" => 412,
            _ => 400,
        };
        let err = Error::Service {
            store: store.to_string(),
            operation: "write",
            target: location.to_string(),
            status,
            message: error.message.unwrap_or_default(),
            code,
        };
        return Err(err);
    }
    Ok(Completed {
        headers,
        etag: xml::element(&body, "ETag"),
    })
}

/// Text escaped for XML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
