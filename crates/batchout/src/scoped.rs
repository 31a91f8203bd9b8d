//! The entry points: [`JobOutputs`] (a job's storage), [`TaskOutputs`] (one
//! task's), and [`Outputs`] (either, chosen at run time, as a command line
//! chooses).
//!
//! The three share every method of saving, listing and fetching. Those are
//! written once, in [`outputs_methods!`], and expanded into each type, so
//! that a setter returns the type it is called on
//! (`job.concurrency(16)` is a `JobOutputs`) and each method's documentation
//! is the same on all three.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use batchout_naming::{ContainerName, JobId, OutputKind, OutputPath, Scope, TaskId};
use batchout_store::{Progress, SecretUrl, Store};
use futures::stream::BoxStream;

use crate::core::Core;
use crate::{
    DownloadReport, Error, OpenedOutput, Output, Result, SaveReport, TrackOptions, Tracker,
};

/// The variable Batch sets to the job id of every task.
pub const JOB_ID_ENV: &str = "AZ_BATCH_JOB_ID";
/// The variable Batch sets to the task id of every task.
pub const TASK_ID_ENV: &str = "AZ_BATCH_TASK_ID";

/// The methods all three types share; expanded in each `impl`, whose type
/// has a field `core: Core`.
macro_rules! outputs_methods {
    () => {
        /// The same outputs, moving up to `concurrency` files at once (at
        /// least 1) when saving patterns, downloading or deleting many;
        /// [`crate::DEFAULT_CONCURRENCY`] unless set.
        #[must_use]
        pub fn concurrency(mut self, concurrency: usize) -> Self {
            self.core.concurrency = concurrency.max(1);
            self
        }

        /// The same outputs, counting files and bytes into `progress` as
        /// saves and downloads move them (for a progress bar): saves of
        /// patterns and downloads of many plan every file they will move
        /// before moving it; single saves and opens plan their one.
        #[must_use]
        pub fn progress(mut self, progress: Progress) -> Self {
            self.core.progress = Some(progress);
            self
        }

        /// The same outputs, with the [`Output`]s they give (by `get`,
        /// listings and saves) and their downloads of many verifying whole
        /// reads against the checksum the store recorded (`true`, the
        /// default) or not (`false`). See [`Output::verify`].
        #[must_use]
        pub fn verify(mut self, verify: bool) -> Self {
            self.core.verify = verify;
            self
        }

        /// The same outputs, with the [`Output`]s they give and their
        /// downloads of many syncing downloaded files to disk (`true`) or
        /// never (`false`); unset, by file system. See
        /// [`Output::sync_downloads`].
        #[must_use]
        pub fn sync_downloads(mut self, sync: bool) -> Self {
            self.core.sync = Some(sync);
            self
        }

        /// The job.
        pub fn job_id(&self) -> &JobId {
            &self.core.job
        }

        /// The job's output container.
        pub fn container(&self) -> &ContainerName {
            &self.core.container
        }

        /// Whose outputs these are: the job's own, or a task's.
        pub fn scope(&self) -> &Scope {
            &self.core.scope
        }

        /// The store the outputs live in.
        pub fn store(&self) -> &Arc<dyn Store> {
            &self.core.store
        }

        /// Creates the job's output container if it does not exist, recording
        /// the job id on it as given ([`crate::JOB_ID_METADATA`]; where the
        /// store keeps container metadata). Returns whether it was created.
        /// Saving creates it too when it is missing, where the credentials
        /// allow.
        ///
        /// # Errors
        ///
        /// Store errors.
        pub async fn prepare(&self) -> Result<bool> {
            self.core.prepare().await
        }

        /// Saves a local file by its path relative to the working directory,
        /// named by the conventions: `../stdout.txt` is stored as
        /// `stdout.txt`, `out/a.txt` as `out/a.txt`.
        ///
        /// # Errors
        ///
        /// [`Error::Naming`] for an absolute or climbing path or a kind of the
        /// other level; [`Error::BadSource`] for a missing file or a
        /// directory; store errors.
        pub async fn save(
            &self,
            kind: impl Into<OutputKind>,
            path: impl AsRef<Path>,
        ) -> Result<Output> {
            self.core.save(&kind.into(), path.as_ref()).await
        }

        /// Saves a local file under an explicit destination path.
        ///
        /// # Errors
        ///
        /// As [`Self::save`].
        pub async fn save_as(
            &self,
            kind: impl Into<OutputKind>,
            source: impl AsRef<Path>,
            destination: &OutputPath,
        ) -> Result<Output> {
            self.core
                .save_as(&kind.into(), source.as_ref(), destination)
                .await
        }

        /// Saves text as an output.
        ///
        /// # Errors
        ///
        /// [`Error::Naming`] for a kind of the other level; store errors.
        pub async fn save_text(
            &self,
            kind: impl Into<OutputKind>,
            text: impl Into<String>,
            destination: &OutputPath,
        ) -> Result<Output> {
            let bytes = bytes::Bytes::from(text.into());
            self.core.save_bytes(&kind.into(), bytes, destination).await
        }

        /// Saves bytes in memory as an output.
        ///
        /// # Errors
        ///
        /// [`Error::Naming`] for a kind of the other level; store errors.
        pub async fn save_bytes(
            &self,
            kind: impl Into<OutputKind>,
            bytes: impl Into<bytes::Bytes>,
            destination: &OutputPath,
        ) -> Result<Output> {
            self.core
                .save_bytes(&kind.into(), bytes.into(), destination)
                .await
        }

        /// Saves every file that the glob patterns match, with the Batch
        /// service's output-file semantics (see [`crate::pattern`]): each file
        /// is stored by its path below the pattern's fixed prefix. A file
        /// matched by several patterns is saved once. Patterns that match
        /// nothing are reported, not an error. The folders are walked off the
        /// async threads.
        ///
        /// # Errors
        ///
        /// [`Error::BadPattern`]; [`Error::DuplicateDestination`] when two
        /// files would get the same name; [`Error::Partial`] when some files
        /// failed (the others are stored complete).
        pub async fn save_all<S: AsRef<str>>(
            &self,
            kind: impl Into<OutputKind>,
            patterns: &[S],
        ) -> Result<SaveReport> {
            let patterns = patterns.iter().map(|p| p.as_ref().to_owned()).collect();
            self.core.save_all_under(&kind.into(), patterns, None).await
        }

        /// As [`Self::save_all`], with every stored path placed below
        /// `folder`.
        ///
        /// # Errors
        ///
        /// As [`Self::save_all`].
        pub async fn save_all_under<S: AsRef<str>>(
            &self,
            kind: impl Into<OutputKind>,
            patterns: &[S],
            folder: &OutputPath,
        ) -> Result<SaveReport> {
            let patterns = patterns.iter().map(|p| p.as_ref().to_owned()).collect();
            let folder = Some(folder.clone());
            self.core
                .save_all_under(&kind.into(), patterns, folder)
                .await
        }

        /// Starts mirroring the appends of the local file `source` (a log) to
        /// an output named by its path as [`Self::save`] names it, continuing
        /// a stored copy the file still begins with (see [`crate::track`]).
        /// The file need not exist yet: it is empty until it appears.
        ///
        /// Call [`Tracker::finish`] when the file is complete: the final flush
        /// is never left to `Drop`.
        ///
        /// # Errors
        ///
        /// [`Error::InvalidOption`] for an interval under 1 s; [`Error::Naming`]
        /// for a path that cannot be named or a kind of the other level;
        /// store and file errors while looking for a stored copy to continue.
        pub async fn track(
            &self,
            kind: impl Into<OutputKind>,
            source: impl AsRef<Path>,
            options: TrackOptions,
        ) -> Result<Tracker> {
            let source = source.as_ref();
            let destination = crate::core::local_destination(source)?;
            self.core
                .track(&kind.into(), source, &destination, options)
                .await
        }

        /// As [`Self::track`], storing the file as `destination`.
        ///
        /// # Errors
        ///
        /// As [`Self::track`].
        pub async fn track_as(
            &self,
            kind: impl Into<OutputKind>,
            source: impl AsRef<Path>,
            destination: &OutputPath,
            options: TrackOptions,
        ) -> Result<Tracker> {
            self.core
                .track(&kind.into(), source.as_ref(), destination, options)
                .await
        }

        /// The outputs of one kind, in name order, as the store lists them.
        pub fn list(&self, kind: impl Into<OutputKind>) -> BoxStream<'static, Result<Output>> {
            self.core.list(&kind.into())
        }

        /// Every output in this scope, of every kind, in name order. For a
        /// job this includes the outputs of all its tasks.
        pub fn list_all(&self) -> BoxStream<'static, Result<Output>> {
            self.core.list_all()
        }

        /// One output, by kind and file path, with its properties.
        ///
        /// # Errors
        ///
        /// [`Error::OutputNotFound`] or [`Error::NoSuchJob`] when it is not
        /// there.
        pub async fn get(&self, kind: impl Into<OutputKind>, path: &OutputPath) -> Result<Output> {
            self.core.get(&kind.into(), path).await
        }

        /// Opens one output for a whole read, by kind and file path: the
        /// read's own answer gives its properties, so fetching an output costs
        /// no separate existence check (one request, for an output up to a
        /// block).
        ///
        /// # Errors
        ///
        /// [`Error::OutputNotFound`] or [`Error::NoSuchJob`] when it is not
        /// there.
        pub async fn open(
            &self,
            kind: impl Into<OutputKind>,
            path: &OutputPath,
        ) -> Result<OpenedOutput> {
            self.core.open(&kind.into(), path).await
        }

        /// The kinds that have outputs in this scope, sorted.
        ///
        /// # Errors
        ///
        /// [`Error::NoSuchJob`]; store errors.
        pub async fn kinds(&self) -> Result<Vec<OutputKind>> {
            self.core.kinds().await
        }

        /// Downloads outputs into the folder `dest` (created if needed): those
        /// of one kind, or with `None` every output in this scope. Each lands
        /// at its blob name less the listing prefix (for one kind, its file
        /// path), atomically, with up to [`Self::concurrency`] at once, while
        /// the listing goes on. A stored name that could leave `dest` is
        /// refused and reported, never written. Each is verified against the
        /// checksum the store recorded for it, unless [`Self::verify`] turned
        /// that off.
        ///
        /// # Errors
        ///
        /// [`Error::Partial`] when some outputs failed or were refused (the
        /// others are complete), among them any whose bytes do not match
        /// their recorded checksum
        /// ([`crate::StoreError::ChecksumMismatch`]; nothing of those is
        /// written); [`Error::BadDestination`]; listing errors.
        pub async fn download_all(
            &self,
            kind: Option<OutputKind>,
            dest: impl AsRef<Path>,
        ) -> Result<DownloadReport> {
            self.core.download_all(kind.as_ref(), dest.as_ref()).await
        }

        /// Deletes outputs: those of one kind, or with `None` every output in
        /// this scope. Returns how many were deleted.
        ///
        /// # Errors
        ///
        /// [`Error::Partial`] when some deletions failed; listing errors.
        pub async fn delete_all(&self, kind: Option<OutputKind>) -> Result<usize> {
            self.core.delete_all(kind.as_ref()).await
        }
    };
}

/// The storage of one job: its own outputs (`JobOutput`, `JobPreview`, custom
/// kinds) and access to its tasks' outputs. The client that submits a job
/// prepares it and hands its tasks an access URL; anyone lists and fetches
/// from it later.
///
/// ```
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// use batchout::{JobId, JobOutputs, OutputKind, OutputPath, open};
///
/// let dir = tempfile::tempdir()?;
/// let job = JobOutputs::new(open(dir.path().to_str().expect("utf-8"))?, JobId::new("nightly:job-7")?)
///     .concurrency(16);
/// job.prepare().await?;
/// job.save_text(OutputKind::JobOutput, "42\n", &OutputPath::new("answer.txt")?).await?;
/// let report = job.download_all(None, dir.path().join("got")).await?;
/// assert_eq!(report.files.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?; Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct JobOutputs {
    pub(crate) core: Core,
}

impl JobOutputs {
    /// The outputs of `job` in `store`.
    pub fn new(store: Arc<dyn Store>, job: JobId) -> Self {
        Self {
            core: Core::new(store, job, Scope::Job),
        }
    }

    /// The outputs of the job that the environment names, as a task of it
    /// sees them: the job from `AZ_BATCH_JOB_ID`, the store as
    /// [`crate::open_default`] finds it (`BATCHOUT_STORE`, the
    /// `AZURE_STORAGE_*` variables, else `./batchout-data`).
    ///
    /// # Errors
    ///
    /// [`Error::MissingEnvironment`] when `AZ_BATCH_JOB_ID` is not set;
    /// [`Error::Naming`] for an id Batch would not give; a store that cannot
    /// be opened.
    pub fn from_env() -> Result<Self> {
        let store = crate::open_default(None)?;
        Ok(Self::new(store, job_from_env()?))
    }

    /// The outputs of one task of this job, moving files as this job's
    /// outputs do.
    pub fn task(&self, task: TaskId) -> TaskOutputs {
        TaskOutputs {
            core: self.core.with_scope(Scope::Task(task.clone())),
            task,
        }
    }

    /// The ids of the tasks that have saved outputs, sorted.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchJob`] when nothing was saved for the job; store errors.
    pub async fn tasks(&self) -> Result<Vec<TaskId>> {
        let store = &self.core.store;
        let listing = store
            .list_with_delimiter(&self.core.container, "")
            .await
            .map_err(|e| self.core.missing_job(e))?;
        let mut tasks: Vec<TaskId> = listing
            .prefixes
            .iter()
            .filter(|p| !p.starts_with('$'))
            .filter_map(|p| TaskId::new(p.trim_end_matches('/')).ok())
            .collect();
        tasks.sort();
        Ok(tasks)
    }

    /// A URL that lets a task save, list and read this job's outputs and
    /// nothing else, until `valid_for` from now: on Azure, a container SAS
    /// URL with `permissions` (default [`crate::DEFAULT_SAS_PERMISSIONS`]:
    /// read, add, create, write, list), signed with the account key, or,
    /// signed in with Entra ID, a user delegation SAS, which lasts 7 days at
    /// most ([`SecretUrl::expiry`] says when it expires).
    ///
    /// # Errors
    ///
    /// [`crate::StoreError::Unsupported`] when the store cannot sign one (not
    /// Azure, or neither an account key nor an Entra ID token); invalid
    /// permission letters; with a token, the service refusing the user
    /// delegation key.
    pub async fn access_url(&self, permissions: &str, valid_for: Duration) -> Result<SecretUrl> {
        let expiry = std::time::SystemTime::now() + valid_for;
        Ok(self
            .core
            .store
            .container_access_url(&self.core.container, permissions, expiry)
            .await?)
    }

    outputs_methods!();
}

/// The storage of one task: its outputs (`TaskOutput`, `TaskLog`, …, custom
/// kinds), all in its job's container. What task code holds, as .NET's
/// `TaskOutputStorage`.
///
/// ```
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// use batchout::{JobId, OutputKind, TaskId, TaskOutputs, open};
///
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("frame.png"), b"png")?;
/// let store = open(dir.path().join("store").to_str().expect("utf-8"))?;
/// let task = TaskOutputs::new(store, JobId::new("render-42")?, TaskId::new("frame-7")?);
/// let saved = task.save_as(OutputKind::TaskOutput, dir.path().join("frame.png"),
///     &batchout::OutputPath::new("frame.png")?).await?;
/// assert_eq!(saved.blob_name(), "frame-7/$TaskOutput/frame.png");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?; Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct TaskOutputs {
    core: Core,
    task: TaskId,
}

impl TaskOutputs {
    /// The outputs of task `task` of job `job` in `store`.
    pub fn new(store: Arc<dyn Store>, job: JobId, task: TaskId) -> Self {
        JobOutputs::new(store, job).task(task)
    }

    /// The outputs of the task that the environment names, as Batch runs
    /// it: the job and task from `AZ_BATCH_JOB_ID` and `AZ_BATCH_TASK_ID`,
    /// the store as [`crate::open_default`] finds it (`BATCHOUT_STORE`, the
    /// `AZURE_STORAGE_*` variables, else `./batchout-data`).
    ///
    /// # Errors
    ///
    /// [`Error::MissingEnvironment`] when either variable is not set;
    /// [`Error::Naming`] for an id Batch would not give; a store that cannot
    /// be opened.
    pub fn from_env() -> Result<Self> {
        let job = job_from_env()?;
        let task = TaskId::new(from_env(TASK_ID_ENV, "the task")?)?;
        let store = crate::open_default(None)?;
        Ok(Self::new(store, job, task))
    }

    /// The task.
    pub fn task_id(&self) -> &TaskId {
        &self.task
    }

    /// The outputs of the whole job, moving files as this task's outputs do.
    pub fn job(&self) -> JobOutputs {
        JobOutputs {
            core: self.core.with_scope(Scope::Job),
        }
    }

    outputs_methods!();
}

/// The outputs of a job, or of one task of it, when which one is chosen at
/// run time (as `batchout ls --task` chooses). Code that knows which it
/// means holds a [`JobOutputs`] or a [`TaskOutputs`]; both convert into this.
#[derive(Debug, Clone)]
pub struct Outputs {
    core: Core,
}

impl Outputs {
    /// The outputs of `scope` (the job, or one of its tasks) of `job` in
    /// `store`.
    pub fn new(store: Arc<dyn Store>, job: JobId, scope: Scope) -> Self {
        Self {
            core: Core::new(store, job, scope),
        }
    }

    outputs_methods!();
}

impl From<JobOutputs> for Outputs {
    fn from(job: JobOutputs) -> Self {
        Self { core: job.core }
    }
}

impl From<TaskOutputs> for Outputs {
    fn from(task: TaskOutputs) -> Self {
        Self { core: task.core }
    }
}

/// The job id `AZ_BATCH_JOB_ID` gives.
fn job_from_env() -> Result<JobId> {
    Ok(JobId::new(from_env(JOB_ID_ENV, "the job")?)?)
}

/// A variable Batch sets, which must be set.
fn from_env(variable: &'static str, names: &'static str) -> Result<String> {
    std::env::var(variable)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or(Error::MissingEnvironment { variable, names })
}
