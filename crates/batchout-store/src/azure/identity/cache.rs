//! A token kept for the process and refreshed before it expires, one per
//! scope, by the rules of [`crate::expiring`]: five minutes before it
//! expires (or at half the life of a short token), one refresh at a time,
//! and a failed refresh tried again later while the token still has time.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;

use super::{AccessToken, TokenCredential};
use crate::Result;
use crate::expiring::{Expiring, Refreshing};

/// A [`TokenCredential`] that keeps the token of another for each scope and
/// refreshes it before it expires.
pub struct CachedCredential {
    inner: Arc<dyn TokenCredential>,
    tokens: std::sync::Mutex<HashMap<String, Arc<Refreshing<AccessToken>>>>,
}

impl CachedCredential {
    /// Keeps the tokens `inner` gives.
    pub fn new(inner: Arc<dyn TokenCredential>) -> Self {
        Self {
            inner,
            tokens: std::sync::Mutex::new(HashMap::new()),
        }
    }
}

impl fmt::Debug for CachedCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedCredential")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl Expiring for AccessToken {
    fn expires_on(&self) -> Option<SystemTime> {
        Some(self.expires_on)
    }
}

#[async_trait]
impl TokenCredential for CachedCredential {
    async fn token(&self, scope: &str) -> Result<AccessToken> {
        let kept = {
            let mut tokens = self
                .tokens
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(
                tokens
                    .entry(scope.to_owned())
                    .or_insert_with(|| Arc::new(Refreshing::new())),
            )
        };
        kept.get(
            || self.inner.token(scope),
            "the Entra ID token",
            |obtained| {
                // Named after the fetch: a chain names the source it took.
                let name = self.inner.name();
                let seconds = obtained.lifetime.unwrap_or_default().as_secs();
                if obtained.first {
                    tracing::info!(
                        "signed in to Azure Storage with Entra ID: {name} (token valid for {seconds}s)"
                    );
                } else {
                    tracing::debug!("refreshed the Entra ID token from {name} (valid for {seconds}s)");
                }
            },
        )
        .await
    }

    fn name(&self) -> String {
        self.inner.name()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use super::super::Secret;
    use super::*;

    /// Gives tokens of `lifetime`, numbered.
    #[derive(Debug)]
    struct Counting {
        lifetime: Duration,
        calls: AtomicU32,
    }

    #[async_trait]
    impl TokenCredential for Counting {
        async fn token(&self, _scope: &str) -> Result<AccessToken> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(AccessToken::new(
                Secret::new(format!("token-{n}")),
                SystemTime::now() + self.lifetime,
            ))
        }
    }

    fn counting(lifetime: Duration) -> Arc<Counting> {
        Arc::new(Counting {
            lifetime,
            calls: AtomicU32::new(0),
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_token_serves_every_request_until_it_must_be_refreshed() {
        let source = counting(Duration::from_secs(3600));
        let cached = Arc::new(CachedCredential::new(source.clone()));
        let asks = (0..16).map(|_| {
            let cached = Arc::clone(&cached);
            tokio::spawn(async move { cached.token("s").await })
        });
        for ask in asks {
            let token = ask.await.expect("task").expect("token");
            assert_eq!(token.secret.expose(), "token-0");
        }
        assert_eq!(
            source.calls.load(Ordering::SeqCst),
            1,
            "one refresh at a time"
        );
        cached.token("other").await.expect("another scope");
        assert_eq!(source.calls.load(Ordering::SeqCst), 2, "kept per scope");
    }
}
