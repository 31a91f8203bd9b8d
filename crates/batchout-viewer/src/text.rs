//! An output's text, a range at a time: from a byte on (what a followed log
//! gained since the page last looked) or its tail. A range is at most 1 MiB,
//! and ends on a whole UTF-8 character, so a page never holds a whole large
//! log, nor half a character.

use axum::Json;
use axum::extract::{Path, Query, State};
use batchout_store::{GetOptions, ReadRange};
use serde::{Deserialize, Serialize};

use crate::target::Kind;
use crate::{Viewer, ViewerError};

/// The tail read when a request names no range.
pub(crate) const DEFAULT_TAIL: u64 = 64 * 1024;
/// The most bytes one answer holds.
pub(crate) const MAX_CHUNK: u64 = 1024 * 1024;

/// Which bytes: from `from` on, or the last `tail`.
#[derive(Debug, Deserialize)]
pub(crate) struct TextQuery {
    from: Option<u64>,
    tail: Option<u64>,
}

/// A range of an output's text.
#[derive(Debug, Serialize)]
pub(crate) struct TextChunk {
    /// The output's file path.
    path: String,
    /// The output's size, in bytes, when it was read.
    size: u64,
    /// The first byte of `text` in the output.
    start: u64,
    /// One past the last byte of `text`: where to read on from.
    end: u64,
    /// The version read, where the store has one.
    etag: Option<String>,
    /// The bytes, as text (invalid UTF-8 shown as U+FFFD).
    text: String,
}

/// `GET /api/jobs/{job}/tasks/{task}/{kind}/{path}`.
pub(crate) async fn task_text(
    State(viewer): State<Viewer>,
    Path((job, task, kind, path)): Path<(String, String, String, String)>,
    Query(query): Query<TextQuery>,
) -> Result<Json<TextChunk>, ViewerError> {
    let kind = Kind::parse(&job, Some(&task), &kind)?;
    read_text(&viewer, &kind, &path, &query).await
}

/// `GET /api/jobs/{job}/outputs/{kind}/{path}`.
pub(crate) async fn job_text(
    State(viewer): State<Viewer>,
    Path((job, kind, path)): Path<(String, String, String)>,
    Query(query): Query<TextQuery>,
) -> Result<Json<TextChunk>, ViewerError> {
    let kind = Kind::parse(&job, None, &kind)?;
    read_text(&viewer, &kind, &path, &query).await
}

async fn read_text(
    viewer: &Viewer,
    kind: &Kind,
    path: &str,
    query: &TextQuery,
) -> Result<Json<TextChunk>, ViewerError> {
    let (location, path) = kind.location(path)?;
    let range = match (query.from, query.tail) {
        (Some(from), None) => ReadRange::From(from),
        (None, Some(tail)) => ReadRange::Suffix(tail.min(MAX_CHUNK)),
        (None, None) => ReadRange::Suffix(DEFAULT_TAIL),
        (Some(_), Some(_)) => {
            return Err(ViewerError::BadRequest(
                "give from=BYTE or tail=BYTES, not both".into(),
            ));
        }
    };
    let read = |range: ReadRange| {
        let options = GetOptions::default().with_range(range);
        let location = location.clone();
        async move { viewer.store.get_opts(&location, &options).await }
    };
    let mut got = read(range).await.map_err(|e| kind.read_error(&path, e))?;
    if got.range.end - got.range.start > MAX_CHUNK {
        // Much was added since: the first MiB of it now, the rest when asked.
        let start = got.range.start;
        got = read(ReadRange::Bounded(start..start + MAX_CHUNK))
            .await
            .map_err(|e| kind.read_error(&path, e))?;
    }
    let (size, start, etag) = (got.meta.size, got.range.start, got.meta.etag.clone());
    let bytes = got.bytes().await.map_err(|e| kind.read_error(&path, e))?;
    let whole = whole_characters(&bytes);
    Ok(Json(TextChunk {
        path: path.to_string(),
        size,
        start,
        end: start + whole.len() as u64,
        etag,
        text: String::from_utf8_lossy(whole).into_owned(),
    }))
}

/// `bytes` without a UTF-8 character cut short at its end (at most 3 bytes),
/// which the next read gives whole.
fn whole_characters(bytes: &[u8]) -> &[u8] {
    match std::str::from_utf8(bytes) {
        Err(e) if e.error_len().is_none() => &bytes[..e.valid_up_to()],
        _ => bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_cut_short_at_the_end_is_left_for_the_next_read() {
        let text = "añb€".as_bytes();
        assert_eq!(whole_characters(text), text);
        assert_eq!(whole_characters(&text[..2]), b"a");
        assert_eq!(whole_characters(&text[..text.len() - 1]), "añb".as_bytes());
        // Bytes that are not UTF-8 at all are shown, not withheld.
        assert_eq!(whole_characters(b"a\xffb"), b"a\xffb");
    }
}
