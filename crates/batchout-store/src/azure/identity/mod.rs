//! Entra ID (OAuth) tokens for Azure Storage: where they come from, and how
//! they are kept.
//!
//! A [`TokenCredential`] gives an [`AccessToken`] for a scope. The sources a
//! task or a client meets are here, each one HTTP call or one process
//! (decision 0015 says why they are written here and not taken from
//! `azure_identity`):
//!
//! - [`ClientSecretCredential`]: a service principal and its secret
//!   (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`);
//! - [`WorkloadIdentityCredential`]: a federated token in a file, exchanged
//!   for an Entra ID token (`AZURE_FEDERATED_TOKEN_FILE`: Kubernetes'
//!   workload identity);
//! - [`ManagedIdentityCredential`]: the identity of the machine: an App
//!   Service or Container Apps endpoint (`IDENTITY_ENDPOINT`,
//!   `IDENTITY_HEADER`), else the instance metadata service (IMDS) of a VM
//!   or a Batch node;
//! - [`AzureCliCredential`]: the account the Azure CLI is logged in with.
//!
//! [`ChainedCredential`] tries them in that order and keeps the first that
//! answers; [`CachedCredential`] keeps a token for the process and refreshes
//! it before it expires, one refresh at a time. A Rust caller can bring its
//! own [`TokenCredential`] (`crate::open_with_credential`).
//!
//! No token, secret, identity header or federated token is ever shown:
//! [`Secret`] has a hand-written `Debug` and `Display`, errors carry what
//! the token service said, never what was sent, and nothing here logs a
//! token.

mod cache;
pub(crate) mod chain;
mod cli;
mod entra;
mod managed;
mod token;

use std::fmt;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

pub use cache::CachedCredential;
pub use chain::ChainedCredential;
pub use cli::AzureCliCredential;
pub use entra::{ClientSecretCredential, WorkloadIdentityCredential};
pub use managed::{IMDS_AUTHORITY, ManagedIdentityCredential};

use crate::Result;

/// The scope of a token for Azure Storage, as the v2.0 token endpoint takes
/// it.
pub const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";

/// The default authority: Entra ID's public cloud.
pub const PUBLIC_AUTHORITY: &str = "https://login.microsoftonline.com/";

/// A secret text: a token, a client secret, an identity header. Its `Debug`
/// and `Display` show `REDACTED`; [`Secret::expose`] gives the text, to send.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Keeps `text` as a secret.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The secret itself: only to send it where it belongs.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(REDACTED)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("REDACTED")
    }
}

/// A bearer token and when it expires.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AccessToken {
    /// The token, sent as `Authorization: Bearer …`.
    pub secret: Secret,
    /// When the service stops accepting it.
    pub expires_on: SystemTime,
}

impl AccessToken {
    /// A token that expires at `expires_on`.
    pub fn new(secret: Secret, expires_on: SystemTime) -> Self {
        Self { secret, expires_on }
    }

    /// How long it is still valid (zero once expired).
    pub fn remaining(&self) -> Duration {
        self.expires_on
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
    }
}

/// Something that gives Entra ID tokens.
///
/// Implementations fetch a new token each time they are asked; wrap one in
/// [`CachedCredential`] to keep it (an Azure store does this itself). They
/// must never reveal a token or secret in `Debug`, in [`Self::name`] or in
/// an error.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use batchout_store::azure::identity::{AccessToken, Secret, TokenCredential};
///
/// /// A token the caller got some other way.
/// #[derive(Debug)]
/// struct Fixed(Secret);
///
/// #[async_trait::async_trait]
/// impl TokenCredential for Fixed {
///     async fn token(&self, _scope: &str) -> batchout_store::Result<AccessToken> {
///         let expires = SystemTime::now() + Duration::from_secs(3600);
///         Ok(AccessToken::new(self.0.clone(), expires))
///     }
/// }
/// ```
#[async_trait]
pub trait TokenCredential: fmt::Debug + Send + Sync + 'static {
    /// A new token for `scope` ([`STORAGE_SCOPE`] for Blob Storage).
    ///
    /// # Errors
    ///
    /// [`crate::Error::Credential`] saying why, and what to do.
    async fn token(&self, scope: &str) -> Result<AccessToken>;

    /// What the source is, for logs and messages ("a managed identity
    /// (IMDS)"); never a secret.
    fn name(&self) -> String {
        "a token credential".to_owned()
    }
}

/// The resource a v1-style token endpoint (IMDS, App Service, the Azure
/// CLI) takes for `scope`: the scope without its `.default`
/// (`https://storage.azure.com/`).
pub(crate) fn resource_of(scope: &str) -> &str {
    scope.strip_suffix(".default").unwrap_or(scope)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_themselves() {
        let token = AccessToken::new(Secret::new("eyJhbGciOi.SECRET"), SystemTime::now());
        let shown = format!("{token:?} {}", token.secret);
        assert!(!shown.contains("SECRET"), "{shown}");
        assert_eq!(token.secret.expose(), "eyJhbGciOi.SECRET");
        assert_eq!(token.remaining(), Duration::ZERO);
    }

    #[test]
    fn the_resource_of_the_storage_scope_is_its_audience() {
        assert_eq!(resource_of(STORAGE_SCOPE), "https://storage.azure.com/");
        assert_eq!(resource_of("https://x/"), "https://x/");
    }
}
