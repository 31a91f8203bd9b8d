//! Retrying what failed transiently, for every remote backend: the policy
//! (attempts, backoff with jitter, `Retry-After`, timeouts, the deadline of
//! an operation) and the loop that applies it (decision 0004).

use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

use crate::{Error, Result};

/// How requests are retried and timed.
///
/// A request fails *transiently* on 408, 429, 500, 502, 503 and 504, on a
/// connection refused, reset or cut mid-body, and on a timeout
/// ([`Error::is_retryable`]); it is then tried again after a wait that doubles
/// from [`base_delay`](Self::base_delay) with jitter, or after the service's
/// `Retry-After`, until [`attempts`](Self::attempts) are used up or the
/// operation's [`deadline`](Self::deadline) would pass ([`Error::GaveUp`]).
/// Any other failure (400, 403, 404, 409, a failed condition) is returned at
/// once.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub attempts: u32,
    /// The wait before the first retry; it doubles each time, with jitter.
    pub base_delay: Duration,
    /// The longest wait between two attempts, `Retry-After` aside.
    pub max_delay: Duration,
    /// The longest `Retry-After` honoured; a longer one is cut to this.
    pub max_retry_after: Duration,
    /// How long one request that is not a transfer (metadata, listings, creating,
    /// deleting, bodies up to 1 MiB) may take in all, its answer's body
    /// included.
    pub request_timeout: Duration,
    /// How long a transfer (an upload of more than 1 MiB, or a download)
    /// may go without moving a byte. A transfer that moves is never cut.
    pub idle_timeout: Duration,
    /// How long one operation may take across all its attempts and waits: no
    /// attempt starts once it has passed, no wait runs past it, and a request
    /// that is not a transfer waits no longer than what is left of it.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            deadline: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (from 1): exponential, capped,
    /// with full jitter from the clock's nanoseconds (good enough to spread
    /// the retries of many tasks, without a random number generator).
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let exponential = self
            .base_delay
            .saturating_mul(1 << attempt.saturating_sub(1).min(16));
        let capped = exponential.min(self.max_delay);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        capped.mul_f64(0.5 + f64::from(nanos % 1000) / 2000.0)
    }

    /// The wait before the `n`th resume in a row of a read that broke off:
    /// none before the first (a broken connection is usually no sign of a
    /// busy service), then doubling from the base delay.
    pub(crate) fn resume_wait(&self, n: u32) -> Duration {
        if n <= 1 {
            return Duration::ZERO;
        }
        self.base_delay
            .saturating_mul(1 << (n - 2).min(16))
            .min(self.max_delay)
    }
}

/// How one attempt failed: the error, the service's `Retry-After`, and whether
/// the request may have been applied although its answer was lost.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) error: Error,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) maybe_applied: bool,
}

impl Failure {
    /// A failure of a request that was never sent.
    pub(crate) fn of(error: Error) -> Self {
        Self {
            error,
            retry_after: None,
            maybe_applied: false,
        }
    }
}

/// Runs `attempt` until it succeeds, fails for good, or the policy gives up;
/// each attempt is given what is left of the operation's deadline. When an
/// earlier attempt may have been applied (its answer lost) and a later one
/// fails as if it had been, `applied` may say what that means: a success to
/// return instead of the error. Returns the outcome and how many attempts
/// were made.
pub(crate) async fn retrying<T, F, A>(
    policy: &RetryPolicy,
    mut attempt: A,
    applied: impl Fn(&Error) -> Option<T>,
) -> (Result<T>, u32)
where
    A: FnMut(Duration) -> F,
    F: Future<Output = std::result::Result<T, Failure>>,
{
    let started = Instant::now();
    let mut made = 0;
    let mut maybe_applied = false;
    loop {
        made += 1;
        let left = policy.deadline.saturating_sub(started.elapsed());
        let failure = match attempt(left).await {
            Ok(done) => return (Ok(done), made),
            Err(failure) => failure,
        };
        if maybe_applied && let Some(done) = applied(&failure.error) {
            tracing::info!("a request whose answer was lost had been applied");
            return (Ok(done), made);
        }
        maybe_applied |= failure.maybe_applied;
        let error = failure.error;
        if !error.is_retryable() {
            return (Err(error), made);
        }
        let delay = failure.retry_after.unwrap_or_else(|| policy.backoff(made));
        let out_of = if made >= policy.attempts {
            Some(None)
        } else if started.elapsed() + delay >= policy.deadline {
            Some(Some(policy.deadline))
        } else {
            None
        };
        if let Some(deadline) = out_of {
            let gave_up = Error::GaveUp {
                attempts: made,
                elapsed: shown_duration(started.elapsed()),
                deadline: deadline.map(shown_duration),
                last: Box::new(error),
            };
            return (Err(gave_up), made);
        }
        tracing::debug!(%error, attempt = made, ?delay, "retrying");
        tokio::time::sleep(delay).await;
    }
}

/// `Retry-After` as delay-seconds or an HTTP date.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// A duration as people write it: `30s`, `1m 30s`, `250ms`.
pub(crate) fn shown_duration(duration: Duration) -> String {
    let rounded = if duration >= Duration::from_secs(10) {
        Duration::from_secs(duration.as_secs())
    } else {
        Duration::from_millis(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
    };
    humantime::format_duration(rounded).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_as_seconds_or_a_date() {
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(60));
        let wait = parse_retry_after(&later).expect("a date");
        assert!(wait > Duration::from_secs(50) && wait <= Duration::from_secs(60));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn the_first_resume_is_at_once_and_later_ones_back_off() {
        let retry = RetryPolicy::default();
        assert_eq!(retry.resume_wait(1), Duration::ZERO);
        assert_eq!(retry.resume_wait(2), retry.base_delay);
        assert_eq!(retry.resume_wait(3), retry.base_delay * 2);
        assert_eq!(retry.resume_wait(40), retry.max_delay);
    }

    #[test]
    fn backoff_doubles_within_its_jitter_and_stops_at_the_cap() {
        let retry = RetryPolicy::default();
        for attempt in 1..8 {
            let full = (retry.base_delay * (1 << (attempt - 1))).min(retry.max_delay);
            let wait = retry.backoff(attempt);
            assert!(wait >= full / 2 && wait <= full, "{attempt}: {wait:?}");
        }
        assert!(retry.backoff(60) <= retry.max_delay);
    }

    #[tokio::test]
    async fn the_loop_gives_up_after_its_attempts_and_says_how_to_allow_more() {
        let retry = RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(1),
            ..RetryPolicy::default()
        };
        let busy = || Error::Unreachable {
            store: "s".into(),
            operation: "read",
            target: "t".into(),
            reason: "reset".into(),
        };
        let mut calls = 0;
        let (result, made) = retrying::<(), _, _>(
            &retry,
            |_| {
                calls += 1;
                std::future::ready(Err(Failure::of(busy())))
            },
            |_| None,
        )
        .await;
        assert_eq!((made, calls), (3, 3));
        let err = result.expect_err("always failing");
        assert!(matches!(err, Error::GaveUp { attempts: 3, .. }), "{err:?}");
        let shown = err.to_string();
        assert!(shown.contains("reset") && shown.contains("gave up after 3 attempts"));
        assert!(
            shown.contains("BATCHOUT_RETRIES") && !shown.contains("--"),
            "{shown}"
        );
        assert!(err.is_retryable(), "the condition itself is transient");
    }
}
