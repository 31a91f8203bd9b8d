//! The credentials of the machine: an EC2 instance's role, from the instance
//! metadata service (IMDSv2: a session token first, then the role's name,
//! then its credentials), and a container's, from the endpoint ECS or EKS
//! Pod Identity gives it. Both are HTTP on a link-local address, never
//! through a proxy (`remote::credential_http`).

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use url::Url;

use super::{Credentials, ProvideCredentials, from_json};
use crate::remote::credential_http::{Interpret, Refusal, TokenHttp, shown_endpoint};
use crate::{Error, Result, Secret};

/// Where the instance metadata service answers on EC2.
pub(crate) const IMDS_ENDPOINT: &str = "http://169.254.169.254";
/// How long an IMDS session token is asked to last (the most it gives).
const IMDS_TOKEN_TTL: &str = "21600";
/// IMDS answers within a second on an instance; off EC2 nothing answers,
/// and a chain must not wait long to find out.
const IMDS_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// A container's endpoint is on the host.
const CONTAINER_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The role of the EC2 instance this runs on, through IMDSv2.
#[derive(Debug)]
pub struct InstanceCredentials {
    http: TokenHttp,
    last_resort: bool,
}

impl InstanceCredentials {
    /// Credentials from the instance metadata service at `endpoint`
    /// (`http://169.254.169.254` on EC2).
    pub fn new(endpoint: Url) -> Self {
        Self {
            http: TokenHttp::new(endpoint, IMDS_CONNECT_TIMEOUT),
            last_resort: false,
        }
    }

    /// Marks it as the last source a chain tries: when nothing answers, the
    /// error says that no credentials were found anywhere, and where to put
    /// them.
    #[must_use]
    pub(crate) fn last_resort(mut self) -> Self {
        self.last_resort = true;
        self
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.http.endpoint().clone();
        url.set_path(path);
        url
    }
}

/// One of the three IMDS requests, for messages.
struct Step<'a> {
    source: &'a InstanceCredentials,
    what: &'static str,
}

impl Interpret for Step<'_> {
    fn name(&self) -> String {
        self.source.name()
    }

    fn refused(&self, refusal: &Refusal) -> Error {
        let reason = match (self.what, refusal.status.as_u16()) {
            ("role", 404) => "this instance has no IAM role (instance profile): attach one that may use the bucket, or give keys with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".to_owned(),
            ("token", 403) => "IMDS refused a session token (it is turned off for this instance, or the request went through a proxy)".to_owned(),
            (_, 401) => "IMDS refused the session token it gave".to_owned(),
            _ => format!("IMDS answered {} when asked for the {}", refusal.shown(), self.what),
        };
        Error::Credential {
            credential: self.name(),
            reason,
            unavailable: false,
        }
    }

    fn absent_when_unreachable(&self) -> bool {
        true
    }

    fn unreadable(&self) -> &'static str {
        "IMDS's answer holds no credentials that batchout can read"
    }
}

#[async_trait]
impl ProvideCredentials for InstanceCredentials {
    async fn credentials(&self) -> Result<Credentials> {
        match self.ask().await {
            Err(Error::Credential {
                credential,
                reason,
                unavailable: true,
            }) if self.last_resort => Err(Error::Credential {
                credential,
                reason: format!(
                    "{reason}: this is not an EC2 instance with a role, and no other AWS credentials were found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones) or AWS_PROFILE, or set AWS_EC2_METADATA_DISABLED=true to be told so at once"
                ),
                unavailable: true,
            }),
            other => other,
        }
    }

    fn name(&self) -> String {
        format!(
            "the instance's role (IMDS at {})",
            shown_endpoint(self.http.endpoint()).trim_end_matches('/')
        )
    }
}

impl InstanceCredentials {
    async fn ask(&self) -> Result<Credentials> {
        let token = self
            .http
            .fetch(
                &Step {
                    source: self,
                    what: "token",
                },
                |client| {
                    client
                        .put(self.url("/latest/api/token"))
                        .header("x-aws-ec2-metadata-token-ttl-seconds", IMDS_TOKEN_TTL)
                },
                |body, _| Some(Secret::new(body.trim())).filter(|t| !t.expose().is_empty()),
            )
            .await?;
        let with_token = |builder: reqwest::RequestBuilder| {
            let mut value = reqwest::header::HeaderValue::from_str(token.expose())
                .unwrap_or_else(|_| reqwest::header::HeaderValue::from_static(""));
            value.set_sensitive(true);
            builder.header("x-aws-ec2-metadata-token", value)
        };
        let base = "/latest/meta-data/iam/security-credentials/";
        let role = self
            .http
            .fetch(
                &Step {
                    source: self,
                    what: "role",
                },
                |client| with_token(client.get(self.url(base))),
                |body, _| {
                    body.lines()
                        .next()
                        .map(str::trim)
                        .filter(|r| !r.is_empty())
                        .map(str::to_owned)
                },
            )
            .await?;
        let source = format!("the instance's role {role} (IMDS)");
        self.http
            .fetch(
                &Step {
                    source: self,
                    what: "role's credentials",
                },
                |client| with_token(client.get(self.url(&format!("{base}{role}")))),
                |body, _| from_json(body, &source),
            )
            .await
    }
}

/// The token a container's endpoint asks for in `Authorization`.
#[derive(Debug, Clone)]
pub(crate) enum Authorization {
    /// Read from this file at each request (EKS Pod Identity rotates it):
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`.
    File(PathBuf),
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN`.
    Token(Secret),
}

/// A container's credentials, from the endpoint ECS or EKS Pod Identity
/// names in `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or
/// `AWS_CONTAINER_CREDENTIALS_FULL_URI`.
#[derive(Debug)]
pub struct ContainerCredentials {
    http: TokenHttp,
    variable: &'static str,
    authorization: Option<Authorization>,
}

impl ContainerCredentials {
    /// Credentials from `url`, named by the variable `variable`, with the
    /// token `authorization` if it asks for one.
    pub(crate) fn new(
        url: Url,
        variable: &'static str,
        authorization: Option<Authorization>,
    ) -> Self {
        Self {
            http: TokenHttp::new(url, CONTAINER_CONNECT_TIMEOUT),
            variable,
            authorization,
        }
    }

    /// The authorization token, read now.
    fn token(&self) -> Result<Option<Secret>> {
        match &self.authorization {
            None => Ok(None),
            Some(Authorization::Token(token)) => Ok(Some(token.clone())),
            Some(Authorization::File(path)) => match std::fs::read_to_string(path) {
                Ok(text) => Ok(Some(Secret::new(text.trim()))),
                Err(e) => Err(Error::Credential {
                    credential: ProvideCredentials::name(self),
                    reason: format!(
                        "cannot read the token file {} (AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE): {e}",
                        path.display()
                    ),
                    unavailable: false,
                }),
            },
        }
    }
}

impl Interpret for ContainerCredentials {
    fn name(&self) -> String {
        ProvideCredentials::name(self)
    }

    fn refused(&self, refusal: &Refusal) -> Error {
        let hint = match refusal.status.as_u16() {
            401 | 403 => {
                "; check AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (or AWS_CONTAINER_AUTHORIZATION_TOKEN)"
            }
            _ => "",
        };
        Error::Credential {
            credential: ProvideCredentials::name(self),
            reason: format!("the endpoint answered {}{hint}", refusal.shown()),
            unavailable: false,
        }
    }

    fn unreadable(&self) -> &'static str {
        "the endpoint's answer holds no credentials that batchout can read"
    }
}

#[async_trait]
impl ProvideCredentials for ContainerCredentials {
    async fn credentials(&self) -> Result<Credentials> {
        let token = self.token()?;
        let source = ProvideCredentials::name(self);
        self.http
            .fetch(
                self,
                |client| {
                    let request = client.get(self.http.endpoint().clone());
                    match &token {
                        Some(token) => {
                            let mut value = reqwest::header::HeaderValue::from_str(token.expose())
                                .unwrap_or_else(|_| reqwest::header::HeaderValue::from_static(""));
                            value.set_sensitive(true);
                            request.header("authorization", value)
                        }
                        None => request,
                    }
                },
                |body, _| from_json(body, &source),
            )
            .await
    }

    fn name(&self) -> String {
        format!("the container's credentials ({})", self.variable)
    }
}
