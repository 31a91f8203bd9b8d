//! [`Core`]: what [`crate::JobOutputs`], [`crate::TaskOutputs`] and
//! [`crate::Outputs`] share — the store, the job, the scope, the settings —
//! and the naming and bookkeeping every operation needs. The operations
//! themselves are in `save.rs` and `fetch.rs`; the public methods, written
//! once for all three types, in `scoped.rs`.

use std::path::Path;
use std::sync::Arc;

use batchout_naming::{ContainerName, JobId, OutputKind, OutputPath, Scope, blob_name};
use batchout_store::{
    BlobName, ContainerMetadata, Location, ObjectMeta, Progress, PutOptions, PutSource, Store,
};

use crate::{Error, Output, Result, StoreError, StoredPath};

/// How many files move at once when saving, downloading or deleting many.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// The container metadata under which a job's container records the job id
/// as it was given (`jobid`), so that a listing of the store's jobs can show
/// it: the container name alone loses its case, and hashes any id that is
/// not a valid container name (`nightly:job-7`).
pub const JOB_ID_METADATA: &str = "jobid";

/// The outputs of one job, or one task of it, and how they move.
#[derive(Debug, Clone)]
pub(crate) struct Core {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) job: JobId,
    pub(crate) container: ContainerName,
    pub(crate) scope: Scope,
    /// Whether whole reads are checked against the recorded checksum.
    pub(crate) verify: bool,
    /// Whether downloads sync to disk; `None`: by file system.
    pub(crate) sync: Option<bool>,
    /// Files moved at once by the methods that move many.
    pub(crate) concurrency: usize,
    /// Where transfers count what they move, if anywhere.
    pub(crate) progress: Option<Progress>,
}

impl Core {
    pub(crate) fn new(store: Arc<dyn Store>, job: JobId, scope: Scope) -> Self {
        let container = ContainerName::for_job(&job);
        Self {
            store,
            job,
            container,
            scope,
            verify: true,
            sync: None,
            concurrency: DEFAULT_CONCURRENCY,
            progress: None,
        }
    }

    /// The same job and settings, for another scope.
    pub(crate) fn with_scope(&self, scope: Scope) -> Self {
        Self {
            scope,
            ..self.clone()
        }
    }

    /// Creates the job's container if needed, recording the job id on it.
    pub(crate) async fn prepare(&self) -> Result<bool> {
        Ok(self.create_container().await?)
    }

    /// As [`Core::prepare`], with the store's own error.
    pub(crate) async fn create_container(&self) -> batchout_store::Result<bool> {
        let metadata =
            ContainerMetadata::from([(JOB_ID_METADATA.to_owned(), self.job.to_string())]);
        self.store
            .create_container_with(&self.container, &metadata)
            .await
    }

    pub(crate) fn location(&self, kind: &OutputKind, path: &OutputPath) -> Result<Location> {
        let name = blob_name(&self.scope, kind, path)?;
        Ok(Location::new(self.container.clone(), BlobName::new(name)?))
    }

    /// Puts `source` at `location`, creating the container (with the job id
    /// recorded) when it is missing, and counting the file into the progress.
    pub(crate) async fn put(
        &self,
        location: Location,
        kind: &OutputKind,
        file_path: &OutputPath,
        source: PutSource,
    ) -> Result<Output> {
        let mut options = PutOptions::default();
        options.progress = self.progress.clone();
        let meta = match self.store.put(&location, source.clone(), &options).await {
            Err(StoreError::ContainerNotFound { .. }) => {
                self.prepare().await?;
                self.store.put(&location, source, &options).await?
            }
            other => other?,
        };
        if let Some(progress) = &self.progress {
            progress.file_done();
        }
        tracing::info!(container = %location.container, blob = %location.name, bytes = meta.size, "saved");
        Ok(self.make_output(
            location,
            self.scope.clone(),
            kind.clone(),
            file_path.to_string(),
            meta,
        ))
    }

    /// An output from a listed blob; `None` for blobs outside the conventions.
    pub(crate) fn listed(&self, meta: ObjectMeta) -> Option<Output> {
        let parts = batchout_naming::parse_blob_name(&meta.name)?;
        let name = match BlobName::new(meta.name.clone()) {
            Ok(name) => name,
            Err(e) => {
                // Not silently: a name no request can address is still news.
                tracing::warn!(container = %self.container, "skipping a stored name: {e}");
                return None;
            }
        };
        let location = Location::new(self.container.clone(), name);
        Some(self.make_output(location, parts.scope, parts.kind, parts.file_path, meta))
    }

    /// An output of this job, with the verification and sync settings.
    pub(crate) fn make_output(
        &self,
        location: Location,
        scope: Scope,
        kind: OutputKind,
        file_path: String,
        meta: ObjectMeta,
    ) -> Output {
        Output {
            store: self.store.clone(),
            location,
            scope,
            kind,
            file_path: StoredPath::new(file_path),
            meta,
            verify: self.verify,
            sync: self.sync,
        }
    }

    /// A store error, with a missing container told as a job with no outputs.
    pub(crate) fn missing_job(&self, error: StoreError) -> Error {
        match error {
            StoreError::ContainerNotFound { container, store } => Error::NoSuchJob {
                job: self.job.to_string(),
                container,
                store,
            },
            other => other.into(),
        }
    }

    /// The error of a read of an output asked for by name.
    pub(crate) fn not_found(
        &self,
        kind: &OutputKind,
        path: &OutputPath,
        error: StoreError,
    ) -> Error {
        match error {
            StoreError::NotFound { .. } => Error::OutputNotFound {
                kind: kind.to_string(),
                path: path.to_string(),
                owner: match &self.scope {
                    Scope::Job => format!("of job {}", self.job),
                    Scope::Task(task) => format!("of task {task} of job {}", self.job),
                },
            },
            e => self.missing_job(e),
        }
    }
}

/// The output path a local file is saved (or tracked) as when no destination
/// is given: its path relative to the working directory, named by the
/// conventions (`../stdout.txt` as `stdout.txt`).
pub(crate) fn local_destination(path: &Path) -> Result<OutputPath> {
    let text = path.to_str().ok_or_else(|| Error::BadSource {
        path: path.to_owned(),
        reason:
            "its path is not valid UTF-8, which blob names must be; rename it or give a destination"
                .into(),
    })?;
    Ok(OutputPath::from_local(text)?)
}

/// Results of a multi-file operation, split into successes and failures
/// (each with the file or blob it concerns).
pub(crate) fn split_results<T>(
    results: Vec<(String, Result<T>)>,
) -> (Vec<T>, Vec<(String, Error)>) {
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for (label, result) in results {
        match result {
            Ok(value) => ok.push(value),
            Err(e) => failed.push((label, e)),
        }
    }
    (ok, failed)
}

/// The error of a multi-file operation some of whose files failed: the one
/// error itself when there was one file.
pub(crate) fn partial(mut failures: Vec<(String, Error)>, total: usize) -> Error {
    if failures.len() == 1 && total == 1 {
        return failures.remove(0).1;
    }
    Error::Partial { total, failures }
}
