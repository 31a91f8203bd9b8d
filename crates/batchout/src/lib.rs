//! Persist the outputs and logs of batch jobs and tasks to durable storage,
//! under the **Batch File Conventions**.
//!
//! Compute nodes are ephemeral: when one is reimaged, every file on it is gone.
//! batchout saves what jobs and tasks produce to a blob store, named so that
//! anything that knows the conventions (the client that ran the job, later tasks,
//! the Azure portal, Microsoft's .NET library) finds a file by job id, task id and
//! kind, without knowing where it was written.
//!
//! - [`JobOutputs`]: a job's storage; [`TaskOutputs`]: one task's. Both are an
//!   [`Outputs`], with `save`, `save_as`, `save_text`, `save_all` (glob
//!   patterns), `list`, `get`, `kinds`, `download_all`.
//! - [`Output`]: one stored output; download it to a file (atomically), a writer
//!   or memory, read a range, stream it, delete it.
//! - [`Tracker`]: a local file that grows at its end (a log), mirrored to an
//!   output while it is written ([`Outputs::track`], see [`track`]).
//! - [`open`]: a store from a path or URL; [`open_default`] for the local
//!   directory that needs no configuration.
//!
//! ```
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! use batchout::{JobId, JobOutputs, OutputKind, OutputPath, TaskId, open};
//! use futures::TryStreamExt;
//!
//! let dir = tempfile::tempdir()?;
//! let store = open(dir.path().to_str().expect("utf-8 temp dir"))?;
//! let job = JobOutputs::new(store, JobId::new("render-42")?);
//! job.prepare().await?;
//!
//! // A task saves its log...
//! let task = job.task(TaskId::new("frame-7")?);
//! let log = OutputPath::new("render.log")?;
//! task.save_text(&OutputKind::TaskLog, "frame 7 rendered\n", &log).await?;
//!
//! // ...and anyone can find it later by job, task and kind.
//! let logs: Vec<_> = task.list(&OutputKind::TaskLog).try_collect().await?;
//! assert_eq!(logs[0].blob_name(), "frame-7/$TaskLog/render.log");
//! assert_eq!(logs[0].bytes().await?, "frame 7 rendered\n");
//! assert_eq!(job.tasks().await?, [TaskId::new("frame-7")?]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?; Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod download;
mod error;
mod output;
mod outputs;
pub mod pattern;
pub mod runner;
mod scoped;
pub mod track;

pub use batchout_naming::{
    ContainerName, JobId, NamingError, OutputKind, OutputPath, Scope, TaskId, blob_name,
    kind_prefix, parse_blob_name, scope_prefix,
};
pub use batchout_store::azure::sas::{
    DEFAULT_EXPIRY as DEFAULT_SAS_EXPIRY, DEFAULT_PERMISSIONS as DEFAULT_SAS_PERMISSIONS,
};
pub use batchout_store::{
    DEFAULT_LOCAL_STORE, Progress, ProgressSnapshot, RequestChecksum, SecretUrl, Store,
    StoreSettings, configured_is_local, open, parse_attempts, parse_block_concurrency,
    parse_block_size, parse_duration,
};
pub use error::{Error, Result, StoreError};
pub use output::{OpenedOutput, Output};
pub use outputs::{DEFAULT_CONCURRENCY, DownloadReport, Outputs, SaveReport, SavedFile};
pub use scoped::{JobOutputs, TaskOutputs};
pub use track::{TrackOptions, TrackReport, Tracker};

/// The README's examples, compiled as doc tests so they cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

/// Opens the store named by `explicit` (a `--store` flag), else the
/// `BATCHOUT_STORE` variable, else the `AZURE_STORAGE_*` variables, else the
/// local directory `./batchout-data`.
///
/// # Errors
///
/// [`StoreError::InvalidStoreUrl`] for a location that cannot be opened.
pub fn open_default(explicit: Option<&str>) -> Result<std::sync::Arc<dyn Store>> {
    Ok(batchout_store::open_configured(explicit)?)
}

/// As [`open_default`], with retry settings (from command-line flags, say) that
/// take precedence over the `BATCHOUT_RETRIES`, `BATCHOUT_TIMEOUT`,
/// `BATCHOUT_IDLE_TIMEOUT` and `BATCHOUT_DEADLINE` variables.
///
/// # Errors
///
/// [`StoreError::InvalidStoreUrl`] for a location that cannot be opened, or a
/// retry variable that is not valid.
pub fn open_default_with(
    explicit: Option<&str>,
    settings: &StoreSettings,
) -> Result<std::sync::Arc<dyn Store>> {
    Ok(batchout_store::open_configured_with(explicit, settings)?)
}
