//! Where an Azure store is and how to sign in: from a URL, a connection string,
//! or the `AZURE_STORAGE_*` variables. All parsing of Azure locations and
//! credentials lives here.

use std::fmt;
use std::sync::Arc;

use url::Url;

use super::credential::{SasToken, SharedKey, redact_query};
use super::identity::TokenCredential;
use super::identity::chain::{self, Forced};
use crate::{AzureSettings, ContainerName, EnvLookup, Error, Result};

/// The account and key of the storage emulator (Azurite): public, documented,
/// the same on every machine.
pub const DEVELOPMENT_ACCOUNT: &str = "devstoreaccount1";
/// The emulator's well-known account key (public).
pub const DEVELOPMENT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const DEVELOPMENT_ENDPOINT: &str = "http://127.0.0.1:10000/devstoreaccount1";

/// How requests are signed. More ways may come, so a `match` on it needs a
/// `_` arm.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Credential {
    /// The account key: every operation, and SAS generation.
    SharedKey(SharedKey),
    /// A SAS token: what it permits, nothing more.
    Sas(SasToken),
    /// Entra ID bearer tokens from this source: what the identity's roles
    /// on the account permit (HTTPS only). The store keeps each token and
    /// refreshes it before it expires.
    Token(Arc<dyn TokenCredential>),
    /// No credential: public containers only.
    Anonymous,
}

/// How to sign in, when the user chooses (`--auth`, `BATCHOUT_AUTH`);
/// unset, the first that is given of a SAS in the URL, an account key, a
/// SAS token, the emulator's well-known key, and, for an `https://`
/// account, Entra ID tokens from the first source set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthMode {
    /// The account key (`AZURE_STORAGE_KEY`, a connection string's
    /// `AccountKey`).
    Key,
    /// A SAS (in the URL, `AZURE_STORAGE_SAS_TOKEN`, a connection string's
    /// `SharedAccessSignature`).
    Sas,
    /// Entra ID tokens from the first source set up, in the default order.
    Token,
    /// Entra ID tokens from the Azure CLI's account.
    Cli,
    /// Entra ID tokens of a managed identity.
    ManagedIdentity,
    /// Entra ID tokens for a federated token (workload identity).
    WorkloadIdentity,
    /// Entra ID tokens of a service principal with a client secret.
    ServicePrincipal,
    /// No credential: public containers only.
    Anonymous,
}

impl AuthMode {
    /// Every mode, in the order `--auth` lists them.
    pub const ALL: [AuthMode; 8] = [
        Self::Key,
        Self::Sas,
        Self::Token,
        Self::Cli,
        Self::ManagedIdentity,
        Self::WorkloadIdentity,
        Self::ServicePrincipal,
        Self::Anonymous,
    ];

    /// The mode as `--auth` takes it (`managed-identity`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Key => "key",
            Self::Sas => "sas",
            Self::Token => "token",
            Self::Cli => "cli",
            Self::ManagedIdentity => "managed-identity",
            Self::WorkloadIdentity => "workload-identity",
            Self::ServicePrincipal => "service-principal",
            Self::Anonymous => "anonymous",
        }
    }

    /// The mode `text` names, in any case.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim().to_ascii_lowercase().replace('_', "-");
        Self::ALL.into_iter().find(|mode| mode.as_str() == text)
    }

    /// The token source the mode forces, if it is one.
    fn token_source(self) -> Option<Forced> {
        Some(match self {
            Self::Token => Forced::Chain,
            Self::Cli => Forced::Cli,
            Self::ManagedIdentity => Forced::ManagedIdentity,
            Self::WorkloadIdentity => Forced::WorkloadIdentity,
            Self::ServicePrincipal => Forced::ServicePrincipal,
            Self::Key | Self::Sas | Self::Anonymous => return None,
        })
    }
}

impl fmt::Display for AuthMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A resolved Azure Blob location: the service endpoint, the account, the
/// credential, and the container when the location is bound to one.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AzureTarget {
    /// The blob service endpoint, without query or trailing `/`
    /// (`https://acct.blob.core.windows.net`, or
    /// `http://127.0.0.1:10000/devstoreaccount1` for path-style endpoints).
    pub endpoint: Url,
    /// The storage account.
    pub account: String,
    /// How to sign requests.
    pub credential: Credential,
    /// The container a container SAS URL is limited to.
    pub container: Option<ContainerName>,
}

impl AzureTarget {
    /// Whether the account is in the endpoint's path (`http://host:port/account`),
    /// as with the Azurite emulator, rather than in its host name.
    pub fn is_path_style(&self) -> bool {
        !self.endpoint.path().trim_matches('/').is_empty()
    }
}

impl fmt::Display for AzureTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Azure Blob Storage {}",
            self.endpoint.as_str().trim_end_matches('/')
        )?;
        if let Some(container) = &self.container {
            write!(f, "/{container}")?;
        }
        match &self.credential {
            Credential::SharedKey(_) => write!(f, " (account key)"),
            Credential::Sas(_) => write!(f, " (SAS)"),
            Credential::Token(_) => write!(f, " (Entra ID)"),
            Credential::Anonymous => write!(f, " (anonymous)"),
        }
    }
}

/// Whether `text` looks like a connection string rather than a URL or path.
pub fn is_connection_string(text: &str) -> bool {
    text.contains(';') && text.contains('=') && !text.contains("://")
        || text.trim().starts_with("UseDevelopmentStorage=")
        || text.starts_with("DefaultEndpointsProtocol=")
        || text.starts_with("AccountName=")
        || text.starts_with("BlobEndpoint=")
}

/// Parses an `http(s)://` URL: an account endpoint (signed with a key or SAS
/// from the environment, else with Entra ID tokens), or a container SAS URL
/// (bound to that container).
///
/// # Errors
///
/// [`Error::InvalidStoreUrl`] saying what is missing; never containing a secret.
pub fn from_url(text: &str, env: EnvLookup<'_>) -> Result<AzureTarget> {
    from_url_with(text, env, &AzureSettings::default())
}

/// As [`from_url`], signing in as `settings` ask ([`AzureSettings::auth`]).
///
/// # Errors
///
/// As [`from_url`]; and [`Error::Credential`] when the way asked for is not
/// given (`--auth key` without a key, a token source whose variables are not
/// set, a token over plain `http://`).
pub fn from_url_with(
    text: &str,
    env: EnvLookup<'_>,
    settings: &AzureSettings,
) -> Result<AzureTarget> {
    let located = locate(text)?;
    let sas = located.query.as_deref().map(SasToken::new).transpose()?;
    let given = Given {
        key: match env("AZURE_STORAGE_KEY") {
            Some(key) => {
                let key_account =
                    env("AZURE_STORAGE_ACCOUNT").unwrap_or_else(|| located.account.clone());
                Some(SharedKey::new(key_account, &key)?)
            }
            None => None,
        },
        sas_in_url: sas.is_some(),
        sas: match sas {
            Some(sas) => Some(sas),
            None => env("AZURE_STORAGE_SAS_TOKEN")
                .map(|t| SasToken::new(&t))
                .transpose()?,
        },
    };
    let credential = choose(&located, given, env, settings)?;
    Ok(AzureTarget {
        endpoint: located.endpoint,
        account: located.account,
        credential,
        container: located.container,
    })
}

/// Where a URL points, before any credential is chosen.
struct Located {
    endpoint: Url,
    account: String,
    container: Option<ContainerName>,
    /// Its query (a SAS), if not empty.
    query: Option<String>,
    /// The URL as messages show it.
    shown: String,
}

fn locate(text: &str) -> Result<Located> {
    let shown = redact_url(text);
    let invalid = |reason: &str| Error::InvalidStoreUrl {
        url: shown.clone(),
        reason: reason.to_owned(),
    };
    let url = Url::parse(text).map_err(|e| invalid(&format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("an Azure endpoint is an http:// or https:// URL"));
    }
    let host = url
        .host_str()
        .ok_or_else(|| invalid("it has no host"))?
        .to_owned();
    let mut segments: Vec<String> = url
        .path_segments()
        .map(|s| s.filter(|s| !s.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    // Path-style endpoints (the emulator, IP addresses) carry the account in the
    // path; Azure's own carry it in the host name.
    let path_style = url
        .host()
        .is_some_and(|h| !matches!(h, url::Host::Domain(_)))
        || host == "localhost"
        || !host.contains('.');
    let account = if path_style {
        if segments.is_empty() {
            return Err(invalid(
                "a path-style endpoint names the account in its path, as in http://127.0.0.1:10000/devstoreaccount1",
            ));
        }
        segments.remove(0)
    } else {
        host.split('.').next().unwrap_or_default().to_owned()
    };
    let container = match segments.as_slice() {
        [] => None,
        [container] => Some(ContainerName::parse(container).map_err(|e| invalid(&e.to_string()))?),
        _ => {
            return Err(invalid(
                "give the account endpoint or a container URL, not a blob URL",
            ));
        }
    };
    let mut endpoint = url.clone();
    endpoint.set_query(None);
    endpoint.set_fragment(None);
    endpoint.set_path(if path_style { &account } else { "" });
    Ok(Located {
        endpoint,
        account,
        container,
        query: url.query().filter(|q| !q.is_empty()).map(str::to_owned),
        shown,
    })
}

/// The credentials a location was given: in its URL or connection string,
/// or by the `AZURE_STORAGE_*` variables.
struct Given {
    key: Option<SharedKey>,
    sas: Option<SasToken>,
    /// Whether the SAS came in the URL itself.
    sas_in_url: bool,
}

/// The credential to sign with: the one `settings` ask for, else the first
/// given (a SAS in the URL, a key, a SAS), else the emulator's well-known
/// key for its account, else Entra ID tokens for an `https://` endpoint
/// (anonymous over plain `http://`, where no token may go).
fn choose(
    located: &Located,
    given: Given,
    env: EnvLookup<'_>,
    settings: &AzureSettings,
) -> Result<Credential> {
    let https = located.endpoint.scheme() == "https";
    let development = || {
        (located.account == DEVELOPMENT_ACCOUNT)
            .then(|| SharedKey::new(DEVELOPMENT_ACCOUNT, DEVELOPMENT_KEY))
            .transpose()
    };
    let refused = |mode: AuthMode, reason: String| Error::Credential {
        credential: format!("{mode} (BATCHOUT_AUTH)"),
        reason,
        unavailable: false,
    };
    let token = |forced: Forced| -> Result<Credential> {
        let client_id = settings.identity_client_id.as_deref();
        Ok(Credential::Token(chain::source(forced, env, client_id)?))
    };
    let Some(mode) = settings.auth else {
        if let (true, Some(sas)) = (given.sas_in_url, &given.sas) {
            return Ok(Credential::Sas(sas.clone()));
        }
        if let Some(key) = given.key {
            return Ok(Credential::SharedKey(key));
        }
        if let Some(sas) = given.sas {
            return Ok(Credential::Sas(sas));
        }
        if let Some(key) = development()? {
            return Ok(Credential::SharedKey(key));
        }
        return if https {
            token(Forced::Chain)
        } else {
            Ok(Credential::Anonymous)
        };
    };
    match mode.token_source() {
        Some(_) if given.sas_in_url => Err(refused(
            mode,
            format!(
                "{} carries a SAS; give the URL without its query to sign in with Entra ID, or leave the way to sign in unset to use the SAS",
                located.shown
            ),
        )),
        Some(_) if !https => Err(refused(
            mode,
            format!(
                "{} is plain http://, and an Entra ID token is sent over https:// only",
                located.shown
            ),
        )),
        Some(forced) => token(forced),
        None => match mode {
            AuthMode::Key => match given.key.map_or_else(development, |k| Ok(Some(k)))? {
                Some(key) => Ok(Credential::SharedKey(key)),
                None => Err(refused(
                    mode,
                    "no account key is given; set AZURE_STORAGE_KEY, or give a connection string with AccountKey=".into(),
                )),
            },
            AuthMode::Sas => given.sas.map(Credential::Sas).ok_or_else(|| {
                refused(
                    mode,
                    "no SAS is given; give a SAS URL, or set AZURE_STORAGE_SAS_TOKEN".into(),
                )
            }),
            _ => Ok(Credential::Anonymous),
        },
    }
}

/// Parses a connection string (`AccountName=…;AccountKey=…`,
/// `BlobEndpoint=…;SharedAccessSignature=…`, `UseDevelopmentStorage=true`).
///
/// # Errors
///
/// [`Error::InvalidStoreUrl`] saying which part is missing; never containing a
/// secret.
pub fn from_connection_string(text: &str) -> Result<AzureTarget> {
    from_connection_string_with(text, &|_| None, &AzureSettings::default())
}

/// As [`from_connection_string`], signing in as `settings` ask; a
/// connection string with neither key nor SAS for an `https://` endpoint
/// signs in with Entra ID, as the variables in `env` set it up.
///
/// # Errors
///
/// As [`from_connection_string`] and [`from_url_with`].
pub fn from_connection_string_with(
    text: &str,
    env: EnvLookup<'_>,
    settings: &AzureSettings,
) -> Result<AzureTarget> {
    let invalid = |reason: &str| Error::InvalidStoreUrl {
        url: "the connection string".into(),
        reason: reason.to_owned(),
    };
    let mut parts = std::collections::HashMap::new();
    for pair in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| invalid("every part must be Name=Value, separated by ';'"))?;
        parts.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    let get = |name: &str| parts.get(name).cloned();
    if get("usedevelopmentstorage").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        let no_env = |_: &str| None;
        return from_url_with(DEVELOPMENT_ENDPOINT, &no_env, settings);
    }
    let account = get("accountname");
    let endpoint = match (get("blobendpoint"), &account) {
        (Some(endpoint), _) => endpoint,
        (None, Some(account)) => {
            let protocol = get("defaultendpointsprotocol").unwrap_or_else(|| "https".into());
            let suffix = get("endpointsuffix").unwrap_or_else(|| "core.windows.net".into());
            format!("{protocol}://{account}.blob.{suffix}")
        }
        (None, None) => {
            return Err(invalid(
                "it names no account (AccountName=) and no BlobEndpoint=",
            ));
        }
    };
    let mut located = locate(&endpoint)?;
    if let Some(account) = account {
        located.account = account;
    }
    let url_sas = located.query.as_deref().map(SasToken::new).transpose()?;
    let given = Given {
        key: get("accountkey")
            .map(|key| SharedKey::new(located.account.clone(), &key))
            .transpose()?,
        sas_in_url: url_sas.is_some() && get("accountkey").is_none(),
        sas: match get("sharedaccesssignature") {
            Some(sas) => Some(SasToken::new(&sas)?),
            None => url_sas,
        },
    };
    let credential = choose(&located, given, env, settings)?;
    Ok(AzureTarget {
        endpoint: located.endpoint,
        account: located.account,
        credential,
        container: located.container,
    })
}

/// The Azure store the `AZURE_STORAGE_*` variables describe, if any.
///
/// # Errors
///
/// As [`from_connection_string`] and [`from_url`].
pub fn from_env(env: EnvLookup<'_>) -> Result<Option<AzureTarget>> {
    from_env_with(env, &AzureSettings::default())
}

/// As [`from_env`], signing in as `settings` ask.
///
/// # Errors
///
/// As [`from_connection_string_with`] and [`from_url_with`].
pub fn from_env_with(env: EnvLookup<'_>, settings: &AzureSettings) -> Result<Option<AzureTarget>> {
    if let Some(text) = env("AZURE_STORAGE_CONNECTION_STRING") {
        return from_connection_string_with(&text, env, settings).map(Some);
    }
    match env("AZURE_STORAGE_ACCOUNT") {
        Some(account) => from_url_with(
            &format!("https://{account}.blob.core.windows.net"),
            env,
            settings,
        )
        .map(Some),
        None => Ok(None),
    }
}

/// A URL as it may be shown: with any SAS signature replaced by `REDACTED`.
pub fn redact_url(text: &str) -> String {
    match text.split_once('?') {
        Some((base, query)) => format!("{base}?{}", redact_query(query)),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn azure_endpoints_carry_the_account_in_the_host() {
        let env = |name: &str| (name == "AZURE_STORAGE_KEY").then(|| "a2V5".to_owned());
        let target = from_url("https://myacct.blob.core.windows.net/", &env).expect("valid");
        assert_eq!(target.account, "myacct");
        assert_eq!(
            target.endpoint.as_str(),
            "https://myacct.blob.core.windows.net/"
        );
        assert!(matches!(target.credential, Credential::SharedKey(_)));
        assert!(target.container.is_none());
        assert!(!target.is_path_style());
        let emulator = from_url("http://127.0.0.1:10000/devstoreaccount1", &env).expect("valid");
        assert!(emulator.is_path_style());
    }

    #[test]
    fn emulator_endpoints_carry_the_account_in_the_path() {
        let target = from_url("http://127.0.0.1:10000/devstoreaccount1", &no_env).expect("valid");
        assert_eq!(target.account, "devstoreaccount1");
        assert_eq!(
            target.endpoint.as_str(),
            "http://127.0.0.1:10000/devstoreaccount1"
        );
        assert!(
            matches!(target.credential, Credential::SharedKey(_)),
            "the well-known key"
        );
    }

    #[test]
    fn a_container_sas_url_binds_the_store_to_its_container() {
        let url = "https://acct.blob.core.windows.net/job-x?sv=2021-12-02&sr=c&sp=racwl&sig=SECRET";
        let target = from_url(url, &no_env).expect("valid");
        assert_eq!(target.container.as_ref().expect("bound").as_str(), "job-x");
        assert!(matches!(target.credential, Credential::Sas(_)));
        let shown = format!("{target} {target:?}");
        assert!(!shown.contains("SECRET"), "{shown}");

        let url = "http://127.0.0.1:1234/devstoreaccount1/job-x?sv=1&sig=SECRET";
        let target = from_url(url, &no_env).expect("valid");
        assert_eq!(
            target.endpoint.as_str(),
            "http://127.0.0.1:1234/devstoreaccount1"
        );
        assert_eq!(target.container.expect("bound").as_str(), "job-x");
    }

    #[test]
    fn bad_urls_are_refused_without_their_secret() {
        let err = from_url(
            "https://acct.blob.core.windows.net/Bad_Container?sig=SECRET",
            &no_env,
        )
        .unwrap_err();
        assert!(!err.to_string().contains("SECRET"), "{err}");
        assert!(from_url("https://acct.blob.core.windows.net/c/blob?sig=x", &no_env).is_err());
        assert!(
            from_url("https://acct.blob.core.windows.net/c?sv=1", &no_env).is_err(),
            "no signature"
        );
    }

    #[test]
    fn connection_strings_of_every_form() {
        let target = from_connection_string(
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.windows.net",
        )
        .expect("valid");
        assert_eq!(
            target.endpoint.as_str(),
            "https://acct.blob.core.windows.net/"
        );
        assert!(matches!(target.credential, Credential::SharedKey(_)));

        let target = from_connection_string("UseDevelopmentStorage=true").expect("valid");
        assert_eq!(
            target.endpoint.as_str(),
            "http://127.0.0.1:10000/devstoreaccount1"
        );

        let target = from_connection_string(
            "BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;SharedAccessSignature=sv=1&sig=abc",
        )
        .expect("valid");
        assert!(matches!(target.credential, Credential::Sas(_)));
        assert!(from_connection_string("nonsense").is_err());
        assert!(is_connection_string("AccountName=a;AccountKey=b"));
        assert!(!is_connection_string("https://a.blob.core.windows.net"));
        assert!(!is_connection_string("./data"));
    }

    #[test]
    fn environment_variables_select_an_account() {
        let env = |name: &str| match name {
            "AZURE_STORAGE_ACCOUNT" => Some("acct".to_owned()),
            "AZURE_STORAGE_SAS_TOKEN" => Some("?sv=1&sig=abc".to_owned()),
            _ => None,
        };
        let target = from_env(&env).expect("valid").expect("configured");
        assert_eq!(target.account, "acct");
        assert!(matches!(target.credential, Credential::Sas(_)));
        assert!(from_env(&no_env).expect("valid").is_none());
    }

    fn with_auth(mode: AuthMode) -> AzureSettings {
        AzureSettings {
            auth: Some(mode),
            ..AzureSettings::default()
        }
    }

    #[test]
    fn an_https_account_without_key_or_sas_signs_in_with_entra_id() {
        let target = from_url("https://acct.blob.core.windows.net", &no_env).expect("valid");
        assert!(matches!(target.credential, Credential::Token(_)));
        assert_eq!(
            target.to_string(),
            "Azure Blob Storage https://acct.blob.core.windows.net (Entra ID)"
        );
        let target = from_connection_string("BlobEndpoint=https://acct.blob.core.windows.net")
            .expect("valid");
        assert!(matches!(target.credential, Credential::Token(_)));
        let env = |name: &str| (name == "AZURE_STORAGE_ACCOUNT").then(|| "acct".to_owned());
        let target = from_env(&env).expect("valid").expect("configured");
        assert!(matches!(target.credential, Credential::Token(_)));
        // Plain http carries no token: anonymous, as before.
        let target = from_url("http://127.0.0.1:9/someaccount", &no_env).expect("valid");
        assert!(matches!(target.credential, Credential::Anonymous));
    }

    #[test]
    fn the_way_to_sign_in_can_be_forced_and_says_what_it_lacks() {
        let key = |name: &str| (name == "AZURE_STORAGE_KEY").then(|| "a2V5".to_owned());
        let url = "https://acct.blob.core.windows.net";
        let forced = |mode, env: EnvLookup<'_>| from_url_with(url, env, &with_auth(mode));
        assert!(matches!(
            forced(AuthMode::Token, &key).expect("token").credential,
            Credential::Token(_)
        ));
        assert!(matches!(
            forced(AuthMode::Key, &key).expect("key").credential,
            Credential::SharedKey(_)
        ));
        assert!(matches!(
            forced(AuthMode::Anonymous, &key)
                .expect("anonymous")
                .credential,
            Credential::Anonymous
        ));
        let err = forced(AuthMode::Key, &no_env)
            .expect_err("no key")
            .to_string();
        assert!(err.contains("set AZURE_STORAGE_KEY"), "{err}");
        let err = forced(AuthMode::Sas, &key).expect_err("no SAS").to_string();
        assert!(err.contains("AZURE_STORAGE_SAS_TOKEN"), "{err}");
        let err = forced(AuthMode::ServicePrincipal, &no_env)
            .expect_err("no variables")
            .to_string();
        assert!(err.contains("AZURE_CLIENT_SECRET"), "{err}");
        let mi = forced(AuthMode::ManagedIdentity, &no_env).expect("managed identity");
        assert!(matches!(mi.credential, Credential::Token(_)));

        let err = from_url_with(
            "http://127.0.0.1:10000/devstoreaccount1",
            &no_env,
            &with_auth(AuthMode::ManagedIdentity),
        )
        .expect_err("a token over http")
        .to_string();
        assert!(err.contains("over https:// only"), "{err}");
        let err = from_url_with(
            "https://acct.blob.core.windows.net/job-x?sv=1&sig=SECRET",
            &no_env,
            &with_auth(AuthMode::Token),
        )
        .expect_err("a SAS and a token")
        .to_string();
        assert!(err.contains("carries a SAS"), "{err}");
        assert!(!err.contains("SECRET"), "{err}");
        for mode in AuthMode::ALL {
            assert_eq!(AuthMode::parse(mode.as_str()), Some(mode));
        }
        assert_eq!(AuthMode::parse("password"), None);
    }
}
