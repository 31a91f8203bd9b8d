//! Sending one Blob REST request: URL, headers, signature, retries of transient
//! failures, and the mapping of error answers to [`Error`]s that say what to do.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures::StreamExt;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Body, Method, Response, StatusCode};
use url::Url;

use super::SERVICE_VERSION;
use super::config::{AzureTarget, Credential};
use super::xml;
use crate::{ContainerName, Error, Result};

/// Characters kept as they are in a blob path: unreserved ones and `/`.
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');
/// Characters kept as they are in a query value.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Bodies up to this size are sent by "small" requests, bounded by
/// [`RetryPolicy::request_timeout`]; larger ones are transfers, bounded by
/// [`RetryPolicy::idle_timeout`] only, since their total time grows with their size.
pub const SMALL_BODY: u64 = 1024 * 1024;

/// How requests are retried and timed.
///
/// A request fails *transiently* on 408, 429, 500, 502, 503 and 504, on a
/// connection refused, reset or cut mid-body, and on a timeout
/// ([`Error::is_retryable`]); it is then tried again after a wait that doubles
/// from [`base_delay`](Self::base_delay) with jitter, or after the service's
/// `Retry-After`, until [`attempts`](Self::attempts) are used up or the
/// operation's [`deadline`](Self::deadline) would pass. Any other failure (400,
/// 403, 404, 409, a failed condition) is returned at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub attempts: u32,
    /// The wait before the first retry; it doubles each time, with jitter.
    pub base_delay: Duration,
    /// The longest wait between two attempts, `Retry-After` aside.
    pub max_delay: Duration,
    /// The longest `Retry-After` honoured; a longer one is cut to this.
    pub max_retry_after: Duration,
    /// How long one request that is not a transfer (metadata, listings, creating,
    /// deleting, bodies up to 1 MiB) may take in all, its answer's body
    /// included.
    pub request_timeout: Duration,
    /// How long a transfer (an upload of more than 1 MiB, or a download)
    /// may go without moving a byte. A transfer that moves is never cut.
    pub idle_timeout: Duration,
    /// How long one operation may take across all its attempts and waits: no
    /// attempt starts once it has passed, no wait runs past it, and a request
    /// that is not a transfer waits no longer than what is left of it.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            deadline: Duration::from_secs(300),
        }
    }
}

/// When a transfer last moved, shared by its body and the watch over it.
#[derive(Debug, Clone)]
struct Progress {
    start: Instant,
    /// Milliseconds from `start` to the last chunk handed to the connection.
    last: Arc<AtomicU64>,
}

impl Progress {
    fn new() -> Self {
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
pub enum Payload {
    /// No body.
    Empty,
    /// Bytes in memory.
    Bytes(Bytes),
}

impl Payload {
    fn len(&self) -> u64 {
        match self {
            Self::Empty => 0,
            Self::Bytes(bytes) => bytes.len() as u64,
        }
    }

    /// The body for one attempt; each chunk handed to the connection marks
    /// `progress`.
    fn body(&self, progress: &Progress) -> Body {
        const CHUNK: usize = 256 * 1024;
        let marked = {
            let progress = progress.clone();
            move |chunk: std::io::Result<Bytes>| {
                progress.touch();
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

/// One request, described; [`Client::send`] turns it into HTTP.
pub struct Request<'a> {
    /// What is being done, for messages ("write", "read", …).
    pub operation: &'static str,
    /// The HTTP method.
    pub method: Method,
    /// The container; `None` for a request to the account (listing its
    /// containers).
    pub container: Option<&'a ContainerName>,
    /// The blob, for blob operations.
    pub blob: Option<&'a str>,
    /// Query parameters (not encoded).
    pub query: Vec<(&'static str, String)>,
    /// Extra headers.
    pub headers: Vec<(Cow<'static, str>, String)>,
    /// The body.
    pub payload: Payload,
}

impl<'a> Request<'a> {
    /// A request without query, headers or body.
    pub fn new(
        operation: &'static str,
        method: Method,
        container: &'a ContainerName,
        blob: Option<&'a str>,
    ) -> Self {
        Self {
            operation,
            method,
            container: Some(container),
            blob,
            query: Vec::new(),
            headers: Vec::new(),
            payload: Payload::Empty,
        }
    }

    /// A request to the account itself, not to a container.
    pub fn account(operation: &'static str, method: Method) -> Self {
        Self {
            operation,
            method,
            container: None,
            blob: None,
            query: Vec::new(),
            headers: Vec::new(),
            payload: Payload::Empty,
        }
    }

    /// The container, as shown in messages (empty for the account).
    fn container_name(&self) -> String {
        self.container.map(ToString::to_string).unwrap_or_default()
    }

    /// Adds a query parameter.
    pub fn query(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.query.push((name, value.into()));
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((Cow::Borrowed(name), value.into()));
        self
    }

    /// Adds a header whose name is made at run time (`x-ms-meta-…`).
    pub fn owned_header(mut self, name: String, value: impl Into<String>) -> Self {
        self.headers.push((Cow::Owned(name), value.into()));
        self
    }

    /// Adds the header carrying a checksum of the body: `(name, value)`, as
    /// [`crate::RequestChecksum`] computes it.
    pub fn checksum_header(self, (name, value): (&'static str, String)) -> Self {
        self.header(name, value)
    }

    /// Sets the body.
    pub fn payload(mut self, payload: Payload) -> Self {
        self.payload = payload;
        self
    }

    /// Whether this request moves a body whose time grows with its size: an
    /// upload of more than [`SMALL_BODY`], or a blob's content.
    fn is_transfer(&self) -> bool {
        self.payload.len() > SMALL_BODY || (self.method == Method::GET && self.blob.is_some())
    }

    /// What the request is about, for messages: a blob, a container, or the
    /// account's containers.
    pub fn target(&self) -> String {
        match (self.container, self.blob) {
            (Some(container), Some(blob)) => format!("{container}/{blob}"),
            (Some(container), None) => format!("container {container}"),
            (None, _) => "the account's containers".to_owned(),
        }
    }
}

/// An HTTP client for one Azure target.
#[derive(Debug, Clone)]
pub struct Client {
    /// For downloads: its read timeout, the idle timeout, applies to each read
    /// of the answer (and to the wait for its head).
    downloads: reqwest::Client,
    /// For the rest, with no read timeout: reqwest's would also bound the time
    /// to send a body. Large uploads are watched for progress instead, and the
    /// other requests bounded by the request timeout.
    plain: reqwest::Client,
    target: AzureTarget,
    shown: String,
    retry: RetryPolicy,
}

/// How one attempt failed: the error, the service's `Retry-After`, and whether
/// the request may have been applied although its answer was lost.
struct Failure {
    error: Error,
    retry_after: Option<Duration>,
    maybe_applied: bool,
}

impl Failure {
    fn of(error: Error) -> Self {
        Self {
            error,
            retry_after: None,
            maybe_applied: false,
        }
    }
}

impl Client {
    /// A client for a target.
    ///
    /// # Errors
    ///
    /// When the HTTP client cannot be built (TLS set-up).
    pub fn new(target: AzureTarget, retry: RetryPolicy) -> Result<Self> {
        // One TLS set-up for both clients: the system's authorities are read
        // once (see tls.rs).
        let tls = super::tls::client_config(&target.endpoint)?;
        let build = |read_timeout: Option<Duration>| {
            let mut builder = reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10).min(retry.request_timeout))
                .pool_idle_timeout(Duration::from_secs(50))
                .tls_backend_preconfigured(tls.clone());
            if let Some(timeout) = read_timeout {
                builder = builder.read_timeout(timeout);
            }
            builder.build().map_err(|e| Error::InvalidStoreUrl {
                url: target.endpoint.to_string(),
                reason: format!("cannot build an HTTP client: {}", causes(&e)),
            })
        };
        let downloads = build(Some(retry.idle_timeout))?;
        let plain = build(None)?;
        let shown = target.to_string();
        Ok(Self {
            downloads,
            plain,
            target,
            shown,
            retry,
        })
    }

    /// The target.
    pub fn target(&self) -> &AzureTarget {
        &self.target
    }

    /// The store as displayed, secrets redacted.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Sends a request, retrying transient failures, and returns a successful
    /// answer or the mapped error of the last attempt. The answer to a request
    /// that is not a transfer comes with its body already read (and a body cut
    /// short is retried like any broken connection).
    ///
    /// # Errors
    ///
    /// See [`Error`]: not found, denied, service errors, unreachable.
    pub async fn send(&self, request: &Request<'_>) -> Result<Response> {
        self.send_counted(request).await.0
    }

    /// As [`Client::send`], also telling how many attempts were made: a
    /// conditional request that failed its condition on a retry may have been
    /// applied by an earlier attempt whose answer was lost.
    pub async fn send_counted(&self, request: &Request<'_>) -> (Result<Response>, u32) {
        let started = Instant::now();
        let mut attempt = 0;
        let mut maybe_applied = false;
        loop {
            attempt += 1;
            let left = self.retry.deadline.saturating_sub(started.elapsed());
            let failure = match self.send_once(request, left).await {
                Ok(response) => return (Ok(response), attempt),
                Err(failure) => failure,
            };
            if maybe_applied && let Some(done) = lost_answer_applied(request, &failure.error) {
                tracing::info!(
                    method = %request.method,
                    target = %request.target(),
                    "a request whose answer was lost had been applied"
                );
                return (Ok(done), attempt);
            }
            maybe_applied |= failure.maybe_applied;
            let error = failure.error;
            if !error.is_retryable() {
                return (Err(error), attempt);
            }
            if attempt >= self.retry.attempts {
                let why = format!(
                    "gave up after {attempt} attempts in {}; allow more with --retries or BATCHOUT_RETRIES",
                    shown_duration(started.elapsed())
                );
                return (Err(gave_up(error, &why)), attempt);
            }
            let delay = failure.retry_after.unwrap_or_else(|| self.backoff(attempt));
            if started.elapsed() + delay >= self.retry.deadline {
                let why = format!(
                    "gave up after {attempt} attempts in {}: the operation's deadline of {} would pass; allow more with --deadline or BATCHOUT_DEADLINE",
                    shown_duration(started.elapsed()),
                    shown_duration(self.retry.deadline)
                );
                return (Err(gave_up(error, &why)), attempt);
            }
            tracing::debug!(%error, attempt, ?delay, "retrying");
            tokio::time::sleep(delay).await;
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exponential = self
            .retry
            .base_delay
            .saturating_mul(1 << (attempt - 1).min(16));
        let capped = exponential.min(self.retry.max_delay);
        // Full jitter, from the clock's nanoseconds: good enough to spread
        // retries of many tasks, without a random number generator.
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        capped.mul_f64(0.5 + f64::from(nanos % 1000) / 2000.0)
    }

    /// One attempt, with `left` of the operation's deadline: a request that is
    /// not a transfer is bounded by the request timeout (or what is left, if
    /// less) and has its answer's body read; a large upload is bounded by its
    /// idle time.
    async fn send_once(
        &self,
        request: &Request<'_>,
        left: Duration,
    ) -> std::result::Result<Response, Failure> {
        if request.is_transfer() {
            return self.exchange(request).await;
        }
        let limit = self.retry.request_timeout.min(left);
        let attempt = async {
            let response = self.exchange(request).await?;
            self.read_whole(request, response).await
        };
        match tokio::time::timeout(limit, attempt).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Failure {
                error: self.timed_out(
                    request,
                    format!(
                        "timed out: no complete answer within {} (--timeout or BATCHOUT_TIMEOUT)",
                        shown_duration(limit)
                    ),
                ),
                retry_after: None,
                maybe_applied: true,
            }),
        }
    }

    /// Sends the request and waits for the answer's head.
    async fn exchange(&self, request: &Request<'_>) -> std::result::Result<Response, Failure> {
        let progress = Progress::new();
        let built = self.build(request, &progress).await.map_err(Failure::of)?;
        let started = Instant::now();
        let large_upload = request.payload.len() > SMALL_BODY;
        let sent = if large_upload {
            let idle = self.retry.idle_timeout;
            match watch(self.plain.execute(built), &progress, idle).await {
                Some(sent) => sent,
                None => {
                    return Err(Failure {
                        error: self.timed_out(
                            request,
                            format!(
                                "the upload stalled: nothing moved for {}",
                                shown_duration(idle)
                            ),
                        ),
                        retry_after: None,
                        maybe_applied: true,
                    });
                }
            }
        } else if request.is_transfer() {
            self.downloads.execute(built).await
        } else {
            self.plain.execute(built).await
        };
        let response = sent.map_err(|e| Failure {
            error: self.unreachable(request, &e),
            retry_after: None,
            // A connection refused never carried the request.
            maybe_applied: !e.is_connect(),
        })?;
        tracing::debug!(
            method = %request.method,
            target = %request.target(),
            status = response.status().as_u16(),
            elapsed = ?started.elapsed(),
            "request"
        );
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after)
            .map(|wait| wait.min(self.retry.max_retry_after));
        Err(Failure {
            error: self.error_from(request, response).await,
            retry_after,
            // The service may have applied a request it then failed to answer.
            maybe_applied: matches!(status, 500 | 502 | 504),
        })
    }

    /// Reads a successful answer's body in full, and gives the answer back with
    /// it; a body cut short is a broken connection, retried.
    async fn read_whole(
        &self,
        request: &Request<'_>,
        response: Response,
    ) -> std::result::Result<Response, Failure> {
        let status = response.status();
        let version = response.version();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(|e| Failure {
            error: self.unreachable(request, &e),
            retry_after: None,
            maybe_applied: true,
        })?;
        let mut rebuilt = http::Response::new(body);
        *rebuilt.status_mut() = status;
        *rebuilt.version_mut() = version;
        *rebuilt.headers_mut() = headers;
        Ok(Response::from(rebuilt))
    }

    fn timed_out(&self, request: &Request<'_>, reason: String) -> Error {
        Error::Unreachable {
            store: self.shown.clone(),
            operation: request.operation,
            target: request.target(),
            reason,
        }
    }

    async fn build(&self, request: &Request<'_>, progress: &Progress) -> Result<reqwest::Request> {
        let mut path = self.target.endpoint.path().trim_end_matches('/').to_owned();
        if let Some(container) = request.container {
            path.push('/');
            path.push_str(container.as_str());
        } else {
            // The account itself: its path-style endpoint's own path, or `/`.
            path.push('/');
        }
        if let Some(blob) = request.blob {
            path.push('/');
            path.push_str(&utf8_percent_encode(blob, PATH).to_string());
        }
        let mut query: Vec<String> = request
            .query
            .iter()
            .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, QUERY)))
            .collect();
        if let Credential::Sas(token) = &self.target.credential {
            query.push(token.expose().to_owned());
        }
        let mut url: Url = self.target.endpoint.clone();
        url.set_path(&path);
        url.set_query((!query.is_empty()).then(|| query.join("&")).as_deref());

        let mut headers = HeaderMap::new();
        insert(&mut headers, "x-ms-version", SERVICE_VERSION)?;
        insert(
            &mut headers,
            "x-ms-date",
            &httpdate::fmt_http_date(SystemTime::now()),
        )?;
        for (name, value) in &request.headers {
            insert(&mut headers, name, value)?;
        }
        let len = request.payload.len();
        if matches!(request.method, Method::PUT | Method::POST) {
            insert(&mut headers, "content-length", &len.to_string())?;
        }
        if let Credential::SharedKey(key) = &self.target.credential {
            let pairs: Vec<(String, String)> = request
                .query
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect();
            let auth = key.authorization(request.method.as_str(), url.path(), &pairs, &headers);
            insert(&mut headers, "authorization", &auth)?;
        }
        let mut built = reqwest::Request::new(request.method.clone(), url);
        *built.headers_mut() = headers;
        if len > 0 {
            *built.body_mut() = Some(request.payload.body(progress));
        }
        Ok(built)
    }

    /// Maps a connection failure, never showing the URL (it may hold a SAS).
    pub fn unreachable(&self, request: &Request<'_>, error: &reqwest::Error) -> Error {
        if let Some(reason) = super::tls::certificate_refused(error) {
            return Error::Untrusted {
                store: self.shown.clone(),
                reason,
            };
        }
        Error::Unreachable {
            store: self.shown.clone(),
            operation: request.operation,
            target: request.target(),
            reason: describe(error),
        }
    }

    async fn error_from(&self, request: &Request<'_>, response: Response) -> Error {
        let status = response.status();
        let header_code = response
            .headers()
            .get("x-ms-error-code")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = if request.method == Method::HEAD {
            String::new()
        } else {
            response.text().await.unwrap_or_default()
        };
        let (body_code, message) = xml::parse_error(&body);
        let code = header_code.or(body_code).unwrap_or_else(|| "-".to_owned());
        let message = message.unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_owned());
        self.map_error(request, status, code, message)
    }

    fn map_error(
        &self,
        request: &Request<'_>,
        status: StatusCode,
        code: String,
        message: String,
    ) -> Error {
        let store = self.shown.clone();
        let target = request.target();
        match (status.as_u16(), code.as_str()) {
            (404, "ContainerNotFound") => Error::ContainerNotFound {
                container: request.container_name(),
                store,
            },
            (404, "-") if request.blob.is_none() => Error::ContainerNotFound {
                container: request.container_name(),
                store,
            },
            (404, _) => Error::NotFound {
                container: request.container_name(),
                name: request.blob.unwrap_or_default().to_owned(),
            },
            (403, _) | (401, _) => Error::Denied {
                hint: self.denied_hint(request.operation, &code, &message),
                store,
                operation: request.operation,
                target,
                code,
            },
            (status, _) => {
                let message = match permanent_hint(status, &code) {
                    Some(hint) => format!("{}; {hint}", message.trim_end_matches('.')),
                    None => message,
                };
                Error::Service {
                    store,
                    operation: request.operation,
                    target,
                    status,
                    code,
                    message,
                }
            }
        }
    }

    fn denied_hint(&self, operation: &str, code: &str, message: &str) -> String {
        let message = message.trim_end_matches('.');
        match &self.target.credential {
            Credential::Sas(token) => sas_hint(token, operation, code, message),
            Credential::SharedKey(_) => match code {
                "AuthenticationFailed" | "AuthorizationFailure" => {
                    "the account key was refused; check AZURE_STORAGE_KEY or the connection string, and that this machine's clock is right".into()
                }
                _ => format!("{message}; check the account's settings and the credentials"),
            },
            Credential::Anonymous => {
                "no credential was given; set AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN or AZURE_STORAGE_CONNECTION_STRING, or use a SAS URL".into()
            }
        }
    }
}

/// Why a SAS was refused, read from the token itself where it can be: its
/// expiry and start against this machine's clock, and its permission letters
/// against the operation.
fn sas_hint(
    token: &super::credential::SasToken,
    operation: &str,
    code: &str,
    message: &str,
) -> String {
    let now = SystemTime::now();
    let time = |field: &str| {
        token
            .field(field)
            .and_then(|t| humantime::parse_rfc3339_weak(&t).ok().map(|at| (t, at)))
    };
    if let Some((shown, expiry)) = time("se")
        && expiry <= now
    {
        return format!("the SAS expired at {shown}; create a new one with `batchout sas`");
    }
    if let Some((shown, start)) = time("st")
        && start > now
    {
        return format!(
            "the SAS is not valid before {shown}; check this machine's clock, or create a new one"
        );
    }
    let needed = match operation {
        "read" => Some('r'),
        "list" => Some('l'),
        "write" => Some('w'),
        "create" => Some('c'),
        "append to" => Some('a'),
        "delete" => Some('d'),
        _ => None,
    };
    if let (Some(letter), Some(granted)) = (needed, token.field("sp"))
        && !granted.contains(letter)
        && !(letter == 'a' && granted.contains('w'))
        && !(letter == 'c' && granted.contains('w'))
    {
        return format!(
            "the SAS grants '{granted}' but {operation} needs '{letter}'; ask for a SAS with it, e.g. `batchout sas --permissions racwl{}`",
            if letter == 'd' { "d" } else { "" }
        );
    }
    match code {
        "AuthorizationPermissionMismatch" | "AuthorizationResourceTypeMismatch" => {
            "the SAS does not permit this operation; ask for one that does, e.g. `batchout sas --permissions racwl`".into()
        }
        "AuthenticationFailed" | "AuthorizationFailure" => {
            "the SAS signature was refused (altered, cut short, or signed with another key); copy the whole SAS URL again, or create a new one with `batchout sas`".into()
        }
        _ => format!("{message}; check the SAS's permissions and expiry"),
    }
}

/// What to do about a permanent failure the service answered, by its status
/// and error code.
fn permanent_hint(status: u16, code: &str) -> Option<&'static str> {
    Some(match (status, code) {
        (409, "ContainerBeingDeleted") => {
            "the container is being deleted; wait a minute and try again, or use another job id"
        }
        (409, "LeaseIdMissing" | "LeaseAlreadyPresent")
        | (412, "LeaseIdMissing" | "LeaseNotPresentWithBlobOperation") => {
            "another client holds a lease on the blob; wait for it to finish, or break the lease"
        }
        (409, "InvalidBlobType") => {
            "a blob of another type (block or append) has this name; delete it, or save under another name"
        }
        (409, "BlobArchived") => "the blob is archived; rehydrate it first",
        (409, _) => "another client changed it at the same time; run the command again",
        (412, _) => {
            "the blob changed while this was being done (a condition failed); run the command again"
        }
        (400, "OutOfRangeInput" | "InvalidResourceName") => {
            "the service refused a name; check the job id, kind and path"
        }
        (400, _) => {
            "the service refused the request as malformed; check the store URL, and report it if it persists"
        }
        (413, _) => "the request is larger than the service accepts",
        _ => return None,
    })
}

/// A transient error that was retried until the attempts or the deadline ran
/// out, saying so.
fn gave_up(error: Error, why: &str) -> Error {
    match error {
        Error::Service {
            store,
            operation,
            target,
            status,
            code,
            message,
        } => Error::Service {
            store,
            operation,
            target,
            status,
            code,
            message: format!("{message} ({why})"),
        },
        Error::Unreachable {
            store,
            operation,
            target,
            reason,
        } => Error::Unreachable {
            store,
            operation,
            target,
            reason: format!("{reason} ({why})"),
        },
        other => other,
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
    let mut answer = http::Response::new(Bytes::new());
    *answer.status_mut() = status;
    Some(Response::from(answer))
}

/// `Retry-After` as delay-seconds or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// A duration as people write it: `30s`, `1m 30s`, `250ms`.
fn shown_duration(duration: Duration) -> String {
    let rounded = if duration >= Duration::from_secs(10) {
        Duration::from_secs(duration.as_secs())
    } else {
        Duration::from_millis(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
    };
    humantime::format_duration(rounded).to_string()
}

/// Runs `future` while it makes progress: `None` once `progress` has not moved
/// for `idle`.
async fn watch<F: std::future::Future>(
    future: F,
    progress: &Progress,
    idle: Duration,
) -> Option<F::Output> {
    progress.touch();
    tokio::pin!(future);
    loop {
        let wait = idle.saturating_sub(progress.idle());
        if wait.is_zero() {
            return None;
        }
        tokio::select! {
            output = &mut future => return Some(output),
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Sets a header, refusing values HTTP cannot carry.
fn insert(headers: &mut HeaderMap, name: &str, value: &str) -> Result<()> {
    let bad = |error: String| Error::InvalidName {
        name: value.to_owned(),
        reason: format!("cannot be sent as the HTTP header {name}: {error}"),
    };
    let header = HeaderName::from_bytes(name.as_bytes()).map_err(|e| bad(e.to_string()))?;
    let value = HeaderValue::from_str(value).map_err(|e| bad(e.to_string()))?;
    headers.insert(header, value);
    Ok(())
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
pub fn describe(error: &reqwest::Error) -> String {
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

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::Mutex;

    use super::*;

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

    #[test]
    fn retry_after_is_read_as_seconds_or_a_date() {
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(60));
        let wait = parse_retry_after(&later).expect("a date");
        assert!(wait > Duration::from_secs(50) && wait <= Duration::from_secs(60));
        assert_eq!(parse_retry_after("soon"), None);
    }
}
