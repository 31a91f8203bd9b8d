//! A token kept for the process and refreshed before it expires, so that a
//! `track` or `run` of hours keeps working on a token of one.
//!
//! A token is refreshed when less than five minutes of it remain, or, for a
//! token that lives less than ten minutes, at half its life. One refresh
//! runs at a time: the requests that need a token meanwhile wait for it. A
//! refresh that fails while the token still has time left is logged and
//! tried again a little later; once the token has run out, its error is
//! every request's.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use tokio::sync::Mutex;

use super::{AccessToken, TokenCredential};
use crate::Result;

/// A token is refreshed when less than this is left of it…
const MARGIN: Duration = Duration::from_secs(300);
/// …and not used once less than this is left (a quarter of the life of a
/// short token): a request may take a while to reach the service.
const SLACK: Duration = Duration::from_secs(5);
/// The longest wait before a failed refresh is tried again, while the token
/// still has time.
const RETRY_REFRESH: Duration = Duration::from_secs(30);

/// A [`TokenCredential`] that keeps the token of another for each scope and
/// refreshes it before it expires.
pub struct CachedCredential {
    inner: Arc<dyn TokenCredential>,
    tokens: Mutex<HashMap<String, Kept>>,
}

struct Kept {
    token: AccessToken,
    /// When to refresh it.
    refresh_at: SystemTime,
    /// How close to its expiry it is no longer used: [`SLACK`], or a
    /// quarter of the life of a short token.
    slack: Duration,
    /// After a failed refresh: not before this.
    retry_at: Option<Instant>,
}

impl CachedCredential {
    /// Keeps the tokens `inner` gives.
    pub fn new(inner: Arc<dyn TokenCredential>) -> Self {
        Self {
            inner,
            tokens: Mutex::new(HashMap::new()),
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

/// When a token obtained at `obtained` should be refreshed: five minutes
/// before it expires, or at half its life if that is sooner.
fn refresh_at(obtained: SystemTime, expires_on: SystemTime) -> SystemTime {
    let life = expires_on
        .duration_since(obtained)
        .unwrap_or(Duration::ZERO);
    expires_on - MARGIN.min(life / 2)
}

#[async_trait]
impl TokenCredential for CachedCredential {
    async fn token(&self, scope: &str) -> Result<AccessToken> {
        let mut tokens = self.tokens.lock().await;
        let now = SystemTime::now();
        if let Some(kept) = tokens.get(scope) {
            let usable = kept.token.expires_on > now + kept.slack;
            let waiting = kept.retry_at.is_some_and(|at| Instant::now() < at);
            if now < kept.refresh_at || (usable && waiting) {
                return Ok(kept.token.clone());
            }
        }
        let first = !tokens.contains_key(scope);
        match self.inner.token(scope).await {
            Ok(token) => {
                let obtained = SystemTime::now();
                let lifetime = token
                    .expires_on
                    .duration_since(obtained)
                    .unwrap_or(Duration::ZERO);
                if first {
                    tracing::info!(
                        "signed in to Azure Storage with Entra ID: {} (token valid for {}s)",
                        self.inner.name(),
                        lifetime.as_secs()
                    );
                } else {
                    tracing::debug!(
                        "refreshed the Entra ID token from {} (valid for {}s)",
                        self.inner.name(),
                        lifetime.as_secs()
                    );
                }
                tokens.insert(
                    scope.to_owned(),
                    Kept {
                        refresh_at: refresh_at(obtained, token.expires_on),
                        slack: SLACK.min(lifetime / 4),
                        token: token.clone(),
                        retry_at: None,
                    },
                );
                Ok(token)
            }
            Err(error) => {
                if let Some(kept) = tokens.get_mut(scope)
                    && kept.token.expires_on > now + kept.slack
                {
                    let left = kept.token.remaining();
                    tracing::warn!(
                        "could not refresh the Entra ID token ({error}); the current one is valid for {}s more, and the refresh will be tried again",
                        left.as_secs()
                    );
                    kept.retry_at = Some(Instant::now() + RETRY_REFRESH.min(left / 4));
                    return Ok(kept.token.clone());
                }
                Err(error)
            }
        }
    }

    fn name(&self) -> String {
        self.inner.name()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::super::Secret;
    use super::*;
    use crate::Error;

    /// Gives tokens of `lifetime`, numbered, and fails when told to.
    #[derive(Debug)]
    struct Counting {
        lifetime: Duration,
        calls: AtomicU32,
        failing: std::sync::atomic::AtomicBool,
    }

    #[async_trait]
    impl TokenCredential for Counting {
        async fn token(&self, _scope: &str) -> Result<AccessToken> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            if self.failing.load(Ordering::SeqCst) {
                return Err(Error::Credential {
                    credential: "counting".into(),
                    reason: "down".into(),
                    unavailable: false,
                });
            }
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
            failing: std::sync::atomic::AtomicBool::new(false),
        })
    }

    #[test]
    fn tokens_are_refreshed_five_minutes_before_expiry_or_at_half_life() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let hour = t0 + Duration::from_secs(3600);
        assert_eq!(refresh_at(t0, hour), hour - MARGIN);
        let short = t0 + Duration::from_secs(6);
        assert_eq!(refresh_at(t0, short), t0 + Duration::from_secs(3));
        assert_eq!(refresh_at(t0, t0), t0, "an expired token at once");
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

    #[tokio::test]
    async fn a_short_token_is_refreshed_at_half_life() {
        let source = counting(Duration::from_millis(5600));
        let cached = CachedCredential::new(source.clone());
        let first = cached.token("s").await.expect("token");
        assert_eq!(cached.token("s").await.expect("kept").secret, first.secret);
        tokio::time::sleep(Duration::from_millis(2900)).await;
        let second = cached.token("s").await.expect("refreshed");
        assert_ne!(second.secret, first.secret);
        assert_eq!(source.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_refresh_keeps_a_valid_token_and_an_expired_one_fails() {
        let source = counting(Duration::from_millis(5800));
        let cached = CachedCredential::new(source.clone());
        let first = cached.token("s").await.expect("token");
        source.failing.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(3000)).await;
        // Refresh due, and failing: the current token is still good.
        let kept = cached.token("s").await.expect("the current token");
        assert_eq!(kept.secret, first.secret);
        let calls = source.calls.load(Ordering::SeqCst);
        // Not asked again at once.
        cached.token("s").await.expect("the current token");
        assert_eq!(source.calls.load(Ordering::SeqCst), calls);
        // Once it has run out (past its slack), the failure is the answer.
        tokio::time::sleep(Duration::from_millis(2000)).await;
        let err = cached
            .token("s")
            .await
            .expect_err("expired, refresh failing");
        assert!(err.to_string().contains("down"), "{err}");
    }
}
