//! Reads that survive a broken connection.
//!
//! A blob's bytes arrive as one long answer, which a reset connection, a proxy
//! or a timeout can cut anywhere. Rather than failing (and making the caller
//! start again from the first byte), the stream asks for the rest,
//! `Range: bytes=<next>-<last>`, conditioned on the ETag of the first answer
//! (`If-Match`), and carries on as if nothing happened. The condition keeps
//! versions apart: a blob replaced meanwhile fails the resumed request (412),
//! which ends the stream with [`Error::ChangedDuringRead`], never with bytes of
//! two versions spliced together.
//!
//! Each resumed request is retried like any other (503s and so on); the stream
//! gives up after the retry policy's attempts in a row without a byte of
//! progress.

use std::ops::Range;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, BoxStream};
use futures::{Stream, StreamExt};
use reqwest::Method;

use super::client::{self, Client, Request, RetryPolicy};
use crate::{ContainerName, Error, Result};

/// The state of a resumable read.
struct Reader {
    client: Client,
    container: ContainerName,
    name: String,
    /// The version being read; without one, a read cannot be resumed safely.
    etag: Option<String>,
    /// The offset of the next byte expected.
    next: u64,
    /// One past the last byte to read.
    end: u64,
    retry: RetryPolicy,
    /// Breaks in a row without a byte of progress.
    failures: u32,
    body: BoxStream<'static, reqwest::Result<Bytes>>,
    done: bool,
}

/// The bytes `range` of a blob, from the body of the answer that started at
/// `range.start`, resumed when it breaks.
pub(super) fn resumable(
    client: Client,
    container: ContainerName,
    name: String,
    etag: Option<String>,
    range: Range<u64>,
    body: impl Stream<Item = reqwest::Result<Bytes>> + Send + 'static,
    retry: RetryPolicy,
) -> BoxStream<'static, Result<Bytes>> {
    let reader = Reader {
        client,
        container,
        name,
        etag,
        next: range.start,
        end: range.end,
        retry,
        failures: 0,
        body: body.boxed(),
        done: false,
    };
    Box::pin(stream::unfold(reader, |mut reader| async move {
        let next = reader.next_chunk().await?;
        Some((next, reader))
    }))
}

impl Reader {
    /// The next chunk, resuming as often as needed; `None` at the end.
    async fn next_chunk(&mut self) -> Option<Result<Bytes>> {
        loop {
            if self.done {
                return None;
            }
            let cause = match self.body.next().await {
                Some(Ok(chunk)) if chunk.is_empty() => continue,
                Some(Ok(chunk)) => {
                    let len = chunk.len() as u64;
                    if self.next + len > self.end {
                        self.done = true;
                        return Some(Err(
                            self.broken("the answer held more bytes than the blob has".into())
                        ));
                    }
                    self.next += len;
                    self.failures = 0;
                    return Some(Ok(chunk));
                }
                None if self.next >= self.end => {
                    self.done = true;
                    return None;
                }
                None => "the answer ended early".to_owned(),
                Some(Err(e)) => client::describe(&e),
            };
            if let Err(e) = self.resume(cause).await {
                self.done = true;
                return Some(Err(e));
            }
        }
    }

    /// Asks for the rest of the range after a break, or says why not.
    async fn resume(&mut self, cause: String) -> Result<()> {
        self.failures += 1;
        let Some(etag) = self.etag.clone() else {
            return Err(self.broken(cause));
        };
        if self.failures >= self.retry.attempts.max(1) {
            return Err(self.broken(format!(
                "{cause} (resumed {} times in a row without progress)",
                self.failures - 1
            )));
        }
        tracing::debug!(
            blob = %format!("{}/{}", self.container, self.name),
            at = self.next,
            %cause,
            "the read broke off; resuming"
        );
        let wait = wait_before(&self.retry, self.failures);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let request = Request::new("read", Method::GET, &self.container, Some(&self.name))
            .header(
                "x-ms-range",
                format!("bytes={}-{}", self.next, self.end - 1),
            )
            .header("if-match", etag);
        let response = match self.client.send(&request).await {
            Ok(response) => response,
            Err(Error::Service { status: 412, .. }) => {
                return Err(Error::ChangedDuringRead {
                    container: self.container.to_string(),
                    name: self.name.clone(),
                });
            }
            Err(e) => return Err(e),
        };
        let returned = super::content_range(response.headers());
        if !matches!(returned, Some((start, end, _)) if start == self.next && end == self.end) {
            return Err(self.broken(format!(
                "{cause}, and the service did not answer the request for the rest with bytes {}-{}",
                self.next,
                self.end - 1
            )));
        }
        self.body = response.bytes_stream().boxed();
        Ok(())
    }

    fn broken(&self, reason: String) -> Error {
        Error::Unreachable {
            store: self.client.shown().to_owned(),
            operation: "read",
            target: format!("{}/{}", self.container, self.name),
            reason,
        }
    }
}

/// The wait before the `n`th resume in a row (none before the first: a broken
/// connection is usually no sign of a busy service).
fn wait_before(retry: &RetryPolicy, n: u32) -> Duration {
    if n <= 1 {
        return Duration::ZERO;
    }
    retry
        .base_delay
        .saturating_mul(1 << (n - 2).min(16))
        .min(retry.max_delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_resume_is_at_once_and_later_ones_back_off() {
        let retry = RetryPolicy::default();
        assert_eq!(wait_before(&retry, 1), Duration::ZERO);
        assert_eq!(wait_before(&retry, 2), retry.base_delay);
        assert_eq!(wait_before(&retry, 3), retry.base_delay * 2);
        assert_eq!(wait_before(&retry, 40), retry.max_delay);
    }
}
