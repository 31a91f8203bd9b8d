//! Sending one Blob REST request: signed, sent on the right HTTP client,
//! timed, retried when it fails transiently (with the shared policy of
//! `remote::retry`), its error answer mapped to an [`Error`] that says what
//! to do (`errors.rs`).

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, Response, StatusCode};

use super::config::{AzureTarget, Credential};
use super::errors;
use super::identity::{AccessToken, CachedCredential, STORAGE_SCOPE, TokenCredential};
use super::request::Request;
use crate::remote::attempt::Attempt;
use crate::remote::http::{self, Clients, Moving, SMALL_BODY};
use crate::remote::retry::{Failure, RetryPolicy, retrying};
use crate::{Error, Result};

/// An HTTP client for one Azure target.
#[derive(Debug, Clone)]
pub struct Client {
    clients: Clients,
    target: AzureTarget,
    shown: String,
    retry: RetryPolicy,
    /// The Entra ID token, kept and refreshed, of a token credential.
    tokens: Option<Arc<CachedCredential>>,
}

impl Client {
    /// A client for a target.
    ///
    /// # Errors
    ///
    /// When the HTTP client cannot be built (TLS set-up).
    pub fn new(target: AzureTarget, retry: RetryPolicy) -> Result<Self> {
        let clients = Clients::new(&target.endpoint, &retry, None)?;
        let shown = target.to_string();
        let tokens = match &target.credential {
            Credential::Token(source) => Some(Arc::new(CachedCredential::new(Arc::clone(source)))),
            _ => None,
        };
        Ok(Self {
            clients,
            target,
            shown,
            retry,
            tokens,
        })
    }

    /// The Entra ID token to send, for a token credential: the one kept, or
    /// a new one when it is due for a refresh.
    ///
    /// # Errors
    ///
    /// [`Error::Credential`] when no token can be had.
    pub(crate) async fn bearer(&self) -> Result<Option<AccessToken>> {
        match &self.tokens {
            Some(tokens) => tokens.token(STORAGE_SCOPE).await.map(Some),
            None => Ok(None),
        }
    }

    /// The target.
    pub fn target(&self) -> &AzureTarget {
        &self.target
    }

    /// The store as displayed, secrets redacted.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The retry policy.
    pub(crate) fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    /// Sends a request, retrying transient failures, and returns a successful
    /// answer or the mapped error of the last attempt. The answer to a request
    /// that is not a transfer comes with its body already read (and a body cut
    /// short is retried like any broken connection).
    ///
    /// # Errors
    ///
    /// See [`Error`]: not found, denied, service errors, unreachable, gave up.
    pub async fn send(&self, request: &Request<'_>) -> Result<Response> {
        self.send_counted(request).await.0
    }

    /// As [`Client::send`], also telling how many attempts were made: a
    /// conditional request that failed its condition on a retry may have been
    /// applied by an earlier attempt whose answer was lost.
    pub async fn send_counted(&self, request: &Request<'_>) -> (Result<Response>, u32) {
        retrying(
            &self.retry,
            |left| self.send_once(request, left),
            |error| lost_answer_applied(request, error),
        )
        .await
    }

    /// One attempt, with `left` of the operation's deadline
    /// (`remote::attempt` times it: a request that is not a transfer is
    /// bounded by the request timeout and has its answer's body read; a
    /// large upload is bounded by its idle time).
    async fn send_once(
        &self,
        request: &Request<'_>,
        left: Duration,
    ) -> std::result::Result<Response, Failure> {
        // The token is had before the request's time starts: it has its own
        // timeouts and retries, and its failure is final.
        let bearer = self.bearer().await.map_err(Failure::of)?;
        let attempt = self.attempt(request);
        let exchange = async {
            let moving = Moving::new();
            let built = request
                .build(&self.target, &moving, bearer.as_ref().map(|t| &t.secret))
                .map_err(Failure::of)?;
            attempt
                .exchange(built, &moving, |response| {
                    errors::error_from(&self.shown, &self.target.credential, request, response)
                })
                .await
        };
        attempt.timed(left, exchange).await
    }

    /// What an attempt of `request` needs to know.
    fn attempt<'a>(&'a self, request: &'a Request<'_>) -> Attempt<'a> {
        Attempt {
            clients: &self.clients,
            retry: &self.retry,
            store: &self.shown,
            operation: request.operation,
            target: request.target(),
            method: &request.method,
            transfer: request.is_transfer(),
            large_upload: request.payload.len() > SMALL_BODY,
        }
    }

    /// Maps a connection failure, never showing the URL (it may hold a SAS).
    pub fn unreachable(&self, request: &Request<'_>, error: &reqwest::Error) -> Error {
        self.attempt(request).unreachable(error)
    }
}

/// What a retried request that failed as if it had been done already means,
/// when an earlier attempt may have been applied but its answer lost: a delete
/// that finds nothing to delete, or a container creation that finds it there,
/// was done. The answer stands in for the lost one.
fn lost_answer_applied(request: &Request<'_>, error: &Error) -> Option<Response> {
    let creates_container = request.method == Method::PUT
        && request.blob.is_none()
        && request
            .query
            .iter()
            .any(|(k, v)| *k == "restype" && v == "container");
    let done = match error {
        Error::NotFound { .. } | Error::ContainerNotFound { .. } => {
            request.method == Method::DELETE
        }
        Error::Service {
            status: 409, code, ..
        } => creates_container && code == "ContainerAlreadyExists",
        _ => false,
    };
    if !done {
        return None;
    }
    let status = if request.method == Method::DELETE {
        StatusCode::ACCEPTED
    } else {
        StatusCode::CREATED
    };
    Some(http::empty_answer(status))
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::Mutex;

    use std::sync::Arc;

    use std::time::Instant;

    use bytes::Bytes;

    use super::*;
    use crate::ContainerName;
    use crate::remote::http::Payload;

    /// What the scripted server does with one request.
    #[derive(Clone)]
    enum Step {
        /// Answers with this status, extra headers and body.
        Answer(u16, &'static str, &'static str),
        /// Reads the request, then closes the connection without a word.
        Drop,
        /// Reads the request and says nothing for this long.
        Hang(Duration),
        /// Reads the request's head, but not its body, for this long.
        Stall(Duration),
    }

    /// A server on loopback that plays `steps` in order, one per request (the
    /// last one again when they run out), and counts the requests.
    struct Scripted {
        endpoint: String,
        seen: Arc<Mutex<Vec<String>>>,
    }

    impl Scripted {
        fn start(steps: Vec<Step>) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            let endpoint = format!(
                "http://{}/devstoreaccount1",
                listener.local_addr().expect("addr")
            );
            let seen = Arc::new(Mutex::new(Vec::new()));
            let log = Arc::clone(&seen);
            std::thread::spawn(move || {
                let mut next = 0;
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { return };
                    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                    let mut writer = stream;
                    // Serve this connection's requests until it closes.
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            break;
                        }
                        let mut len = 0usize;
                        loop {
                            let mut header = String::new();
                            reader.read_line(&mut header).expect("header");
                            if header.trim().is_empty() {
                                break;
                            }
                            if let Some((name, value)) = header.split_once(':')
                                && name.eq_ignore_ascii_case("content-length")
                            {
                                len = value.trim().parse().expect("length");
                            }
                        }
                        let step = steps[next.min(steps.len() - 1)].clone();
                        next += 1;
                        if let Step::Stall(wait) = step {
                            log.lock().expect("log").push(line.trim().to_owned());
                            std::thread::sleep(wait);
                            break;
                        }
                        let mut body = vec![0; len];
                        reader.read_exact(&mut body).expect("body");
                        log.lock().expect("log").push(line.trim().to_owned());
                        match step {
                            Step::Answer(status, headers, body) => {
                                let answer = format!(
                                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\n{headers}\r\n{body}",
                                    body.len()
                                );
                                if writer.write_all(answer.as_bytes()).is_err() {
                                    break;
                                }
                            }
                            Step::Drop | Step::Stall(_) => break,
                            Step::Hang(wait) => {
                                std::thread::sleep(wait);
                                break;
                            }
                        }
                    }
                }
            });
            Self { endpoint, seen }
        }

        fn requests(&self) -> usize {
            self.seen.lock().expect("log").len()
        }
    }

    fn client(server: &Scripted, retry: RetryPolicy) -> Client {
        let no_env = |_: &str| None;
        let target = super::super::config::from_url(&server.endpoint, &no_env).expect("url");
        Client::new(target, retry).expect("client")
    }

    fn quick() -> RetryPolicy {
        RetryPolicy {
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            ..RetryPolicy::default()
        }
    }

    fn container() -> ContainerName {
        ContainerName::parse("job-x").expect("valid")
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    const BUSY: Step = Step::Answer(503, "Retry-After: 0\r\nx-ms-error-code: ServerBusy\r\n", "");
    const OK: Step = Step::Answer(200, "", "fine");

    #[test]
    fn transient_failures_are_retried_and_retry_after_is_honoured() {
        let server = Scripted::start(vec![BUSY, Step::Drop, BUSY, OK]);
        let client = client(&server, quick());
        let container = container();
        let request = Request::new("read", Method::HEAD, &container, Some("a"));
        let (result, attempts) = runtime().block_on(client.send_counted(&request));
        assert!(result.is_ok(), "{:?}", result.err());
        assert_eq!((attempts, server.requests()), (4, 4));
    }

    #[test]
    fn permanent_failures_fail_at_once_with_the_code_and_what_to_do() {
        let server = Scripted::start(vec![Step::Answer(
            409,
            "x-ms-error-code: LeaseIdMissing\r\n",
            "",
        )]);
        let client = client(&server, quick());
        let container = container();
        let request = Request::new("write", Method::PUT, &container, Some("a"));
        let (result, attempts) = runtime().block_on(client.send_counted(&request));
        let err = result.expect_err("409").to_string();
        assert_eq!(attempts, 1, "not retried");
        assert!(err.contains("HTTP 409 LeaseIdMissing"), "{err}");
        assert!(err.contains("break the lease"), "{err}");

        let server = Scripted::start(vec![Step::Answer(
            400,
            "x-ms-error-code: InvalidHeaderValue\r\n",
            "",
        )]);
        let (result, attempts) = runtime().block_on(client_for(&server).send_counted(&request));
        assert_eq!(attempts, 1);
        assert!(
            result.expect_err("400").to_string().contains("malformed"),
            "a hint"
        );
    }

    fn client_for(server: &Scripted) -> Client {
        client(server, quick())
    }

    #[test]
    fn attempts_run_out_and_the_error_says_how_to_allow_more() {
        let server = Scripted::start(vec![BUSY]);
        let client = client(
            &server,
            RetryPolicy {
                attempts: 3,
                ..quick()
            },
        );
        let container = container();
        let request = Request::new("read", Method::HEAD, &container, Some("a"));
        let (result, attempts) = runtime().block_on(client.send_counted(&request));
        let err = result.expect_err("always busy").to_string();
        assert_eq!((attempts, server.requests()), (3, 3));
        assert!(err.contains("gave up after 3 attempts"), "{err}");
        assert!(err.contains("BATCHOUT_RETRIES"), "{err}");
    }

    #[test]
    fn a_silent_server_times_out_and_the_deadline_stops_the_retries() {
        let server = Scripted::start(vec![Step::Hang(Duration::from_secs(5))]);
        let client = client(
            &server,
            RetryPolicy {
                attempts: 100,
                request_timeout: Duration::from_millis(200),
                deadline: Duration::from_millis(700),
                ..quick()
            },
        );
        let container = container();
        let request = Request::new("list", Method::GET, &container, None);
        let started = Instant::now();
        let (result, attempts) = runtime().block_on(client.send_counted(&request));
        let err = result.expect_err("silent").to_string();
        assert!(started.elapsed() < Duration::from_secs(2), "{err}");
        assert!((2..=5).contains(&attempts), "{attempts} attempts: {err}");
        assert!(err.contains("timed out"), "{err}");
        assert!(err.contains("BATCHOUT_DEADLINE"), "{err}");
    }

    #[test]
    fn a_stalled_upload_is_cut_by_the_idle_timeout_not_by_its_size() {
        let server = Scripted::start(vec![Step::Stall(Duration::from_secs(5))]);
        let client = client(
            &server,
            RetryPolicy {
                attempts: 1,
                idle_timeout: Duration::from_millis(300),
                ..quick()
            },
        );
        let container = container();
        // More than the loopback's buffers hold, so the upload must stall.
        let body = Bytes::from(vec![7u8; 64 << 20]);
        let request = Request::new("write", Method::PUT, &container, Some("big"))
            .payload(Payload::Bytes(body));
        assert!(request.is_transfer());
        let started = Instant::now();
        let (result, _) = runtime().block_on(client.send_counted(&request));
        let err = result.expect_err("stalled").to_string();
        assert!(err.contains("the upload stalled"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(3), "{err}");
    }

    #[test]
    fn a_retried_delete_that_finds_nothing_was_done() {
        let gone = Step::Answer(404, "x-ms-error-code: BlobNotFound\r\n", "");
        let server = Scripted::start(vec![Step::Drop, gone.clone()]);
        let client = client_for(&server);
        let container = container();
        let delete = Request::new("delete", Method::DELETE, &container, Some("a"));
        let (result, attempts) = runtime().block_on(client.send_counted(&delete));
        assert_eq!(attempts, 2);
        assert!(result.is_ok(), "the lost answer's delete was applied");

        // A first attempt that finds nothing is still "not found".
        let server = Scripted::start(vec![gone]);
        let (result, _) = runtime().block_on(client_for(&server).send_counted(&delete));
        assert!(result.expect_err("404").is_not_found());
    }

    #[test]
    fn a_retried_container_creation_that_finds_it_there_created_it() {
        let exists = Step::Answer(409, "x-ms-error-code: ContainerAlreadyExists\r\n", "");
        let server = Scripted::start(vec![Step::Drop, exists]);
        let container = container();
        let create =
            Request::new("create", Method::PUT, &container, None).query("restype", "container");
        let (result, attempts) = runtime().block_on(client_for(&server).send_counted(&create));
        assert_eq!(attempts, 2);
        assert_eq!(result.expect("created").status(), StatusCode::CREATED);
    }
}
