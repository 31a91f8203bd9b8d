//! An output's bytes, streamed from the store as they come: whole (checked
//! against the checksum the store recorded), or the one range a `Range`
//! header asks for. Always as an attachment, so a stored file that holds
//! HTML or script is never shown as a page of the viewer.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use batchout_store::{GetOptions, ReadRange};
use futures::TryStreamExt;

use crate::target::Kind;
use crate::{Viewer, ViewerError};

/// `GET /files/jobs/{job}/tasks/{task}/{kind}/{path}`.
pub(crate) async fn task_file(
    State(viewer): State<Viewer>,
    Path((job, task, kind, path)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ViewerError> {
    let kind = Kind::parse(&job, Some(&task), &kind)?;
    file(&viewer, &kind, &path, &headers).await
}

/// `GET /files/jobs/{job}/outputs/{kind}/{path}`.
pub(crate) async fn job_file(
    State(viewer): State<Viewer>,
    Path((job, kind, path)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ViewerError> {
    let kind = Kind::parse(&job, None, &kind)?;
    file(&viewer, &kind, &path, &headers).await
}

async fn file(
    viewer: &Viewer,
    kind: &Kind,
    path: &str,
    headers: &HeaderMap,
) -> Result<Response, ViewerError> {
    let (location, path) = kind.location(path)?;
    let range = match headers.get(header::RANGE) {
        Some(value) => Some(parse_range(value).ok_or_else(|| {
            ViewerError::BadRequest(
                "Range must be one range of bytes: bytes=A-B, bytes=A- or bytes=-N".into(),
            )
        })?),
        None => None,
    };
    let mut options = GetOptions::default();
    options.range = range.clone();
    let got = match viewer.store.get_opts(&location, &options).await {
        Ok(got) => got,
        Err(batchout_store::Error::InvalidRange { size, .. }) => {
            let mut answer = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            answer.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{size}")).map_err(bad_header)?,
            );
            return Ok(answer);
        }
        Err(e) => return Err(kind.read_error(&path, e)),
    };
    let got = if range.is_none() { got.verified() } else { got };
    let (size, served) = (got.meta.size, got.range.clone());
    let mut answer = Response::new(Body::from_stream(got.stream.map_err(std::io::Error::other)));
    let status = if range.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    *answer.status_mut() = status;
    let set = answer.headers_mut();
    let content_type = got
        .meta
        .content_type
        .as_deref()
        .unwrap_or("application/octet-stream");
    set.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    set.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(served.end - served.start),
    );
    set.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if range.is_some() {
        let shown = if served.is_empty() {
            format!("bytes */{size}")
        } else {
            format!("bytes {}-{}/{size}", served.start, served.end - 1)
        };
        set.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&shown).map_err(bad_header)?,
        );
    }
    if let Some(etag) = got
        .meta
        .etag
        .as_deref()
        .and_then(|e| HeaderValue::from_str(e).ok())
    {
        set.insert(header::ETAG, etag);
    }
    let name = path.as_str().rsplit('/').next().unwrap_or("output");
    set.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&attachment(name)).map_err(bad_header)?,
    );
    Ok(answer)
}

/// One byte range of a `Range` header: `bytes=A-B`, `bytes=A-` or `bytes=-N`.
fn parse_range(value: &HeaderValue) -> Option<ReadRange> {
    let spec = value.to_str().ok()?.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    let number = |text: &str| text.trim().parse::<u64>().ok();
    match (start.trim().is_empty(), end.trim().is_empty()) {
        (true, false) => Some(ReadRange::Suffix(number(end)?)),
        (false, true) => Some(ReadRange::From(number(start)?)),
        (false, false) => {
            let (start, last) = (number(start)?, number(end)?);
            (last >= start).then(|| ReadRange::Bounded(start..last + 1))
        }
        (true, true) => None,
    }
}

/// `Content-Disposition` for a file named `name`: a plain ASCII fallback
/// (quotes, backslashes and control characters replaced) and the exact name
/// percent-encoded as RFC 6266 says.
fn attachment(name: &str) -> String {
    let plain: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename=\"{plain}\"; filename*=UTF-8''{encoded}")
}

fn bad_header(error: axum::http::header::InvalidHeaderValue) -> ViewerError {
    ViewerError::BadRequest(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_of_one_span_are_read_and_others_refused() {
        let range = |text: &str| parse_range(&HeaderValue::from_str(text).expect("header"));
        assert_eq!(range("bytes=0-9"), Some(ReadRange::Bounded(0..10)));
        assert_eq!(range("bytes=100-"), Some(ReadRange::From(100)));
        assert_eq!(range("bytes=-65536"), Some(ReadRange::Suffix(65536)));
        for bad in [
            "bytes=5-2",
            "bytes=0-1,4-5",
            "items=0-1",
            "bytes=-",
            "bytes=a-b",
        ] {
            assert_eq!(range(bad), None, "{bad}");
        }
    }

    #[test]
    fn attachment_names_cannot_break_the_header() {
        assert_eq!(
            attachment("log.txt"),
            "attachment; filename=\"log.txt\"; filename*=UTF-8''log.txt"
        );
        let hostile = attachment("a\"b\\c\r\nd é.txt");
        assert!(HeaderValue::from_str(&hostile).is_ok(), "{hostile}");
        assert!(
            hostile.starts_with("attachment; filename=\"a_b_c__d _.txt\""),
            "{hostile}"
        );
        assert!(
            hostile.ends_with("UTF-8''a%22b%5Cc%0D%0Ad%20%C3%A9.txt"),
            "{hostile}"
        );
    }
}
