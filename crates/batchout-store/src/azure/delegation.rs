//! User delegation keys: what a store signed in with Entra ID signs a SAS
//! with, having no account key (decision 0015, step 2).
//!
//! Get User Delegation Key (`POST /?restype=service&comp=userdelegationkey`,
//! with the bearer token) gives a key for a time of at most 7 days from its
//! start, bound to the identity that asked (its object and tenant ids). A
//! SAS signed with it grants no more than that identity's roles permit, and
//! stops working when the key expires, or when the identity loses its role.
//! Its value is a secret as the account key is: held decoded, never shown,
//! never logged.

use std::fmt;
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use quick_xml::Reader;
use quick_xml::events::Event;
use reqwest::Method;
use sha2::Sha256;

use super::AzureStore;
use super::credential::SasToken;
use super::request::Request;
use super::sas::{self, START_SKEW, USER_DELEGATION_MAX};
use crate::remote::http::Payload;
use crate::{ContainerName, Error, Result};

/// What the request is, in messages: "… refused to get a user delegation
/// key for the account's containers".
pub(super) const OPERATION: &str = "get a user delegation key for";

/// A user delegation key, as the service gave it. Its `Debug` never shows
/// the key.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct UserDelegationKey {
    /// The identity's object id (`skoid`).
    pub(crate) object_id: String,
    /// The identity's tenant (`sktid`).
    pub(crate) tenant_id: String,
    /// When the key starts (`skt`), exactly as the service wrote it.
    pub(crate) start: String,
    /// When the key expires (`ske`), exactly as the service wrote it.
    pub(crate) expiry: String,
    /// The service it is for (`sks`): `b`, blobs.
    pub(crate) service: String,
    /// The service version that made it (`skv`).
    pub(crate) version: String,
    /// The key, decoded.
    value: Vec<u8>,
}

impl UserDelegationKey {
    /// HMAC-SHA256 of `text` with the key, base64.
    pub(crate) fn sign(&self, text: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.value)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(text.as_bytes());
        BASE64.encode(mac.finalize().into_bytes())
    }

    /// Reads a Get User Delegation Key answer.
    ///
    /// # Errors
    ///
    /// What is wrong with it: not XML, a field missing, a value that is not
    /// base64. Never the value itself.
    pub(crate) fn parse(xml: &str) -> std::result::Result<Self, String> {
        let mut reader = Reader::from_str(xml);
        let mut path: Vec<String> = Vec::new();
        let mut fields: Vec<(String, String)> = Vec::new();
        loop {
            match reader.read_event() {
                Ok(Event::Start(start)) => {
                    path.push(String::from_utf8_lossy(start.name().as_ref()).into_owned());
                }
                Ok(Event::End(_)) => {
                    path.pop();
                }
                Ok(Event::Text(text)) => {
                    if let [.., parent, name] = path.as_slice()
                        && parent == "UserDelegationKey"
                    {
                        let value = text
                            .unescape()
                            .map_err(|_| format!("the text of {name} cannot be read"))?;
                        fields.push((name.clone(), value.trim().to_owned()));
                    }
                }
                Ok(Event::Eof) => break,
                Ok(_) => {}
                // The reader's message may quote the text, which may hold
                // the key: only where it broke is said.
                Err(_) => {
                    return Err(format!(
                        "it is not valid XML (at byte {})",
                        reader.buffer_position()
                    ));
                }
            }
        }
        let field = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("it has no {name}"))
        };
        let value = BASE64
            .decode(field("Value")?)
            .map_err(|_| "its Value is not base64".to_owned())?;
        Ok(Self {
            object_id: field("SignedOid")?,
            tenant_id: field("SignedTid")?,
            start: field("SignedStart")?,
            expiry: field("SignedExpiry")?,
            service: field("SignedService")?,
            version: field("SignedVersion")?,
            value,
        })
    }
}

impl fmt::Debug for UserDelegationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserDelegationKey")
            .field("object_id", &self.object_id)
            .field("tenant_id", &self.tenant_id)
            .field("start", &self.start)
            .field("expiry", &self.expiry)
            .field("service", &self.service)
            .field("version", &self.version)
            .field("value", &"REDACTED")
            .finish()
    }
}

/// The body of a Get User Delegation Key request.
fn key_info(start: &str, expiry: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<KeyInfo><Start>{start}</Start><Expiry>{expiry}</Expiry></KeyInfo>"
    )
}

/// When a user delegation SAS asked to expire at `asked` starts and
/// expires: it starts [`START_SKEW`] before `now`, as its key does, and
/// expires at `asked` or [`USER_DELEGATION_MAX`] after its start, whichever
/// is sooner.
pub(crate) fn validity(now: SystemTime, asked: SystemTime) -> (SystemTime, SystemTime) {
    let start = now - START_SKEW;
    (start, asked.min(start + USER_DELEGATION_MAX))
}

/// A user delegation SAS for `container`, and when it expires: a key is
/// asked of the service for the SAS's own time (see [`validity`]), with the
/// store's bearer token, and the SAS is signed with it.
///
/// # Errors
///
/// Invalid permission letters (before any request); the service refusing
/// the key ([`Error::Denied`], with the role the identity lacks) or
/// answering what cannot be read; a token that cannot be had.
pub(super) async fn container_sas(
    store: &AzureStore,
    container: &ContainerName,
    permissions: &str,
    asked: SystemTime,
) -> Result<(SasToken, SystemTime)> {
    let permissions = sas::normalise_permissions(permissions)?;
    let (start, expiry) = validity(SystemTime::now(), asked);
    let shown = |time| humantime::format_rfc3339_seconds(time).to_string();
    let body = key_info(&shown(start), &shown(expiry));
    let request = Request::account(OPERATION, Method::POST)
        .query("restype", "service")
        .query("comp", "userdelegationkey")
        .header("content-type", "application/xml")
        .payload(Payload::Bytes(Bytes::from(body)));
    let answer = store.text_of(&request).await?;
    let key = UserDelegationKey::parse(&answer).map_err(|reason| Error::Service {
        store: store.to_string(),
        operation: OPERATION,
        target: request.target(),
        status: 200,
        code: "-".into(),
        message: format!("the user delegation key cannot be read: {reason}"),
    })?;
    let token = sas::user_delegation_sas(
        &key,
        &store.target().account,
        container,
        &permissions,
        start,
        expiry,
    )?;
    Ok((token, expiry))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const ANSWER: &str = "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?><UserDelegationKey><SignedOid>00000000-0000-4000-8000-0000000000aa</SignedOid><SignedTid>72f988bf-86f1-41af-91ab-2d7cd011db47</SignedTid><SignedStart>2026-12-07T09:55:00Z</SignedStart><SignedExpiry>2026-12-14T09:55:00Z</SignedExpiry><SignedService>b</SignedService><SignedVersion>2021-12-02</SignedVersion><Value>a2V5IG9mIHRoZSB0ZXN0</Value></UserDelegationKey>";

    #[test]
    fn a_key_is_read_from_the_answer_and_never_shown() {
        let key = UserDelegationKey::parse(ANSWER).expect("a key");
        assert_eq!(key.object_id, "00000000-0000-4000-8000-0000000000aa");
        assert_eq!(key.tenant_id, "72f988bf-86f1-41af-91ab-2d7cd011db47");
        assert_eq!(key.start, "2026-12-07T09:55:00Z");
        assert_eq!(key.expiry, "2026-12-14T09:55:00Z");
        assert_eq!(
            (key.service.as_str(), key.version.as_str()),
            ("b", "2021-12-02")
        );
        assert_eq!(key.value, b"key of the test");
        let shown = format!("{key:?}");
        assert!(shown.contains("REDACTED"), "{shown}");
        assert!(
            !shown.contains("a2V5") && !shown.contains("key of"),
            "{shown}"
        );
    }

    #[test]
    fn a_bad_answer_says_what_is_wrong_without_its_value() {
        let missing = ANSWER.replace(
            "<SignedTid>72f988bf-86f1-41af-91ab-2d7cd011db47</SignedTid>",
            "",
        );
        assert_eq!(
            UserDelegationKey::parse(&missing).unwrap_err(),
            "it has no SignedTid"
        );
        let bad = ANSWER.replace("a2V5IG9mIHRoZSB0ZXN0", "not base64 at all!");
        let err = UserDelegationKey::parse(&bad).unwrap_err();
        assert_eq!(err, "its Value is not base64");
        let broken = ANSWER.replace("</Value>", "</Valu>");
        let err = UserDelegationKey::parse(&broken).unwrap_err();
        assert!(err.starts_with("it is not valid XML"), "{err}");
        assert!(!err.contains("a2V5"), "{err}");
    }

    #[test]
    fn the_sas_starts_back_and_lasts_at_most_seven_days_from_its_start() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        let hour = Duration::from_secs(3600);
        let (start, expiry) = validity(now, now + hour);
        assert_eq!(start, now - START_SKEW);
        assert_eq!(expiry, now + hour, "within the limit: as asked");
        let (start, expiry) = validity(now, now + 30 * 24 * hour);
        assert_eq!(expiry, start + USER_DELEGATION_MAX, "capped");
        let (start, expiry) = validity(now, now + 7 * 24 * hour);
        assert_eq!(
            expiry,
            start + USER_DELEGATION_MAX,
            "7 days from now is 5 minutes past the key's limit"
        );
    }

    #[test]
    fn the_key_request_names_start_and_expiry() {
        assert_eq!(
            key_info("2026-12-07T09:55:00Z", "2026-12-14T09:55:00Z"),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<KeyInfo><Start>2026-12-07T09:55:00Z</Start><Expiry>2026-12-14T09:55:00Z</Expiry></KeyInfo>"
        );
    }
}
