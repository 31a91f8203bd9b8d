//! One request to a credential endpoint over HTTP (Entra ID, a managed
//! identity endpoint, AWS's STS, the EC2 instance metadata service, a
//! container's credentials endpoint), as every such source makes it: sent
//! on a client of its own (no redirects; no proxy for a loopback or
//! link-local endpoint), retried a few times when it fails transiently, its
//! answer read by the source, or as what the service said was wrong.

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use tokio::sync::OnceCell;
use url::Url;

use crate::remote::retry::{RetryPolicy, parse_retry_after};
use crate::remote::tls::Authorities;
use crate::{Error, Result};

/// Attempts in all for one token request.
const ATTEMPTS: u32 = 4;
/// The longest one token request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest wait a token service may ask for before a retry.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// An HTTP client for one token endpoint, built when first used.
#[derive(Debug)]
pub(crate) struct TokenHttp {
    endpoint: Url,
    connect_timeout: Duration,
    /// Certificate authorities trusted besides the system's.
    authorities: Option<Authorities>,
    client: OnceCell<reqwest::Client>,
}

/// What a token service answered when it gave no token.
#[derive(Debug)]
pub(crate) struct Refusal {
    /// The HTTP status.
    pub(crate) status: StatusCode,
    /// The OAuth error code (`invalid_client`), if any.
    pub(crate) error: Option<String>,
    /// What it said (`AADSTS7000215: Invalid client secret provided…`), if
    /// anything.
    pub(crate) description: Option<String>,
    /// The whole answer, for a source whose errors are not JSON.
    pub(crate) body: String,
}

impl Refusal {
    /// The answer as a message says it: status, code and description.
    pub(crate) fn shown(&self) -> String {
        let mut text = format!("HTTP {}", self.status.as_u16());
        if let Some(error) = &self.error {
            text.push(' ');
            text.push_str(error);
        }
        if let Some(description) = &self.description {
            text.push_str(": ");
            text.push_str(description.lines().next().unwrap_or_default().trim());
        }
        text
    }

    /// Whether the error code or description holds `text`, in any case.
    pub(crate) fn says(&self, text: &str) -> bool {
        let text = text.to_ascii_lowercase();
        [&self.error, &self.description]
            .into_iter()
            .flatten()
            .any(|said| said.to_ascii_lowercase().contains(&text))
    }
}

/// How one source reads the failures of its token requests.
pub(crate) trait Interpret: Sync {
    /// The source, for messages.
    fn name(&self) -> String;
    /// Whether a refusal is worth asking again (429, 5xx; IMDS adds its
    /// own).
    fn is_transient(&self, refusal: &Refusal) -> bool {
        matches!(refusal.status.as_u16(), 408 | 429 | 500..=599)
    }
    /// The error for a refusal that is not transient.
    fn refused(&self, refusal: &Refusal) -> Error;
    /// Whether a connection that cannot be made means the source is not
    /// there at all (IMDS off Azure, tried by a chain).
    fn absent_when_unreachable(&self) -> bool {
        false
    }
    /// What is wrong with a successful answer that holds nothing readable.
    fn unreadable(&self) -> &'static str {
        "its answer holds no token and expiry that batchout can read"
    }
}

impl TokenHttp {
    /// A client for `endpoint`, connecting within `connect_timeout`.
    pub(crate) fn new(endpoint: Url, connect_timeout: Duration) -> Self {
        Self {
            endpoint,
            connect_timeout,
            authorities: None,
            client: OnceCell::new(),
        }
    }

    /// Trusts `authorities` besides the system's.
    #[must_use]
    pub(crate) fn with_authorities(mut self, authorities: Option<Authorities>) -> Self {
        self.authorities = authorities;
        self
    }

    /// The endpoint.
    pub(crate) fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    async fn client(&self, name: &str) -> Result<&reqwest::Client> {
        self.client
            .get_or_try_init(|| async {
                let tls =
                    crate::remote::tls::client_config(&self.endpoint, self.authorities.as_ref())?;
                let mut builder = reqwest::Client::builder()
                    .connect_timeout(self.connect_timeout)
                    .timeout(REQUEST_TIMEOUT)
                    .redirect(reqwest::redirect::Policy::none())
                    .tls_backend_preconfigured(tls);
                if is_local(&self.endpoint) {
                    builder = builder.no_proxy();
                }
                builder.build().map_err(|e| Error::Credential {
                    credential: name.to_owned(),
                    reason: format!("cannot build an HTTP client: {e}"),
                    unavailable: false,
                })
            })
            .await
    }

    /// Sends the request `build` makes (once per attempt) and reads the
    /// answer with `read` (given the body and when it was asked for);
    /// retries connection failures and transient refusals a few times with
    /// backoff, then gives up with what went wrong.
    pub(crate) async fn fetch<T>(
        &self,
        source: &dyn Interpret,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
        read: impl Fn(&str, SystemTime) -> Option<T>,
    ) -> Result<T> {
        let name = source.name();
        let client = self.client(&name).await?;
        let backoff = RetryPolicy {
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            ..RetryPolicy::default()
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let asked = SystemTime::now();
            let (reason, wait) = match build(client).send().await {
                Err(e)
                    if source.absent_when_unreachable() && (e.is_connect() || e.is_timeout()) =>
                {
                    return Err(Error::Credential {
                        credential: name,
                        reason: format!(
                            "nothing answers at {} ({})",
                            shown_endpoint(&self.endpoint),
                            crate::remote::http::describe(&e)
                        ),
                        unavailable: true,
                    });
                }
                Err(e) => (crate::remote::http::describe(&e), None),
                Ok(response) => {
                    let status = response.status();
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_retry_after)
                        .map(|wait| wait.min(MAX_RETRY_AFTER));
                    match response.text().await {
                        Err(e) => (crate::remote::http::describe(&e), None),
                        Ok(body) if status.is_success() => {
                            return read(&body, asked).ok_or_else(|| Error::Credential {
                                credential: name,
                                reason: source.unreadable().into(),
                                unavailable: false,
                            });
                        }
                        Ok(body) => {
                            let refusal = refusal(status, &body);
                            if !source.is_transient(&refusal) {
                                return Err(source.refused(&refusal));
                            }
                            (refusal.shown(), retry_after)
                        }
                    }
                }
            };
            if attempt >= ATTEMPTS {
                return Err(Error::Credential {
                    credential: name,
                    reason: format!(
                        "{reason} (gave up after {attempt} attempts at {})",
                        shown_endpoint(&self.endpoint)
                    ),
                    unavailable: false,
                });
            }
            let wait = wait.unwrap_or_else(|| backoff.backoff(attempt));
            tracing::debug!(credential = %name, %reason, ?wait, "retrying a token request");
            tokio::time::sleep(wait).await;
        }
    }
}

/// Whether `url` is on this machine or link-local (IMDS): never through a
/// proxy.
pub(crate) fn is_local(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback() || ip.is_link_local(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(host)) => host == "localhost",
        None => false,
    }
}

/// An endpoint as messages show it: scheme, host, port and path, no query.
pub(crate) fn shown_endpoint(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

/// The error code and description of a refusal's JSON body (OAuth's
/// `error` and `error_description`; App Service's `message` too).
fn refusal(status: StatusCode, body: &str) -> Refusal {
    let json: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let field = |name: &str| {
        json.as_ref()
            .and_then(|j| j.get(name))
            .and_then(|v| match v {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Object(o) => {
                    o.get("message").and_then(|m| m.as_str()).map(str::to_owned)
                }
                _ => None,
            })
            .filter(|s| !s.is_empty())
    };
    let error = field("error").or_else(|| field("code"));
    let description = field("error_description").or_else(|| field("message"));
    Refusal {
        status,
        error,
        description,
        body: body.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_read_as_oauth_and_app_service_say_them() {
        let oauth = refusal(
            StatusCode::UNAUTHORIZED,
            r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x"}"#,
        );
        assert_eq!(
            oauth.shown(),
            "HTTP 401 invalid_client: AADSTS7000215: Invalid client secret provided."
        );
        assert!(oauth.says("aadsts7000215"));
        let imds = refusal(
            StatusCode::BAD_REQUEST,
            r#"{"error":"invalid_request","error_description":"Identity not found"}"#,
        );
        assert!(imds.says("identity not found"));
        let app = refusal(
            StatusCode::BAD_REQUEST,
            r#"{"statusCode":400,"message":"No managed identity"}"#,
        );
        assert_eq!(app.shown(), "HTTP 400: No managed identity");
        assert_eq!(refusal(StatusCode::BAD_GATEWAY, "").shown(), "HTTP 502");
    }

    #[test]
    fn loopback_and_link_local_endpoints_are_local() {
        for local in [
            "http://169.254.169.254/metadata",
            "http://127.0.0.1:41/x",
            "http://localhost:8081/msi/token",
            "http://[::1]:4/",
        ] {
            assert!(is_local(&Url::parse(local).expect("url")), "{local}");
        }
        assert!(!is_local(
            &Url::parse("https://login.microsoftonline.com/").expect("url")
        ));
    }
}
