//! Sending one S3 request: signed, sent on the right HTTP client, timed,
//! retried when it fails transiently (503 `SlowDown`, 500, a broken
//! connection… with the shared policy of `remote::retry`), its error answer
//! mapped to an [`Error`] that says what to do (`errors.rs`).

use std::time::{Duration, SystemTime};

use reqwest::{Method, Response, StatusCode};

use super::config::S3Target;
use super::credentials::ProvideCredentials;
use super::errors;
use super::request::Request;
use crate::remote::attempt::Attempt;
use crate::remote::http::{self, Clients, Moving, SMALL_BODY};
use crate::remote::retry::{Failure, RetryPolicy, retrying};
use crate::{Error, Result};

/// An HTTP client for one S3 target.
#[derive(Debug, Clone)]
pub struct Client {
    clients: Clients,
    target: S3Target,
    shown: String,
    retry: RetryPolicy,
}

impl Client {
    /// A client for a target.
    ///
    /// # Errors
    ///
    /// When the HTTP client cannot be built (TLS set-up).
    pub fn new(target: S3Target, retry: RetryPolicy) -> Result<Self> {
        let clients = Clients::new(&target.endpoint, &retry, target.authorities.as_ref())?;
        let shown = target.to_string();
        Ok(Self {
            clients,
            target,
            shown,
            retry,
        })
    }

    /// The target.
    pub fn target(&self) -> &S3Target {
        &self.target
    }

    /// The store as displayed.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The retry policy.
    pub(crate) fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    /// Sends a request, retrying transient failures, and returns a successful
    /// answer or the mapped error of the last attempt. The answer to a request
    /// that is not a transfer comes with its body already read.
    ///
    /// # Errors
    ///
    /// See [`Error`]: not found, denied, service errors, unreachable, gave up.
    pub async fn send(&self, request: &Request<'_>) -> Result<Response> {
        self.send_counted(request).await.0
    }

    /// As [`Client::send`], also telling how many attempts were made.
    pub async fn send_counted(&self, request: &Request<'_>) -> (Result<Response>, u32) {
        retrying(
            &self.retry,
            |left| self.send_once(request, left),
            |error| lost_answer_applied(request, error),
        )
        .await
    }

    /// One attempt, with `left` of the operation's deadline, timed as the
    /// Azure client times its own (`remote::attempt`).
    async fn send_once(
        &self,
        request: &Request<'_>,
        left: Duration,
    ) -> std::result::Result<Response, Failure> {
        // The credentials are had before the request's time starts: they
        // have their own timeouts and retries, and their failure is final.
        let credentials = self
            .target
            .credentials
            .credentials()
            .await
            .map_err(Failure::of)?;
        let attempt = self.attempt(request);
        let exchange = async {
            let moving = Moving::new();
            let built = request
                .build(&self.target, &credentials, &moving, SystemTime::now())
                .map_err(Failure::of)?;
            attempt
                .exchange(built, &moving, |response| {
                    errors::error_from(&self.shown, &self.target, &credentials, request, response)
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

    /// Maps a connection failure, never showing the URL.
    pub fn unreachable(&self, request: &Request<'_>, error: &reqwest::Error) -> Error {
        self.attempt(request).unreachable(error)
    }
}

/// What a retried request that failed as if it had been done already means,
/// when an earlier attempt may have been applied but its answer lost: a put
/// on the condition that nothing is there (`If-None-Match: *`) that finds
/// something there was done.
fn lost_answer_applied(request: &Request<'_>, error: &Error) -> Option<Response> {
    let creates = request.method == Method::PUT
        && request
            .headers
            .iter()
            .any(|(name, value)| name == "if-none-match" && value == "*");
    match error {
        Error::Service { status: 412, .. } if creates => Some(http::empty_answer(StatusCode::OK)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::ContainerName;

    /// A server on loopback that answers each request with the next of
    /// `answers` (the last one again when they run out; `None` closes the
    /// connection without a word), and keeps the request lines and headers.
    fn scripted(
        answers: Vec<Option<(&'static str, &'static str)>>,
    ) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            let mut next = 0;
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut writer = stream;
                'connection: loop {
                    let mut head = String::new();
                    let mut len = 0usize;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            break 'connection;
                        }
                        if line.trim().is_empty() {
                            break;
                        }
                        if let Some((name, value)) = line.split_once(':')
                            && name.eq_ignore_ascii_case("content-length")
                        {
                            len = value.trim().parse().expect("length");
                        }
                        head.push_str(&line);
                    }
                    let mut body = vec![0; len];
                    reader.read_exact(&mut body).expect("body");
                    log.lock().expect("log").push(head);
                    let answer = answers[next.min(answers.len() - 1)];
                    next += 1;
                    let Some((status, body)) = answer else { break };
                    let answer = format!(
                        "HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if writer.write_all(answer.as_bytes()).is_err() {
                        break;
                    }
                }
            }
        });
        (endpoint, seen)
    }

    fn client(endpoint: &str, secret: &str) -> Client {
        let env = |name: &str| match name {
            "AWS_ENDPOINT_URL" => Some(endpoint.to_owned()),
            "AWS_ACCESS_KEY_ID" => Some("AKIDEXAMPLE".to_owned()),
            "AWS_SECRET_ACCESS_KEY" => Some(secret.to_owned()),
            "AWS_SESSION_TOKEN" => Some("SESSIONTOKEN".to_owned()),
            _ => None,
        };
        let target = super::super::config::from_url("s3://bucket/pre", &env).expect("valid");
        let retry = RetryPolicy {
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            ..RetryPolicy::default()
        };
        Client::new(target, retry).expect("client")
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    const SLOW_DOWN: (&str, &str) = (
        "503 Slow Down",
        "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
    );
    const OK: (&str, &str) = ("200 OK", "");

    #[test]
    fn slow_down_is_retried_with_backoff_and_requests_are_signed() {
        let (endpoint, seen) = scripted(vec![Some(SLOW_DOWN), None, Some(SLOW_DOWN), Some(OK)]);
        let client = client(&endpoint, "VERYSECRET");
        let container = ContainerName::parse("job-x").expect("valid");
        let request = Request::object("read", Method::GET, "pre/", &container, "a").about("a");
        let (result, attempts) = runtime().block_on(client.send_counted(&request));
        assert!(result.is_ok(), "{:?}", result.err());
        assert_eq!(attempts, 4);
        let seen = seen.lock().expect("log");
        assert_eq!(seen.len(), 4);
        let first = seen[0].to_ascii_lowercase();
        assert!(
            first.starts_with("get /bucket/pre/job-x/a http/1.1"),
            "{first}"
        );
        assert!(
            first.contains("authorization: aws4-hmac-sha256 credential=akidexample/"),
            "{first}"
        );
        assert!(
            first.contains("x-amz-security-token: sessiontoken"),
            "{first}"
        );
        assert!(!first.contains("verysecret"), "{first}");
    }

    #[test]
    fn a_wrong_secret_is_refused_at_once_with_what_to_do() {
        const REFUSED: (&str, &str) = (
            "403 Forbidden",
            "<Error><Code>SignatureDoesNotMatch</Code><Message>No.</Message></Error>",
        );
        let (endpoint, seen) = scripted(vec![Some(REFUSED)]);
        let client = client(&endpoint, "VERYSECRET");
        let container = ContainerName::parse("job-x").expect("valid");
        let request =
            Request::bucket("list", Method::GET, Some(&container)).query("list-type", "2");
        let (result, attempts) = runtime().block_on(client.send_counted(&request));
        let err = result.expect_err("refused");
        assert_eq!((attempts, seen.lock().expect("log").len()), (1, 1));
        assert!(matches!(err, Error::Denied { .. }), "{err:?}");
        let text = format!("{err} {err:?}");
        assert!(text.contains("AWS_SECRET_ACCESS_KEY"), "{text}");
        assert!(
            !text.contains("VERYSECRET") && !text.contains("SESSIONTOKEN"),
            "{text}"
        );
    }
}
