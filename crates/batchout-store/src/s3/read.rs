//! Reads: a byte range of an object, what follows an offset, its tail, or a
//! whole object.
//!
//! S3 answers `Range: bytes=N-` and the suffix `bytes=-N`, so the tail of
//! an object is one request ([`crate::Capabilities::suffix_reads`]). A read
//! conditioned on a version sends `If-Match`, and a 412 is
//! [`Error::Modified`]. An empty object has no bytes to range over: S3
//! answers 416, and a HEAD tells whether the read asked for nothing or for
//! too much.
//!
//! A whole read is one streamed GET with `x-amz-checksum-mode: ENABLED`, so
//! the answer carries the object's full-object CRC-64/NVME for
//! [`GetResult::verified`]. With [`crate::TransferOptions::parallel_reads`]
//! asked for, a HEAD gives the size, version and checksum, and the object is
//! read in block-sized ranges, `block_concurrency` at once, each on that
//! version. Every range survives a broken connection by resuming where it
//! stopped (`remote::resume`).

use std::ops::Range;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::{self, BoxStream};
use futures::{FutureExt, StreamExt, TryStreamExt};
use reqwest::{Method, Response};

use super::request::Request;
use super::{S3Store, content_range, meta_from_headers};
use crate::read::gone_if_conditioned;
use crate::remote::resume;
use crate::{Error, GetOptions, GetResult, Location, ObjectMeta, ReadRange, Result};

/// What `options` asks for.
pub(super) async fn get(
    store: &S3Store,
    location: &Location,
    options: &GetOptions,
) -> Result<GetResult> {
    let if_match = options.if_match.as_deref();
    let name = location.name.as_str();
    let read = match &options.range {
        None => whole(store, location, if_match).await,
        Some(ReadRange::Bounded(range)) => bounded(store, location, range.clone(), if_match).await,
        Some(ReadRange::From(start)) => {
            let header = format!("bytes={start}-");
            ranged(store, location, header, ReadRange::From(*start), if_match).await
        }
        Some(ReadRange::Suffix(0)) => {
            let meta = head(store, location, if_match).await?;
            let range = ReadRange::Suffix(0).resolve(name, meta.size)?;
            Ok(GetResult::empty(meta, range))
        }
        Some(ReadRange::Suffix(n)) => {
            let header = format!("bytes=-{n}");
            ranged(store, location, header, ReadRange::Suffix(*n), if_match).await
        }
    };
    read.map_err(|e| gone_if_conditioned(e, location, if_match.is_some()))
}

/// A GET of the object, on the version `if_match` names, if any.
fn read_request<'a>(
    store: &S3Store,
    location: &'a Location,
    if_match: Option<&str>,
) -> Request<'a> {
    let request = store
        .object("read", Method::GET, location)
        .header("x-amz-checksum-mode", "ENABLED");
    match if_match {
        Some(etag) => request.header("if-match", etag.to_owned()),
        None => request,
    }
}

/// The object's properties, of the version `if_match` names.
async fn head(store: &S3Store, location: &Location, if_match: Option<&str>) -> Result<ObjectMeta> {
    store.head_object(location, if_match).await
}

/// A read of `asked` with the `Range` header `header`, in one request. At
/// the end of the object (or of an empty one) S3 answers 416, and the
/// properties tell whether that is nothing to read or too far.
async fn ranged(
    store: &S3Store,
    location: &Location,
    header: String,
    asked: ReadRange,
    if_match: Option<&str>,
) -> Result<GetResult> {
    let name = location.name.as_str();
    let request = read_request(store, location, if_match).header("range", header);
    let response = match store.client().send(&request).await {
        Err(Error::Service { status: 416, .. }) => {
            let meta = head(store, location, if_match).await?;
            let range = asked.resolve(name, meta.size)?;
            return Ok(GetResult::empty(meta, range));
        }
        other => other?,
    };
    let (meta, returned) = answered(name, &response);
    if returned != asked.resolve(name, meta.size)? {
        return Err(unexpected(store, location, "the range asked for"));
    }
    Ok(answer_of(store, location, meta, returned, response))
}

/// The whole object.
async fn whole(store: &S3Store, location: &Location, if_match: Option<&str>) -> Result<GetResult> {
    if !store.inner.parallel_reads {
        let response = store
            .client()
            .send(&read_request(store, location, if_match))
            .await?;
        let (meta, range) = answered(location.name.as_str(), &response);
        return Ok(answer_of(store, location, meta, range, response));
    }
    let meta = head(store, location, if_match).await?;
    let size = meta.size;
    let Some(etag) = meta.etag.clone() else {
        return Err(unexpected(store, location, "a version (ETag)"));
    };
    let options = &store.inner.options.transfer;
    let block = options.block_size.max(1);
    let concurrency = options.block_concurrency.max(1);
    let (store, location) = (store.clone(), location.clone());
    let step = usize::try_from(block).unwrap_or(usize::MAX);
    // Asked for lazily, as the ones before are handed on.
    let parts = (0..size).step_by(step).map(move |start| {
        let range = start..size.min(start.saturating_add(block));
        part(store.clone(), location.clone(), etag.clone(), range).boxed()
    });
    let stream = stream::iter(parts)
        .buffered(concurrency)
        .map_ok(|chunks| stream::iter(chunks.into_iter().map(Ok)))
        .try_flatten()
        .boxed();
    Ok(GetResult {
        meta,
        range: 0..size,
        stream,
    })
}

/// Bytes `range` of the object.
async fn bounded(
    store: &S3Store,
    location: &Location,
    range: Range<u64>,
    if_match: Option<&str>,
) -> Result<GetResult> {
    let name = location.name.as_str();
    let invalid = |size: u64| Error::InvalidRange {
        name: name.to_owned(),
        start: range.start,
        end: range.end,
        size,
    };
    if range.start >= range.end {
        let meta = head(store, location, if_match).await?;
        if range.start > range.end || range.end > meta.size {
            return Err(invalid(meta.size));
        }
        return Ok(GetResult::empty(meta, range));
    }
    let request = read_request(store, location, if_match)
        .header("range", format!("bytes={}-{}", range.start, range.end - 1));
    let response = match store.client().send(&request).await {
        Err(Error::Service { status: 416, .. }) => {
            return Err(invalid(head(store, location, if_match).await?.size));
        }
        other => other?,
    };
    let (meta, returned) = answered(name, &response);
    if range.end > meta.size || returned != range {
        return Err(invalid(meta.size));
    }
    Ok(answer_of(store, location, meta, returned, response))
}

/// The result of a read whose answer carries `range` of the object: its
/// bytes resumed if the connection breaks.
fn answer_of(
    store: &S3Store,
    location: &Location,
    meta: ObjectMeta,
    range: Range<u64>,
    response: Response,
) -> GetResult {
    let stream = streamed(store, location, meta.etag.clone(), range.clone(), response);
    GetResult {
        meta,
        range,
        stream,
    }
}

/// The object's properties from a read's answer (its whole size from
/// `Content-Range` when the answer holds a range; a checksum only for the
/// whole object), and the bytes it carries.
fn answered(name: &str, response: &Response) -> (ObjectMeta, Range<u64>) {
    let headers = response.headers();
    let mut meta = meta_from_headers(name, headers);
    let carried = match content_range(headers) {
        Some((start, end, total)) => {
            meta.size = total;
            if start != 0 || end != total {
                meta.crc64nvme = None;
            }
            start..end
        }
        None => 0..meta.size,
    };
    (meta, carried)
}

/// One range of a whole read, in memory: asked for on the version being read.
async fn part(
    store: S3Store,
    location: Location,
    etag: String,
    range: Range<u64>,
) -> Result<Vec<Bytes>> {
    let retry = store.client().retry().clone();
    resume::part(Rest { store, location }, etag, range, retry).await
}

/// The body of bytes `range` of the version `etag`, checked to be that range.
async fn fetch(
    store: &S3Store,
    location: &Location,
    range: Range<u64>,
    etag: &str,
) -> Result<resume::Body> {
    let request = read_request(store, location, Some(etag))
        .header("range", format!("bytes={}-{}", range.start, range.end - 1));
    let response = match store.client().send(&request).await {
        Err(Error::Service { status: 412, .. }) => {
            return Err(Error::ChangedDuringRead {
                container: location.container.to_string(),
                name: location.name.to_string(),
            });
        }
        other => other?,
    };
    let returned = content_range(response.headers()).map(|(start, end, _)| start..end);
    if returned != Some(range.clone()) {
        let what = format!("bytes {}-{}", range.start, range.end - 1);
        return Err(unexpected(store, location, &what));
    }
    Ok(response.bytes_stream().boxed())
}

/// The body of an answer carrying `range`, resumed if it breaks.
fn streamed(
    store: &S3Store,
    location: &Location,
    etag: Option<String>,
    range: Range<u64>,
    response: Response,
) -> BoxStream<'static, Result<Bytes>> {
    let rest = Rest {
        store: store.clone(),
        location: location.clone(),
    };
    let retry = store.client().retry().clone();
    resume::resumable(rest, etag, range, response.bytes_stream(), retry)
}

/// The rest of a read of one object that broke off: a GET of the range on
/// the version being read (`If-Match`).
struct Rest {
    store: S3Store,
    location: Location,
}

impl resume::Rest for Rest {
    fn shown(&self) -> (String, String) {
        (self.store.to_string(), self.location.to_string())
    }

    fn fetch(&self, range: Range<u64>, etag: String) -> BoxFuture<'static, Result<resume::Body>> {
        let (store, location) = (self.store.clone(), self.location.clone());
        async move { fetch(&store, &location, range, &etag).await }.boxed()
    }
}

/// The server answered with something other than what was asked for.
fn unexpected(store: &S3Store, location: &Location, what: &str) -> Error {
    Error::Unreachable {
        store: store.client().shown().to_owned(),
        operation: "read",
        target: location.to_string(),
        reason: format!("the server did not answer with {what} of the object as asked"),
    }
}
