//! How far a long transfer has got: counts shared between the work and
//! whoever shows them (a progress bar, a log line).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counts of files and bytes planned and done, shared by clones: the work adds
/// to them as it goes, a display reads [`Progress::snapshot`]. Bytes are
/// counted once the store has accepted them (a retried request counts once).
#[derive(Debug, Clone, Default)]
pub struct Progress(Arc<Counts>);

#[derive(Debug, Default)]
struct Counts {
    files_total: AtomicU64,
    files_done: AtomicU64,
    bytes_total: AtomicU64,
    bytes_done: AtomicU64,
}

/// The counts of a [`Progress`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProgressSnapshot {
    /// Files planned so far.
    pub files_total: u64,
    /// Files done.
    pub files_done: u64,
    /// Bytes planned so far.
    pub bytes_total: u64,
    /// Bytes done.
    pub bytes_done: u64,
}

impl Progress {
    /// New counts, all zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Plans one more file of `bytes` bytes.
    pub fn plan_file(&self, bytes: u64) {
        self.0.files_total.fetch_add(1, Ordering::Relaxed);
        self.0.bytes_total.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts one file done.
    pub fn file_done(&self) {
        self.0.files_done.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts `bytes` more bytes moved.
    pub fn add_bytes(&self, bytes: u64) {
        self.0.bytes_done.fetch_add(bytes, Ordering::Relaxed);
    }

    /// The counts now.
    pub fn snapshot(&self) -> ProgressSnapshot {
        ProgressSnapshot {
            files_total: self.0.files_total.load(Ordering::Relaxed),
            files_done: self.0.files_done.load(Ordering::Relaxed),
            bytes_total: self.0.bytes_total.load(Ordering::Relaxed),
            bytes_done: self.0.bytes_done.load(Ordering::Relaxed),
        }
    }
}

/// Two handles are equal when they share their counts.
impl PartialEq for Progress {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Progress {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_their_counts() {
        let progress = Progress::new();
        let worker = progress.clone();
        worker.plan_file(10);
        worker.plan_file(5);
        worker.add_bytes(12);
        worker.file_done();
        assert_eq!(
            progress.snapshot(),
            ProgressSnapshot {
                files_total: 2,
                files_done: 1,
                bytes_total: 15,
                bytes_done: 12
            }
        );
        assert_eq!(progress, worker);
        assert_ne!(progress, Progress::new());
    }
}
