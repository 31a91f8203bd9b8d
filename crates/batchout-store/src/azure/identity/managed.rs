//! A managed identity: the machine's own, given by the platform it runs on.
//!
//! - App Service, Container Apps (and Azure Functions) set `IDENTITY_ENDPOINT`
//!   and `IDENTITY_HEADER`: `GET {endpoint}?api-version=2019-08-01&resource=…`
//!   with the header `X-IDENTITY-HEADER`.
//! - A VM, a scale set, a Batch node: the instance metadata service (IMDS),
//!   `GET http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=…`
//!   with `Metadata: true`. `AZURE_POD_IDENTITY_AUTHORITY_HOST` moves it, as
//!   the Azure SDKs allow (tests point it at a token service on loopback).
//!
//! Either takes `client_id=` to choose one of several user-assigned
//! identities.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use url::Url;

use super::token::parse_token;
use super::{AccessToken, Secret, TokenCredential, resource_of};
use crate::remote::credential_http::{Interpret, Refusal, TokenHttp, shown_endpoint};
use crate::{EnvLookup, Error, Result};

/// Where IMDS answers on every Azure VM.
pub const IMDS_AUTHORITY: &str = "http://169.254.169.254";
/// IMDS's token path, below its authority.
const IMDS_PATH: &str = "metadata/identity/oauth2/token";
/// The IMDS API version batchout asks for.
const IMDS_API_VERSION: &str = "2018-02-01";
/// The App Service identity endpoint's API version.
const APP_SERVICE_API_VERSION: &str = "2019-08-01";
/// How long a connection to the identity endpoint may take: it is on this
/// machine or link-local, so it connects at once or is not there.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug)]
enum Endpoint {
    Imds,
    AppService { header: Secret },
}

/// A managed identity, through IMDS or an App Service identity endpoint.
#[derive(Debug)]
pub struct ManagedIdentityCredential {
    endpoint: Endpoint,
    client_id: Option<String>,
    http: TokenHttp,
    /// Tried by a chain that goes on when IMDS is not there: an endpoint
    /// that cannot be reached, or an IMDS with no identity, is "not set
    /// up", until it has given a token once.
    probing: bool,
    answered: AtomicBool,
}

impl ManagedIdentityCredential {
    /// The identity IMDS gives, at `authority` (`None`:
    /// [`IMDS_AUTHORITY`]); `client_id` chooses a user-assigned identity.
    ///
    /// # Errors
    ///
    /// [`Error::Credential`] for an authority that is not a URL.
    pub fn imds(authority: Option<&str>, client_id: Option<&str>) -> Result<Self> {
        let text = authority.unwrap_or(IMDS_AUTHORITY).trim();
        let mut url = parse(text, "AZURE_POD_IDENTITY_AUTHORITY_HOST", "IMDS")?;
        if !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        let url = url.join(IMDS_PATH).map_err(|e| Error::Credential {
            credential: "a managed identity (IMDS)".into(),
            reason: format!("cannot make IMDS's URL: {e}"),
            unavailable: false,
        })?;
        Ok(Self::with(url, Endpoint::Imds, client_id))
    }

    /// The identity an App Service or Container Apps identity endpoint
    /// (`IDENTITY_ENDPOINT`) gives, asked with its `IDENTITY_HEADER`;
    /// `client_id` chooses a user-assigned identity.
    ///
    /// # Errors
    ///
    /// [`Error::Credential`] for an endpoint that is not a URL.
    pub fn app_service(endpoint: &str, header: Secret, client_id: Option<&str>) -> Result<Self> {
        let url = parse(endpoint.trim(), "IDENTITY_ENDPOINT", "App Service")?;
        Ok(Self::with(url, Endpoint::AppService { header }, client_id))
    }

    /// The managed identity this machine's environment describes:
    /// `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` when both are set, else
    /// IMDS (at `AZURE_POD_IDENTITY_AUTHORITY_HOST`, if set). `client_id`
    /// chooses a user-assigned identity.
    ///
    /// # Errors
    ///
    /// As [`Self::imds`] and [`Self::app_service`].
    pub fn from_env(env: EnvLookup<'_>, client_id: Option<&str>) -> Result<Self> {
        match (env("IDENTITY_ENDPOINT"), env("IDENTITY_HEADER")) {
            (Some(endpoint), Some(header)) => {
                Self::app_service(&endpoint, Secret::new(header), client_id)
            }
            _ => Self::imds(
                env("AZURE_POD_IDENTITY_AUTHORITY_HOST").as_deref(),
                client_id,
            ),
        }
    }

    fn with(url: Url, endpoint: Endpoint, client_id: Option<&str>) -> Self {
        Self {
            endpoint,
            client_id: client_id
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .map(str::to_owned),
            http: TokenHttp::new(url, CONNECT_TIMEOUT),
            probing: false,
            answered: AtomicBool::new(false),
        }
    }

    /// The same, tried by a chain: until it has answered once, an IMDS that
    /// cannot be reached, or that has no identity, is "not set up" and the
    /// chain goes on.
    #[must_use]
    pub(super) fn probing(mut self) -> Self {
        self.probing = matches!(self.endpoint, Endpoint::Imds);
        self
    }

    fn probing_now(&self) -> bool {
        self.probing && !self.answered.load(Ordering::Relaxed)
    }
}

fn parse(text: &str, variable: &str, what: &str) -> Result<Url> {
    Url::parse(text).map_err(|e| Error::Credential {
        credential: format!("a managed identity ({what})"),
        reason: format!("{text:?} ({variable}) is not a URL: {e}"),
        unavailable: false,
    })
}

impl Interpret for ManagedIdentityCredential {
    fn name(&self) -> String {
        let place = match self.endpoint {
            Endpoint::Imds => "IMDS",
            Endpoint::AppService { .. } => "IDENTITY_ENDPOINT",
        };
        match &self.client_id {
            Some(id) => format!("a managed identity ({place}, client {id})"),
            None => format!("a managed identity ({place})"),
        }
    }

    fn is_transient(&self, refusal: &Refusal) -> bool {
        let status = refusal.status.as_u16();
        // IMDS answers 404 and 410 while it is being updated, and asks to be
        // tried again.
        matches!(status, 408 | 429 | 500..=599)
            || (matches!(self.endpoint, Endpoint::Imds) && matches!(status, 404 | 410))
    }

    fn refused(&self, refusal: &Refusal) -> Error {
        let shown = refusal.shown();
        let no_identity = refusal.says("identity not found")
            || refusal.says("no managed identity")
            || refusal.says("no msi found");
        let reason = match (&self.endpoint, no_identity, &self.client_id) {
            (Endpoint::Imds, true, None) => format!(
                "IMDS answered {shown}: no managed identity is assigned to this VM or Batch pool; assign one (a system-assigned identity, or a user-assigned one to the pool), or, if the pool has several user-assigned identities, set AZURE_CLIENT_ID (or BATCHOUT_IDENTITY_CLIENT_ID) to the client id of the one to use"
            ),
            (Endpoint::Imds, true, Some(id)) => format!(
                "IMDS answered {shown}: no user-assigned identity with client id {id} is assigned to this VM or Batch pool; assign it to the pool, or set AZURE_CLIENT_ID (or BATCHOUT_IDENTITY_CLIENT_ID) to the client id of one that is"
            ),
            (Endpoint::AppService { .. }, true, _) => format!(
                "the identity endpoint answered {shown}: the app has no such managed identity; turn its identity on, or set AZURE_CLIENT_ID (or BATCHOUT_IDENTITY_CLIENT_ID) to the client id of a user-assigned identity it has"
            ),
            (Endpoint::Imds, false, _) => format!(
                "IMDS answered {shown}; check that this machine is an Azure VM or Batch node with a managed identity"
            ),
            (Endpoint::AppService { .. }, false, _) => format!(
                "the identity endpoint {} answered {shown}; check IDENTITY_ENDPOINT and IDENTITY_HEADER",
                shown_endpoint(self.http.endpoint())
            ),
        };
        Error::Credential {
            credential: Interpret::name(self),
            reason,
            unavailable: self.probing_now() && no_identity,
        }
    }

    fn absent_when_unreachable(&self) -> bool {
        self.probing_now()
    }
}

#[async_trait]
impl TokenCredential for ManagedIdentityCredential {
    async fn token(&self, scope: &str) -> Result<AccessToken> {
        let resource = resource_of(scope);
        let token = self
            .http
            .fetch(
                self,
                |client| {
                    let version = match self.endpoint {
                        Endpoint::Imds => IMDS_API_VERSION,
                        Endpoint::AppService { .. } => APP_SERVICE_API_VERSION,
                    };
                    let mut url = self.http.endpoint().clone();
                    {
                        let mut query = url.query_pairs_mut();
                        query
                            .append_pair("api-version", version)
                            .append_pair("resource", resource);
                        if let Some(id) = &self.client_id {
                            query.append_pair("client_id", id);
                        }
                    }
                    match &self.endpoint {
                        Endpoint::Imds => client.get(url).header("Metadata", "true"),
                        Endpoint::AppService { header } => {
                            let mut value = reqwest::header::HeaderValue::from_str(header.expose())
                                .unwrap_or_else(|_| reqwest::header::HeaderValue::from_static(""));
                            value.set_sensitive(true);
                            client.get(url).header("X-IDENTITY-HEADER", value)
                        }
                    }
                },
                parse_token,
            )
            .await?;
        self.answered.store(true, Ordering::Relaxed);
        Ok(token)
    }

    fn name(&self) -> String {
        Interpret::name(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_chooses_the_endpoint() {
        let env = |name: &str| match name {
            "IDENTITY_ENDPOINT" => Some("http://localhost:8081/msi/token".to_owned()),
            "IDENTITY_HEADER" => Some("HEADER-SECRET".to_owned()),
            _ => None,
        };
        let app = ManagedIdentityCredential::from_env(&env, None).expect("app service");
        assert_eq!(
            app.http.endpoint().as_str(),
            "http://localhost:8081/msi/token"
        );
        assert!(!format!("{app:?}").contains("HEADER-SECRET"));
        assert_eq!(
            TokenCredential::name(&app),
            "a managed identity (IDENTITY_ENDPOINT)"
        );

        let none = |_: &str| None;
        let imds = ManagedIdentityCredential::from_env(&none, Some("abc")).expect("imds");
        assert_eq!(
            imds.http.endpoint().as_str(),
            "http://169.254.169.254/metadata/identity/oauth2/token"
        );
        assert_eq!(
            TokenCredential::name(&imds),
            "a managed identity (IMDS, client abc)"
        );
        let moved = |name: &str| {
            (name == "AZURE_POD_IDENTITY_AUTHORITY_HOST").then(|| "http://127.0.0.1:9".to_owned())
        };
        let imds = ManagedIdentityCredential::from_env(&moved, None).expect("imds");
        assert_eq!(
            imds.http.endpoint().as_str(),
            "http://127.0.0.1:9/metadata/identity/oauth2/token"
        );
    }
}
