//! Reads that survive a broken connection, for every remote backend.
//!
//! A blob's bytes arrive as one long answer, which a reset connection, a proxy
//! or a timeout can cut anywhere. Rather than failing (and making the caller
//! start again from the first byte), the stream asks for the rest of its
//! range on the version it began reading (its ETag, as `If-Match`), and
//! carries on as if nothing happened. The condition keeps versions apart: a
//! blob replaced meanwhile ends the stream with [`Error::ChangedDuringRead`],
//! never with bytes of two versions spliced together.
//!
//! Each resumed request is retried like any other (503s and so on); the stream
//! gives up after the retry policy's attempts in a row without a byte of
//! progress.

use std::ops::Range;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::{self, BoxStream};
use futures::{Stream, StreamExt, TryStreamExt};

use super::http;
use super::retry::RetryPolicy;
use crate::{Error, Result};

/// The body of an answer, as it arrives.
pub(crate) type Body = BoxStream<'static, reqwest::Result<Bytes>>;

/// Where the rest of a read comes from: a backend's ranged, conditioned GET
/// of one blob.
pub(crate) trait Rest: Send + Sync + 'static {
    /// The store as shown (secrets redacted), and the blob, for messages.
    fn shown(&self) -> (String, String);

    /// The body of bytes `range` of the blob's version `etag`, checked to be
    /// that range.
    ///
    /// # Errors
    ///
    /// [`Error::ChangedDuringRead`] when the blob is no longer that version;
    /// an error of the request, already retried.
    fn fetch(&self, range: Range<u64>, etag: String) -> BoxFuture<'static, Result<Body>>;
}

/// The state of a resumable read.
struct Reader<R> {
    rest: R,
    /// The version being read; without one, a read cannot be resumed safely.
    etag: Option<String>,
    /// The offset of the next byte expected.
    next: u64,
    /// One past the last byte to read.
    end: u64,
    retry: RetryPolicy,
    /// Breaks in a row without a byte of progress.
    failures: u32,
    body: Body,
    done: bool,
}

/// One range of a whole read, in memory: asked for on the version `etag`
/// (checked to answer that range), resumed if the connection breaks, and
/// gathered as the chunks it came in (copying them into one block-sized
/// buffer would cost a fresh allocation, and its page faults, per block:
/// decision 0006).
///
/// # Errors
///
/// As [`Rest::fetch`], and a read that cannot be resumed.
pub(crate) async fn part<R: Rest>(
    rest: R,
    etag: String,
    range: Range<u64>,
    retry: RetryPolicy,
) -> Result<Vec<Bytes>> {
    let body = rest.fetch(range.clone(), etag.clone()).await?;
    resumable(rest, Some(etag), range, body, retry)
        .try_collect()
        .await
}

/// The bytes `range` of a blob, from the body of the answer that started at
/// `range.start`, resumed from `rest` when it breaks.
pub(crate) fn resumable<R: Rest>(
    rest: R,
    etag: Option<String>,
    range: Range<u64>,
    body: impl Stream<Item = reqwest::Result<Bytes>> + Send + 'static,
    retry: RetryPolicy,
) -> BoxStream<'static, Result<Bytes>> {
    let reader = Reader {
        rest,
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

impl<R: Rest> Reader<R> {
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
                Some(Err(e)) => http::describe(&e),
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
        tracing::debug!(blob = %self.rest.shown().1, at = self.next, %cause, "the read broke off; resuming");
        let wait = self.retry.resume_wait(self.failures);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        self.body = self.rest.fetch(self.next..self.end, etag).await?;
        Ok(())
    }

    fn broken(&self, reason: String) -> Error {
        let (store, target) = self.rest.shown();
        Error::Unreachable {
            store,
            operation: "read",
            target,
            reason,
        }
    }
}
