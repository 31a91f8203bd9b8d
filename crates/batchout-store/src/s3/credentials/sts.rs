//! Roles assumed through AWS STS: `AssumeRole`, signed with another
//! source's credentials (a profile's `role_arn` with `source_profile` or
//! `credential_source`), and `AssumeRoleWithWebIdentity`, with a token read
//! from a file at each call (EKS's IAM roles for service accounts set
//! `AWS_WEB_IDENTITY_TOKEN_FILE` and `AWS_ROLE_ARN`; the kubelet rotates
//! the file).
//!
//! STS is reached at `AWS_ENDPOINT_URL_STS`, else `AWS_ENDPOINT_URL` (as
//! the AWS SDKs read it: one endpoint for every service), else STS's
//! regional endpoint.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use url::Url;

use super::{Credentials, ProvideCredentials, parse_time};
use crate::checksum::hex;
use crate::remote::credential_http::{Interpret, Refusal, TokenHttp, shown_endpoint};
use crate::s3::request::{Canonical, amz_date, authorization};
use crate::s3::xml;
use crate::{Authorities, EnvLookup, Error, Result};

/// The version of the STS API.
const STS_VERSION: &str = "2011-06-15";
/// How long a connection to STS may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The STS endpoint and the region requests to it are signed for.
#[derive(Debug)]
pub(crate) struct Sts {
    http: TokenHttp,
    region: String,
}

impl Sts {
    /// STS for `region`, at the endpoint the variables name if any, trusting
    /// `authorities` besides the system's.
    pub(crate) fn new(
        env: EnvLookup<'_>,
        region: &str,
        authorities: Option<&Authorities>,
    ) -> std::result::Result<Self, String> {
        let (text, variable) = match (env("AWS_ENDPOINT_URL_STS"), env("AWS_ENDPOINT_URL")) {
            (Some(url), _) => (url, "AWS_ENDPOINT_URL_STS"),
            (None, Some(url)) => (url, "AWS_ENDPOINT_URL"),
            (None, None) => (format!("https://sts.{region}.amazonaws.com/"), "the region"),
        };
        let endpoint = Url::parse(text.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| format!("{variable}={text:?} is not an http:// or https:// URL"))?;
        Ok(Self {
            http: TokenHttp::new(endpoint, CONNECT_TIMEOUT).with_authorities(authorities.cloned()),
            region: region.to_owned(),
        })
    }

    /// Calls `form`'s action and reads the credentials it gives, signing
    /// the request with `signer` if given.
    async fn call(
        &self,
        call: &Call<'_>,
        form: &str,
        signer: Option<&Credentials>,
        source: &str,
    ) -> Result<Credentials> {
        self.http
            .fetch(
                call,
                |client| {
                    let url = self.http.endpoint().clone();
                    let request = client
                        .post(url.clone())
                        .header(
                            "content-type",
                            "application/x-www-form-urlencoded; charset=utf-8",
                        )
                        .body(form.to_owned());
                    match signer {
                        Some(credentials) => sign(request, &url, form, credentials, &self.region),
                        None => request,
                    }
                },
                |body, _| parse_credentials(body, source),
            )
            .await
    }
}

/// The headers of Signature Version 4 for STS on a form `POST`.
fn sign(
    request: reqwest::RequestBuilder,
    url: &Url,
    form: &str,
    credentials: &Credentials,
    region: &str,
) -> reqwest::RequestBuilder {
    let now = SystemTime::now();
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    let date = amz_date(now);
    let mut headers = vec![
        (
            "content-type".to_owned(),
            "application/x-www-form-urlencoded; charset=utf-8".to_owned(),
        ),
        ("host".to_owned(), host),
        ("x-amz-date".to_owned(), date.clone()),
    ];
    if let Some(token) = &credentials.session_token {
        headers.push(("x-amz-security-token".to_owned(), token.expose().to_owned()));
    }
    headers.sort();
    let body_hash = hex(&Sha256::digest(form.as_bytes()));
    let path = if url.path().is_empty() {
        "/"
    } else {
        url.path()
    };
    let signature = authorization(
        credentials,
        region,
        "sts",
        &Canonical {
            method: "POST",
            path,
            query: url.query().unwrap_or_default(),
            headers: &headers,
            body_hash: &body_hash,
        },
        now,
    );
    let secret = |text: &str| {
        let mut value = reqwest::header::HeaderValue::from_str(text)
            .unwrap_or_else(|_| reqwest::header::HeaderValue::from_static(""));
        value.set_sensitive(true);
        value
    };
    let mut request = request
        .header("x-amz-date", date)
        .header("authorization", secret(&signature));
    if let Some(token) = &credentials.session_token {
        request = request.header("x-amz-security-token", secret(token.expose()));
    }
    request
}

/// Credentials from an `AssumeRole…Response`.
fn parse_credentials(body: &str, source: &str) -> Option<Credentials> {
    let text = |name: &str| {
        xml::element(body, name)
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
    };
    Some(Credentials {
        access_key_id: text("AccessKeyId")?,
        secret_access_key: crate::Secret::new(text("SecretAccessKey")?),
        session_token: Some(crate::Secret::new(text("SessionToken")?)),
        expires_on: Some(parse_time(&text("Expiration")?)?),
        source: source.to_owned(),
    })
}

/// A session name as the AWS SDKs make one when none is given.
fn default_session_name() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("batchout-{millis}")
}

/// One STS call, for messages.
struct Call<'a> {
    name: String,
    role: &'a str,
    web_identity: bool,
}

impl Interpret for Call<'_> {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn is_transient(&self, refusal: &Refusal) -> bool {
        let code = xml::parse_error(&refusal.body)
            .code
            .or_else(|| xml::element(&refusal.body, "Code"));
        matches!(refusal.status.as_u16(), 408 | 429 | 500..=599)
            || matches!(
                code.as_deref(),
                Some("Throttling" | "IDPCommunicationError" | "RequestLimitExceeded")
            )
    }

    fn refused(&self, refusal: &Refusal) -> Error {
        let code = xml::element(&refusal.body, "Code");
        let message = xml::element(&refusal.body, "Message");
        let said = match (&code, &message) {
            (Some(code), Some(message)) => format!("{code}: {}", message.trim()),
            (Some(code), None) => code.clone(),
            _ => refusal.shown(),
        };
        let hint = match code.as_deref() {
            Some("AccessDenied") if self.web_identity => format!(
                "; check that the role {}'s trust policy lets this web identity (its issuer and subject) assume it",
                self.role
            ),
            Some("AccessDenied") => format!(
                "; check that the role {}'s trust policy lets the source credentials assume it, and that they may call sts:AssumeRole",
                self.role
            ),
            Some("InvalidIdentityToken" | "ExpiredTokenException") => {
                "; check the token file (AWS_WEB_IDENTITY_TOKEN_FILE), which the cluster must keep fresh".to_owned()
            }
            _ => String::new(),
        };
        Error::Credential {
            credential: self.name.clone(),
            reason: format!("STS refused: {said}{hint}"),
            unavailable: false,
        }
    }

    fn unreadable(&self) -> &'static str {
        "STS's answer holds no credentials that batchout can read"
    }
}

/// A role assumed with another source's credentials (`AssumeRole`).
#[derive(Debug)]
pub struct AssumeRole {
    source: Arc<dyn ProvideCredentials>,
    role: String,
    session: String,
    external_id: Option<String>,
    duration: Option<u32>,
    /// The profile that asks for it, for messages.
    from: String,
    sts: Sts,
}

impl AssumeRole {
    /// The role `role` assumed with `source`'s credentials, as the session
    /// `session` (else one named after the time), with `external_id` and
    /// for `duration` seconds if given; `from` says who asks for it
    /// (`profile NAME`).
    pub(crate) fn new(
        source: Arc<dyn ProvideCredentials>,
        role: String,
        session: Option<String>,
        external_id: Option<String>,
        duration: Option<u32>,
        from: String,
        sts: Sts,
    ) -> Self {
        Self {
            source,
            role,
            session: session.unwrap_or_else(default_session_name),
            external_id,
            duration,
            from,
            sts,
        }
    }
}

#[async_trait]
impl ProvideCredentials for AssumeRole {
    async fn credentials(&self) -> Result<Credentials> {
        let signer = self.source.credentials().await?;
        let form = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("Action", "AssumeRole")
                .append_pair("Version", STS_VERSION)
                .append_pair("RoleArn", &self.role)
                .append_pair("RoleSessionName", &self.session);
            if let Some(id) = &self.external_id {
                form.append_pair("ExternalId", id);
            }
            if let Some(seconds) = self.duration {
                form.append_pair("DurationSeconds", &seconds.to_string());
            }
            form.finish()
        };
        let call = Call {
            name: self.name(),
            role: &self.role,
            web_identity: false,
        };
        self.sts
            .call(&call, &form, Some(&signer), &self.name())
            .await
    }

    fn name(&self) -> String {
        format!(
            "the role {} assumed with {} ({}, STS at {})",
            self.role,
            self.source.name(),
            self.from,
            shown_endpoint(self.sts.http.endpoint()).trim_end_matches('/')
        )
    }
}

/// A role assumed with a web identity token read from a file
/// (`AssumeRoleWithWebIdentity`; the call is not signed).
#[derive(Debug)]
pub struct WebIdentity {
    token_file: PathBuf,
    role: String,
    session: String,
    sts: Sts,
}

impl WebIdentity {
    /// The role `role` assumed with the token in `token_file`, as the
    /// session `session` (else one named after the time).
    pub(crate) fn new(
        token_file: PathBuf,
        role: String,
        session: Option<String>,
        sts: Sts,
    ) -> Self {
        Self {
            token_file,
            role,
            session: session.unwrap_or_else(default_session_name),
            sts,
        }
    }
}

#[async_trait]
impl ProvideCredentials for WebIdentity {
    async fn credentials(&self) -> Result<Credentials> {
        let token = std::fs::read_to_string(&self.token_file).map_err(|e| Error::Credential {
            credential: self.name(),
            reason: format!(
                "cannot read the web identity token file {}: {e}",
                self.token_file.display()
            ),
            unavailable: false,
        })?;
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("Action", "AssumeRoleWithWebIdentity")
            .append_pair("Version", STS_VERSION)
            .append_pair("RoleArn", &self.role)
            .append_pair("RoleSessionName", &self.session)
            .append_pair("WebIdentityToken", token.trim())
            .finish();
        let call = Call {
            name: self.name(),
            role: &self.role,
            web_identity: true,
        };
        self.sts.call(&call, &form, None, &self.name()).await
    }

    fn name(&self) -> String {
        format!(
            "the role {} assumed with the web identity in {} (STS at {})",
            self.role,
            self.token_file.display(),
            shown_endpoint(self.sts.http.endpoint()).trim_end_matches('/')
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assumed_credentials_are_read_from_sts_answers() {
        let body = r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/r/s</Arn><AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser>
    <Credentials>
      <AccessKeyId>ASIAEXAMPLE</AccessKeyId>
      <SecretAccessKey>wJalr/SECRET</SecretAccessKey>
      <SessionToken>FwoG&amp;TOKEN</SessionToken>
      <Expiration>2026-12-07T08:00:00Z</Expiration>
    </Credentials>
  </AssumeRoleResult>
</AssumeRoleResponse>"#;
        let credentials = parse_credentials(body, "role").expect("credentials");
        assert_eq!(credentials.access_key_id, "ASIAEXAMPLE");
        assert_eq!(credentials.secret_access_key.expose(), "wJalr/SECRET");
        assert_eq!(
            credentials
                .session_token
                .as_ref()
                .map(crate::Secret::expose),
            Some("FwoG&TOKEN")
        );
        assert_eq!(
            credentials.expires_on,
            humantime::parse_rfc3339("2026-12-07T08:00:00Z").ok()
        );
        assert!(parse_credentials("<ErrorResponse/>", "role").is_none());
    }

    #[test]
    fn refusals_say_what_sts_said_and_what_to_check() {
        let call = Call {
            name: "the role r".into(),
            role: "arn:aws:iam::123456789012:role/r",
            web_identity: false,
        };
        let refusal = Refusal {
            status: reqwest::StatusCode::FORBIDDEN,
            error: None,
            description: None,
            body: "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/u is not authorized to perform: sts:AssumeRole</Message></Error></ErrorResponse>".into(),
        };
        assert!(!call.is_transient(&refusal));
        let text = call.refused(&refusal).to_string();
        assert!(
            text.contains("AccessDenied: User: arn:aws:iam::123456789012:user/u"),
            "{text}"
        );
        assert!(text.contains("trust policy"), "{text}");
        let throttled = Refusal {
            status: reqwest::StatusCode::BAD_REQUEST,
            body: "<ErrorResponse><Error><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>".into(),
            ..refusal
        };
        assert!(call.is_transient(&throttled));
    }
}
