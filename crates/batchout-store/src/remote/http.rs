//! The HTTP side of a remote store, whatever its API: the clients, request
//! bodies that mark their progress, the watch that cuts a transfer only when
//! it stops moving, answers read whole, and connection errors told without
//! their URL (which may hold a secret).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use reqwest::{Body, Response};
use url::Url;

use super::retry::RetryPolicy;
use crate::{Error, Result};

/// Bodies up to this size are sent by "small" requests, bounded by
/// [`RetryPolicy::request_timeout`]; larger ones are transfers, bounded by
/// [`RetryPolicy::idle_timeout`] only, since their total time grows with their size.
pub(crate) const SMALL_BODY: u64 = 1024 * 1024;

/// The two HTTP clients of one store, sharing one TLS set-up.
#[derive(Debug, Clone)]
pub(crate) struct Clients {
    /// For downloads: its read timeout, the idle timeout, applies to each read
    /// of the answer (and to the wait for its head).
    pub(crate) downloads: reqwest::Client,
    /// For the rest, with no read timeout: reqwest's would also bound the time
    /// to send a body. Large uploads are watched for progress instead, and the
    /// other requests bounded by the request timeout.
    pub(crate) plain: reqwest::Client,
}

impl Clients {
    /// The clients for `endpoint`, timed by `retry`, trusting `authorities`
    /// besides the system's.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidStoreUrl`] when TLS cannot be set up or a client
    /// cannot be built.
    pub(crate) fn new(
        endpoint: &Url,
        retry: &RetryPolicy,
        authorities: Option<&super::tls::Authorities>,
    ) -> Result<Self> {
        // One TLS set-up for both clients: the system's authorities are read
        // once (see tls.rs).
        let tls = super::tls::client_config(endpoint, authorities)?;
        let build = |read_timeout: Option<Duration>| {
            let mut builder = reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10).min(retry.request_timeout))
                .pool_idle_timeout(Duration::from_secs(50))
                .tls_backend_preconfigured(tls.clone());
            if let Some(timeout) = read_timeout {
                builder = builder.read_timeout(timeout);
            }
            builder.build().map_err(|e| Error::InvalidStoreUrl {
                url: endpoint.to_string(),
                reason: format!("cannot build an HTTP client: {}", causes(&e)),
            })
        };
        Ok(Self {
            downloads: build(Some(retry.idle_timeout))?,
            plain: build(None)?,
        })
    }
}

/// When a transfer last moved, shared by its body and the watch over it.
#[derive(Debug, Clone)]
pub(crate) struct Moving {
    start: Instant,
    /// Milliseconds from `start` to the last chunk handed to the connection.
    last: Arc<AtomicU64>,
}

impl Moving {
    pub(crate) fn new() -> Self {
        Self {
            start: Instant::now(),
            last: Arc::new(AtomicU64::new(0)),
        }
    }

    fn touch(&self) {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(now, Ordering::Relaxed);
    }

    fn idle(&self) -> Duration {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

/// What a request sends as its body; rebuilt for each attempt.
#[derive(Debug, Clone)]
pub(crate) enum Payload {
    /// No body.
    Empty,
    /// Bytes in memory.
    Bytes(Bytes),
}

impl Payload {
    pub(crate) fn len(&self) -> u64 {
        match self {
            Self::Empty => 0,
            Self::Bytes(bytes) => bytes.len() as u64,
        }
    }

    /// The body for one attempt; each chunk handed to the connection marks
    /// `moving`.
    pub(crate) fn body(&self, moving: &Moving) -> Body {
        const CHUNK: usize = 256 * 1024;
        let marked = {
            let moving = moving.clone();
            move |chunk: std::io::Result<Bytes>| {
                moving.touch();
                chunk
            }
        };
        match self {
            Self::Empty => Body::from(Bytes::new()),
            Self::Bytes(bytes) if bytes.len() <= CHUNK => Body::from(bytes.clone()),
            Self::Bytes(bytes) => {
                let chunks: Vec<std::io::Result<Bytes>> = (0..bytes.len())
                    .step_by(CHUNK)
                    .map(|at| Ok(bytes.slice(at..bytes.len().min(at + CHUNK))))
                    .collect();
                Body::wrap_stream(futures::stream::iter(chunks).map(marked))
            }
        }
    }
}

/// Runs `future` while it makes progress: `None` once `moving` has not moved
/// for `idle`.
pub(crate) async fn watch<F: std::future::Future>(
    future: F,
    moving: &Moving,
    idle: Duration,
) -> Option<F::Output> {
    moving.touch();
    tokio::pin!(future);
    loop {
        let wait = idle.saturating_sub(moving.idle());
        if wait.is_zero() {
            return None;
        }
        tokio::select! {
            output = &mut future => return Some(output),
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// A successful answer with its body read in full, rebuilt so it reads as
/// the original did.
///
/// # Errors
///
/// The body's read error, as reqwest gives it.
pub(crate) async fn read_whole(response: Response) -> reqwest::Result<Response> {
    let status = response.status();
    let version = response.version();
    let headers = response.headers().clone();
    let body = response.bytes().await?;
    let mut rebuilt = http::Response::new(body);
    *rebuilt.status_mut() = status;
    *rebuilt.version_mut() = version;
    *rebuilt.headers_mut() = headers;
    Ok(Response::from(rebuilt))
}

/// An answer of `status` with no body, standing in for one that was lost.
pub(crate) fn empty_answer(status: reqwest::StatusCode) -> Response {
    let mut answer = http::Response::new(Bytes::new());
    *answer.status_mut() = status;
    Response::from(answer)
}

/// A client-building error (which names no URL) and its chain of causes.
fn causes(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A connection error's chain of causes, without any URL.
pub(crate) fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "could not connect".to_owned()
    } else if error.is_body() || error.is_decode() {
        "the connection broke during the transfer".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let shown = cause.to_string();
        if !shown.contains("://") && !text.ends_with(&shown) {
            text.push_str(": ");
            text.push_str(&shown);
        }
        source = cause.source();
    }
    text
}

/// What came of sending one request.
pub(crate) enum Sent {
    /// The service answered (with any status).
    Answered(reqwest::Response),
    /// No answer: the connection failed.
    Failed(reqwest::Error),
    /// A large upload stopped moving for `idle`: the request was given up.
    Stalled(Duration),
}

/// Sends `built` on the client that suits it: a large upload (over
/// [`SMALL_BODY`]) on the plain client, watched so that one that stops
/// moving for `idle` is given up; a transfer on the download client;
/// anything else on the plain client. Every remote backend sends this way.
pub(crate) async fn send(
    clients: &Clients,
    built: reqwest::Request,
    moving: &Moving,
    large_upload: bool,
    transfer: bool,
    idle: Duration,
) -> Sent {
    let sent = if large_upload {
        match watch(clients.plain.execute(built), moving, idle).await {
            Some(sent) => sent,
            None => return Sent::Stalled(idle),
        }
    } else if transfer {
        clients.downloads.execute(built).await
    } else {
        clients.plain.execute(built).await
    };
    match sent {
        Ok(response) => Sent::Answered(response),
        Err(error) => Sent::Failed(error),
    }
}

/// How long an answer asks to be waited for before a retry
/// (`Retry-After`), at most `max`.
pub(crate) fn retry_after(response: &reqwest::Response, max: Duration) -> Option<Duration> {
    response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(super::retry::parse_retry_after)
        .map(|wait| wait.min(max))
}
