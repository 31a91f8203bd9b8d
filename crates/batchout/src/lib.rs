//! Persist the outputs and logs of batch jobs and tasks to durable storage,
//! under the **Batch File Conventions**.
//!
//! Compute nodes are ephemeral: when one is reimaged, every file on it is gone.
//! batchout saves what jobs and tasks produce to a blob store, named so that
//! anything that knows the conventions (the client that ran the job, later tasks,
//! the Azure portal, Microsoft's .NET library) finds a file by job id, task id and
//! kind, without knowing where it was written.
//!
//! - [`TaskOutputs`]: one task's storage, as task code holds it
//!   ([`TaskOutputs::from_env`] inside a Batch task); [`JobOutputs`]: a job's.
//!   Both have `save`, `save_as`, `save_text`, `save_all` (glob patterns),
//!   `track`, `list`, `get`, `kinds`, `download_all`, and setters that return
//!   the same type (`concurrency`, `progress`, `verify`, `sync_downloads`).
//!   [`Outputs`] is either, chosen at run time.
//! - [`Output`]: one stored output; download it into a folder
//!   ([`Output::download_into`], which keeps a stored name inside it) or to a
//!   file (atomically), a writer or memory, read a range, stream it, delete it.
//! - [`Tracker`]: a local file that grows at its end (a log), mirrored to an
//!   output while it is written ([`TaskOutputs::track`], see [`track`]).
//! - [`list_jobs`]: the jobs a store holds, with their ids as recorded at
//!   prepare; [`JobOutputs::summary`] counts what one holds;
//!   [`JobOutputs::task_spellings`] finds a task's outputs whatever the case
//!   of its id.
//! - [`AccessCheck`]: proves that a container SAS URL lets a task save,
//!   append, read and list, and says which permission it lacks.
//! - [`open`]: a store from a path or URL; [`open_default`] for the store the
//!   environment names, else the local directory that needs no configuration;
//!   [`open_with_credential`] for an Azure account signed in with the
//!   caller's own [`TokenCredential`] (the sources batchout has are in
//!   [`identity`]).
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
//! task.save_text(OutputKind::TaskLog, "frame 7 rendered\n", &log).await?;
//!
//! // ...and anyone can find it later by job, task and kind.
//! let logs: Vec<_> = task.list(OutputKind::TaskLog).try_collect().await?;
//! assert_eq!(logs[0].blob_name(), "frame-7/$TaskLog/render.log");
//! assert_eq!(logs[0].bytes().await?, "frame 7 rendered\n");
//! assert_eq!(job.tasks().await?, [TaskId::new("frame-7")?]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?; Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod access;
mod core;
mod download;
mod error;
mod fetch;
mod jobs;
mod output;
pub mod pattern;
pub mod runner;
mod save;
mod scoped;
mod spelling;
pub mod track;

pub use access::{
    ACCESS_PROBE_FOLDER, AccessCheck, AccessReport, AccessStep, StepResult, StepStatus, expiry_step,
};
pub use batchout_naming::{
    ContainerName, JobId, NamingError, OutputKind, OutputPath, Scope, TaskId, blob_name,
    kind_prefix, parse_blob_name, scope_prefix,
};
pub use batchout_store::azure::identity;
pub use batchout_store::azure::sas::{
    DEFAULT_EXPIRY as DEFAULT_SAS_EXPIRY, DEFAULT_PERMISSIONS as DEFAULT_SAS_PERMISSIONS,
};
pub use batchout_store::{
    AccessToken, AuthMode, DEFAULT_LOCAL_STORE, InvalidValue, Progress, ProgressSnapshot,
    RequestChecksum, Secret, SecretUrl, Setting, Store, StoreSettings, TokenCredential,
    configured_is_local, open,
};
pub use core::{DEFAULT_CONCURRENCY, JOB_ID_METADATA};
pub use error::{Error, Result, StoreError};
pub use fetch::DownloadReport;
pub use jobs::{JobListing, JobSummary, count_jobs, list_jobs};
pub use output::{OpenedOutput, Output, StoredPath};
pub use save::{SaveReport, SavedFile};
pub use scoped::{JOB_ID_ENV, JobOutputs, Outputs, TASK_ID_ENV, TaskOutputs};
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

/// Opens the Azure Blob Storage account or container at `url` (`https://`,
/// no SAS), signed in with Entra ID tokens from `credential`: a caller's
/// own source, or one of [`identity`]'s. Each token is kept and refreshed
/// before it expires.
///
/// ```no_run
/// use std::sync::Arc;
/// use batchout::identity::ManagedIdentityCredential;
///
/// let identity = ManagedIdentityCredential::imds(None, Some("client-id-of-the-pool-identity"))?;
/// let store = batchout::open_with_credential(
///     "https://myaccount.blob.core.windows.net",
///     Arc::new(identity),
/// )?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`StoreError::InvalidStoreUrl`] for a URL that is not an `https://`
/// Azure endpoint without a query.
pub fn open_with_credential(
    url: &str,
    credential: std::sync::Arc<dyn TokenCredential>,
) -> Result<std::sync::Arc<dyn Store>> {
    Ok(batchout_store::open_with_credential(url, credential)?)
}

/// As [`open_default`], with settings (from command-line flags, say) that
/// take precedence over their variables (`BATCHOUT_RETRIES` and the others
/// of [`Setting`]).
///
/// # Errors
///
/// [`StoreError::InvalidStoreUrl`] for a location that cannot be opened;
/// [`StoreError::InvalidSetting`] for a setting's variable that is not valid.
pub fn open_default_with(
    explicit: Option<&str>,
    settings: &StoreSettings,
) -> Result<std::sync::Arc<dyn Store>> {
    Ok(batchout_store::open_configured_with(explicit, settings)?)
}
