//! The two sources that ask Entra ID's v2.0 token endpoint for a token as an
//! application: with a client secret (a service principal), or with a
//! federated token from a file (workload identity).
//!
//! `POST {authority}/{tenant}/oauth2/v2.0/token`, a form with
//! `grant_type=client_credentials`, the client id, the scope, and
//! `client_secret`, or `client_assertion` with its type `jwt-bearer`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use url::Url;

use super::token::parse_token;
use super::{AccessToken, PUBLIC_AUTHORITY, Secret, TokenCredential};
use crate::remote::credential_http::{Interpret, Refusal, TokenHttp, is_local};
use crate::{Error, Result};

/// How long a connection to the authority may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the application proves itself with.
#[derive(Debug)]
enum Proof {
    /// A client secret.
    Secret(Secret),
    /// A file holding a federated token, read for each request (it is
    /// rotated while the process runs).
    FederatedTokenFile(PathBuf),
}

/// An application signing in to a tenant.
#[derive(Debug)]
struct App {
    tenant: String,
    client_id: String,
    proof: Proof,
    http: TokenHttp,
}

impl App {
    fn new(
        kind: &str,
        tenant: &str,
        client_id: &str,
        proof: Proof,
        authority: Option<&str>,
    ) -> Result<Self> {
        let invalid = |reason: String| Error::Credential {
            credential: kind.to_owned(),
            reason,
            unavailable: false,
        };
        let tenant = tenant.trim();
        if tenant.is_empty()
            || !tenant
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(invalid(format!(
                "the tenant {tenant:?} is not a tenant id or domain; set AZURE_TENANT_ID to the directory (tenant) id of the storage account's tenant"
            )));
        }
        let text = authority.unwrap_or(PUBLIC_AUTHORITY).trim();
        let mut url = Url::parse(text).map_err(|e| {
            invalid(format!(
                "the authority {text:?} (AZURE_AUTHORITY_HOST) is not a URL: {e}"
            ))
        })?;
        // A secret travels to the authority: over HTTPS, or to this machine.
        if url.scheme() != "https" && !(url.scheme() == "http" && is_local(&url)) {
            return Err(invalid(format!(
                "the authority {text:?} (AZURE_AUTHORITY_HOST) is not an https:// URL"
            )));
        }
        if !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        let endpoint = url
            .join(&format!("{tenant}/oauth2/v2.0/token"))
            .map_err(|e| invalid(format!("cannot make the token endpoint's URL: {e}")))?;
        Ok(Self {
            tenant: tenant.to_owned(),
            client_id: client_id.trim().to_owned(),
            proof,
            http: TokenHttp::new(endpoint, CONNECT_TIMEOUT),
        })
    }

    async fn token(&self, scope: &str, kind: &Kind<'_>) -> Result<AccessToken> {
        let body = self.form(scope, kind)?;
        self.http
            .fetch(
                kind,
                |client| {
                    client
                        .post(self.http.endpoint().clone())
                        .header("content-type", "application/x-www-form-urlencoded")
                        .header("accept", "application/json")
                        .body(body.clone())
                },
                parse_token,
            )
            .await
    }

    /// The request's form: who asks, for what, with what proof.
    fn form(&self, scope: &str, kind: &Kind<'_>) -> Result<String> {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials")
            .append_pair("client_id", &self.client_id)
            .append_pair("scope", scope);
        match &self.proof {
            Proof::Secret(secret) => {
                form.append_pair("client_secret", secret.expose());
            }
            Proof::FederatedTokenFile(path) => {
                let assertion = read_federated_token(path, &kind.name())?;
                form.append_pair(
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                )
                .append_pair("client_assertion", assertion.expose());
            }
        }
        Ok(form.finish())
    }
}

/// The federated token in `path`, trimmed.
fn read_federated_token(path: &Path, name: &str) -> Result<Secret> {
    let failed = |reason: String| Error::Credential {
        credential: name.to_owned(),
        reason,
        unavailable: false,
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        failed(format!(
            "cannot read the federated token file {} (AZURE_FEDERATED_TOKEN_FILE): {e}",
            path.display()
        ))
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(failed(format!(
            "the federated token file {} (AZURE_FEDERATED_TOKEN_FILE) is empty",
            path.display()
        )));
    }
    Ok(Secret::new(token))
}

/// Which of the two sources refused, for its messages.
struct Kind<'a> {
    app: &'a App,
    federated: bool,
}

impl Interpret for Kind<'_> {
    fn name(&self) -> String {
        if self.federated {
            format!("workload identity (client {})", self.app.client_id)
        } else {
            format!("a service principal (client {})", self.app.client_id)
        }
    }

    fn refused(&self, refusal: &Refusal) -> Error {
        let shown = refusal.shown();
        let what = if refusal.says("AADSTS90002") || refusal.says("AADSTS900023") {
            format!(
                "Entra ID does not know the tenant {:?}; set AZURE_TENANT_ID to the directory (tenant) id of the storage account's tenant",
                self.app.tenant
            )
        } else if refusal.says("AADSTS700016") || refusal.says("unauthorized_client") {
            "Entra ID does not know this application in this tenant; check AZURE_CLIENT_ID (the application (client) id) and AZURE_TENANT_ID".to_owned()
        } else if self.federated {
            "the federated token was refused; check that the identity has a federated credential for this issuer and subject (the cluster's OIDC issuer and service account), that AZURE_CLIENT_ID names that identity, and that the file AZURE_FEDERATED_TOKEN_FILE names is current".to_owned()
        } else if refusal.says("invalid_client") || refusal.says("AADSTS7000215") {
            "the client secret was refused; check AZURE_CLIENT_SECRET (the secret's value, not its id), or create a new secret if it expired".to_owned()
        } else {
            "check AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET".to_owned()
        };
        Error::Credential {
            credential: self.name(),
            reason: format!("Entra ID answered {shown}; {what}"),
            unavailable: false,
        }
    }
}

/// A service principal signing in with a client secret.
#[derive(Debug)]
pub struct ClientSecretCredential {
    app: App,
}

impl ClientSecretCredential {
    /// The application `client_id` of `tenant`, with its secret, signing in
    /// at `authority` (`None`: the public cloud,
    /// `https://login.microsoftonline.com/`).
    ///
    /// # Errors
    ///
    /// [`Error::Credential`] for a tenant that is no tenant id or domain, or
    /// an authority that is not an `https://` URL (`http://` is taken only
    /// for this machine, for tests).
    pub fn new(
        tenant: &str,
        client_id: &str,
        secret: Secret,
        authority: Option<&str>,
    ) -> Result<Self> {
        Ok(Self {
            app: App::new(
                "a service principal",
                tenant,
                client_id,
                Proof::Secret(secret),
                authority,
            )?,
        })
    }

    fn kind(&self) -> Kind<'_> {
        Kind {
            app: &self.app,
            federated: false,
        }
    }
}

#[async_trait]
impl TokenCredential for ClientSecretCredential {
    async fn token(&self, scope: &str) -> Result<AccessToken> {
        self.app.token(scope, &self.kind()).await
    }

    fn name(&self) -> String {
        self.kind().name()
    }
}

/// Workload identity: a federated token that the platform writes to a file
/// (Kubernetes' service account token), exchanged for an Entra ID token.
#[derive(Debug)]
pub struct WorkloadIdentityCredential {
    app: App,
}

impl WorkloadIdentityCredential {
    /// The application or user-assigned identity `client_id` of `tenant`,
    /// proving itself with the token in `token_file` (read again for each
    /// request), signing in at `authority` (`None`: the public cloud).
    ///
    /// # Errors
    ///
    /// As [`ClientSecretCredential::new`].
    pub fn new(
        tenant: &str,
        client_id: &str,
        token_file: impl Into<PathBuf>,
        authority: Option<&str>,
    ) -> Result<Self> {
        Ok(Self {
            app: App::new(
                "workload identity",
                tenant,
                client_id,
                Proof::FederatedTokenFile(token_file.into()),
                authority,
            )?,
        })
    }

    fn kind(&self) -> Kind<'_> {
        Kind {
            app: &self.app,
            federated: true,
        }
    }
}

#[async_trait]
impl TokenCredential for WorkloadIdentityCredential {
    async fn token(&self, scope: &str) -> Result<AccessToken> {
        self.app.token(scope, &self.kind()).await
    }

    fn name(&self) -> String {
        self.kind().name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_is_the_tenants_under_the_authority() {
        let sp =
            ClientSecretCredential::new("contoso.onmicrosoft.com", "app", Secret::new("s"), None)
                .expect("valid");
        assert_eq!(
            sp.app.http.endpoint().as_str(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        let sp = ClientSecretCredential::new(
            "t",
            "app",
            Secret::new("s"),
            Some("http://127.0.0.1:9/base"),
        )
        .expect("loopback over http");
        assert_eq!(
            sp.app.http.endpoint().as_str(),
            "http://127.0.0.1:9/base/t/oauth2/v2.0/token"
        );
        assert!(!format!("{sp:?}").contains("\"s\""));
    }

    #[test]
    fn secrets_go_over_https_or_stay_on_this_machine() {
        let err = ClientSecretCredential::new(
            "t",
            "app",
            Secret::new("SECRET"),
            Some("http://login.example.com/"),
        )
        .expect_err("plain http");
        let shown = err.to_string();
        assert!(shown.contains("not an https:// URL"), "{shown}");
        assert!(!shown.contains("SECRET"));
        assert!(
            WorkloadIdentityCredential::new("../x", "app", "/f", None)
                .expect_err("a path in the tenant")
                .to_string()
                .contains("AZURE_TENANT_ID")
        );
    }

    #[test]
    fn a_missing_federated_token_file_is_named() {
        let err = read_federated_token(Path::new("/no/such/token"), "workload identity")
            .expect_err("missing");
        assert!(err.to_string().contains("/no/such/token"), "{err}");
    }
}
