//! Opening a store from what a user gives: a path, a URL, a connection string,
//! or nothing (the environment, else the local default).

use std::path::PathBuf;
use std::sync::Arc;

use crate::azure::config::{self, Credential};
use crate::azure::identity::TokenCredential;
use crate::settings::EnvLookup;
use crate::{AzureStore, Error, Result, Store, StoreSettings};

/// The local directory used when no store is named.
pub const DEFAULT_LOCAL_STORE: &str = "./batchout-data";

/// Opens a store from a path, URL or connection string:
///
/// - a directory path, or `file:///absolute/path`: a [`crate::LocalStore`] there (it is
///   created on first write);
/// - `https://ACCOUNT.blob.core.windows.net` or a path-style endpoint such as
///   Azurite's `http://127.0.0.1:10000/devstoreaccount1`: Azure Blob Storage,
///   signed with `AZURE_STORAGE_KEY` or `AZURE_STORAGE_SAS_TOKEN` (the emulator's
///   well-known key for `devstoreaccount1`), else, over `https://`, with
///   Entra ID tokens (a service principal, workload identity, a managed
///   identity or the Azure CLI's account: see [`crate::azure::identity`]);
///   `BATCHOUT_AUTH` chooses one way;
/// - a container SAS URL (`https://…/CONTAINER?sv=…&sig=…`): that container only;
/// - a connection string (`AccountName=…;AccountKey=…`, `UseDevelopmentStorage=true`);
/// - `s3://BUCKET[/PREFIX]`: an S3 bucket, each container a folder of keys
///   under the prefix, signed with `AWS_ACCESS_KEY_ID` and
///   `AWS_SECRET_ACCESS_KEY` (or the keys of `AWS_PROFILE`), in `AWS_REGION`,
///   at `AWS_ENDPOINT_URL` for an S3-compatible server (see
///   [`crate::s3::config`]).
///
/// # Errors
///
/// [`Error::InvalidStoreUrl`] saying what is wrong; no secret is ever in it.
pub fn open(url: &str) -> Result<Arc<dyn Store>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    open_with(url, &env, &StoreSettings::from_env(&env)?)
}

/// Opens the Azure Blob Storage account or container at `url` (an
/// `https://` URL, without a SAS), signing every request with a token of
/// `credential`: the caller's own source of Entra ID tokens. The store keeps
/// each token and asks for a new one before it expires. The settings are
/// the environment's (`BATCHOUT_RETRIES`…).
///
/// # Errors
///
/// [`Error::InvalidStoreUrl`] for a URL that is not an Azure endpoint, or
/// is plain `http://`, or carries a SAS; [`Error::InvalidSetting`] for a
/// setting's variable that is not valid.
pub fn open_with_credential(
    url: &str,
    credential: Arc<dyn TokenCredential>,
) -> Result<Arc<dyn Store>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let settings = StoreSettings::from_env(&env)?;
    let invalid = |reason: &str| Error::InvalidStoreUrl {
        url: config::redact_url(url),
        reason: reason.to_owned(),
    };
    if !url.starts_with("https://") {
        return Err(invalid(
            "an Entra ID token is sent over https:// only; give the account's https:// URL",
        ));
    }
    if url.contains('?') {
        return Err(invalid(
            "it carries a SAS; give the URL without its query to sign in with the credential",
        ));
    }
    // Located as an anonymous store, then given the credential.
    let mut located = settings.azure.clone();
    located.auth = Some(config::AuthMode::Anonymous);
    let mut target = config::from_url_with(url, &|_| None, &located)?;
    target.credential = Credential::Token(credential);
    Ok(Arc::new(AzureStore::new(target, settings.azure_options())?))
}

/// Opens the store named by `explicit` (a `--store` flag), else the
/// `BATCHOUT_STORE` variable, else the `AZURE_STORAGE_CONNECTION_STRING` or
/// `AZURE_STORAGE_ACCOUNT` variables, else the local directory
/// [`DEFAULT_LOCAL_STORE`].
///
/// # Errors
///
/// As [`open`].
pub fn open_configured(explicit: Option<&str>) -> Result<Arc<dyn Store>> {
    open_configured_with(explicit, &StoreSettings::default())
}

/// As [`open_configured`], with settings that take precedence over the
/// environment's (command-line flags, say).
///
/// # Errors
///
/// As [`open`]; and [`Error::InvalidSetting`] for a setting's variable
/// whose value is not valid.
pub fn open_configured_with(
    explicit: Option<&str>,
    settings: &StoreSettings,
) -> Result<Arc<dyn Store>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let settings = settings.clone().or(StoreSettings::from_env(&env)?);
    if let Some(url) = named_url(explicit, &env) {
        return open_with(&url, &env, &settings);
    }
    if let Some(target) = config::from_env_with(&env, &settings.azure)? {
        return Ok(Arc::new(AzureStore::new(target, settings.azure_options())?));
    }
    open_with(DEFAULT_LOCAL_STORE, &env, &settings)
}

/// The store URL given: `explicit`, else `BATCHOUT_STORE`.
fn named_url(explicit: Option<&str>, env: EnvLookup<'_>) -> Option<String> {
    explicit
        .map(str::to_owned)
        .or_else(|| env("BATCHOUT_STORE"))
}

/// Whether [`open_configured_with`] would open a local directory store, told
/// without opening anything: a named URL that is a path or `file://` URL, or
/// nothing named and no `AZURE_STORAGE_*` variables (the default). A process
/// sizes its threads by it before it opens the store.
pub fn configured_is_local(explicit: Option<&str>) -> bool {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    match named_url(explicit, &env) {
        Some(url) => url_is_local(&url),
        None => matches!(config::from_env(&env), Ok(None)),
    }
}

/// Whether [`open_with`] makes a local directory store of `url`.
fn url_is_local(url: &str) -> bool {
    match url.split_once("://") {
        Some((scheme, _)) => scheme == "file",
        None => !url.trim().is_empty() && !config::is_connection_string(url),
    }
}

fn open_with(url: &str, env: EnvLookup<'_>, settings: &StoreSettings) -> Result<Arc<dyn Store>> {
    let invalid = |reason: &str| Error::InvalidStoreUrl {
        url: config::redact_url(url),
        reason: reason.to_owned(),
    };
    if url.trim().is_empty() {
        return Err(invalid(
            "it is empty; give a directory path or a URL, or name no store (and leave BATCHOUT_STORE unset) for ./batchout-data",
        ));
    }
    if let Some(path) = url.strip_prefix("file://") {
        if !path.starts_with('/') {
            return Err(invalid(
                "a file:// URL needs an absolute path, as in file:///data/outputs",
            ));
        }
        return Ok(Arc::new(settings.local_store(PathBuf::from(path))));
    }
    if url.starts_with("http://") || url.starts_with("https://") {
        let target = config::from_url_with(url, env, &settings.azure)?;
        return Ok(Arc::new(AzureStore::new(target, settings.azure_options())?));
    }
    if config::is_connection_string(url) {
        let target = config::from_connection_string_with(url, env, &settings.azure)?;
        return Ok(Arc::new(AzureStore::new(target, settings.azure_options())?));
    }
    if url.starts_with("s3://") {
        let target = crate::s3::config::from_url(url, env)?;
        let options = crate::S3Options::from_settings(settings);
        return Ok(Arc::new(crate::S3Store::new(target, options)?));
    }
    if let Some((scheme, _)) = url.split_once("://") {
        return Err(invalid(&format!(
            "{scheme}:// stores are not supported; give a directory path, a file:/// URL, an https:// Azure URL, a connection string or an s3:// URL"
        )));
    }
    Ok(Arc::new(settings.local_store(PathBuf::from(url))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn none() -> StoreSettings {
        StoreSettings::default()
    }

    #[test]
    fn local_urls_are_told_from_remote_ones_as_they_are_opened() {
        let local = [
            "./batchout-data",
            "/data/out",
            "file:///data/out",
            "out dir",
        ];
        let remote = [
            "https://acct.blob.core.windows.net",
            "http://127.0.0.1:10000/devstoreaccount1",
            "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=a2V5;EndpointSuffix=core.windows.net",
            "s3://bucket",
            "",
        ];
        for url in local {
            assert!(url_is_local(url), "{url}");
            let opened = open_with(url, &no_env, &none()).expect(url);
            assert!(opened.to_string().contains("local"), "{url}: {opened}");
        }
        for url in remote {
            assert!(!url_is_local(url), "{url}");
            if let Ok(opened) = open_with(url, &no_env, &none()) {
                assert!(!opened.to_string().contains("local"), "{url}: {opened}");
            }
        }
    }

    #[test]
    fn paths_and_file_urls_open_local_stores() {
        let store =
            open_with("some/dir", &no_env, &StoreSettings::default()).expect("a path opens");
        assert!(store.to_string().contains("some/dir"), "{store}");
        let store = open_with("file:///tmp/x", &no_env, &none()).expect("a file URL opens");
        assert!(store.to_string().contains("/tmp/x"), "{store}");
    }

    #[test]
    fn azure_urls_and_connection_strings_open_azure_stores() {
        let store =
            open_with("http://127.0.0.1:10000/devstoreaccount1", &no_env, &none()).expect("opens");
        assert_eq!(
            store.to_string(),
            "Azure Blob Storage http://127.0.0.1:10000/devstoreaccount1 (account key)"
        );
        let store = open_with("UseDevelopmentStorage=true", &no_env, &none()).expect("opens");
        assert!(
            store.to_string().starts_with("Azure Blob Storage"),
            "{store}"
        );
        let sas = "https://acct.blob.core.windows.net/job-x?sv=2021-12-02&sr=c&sp=racwl&sig=SECRET";
        let store = open_with(sas, &no_env, &none()).expect("opens");
        assert_eq!(
            store
                .capabilities()
                .bound_container
                .expect("bound")
                .as_str(),
            "job-x"
        );
        assert!(!format!("{store} {store:?}").contains("SECRET"));
    }

    #[test]
    fn unknown_schemes_and_empty_urls_are_refused_with_a_hint() {
        let err = open_with("ftp://host/x", &no_env, &none()).expect_err("ftp is not a store");
        assert!(
            err.to_string().contains("ftp:// stores are not supported"),
            "{err}"
        );
        assert!(open_with("", &no_env, &none()).is_err());
        assert!(open_with("file://relative", &no_env, &none()).is_err());
    }

    /// A caller's source that never gives a token, saying so.
    #[derive(Debug)]
    struct Refusing;

    #[async_trait::async_trait]
    impl TokenCredential for Refusing {
        async fn token(&self, scope: &str) -> Result<crate::AccessToken> {
            Err(Error::Credential {
                credential: "the caller's own".into(),
                reason: format!("asked for {scope}"),
                unavailable: false,
            })
        }
    }

    #[tokio::test]
    async fn a_callers_credential_signs_an_https_account_and_nothing_else() {
        let store = open_with_credential("https://acct.blob.core.windows.net", Arc::new(Refusing))
            .expect("opens");
        assert_eq!(
            store.to_string(),
            "Azure Blob Storage https://acct.blob.core.windows.net (Entra ID)"
        );
        let container = crate::ContainerName::parse("job-x").expect("valid");
        let err = store
            .list_page(&container, &crate::ListOptions::default())
            .await
            .expect_err("no token");
        assert!(
            err.to_string()
                .contains("the caller's own: asked for https://storage.azure.com/.default"),
            "{err}"
        );
        for refused in [
            "http://127.0.0.1:10000/devstoreaccount1",
            "https://acct.blob.core.windows.net/job-x?sv=1&sig=SECRET",
        ] {
            let err = open_with_credential(refused, Arc::new(Refusing)).expect_err(refused);
            assert!(!err.to_string().contains("SECRET"), "{err}");
        }
    }
}
