//! A profile that signs in with IAM Identity Center (SSO): the access token
//! that `aws sso login` cached in `~/.aws/sso/cache/` is exchanged for the
//! credentials of the profile's role in its account, at the SSO portal
//! (`GetRoleCredentials`).
//!
//! Both shapes of profile are read: `sso_session = NAME` with its
//! `[sso-session NAME]` section (the token cached under the SHA-1 of the
//! session's name), and the older one with `sso_start_url` and `sso_region`
//! in the profile (under the SHA-1 of the start URL). The token is read from
//! its file at each refresh, so an `aws sso login` while a `track` runs is
//! taken up. batchout does not refresh the token itself: when it has
//! expired, the error says to run `aws sso login`.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use sha1::{Digest, Sha1};
use url::Url;

use super::{Credentials, ProvideCredentials, parse_time};
use crate::checksum::hex;
use crate::remote::credential_http::{Interpret, Refusal, TokenHttp, shown_endpoint};
use crate::{Authorities, EnvLookup, Error, Result, Secret};

/// How long a connection to the portal may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The role of an account, through IAM Identity Center.
#[derive(Debug)]
pub struct SsoCredentials {
    http: TokenHttp,
    /// The cached token's file.
    token_file: PathBuf,
    account: String,
    role: String,
    profile: String,
}

/// Where a profile's SSO settings are, as read from the files.
pub(crate) struct SsoProfile {
    /// The profile.
    pub(crate) profile: String,
    /// The name of its `sso-session`, or `None` for the older shape.
    pub(crate) session: Option<String>,
    /// The start URL.
    pub(crate) start_url: String,
    /// The region of IAM Identity Center.
    pub(crate) region: String,
    /// The account.
    pub(crate) account: String,
    /// The role in the account.
    pub(crate) role: String,
}

impl SsoCredentials {
    /// The role `sso` names, with the token `aws sso login` cached under
    /// `HOME`, from the portal of its region (or `AWS_ENDPOINT_URL_SSO`,
    /// else `AWS_ENDPOINT_URL`).
    pub(crate) fn new(
        env: EnvLookup<'_>,
        sso: SsoProfile,
        authorities: Option<&Authorities>,
    ) -> std::result::Result<Self, String> {
        let (text, variable) = match (env("AWS_ENDPOINT_URL_SSO"), env("AWS_ENDPOINT_URL")) {
            (Some(url), _) => (url, "AWS_ENDPOINT_URL_SSO"),
            (None, Some(url)) => (url, "AWS_ENDPOINT_URL"),
            (None, None) => (
                format!("https://portal.sso.{}.amazonaws.com/", sso.region),
                "sso_region",
            ),
        };
        let endpoint = Url::parse(text.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| format!("{variable}={text:?} is not an http:// or https:// URL"))?;
        let key = sso.session.as_deref().unwrap_or(&sso.start_url);
        let home = env("HOME").map(PathBuf::from).unwrap_or_default();
        let token_file = home
            .join(".aws/sso/cache")
            .join(format!("{}.json", hex(&Sha1::digest(key.as_bytes()))));
        Ok(Self {
            http: TokenHttp::new(endpoint, CONNECT_TIMEOUT).with_authorities(authorities.cloned()),
            token_file,
            account: sso.account,
            role: sso.role,
            profile: sso.profile,
        })
    }

    fn failed(&self, reason: String) -> Error {
        Error::Credential {
            credential: ProvideCredentials::name(self),
            reason,
            unavailable: false,
        }
    }

    /// The cached access token, if it has not expired.
    fn token(&self) -> Result<Secret> {
        let login = format!("run `aws sso login --profile {}`", self.profile);
        let text = match std::fs::read_to_string(&self.token_file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(
                    self.failed(format!("no SSO session is cached on this machine; {login}"))
                );
            }
            Err(e) => {
                return Err(self.failed(format!(
                    "cannot read the cached SSO session {}: {e}",
                    self.token_file.display()
                )));
            }
        };
        let json: serde_json::Value = serde_json::from_str(&text).map_err(|_| {
            self.failed(format!(
                "the cached SSO session {} is not JSON; {login}",
                self.token_file.display()
            ))
        })?;
        let field = |name: &str| json.get(name).and_then(serde_json::Value::as_str);
        let token = field("accessToken").filter(|t| !t.is_empty());
        // Older CLIs wrote `2019-11-14T04:05:45UTC`.
        let expires = field("expiresAt")
            .map(|at| {
                at.trim()
                    .trim_end_matches("UTC")
                    .trim_end_matches('Z')
                    .to_owned()
                    + "Z"
            })
            .and_then(|at| parse_time(&at));
        match (token, expires) {
            (Some(token), Some(expires)) if expires > SystemTime::now() => Ok(Secret::new(token)),
            (Some(_), Some(expires)) => Err(self.failed(format!(
                "the SSO session expired at {}; {login}",
                humantime::format_rfc3339_seconds(expires)
            ))),
            _ => Err(self.failed(format!(
                "the cached SSO session {} has no accessToken and expiresAt; {login}",
                self.token_file.display()
            ))),
        }
    }
}

impl Interpret for SsoCredentials {
    fn name(&self) -> String {
        ProvideCredentials::name(self)
    }

    fn refused(&self, refusal: &Refusal) -> Error {
        let said = refusal.shown();
        let hint = match refusal.status.as_u16() {
            401 => format!(
                "the SSO session was refused (it expired or was signed out); run `aws sso login --profile {}`",
                self.profile
            ),
            403 => format!(
                "the signed-in user may not take the role {} in the account {} (sso_role_name, sso_account_id)",
                self.role, self.account
            ),
            _ => "check the profile's sso_region".to_owned(),
        };
        self.failed(format!("the portal answered {said}: {hint}"))
    }

    fn unreadable(&self) -> &'static str {
        "the portal's answer holds no role credentials that batchout can read"
    }
}

#[async_trait]
impl ProvideCredentials for SsoCredentials {
    async fn credentials(&self) -> Result<Credentials> {
        let token = self.token()?;
        let mut url = self.http.endpoint().clone();
        url.set_path(&format!(
            "{}/federation/credentials",
            url.path().trim_end_matches('/')
        ));
        url.query_pairs_mut()
            .append_pair("role_name", &self.role)
            .append_pair("account_id", &self.account);
        let source = ProvideCredentials::name(self);
        self.http
            .fetch(
                self,
                |client| {
                    let mut value = reqwest::header::HeaderValue::from_str(token.expose())
                        .unwrap_or_else(|_| reqwest::header::HeaderValue::from_static(""));
                    value.set_sensitive(true);
                    client
                        .get(url.clone())
                        .header("x-amz-sso_bearer_token", value)
                },
                |body, _| read_role_credentials(body, &source),
            )
            .await
    }

    fn name(&self) -> String {
        format!(
            "the role {} of account {} through IAM Identity Center (profile {}, portal {})",
            self.role,
            self.account,
            self.profile,
            shown_endpoint(self.http.endpoint()).trim_end_matches('/')
        )
    }
}

/// Credentials from `GetRoleCredentials`' answer: `roleCredentials` with
/// `expiration` in milliseconds since 1970.
fn read_role_credentials(body: &str, source: &str) -> Option<Credentials> {
    let json: serde_json::Value = serde_json::from_str(body).ok()?;
    let role = json.get("roleCredentials")?;
    let text = |name: &str| {
        role.get(name)
            .and_then(serde_json::Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let millis = role.get("expiration")?.as_u64()?;
    Some(Credentials {
        access_key_id: text("accessKeyId")?,
        secret_access_key: Secret::new(text("secretAccessKey")?),
        session_token: text("sessionToken").map(Secret::new),
        expires_on: Some(SystemTime::UNIX_EPOCH + Duration::from_millis(millis)),
        source: source.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_credentials_are_read_from_the_portals_answer() {
        let credentials = read_role_credentials(
            r#"{"roleCredentials":{"accessKeyId":"ASIA","secretAccessKey":"SECRET","sessionToken":"TOKEN","expiration":1765100000000}}"#,
            "sso",
        )
        .expect("credentials");
        assert_eq!(credentials.access_key_id, "ASIA");
        assert_eq!(
            credentials.expires_on,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_765_100_000))
        );
        assert!(
            read_role_credentials(r#"{"roleCredentials":{"accessKeyId":"A"}}"#, "sso").is_none()
        );
    }

    #[test]
    fn the_cached_token_is_found_by_the_sha1_of_the_session_or_start_url() {
        let env = |name: &str| match name {
            "HOME" => Some("/home/ci".to_owned()),
            _ => None,
        };
        let profile = |session: Option<&str>| SsoProfile {
            profile: "dev".into(),
            session: session.map(str::to_owned),
            start_url: "https://my-sso-portal.awsapps.com/start".into(),
            region: "eu-west-1".into(),
            account: "123456789012".into(),
            role: "Developer".into(),
        };
        let named = SsoCredentials::new(&env, profile(Some("my-sso")), None).expect("valid");
        // Python: hashlib.sha1(b"my-sso").hexdigest()
        assert_eq!(
            named.token_file,
            PathBuf::from("/home/ci/.aws/sso/cache/0ad374308c5a4e22f723adf10145eafad7c4031c.json")
        );
        let shown = ProvideCredentials::name(&named);
        assert!(
            shown.contains("https://portal.sso.eu-west-1.amazonaws.com"),
            "{shown}"
        );
        let legacy = SsoCredentials::new(&env, profile(None), None).expect("valid");
        assert_ne!(legacy.token_file, named.token_file);
    }
}
