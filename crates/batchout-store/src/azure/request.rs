//! One Blob REST request, described ([`Request`]) and made into HTTP: its
//! URL (names percent-encoded), the service version and date, its headers,
//! and the Shared Key signature, the SAS token, or the Entra ID bearer token.

use std::borrow::Cow;
use std::time::SystemTime;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use url::Url;

use super::SERVICE_VERSION;
use super::config::{AzureTarget, Credential};
use super::identity::Secret;
use crate::checksum::BodyChecksum;
use crate::remote::http::{Moving, Payload, SMALL_BODY};
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

/// One request, described; [`super::client::Client::send`] turns it into
/// HTTP.
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
    pub(crate) payload: Payload,
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
    pub(crate) fn container_name(&self) -> String {
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

    /// Adds the header carrying the checksum of the body.
    pub(crate) fn checksum(self, checksum: BodyChecksum) -> Self {
        let (name, value) = checksum.azure_header();
        self.header(name, value)
    }

    /// Sets the body.
    pub(crate) fn payload(mut self, payload: Payload) -> Self {
        self.payload = payload;
        self
    }

    /// Whether this request moves a body whose time grows with its size: an
    /// upload of more than [`SMALL_BODY`], or a blob's content.
    pub(crate) fn is_transfer(&self) -> bool {
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

    /// The HTTP request for `target`, signed with its credential (with
    /// `bearer`, the token of an Entra ID credential); its body marks
    /// `moving` as it is sent.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] for a header value HTTP cannot carry.
    pub(crate) fn build(
        &self,
        target: &AzureTarget,
        moving: &Moving,
        bearer: Option<&Secret>,
    ) -> Result<reqwest::Request> {
        let request = self;
        let mut path = target.endpoint.path().trim_end_matches('/').to_owned();
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
        if let Credential::Sas(token) = &target.credential {
            query.push(token.expose().to_owned());
        }
        let mut url: Url = target.endpoint.clone();
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
        if let Credential::SharedKey(key) = &target.credential {
            let pairs: Vec<(String, String)> = request
                .query
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect();
            let auth = key.authorization(request.method.as_str(), url.path(), &pairs, &headers);
            insert(&mut headers, "authorization", &auth)?;
        }
        if let Some(token) = bearer {
            // Marked sensitive: no log of the HTTP stack shows it.
            let mut value =
                HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
                    Error::Credential {
                        credential: "Entra ID".into(),
                        reason: "the token given cannot be sent as an HTTP header".into(),
                        unavailable: false,
                    }
                })?;
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let mut built = reqwest::Request::new(request.method.clone(), url);
        *built.headers_mut() = headers;
        if len > 0 {
            *built.body_mut() = Some(request.payload.body(moving));
        }
        Ok(built)
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
