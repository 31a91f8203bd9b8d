//! [`Tracker`]: a background task that flushes at every interval, and the
//! explicit [`Tracker::finish`] that does the last flush and tells whether
//! everything was stored.

use std::path::PathBuf;
use std::sync::{Arc, Mutex as StdMutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Mutex, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use super::TrackReport;
use super::mirror::Mirror;
use crate::{Error, Result};

/// Mirrors the appends of a local file to an output, at every interval, until
/// [`Tracker::finish`].
///
/// Made by [`crate::TaskOutputs::track`]. Dropping a tracker without `finish` stops
/// its flushes without a final one, as a crash would: the stored copy is then
/// what the last flush stored, and a later tracker of the same file continues
/// it.
#[derive(Debug)]
pub struct Tracker {
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    path: PathBuf,
    mirror: Mutex<Mirror>,
    /// The first error any flush met; kept for `finish`.
    first_error: StdMutex<Option<Arc<Error>>>,
}

impl Shared {
    /// One flush; its error is returned and, if it is the first, kept.
    async fn flush(&self) -> Result<()> {
        let mut mirror = self.mirror.lock().await;
        match mirror.flush().await {
            Ok(()) => Ok(()),
            Err(error) => {
                let error = Arc::new(error);
                self.first_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get_or_insert_with(|| error.clone());
                Err(Error::Track {
                    path: self.path.clone(),
                    blob: mirror.blob().to_string(),
                    cause: error,
                })
            }
        }
    }
}

impl Tracker {
    pub(super) fn start(mirror: Mirror, path: PathBuf, interval: Duration) -> Self {
        let shared = Arc::new(Shared {
            path,
            mirror: Mutex::new(mirror),
            first_error: StdMutex::new(None),
        });
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(periodic(shared.clone(), interval, stopped));
        Self {
            shared,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stores now what the file gained since the last flush (on a signal, or
    /// to make a test deterministic).
    ///
    /// # Errors
    ///
    /// [`Error::Track`] with the cause. It is also kept: [`Tracker::finish`]
    /// returns the first error of any flush, even if later ones succeeded.
    pub async fn flush(&self) -> Result<()> {
        self.shared.flush().await
    }

    /// Stops the periodic flushes, does a final flush, and reports what was
    /// stored.
    ///
    /// # Errors
    ///
    /// [`Error::Track`] with the first error that any flush met, periodic or
    /// explicit, even if later flushes succeeded: some bytes may have reached
    /// the store late or not at all, and the caller must know (nothing is
    /// dropped silently).
    pub async fn finish(mut self) -> Result<TrackReport> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take()
            && let Err(e) = task.await
            && e.is_panic()
        {
            std::panic::resume_unwind(e.into_panic());
        }
        let last = self.shared.flush().await;
        let first = self
            .shared
            .first_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let mirror = self.shared.mirror.lock().await;
        if let Some(first) = first {
            return Err(Error::Track {
                path: self.shared.path.clone(),
                blob: mirror.blob().to_string(),
                cause: first,
            });
        }
        last?;
        tracing::info!(file = %self.shared.path.display(), blobs = ?mirror.report.blobs, bytes = mirror.report.bytes, "tracking finished");
        Ok(mirror.report.clone())
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Flushes at every interval until told to stop; a failed flush is logged and
/// retried at the next interval.
async fn periodic(shared: Arc<Shared>, interval: Duration, mut stopped: oneshot::Receiver<()>) {
    let mut ticks = tokio::time::interval_at(Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            _ = ticks.tick() => {
                if let Err(e) = shared.flush().await {
                    tracing::warn!("{}; retrying at the next interval", chain(&e));
                }
            }
        }
    }
}

/// An error and its causes, as one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        text.push_str(": ");
        text.push_str(&next.to_string());
        cause = next.source();
    }
    text
}
