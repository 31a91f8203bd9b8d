//! A fault-injection HTTP/1.1 proxy, put between a client under test and a real
//! upstream (Azurite) on loopback.
//!
//! Unit tests cannot show what a client does when the network misbehaves: a retry
//! after an answer that never arrived, a 503 storm, a body cut mid-transfer. This
//! proxy relays real traffic and spoils chosen requests, by [`Rules`] that can be
//! changed at any time; it counts and logs every request, so a test can also
//! assert how many requests an operation took.
//!
//! It runs on plain threads (one to accept, one per client connection), so it
//! works the same from a synchronous `#[test]` and from inside a tokio runtime,
//! and never blocks one. Each request goes to the upstream on a fresh connection
//! (`Connection: close`), which keeps the relay simple and makes every request
//! independent; towards the client, connections are kept alive as the client
//! asks. Bodies stream through a fixed 64 KiB buffer in both directions, so
//! gigabytes pass in constant memory.
//!
//! ```no_run
//! use batchout_testkit::{Azurite, FaultProxy, Matcher, Rules};
//!
//! let Some(azurite) = Azurite::shared() else { return };
//! let proxy = FaultProxy::start(azurite.addr());
//! let endpoint = proxy.endpoint_for(&azurite.blob_endpoint());
//! // Give `endpoint` to the client under test, then spoil the next Append Block:
//! proxy.set_rules(Rules {
//!     drop_response_fraction: 1.0,
//!     only_if: Some(Matcher::method("PUT").target_contains("comp=appendblock")),
//!     fault_budget: Some(1),
//!     ..Rules::default()
//! });
//! # let _ = endpoint;
//! ```

mod http;
mod rules;

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufReader, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use self::http::{Framing, Head};
use self::rules::{Control, Decision};
pub use self::rules::{Fault, Matcher, Rules};

/// The buffer each body is copied through.
const BUF: usize = 64 * 1024;

/// How long connecting to the upstream may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one read from, or write to, the upstream may wait.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(300);

/// A running proxy on `127.0.0.1`, relaying to one upstream. Dropping it stops
/// it: it no longer accepts connections, and the open ones are closed.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

/// What the proxy has seen since it started or since [`FaultProxy::reset_stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests received (every complete request head).
    pub requests: u64,
    /// Requests sent on to the upstream (those whose answer was then dropped or
    /// cut included).
    pub forwarded: u64,
    /// Requests answered by the proxy with an injected failure.
    pub injected_failures: u64,
    /// Requests applied upstream whose answer the proxy threw away.
    pub dropped_responses: u64,
    /// Answers whose body the proxy cut.
    pub cut_bodies: u64,
    /// Requests forwarded with a byte of their body changed.
    pub corrupted_requests: u64,
    /// Requests received, by method (`GET`, `PUT`, …).
    pub by_method: BTreeMap<String, u64>,
}

/// One request, as the proxy handled it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// The method, as sent.
    pub method: String,
    /// The request target (path and query), with the value of any `sig`
    /// parameter (a SAS signature) replaced by `REDACTED`.
    pub target: String,
    /// The status the upstream answered (also when the answer was dropped or
    /// cut), the injected failure's, or 502 when the upstream could not be
    /// reached; `None` when the exchange broke off before any (the client went
    /// away).
    pub status: Option<u16>,
    /// The fault applied, if any.
    pub fault: Option<Fault>,
    /// The request's `Content-MD5` header, if it had one (the checksum of its
    /// body that the service checks).
    pub content_md5: Option<String>,
    /// The length of the request's body, when it gave one
    /// (`Content-Length`): what an upload sent.
    pub body_len: Option<u64>,
}

impl FaultProxy {
    /// Starts a proxy on a free port of `127.0.0.1` that relays to `upstream`,
    /// with no faults (see [`FaultProxy::set_rules`]).
    ///
    /// It runs on its own threads: call it from a plain test or from inside an
    /// async runtime alike.
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound, or no thread started.
    pub fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .expect("bind a loopback port for the proxy");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let shared = Arc::new(Shared {
            upstream,
            control: Mutex::new(Control::new(Rules::default())),
            recorded: Mutex::new(Recorded::default()),
            connections: Mutex::new(HashMap::new()),
            stop: Mutex::new(false),
            stopping: Condvar::new(),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("fault-proxy-{}", addr.port()))
                .spawn(move || accept(&listener, &shared))
                .expect("start the proxy's thread")
        };
        FaultProxy {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// The address the proxy listens on, `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port the proxy listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The upstream it relays to.
    pub fn upstream(&self) -> SocketAddr {
        self.shared.upstream
    }

    /// `url` with its scheme and authority replaced by the proxy's:
    /// `http://127.0.0.1:10000/devstoreaccount1` becomes
    /// `http://127.0.0.1:<proxy port>/devstoreaccount1`.
    ///
    /// # Panics
    ///
    /// When `url` has no `scheme://`.
    pub fn endpoint_for(&self, url: &str) -> String {
        let (_, rest) = url
            .split_once("://")
            .unwrap_or_else(|| panic!("{url:?} is not a URL with a scheme"));
        let path = rest.find('/').map_or("", |at| &rest[at..]);
        format!("http://{}{path}", self.addr)
    }

    /// Replaces the rules, for the requests that arrive from now on. The draws
    /// start again from the new rules' seed.
    ///
    /// # Panics
    ///
    /// When a fraction is outside 0 to 1, the fractions add up to more than 1,
    /// or `fail_status` is no HTTP status.
    pub fn set_rules(&self, rules: Rules) {
        if let Err(why) = rules.validate() {
            panic!("invalid proxy rules: {why}");
        }
        *lock(&self.shared.control) = Control::new(rules);
    }

    /// Back to forwarding everything untouched.
    pub fn clear_rules(&self) {
        self.set_rules(Rules::default());
    }

    /// The rules in force, with what is left of their
    /// [`fault_budget`](Rules::fault_budget).
    pub fn rules(&self) -> Rules {
        lock(&self.shared.control).rules().clone()
    }

    /// The counts so far.
    pub fn stats(&self) -> Stats {
        lock(&self.shared.recorded).stats.clone()
    }

    /// Every request handled so far, in the order they were answered (or
    /// abandoned).
    pub fn log(&self) -> Vec<RequestRecord> {
        lock(&self.shared.recorded).log.clone()
    }

    /// Sets the counts to zero and empties the log.
    pub fn reset_stats(&self) {
        *lock(&self.shared.recorded) = Recorded::default();
    }
}

impl Drop for FaultProxy {
    /// Stops accepting, wakes delayed requests (which are then abandoned), and
    /// closes every client connection.
    fn drop(&mut self) {
        *lock(&self.shared.stop) = true;
        self.shared.stopping.notify_all();
        // The acceptor sits in `accept`: a connection wakes it to see the flag.
        if TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok()
            && let Some(acceptor) = self.acceptor.take()
        {
            let _ = acceptor.join();
        }
        for (_, connection) in lock(&self.shared.connections).drain() {
            let _ = connection.shutdown(Shutdown::Both);
        }
    }
}

/// What the proxy's threads share.
#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    control: Mutex<Control>,
    recorded: Mutex<Recorded>,
    /// The open client connections, to close them when the proxy stops.
    connections: Mutex<HashMap<u64, TcpStream>>,
    stop: Mutex<bool>,
    stopping: Condvar,
}

#[derive(Debug, Default)]
struct Recorded {
    stats: Stats,
    log: Vec<RequestRecord>,
}

impl Shared {
    fn stopped(&self) -> bool {
        *lock(&self.stop)
    }

    /// Waits `delay`, or less if the proxy stops; says whether it stopped.
    fn wait(&self, delay: Duration) -> bool {
        let stop = lock(&self.stop);
        let (stop, _) = self
            .stopping
            .wait_timeout_while(stop, delay, |stop| !*stop)
            .unwrap_or_else(PoisonError::into_inner);
        *stop
    }

    fn count_request(&self, method: &str) {
        let mut recorded = lock(&self.recorded);
        recorded.stats.requests += 1;
        *recorded
            .stats
            .by_method
            .entry(method.to_owned())
            .or_default() += 1;
    }

    fn count_forwarded(&self) {
        lock(&self.recorded).stats.forwarded += 1;
    }

    fn record(&self, record: RequestRecord) {
        let mut recorded = lock(&self.recorded);
        match record.fault {
            Some(Fault::Failed) => recorded.stats.injected_failures += 1,
            Some(Fault::DroppedResponse) => recorded.stats.dropped_responses += 1,
            Some(Fault::CutBody) => recorded.stats.cut_bodies += 1,
            Some(Fault::CorruptedRequest) => recorded.stats.corrupted_requests += 1,
            None => {}
        }
        recorded.log.push(record);
    }
}

/// A lock that a panicking thread did not spoil: the data behind it is counts and
/// rules, valid whatever happened.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Accepts connections until the proxy stops, each served on its own thread.
fn accept(listener: &TcpListener, shared: &Arc<Shared>) {
    let mut next_id = 0u64;
    for stream in listener.incoming() {
        if shared.stopped() {
            return;
        }
        let Ok(stream) = stream else {
            // Out of file descriptors, say: let some connections end.
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        next_id += 1;
        let id = next_id;
        if let Ok(clone) = stream.try_clone() {
            lock(&shared.connections).insert(id, clone);
        }
        let serving = Arc::clone(shared);
        let spawned = std::thread::Builder::new()
            .name(format!("fault-proxy-conn-{id}"))
            .spawn(move || {
                serve(stream, &serving);
                lock(&serving.connections).remove(&id);
            });
        if spawned.is_err() {
            lock(&shared.connections).remove(&id);
        }
    }
}

/// Whether a client connection carries on after an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    KeepAlive,
    Close,
}

/// Serves the requests of one client connection, one after the other, until the
/// client closes it or an exchange ends it.
fn serve(client: TcpStream, shared: &Shared) {
    let _ = client.set_nodelay(true);
    let Ok(mut writer) = client.try_clone() else {
        return;
    };
    let mut reader = BufReader::with_capacity(BUF, client);
    let mut buf = vec![0u8; BUF];
    loop {
        let head = match http::read_head(&mut reader) {
            Ok(Some(head)) => head,
            Ok(None) => break,
            Err(e) => {
                if e.kind() == io::ErrorKind::InvalidData {
                    let _ = writer.write_all(&plain_answer(400, &e.to_string()));
                }
                break;
            }
        };
        let mut exchange = Exchange {
            shared,
            client: &mut writer,
            reader: &mut reader,
            buf: &mut buf,
        };
        if exchange.run(&head) == Next::Close || shared.stopped() {
            break;
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
}

/// One request and its answer, on a client connection.
struct Exchange<'a> {
    shared: &'a Shared,
    client: &'a mut TcpStream,
    reader: &'a mut BufReader<TcpStream>,
    buf: &'a mut [u8],
}

impl Exchange<'_> {
    fn run(&mut self, head: &Head) -> Next {
        let mut parts = head.start.split_ascii_whitespace();
        let (Some(method), Some(target), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            let _ = self
                .client
                .write_all(&plain_answer(400, "a malformed request line"));
            return Next::Close;
        };
        let framing = match http::request_framing(head) {
            Ok(framing) => framing,
            Err(e) => {
                let _ = self.client.write_all(&plain_answer(400, &e.to_string()));
                return Next::Close;
            }
        };
        self.shared.count_request(method);
        let mut pending = Pending {
            shared: self.shared,
            record: Some(RequestRecord {
                method: method.to_owned(),
                target: redact(target),
                status: None,
                fault: None,
                content_md5: head.header("content-md5").map(str::to_owned),
                body_len: match framing {
                    Framing::Length(len) => Some(len),
                    _ => None,
                },
            }),
        };
        let keep_alive = if version.eq_ignore_ascii_case("HTTP/1.0") {
            head.has_token("connection", "keep-alive")
        } else {
            !head.has_token("connection", "close")
        };
        let expect_continue = head
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
        let decision = lock(&self.shared.control).decide(method, target);
        if let Some(delay) = decision.delay
            && self.shared.wait(delay)
        {
            return Next::Close;
        }
        if decision.fault == Some(Fault::Failed) {
            // Read the body, so the connection can carry on, unless the client
            // waits for a go-ahead before sending it.
            let keep = keep_alive
                && !expect_continue
                && http::copy_body(framing, self.reader, &mut io::sink(), self.buf).is_ok();
            pending.finish(Some(decision.fail_status), Some(Fault::Failed));
            let answer = injected_failure(
                decision.fail_status,
                decision.fail_code,
                decision.retry_after,
                !keep,
            );
            let written = self.client.write_all(&answer);
            return if keep && written.is_ok() {
                Next::KeepAlive
            } else {
                Next::Close
            };
        }
        let request = Request {
            head,
            method,
            framing,
            keep_alive,
            expect_continue,
        };
        self.forward(&request, &decision, &mut pending)
    }

    /// Sends the request upstream and relays (or spoils) the answer.
    fn forward(
        &mut self,
        request: &Request<'_>,
        decision: &Decision,
        pending: &mut Pending<'_>,
    ) -> Next {
        let corrupt = decision.fault == Some(Fault::CorruptedRequest);
        let corrupt = if corrupt && !matches!(request.framing, Framing::Length(len) if len > 0) {
            // Nothing to corrupt: pass it, and give the budget back.
            lock(&self.shared.control).refund();
            false
        } else {
            corrupt
        };
        let (upstream, whole) = match self.send_upstream(request, corrupt) {
            Ok(sent) => sent,
            Err(e) => {
                pending.finish(Some(502), None);
                let why = format!("upstream {}: {e}", self.shared.upstream);
                let _ = self.client.write_all(&plain_answer(502, &why));
                return Next::Close;
            }
        };
        let mut from = BufReader::with_capacity(BUF, &upstream);
        let (head, status, framing) = match read_answer_head(&mut from, request.method) {
            Ok(answer) => answer,
            Err(e) => {
                pending.finish(Some(502), None);
                let why = format!("upstream {} did not answer: {e}", self.shared.upstream);
                let _ = self.client.write_all(&plain_answer(502, &why));
                return Next::Close;
            }
        };
        let fault = match decision.fault {
            Some(Fault::CutBody) if !matches!(framing, Framing::Length(len) if len > 0) => {
                // Nothing to cut: pass it, and give the budget back.
                lock(&self.shared.control).refund();
                None
            }
            fault => fault,
        };
        let close = [("Connection", "close")];
        let outcome = match (fault, framing) {
            (Some(Fault::DroppedResponse), _) => {
                // Read it all: the upstream has finished with the request.
                let read = http::copy_body(framing, &mut from, &mut io::sink(), self.buf);
                pending.finish(Some(status), Some(Fault::DroppedResponse));
                read.map(|_| Next::Close)
            }
            (Some(Fault::CutBody), Framing::Length(len)) => {
                pending.finish(Some(status), Some(Fault::CutBody));
                self.client
                    .write_all(&head.forwarded(&close))
                    .and_then(|()| http::copy_exact(len / 2, &mut from, self.client, self.buf))
                    .map(|()| Next::Close)
            }
            _ => {
                // A body the upstream did not read is still on the connection.
                let keep = request.keep_alive && whole && framing != Framing::UntilClose;
                pending.finish(Some(status), corrupt.then_some(Fault::CorruptedRequest));
                let extra: &[(&str, &str)] = if keep { &[] } else { &close };
                self.client
                    .write_all(&head.forwarded(extra))
                    .and_then(|()| http::copy_body(framing, &mut from, self.client, self.buf))
                    .map(|_| if keep { Next::KeepAlive } else { Next::Close })
            }
        };
        let _ = upstream.shutdown(Shutdown::Both);
        outcome.unwrap_or(Next::Close)
    }

    /// Connects to the upstream and sends it the request, body included; says
    /// whether the body went whole. When the upstream stops reading the body (it
    /// answered early), what it answered is still relayed; when the client stops
    /// sending it, this fails. With `corrupt`, the body's first byte is changed
    /// on the way.
    fn send_upstream(
        &mut self,
        request: &Request<'_>,
        corrupt: bool,
    ) -> io::Result<(TcpStream, bool)> {
        let upstream = TcpStream::connect_timeout(&self.shared.upstream, CONNECT_TIMEOUT)?;
        upstream.set_nodelay(true)?;
        upstream.set_read_timeout(Some(UPSTREAM_TIMEOUT))?;
        upstream.set_write_timeout(Some(UPSTREAM_TIMEOUT))?;
        (&upstream).write_all(&request.head.forwarded(&[("Connection", "close")]))?;
        if request.expect_continue {
            self.client.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let mut to = Tracked {
            inner: &upstream,
            failed: false,
            corrupt,
        };
        let whole = match http::copy_body(request.framing, self.reader, &mut to, self.buf) {
            Ok(_) => true,
            // The upstream hung up mid-body: read what it said.
            Err(_) if to.failed => false,
            Err(e) => return Err(e),
        };
        self.shared.count_forwarded();
        Ok((upstream, whole))
    }
}

/// A parsed request, as [`Exchange::forward`] needs it.
struct Request<'a> {
    head: &'a Head,
    method: &'a str,
    framing: Framing,
    keep_alive: bool,
    expect_continue: bool,
}

/// Reads the upstream's answer head, skipping interim (1xx) answers.
fn read_answer_head(
    from: &mut BufReader<&TcpStream>,
    method: &str,
) -> io::Result<(Head, u16, Framing)> {
    loop {
        let head = http::read_head(from)?.ok_or(io::ErrorKind::UnexpectedEof)?;
        let status = head
            .start
            .split_ascii_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .filter(|s| (100..=999).contains(s))
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "a malformed status line"))?;
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        let framing = http::response_framing(&head, method, status)?;
        return Ok((head, status, framing));
    }
}

/// A writer that remembers whether a write failed, to tell the upstream hanging
/// up from the client doing so; and, while `corrupt` is set, changes the next
/// byte written.
struct Tracked<W> {
    inner: W,
    failed: bool,
    corrupt: bool,
}

impl<W: Write> Write for Tracked<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.corrupt
            && let Some(first) = buf.first()
        {
            let written = self.inner.write(&[first ^ 1]);
            self.failed |= written.is_err();
            self.corrupt &= !matches!(written, Ok(1));
            return written;
        }
        let written = self.inner.write(buf);
        self.failed |= written.is_err();
        written
    }

    fn flush(&mut self) -> io::Result<()> {
        let flushed = self.inner.flush();
        self.failed |= flushed.is_err();
        flushed
    }
}

/// A request's record, logged once its outcome is known — before the client
/// sees the answer, so a test that got it finds it in the log — or, if the
/// exchange breaks off first, when it is dropped.
struct Pending<'a> {
    shared: &'a Shared,
    record: Option<RequestRecord>,
}

impl Pending<'_> {
    fn finish(&mut self, status: Option<u16>, fault: Option<Fault>) {
        if let Some(mut record) = self.record.take() {
            record.status = status;
            record.fault = fault;
            self.shared.record(record);
        }
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.finish(None, None);
    }
}

/// An injected failure as Azure Storage (or S3, with its `code`) answers
/// one: an XML error body, and its code in `x-ms-error-code` too.
fn injected_failure(
    status: u16,
    code: Option<&str>,
    retry_after: Option<u32>,
    close: bool,
) -> Vec<u8> {
    let code = code.unwrap_or(match status {
        500 => "InternalError",
        503 | 429 => "ServerBusy",
        408 | 504 => "OperationTimedOut",
        _ => "InjectedFault",
    });
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>injected</Message></Error>"
    );
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nx-ms-error-code: {code}\r\nx-ms-request-id: fault-proxy\r\n",
        reason(status),
        body.len()
    );
    if let Some(seconds) = retry_after {
        head.push_str(&format!("Retry-After: {seconds}\r\n"));
    }
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    head.push_str(&body);
    head.into_bytes()
}

/// The proxy's own answer to what it cannot relay; the connection then closes.
fn plain_answer(status: u16, message: &str) -> Vec<u8> {
    let body = format!("fault proxy: {message}\n");
    format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        reason(status),
        body.len()
    )
    .into_bytes()
}

/// The reason phrase of `status`, `Injected Fault` for one without a
/// standard phrase in the table.
fn reason(status: u16) -> &'static str {
    crate::stub_http::reason(status, "Injected Fault")
}

/// The target with the value of its `sig` query parameters (SAS signatures)
/// replaced by `REDACTED`.
fn redact(target: &str) -> String {
    let Some((path, query)) = target.split_once('?') else {
        return target.to_owned();
    };
    let query: Vec<&str> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if name.eq_ignore_ascii_case("sig") => "sig=REDACTED",
            _ => pair,
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_never_reaches_the_log() {
        assert_eq!(
            redact("/a/b?sv=2024&sig=abc%2Bdef&comp=appendblock"),
            "/a/b?sv=2024&sig=REDACTED&comp=appendblock"
        );
        assert_eq!(redact("/a/b"), "/a/b");
        assert_eq!(redact("/a?SIG=x"), "/a?sig=REDACTED");
    }

    #[test]
    fn an_injected_failure_looks_like_azure_storage() {
        let answer = String::from_utf8(injected_failure(503, None, Some(2), false)).expect("text");
        assert!(
            answer.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{answer}"
        );
        assert!(
            answer.contains("\r\nx-ms-error-code: ServerBusy\r\n"),
            "{answer}"
        );
        assert!(answer.contains("\r\nRetry-After: 2\r\n"), "{answer}");
        assert!(
            answer.ends_with("<Error><Code>ServerBusy</Code><Message>injected</Message></Error>")
        );
        assert!(!answer.contains("Connection: close"));
    }

    #[test]
    fn an_endpoint_is_moved_to_the_proxy() {
        // An upstream that is never reached.
        let proxy = FaultProxy::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 9)));
        let port = proxy.port();
        assert_eq!(
            proxy.endpoint_for("http://127.0.0.1:10000/devstoreaccount1"),
            format!("http://127.0.0.1:{port}/devstoreaccount1")
        );
        assert_eq!(
            proxy.endpoint_for("http://localhost:10000"),
            format!("http://127.0.0.1:{port}")
        );
    }
}
