//! A window of a text output as numbered lines: read from the store a range
//! at a time (never the whole file), cut at whole lines, and rendered with
//! colours. The file page shows one window; its script asks for more
//! (`/lines/…?from=` to follow a log, `?before=` for what came before).
//!
//! A line is anchored by the byte it starts at (`#b1234`), which is what a
//! shared link names: `?at=1234#b1234` opens the window at that line,
//! however far into a 200 MB log it is. Lines are numbered only when the
//! window is counted from the start of the file; elsewhere they show their
//! byte offset, since counting lines would mean reading all before them.

use std::fmt::Write;

use axum::Json;
use axum::extract::{Path, Query, State};
use batchout_store::{GetOptions, Location, ReadRange};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::ansi::{Style, render_line};
use super::html::Esc;
use crate::target::Kind;
use crate::{Viewer, ViewerError};

/// The most bytes one window holds.
pub(crate) const WINDOW: u64 = 256 * 1024;
/// How much comes before the line a link names, for context.
const CONTEXT: u64 = 4 * 1024;
/// The most lines one window holds: a page stays quick to render however
/// short the lines.
pub(crate) const MAX_LINES: usize = 2000;

/// Which window of a file.
#[derive(Debug, Clone, Copy, Deserialize, Default)]
pub(crate) struct WindowQuery {
    /// From the line that holds byte `at` (a shared link).
    pub(crate) at: Option<u64>,
    /// What follows byte `from` (a followed log), which starts a line.
    pub(crate) from: Option<u64>,
    /// What comes before byte `before` (which starts a line).
    pub(crate) before: Option<u64>,
    /// The number of the line at `from`, where the page knows it.
    pub(crate) line: Option<u64>,
}

/// Lines of a file, rendered.
#[derive(Debug, Serialize)]
pub(crate) struct Window {
    /// The first byte shown; it starts a line.
    pub(crate) start: u64,
    /// Where to read on from: one past the last whole line shown (a last
    /// line without its newline yet is shown, and read again next time).
    pub(crate) end: u64,
    /// The file's size when read.
    pub(crate) size: u64,
    /// The number of the line at `start`, where known.
    pub(crate) first_line: Option<u64>,
    /// The number of the line at `end`, where known.
    pub(crate) next_line: Option<u64>,
    /// How many lines `html` holds.
    pub(crate) lines: u64,
    /// The lines, as HTML.
    pub(crate) html: String,
    /// Whether the file ends in this window.
    pub(crate) at_end: bool,
    /// Whether the bytes hold a NUL, so are not text.
    pub(crate) binary: bool,
}

/// `GET /lines/jobs/{job}/tasks/{task}/{kind}/{path}`.
pub(crate) async fn task_lines(
    State(viewer): State<Viewer>,
    Path((job, task, kind, path)): Path<(String, String, String, String)>,
    Query(query): Query<WindowQuery>,
) -> Result<Json<Window>, ViewerError> {
    let kind = Kind::parse(&job, Some(&task), &kind)?;
    let (location, path) = kind.location(&path)?;
    let window = read_window(&viewer, &location, query)
        .await
        .map_err(|e| kind.read_error(&path, e))?;
    Ok(Json(window))
}

/// `GET /lines/jobs/{job}/outputs/{kind}/{path}`.
pub(crate) async fn job_lines(
    State(viewer): State<Viewer>,
    Path((job, kind, path)): Path<(String, String, String)>,
    Query(query): Query<WindowQuery>,
) -> Result<Json<Window>, ViewerError> {
    let kind = Kind::parse(&job, None, &kind)?;
    let (location, path) = kind.location(&path)?;
    let window = read_window(&viewer, &location, query)
        .await
        .map_err(|e| kind.read_error(&path, e))?;
    Ok(Json(window))
}

/// Reads and renders the window `query` names; with no position, the end
/// of the file (a log's latest lines).
pub(crate) async fn read_window(
    viewer: &Viewer,
    location: &Location,
    query: WindowQuery,
) -> Result<Window, batchout_store::Error> {
    // Where the read starts, and whether its first bytes (up to a newline)
    // belong to a line that starts before it.
    let (range, align) = match (query.at, query.from, query.before) {
        (_, Some(from), _) => (ReadRange::From(from), false),
        (_, _, Some(before)) => {
            let start = before.saturating_sub(WINDOW);
            (ReadRange::Bounded(start..before), start > 0)
        }
        // Some lines before `at` too, for context; the line that holds
        // `at` is marked as the target.
        (Some(at), _, _) if at <= CONTEXT => (ReadRange::From(0), false),
        (Some(at), _, _) => (ReadRange::From(at - CONTEXT), true),
        (None, None, None) => (ReadRange::Suffix(WINDOW), true),
    };
    let got = match &range {
        // A place in the file: at most a window, not all that follows it.
        ReadRange::From(start) if query.from.is_none() => {
            match read_at_most(viewer, location, *start, WINDOW + 1).await {
                // A link past the end of a file that shrank: its end instead.
                Err(batchout_store::Error::InvalidRange { .. }) => {
                    let options = GetOptions::default().with_range(ReadRange::Suffix(WINDOW));
                    viewer.store.get_opts(location, &options).await?
                }
                other => other?,
            }
        }
        range => {
            let options = GetOptions::default().with_range(range.clone());
            viewer.store.get_opts(location, &options).await?
        }
    };
    let size = got.meta.size;
    let mut start = got.range.start;
    let align = align && start > 0;
    // Read at most a window (and a byte), not a whole log that grew.
    let mut bytes = Vec::new();
    let mut stream = got.stream;
    let limit = WINDOW as usize + 1;
    while bytes.len() < limit {
        match stream.next().await {
            Some(chunk) => bytes.extend_from_slice(&chunk?),
            None => break,
        }
    }
    drop(stream);
    bytes.truncate(limit);
    let read_end = start + bytes.len() as u64;
    let mut body: &[u8] = &bytes;
    if align {
        // Skip to the first whole line, unless none starts in the window.
        if let Some(newline) = body.iter().position(|b| *b == b'\n')
            && (newline + 1 < body.len() || read_end == size)
        {
            body = &body[newline + 1..];
            start += newline as u64 + 1;
        }
    }
    let before_limit = match range {
        ReadRange::Bounded(ref r) => Some(r.end),
        _ => None,
    };
    let mut reaches_end = read_end == size && before_limit.is_none_or(|b| b == size);
    // At most MAX_LINES lines: the last ones of what comes before a place,
    // else the first.
    let newlines: Vec<usize> = body
        .iter()
        .enumerate()
        .filter_map(|(i, b)| (*b == b'\n').then_some(i))
        .collect();
    if newlines.len() > MAX_LINES {
        if before_limit.is_some() {
            let cut = newlines[newlines.len() - MAX_LINES - 1] + 1;
            body = &body[cut..];
            start += cut as u64;
        } else {
            body = &body[..=newlines[MAX_LINES - 1]];
            reaches_end = false;
        }
    }
    // Whole lines only, unless the file ends here (its last line may be
    // still being written) or the window is one unbroken line.
    let whole = match body.iter().rposition(|b| *b == b'\n') {
        Some(last) if !reaches_end => &body[..=last],
        _ => body,
    };
    let whole = whole_characters(whole, reaches_end);
    let first_line = if start == 0 {
        Some(1)
    } else {
        query.line.filter(|_| query.from == Some(start))
    };
    let rendered = render(whole, start, first_line, query.at);
    // A last line without its newline is read again next time, when it may
    // have one.
    let consumed = start + whole.len() as u64;
    let ends_whole = whole.last() == Some(&b'\n') || whole.is_empty();
    let end = if ends_whole || !reaches_end {
        consumed
    } else {
        rendered.complete_end.min(consumed)
    };
    Ok(Window {
        start,
        end,
        size,
        first_line,
        next_line: first_line.map(|n| n + rendered.whole_lines),
        lines: rendered.lines,
        html: rendered.html,
        at_end: reaches_end && consumed == size,
        binary: whole.contains(&0),
    })
}

/// Lines rendered as HTML.
struct Rendered {
    html: String,
    /// How many lines, the last one included even without its newline.
    lines: u64,
    /// How many of them end in a newline.
    whole_lines: u64,
    /// Where the last line that ends in a newline ends.
    complete_end: u64,
}

/// `bytes` (which start at byte `start` of the file) as numbered lines:
/// each anchored by its offset, numbered from `first_line` where known,
/// the one that holds byte `target` marked, colours rendered.
fn render(bytes: &[u8], start: u64, first_line: Option<u64>, target: Option<u64>) -> Rendered {
    let mut out = Rendered {
        html: String::with_capacity(bytes.len() + bytes.len() / 2),
        lines: 0,
        whole_lines: 0,
        complete_end: start,
    };
    let mut style = Style::default();
    let mut offset = start;
    for piece in bytes.split_inclusive(|b| *b == b'\n') {
        let ends_line = piece.ends_with(b"\n");
        let line = String::from_utf8_lossy(piece.strip_suffix(b"\n").unwrap_or(piece));
        let label = match first_line {
            Some(n) => (n + out.lines).to_string(),
            None => format!("@{offset}"),
        };
        let next = offset + piece.len() as u64;
        let _ = write!(
            out.html,
            "<div class=\"ln{}{}\" id=\"b{offset}\"><a class=\"no\" href=\"?at={offset}#b{offset}\">{}</a><span class=\"tx\">",
            if ends_line { "" } else { " partial" },
            if target.is_some_and(|at| (offset..next).contains(&at)) {
                " target"
            } else {
                ""
            },
            Esc(&label),
        );
        render_line(&mut out.html, &line, &mut style);
        out.html.push_str("</span></div>\n");
        out.lines += 1;
        offset = next;
        if ends_line {
            out.whole_lines += 1;
            out.complete_end = offset;
        }
    }
    out
}

/// Bytes `start..start + most` of a file, or fewer where it ends first: one
/// request, and a second only when the file ends inside the range (the
/// read of a range past the end is refused by some stores).
pub(crate) async fn read_at_most(
    viewer: &Viewer,
    location: &Location,
    start: u64,
    most: u64,
) -> Result<batchout_store::GetResult, batchout_store::Error> {
    let bounded = GetOptions::default().with_range(ReadRange::Bounded(start..start + most));
    match viewer.store.get_opts(location, &bounded).await {
        Err(batchout_store::Error::InvalidRange { size, .. }) if start <= size => {
            let rest = GetOptions::default().with_range(ReadRange::From(start));
            viewer.store.get_opts(location, &rest).await
        }
        other => other,
    }
}

/// `bytes` without a UTF-8 character cut short at its end, unless the file
/// ends there (then it is shown as U+FFFD).
fn whole_characters(bytes: &[u8], at_end: bool) -> &[u8] {
    match std::str::from_utf8(bytes) {
        Err(e) if e.error_len().is_none() && !at_end => &bytes[..e.valid_up_to()],
        _ => bytes,
    }
}
