//! One S3 request, described ([`Request`]) and made into HTTP: its URL (the
//! key percent-encoded as S3 wants it, path-style or virtual-hosted), its
//! headers, and the Signature Version 4 that signs it.
//!
//! A body of up to 1 MiB is signed with its SHA-256; a larger one is sent as
//! `UNSIGNED-PAYLOAD`, as the AWS SDKs send large uploads: hashing every byte
//! with SHA-256 would cost the client many times the CRC-64/NVME that each
//! upload carries in `x-amz-checksum-crc64nvme`, which the server checks
//! (decision 0016).

use std::borrow::Cow;
use std::time::SystemTime;

use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use sha2::{Digest, Sha256};

use super::config::S3Target;
use super::credentials::Credentials;
use crate::checksum::hex;
use crate::remote::http::{Moving, Payload, SMALL_BODY};
use crate::{ContainerName, Error, Result};

/// Characters kept as they are in a key: S3's unreserved ones and `/`.
const KEY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');
/// Characters kept as they are in a query name or value.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The payload hash of a body sent unsigned.
const UNSIGNED: &str = "UNSIGNED-PAYLOAD";

/// The file, in each container's folder, that marks the container and holds
/// its metadata.
pub const MARKER: &str = ".batchout-container";

/// One request, described; [`super::client::Client::send`] turns it into
/// HTTP.
pub struct Request<'a> {
    /// What is being done, for messages ("write", "read", …).
    pub operation: &'static str,
    /// The HTTP method.
    pub method: Method,
    /// The container, for messages and errors; `None` for a request about
    /// the store's containers.
    pub container: Option<&'a ContainerName>,
    /// The blob, for blob operations.
    pub blob: Option<&'a str>,
    /// The object's whole key; `None` for a request to the bucket.
    pub key: Option<String>,
    /// Query parameters (not encoded).
    pub query: Vec<(&'static str, String)>,
    /// Extra headers.
    pub headers: Vec<(Cow<'static, str>, String)>,
    /// The body.
    pub(crate) payload: Payload,
}

impl<'a> Request<'a> {
    /// A request about the object `blob` of `container`, whose key is
    /// `prefix` (the store's), the container, `/` and the blob.
    pub fn object(
        operation: &'static str,
        method: Method,
        prefix: &str,
        container: &'a ContainerName,
        blob: &'a str,
    ) -> Self {
        Self {
            key: Some(format!("{prefix}{container}/{blob}")),
            ..Self::bucket(operation, method, Some(container))
        }
    }

    /// A request to the bucket itself (a listing), about `container` if
    /// given.
    pub fn bucket(
        operation: &'static str,
        method: Method,
        container: Option<&'a ContainerName>,
    ) -> Self {
        Self {
            operation,
            method,
            container,
            blob: None,
            key: None,
            query: Vec::new(),
            headers: Vec::new(),
            payload: Payload::Empty,
        }
    }

    /// The blob this is about, for messages and errors.
    pub fn about(mut self, blob: &'a str) -> Self {
        self.blob = Some(blob);
        self
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

    /// Sets the body.
    pub(crate) fn payload(mut self, payload: Payload) -> Self {
        self.payload = payload;
        self
    }

    /// The container, as shown in messages (empty for the store).
    pub(crate) fn container_name(&self) -> String {
        self.container.map(ToString::to_string).unwrap_or_default()
    }

    /// Whether this request moves a body whose time grows with its size: an
    /// upload of more than [`SMALL_BODY`], or an object's content.
    pub(crate) fn is_transfer(&self) -> bool {
        self.payload.len() > SMALL_BODY
            || (self.method == Method::GET && self.key.is_some() && self.blob != Some(MARKER))
    }

    /// What the request is about, for messages.
    pub fn target(&self) -> String {
        match (self.container, self.blob) {
            (Some(container), Some(blob)) => format!("{container}/{blob}"),
            (Some(container), None) => format!("container {container}"),
            (None, _) => "the store's containers".to_owned(),
        }
    }

    /// The HTTP request for `target`, signed at `now`; its body marks
    /// `moving` as it is sent.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] for a key with a `.` or `..` segment (which an
    /// HTTP client resolves away), and for a header value HTTP cannot carry.
    pub(crate) fn build(
        &self,
        target: &S3Target,
        credentials: &Credentials,
        moving: &Moving,
        now: SystemTime,
    ) -> Result<reqwest::Request> {
        let path = self.path(target)?;
        let query = canonical_query(&self.query);
        let mut url = target.endpoint.clone();
        url.set_path(&path);
        url.set_query((!query.is_empty()).then_some(query.as_str()));
        let host = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        };
        let body_hash = match &self.payload {
            Payload::Bytes(bytes) if bytes.len() as u64 > SMALL_BODY => UNSIGNED.to_owned(),
            Payload::Bytes(bytes) => hex(&Sha256::digest(bytes)),
            Payload::Empty => hex(&Sha256::digest(b"")),
        };
        let mut signed: Vec<(String, String)> = vec![
            ("host".into(), host),
            ("x-amz-content-sha256".into(), body_hash.clone()),
            ("x-amz-date".into(), amz_date(now)),
        ];
        if let Some(token) = &credentials.session_token {
            signed.push(("x-amz-security-token".into(), token.expose().to_owned()));
        }
        for (name, value) in &self.headers {
            signed.push((name.to_ascii_lowercase(), value.trim().to_owned()));
        }
        signed.sort();
        let authorization = authorization(
            credentials,
            &target.region,
            "s3",
            &Canonical {
                method: self.method.as_str(),
                path: &path,
                query: &query,
                headers: &signed,
                body_hash: &body_hash,
            },
            now,
        );

        let mut headers = HeaderMap::new();
        for (name, value) in &signed {
            if name == "host" {
                continue;
            }
            insert(&mut headers, name, value, name == "x-amz-security-token")?;
        }
        insert(&mut headers, "authorization", &authorization, true)?;
        let len = self.payload.len();
        if matches!(self.method, Method::PUT | Method::POST) {
            insert(&mut headers, "content-length", &len.to_string(), false)?;
        }
        let mut built = reqwest::Request::new(self.method.clone(), url);
        *built.headers_mut() = headers;
        if len > 0 {
            *built.body_mut() = Some(self.payload.body(moving));
        }
        Ok(built)
    }

    /// The value of `x-amz-copy-source` that names this request's own
    /// object: `/BUCKET/KEY`, the key encoded as in a path.
    pub(crate) fn copy_source(&self, target: &S3Target) -> Option<String> {
        let key = self.key.as_deref()?;
        Some(format!(
            "/{}/{}",
            target.bucket,
            utf8_percent_encode(key, KEY)
        ))
    }

    /// The request's path, encoded: the endpoint's own path, the bucket
    /// when path-style, then the key.
    fn path(&self, target: &S3Target) -> Result<String> {
        let mut path = target.endpoint.path().trim_end_matches('/').to_owned();
        if target.path_style {
            path.push('/');
            path.push_str(&target.bucket);
        }
        match &self.key {
            Some(key) => {
                if key.split('/').any(|s| s == "." || s == "..") {
                    return Err(Error::InvalidName {
                        name: self.blob.unwrap_or(key).to_owned(),
                        reason: "a name with a '.' or '..' segment cannot be addressed in S3 by batchout (HTTP clients and servers resolve such segments away)".into(),
                    });
                }
                path.push('/');
                path.push_str(&utf8_percent_encode(key, KEY).to_string());
            }
            None if path.is_empty() => path.push('/'),
            None => {}
        }
        Ok(path)
    }
}

/// What the signature covers.
pub(crate) struct Canonical<'a> {
    /// The HTTP method.
    pub(crate) method: &'a str,
    /// The path, encoded.
    pub(crate) path: &'a str,
    /// The query, encoded and sorted.
    pub(crate) query: &'a str,
    /// Lower-case names, trimmed values, sorted by name.
    pub(crate) headers: &'a [(String, String)],
    /// The hex SHA-256 of the body, or `UNSIGNED-PAYLOAD`.
    pub(crate) body_hash: &'a str,
}

/// The query as S3 signs it and as it is sent: names and values encoded,
/// sorted by name then value.
fn canonical_query(query: &[(&'static str, String)]) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| {
            (
                utf8_percent_encode(k, QUERY).to_string(),
                utf8_percent_encode(v, QUERY).to_string(),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// `YYYYMMDD'T'HHMMSS'Z'` of `now`, in UTC.
pub(crate) fn amz_date(now: SystemTime) -> String {
    humantime::format_rfc3339_seconds(now)
        .to_string()
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect()
}

/// The `Authorization` header of Signature Version 4 over `canonical`, for
/// `service` (`s3`, `sts`) in `region`.
pub(crate) fn authorization(
    credentials: &Credentials,
    region: &str,
    service: &str,
    canonical: &Canonical<'_>,
    now: SystemTime,
) -> String {
    let stamp = amz_date(now);
    let date = &stamp[..8];
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let names: Vec<&str> = canonical.headers.iter().map(|(n, _)| n.as_str()).collect();
    let signed_headers = names.join(";");
    let mut request = format!(
        "{}\n{}\n{}\n",
        canonical.method, canonical.path, canonical.query
    );
    for (name, value) in canonical.headers {
        request.push_str(name);
        request.push(':');
        request.push_str(value);
        request.push('\n');
    }
    request.push('\n');
    request.push_str(&signed_headers);
    request.push('\n');
    request.push_str(canonical.body_hash);
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{}",
        hex(&Sha256::digest(request.as_bytes()))
    );
    let secret = format!("AWS4{}", credentials.secret_access_key.expose());
    let mut key = hmac(secret.as_bytes(), date.as_bytes());
    for part in [region, service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let signature = hex(&hmac(&key, to_sign.as_bytes()));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        credentials.access_key_id
    )
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Sets a header, refusing values HTTP cannot carry; a secret one is marked
/// sensitive, so no log of the HTTP stack shows it.
fn insert(headers: &mut HeaderMap, name: &str, value: &str, sensitive: bool) -> Result<()> {
    let bad = |error: String| Error::InvalidName {
        name: if sensitive { "REDACTED" } else { value }.to_owned(),
        reason: format!("cannot be sent as the HTTP header {name}: {error}"),
    };
    let header = HeaderName::from_bytes(name.as_bytes()).map_err(|e| bad(e.to_string()))?;
    let mut value = HeaderValue::from_str(value).map_err(|e| bad(e.to_string()))?;
    value.set_sensitive(sensitive);
    headers.insert(header, value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::Secret;

    /// The examples of AWS's documentation of Signature Version 4 for S3
    /// ("Signature Calculations for the Authorization Header"), with their
    /// published signatures.
    fn example_credentials() -> Credentials {
        Credentials::new(
            "AKIAIOSFODNN7EXAMPLE",
            Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            None,
            "test",
        )
    }

    /// 2013-05-24T00:00:00Z.
    fn example_time() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_369_353_600)
    }

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn signed(method: &str, path: &str, query: &str, extra: &[(&str, &str)]) -> String {
        let mut headers: Vec<(String, String)> = vec![
            ("host".into(), "examplebucket.s3.amazonaws.com".into()),
            ("x-amz-content-sha256".into(), EMPTY.into()),
            ("x-amz-date".into(), "20130524T000000Z".into()),
        ];
        headers.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        headers.sort();
        authorization(
            &example_credentials(),
            "us-east-1",
            "s3",
            &Canonical {
                method,
                path,
                query,
                headers: &headers,
                body_hash: EMPTY,
            },
            example_time(),
        )
    }

    #[test]
    fn signatures_match_the_published_examples() {
        assert_eq!(amz_date(example_time()), "20130524T000000Z");
        let get = signed("GET", "/test.txt", "", &[("range", "bytes=0-9")]);
        assert_eq!(
            get,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
        let query = canonical_query(&[("prefix", "J".into()), ("max-keys", "2".into())]);
        assert_eq!(query, "max-keys=2&prefix=J");
        let list = signed("GET", "/", &query, &[]);
        assert!(
            list.ends_with(
                "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
            ),
            "{list}"
        );
    }

    #[test]
    fn keys_and_queries_are_encoded_as_s3_signs_them() {
        assert_eq!(
            canonical_query(&[
                ("continuation-token", "a+b/c=".into()),
                ("list-type", "2".into())
            ]),
            "continuation-token=a%2Bb%2Fc%3D&list-type=2"
        );
        let target = super::super::config::from_url("s3://bucket/pre", &|name: &str| match name {
            "AWS_ACCESS_KEY_ID" => Some("id".into()),
            "AWS_SECRET_ACCESS_KEY" => Some("secret".into()),
            "AWS_ENDPOINT_URL" => Some("http://127.0.0.1:9000".into()),
            _ => None,
        })
        .expect("valid");
        let container = ContainerName::parse("job-x").expect("valid");
        let request = Request::object(
            "read",
            Method::GET,
            &target.prefix,
            &container,
            "t1/$TaskLog/a b+é.txt",
        );
        assert_eq!(
            request.path(&target).expect("a path"),
            "/bucket/pre/job-x/t1/%24TaskLog/a%20b%2B%C3%A9.txt"
        );
        let climbing = Request::object("read", Method::GET, "", &container, "t/../x");
        assert!(matches!(
            climbing.path(&target),
            Err(Error::InvalidName { .. })
        ));
        let list = Request::bucket("list", Method::GET, None);
        assert_eq!(list.path(&target).expect("a path"), "/bucket");
    }
}
