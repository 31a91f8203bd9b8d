//! Credentials for Azure Blob Storage, and Shared Key request signing.
//!
//! Neither type ever shows its secret: `Debug` and `Display` are written by hand,
//! and a SAS token is shown with its signature replaced by `REDACTED`.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use reqwest::header::HeaderMap;
use sha2::Sha256;

use crate::{Error, Result};

/// A storage account name and its access key.
#[derive(Clone)]
pub struct SharedKey {
    account: String,
    key: Vec<u8>,
}

impl SharedKey {
    /// An account and its base64 access key.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidStoreUrl`] when the key is not base64 (the message never
    /// contains the key).
    pub fn new(account: impl Into<String>, base64_key: &str) -> Result<Self> {
        let account = account.into();
        let key = BASE64
            .decode(base64_key.trim())
            .map_err(|_| Error::InvalidStoreUrl {
                url: format!("account {account}"),
                reason: "the account key is not valid base64; copy it again from the storage account's access keys".into(),
            })?;
        Ok(Self { account, key })
    }

    /// The account name.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// HMAC-SHA256 of `text` with the key, base64.
    pub(crate) fn sign(&self, text: &str) -> String {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(text.as_bytes());
        BASE64.encode(mac.finalize().into_bytes())
    }

    /// The `Authorization` header value for a request (Shared Key, version
    /// 2009-09-19 and later). `path` is the URL path exactly as sent
    /// (percent-encoded); `query` the decoded query pairs.
    pub(crate) fn authorization(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        headers: &HeaderMap,
    ) -> String {
        let string_to_sign = string_to_sign(&self.account, method, path, query, headers);
        format!("SharedKey {}:{}", self.account, self.sign(&string_to_sign))
    }
}

impl fmt::Debug for SharedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedKey")
            .field("account", &self.account)
            .field("key", &"REDACTED")
            .finish()
    }
}

/// The standard headers that Shared Key signs, in order.
const SIGNED_HEADERS: [&str; 11] = [
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
];

fn string_to_sign(
    account: &str,
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
) -> String {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let mut text = String::with_capacity(256);
    text.push_str(method);
    text.push('\n');
    for name in SIGNED_HEADERS {
        let value = header(name);
        // A zero Content-Length is signed as empty (version 2015-02-21 on).
        if !(name == "content-length" && value == "0") {
            text.push_str(value);
        }
        text.push('\n');
    }
    let mut ms: Vec<(String, &str)> = headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("x-ms-"))
        .filter_map(|(name, value)| {
            Some((name.as_str().to_ascii_lowercase(), value.to_str().ok()?))
        })
        .collect();
    ms.sort();
    for (name, value) in ms {
        text.push_str(&name);
        text.push(':');
        text.push_str(value.trim());
        text.push('\n');
    }
    text.push('/');
    text.push_str(account);
    text.push_str(path);
    let mut pairs: Vec<(String, &str)> = query
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str()))
        .collect();
    pairs.sort();
    for (name, value) in pairs {
        text.push('\n');
        text.push_str(&name);
        text.push(':');
        text.push_str(value);
    }
    text
}

/// A shared access signature: the query string of a SAS URL, without `?`.
#[derive(Clone, PartialEq, Eq)]
pub struct SasToken(String);

impl SasToken {
    /// A token from a query string (a leading `?` is dropped).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidStoreUrl`] when it has no signature (`sig=`).
    pub fn new(query: &str) -> Result<Self> {
        let query = query.trim().trim_start_matches('?');
        if !query.split('&').any(|pair| pair.starts_with("sig=")) {
            return Err(Error::InvalidStoreUrl {
                url: redact_query(query),
                reason: "a SAS token needs a signature (sig=…); copy the whole SAS URL or token"
                    .into(),
            });
        }
        Ok(Self(query.to_owned()))
    }

    /// The token, secret included: only for building request URLs.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// A field of the token, decoded (`se` for the expiry, `sp` the permissions).
    pub fn field(&self, name: &str) -> Option<String> {
        self.0.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            (key == name).then(|| {
                percent_encoding::percent_decode_str(value)
                    .decode_utf8_lossy()
                    .into_owned()
            })
        })
    }

    /// The token with its signature replaced by `REDACTED`.
    pub fn redacted(&self) -> String {
        redact_query(&self.0)
    }
}

impl fmt::Debug for SasToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SasToken({})", self.redacted())
    }
}

impl fmt::Display for SasToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// A query string with the value of `sig` replaced by `REDACTED`.
pub fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if name.eq_ignore_ascii_case("sig") => format!("{name}=REDACTED"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    const KEY: &str =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    #[test]
    fn debug_never_shows_the_key() {
        let key = SharedKey::new("devstoreaccount1", KEY).expect("valid key");
        let shown = format!("{key:?}");
        assert!(!shown.contains("Eby8"), "{shown}");
        assert!(shown.contains("devstoreaccount1"));
    }

    #[test]
    fn a_bad_key_is_refused_without_echoing_it() {
        let err = SharedKey::new("acct", "not base64 !!").unwrap_err();
        assert!(!err.to_string().contains("not base64 !!"), "{err}");
    }

    #[test]
    fn sas_tokens_show_no_signature() {
        let token = SasToken::new("?sv=2021-12-02&sr=c&sp=racwl&sig=abc%2Bdef").expect("has sig");
        assert_eq!(token.redacted(), "sv=2021-12-02&sr=c&sp=racwl&sig=REDACTED");
        assert!(!format!("{token:?} {token}").contains("abc"));
        assert!(SasToken::new("sv=1&sp=r").is_err());
    }

    #[test]
    fn string_to_sign_follows_the_shared_key_layout() {
        let mut headers = HeaderMap::new();
        headers.insert("x-ms-version", HeaderValue::from_static("2021-12-02"));
        headers.insert(
            "x-ms-date",
            HeaderValue::from_static("Tue, 24 Nov 2026 17:00:00 GMT"),
        );
        headers.insert("content-length", HeaderValue::from_static("0"));
        headers.insert("x-ms-blob-type", HeaderValue::from_static("AppendBlob"));
        let query = vec![
            ("restype".to_owned(), "container".to_owned()),
            ("comp".to_owned(), "list".to_owned()),
        ];
        let text = string_to_sign("acct", "PUT", "/acct/c/a%20b", &query, &headers);
        let expected = "PUT\n\n\n\n\n\n\n\n\n\n\n\n\
            x-ms-blob-type:AppendBlob\nx-ms-date:Tue, 24 Nov 2026 17:00:00 GMT\nx-ms-version:2021-12-02\n\
            /acct/acct/c/a%20b\ncomp:list\nrestype:container";
        assert_eq!(text, expected);
    }
}
