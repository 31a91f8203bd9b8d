//! The sources tried in order, and the one source a user forces: which is
//! set up is read from the environment when the store is opened; which
//! answers is found when the first token is asked for, and kept.

use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{
    AccessToken, AzureCliCredential, ClientSecretCredential, ManagedIdentityCredential, Secret,
    TokenCredential, WorkloadIdentityCredential,
};
use crate::{EnvLookup, Error, Result};

/// Sources tried in order until one gives a token; that one is kept for
/// every later token. A source whose error says it is not set up here
/// ([`Error::Credential`] with `unavailable`) is passed over; any other
/// error stops the chain (a service principal whose secret is refused is
/// not silently replaced by another identity).
pub struct ChainedCredential {
    sources: Vec<Arc<dyn TokenCredential>>,
    /// Why each source left out when the chain was made was left out.
    skipped: Vec<String>,
    chosen: Mutex<Option<usize>>,
}

impl fmt::Debug for ChainedCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainedCredential")
            .field("sources", &self.sources)
            .finish_non_exhaustive()
    }
}

/// The variables of an application's sign-in.
const TENANT: &str = "AZURE_TENANT_ID";
const CLIENT_ID: &str = "AZURE_CLIENT_ID";
const CLIENT_SECRET: &str = "AZURE_CLIENT_SECRET";
const TOKEN_FILE: &str = "AZURE_FEDERATED_TOKEN_FILE";
const AUTHORITY: &str = "AZURE_AUTHORITY_HOST";

impl ChainedCredential {
    /// Tries `sources` in order.
    pub fn new(sources: Vec<Arc<dyn TokenCredential>>) -> Self {
        Self {
            sources,
            skipped: Vec::new(),
            chosen: Mutex::new(None),
        }
    }

    /// The default order, as the environment sets it up:
    ///
    /// 1. a service principal, when `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`
    ///    and `AZURE_CLIENT_SECRET` are set;
    /// 2. workload identity, when `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and
    ///    `AZURE_FEDERATED_TOKEN_FILE` are set;
    /// 3. a managed identity: `IDENTITY_ENDPOINT` and `IDENTITY_HEADER`, else
    ///    IMDS (passed over when nothing answers, or it has no identity);
    ///    `client_id`, else `AZURE_CLIENT_ID`, chooses a user-assigned one;
    /// 4. the Azure CLI's account (passed over when `az` is not installed
    ///    or not logged in).
    ///
    /// Each reaches Entra ID at `AZURE_AUTHORITY_HOST` (default the public
    /// cloud).
    ///
    /// # Errors
    ///
    /// [`Error::Credential`] for a variable that holds no valid value (a
    /// tenant that is no tenant id, an authority that is no `https://` URL).
    pub fn from_env(env: EnvLookup<'_>, client_id: Option<&str>) -> Result<Self> {
        let mut sources: Vec<Arc<dyn TokenCredential>> = Vec::new();
        let mut skipped = Vec::new();
        match service_principal(env)? {
            Ok(sp) => sources.push(Arc::new(sp)),
            Err(missing) => skipped.push(format!("a service principal: {missing}")),
        }
        match workload_identity(env)? {
            Ok(wi) => sources.push(Arc::new(wi)),
            Err(missing) => skipped.push(format!("workload identity: {missing}")),
        }
        sources.push(Arc::new(managed_identity(env, client_id)?.probing()));
        sources.push(Arc::new(AzureCliCredential::new()));
        Ok(Self {
            sources,
            skipped,
            chosen: Mutex::new(None),
        })
    }

    fn chosen(&self) -> Option<usize> {
        *self
            .chosen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl TokenCredential for ChainedCredential {
    async fn token(&self, scope: &str) -> Result<AccessToken> {
        if let Some(index) = self.chosen() {
            return self.sources[index].token(scope).await;
        }
        let mut passed = self.skipped.clone();
        for (index, source) in self.sources.iter().enumerate() {
            match source.token(scope).await {
                Ok(token) => {
                    *self
                        .chosen
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(index);
                    return Ok(token);
                }
                Err(Error::Credential {
                    credential,
                    reason,
                    unavailable: true,
                }) => {
                    tracing::debug!("Entra ID: {credential} is not set up here: {reason}");
                    passed.push(format!("{credential}: {reason}"));
                }
                Err(error) => return Err(error),
            }
        }
        Err(Error::Credential {
            credential: "Entra ID".into(),
            reason: format!(
                "no source of tokens is set up here ({}); give the store an account key or a SAS, or set one of these up",
                passed.join("; ")
            ),
            unavailable: true,
        })
    }

    fn name(&self) -> String {
        match self.chosen() {
            Some(index) => self.sources[index].name(),
            None => "Entra ID (the first of: service principal, workload identity, managed identity, Azure CLI)".into(),
        }
    }
}

/// A service principal from the environment; `Ok(Err(why))` when its
/// variables are not all set.
fn service_principal(
    env: EnvLookup<'_>,
) -> Result<std::result::Result<ClientSecretCredential, String>> {
    let (Some(tenant), Some(client), Some(secret)) =
        (env(TENANT), env(CLIENT_ID), env(CLIENT_SECRET))
    else {
        return Ok(Err(missing(env, &[TENANT, CLIENT_ID, CLIENT_SECRET])));
    };
    ClientSecretCredential::new(
        &tenant,
        &client,
        Secret::new(secret),
        env(AUTHORITY).as_deref(),
    )
    .map(Ok)
}

/// Workload identity from the environment; `Ok(Err(why))` when its
/// variables are not all set.
fn workload_identity(
    env: EnvLookup<'_>,
) -> Result<std::result::Result<WorkloadIdentityCredential, String>> {
    let (Some(tenant), Some(client), Some(file)) = (env(TENANT), env(CLIENT_ID), env(TOKEN_FILE))
    else {
        return Ok(Err(missing(env, &[TENANT, CLIENT_ID, TOKEN_FILE])));
    };
    WorkloadIdentityCredential::new(&tenant, &client, file, env(AUTHORITY).as_deref()).map(Ok)
}

/// The managed identity of this machine, the user-assigned one `client_id`
/// (else `AZURE_CLIENT_ID`) names.
fn managed_identity(
    env: EnvLookup<'_>,
    client_id: Option<&str>,
) -> Result<ManagedIdentityCredential> {
    let client_id = client_id.map(str::to_owned).or_else(|| env(CLIENT_ID));
    ManagedIdentityCredential::from_env(env, client_id.as_deref())
}

/// "AZURE_CLIENT_SECRET is not set", for those of `names` that are not.
fn missing(env: EnvLookup<'_>, names: &[&str]) -> String {
    let unset: Vec<&str> = names.iter().copied().filter(|n| env(n).is_none()).collect();
    match unset.as_slice() {
        [one] => format!("{one} is not set"),
        many => format!("{} are not set", many.join(", ")),
    }
}

/// Which source `--auth` (`BATCHOUT_AUTH`) forces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Forced {
    /// The default order.
    Chain,
    /// A service principal.
    ServicePrincipal,
    /// Workload identity.
    WorkloadIdentity,
    /// A managed identity.
    ManagedIdentity,
    /// The Azure CLI.
    Cli,
}

/// The token source `forced` names, from the environment; `client_id`
/// chooses a user-assigned managed identity.
///
/// # Errors
///
/// [`Error::Credential`] when a forced source's variables are not all set,
/// or hold no valid value.
pub(crate) fn source(
    forced: Forced,
    env: EnvLookup<'_>,
    client_id: Option<&str>,
) -> Result<Arc<dyn TokenCredential>> {
    let not_set = |credential: &str, why: String| Error::Credential {
        credential: credential.to_owned(),
        reason: format!("{why}; set it, or choose another way to sign in"),
        unavailable: false,
    };
    Ok(match forced {
        Forced::Chain => Arc::new(ChainedCredential::from_env(env, client_id)?),
        Forced::ServicePrincipal => {
            Arc::new(service_principal(env)?.map_err(|why| not_set("a service principal", why))?)
        }
        Forced::WorkloadIdentity => {
            Arc::new(workload_identity(env)?.map_err(|why| not_set("workload identity", why))?)
        }
        Forced::ManagedIdentity => Arc::new(managed_identity(env, client_id)?),
        Forced::Cli => Arc::new(AzureCliCredential::new()),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// A source that is not set up, fails, or gives a token; counting calls.
    #[derive(Debug)]
    struct Scripted {
        name: &'static str,
        outcome: Option<bool>,
        calls: AtomicU32,
    }

    #[async_trait]
    impl TokenCredential for Scripted {
        async fn token(&self, _scope: &str) -> Result<AccessToken> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            match self.outcome {
                Some(true) => Ok(AccessToken::new(
                    Secret::new(self.name),
                    std::time::SystemTime::now(),
                )),
                fails => Err(Error::Credential {
                    credential: self.name.into(),
                    reason: "no".into(),
                    unavailable: fails.is_none(),
                }),
            }
        }

        fn name(&self) -> String {
            self.name.to_owned()
        }
    }

    fn scripted(name: &'static str, outcome: Option<bool>) -> Arc<Scripted> {
        Arc::new(Scripted {
            name,
            outcome,
            calls: AtomicU32::new(0),
        })
    }

    #[tokio::test]
    async fn the_first_source_set_up_answers_and_is_kept() {
        let (a, b, c) = (
            scripted("a", None),
            scripted("b", Some(true)),
            scripted("c", Some(true)),
        );
        let chain = ChainedCredential::new(vec![a.clone(), b.clone(), c.clone()]);
        assert!(chain.name().starts_with("Entra ID"));
        assert_eq!(chain.token("s").await.expect("b").secret.expose(), "b");
        assert_eq!(chain.name(), "b");
        chain.token("s").await.expect("b again");
        assert_eq!(
            [&a, &b, &c].map(|s| s.calls.load(Ordering::SeqCst)),
            [1, 2, 0]
        );
    }

    #[tokio::test]
    async fn a_source_set_up_that_fails_stops_the_chain() {
        let chain = ChainedCredential::new(vec![
            scripted("a", None),
            scripted("b", Some(false)),
            scripted("c", Some(true)),
        ]);
        let err = chain.token("s").await.expect_err("b fails");
        assert!(
            matches!(&err, Error::Credential { credential, unavailable: false, .. } if credential == "b")
        );

        let none = ChainedCredential::new(vec![scripted("a", None), scripted("b", None)]);
        let err = none.token("s").await.expect_err("none set up").to_string();
        assert!(err.contains("a: no; b: no"), "{err}");
        assert!(err.contains("account key or a SAS"), "{err}");
    }

    #[test]
    fn the_environment_decides_which_sources_are_in_the_chain() {
        let env = |name: &str| match name {
            "AZURE_TENANT_ID" => Some("t".to_owned()),
            "AZURE_CLIENT_ID" => Some("c".to_owned()),
            "AZURE_FEDERATED_TOKEN_FILE" => Some("/var/run/token".to_owned()),
            _ => None,
        };
        let chain = ChainedCredential::from_env(&env, None).expect("chain");
        let names: Vec<String> = chain.sources.iter().map(|s| s.name()).collect();
        assert_eq!(
            names,
            [
                "workload identity (client c)",
                "a managed identity (IMDS, client c)",
                "the Azure CLI's account (az login)"
            ]
        );
        assert_eq!(
            chain.skipped,
            ["a service principal: AZURE_CLIENT_SECRET is not set"]
        );
        let err = source(Forced::ServicePrincipal, &env, None).expect_err("no secret");
        assert!(
            err.to_string().contains("AZURE_CLIENT_SECRET is not set"),
            "{err}"
        );
        let mi = source(Forced::ManagedIdentity, &env, Some("u")).expect("mi");
        assert_eq!(mi.name(), "a managed identity (IMDS, client u)");
    }
}
