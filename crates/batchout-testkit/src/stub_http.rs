//! The bare HTTP/1.1 server under the testkit's stand-ins ([`TokenService`],
//! [`AwsMetadata`]): a loopback port, a thread a connection, requests read
//! one after another (a `Content-Length` body, no chunking) and each
//! answered by a handler, until the client closes or asks to close.
//!
//! [`TokenService`]: crate::TokenService
//! [`AwsMetadata`]: crate::AwsMetadata

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// One HTTP request, as read.
pub(crate) struct Request {
    /// The method, as sent (`GET`, `PUT`, …).
    pub(crate) method: String,
    /// The request target: the path, with its query if any.
    pub(crate) target: String,
    /// The headers, by lowercase name (the last of a repeated one wins).
    headers: HashMap<String, String>,
    /// The body, as long as `Content-Length` said (empty without one).
    pub(crate) body: Vec<u8>,
}

impl Request {
    /// The target's path, without the query.
    pub(crate) fn path(&self) -> &str {
        self.target
            .split_once('?')
            .map_or(self.target.as_str(), |(path, _)| path)
    }

    /// The target's query, after the `?` (empty without one).
    pub(crate) fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, query)| query)
    }

    /// The value of header `name`, whatever the case of either.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// Whether the client asked to close the connection after this request
    /// (`Connection: close`).
    pub(crate) fn wants_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"))
    }
}

/// One HTTP answer.
pub(crate) struct Response {
    /// The status code.
    pub(crate) status: u16,
    /// The `Content-Type`.
    pub(crate) content_type: &'static str,
    /// Headers besides `Content-Type`, `Content-Length` and `Connection`.
    pub(crate) headers: Vec<(&'static str, String)>,
    /// The body.
    pub(crate) body: String,
}

impl Response {
    /// A `text/plain` answer.
    pub(crate) fn text(status: u16, body: &str) -> Self {
        Self {
            status,
            content_type: "text/plain",
            headers: Vec::new(),
            body: body.to_owned(),
        }
    }

    /// An `application/json` answer.
    pub(crate) fn json(status: u16, body: &serde_json::Value) -> Self {
        Self {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body: body.to_string(),
        }
    }
}

/// The reason phrase of `status`, or `fallback` for a status not in the
/// table.
pub(crate) fn reason(status: u16, fallback: &'static str) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => fallback,
    }
}

/// A server on a free loopback port, answering each request with its
/// handler, until dropped (it then stops accepting connections; those open
/// are served until they close).
#[derive(Debug)]
pub(crate) struct Server {
    port: u16,
    stopped: Arc<AtomicBool>,
}

impl Server {
    /// Starts a server that answers every request with `handler`.
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound.
    pub(crate) fn start<H>(handler: H) -> Self
    where
        H: Fn(&Request) -> Response + Send + Sync + 'static,
    {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a loopback port");
        let port = listener.local_addr().expect("an address").port();
        let stopped = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stopped);
        let handler = Arc::new(handler);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { return };
                let handler = Arc::clone(&handler);
                std::thread::spawn(move || serve(&*handler, stream));
            }
        });
        Self { port, stopped }
    }

    /// The loopback port it listens on (the stand-ins' tests connect to it
    /// themselves).
    #[cfg(test)]
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The URL of `path` on it: `http://127.0.0.1:<port>` and `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        // Wakes the accepting thread, which sees the flag and returns,
        // closing the listener.
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
    }
}

/// Serves one connection's requests until it closes, or a request asks to
/// close it.
fn serve(handler: &dyn Fn(&Request) -> Response, stream: TcpStream) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    while let Some(request) = read_request(&mut reader) {
        let close = request.wants_close();
        if write_response(&mut writer, &handler(&request), close).is_err() || close {
            return;
        }
    }
}

/// The next request on a connection: its request line, headers and
/// `Content-Length` body; `None` once the connection is closed or the
/// request is malformed.
pub(crate) fn read_request(reader: &mut impl BufRead) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        target,
        headers,
        body,
    })
}

/// Writes `response`: its status line, `Content-Type`, `Content-Length`,
/// its headers, `Connection: close` when `close`, then its body.
pub(crate) fn write_response(
    writer: &mut impl Write,
    response: &Response,
    close: bool,
) -> io::Result<()> {
    let mut message = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
        response.status,
        reason(response.status, "Status"),
        response.content_type,
        response.body.len()
    );
    for (name, value) in &response.headers {
        message.push_str(&format!("{name}: {value}\r\n"));
    }
    if close {
        message.push_str("Connection: close\r\n");
    }
    message.push_str("\r\n");
    message.push_str(&response.body);
    writer.write_all(message.as_bytes())
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn requests_are_read_one_after_another() {
        let wire = "POST /a/b?x=1&y=2 HTTP/1.1\r\nContent-Length: 5\r\nX-Thing:  Value \r\n\r\nhelloGET /c HTTP/1.1\r\nConnection: Close\r\n\r\n";
        let mut reader = BufReader::new(wire.as_bytes());
        let first = read_request(&mut reader).expect("a request");
        assert_eq!(first.method, "POST");
        assert_eq!(first.target, "/a/b?x=1&y=2");
        assert_eq!((first.path(), first.query()), ("/a/b", "x=1&y=2"));
        assert_eq!(first.header("x-thing"), Some("Value"));
        assert_eq!(first.header("X-THING"), Some("Value"));
        assert_eq!(first.body, b"hello");
        assert!(!first.wants_close());
        let second = read_request(&mut reader).expect("a request");
        assert_eq!((second.path(), second.query()), ("/c", ""));
        assert!(second.body.is_empty());
        assert!(second.wants_close());
        assert!(read_request(&mut reader).is_none());
    }

    #[test]
    fn answers_carry_their_length_headers_and_close() {
        let mut response = Response::text(403, "no");
        response.headers.push(("X-Extra", "1".to_owned()));
        let mut wire = Vec::new();
        write_response(&mut wire, &response, true).expect("written");
        assert_eq!(
            String::from_utf8(wire).expect("text"),
            "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nX-Extra: 1\r\nConnection: close\r\n\r\nno"
        );
        assert_eq!(reason(299, "Status"), "Status");
    }

    #[test]
    fn a_server_answers_until_dropped() {
        let server = Server::start(|request| Response::text(200, request.path()));
        let port = server.port();
        assert_eq!(server.url("/x"), format!("http://127.0.0.1:{port}/x"));
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("connect");
        stream
            .write_all(b"GET /one HTTP/1.1\r\n\r\nGET /two HTTP/1.1\r\nConnection: close\r\n\r\n")
            .expect("send");
        let mut text = String::new();
        stream.read_to_string(&mut text).expect("answers");
        assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
        assert!(
            text.contains("\r\n\r\n/one") && text.ends_with("\r\n\r\n/two"),
            "{text}"
        );
        drop(server);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
            assert!(std::time::Instant::now() < deadline, "still accepting");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}
