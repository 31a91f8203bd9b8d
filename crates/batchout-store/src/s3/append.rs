//! Appends to S3 objects, which general-purpose buckets do not have (only
//! S3 Express directory buckets take `x-amz-write-offset-bytes`): made of a
//! multipart upload to the object's own key whose first part copies the
//! stored object server-side (UploadPartCopy), a second part with the new
//! bytes, and CompleteMultipartUpload. Only the new bytes cross the network.
//!
//! - **The floor.** A part but the last must be at least 5 MiB, so an
//!   object under 5 MiB cannot be the copied part: it is read (on its
//!   version) and written whole again with the new bytes. A caller that
//!   holds the bytes itself (a tracked file) puts them whole instead, below
//!   [`COPY_FLOOR`] (see [`crate::Capabilities::append_copy_floor`]).
//! - **The position, exactly.** An append is made on the version of the
//!   object this store last wrote or saw at that length: its ETag, kept per
//!   object, else a HEAD. The copy (`x-amz-copy-source-if-match`), the
//!   rewrite (`If-Match`) and the completion (`If-Match`) are all
//!   conditioned on it, so two writers never splice: the one that loses
//!   gets [`Error::AppendPosition`] with the length it found, or
//!   [`Error::Modified`] when another writer replaced the object at the same
//!   length.
//! - **An answer lost.** A completion applied whose answer was lost fails
//!   its retry (the ETag moved on): the object is then the expected length
//!   with the expected CRC-64/NVME, and the append is taken as made.
//! - **The checksum.** The object records its whole CRC-64/NVME
//!   (`FULL_OBJECT`): the stored object's, combined with the new bytes',
//!   sent with the completion, which the server checks against the parts.

use bytes::{Bytes, BytesMut};
use reqwest::Method;

use super::upload::{self, CRC64NVME_HEADER, Condition, MIN_PART, Part};
use super::{S3Store, crc64nvme_base64, xml};
use crate::checksum::crc64nvme_combine;
use crate::remote::http::Payload;
use crate::{Error, GetOptions, Location, ObjectMeta, PutOptions, Result};

/// From this length an append copies the stored object as the first part
/// of a multipart upload (parts but the last are at least 5 MiB).
pub(super) const COPY_FLOOR: u64 = MIN_PART;
/// The most bytes one append carries: one part, held in memory.
pub(super) const MAX_APPEND_SIZE: u64 = 8 * 1024 * 1024;
/// The most one UploadPartCopy copies.
const MAX_COPY_PART: u64 = 5 * 1024 * 1024 * 1024;
/// Bytes above which the CRC of the new bytes is computed off the async
/// threads.
const INLINE_HASH_MAX: usize = 256 * 1024;

/// A version of an object this store wrote or saw: what an append to it on
/// that version needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Seen {
    pub(super) size: u64,
    pub(super) etag: String,
    pub(super) crc64nvme: Option<u64>,
}

impl Seen {
    /// The version `meta` describes, when it has an ETag.
    pub(super) fn of(meta: &ObjectMeta) -> Option<Self> {
        Some(Self {
            size: meta.size,
            etag: meta.etag.clone()?,
            crc64nvme: meta.crc64nvme,
        })
    }
}

/// Appends `data` to the object at `location`, which must be `position`
/// bytes long. See the module's documentation.
pub(super) async fn append(
    store: &S3Store,
    location: &Location,
    data: Bytes,
    position: u64,
) -> Result<u64> {
    let current = match store.seen(location).filter(|seen| seen.size == position) {
        Some(seen) => Some(seen),
        None => match store.head_object(location, None).await {
            Ok(meta) => Some(Seen::of(&meta).ok_or_else(|| no_etag(store, location))?),
            Err(Error::NotFound { .. }) => None,
            Err(e) => return Err(e),
        },
    };
    let Some(current) = current else {
        if position != 0 {
            return Err(moved(location, position, 0));
        }
        store.require_container(&location.container).await?;
        let meta = upload::create(store, location, data, &store.content_type(location)).await?;
        store.saw(location, Seen::of(&meta));
        return Ok(meta.size);
    };
    if current.size != position {
        return Err(moved(location, position, current.size));
    }
    if data.is_empty() {
        return Ok(position);
    }
    let len = data.len() as u64;
    let end = position + len;
    let crc = if data.len() <= INLINE_HASH_MAX {
        crc_of(&data)
    } else {
        let shared = data.clone();
        crate::remote::upload::blocking(move || Ok(crc_of(&shared))).await?
    };
    let expected = current
        .crc64nvme
        .map(|stored| crc64nvme_combine(stored, crc, len));
    let written = if position < COPY_FLOOR {
        rewrite(store, location, &current, data).await
    } else {
        copy_append(store, location, &current, data, crc, expected).await
    };
    match written {
        Ok(seen) => {
            store.saw(location, seen);
            store.remember(&location.container);
            Ok(end)
        }
        Err(Error::Modified { .. }) => {
            store.forget(location);
            let meta = match store.head_object(location, None).await {
                Ok(meta) => meta,
                Err(Error::NotFound { .. }) => return Err(moved(location, position, 0)),
                Err(e) => return Err(e),
            };
            if meta.size == end && expected.is_some() && meta.crc64nvme == expected {
                tracing::info!(blob = %location, position, "an append whose answer was lost had been applied");
                store.saw(location, Seen::of(&meta));
                return Ok(end);
            }
            if meta.size != position {
                return Err(moved(location, position, meta.size));
            }
            Err(Error::Modified {
                container: location.container.to_string(),
                name: location.name.to_string(),
            })
        }
        Err(e) => Err(e),
    }
}

fn crc_of(data: &[u8]) -> u64 {
    crate::checksum::ContentHasher::of(data, None, false).crc64nvme
}

/// Below the floor: the stored object, read on its version, and the new
/// bytes, written whole on that version.
async fn rewrite(
    store: &S3Store,
    location: &Location,
    current: &Seen,
    data: Bytes,
) -> Result<Option<Seen>> {
    let options = GetOptions {
        if_match: Some(current.etag.clone()),
        ..GetOptions::default()
    };
    let stored = super::read::get(store, location, &options)
        .await?
        .bytes()
        .await?;
    let mut whole = BytesMut::with_capacity(stored.len() + data.len());
    whole.extend_from_slice(&stored);
    whole.extend_from_slice(&data);
    let put = PutOptions::default().with_if_match(current.etag.clone());
    let meta = upload::put_bytes(
        store,
        location,
        whole.freeze(),
        &store.content_type(location),
        &put,
    )
    .await?;
    Ok(Seen::of(&meta))
}

/// From the floor: a multipart upload of the stored object, copied, and
/// the new bytes; aborted on any failure.
async fn copy_append(
    store: &S3Store,
    location: &Location,
    current: &Seen,
    data: Bytes,
    crc: u64,
    expected: Option<u64>,
) -> Result<Option<Seen>> {
    let upload_id = upload::start(store, location, &store.content_type(location)).await?;
    let done = copy_and_complete(store, location, &upload_id, current, data, crc, expected).await;
    if done.is_err() {
        upload::abort(store, location, &upload_id).await;
    }
    done
}

async fn copy_and_complete(
    store: &S3Store,
    location: &Location,
    upload_id: &str,
    current: &Seen,
    data: Bytes,
    crc: u64,
    expected: Option<u64>,
) -> Result<Option<Seen>> {
    let condition = Condition::IfMatch(&current.etag);
    let pieces = current.size.div_ceil(MAX_COPY_PART).max(1);
    let piece = current.size.div_ceil(pieces);
    let mut parts = Vec::with_capacity(usize::try_from(pieces).unwrap_or(1) + 1);
    for index in 0..pieces {
        let request = store
            .object("write", Method::PUT, location)
            .query("partNumber", (index + 1).to_string())
            .query("uploadId", upload_id.to_owned())
            .header("x-amz-copy-source-if-match", current.etag.clone());
        let source = request.copy_source(store.target()).unwrap_or_default();
        let mut request = request.header("x-amz-copy-source", source);
        if pieces > 1 {
            let start = index * piece;
            let last = ((index + 1) * piece).min(current.size) - 1;
            request = request.header("x-amz-copy-source-range", format!("bytes={start}-{last}"));
        }
        let response = store
            .client()
            .send(&request)
            .await
            .map_err(|e| condition.error(e, location))?;
        let body = response
            .text()
            .await
            .map_err(|e| store.client().unreachable(&request, &e))?;
        // S3 may answer a copy 200 and tell of a failure in the body.
        if let Some(code) = xml::parse_error(&body).code {
            let error = Error::Service {
                store: store.to_string(),
                operation: "write",
                target: location.to_string(),
                status: if code == "PreconditionFailed" {
                    412
                } else {
                    500
                },
                message: "the copy of the stored object failed".into(),
                code,
            };
            return Err(condition.error(error, location));
        }
        let etag = xml::element(&body, "ETag").ok_or_else(|| Error::Service {
            store: store.to_string(),
            operation: "write",
            target: location.to_string(),
            status: 200,
            code: "-".into(),
            message: "the server copied a part but gave no ETag for it".into(),
        })?;
        parts.push(Part {
            etag,
            crc: xml::element(&body, "ChecksumCRC64NVME"),
        });
    }
    let number = pieces + 1;
    let crc_text = crc64nvme_base64(crc);
    let len = data.len() as u64;
    let request = store
        .object("write", Method::PUT, location)
        .query("partNumber", number.to_string())
        .query("uploadId", upload_id.to_owned())
        .header(CRC64NVME_HEADER, crc_text.clone())
        .payload(Payload::Bytes(data));
    let response = upload::send_checked(store, &request).await?;
    let etag = response
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    parts.push(Part {
        etag,
        crc: Some(crc_text),
    });
    let done = upload::complete(store, location, upload_id, &parts, expected, condition)
        .await
        .map_err(|e| condition.error(e, location))?;
    let etag = done.etag.or_else(|| {
        done.headers
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    });
    Ok(etag.map(|etag| Seen {
        size: current.size + len,
        etag,
        crc64nvme: expected,
    }))
}

/// The object is not `position` bytes long.
fn moved(location: &Location, expected: u64, actual: u64) -> Error {
    Error::AppendPosition {
        name: location.name.to_string(),
        expected,
        actual,
    }
}

fn no_etag(store: &S3Store, location: &Location) -> Error {
    Error::Service {
        store: store.to_string(),
        operation: "append to",
        target: location.to_string(),
        status: 200,
        code: "-".into(),
        message: "the server gives the object no ETag, which an append is conditioned on".into(),
    }
}
