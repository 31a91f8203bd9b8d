//! One attempt of a request to a remote store, whatever its API: sent on
//! the client that suits it, timed, its failures told without the URL
//! (which may hold a secret), and its answer's body read whole when it is
//! not a transfer. Each backend builds and signs the request and maps an
//! error answer; the rest is here, so Azure and S3 time and report their
//! attempts the same way.

use std::future::Future;
use std::time::{Duration, Instant};

use reqwest::{Method, Response};

use super::http::{self, Clients, Moving};
use super::retry::{Failure, RetryPolicy, shown_duration};
use crate::Error;

/// What an attempt knows of the store and of the request it makes.
pub(crate) struct Attempt<'a> {
    /// The store's clients.
    pub(crate) clients: &'a Clients,
    /// The store's retry policy, for its timeouts.
    pub(crate) retry: &'a RetryPolicy,
    /// The store, as shown.
    pub(crate) store: &'a str,
    /// What is being done ("write", "read", …).
    pub(crate) operation: &'static str,
    /// What it is done to, as shown.
    pub(crate) target: String,
    /// The HTTP method, for the log.
    pub(crate) method: &'a Method,
    /// Whether it is a transfer, bounded by its idle time only.
    pub(crate) transfer: bool,
    /// Whether its body is large enough to be watched for progress.
    pub(crate) large_upload: bool,
}

impl Attempt<'_> {
    /// Runs `exchange`: a transfer as it is, anything else within the request
    /// timeout (or `left` of the operation's deadline, if less), with its
    /// answer's body read whole (a body cut short is retried like any broken
    /// connection).
    pub(crate) async fn timed(
        &self,
        left: Duration,
        exchange: impl Future<Output = Result<Response, Failure>>,
    ) -> Result<Response, Failure> {
        if self.transfer {
            return exchange.await;
        }
        let limit = self.retry.request_timeout.min(left);
        let attempt = async {
            let response = exchange.await?;
            http::read_whole(response).await.map_err(|e| Failure {
                error: self.unreachable(&e),
                retry_after: None,
                maybe_applied: true,
            })
        };
        match tokio::time::timeout(limit, attempt).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Failure {
                error: self.timed_out(format!(
                    "timed out: no complete answer within {} (BATCHOUT_TIMEOUT)",
                    shown_duration(limit)
                )),
                retry_after: None,
                maybe_applied: true,
            }),
        }
    }

    /// Sends `built` (whose body marks its progress in `moving`) and waits
    /// for the answer's head; an answer that is not a success is mapped by
    /// `refused`.
    pub(crate) async fn exchange<Refused>(
        &self,
        built: reqwest::Request,
        moving: &Moving,
        refused: impl FnOnce(Response) -> Refused,
    ) -> Result<Response, Failure>
    where
        Refused: Future<Output = Error>,
    {
        let started = Instant::now();
        let sent = http::send(
            self.clients,
            built,
            moving,
            self.large_upload,
            self.transfer,
            self.retry.idle_timeout,
        )
        .await;
        let response = match sent {
            http::Sent::Answered(response) => response,
            http::Sent::Stalled(idle) => {
                return Err(Failure {
                    error: self.timed_out(format!(
                        "the upload stalled: nothing moved for {} (BATCHOUT_IDLE_TIMEOUT)",
                        shown_duration(idle)
                    )),
                    retry_after: None,
                    maybe_applied: true,
                });
            }
            http::Sent::Failed(e) => {
                return Err(Failure {
                    error: self.unreachable(&e),
                    retry_after: None,
                    // A connection refused never carried the request.
                    maybe_applied: !e.is_connect(),
                });
            }
        };
        tracing::debug!(
            method = %self.method,
            target = %self.target,
            status = response.status().as_u16(),
            elapsed = ?started.elapsed(),
            "request"
        );
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let retry_after = http::retry_after(&response, self.retry.max_retry_after);
        Err(Failure {
            error: refused(response).await,
            retry_after,
            // The service may have applied a request it then failed to answer.
            maybe_applied: matches!(status, 500 | 502 | 504),
        })
    }

    /// A request that took too long, or a transfer that stalled.
    pub(crate) fn timed_out(&self, reason: String) -> Error {
        Error::Unreachable {
            store: self.store.to_owned(),
            operation: self.operation,
            target: self.target.clone(),
            reason,
        }
    }

    /// A connection failure, never showing the URL.
    pub(crate) fn unreachable(&self, error: &reqwest::Error) -> Error {
        if let Some(reason) = super::tls::certificate_refused(error) {
            return Error::Untrusted {
                store: self.store.to_owned(),
                reason,
            };
        }
        Error::Unreachable {
            store: self.store.to_owned(),
            operation: self.operation,
            target: self.target.clone(),
            reason: http::describe(error),
        }
    }
}
