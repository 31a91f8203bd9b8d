//! A secret that expires (an Entra ID token, temporary AWS credentials),
//! kept for the process and refreshed before it expires, so that a `track`
//! or `run` of hours keeps working on credentials of one.
//!
//! It is refreshed when less than five minutes of it remain, or, for one
//! that lives less than ten minutes, at half its life. One refresh runs at
//! a time: the requests that need it meanwhile wait for it. A refresh that
//! fails while the kept one still has time left is logged and tried again a
//! little later; once it has run out, the refresh's error is every
//! request's. One that never expires (static keys) is fetched once.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Mutex;

use crate::Result;

/// Refreshed when less than this is left…
const MARGIN: Duration = Duration::from_secs(300);
/// …and not used once less than this is left (a quarter of the life of a
/// short one): a request may take a while to reach the service.
const SLACK: Duration = Duration::from_secs(5);
/// The longest wait before a failed refresh is tried again, while the kept
/// one still has time.
const RETRY_REFRESH: Duration = Duration::from_secs(30);

/// Something that expires.
pub(crate) trait Expiring: Clone {
    /// When it stops being accepted; `None` for never.
    fn expires_on(&self) -> Option<SystemTime>;
}

/// The latest value of an expiring secret, and when to refresh it.
pub(crate) struct Refreshing<T> {
    kept: Mutex<Option<Kept<T>>>,
}

struct Kept<T> {
    value: T,
    /// When to refresh it (`None`: never).
    refresh_at: Option<SystemTime>,
    /// How close to its expiry it is no longer used.
    slack: Duration,
    /// After a failed refresh: not before this.
    retry_at: Option<Instant>,
}

impl<T> Kept<T> {
    /// Whether it may still be sent at `now`.
    fn usable(&self, expires_on: Option<SystemTime>, now: SystemTime) -> bool {
        expires_on.is_none_or(|at| at > now + self.slack)
    }
}

/// What a caller hears of a refresh, to log it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Obtained {
    /// Whether it is the first value of the process.
    pub(crate) first: bool,
    /// How long it is valid for (`None`: no expiry).
    pub(crate) lifetime: Option<Duration>,
}

impl<T: Expiring> Refreshing<T> {
    /// Nothing kept yet.
    pub(crate) fn new() -> Self {
        Self {
            kept: Mutex::new(None),
        }
    }

    /// The kept value, or a new one from `fetch` when it is due for a
    /// refresh; `obtained` is told of each new one, and `what` names it in
    /// the warning of a failed refresh ("the Entra ID token").
    ///
    /// # Errors
    ///
    /// `fetch`'s error, when nothing usable is kept.
    pub(crate) async fn get<F, Fut>(
        &self,
        fetch: F,
        what: &str,
        obtained: impl FnOnce(Obtained),
    ) -> Result<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut kept = self.kept.lock().await;
        let now = SystemTime::now();
        if let Some(current) = kept.as_ref() {
            let expires_on = current.value.expires_on();
            let waiting = current.retry_at.is_some_and(|at| Instant::now() < at);
            let due = current.refresh_at.is_some_and(|at| now >= at);
            if !due || (current.usable(expires_on, now) && waiting) {
                return Ok(current.value.clone());
            }
        }
        match fetch().await {
            Ok(value) => {
                let fetched = SystemTime::now();
                let lifetime = value
                    .expires_on()
                    .map(|at| at.duration_since(fetched).unwrap_or(Duration::ZERO));
                obtained(Obtained {
                    first: kept.is_none(),
                    lifetime,
                });
                *kept = Some(Kept {
                    refresh_at: value.expires_on().map(|at| refresh_at(fetched, at)),
                    slack: lifetime.map_or(SLACK, |life| SLACK.min(life / 4)),
                    value: value.clone(),
                    retry_at: None,
                });
                Ok(value)
            }
            Err(error) => {
                if let Some(current) = kept.as_mut() {
                    let expires_on = current.value.expires_on();
                    if current.usable(expires_on, now) {
                        let left = expires_on
                            .and_then(|at| at.duration_since(now).ok())
                            .unwrap_or(Duration::ZERO);
                        tracing::warn!(
                            "could not refresh {what} ({error}); the current one is valid for {}s more, and the refresh will be tried again",
                            left.as_secs()
                        );
                        current.retry_at = Some(Instant::now() + RETRY_REFRESH.min(left / 4));
                        return Ok(current.value.clone());
                    }
                }
                Err(error)
            }
        }
    }
}

/// When a value obtained at `obtained` should be refreshed: five minutes
/// before it expires, or at half its life if that is sooner.
fn refresh_at(obtained: SystemTime, expires_on: SystemTime) -> SystemTime {
    let life = expires_on
        .duration_since(obtained)
        .unwrap_or(Duration::ZERO);
    expires_on - MARGIN.min(life / 2)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

    use super::*;
    use crate::Error;

    #[derive(Debug, Clone, PartialEq)]
    struct Value {
        n: u32,
        expires_on: Option<SystemTime>,
    }

    impl Expiring for Value {
        fn expires_on(&self) -> Option<SystemTime> {
            self.expires_on
        }
    }

    /// Gives values of `lifetime` (`None`: never expiring), numbered, and
    /// fails when told to.
    struct Source {
        lifetime: Option<Duration>,
        calls: AtomicU32,
        failing: AtomicBool,
    }

    impl Source {
        fn new(lifetime: Option<Duration>) -> Arc<Self> {
            Arc::new(Self {
                lifetime,
                calls: AtomicU32::new(0),
                failing: AtomicBool::new(false),
            })
        }

        async fn fetch(&self) -> Result<Value> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            if self.failing.load(Ordering::SeqCst) {
                return Err(Error::Credential {
                    credential: "source".into(),
                    reason: "down".into(),
                    unavailable: false,
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(Value {
                n,
                expires_on: self.lifetime.map(|l| SystemTime::now() + l),
            })
        }

        fn calls(&self) -> u32 {
            self.calls.load(Ordering::SeqCst)
        }
    }

    async fn get(kept: &Refreshing<Value>, source: &Source) -> Result<Value> {
        kept.get(|| source.fetch(), "the value", |_| {}).await
    }

    #[test]
    fn refreshed_five_minutes_before_expiry_or_at_half_life() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let hour = t0 + Duration::from_secs(3600);
        assert_eq!(refresh_at(t0, hour), hour - MARGIN);
        let short = t0 + Duration::from_secs(6);
        assert_eq!(refresh_at(t0, short), t0 + Duration::from_secs(3));
        assert_eq!(refresh_at(t0, t0), t0, "an expired one at once");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_fetch_serves_every_request_until_it_is_due() {
        let source = Source::new(Some(Duration::from_secs(3600)));
        let kept = Arc::new(Refreshing::new());
        let asks = (0..16).map(|_| {
            let kept = Arc::clone(&kept);
            let source = Arc::clone(&source);
            tokio::spawn(async move { get(&kept, &source).await })
        });
        for ask in asks {
            assert_eq!(ask.await.expect("task").expect("value").n, 0);
        }
        assert_eq!(source.calls(), 1, "one refresh at a time");
    }

    #[tokio::test]
    async fn what_never_expires_is_fetched_once() {
        let source = Source::new(None);
        let kept = Refreshing::new();
        let mut told = Vec::new();
        for _ in 0..3 {
            let value = kept
                .get(|| source.fetch(), "the value", |o| told.push(o))
                .await
                .expect("value");
            assert_eq!(value.n, 0);
        }
        assert_eq!(source.calls(), 1);
        assert_eq!(told.len(), 1);
        assert!(told[0].first && told[0].lifetime.is_none());
    }

    #[tokio::test]
    async fn a_short_one_is_refreshed_at_half_life() {
        let source = Source::new(Some(Duration::from_millis(5600)));
        let kept = Refreshing::new();
        let first = get(&kept, &source).await.expect("value");
        assert_eq!(get(&kept, &source).await.expect("kept"), first);
        tokio::time::sleep(Duration::from_millis(2900)).await;
        let second = get(&kept, &source).await.expect("refreshed");
        assert_ne!(second, first);
        assert_eq!(source.calls(), 2);
    }

    #[tokio::test]
    async fn a_failed_refresh_keeps_a_valid_one_and_an_expired_one_fails() {
        let source = Source::new(Some(Duration::from_millis(5800)));
        let kept = Refreshing::new();
        let first = get(&kept, &source).await.expect("value");
        source.failing.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(3000)).await;
        // Refresh due, and failing: the current one is still good.
        assert_eq!(get(&kept, &source).await.expect("the current one"), first);
        let calls = source.calls();
        // Not asked again at once.
        get(&kept, &source).await.expect("the current one");
        assert_eq!(source.calls(), calls);
        // Once it has run out (past its slack), the failure is the answer.
        tokio::time::sleep(Duration::from_millis(2000)).await;
        let err = get(&kept, &source).await.expect_err("expired, failing");
        assert!(err.to_string().contains("down"), "{err}");
    }
}
