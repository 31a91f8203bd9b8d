//! The one error type of the outputs library.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

pub use batchout_naming::NamingError;
pub use batchout_store::Error as StoreError;

/// The result of an outputs operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why saving, listing or fetching an output failed. Each message says what went
/// wrong and what to do next; none contains a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An id, kind or path that the conventions refuse.
    #[error(transparent)]
    Naming(#[from] NamingError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Nothing has been saved for this job yet: its container does not exist.
    #[error(
        "no outputs exist for job {job} (container {container} is not in {store}); check the job id and the store, or save something first"
    )]
    NoSuchJob {
        /// The job id.
        job: String,
        /// Its container.
        container: String,
        /// The store, as displayed.
        store: String,
    },
    /// The output asked for does not exist.
    #[error("no {kind} output {path:?} {owner}; list what exists")]
    OutputNotFound {
        /// The kind.
        kind: String,
        /// The file path asked for.
        path: String,
        /// Whose: "of job J" or "of task T of job J".
        owner: String,
    },
    /// A variable that Batch sets for every task is not set: the code is not
    /// running as a Batch task, or the variable was cleared.
    #[error(
        "{variable} is not set, so {names} is not known; Batch sets it for every task: outside Batch, set it, or give the id in code"
    )]
    MissingEnvironment {
        /// The variable, e.g. `AZ_BATCH_JOB_ID`.
        variable: &'static str,
        /// What it names, e.g. "the job".
        names: &'static str,
    },
    /// The command to run could not be started: not found, or not
    /// executable.
    #[error("cannot start {program}; check the command's name and that it is executable")]
    CannotStart {
        /// The program.
        program: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A local file to save is missing, unreadable or not a regular file.
    #[error("cannot save {path}: {reason}")]
    BadSource {
        /// The local path.
        path: PathBuf,
        /// Why, and what to do.
        reason: String,
    },
    /// A local destination that cannot receive downloads.
    #[error("cannot download into {path}: {reason}")]
    BadDestination {
        /// The local path.
        path: PathBuf,
        /// Why, and what to do.
        reason: String,
    },
    /// A glob pattern that cannot be used.
    #[error("invalid pattern {pattern:?}: {reason}")]
    BadPattern {
        /// The pattern.
        pattern: String,
        /// Why.
        reason: String,
    },
    /// Two different local files would be stored under the same name.
    #[error(
        "{first} and {second} would both be stored as {name:?}; save them with separate patterns or destinations"
    )]
    DuplicateDestination {
        /// The stored file path.
        name: String,
        /// One source.
        first: PathBuf,
        /// The other source.
        second: PathBuf,
    },
    /// A stored name that cannot be written locally without leaving the
    /// destination folder or confusing it.
    #[error("refusing to download {name:?}: {reason}")]
    UnsafeName {
        /// The stored file path.
        name: String,
        /// Why.
        reason: String,
    },
    /// Some files of a multi-file operation failed; the others completed.
    #[error("{} of {total} files failed; {}", .failures.len(), describe_first(.failures))]
    Partial {
        /// How many were attempted.
        total: usize,
        /// Every failure, with the file or blob it concerns.
        failures: Vec<(String, Error)>,
    },
    /// An option with a value that cannot work.
    #[error("invalid {option}: {reason}")]
    InvalidOption {
        /// The option.
        option: &'static str,
        /// Why, and what would be accepted.
        reason: String,
    },
    /// A tracked file could not be stored completely: the first failure of its
    /// flushes. Bytes the file gained may be missing from the stored copy; run
    /// the task again, or save the file once it is complete.
    #[error("cannot store what {path} gained into {blob}")]
    Track {
        /// The local file.
        path: PathBuf,
        /// The blob being written.
        blob: String,
        /// The cause (shared: a tracker keeps the first for its final report).
        #[source]
        cause: Arc<Error>,
    },
    /// A local file operation failed.
    #[error("cannot {action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The local path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// The message and the messages of its causes, on one line: what a log
    /// or a report that shows only text should hold. A cause whose text the
    /// message already holds is not repeated.
    pub fn described(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            let shown = cause.to_string();
            if !text.contains(&shown) {
                text.push_str(": ");
                text.push_str(&shown);
            }
            source = cause.source();
        }
        text
    }

    /// Whether the output, job or blob asked for was not there.
    pub fn is_not_found(&self) -> bool {
        match self {
            Self::OutputNotFound { .. } | Self::NoSuchJob { .. } => true,
            Self::Store(e) => e.is_not_found(),
            _ => false,
        }
    }

    /// Whether the caller's input was at fault (bad id, kind, path or pattern),
    /// as opposed to the store or the file system.
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            Self::Naming(_)
                | Self::BadPattern { .. }
                | Self::DuplicateDestination { .. }
                | Self::InvalidOption { .. }
                | Self::Store(StoreError::InvalidSetting { .. })
        )
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

fn describe_first(failures: &[(String, Error)]) -> String {
    match failures.first() {
        Some((what, error)) => format!("the first, {what}: {error}"),
        None => "none reported".to_owned(),
    }
}
