//! Just enough HTTP/1.1 to relay a request and its answer: heads are parsed,
//! bodies are copied through a fixed buffer as they are framed on the wire
//! (chunked bodies with their chunk lines), never held whole in memory.

use std::io::{self, BufRead, Read, Write};

/// The longest request or response head accepted.
const MAX_HEAD: usize = 64 * 1024;

/// The longest chunk-size or trailer line accepted.
const MAX_LINE: usize = 8 * 1024;

/// Headers that concern one connection only, never passed on.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "upgrade",
    "expect",
];

/// A request or status line, with its headers.
#[derive(Debug, Clone)]
pub(super) struct Head {
    /// The request line (`PUT /a/b?comp=block HTTP/1.1`) or status line.
    pub start: String,
    /// The headers, in order, as sent.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first header of this name (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether a comma-separated header of this name lists `token` (any case).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// The head as sent on to the next hop: hop-by-hop headers left out, `extra`
    /// headers added.
    pub fn forwarded(&self, extra: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(self.start.as_bytes());
        out.extend_from_slice(b"\r\n");
        let kept = self
            .headers
            .iter()
            .filter(|(n, _)| !HOP_BY_HOP.iter().any(|h| n.eq_ignore_ascii_case(h)));
        for (name, value) in kept
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .chain(extra.iter().copied())
        {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

/// Reads a head, up to its empty line. `Ok(None)` when the peer closed the
/// connection before sending a byte (the end of a keep-alive connection).
///
/// # Errors
///
/// `InvalidData` for a head too long or not HTTP; `UnexpectedEof` for one cut
/// short; and any error reading.
pub(super) fn read_head(from: &mut impl BufRead) -> io::Result<Option<Head>> {
    let mut lines: Vec<String> = Vec::new();
    let mut total = 0;
    loop {
        let mut line = Vec::new();
        let limit = (MAX_HEAD + 1 - total) as u64;
        let n = from.by_ref().take(limit).read_until(b'\n', &mut line)?;
        if n == 0 && total == 0 {
            return Ok(None);
        }
        total += n;
        if total > MAX_HEAD {
            return Err(invalid("a head longer than 64 KiB"));
        }
        if !line.ends_with(b"\n") {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let text = String::from_utf8(line).map_err(|_| invalid("a head that is not UTF-8"))?;
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            if lines.is_empty() {
                continue; // Blank lines before a request line are allowed.
            }
            break;
        }
        lines.push(text.to_owned());
    }
    let mut lines = lines.into_iter();
    let start = lines.next().ok_or_else(|| invalid("an empty head"))?;
    let headers = lines
        .map(|line| {
            let (name, value) = line
                .split_once(':')
                .filter(|(name, _)| !name.is_empty() && !name.starts_with([' ', '\t']))
                .ok_or_else(|| invalid("a header line without a name"))?;
            Ok((name.to_owned(), value.trim().to_owned()))
        })
        .collect::<io::Result<_>>()?;
    Ok(Some(Head { start, headers }))
}

/// How a body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// No body.
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Up to the end of the connection (answers only).
    UntilClose,
}

/// How a request's body is delimited.
///
/// # Errors
///
/// `InvalidData` for a transfer coding other than chunked, or a bad length.
pub(super) fn request_framing(head: &Head) -> io::Result<Framing> {
    if let Some(coding) = head.header("transfer-encoding") {
        return match coding.rsplit(',').next().map(str::trim) {
            Some(last) if last.eq_ignore_ascii_case("chunked") => Ok(Framing::Chunked),
            _ => Err(invalid(
                "a request body whose last transfer coding is not chunked",
            )),
        };
    }
    match content_length(head)? {
        Some(0) | None => Ok(Framing::Empty),
        Some(len) => Ok(Framing::Length(len)),
    }
}

/// How an answer's body is delimited, for a request of `method`.
///
/// # Errors
///
/// `InvalidData` for a bad length.
pub(super) fn response_framing(head: &Head, method: &str, status: u16) -> io::Result<Framing> {
    if method.eq_ignore_ascii_case("HEAD") || status < 200 || status == 204 || status == 304 {
        return Ok(Framing::Empty);
    }
    if head.header("transfer-encoding").is_some() {
        return Ok(if head.has_token("transfer-encoding", "chunked") {
            Framing::Chunked
        } else {
            Framing::UntilClose
        });
    }
    match content_length(head)? {
        Some(0) => Ok(Framing::Empty),
        Some(len) => Ok(Framing::Length(len)),
        None => Ok(Framing::UntilClose),
    }
}

fn content_length(head: &Head) -> io::Result<Option<u64>> {
    let mut found = None;
    for (_, value) in head
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    {
        let len = value
            .parse::<u64>()
            .map_err(|_| invalid("a Content-Length that is not a number"))?;
        if found.is_some_and(|f| f != len) {
            return Err(invalid("two different Content-Lengths"));
        }
        found = Some(len);
    }
    Ok(found)
}

/// Copies a body framed as `framing` from `from` to `to`, chunk lines and
/// trailers included, through `buf`. Returns the bytes of content copied
/// (without chunk framing).
///
/// # Errors
///
/// `UnexpectedEof` when the body ends early; any error reading or writing.
pub(super) fn copy_body(
    framing: Framing,
    from: &mut impl BufRead,
    to: &mut impl Write,
    buf: &mut [u8],
) -> io::Result<u64> {
    match framing {
        Framing::Empty => Ok(0),
        Framing::Length(len) => copy_exact(len, from, to, buf).map(|()| len),
        Framing::UntilClose => {
            let mut copied = 0;
            loop {
                let n = read_some(from, buf)?;
                if n == 0 {
                    return Ok(copied);
                }
                to.write_all(&buf[..n])?;
                copied += n as u64;
            }
        }
        Framing::Chunked => {
            let mut copied = 0;
            loop {
                let line = read_line(from)?;
                to.write_all(&line)?;
                let size = chunk_size(&line)?;
                if size == 0 {
                    // Trailers, up to an empty line.
                    loop {
                        let line = read_line(from)?;
                        to.write_all(&line)?;
                        if line == b"\r\n" || line == b"\n" {
                            return Ok(copied);
                        }
                    }
                }
                copy_exact(size, from, to, buf)?;
                copied += size;
                let end = read_line(from)?;
                if end != b"\r\n" && end != b"\n" {
                    return Err(invalid("a chunk longer than its size"));
                }
                to.write_all(&end)?;
            }
        }
    }
}

/// Copies exactly `len` bytes.
pub(super) fn copy_exact(
    mut len: u64,
    from: &mut impl Read,
    to: &mut impl Write,
    buf: &mut [u8],
) -> io::Result<()> {
    while len > 0 {
        let want = buf.len().min(usize::try_from(len).unwrap_or(usize::MAX));
        let n = read_some(from, &mut buf[..want])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        to.write_all(&buf[..n])?;
        len -= n as u64;
    }
    Ok(())
}

/// One read, retried when interrupted.
fn read_some(from: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match from.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// One line, its end included.
fn read_line(from: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    from.by_ref()
        .take(MAX_LINE as u64)
        .read_until(b'\n', &mut line)?;
    if !line.ends_with(b"\n") {
        return Err(if line.len() >= MAX_LINE {
            invalid("a chunk line longer than 8 KiB")
        } else {
            io::ErrorKind::UnexpectedEof.into()
        });
    }
    Ok(line)
}

/// The size of a chunk line, `1a2b;ext=v\r\n`.
fn chunk_size(line: &[u8]) -> io::Result<u64> {
    let text = std::str::from_utf8(line).map_err(|_| invalid("a chunk size that is not text"))?;
    let hex = text.split(';').next().unwrap_or_default().trim();
    u64::from_str_radix(hex, 16).map_err(|_| invalid("a chunk size that is not hexadecimal"))
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Head {
        read_head(&mut text.as_bytes())
            .expect("a valid head")
            .expect("not empty")
    }

    #[test]
    fn a_head_is_read_up_to_its_empty_line() {
        let mut input: &[u8] =
            b"\r\nPUT /a?comp=block HTTP/1.1\r\nHost: x\r\nContent-Length:  3 \r\n\r\nabc";
        let head = read_head(&mut input).expect("valid").expect("a head");
        assert_eq!(head.start, "PUT /a?comp=block HTTP/1.1");
        assert_eq!(head.header("content-length"), Some("3"));
        assert_eq!(input, b"abc");
        assert!(read_head(&mut &b""[..]).expect("valid").is_none());
        assert!(read_head(&mut &b"GET / HTTP/1.1\r\nHost"[..]).is_err());
        assert!(read_head(&mut &b"GET / HTTP/1.1\r\n folded\r\n\r\n"[..]).is_err());
    }

    #[test]
    fn hop_by_hop_headers_are_not_forwarded() {
        let head = head(
            "GET / HTTP/1.1\r\nConnection: keep-alive\r\nKeep-Alive: 5\r\nx-ms-version: 1\r\n\r\n",
        );
        let out = head.forwarded(&[("Connection", "close")]);
        assert_eq!(
            String::from_utf8(out).expect("text"),
            "GET / HTTP/1.1\r\nx-ms-version: 1\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn framing_follows_the_headers_and_the_method() {
        let put = head("PUT / HTTP/1.1\r\nContent-Length: 10\r\n\r\n");
        assert_eq!(request_framing(&put).expect("valid"), Framing::Length(10));
        let chunked = head("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(request_framing(&chunked).expect("valid"), Framing::Chunked);
        let get = head("GET / HTTP/1.1\r\n\r\n");
        assert_eq!(request_framing(&get).expect("valid"), Framing::Empty);
        let ok = head("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n");
        assert_eq!(
            response_framing(&ok, "HEAD", 200).expect("valid"),
            Framing::Empty
        );
        assert_eq!(
            response_framing(&ok, "GET", 200).expect("valid"),
            Framing::Length(10)
        );
        let open = head("HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(
            response_framing(&open, "GET", 200).expect("valid"),
            Framing::UntilClose
        );
        assert_eq!(
            response_framing(&open, "GET", 204).expect("valid"),
            Framing::Empty
        );
        let twice = head("PUT / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
        assert!(request_framing(&twice).is_err());
    }

    #[test]
    fn a_chunked_body_is_copied_raw_and_stops_at_its_end() {
        let wire = b"4;x=y\r\nabcd\r\n2\r\nef\r\n0\r\nTrailer: t\r\n\r\nNEXT";
        let mut from = &wire[..];
        let mut to = Vec::new();
        let mut buf = [0u8; 3];
        let copied = copy_body(Framing::Chunked, &mut from, &mut to, &mut buf).expect("copied");
        assert_eq!(copied, 6);
        assert_eq!(to, &wire[..wire.len() - 4]);
        assert_eq!(from, b"NEXT");
    }

    #[test]
    fn a_body_shorter_than_its_length_is_an_error() {
        let mut from = &b"abc"[..];
        let mut buf = [0u8; 2];
        let err = copy_body(Framing::Length(5), &mut from, &mut io::sink(), &mut buf)
            .expect_err("too short");
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
