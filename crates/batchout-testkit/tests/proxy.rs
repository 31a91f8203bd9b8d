//! Proves the fault-injection proxy: it relays real traffic to Azurite (the
//! Python SDK works through it), and spoils exactly the requests its rules say,
//! in the way they say. Its HTTP handling (keep-alive, chunked bodies, large
//! bodies in bounded memory) is checked against a scripted upstream.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use batchout_testkit::{Azurite, Fault, FaultProxy, Matcher, PythonSdk, RequestRecord, Rules};
use serde_json::json;

/// A proxy in front of the shared Azurite, and the Python SDK connected through
/// it.
fn through_proxy() -> Option<(FaultProxy, PythonSdk)> {
    let azurite = Azurite::shared()?;
    let sdk = PythonSdk::find()?;
    let proxy = FaultProxy::start(azurite.addr());
    let endpoint = proxy.endpoint_for(&azurite.blob_endpoint());
    let sdk = sdk.with_connection_string(azurite.connection_string_for(&endpoint));
    Some((proxy, sdk))
}

#[test]
fn the_python_sdk_round_trips_a_blob_through_the_proxy() {
    let Some((proxy, sdk)) = through_proxy() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let original = dir.path().join("original.bin");
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(&original, &bytes).expect("write");
    let copy = dir.path().join("copy.bin");

    sdk.run_json(&["create-container", "job-proxy-round-trip"]);
    let blob = "t1/$TaskOutput/original.bin";
    let original = original.to_str().expect("utf-8 path");
    sdk.run_json(&["upload-block", "job-proxy-round-trip", blob, original]);
    let copy_path = copy.to_str().expect("utf-8 path");
    let downloaded = sdk.run_json(&["download", "job-proxy-round-trip", blob, copy_path]);
    assert_eq!(downloaded, json!({ "size": bytes.len() }));
    assert_eq!(std::fs::read(&copy).expect("read"), bytes);

    let stats = proxy.stats();
    assert_eq!(stats.requests, 3, "{stats:?}");
    assert_eq!(stats.forwarded, 3, "{stats:?}");
    assert_eq!(stats.by_method.get("PUT"), Some(&2), "{stats:?}");
    assert_eq!(stats.by_method.get("GET"), Some(&1), "{stats:?}");
    assert_eq!(
        stats.injected_failures + stats.dropped_responses + stats.cut_bodies,
        0
    );
    let log = proxy.log();
    let statuses: Vec<_> = log.iter().map(|r| (r.method.as_str(), r.status)).collect();
    assert_eq!(
        statuses,
        [("PUT", Some(201)), ("PUT", Some(201)), ("GET", Some(206))]
    );
    assert!(log.iter().all(|r| r.fault.is_none()));

    proxy.reset_stats();
    assert_eq!(proxy.stats(), batchout_testkit::Stats::default());
    assert!(proxy.log().is_empty());
}

#[test]
fn a_failure_budget_of_one_fails_exactly_one_request_then_forwards() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let proxy = FaultProxy::start(azurite.addr());
    proxy.set_rules(Rules {
        fail_fraction: 1.0,
        retry_after: Some(1),
        fault_budget: Some(1),
        ..Rules::default()
    });
    // Both on one keep-alive connection: an injected failure leaves it usable.
    let mut client = Client::connect(proxy.addr());
    let list = "GET /devstoreaccount1?comp=list HTTP/1.1\r\nHost: x\r\n\r\n";
    let failed = client.exchange(list.as_bytes());
    assert_eq!(failed.status, 503);
    assert_eq!(failed.header("x-ms-error-code"), Some("ServerBusy"));
    assert_eq!(failed.header("retry-after"), Some("1"));
    assert_eq!(
        String::from_utf8_lossy(&failed.body),
        r#"<?xml version="1.0" encoding="utf-8"?><Error><Code>ServerBusy</Code><Message>injected</Message></Error>"#
    );
    // Azurite's own answer: the request was not signed.
    let forwarded = client.exchange(list.as_bytes());
    assert_eq!(forwarded.status, 403);
    assert!(
        forwarded
            .header("server")
            .is_some_and(|s| s.starts_with("Azurite")),
        "{forwarded:?}"
    );
    assert!(String::from_utf8_lossy(&forwarded.body).contains("<Code>AuthorizationFailure</Code>"));

    let stats = proxy.stats();
    assert_eq!(
        (stats.requests, stats.forwarded, stats.injected_failures),
        (2, 1, 1)
    );
    assert_eq!(proxy.rules().fault_budget, Some(0));
    let record = |status, fault| RequestRecord {
        method: "GET".into(),
        target: "/devstoreaccount1?comp=list".into(),
        status: Some(status),
        fault,
        content_md5: None,
        body_len: None,
    };
    assert_eq!(
        proxy.log(),
        [record(503, Some(Fault::Failed)), record(403, None)]
    );
}

#[test]
fn the_python_sdk_retries_past_an_injected_failure() {
    let Some((proxy, sdk)) = through_proxy() else {
        return;
    };
    proxy.set_rules(Rules {
        fail_fraction: 1.0,
        fault_budget: Some(1),
        ..Rules::default()
    });
    let created = sdk
        .with_retries(1)
        .run_json(&["create-container", "job-proxy-retried"]);
    assert_eq!(created, json!({ "created": true }));
    let stats = proxy.stats();
    assert_eq!(
        (stats.requests, stats.forwarded, stats.injected_failures),
        (2, 1, 1)
    );
}

#[test]
fn an_append_whose_answer_was_dropped_was_applied_all_the_same() {
    let Some((proxy, sdk)) = through_proxy() else {
        return;
    };
    let container = "job-proxy-dropped-append";
    let blob = "t1/$TaskLog/stdout.txt";
    sdk.run_json(&["create-container", container]);
    sdk.run_json(&["append", container, blob, "one\n"]);
    proxy.reset_stats();

    proxy.set_rules(Rules {
        drop_response_fraction: 1.0,
        only_if: Some(Matcher::method("PUT").target_contains("comp=appendblock")),
        fault_budget: Some(1),
        ..Rules::default()
    });
    let out = sdk
        .clone()
        .with_retries(0)
        .run(&["append", container, blob, "two\n"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the client saw an answer: {stderr}");

    // The client saw its connection close; Azurite applied the append.
    let listed = sdk.run_json(&["list", container, "t1/"]);
    assert_eq!(listed[0]["size"], json!(8), "{listed}");
    let dropped: Vec<_> = proxy
        .log()
        .into_iter()
        .filter(|r| r.fault.is_some())
        .collect();
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert_eq!(dropped[0].fault, Some(Fault::DroppedResponse));
    assert_eq!(dropped[0].status, Some(201));
    assert!(dropped[0].target.contains("comp=appendblock"));
    assert_eq!(proxy.stats().dropped_responses, 1);
    assert_eq!(proxy.rules().fault_budget, Some(0));
}

#[test]
fn a_cut_body_makes_the_python_sdk_fetch_the_blob_again() {
    let Some((proxy, sdk)) = through_proxy() else {
        return;
    };
    let container = "job-proxy-cut";
    let dir = tempfile::tempdir().expect("tempdir");
    let original = dir.path().join("original.bin");
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&original, &bytes).expect("write");
    let original = original.to_str().expect("utf-8 path");
    let copy = dir.path().join("copy.bin");
    let copy_path = copy.to_str().expect("utf-8 path");
    sdk.run_json(&["create-container", container]);
    sdk.run_json(&["upload-block", container, "b.bin", original]);
    proxy.reset_stats();

    proxy.set_rules(Rules {
        cut_body_fraction: 1.0,
        only_if: Some(Matcher::method("GET")),
        fault_budget: Some(1),
        ..Rules::default()
    });
    // The SDK's downloader sees the body end early ("Incomplete download") and
    // asks again, whatever its retry policy.
    let out = sdk
        .with_retries(0)
        .run_json(&["download", container, "b.bin", copy_path]);
    assert_eq!(out, json!({ "size": bytes.len() }));
    assert_eq!(std::fs::read(&copy).expect("read"), bytes);
    let faults: Vec<_> = proxy
        .log()
        .iter()
        .map(|r| (r.method.clone(), r.fault))
        .collect();
    assert_eq!(
        faults,
        [
            ("GET".to_owned(), Some(Fault::CutBody)),
            ("GET".to_owned(), None)
        ]
    );
    assert_eq!(proxy.stats().cut_bodies, 1);
}

#[test]
fn keep_alive_chunked_bodies_and_head_are_relayed_as_sent() {
    let upstream = Scripted::start();
    let proxy = FaultProxy::start(upstream.addr);
    let mut client = Client::connect(proxy.addr());

    let chunked = b"PUT /raw HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: t\r\n\r\n";
    let echoed = client.exchange(chunked);
    assert_eq!(echoed.status, 200);
    // The scripted upstream answers chunked, with what it got (chunks and all).
    assert_eq!(echoed.header("transfer-encoding"), Some("chunked"));
    assert_eq!(
        echoed.body,
        &b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: t\r\n\r\n"[..]
    );
    assert_eq!(echoed.header("x-connection"), Some("close"));

    let head = client.exchange(b"HEAD /big?size=1000 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(head.header("content-length"), Some("1000"));
    assert!(head.body.is_empty());

    let get = client.exchange(b"GET /big?size=70000 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(get.body.len(), 70_000);
    assert_eq!(&get.body[..], &pattern(70_000)[..]);
    assert_eq!(
        upstream.connections(),
        3,
        "one upstream connection per request"
    );
    assert_eq!(proxy.stats().requests, 3);
    assert!(get.header("connection").is_none(), "{get:?}");
}

#[test]
fn a_large_body_streams_both_ways_in_bounded_memory() {
    const SIZE: usize = 256 << 20;
    let upstream = Scripted::start();
    let proxy = FaultProxy::start(upstream.addr);
    let peak_before = peak_memory();
    let started = Instant::now();
    let mut client = Client::connect(proxy.addr());

    let head = format!("PUT /count HTTP/1.1\r\nHost: x\r\nContent-Length: {SIZE}\r\n\r\n");
    client.stream.write_all(head.as_bytes()).expect("send");
    let block = pattern(BLOCK);
    for _ in 0..SIZE / BLOCK {
        client.stream.write_all(&block).expect("send");
    }
    let counted = client.read_response();
    assert_eq!(counted.status, 201);
    assert_eq!(counted.header("x-received"), Some(&*SIZE.to_string()));

    let get = format!("GET /big?size={SIZE} HTTP/1.1\r\nHost: x\r\n\r\n");
    client.stream.write_all(get.as_bytes()).expect("send");
    let (status, headers) = client.read_head();
    assert_eq!(status, 200);
    assert!(headers.contains(&format!("content-length: {SIZE}")));
    let mut buf = vec![0u8; BLOCK];
    for _ in 0..SIZE / BLOCK {
        client.reader.read_exact(&mut buf).expect("receive");
        assert!(buf == block, "the body changed on its way");
    }
    let grown = peak_memory().saturating_sub(peak_before);
    assert!(
        grown < 64 << 20,
        "peak memory grew by {} MiB relaying 2 × 256 MiB",
        grown >> 20
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn an_unreachable_upstream_is_a_502() {
    // A port that was free a moment ago, so nothing listens there.
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("bind")
        .port();
    let proxy = FaultProxy::start(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    let mut client = Client::connect(proxy.addr());
    let answer = client.exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(answer.status, 502);
    assert_eq!(proxy.log()[0].status, Some(502));
}

#[test]
fn a_delay_holds_only_the_matching_requests() {
    let upstream = Scripted::start();
    let proxy = FaultProxy::start(upstream.addr);
    proxy.set_rules(Rules {
        delay: Some(Duration::from_millis(300)),
        only_if: Some(Matcher::target("size=1")),
        ..Rules::default()
    });
    let mut client = Client::connect(proxy.addr());
    let started = Instant::now();
    client.exchange(b"GET /big?size=2 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(started.elapsed() < Duration::from_millis(300));
    let started = Instant::now();
    client.exchange(b"GET /big?size=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[test]
fn dropping_the_proxy_closes_its_port_and_its_connections() {
    let upstream = Scripted::start();
    let proxy = FaultProxy::start(upstream.addr);
    let addr = proxy.addr();
    let mut client = Client::connect(addr);
    client.exchange(b"GET /big?size=10 HTTP/1.1\r\nHost: x\r\n\r\n");
    drop(proxy);
    assert!(TcpStream::connect(addr).is_err());
    let mut rest = Vec::new();
    let read = client.reader.read_to_end(&mut rest);
    assert!(read.is_err() || rest.is_empty(), "{read:?}");
}

#[tokio::test]
async fn the_proxy_runs_inside_an_async_runtime() {
    let upstream = Scripted::start();
    let proxy = FaultProxy::start(upstream.addr);
    let addr = proxy.addr();
    let answer = tokio::task::spawn_blocking(move || {
        Client::connect(addr).exchange(b"GET /big?size=5 HTTP/1.1\r\nHost: x\r\n\r\n")
    })
    .await
    .expect("the request ran");
    assert_eq!(answer.body, pattern(5));
    drop(proxy);
}

/// The block the large-body test sends and expects.
const BLOCK: usize = 64 * 1024;

/// `len` bytes of a repeating pattern, the same for every block of [`BLOCK`].
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % BLOCK % 251) as u8).collect()
}

/// The process's peak resident memory so far (Linux; 0 elsewhere).
fn peak_memory() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// A raw HTTP/1.1 client on one keep-alive connection.
struct Client {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

#[derive(Debug)]
struct Response {
    status: u16,
    /// `name: value`, names in lower case.
    headers: Vec<String>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find_map(|h| h.strip_prefix(name)?.strip_prefix(": "))
    }
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect to the proxy");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let reader = BufReader::new(stream.try_clone().expect("clone"));
        Client { stream, reader }
    }

    fn exchange(&mut self, request: &[u8]) -> Response {
        self.stream.write_all(request).expect("send the request");
        let head_only = request.starts_with(b"HEAD ");
        let (status, headers) = self.read_head();
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
        };
        if head_only {
            return response;
        }
        if let Some(len) = response.header("content-length") {
            let len = len.parse().expect("a length");
            response.body = vec![0; len];
            self.reader.read_exact(&mut response.body).expect("body");
        } else if response.header("transfer-encoding") == Some("chunked") {
            response.body = self.read_chunked();
        }
        response
    }

    fn read_response(&mut self) -> Response {
        let (status, headers) = self.read_head();
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
        };
        let len = response
            .header("content-length")
            .map_or(0, |l| l.parse().expect("a length"));
        response.body = vec![0; len];
        self.reader.read_exact(&mut response.body).expect("body");
        response
    }

    fn read_head(&mut self) -> (u16, Vec<String>) {
        let mut lines = read_head_lines(&mut self.reader);
        assert!(!lines.is_empty(), "the connection closed");
        let status = lines.remove(0);
        let status = status
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status line");
        let headers = lines
            .into_iter()
            .map(|h| {
                let (name, value) = h.split_once(':').expect("a header");
                format!("{}: {}", name.to_ascii_lowercase(), value.trim())
            })
            .collect();
        (status, headers)
    }

    /// The chunked body, decoded.
    fn read_chunked(&mut self) -> Vec<u8> {
        let mut body = Vec::new();
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).expect("chunk size");
            let size = usize::from_str_radix(line.trim().split(';').next().expect("size"), 16)
                .expect("hex");
            if size == 0 {
                read_head_lines(&mut self.reader); // trailers
                return body;
            }
            let start = body.len();
            body.resize(start + size + 2, 0);
            self.reader.read_exact(&mut body[start..]).expect("chunk");
            body.truncate(start + size);
        }
    }
}

/// Lines up to an empty one, ends trimmed.
fn read_head_lines(reader: &mut impl BufRead) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).expect("a line") == 0 {
            return lines;
        }
        let line = line.trim_end();
        if line.is_empty() {
            return lines;
        }
        lines.push(line.to_owned());
    }
}

/// An upstream with scripted answers, one request per connection:
/// - `PUT /count` (Content-Length): checks the body is the pattern, answers 201
///   with `x-received: <bytes>`;
/// - `PUT /raw` (chunked): answers, chunked, the raw chunked body it got;
/// - `GET`/`HEAD /big?size=N`: the pattern, N bytes.
///
/// Every answer says in `x-connection` what `Connection` header it got.
struct Scripted {
    addr: SocketAddr,
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Scripted {
    fn start() -> Scripted {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accepted: std::sync::Arc<std::sync::atomic::AtomicUsize> = std::sync::Arc::default();
        let counter = std::sync::Arc::clone(&accepted);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                std::thread::spawn(move || Scripted::answer(stream));
            }
        });
        Scripted { addr, accepted }
    }

    fn connections(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn answer(mut stream: TcpStream) {
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let lines = read_head_lines(&mut reader);
        let Some(start) = lines.first() else { return };
        let header = |name: &str| {
            lines[1..].iter().find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
        };
        let connection = header("connection").unwrap_or_default();
        let target = start.split(' ').nth(1).expect("a target").to_owned();
        let answer = if start.starts_with("PUT /count") {
            let len: usize = header("content-length")
                .expect("a length")
                .parse()
                .expect("a number");
            let block = pattern(BLOCK);
            let mut buf = vec![0u8; BLOCK];
            let mut left = len;
            while left > 0 {
                let n = left.min(BLOCK);
                reader.read_exact(&mut buf[..n]).expect("body");
                assert!(buf[..n] == block[..n], "the body changed on its way");
                left -= n;
            }
            format!("HTTP/1.1 201 Created\r\nx-received: {len}\r\nx-connection: {connection}\r\nContent-Length: 0\r\n\r\n").into_bytes()
        } else if start.starts_with("PUT /raw") {
            let mut raw = Vec::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).expect("a line");
                raw.extend_from_slice(line.as_bytes());
                if raw.ends_with(b"\r\n0\r\nx-trailer: t\r\n\r\n") || line.is_empty() {
                    break;
                }
            }
            let mut answer = format!(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nx-connection: {connection}\r\n\r\n{:x}\r\n",
                raw.len()
            )
            .into_bytes();
            answer.extend_from_slice(&raw);
            answer.extend_from_slice(b"\r\n0\r\n\r\n");
            answer
        } else {
            let size: usize = target
                .split_once("size=")
                .and_then(|(_, s)| s.parse().ok())
                .expect("a size");
            let mut head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nx-connection: {connection}\r\n\r\n"
            )
            .into_bytes();
            if start.starts_with("GET") {
                stream.write_all(&head).expect("answer");
                let block = pattern(BLOCK);
                let mut left = size;
                while left > 0 {
                    let n = left.min(BLOCK);
                    if stream.write_all(&block[..n]).is_err() {
                        return;
                    }
                    left -= n;
                }
                head.clear();
            }
            head
        };
        let _ = stream.write_all(&answer);
    }
}
