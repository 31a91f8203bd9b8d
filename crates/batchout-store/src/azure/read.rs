//! Reads: a byte range of a blob, what follows an offset, its tail, or a
//! whole blob in parallel ranges.
//!
//! The Blob service answers `x-ms-range: bytes=N-` (from an offset to the
//! end) but not a suffix (`bytes=-N`): the tail of a blob costs a HEAD for
//! its size, then the range ([`crate::Capabilities::suffix_reads`] is false).
//! A read conditioned on a version sends `If-Match`, and a 412 is
//! [`Error::Modified`].
//!
//! A whole read asks for the first block (`x-ms-range: bytes=0-<block-1>`);
//! the answer tells the blob's size, properties and version (ETag), so a blob
//! no larger than a block costs exactly one request and no existence check.
//! The rest is read in block-sized ranges, [`TransferOptions::block_concurrency`]
//! at once, each conditioned on that version (`If-Match`: a blob replaced
//! meanwhile fails the read with [`Error::ChangedDuringRead`] instead of
//! splicing two versions), and handed on in order. Memory stays within
//! `block_concurrency` blocks whatever the blob's size (the one being handed
//! on and those read ahead of it; two when `block_concurrency` is 2 or less). Every range survives a
//! broken connection by resuming where it stopped (`download.rs`).
//!
//! Without parallel reads ([`TransferOptions::parallel_reads`], chosen by
//! endpoint, and never with `block_concurrency` 1) a whole read is one
//! streamed GET.
//!
//! [`TransferOptions::block_concurrency`]: crate::TransferOptions::block_concurrency
//! [`TransferOptions::parallel_reads`]: crate::TransferOptions::parallel_reads

use std::ops::Range;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::{self, BoxStream};
use futures::{FutureExt, StreamExt, TryStreamExt};
use reqwest::{Method, Response};

use super::request::Request;
use super::{AzureStore, content_range, meta_from_headers};
use crate::read::gone_if_conditioned;
use crate::remote::resume;
use crate::{Error, GetOptions, GetResult, Location, ObjectMeta, ReadRange, Result, Store};

/// What `options` asks for.
pub(super) async fn get(
    store: &AzureStore,
    location: &Location,
    options: &GetOptions,
) -> Result<GetResult> {
    let if_match = options.if_match.as_deref();
    let read = match &options.range {
        None => whole(store, location, if_match).await,
        Some(ReadRange::Bounded(range)) => {
            self::range(store, location, range.clone(), if_match).await
        }
        Some(ReadRange::From(start)) => from(store, location, *start, if_match).await,
        Some(ReadRange::Suffix(n)) => {
            let meta = head(store, location, if_match).await?;
            let range = ReadRange::Suffix(*n).resolve(location.name.as_str(), meta.size)?;
            if range.is_empty() {
                return Ok(GetResult::empty(meta, range));
            }
            // The version just seen, unless the caller named one: a blob
            // replaced since is not read in part.
            let etag = if_match.or(meta.etag.as_deref());
            self::range(store, location, range, etag).await
        }
    };
    read.map_err(|e| gone_if_conditioned(e, location, if_match.is_some()))
}

/// A GET of the blob, on the version `if_match` names, if any.
fn read_request<'a>(location: &'a Location, if_match: Option<&str>) -> Request<'a> {
    let request = Request::new(
        "read",
        Method::GET,
        &location.container,
        Some(location.name.as_str()),
    );
    match if_match {
        Some(etag) => request.header("if-match", etag.to_owned()),
        None => request,
    }
}

/// The blob's properties, which must be of the version `if_match` names.
async fn head(
    store: &AzureStore,
    location: &Location,
    if_match: Option<&str>,
) -> Result<ObjectMeta> {
    let meta = store.head(location).await?;
    match if_match {
        Some(etag) if meta.etag.as_deref() != Some(etag) => Err(Error::Modified {
            container: location.container.to_string(),
            name: location.name.to_string(),
        }),
        _ => Ok(meta),
    }
}

/// From `start` to the end: one request, `bytes=START-`. At the end of the
/// blob the service answers 416, and the properties tell whether `start`
/// is its size (nothing to read) or beyond it.
async fn from(
    store: &AzureStore,
    location: &Location,
    start: u64,
    if_match: Option<&str>,
) -> Result<GetResult> {
    let request = read_request(location, if_match).header("x-ms-range", format!("bytes={start}-"));
    let response = match store.client().send(&request).await {
        Err(Error::Service { status: 416, .. }) => {
            let meta = head(store, location, if_match).await?;
            let range = ReadRange::From(start).resolve(location.name.as_str(), meta.size)?;
            return Ok(GetResult::empty(meta, range));
        }
        other => other?,
    };
    let (meta, returned) = answered(location.name.as_str(), &response);
    if returned.start != start || returned.end != meta.size {
        return Err(unexpected(store, location, "the rest"));
    }
    Ok(answer_of(store, location, meta, returned, response))
}

/// The whole blob.
async fn whole(
    store: &AzureStore,
    location: &Location,
    if_match: Option<&str>,
) -> Result<GetResult> {
    let options = &store.inner.options.transfer;
    let block = options.block_size.max(1);
    let concurrency = options.block_concurrency.max(1);
    let name = location.name.as_str();
    let plain = || read_request(location, if_match);
    let response = if !store.inner.parallel_reads {
        store.client().send(&plain()).await?
    } else {
        let first = plain().header("x-ms-range", format!("bytes=0-{}", block - 1));
        match store.client().send(&first).await {
            // An empty blob has no byte 0 to start a range at.
            Err(Error::Service { status: 416, .. }) => store.client().send(&plain()).await?,
            other => other?,
        }
    };
    let (meta, first) = answered(name, &response);
    if first.start != 0 || first.end > meta.size {
        return Err(unexpected(store, location, "the first range"));
    }
    let size = meta.size;
    let first_part = streamed(store, location, meta.etag.clone(), first.clone(), response);
    if first.end == size {
        return Ok(GetResult {
            meta,
            range: 0..size,
            stream: first_part,
        });
    }

    // The rest in ranges. In memory at once: the range being handed on, and
    // the `concurrency - 1` (at least one) being read ahead of it.
    let Some(etag) = meta.etag.clone() else {
        return Err(unexpected(store, location, "a version (ETag)"));
    };
    // Asked for lazily, as the ones before are handed on: a huge blob costs
    // no list of its ranges up front.
    let (store, location) = (store.clone(), location.clone());
    let step = usize::try_from(block).unwrap_or(usize::MAX);
    let rest = (first.end..size).step_by(step).map(move |start| {
        let range = start..size.min(start.saturating_add(block));
        part(store.clone(), location.clone(), etag.clone(), range).boxed()
    });
    let first: BoxFuture<'static, Result<Vec<Bytes>>> = collect(first_part).boxed();
    let stream = stream::iter(std::iter::once(first).chain(rest))
        .buffered((concurrency - 1).max(1))
        .map_ok(|chunks| stream::iter(chunks.into_iter().map(Ok)))
        .try_flatten()
        .boxed();
    Ok(GetResult {
        meta,
        range: 0..size,
        stream,
    })
}

/// Bytes `range` of the blob.
async fn range(
    store: &AzureStore,
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
    if range.start > range.end {
        return Err(invalid(store.head(location).await?.size));
    }
    if range.start == range.end {
        // The service cannot answer an empty range; the properties tell
        // whether the range is inside the blob.
        let meta = head(store, location, if_match).await?;
        if range.end > meta.size {
            return Err(invalid(meta.size));
        }
        return Ok(GetResult::empty(meta, range));
    }
    let request = read_request(location, if_match).header(
        "x-ms-range",
        format!("bytes={}-{}", range.start, range.end - 1),
    );
    let response = match store.client().send(&request).await {
        Err(Error::Service { status: 416, .. }) => {
            return Err(invalid(store.head(location).await?.size));
        }
        other => other?,
    };
    let (meta, returned) = answered(name, &response);
    if range.end > meta.size || returned != range {
        return Err(invalid(meta.size));
    }
    Ok(answer_of(store, location, meta, returned, response))
}

/// The result of a read whose answer carries `range` of the blob: its bytes
/// resumed if the connection breaks.
fn answer_of(
    store: &AzureStore,
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

/// The blob's properties from a read's answer (its whole size from
/// `Content-Range` when the answer holds a range), and the bytes it carries.
fn answered(name: &str, response: &Response) -> (ObjectMeta, Range<u64>) {
    let headers = response.headers();
    let mut meta = meta_from_headers(name, headers);
    let carried = match content_range(headers) {
        Some((start, end, total)) => {
            meta.size = total;
            start..end
        }
        None => 0..meta.size,
    };
    (meta, carried)
}

/// One range of a whole read, in memory: asked for on the version being read.
async fn part(
    store: AzureStore,
    location: Location,
    etag: String,
    range: Range<u64>,
) -> Result<Vec<Bytes>> {
    let retry = store.client().retry().clone();
    resume::part(Rest { store, location }, etag, range, retry).await
}

/// The body of an answer carrying `range`, resumed if it breaks (see
/// `remote::resume`).
fn streamed(
    store: &AzureStore,
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

/// The rest of a read of one blob that broke off: a GET of the range on the
/// version being read (`If-Match`), checked to answer that range.
struct Rest {
    store: AzureStore,
    location: Location,
}

impl resume::Rest for Rest {
    fn shown(&self) -> (String, String) {
        (self.store.to_string(), self.location.to_string())
    }

    fn fetch(&self, range: Range<u64>, etag: String) -> BoxFuture<'static, Result<resume::Body>> {
        let (store, location) = (self.store.clone(), self.location.clone());
        async move {
            let request = read_request(&location, Some(&etag)).header(
                "x-ms-range",
                format!("bytes={}-{}", range.start, range.end - 1),
            );
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
                return Err(unexpected(&store, &location, &what));
            }
            Ok(response.bytes_stream().boxed())
        }
        .boxed()
    }
}

/// A range's bytes, gathered as the chunks they came in: copying them into one
/// block-sized buffer would cost a fresh allocation (and its page faults) per
/// block, as much CPU again as the read (decision 0006).
async fn collect(body: BoxStream<'static, Result<Bytes>>) -> Result<Vec<Bytes>> {
    body.try_collect().await
}

/// The service answered with something other than what was asked for.
fn unexpected(store: &AzureStore, location: &Location, what: &str) -> Error {
    Error::Unreachable {
        store: store.client().shown().to_owned(),
        operation: "read",
        target: location.to_string(),
        reason: format!("the service did not answer with {what} of the blob as asked"),
    }
}
