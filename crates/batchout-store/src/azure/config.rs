//! Where an Azure store is and how to sign in: from a URL, a connection string,
//! or the `AZURE_STORAGE_*` variables. All parsing of Azure locations and
//! credentials lives here.

use std::fmt;

use url::Url;

use super::credential::{SasToken, SharedKey, redact_query};
use crate::{ContainerName, EnvLookup, Error, Result};

/// The account and key of the storage emulator (Azurite): public, documented,
/// the same on every machine.
pub const DEVELOPMENT_ACCOUNT: &str = "devstoreaccount1";
/// The emulator's well-known account key (public).
pub const DEVELOPMENT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const DEVELOPMENT_ENDPOINT: &str = "http://127.0.0.1:10000/devstoreaccount1";

/// How requests are signed. More ways will come (Entra ID tokens), so a
/// `match` on it needs a `_` arm.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Credential {
    /// The account key: every operation, and SAS generation.
    SharedKey(SharedKey),
    /// A SAS token: what it permits, nothing more.
    Sas(SasToken),
    /// No credential: public containers only.
    Anonymous,
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
/// from the environment), or a container SAS URL (bound to that container).
///
/// # Errors
///
/// [`Error::InvalidStoreUrl`] saying what is missing; never containing a secret.
pub fn from_url(text: &str, env: EnvLookup<'_>) -> Result<AzureTarget> {
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
    let credential = match url.query().filter(|q| !q.is_empty()) {
        Some(query) => Credential::Sas(SasToken::new(query)?),
        None => credential_from_env(&account, env)?,
    };
    if container.is_none() && matches!(credential, Credential::Sas(_)) && url.query().is_some() {
        // An account SAS in the URL: allowed, not bound.
    }
    Ok(AzureTarget {
        endpoint,
        account,
        credential,
        container,
    })
}

fn credential_from_env(account: &str, env: EnvLookup<'_>) -> Result<Credential> {
    if let Some(key) = env("AZURE_STORAGE_KEY") {
        let key_account = env("AZURE_STORAGE_ACCOUNT").unwrap_or_else(|| account.to_owned());
        return Ok(Credential::SharedKey(SharedKey::new(key_account, &key)?));
    }
    if let Some(token) = env("AZURE_STORAGE_SAS_TOKEN") {
        return Ok(Credential::Sas(SasToken::new(&token)?));
    }
    if account == DEVELOPMENT_ACCOUNT {
        return Ok(Credential::SharedKey(SharedKey::new(
            DEVELOPMENT_ACCOUNT,
            DEVELOPMENT_KEY,
        )?));
    }
    Ok(Credential::Anonymous)
}

/// Parses a connection string (`AccountName=…;AccountKey=…`,
/// `BlobEndpoint=…;SharedAccessSignature=…`, `UseDevelopmentStorage=true`).
///
/// # Errors
///
/// [`Error::InvalidStoreUrl`] saying which part is missing; never containing a
/// secret.
pub fn from_connection_string(text: &str) -> Result<AzureTarget> {
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
        let env = |_: &str| None;
        return from_url(DEVELOPMENT_ENDPOINT, &env);
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
    let no_env = |_: &str| None;
    let mut target = from_url(&endpoint, &no_env)?;
    if let Some(account) = account {
        target.account = account;
    }
    target.credential = match (get("accountkey"), get("sharedaccesssignature")) {
        (Some(key), _) => Credential::SharedKey(SharedKey::new(target.account.clone(), &key)?),
        (None, Some(sas)) => Credential::Sas(SasToken::new(&sas)?),
        (None, None) => target.credential,
    };
    Ok(target)
}

/// The Azure store the `AZURE_STORAGE_*` variables describe, if any.
///
/// # Errors
///
/// As [`from_connection_string`] and [`from_url`].
pub fn from_env(env: EnvLookup<'_>) -> Result<Option<AzureTarget>> {
    if let Some(text) = env("AZURE_STORAGE_CONNECTION_STRING") {
        return from_connection_string(&text).map(Some);
    }
    match env("AZURE_STORAGE_ACCOUNT") {
        Some(account) => {
            from_url(&format!("https://{account}.blob.core.windows.net"), env).map(Some)
        }
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
}
