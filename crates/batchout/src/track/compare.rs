//! Whether stored bytes are the file's bytes: compared by content, streaming,
//! one bounded slice at a time.
//!
//! Resuming trusts a stored blob only if the local file still begins with it.
//! A blob of up to [`WHOLE_COMPARE_MAX`] bytes is compared whole; a larger one
//! by its first and last [`EDGE`] bytes (two ranged reads), which catches a file
//! rewritten by a new attempt without downloading gigabytes. What lies between
//! the edges is trusted: a tracked file only grows at its end.

use std::ops::Range;

use batchout_store::{Location, Store};
use bytes::BytesMut;
use futures::TryStreamExt;

use super::source::Source;
use crate::{Result, StoreError};

/// Blobs up to this size are compared whole.
pub(super) const WHOLE_COMPARE_MAX: u64 = 8 * 1024 * 1024;
/// Larger blobs are compared by this many bytes at each end.
pub(super) const EDGE: u64 = 1024 * 1024;
/// The most bytes held at once while comparing.
const SLICE: usize = 1024 * 1024;

/// Whether the blob's first `size` bytes are the file's bytes from `file_offset`
/// (whole up to [`WHOLE_COMPARE_MAX`], else the two edges).
///
/// # Errors
///
/// Store errors other than a blob that vanished or shrank (which do not match);
/// file read errors.
pub(super) async fn stored_matches(
    store: &dyn Store,
    location: &Location,
    size: u64,
    source: &Source,
    file_offset: u64,
) -> Result<bool> {
    if size <= WHOLE_COMPARE_MAX {
        return range_matches(store, location, 0..size, source, file_offset).await;
    }
    Ok(
        range_matches(store, location, 0..EDGE, source, file_offset).await?
            && range_matches(
                store,
                location,
                size - EDGE..size,
                source,
                file_offset + size - EDGE,
            )
            .await?,
    )
}

/// Whether the blob's bytes in `range` are the file's bytes from `file_offset`.
///
/// # Errors
///
/// As [`stored_matches`].
pub(super) async fn range_matches(
    store: &dyn Store,
    location: &Location,
    range: Range<u64>,
    source: &Source,
    file_offset: u64,
) -> Result<bool> {
    if range.is_empty() {
        return Ok(true);
    }
    let expected = range.end - range.start;
    let mut stream = match store.get(location, Some(range)).await {
        Ok(got) => got.stream,
        Err(StoreError::NotFound { .. } | StoreError::InvalidRange { .. }) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let mut compared = 0u64;
    let mut pending = BytesMut::new();
    loop {
        let chunk = stream.try_next().await?;
        let done = chunk.is_none();
        if let Some(chunk) = chunk {
            pending.extend_from_slice(&chunk);
        }
        if pending.len() >= SLICE || (done && !pending.is_empty()) {
            let local = source
                .read_at(file_offset + compared, pending.len())
                .await?;
            if local != pending {
                return Ok(false);
            }
            compared += pending.len() as u64;
            pending.clear();
        }
        if done {
            return Ok(compared == expected);
        }
    }
}
