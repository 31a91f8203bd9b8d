//! AWS credentials for S3: where they come from, and how they are kept.
//!
//! A [`ProvideCredentials`] gives [`Credentials`]: keys, a session token for
//! temporary ones, and when they expire. The sources are looked for in the
//! order of the AWS SDKs (`chain.rs`):
//!
//! 1. `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (with
//!    `AWS_SESSION_TOKEN`);
//! 2. the profile `AWS_PROFILE` (else `default`) of the shared files: a
//!    role it assumes (`role_arn` with `source_profile`,
//!    `credential_source` or `web_identity_token_file`: `sts.rs`), IAM
//!    Identity Center's role for it (`sso.rs`: the session `aws sso login`
//!    cached), its keys, or its `credential_process` (`process.rs`);
//! 3. a web identity: `AWS_WEB_IDENTITY_TOKEN_FILE` and `AWS_ROLE_ARN`, as
//!    EKS sets them for a service account's IAM role (`sts.rs`);
//! 4. a container's credentials endpoint: `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`
//!    (ECS) or `AWS_CONTAINER_CREDENTIALS_FULL_URI` (EKS Pod Identity), with
//!    its authorization token (`metadata.rs`);
//! 5. the EC2 instance's role, from the instance metadata service, IMDSv2
//!    (`metadata.rs`), unless `AWS_EC2_METADATA_DISABLED=true`.
//!
//! [`CachedCredentials`] keeps what its source gave and refreshes temporary
//! credentials before they expire (`crate::expiring`), so a `track` of a
//! day outlives the hour of an assumed role.
//!
//! No secret key, session token, web identity token or authorization token
//! is ever shown: they are [`Secret`]s, errors say what the service said,
//! never what was sent.

mod chain;
mod metadata;
mod process;
mod sso;
mod sts;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

pub(crate) use chain::resolve;
pub use metadata::{ContainerCredentials, InstanceCredentials};
pub use process::ProcessCredentials;
pub use sso::SsoCredentials;
pub use sts::{AssumeRole, WebIdentity};

use crate::expiring::{Expiring, Refreshing};
use crate::{Result, Secret};

/// The credentials requests are signed with. `Debug` shows the key id and
/// where they came from, never the secret key or the session token.
#[derive(Clone)]
pub struct Credentials {
    /// The access key id (not a secret: AWS shows it in its consoles).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Secret,
    /// The session token of temporary credentials.
    pub session_token: Option<Secret>,
    /// When temporary credentials expire; `None` for keys that do not.
    pub expires_on: Option<SystemTime>,
    /// Where they came from, for messages: `AWS_ACCESS_KEY_ID`, `profile
    /// NAME`, `the instance's role NAME (IMDS)`…
    pub source: String,
}

impl Credentials {
    /// Long-term keys (or a session that the caller renews), from `source`.
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: Secret,
        session_token: Option<Secret>,
        source: impl Into<String>,
    ) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key,
            session_token,
            expires_on: None,
            source: source.into(),
        }
    }

    /// What a message tells the user to check for the key id and for the
    /// secret key: the variables, a profile's settings, or the source.
    pub(crate) fn key_settings(&self) -> (String, String) {
        if self.source == "AWS_ACCESS_KEY_ID" {
            (
                "AWS_ACCESS_KEY_ID".to_owned(),
                "AWS_SECRET_ACCESS_KEY".to_owned(),
            )
        } else if self.source.starts_with("profile ") {
            (
                format!("aws_access_key_id of the {}", self.source),
                format!("aws_secret_access_key of the {}", self.source),
            )
        } else {
            (self.source.clone(), self.source.clone())
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"REDACTED")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "REDACTED"),
            )
            .field(
                "expires_on",
                &self.expires_on.map(humantime::format_rfc3339_seconds),
            )
            .field("source", &self.source)
            .finish()
    }
}

impl Expiring for Credentials {
    fn expires_on(&self) -> Option<SystemTime> {
        self.expires_on
    }
}

/// Something that gives AWS credentials.
///
/// Implementations fetch new credentials each time they are asked; an S3
/// store keeps them in a [`CachedCredentials`]. They must never reveal a
/// secret in `Debug`, in [`Self::name`] or in an error.
#[async_trait]
pub trait ProvideCredentials: fmt::Debug + Send + Sync + 'static {
    /// New credentials.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Credential`] saying why, and what to do.
    async fn credentials(&self) -> Result<Credentials>;

    /// What the source is, for logs and messages ("the instance's role
    /// (IMDS)"); never a secret.
    fn name(&self) -> String;
}

/// Credentials given once: keys from the variables or a profile.
#[derive(Debug, Clone)]
pub struct StaticCredentials(pub Credentials);

#[async_trait]
impl ProvideCredentials for StaticCredentials {
    async fn credentials(&self) -> Result<Credentials> {
        Ok(self.0.clone())
    }

    fn name(&self) -> String {
        self.0.source.clone()
    }
}

/// The credentials of another source, kept for the process and refreshed
/// before they expire, one refresh at a time.
pub struct CachedCredentials {
    inner: Arc<dyn ProvideCredentials>,
    kept: Refreshing<Credentials>,
}

impl CachedCredentials {
    /// Keeps the credentials `inner` gives.
    pub fn new(inner: Arc<dyn ProvideCredentials>) -> Self {
        Self {
            inner,
            kept: Refreshing::new(),
        }
    }
}

impl fmt::Debug for CachedCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedCredentials")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl ProvideCredentials for CachedCredentials {
    async fn credentials(&self) -> Result<Credentials> {
        let name = || self.inner.name();
        self.kept
            .get(
                || self.inner.credentials(),
                "the temporary AWS credentials",
                |obtained| match obtained.lifetime {
                    Some(life) if obtained.first => tracing::info!(
                        "signed in to S3 with {} (temporary credentials valid for {}s)",
                        name(),
                        life.as_secs()
                    ),
                    Some(life) => tracing::debug!(
                        "refreshed the temporary credentials of {} (valid for {}s)",
                        name(),
                        life.as_secs()
                    ),
                    None => tracing::debug!("signing S3 requests with {}", name()),
                },
            )
            .await
    }

    fn name(&self) -> String {
        self.inner.name()
    }
}

/// Credentials from the JSON that the instance metadata service, a
/// container's credentials endpoint and a `credential_process` give:
/// `AccessKeyId`, `SecretAccessKey`, `Token` (or `SessionToken`) and
/// `Expiration` (RFC 3339; absent for keys that do not expire).
pub(crate) fn from_json(body: &str, source: &str) -> Option<Credentials> {
    let json: serde_json::Value = serde_json::from_str(body).ok()?;
    let text = |name: &str| {
        json.get(name)
            .and_then(|v| v.as_str())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let expires_on = match text("Expiration") {
        Some(at) => Some(parse_time(&at)?),
        None => None,
    };
    Some(Credentials {
        access_key_id: text("AccessKeyId")?,
        secret_access_key: Secret::new(text("SecretAccessKey")?),
        session_token: text("Token")
            .or_else(|| text("SessionToken"))
            .map(Secret::new),
        expires_on,
        source: source.to_owned(),
    })
}

/// An RFC 3339 time as AWS writes them (`2026-12-07T08:00:00Z`, with or
/// without fractions of a second, or with an offset).
pub(crate) fn parse_time(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    if text.ends_with(['Z', 'z']) {
        return humantime::parse_rfc3339_weak(text.trim_end_matches(['Z', 'z'])).ok();
    }
    // An offset such as +00:00 or -05:00.
    let (time, sign, offset) = match text.len().checked_sub(6) {
        Some(at) if text.is_char_boundary(at) && text[at..].starts_with(['+', '-']) => {
            (&text[..at], &text[at..=at], &text[at + 1..])
        }
        _ => return None,
    };
    let (hours, minutes) = offset.split_once(':')?;
    let shift =
        Duration::from_secs(hours.parse::<u64>().ok()? * 3600 + minutes.parse::<u64>().ok()? * 60);
    let local = humantime::parse_rfc3339_weak(time).ok()?;
    if sign == "+" {
        local.checked_sub(shift)
    } else {
        local.checked_add(shift)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_read_from_every_json_shape_and_never_shown() {
        let imds = from_json(
            r#"{"Code":"Success","LastUpdated":"2026-12-07T06:00:00Z","Type":"AWS-HMAC","AccessKeyId":"ASIAX","SecretAccessKey":"SECRETKEY","Token":"SESSIONTOKEN","Expiration":"2026-12-07T12:00:00Z"}"#,
            "imds",
        )
        .expect("imds");
        assert_eq!(imds.access_key_id, "ASIAX");
        assert_eq!(
            imds.session_token.as_ref().map(Secret::expose),
            Some("SESSIONTOKEN")
        );
        assert_eq!(
            imds.expires_on,
            humantime::parse_rfc3339("2026-12-07T12:00:00Z").ok()
        );
        let shown = format!("{imds:?}");
        assert!(
            !shown.contains("SECRETKEY") && !shown.contains("SESSIONTOKEN"),
            "{shown}"
        );
        let process = from_json(
            r#"{"Version":1,"AccessKeyId":"AKIA","SecretAccessKey":"s","SessionToken":"t","Expiration":"2026-12-07T12:00:00.123+01:00"}"#,
            "process",
        )
        .expect("process");
        assert_eq!(
            process.expires_on,
            humantime::parse_rfc3339("2026-12-07T11:00:00.123Z").ok()
        );
        let keys = from_json(
            r#"{"Version":1,"AccessKeyId":"AKIA","SecretAccessKey":"s"}"#,
            "p",
        )
        .expect("no expiry");
        assert!(keys.expires_on.is_none() && keys.session_token.is_none());
        assert!(from_json(r#"{"AccessKeyId":"AKIA"}"#, "p").is_none());
        assert!(
            from_json(
                r#"{"AccessKeyId":"A","SecretAccessKey":"s","Expiration":"soon"}"#,
                "p"
            )
            .is_none()
        );
        assert!(from_json("<html>", "p").is_none());
    }
}
