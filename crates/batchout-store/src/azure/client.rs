//! Sending one Blob REST request: URL, headers, signature, retries of transient
//! failures, and the mapping of error answers to [`Error`]s that say what to do.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Body, Method, Response, StatusCode};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
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

/// How transient failures are retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The wait before the first retry; it doubles each time, with jitter.
    pub base_delay: Duration,
    /// The longest wait between two attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

/// What a request sends as its body; rebuilt for each attempt.
#[derive(Debug, Clone)]
pub enum Payload {
    /// No body.
    Empty,
    /// Bytes in memory.
    Bytes(Bytes),
    /// A range of a local file, streamed.
    File {
        /// The file.
        path: PathBuf,
        /// Where the range starts.
        offset: u64,
        /// How many bytes.
        len: u64,
    },
}

impl Payload {
    fn len(&self) -> u64 {
        match self {
            Self::Empty => 0,
            Self::Bytes(bytes) => bytes.len() as u64,
            Self::File { len, .. } => *len,
        }
    }

    async fn body(&self) -> Result<Body> {
        Ok(match self {
            Self::Empty => Body::from(Bytes::new()),
            Self::Bytes(bytes) => Body::from(bytes.clone()),
            Self::File { path, offset, len } => {
                let mut file = tokio::fs::File::open(path)
                    .await
                    .map_err(|e| Error::io("read", path, e))?;
                file.seek(std::io::SeekFrom::Start(*offset))
                    .await
                    .map_err(|e| Error::io("read", path, e))?;
                let reader = file.take(*len);
                Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(
                    reader,
                    256 * 1024,
                ))
            }
        })
    }
}

/// One request, described; [`Client::send`] turns it into HTTP.
pub struct Request<'a> {
    /// What is being done, for messages ("write", "read", …).
    pub operation: &'static str,
    /// The HTTP method.
    pub method: Method,
    /// The container.
    pub container: &'a ContainerName,
    /// The blob, for blob operations.
    pub blob: Option<&'a str>,
    /// Query parameters (not encoded).
    pub query: Vec<(&'static str, String)>,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
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
            container,
            blob,
            query: Vec::new(),
            headers: Vec::new(),
            payload: Payload::Empty,
        }
    }

    /// Adds a query parameter.
    pub fn query(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.query.push((name, value.into()));
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Sets the body.
    pub fn payload(mut self, payload: Payload) -> Self {
        self.payload = payload;
        self
    }

    fn target(&self) -> String {
        match self.blob {
            Some(blob) => format!("{}/{blob}", self.container),
            None => format!("container {}", self.container),
        }
    }
}

/// An HTTP client for one Azure target.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    target: AzureTarget,
    shown: String,
    retry: RetryPolicy,
}

impl Client {
    /// A client for a target.
    ///
    /// # Errors
    ///
    /// When the HTTP client cannot be built (TLS set-up).
    pub fn new(target: AzureTarget, retry: RetryPolicy) -> Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .pool_idle_timeout(Duration::from_secs(50))
            .build()
            .map_err(|e| Error::InvalidStoreUrl {
                url: target.endpoint.to_string(),
                reason: format!("cannot build an HTTP client: {}", e.without_url()),
            })?;
        let shown = target.to_string();
        Ok(Self {
            http,
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
    /// answer or the mapped error of the last attempt.
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
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (error, retry_after) = match self.send_once(request).await {
                Ok(response) => return (Ok(response), attempt),
                Err(failure) => failure,
            };
            if !error.is_retryable() || attempt >= self.retry.attempts {
                return (Err(error), attempt);
            }
            let delay = retry_after.unwrap_or_else(|| self.backoff(attempt));
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

    async fn send_once(
        &self,
        request: &Request<'_>,
    ) -> std::result::Result<Response, (Error, Option<Duration>)> {
        let built = self.build(request).await.map_err(|e| (e, None))?;
        let started = std::time::Instant::now();
        let response = self
            .http
            .execute(built)
            .await
            .map_err(|e| (self.unreachable(request, &e), None))?;
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
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s).min(self.retry.max_delay));
        Err((self.error_from(request, response).await, retry_after))
    }

    async fn build(&self, request: &Request<'_>) -> Result<reqwest::Request> {
        let mut path = self.target.endpoint.path().trim_end_matches('/').to_owned();
        path.push('/');
        path.push_str(request.container.as_str());
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
            *built.body_mut() = Some(request.payload.body().await?);
        }
        Ok(built)
    }

    /// Maps a connection failure, never showing the URL (it may hold a SAS).
    pub fn unreachable(&self, request: &Request<'_>, error: &reqwest::Error) -> Error {
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
                container: request.container.to_string(),
                store,
            },
            (404, "-") if request.blob.is_none() => Error::ContainerNotFound {
                container: request.container.to_string(),
                store,
            },
            (404, _) => Error::NotFound {
                container: request.container.to_string(),
                name: request.blob.unwrap_or_default().to_owned(),
            },
            (403, _) | (401, _) => Error::Denied {
                hint: self.denied_hint(request.operation, &code, &message),
                store,
                operation: request.operation,
                target,
                code,
            },
            (status, _) => Error::Service {
                store,
                operation: request.operation,
                target,
                status,
                code,
                message,
            },
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
