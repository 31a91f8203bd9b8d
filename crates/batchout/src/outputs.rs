//! [`Outputs`]: the outputs of one job or one task, written against the
//! [`Store`] trait only.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use batchout_naming::{
    ContainerName, JobId, OutputKind, OutputPath, Scope, blob_name, kind_prefix, parse_blob_name,
    scope_prefix,
};
use batchout_store::{
    BlobName, GetResult, Location, ObjectMeta, Progress, PutOptions, PutSource, Store,
};
use futures::stream::{self, BoxStream};
use futures::{StreamExt, TryStreamExt};

use crate::{Error, OpenedOutput, Output, Result, StoreError, download, pattern};

/// How many files move at once when saving, downloading or deleting many.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// The outputs of one job, or of one task of a job: save, list, get.
///
/// [`crate::JobOutputs`] and [`crate::TaskOutputs`] dereference to this, so every
/// method here is available on both; what differs is the [`Scope`], which decides
/// the blob names (`$<kind>/…` or `<task>/$<kind>/…`).
#[derive(Debug, Clone)]
pub struct Outputs {
    store: Arc<dyn Store>,
    job: JobId,
    container: ContainerName,
    scope: Scope,
    verify: bool,
    /// Whether downloads sync to disk; `None`: by file system.
    sync: Option<bool>,
    /// Files moved at once by the methods that move many.
    concurrency: usize,
    /// Where transfers count what they move, if anywhere.
    progress: Option<Progress>,
}

/// What [`Outputs::save_all`] stored.
#[derive(Debug, Clone, Default)]
pub struct SaveReport {
    /// The files stored, in the order of their local paths.
    pub saved: Vec<SavedFile>,
    /// The patterns that matched no file.
    pub unmatched: Vec<String>,
}

/// One local file stored by [`Outputs::save_all`].
#[derive(Debug, Clone)]
pub struct SavedFile {
    /// The local file.
    pub source: PathBuf,
    /// The output it was stored as.
    pub output: Output,
}

/// What [`Outputs::download_all`] wrote.
#[derive(Debug, Clone, Default)]
pub struct DownloadReport {
    /// Each output downloaded, with the local file it was written to.
    pub files: Vec<(Output, PathBuf)>,
    /// Bytes written in all.
    pub bytes: u64,
}

impl Outputs {
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

    /// The same outputs, moving up to `concurrency` files at once (at least 1)
    /// in [`Outputs::save_all`], [`Outputs::download_all`] and
    /// [`Outputs::delete_all`]; [`DEFAULT_CONCURRENCY`] unless set.
    #[must_use]
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// The same outputs, counting files and bytes into `progress` as saves and
    /// downloads move them (for a progress bar): [`Outputs::save_all`] and
    /// [`Outputs::download_all`] plan every file they will move before moving
    /// it; single saves and [`Outputs::open`] plan their one.
    #[must_use]
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = Some(progress);
        self
    }

    /// The same outputs, with the [`Output`]s they give (by `get`, listings and
    /// saves) and [`Outputs::download_all`] verifying whole reads against the
    /// checksum the store recorded (`true`, the default) or not (`false`). See
    /// [`Output::verify`].
    #[must_use]
    pub fn verify(mut self, verify: bool) -> Self {
        self.verify = verify;
        self
    }

    /// The same outputs, with the [`Output`]s they give and
    /// [`Outputs::download_all`] syncing downloaded files to disk (`true`) or
    /// never (`false`); unset, by file system. See [`Output::sync_downloads`].
    #[must_use]
    pub fn sync_downloads(mut self, sync: bool) -> Self {
        self.sync = Some(sync);
        self
    }

    /// The job.
    pub fn job_id(&self) -> &JobId {
        &self.job
    }

    /// The job's output container.
    pub fn container(&self) -> &ContainerName {
        &self.container
    }

    /// Whose outputs these are.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The store the outputs live in.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Creates the job's output container if it does not exist. Returns whether
    /// it was created. Saving creates it too when it is missing, where the
    /// credentials allow.
    ///
    /// # Errors
    ///
    /// Store errors.
    pub async fn prepare(&self) -> Result<bool> {
        Ok(self.store.create_container(&self.container).await?)
    }

    /// Saves a local file by its path relative to the working directory, named by
    /// the conventions: `../stdout.txt` is stored as `stdout.txt`, `out/a.txt` as
    /// `out/a.txt`.
    ///
    /// # Errors
    ///
    /// [`Error::Naming`] for an absolute or climbing path or a kind of the other
    /// level; [`Error::BadSource`] for a missing file or a directory; store errors.
    pub async fn save(&self, kind: &OutputKind, path: impl AsRef<Path>) -> Result<Output> {
        let path = path.as_ref();
        let text = path.to_str().ok_or_else(|| Error::BadSource {
            path: path.to_owned(),
            reason: "its path is not valid UTF-8, which blob names must be; rename it or give a destination".into(),
        })?;
        let destination = OutputPath::from_local(text)?;
        self.save_as(kind, path, &destination).await
    }

    /// Saves a local file under an explicit destination path.
    ///
    /// # Errors
    ///
    /// As [`Outputs::save`].
    pub async fn save_as(
        &self,
        kind: &OutputKind,
        source: impl AsRef<Path>,
        destination: &OutputPath,
    ) -> Result<Output> {
        let location = self.location(kind, destination)?;
        let source = source.as_ref();
        let len = check_source(source).await?;
        if let Some(progress) = &self.progress {
            progress.plan_file(len);
        }
        self.put(location, kind, PutSource::File(source.to_owned()))
            .await
    }

    /// Saves text as an output.
    ///
    /// # Errors
    ///
    /// [`Error::Naming`] for a kind of the other level; store errors.
    pub async fn save_text(
        &self,
        kind: &OutputKind,
        text: impl Into<String>,
        destination: &OutputPath,
    ) -> Result<Output> {
        self.save_bytes(kind, text.into(), destination).await
    }

    /// Saves bytes in memory as an output.
    ///
    /// # Errors
    ///
    /// [`Error::Naming`] for a kind of the other level; store errors.
    pub async fn save_bytes(
        &self,
        kind: &OutputKind,
        bytes: impl Into<bytes::Bytes>,
        destination: &OutputPath,
    ) -> Result<Output> {
        let location = self.location(kind, destination)?;
        let bytes = bytes.into();
        if let Some(progress) = &self.progress {
            progress.plan_file(bytes.len() as u64);
        }
        self.put(location, kind, PutSource::Bytes(bytes)).await
    }

    /// Saves every file that the glob patterns match, with the Batch service's
    /// output-file semantics (see [`crate::pattern`]): each file is stored by its
    /// path below the pattern's fixed prefix. A file matched by several patterns
    /// is saved once. Patterns that match nothing are reported, not an error.
    ///
    /// # Errors
    ///
    /// [`Error::BadPattern`]; [`Error::DuplicateDestination`] when two files would
    /// get the same name; [`Error::Partial`] when some files failed (the others
    /// are stored complete).
    pub async fn save_all<S: AsRef<str>>(
        &self,
        kind: &OutputKind,
        patterns: &[S],
    ) -> Result<SaveReport> {
        self.save_all_under(kind, patterns, None).await
    }

    /// As [`Outputs::save_all`], with every stored path placed below `folder`.
    ///
    /// # Errors
    ///
    /// As [`Outputs::save_all`].
    pub async fn save_all_under<S: AsRef<str>>(
        &self,
        kind: &OutputKind,
        patterns: &[S],
        folder: Option<&OutputPath>,
    ) -> Result<SaveReport> {
        kind_prefix(&self.scope, kind)?;
        let mut planned: Vec<(PathBuf, OutputPath)> = Vec::new();
        // Which planned file each destination came from: one lookup per match.
        let mut sources: HashMap<OutputPath, usize> = HashMap::new();
        let mut unmatched = Vec::new();
        for pattern in patterns {
            let matches = pattern::expand(pattern.as_ref())?;
            if matches.is_empty() {
                unmatched.push(pattern.as_ref().to_owned());
            }
            for m in matches {
                let destination = match folder {
                    Some(folder) => m.relative.under(folder)?,
                    None => m.relative,
                };
                if let Some(&index) = sources.get(&destination) {
                    let first = &planned[index].0;
                    if same_file(first, &m.source) {
                        continue;
                    }
                    return Err(Error::DuplicateDestination {
                        name: destination.to_string(),
                        first: first.clone(),
                        second: m.source,
                    });
                }
                sources.insert(destination.clone(), planned.len());
                planned.push((m.source, destination));
            }
        }
        let total = planned.len();
        if let Some(progress) = &self.progress {
            for (source, _) in &planned {
                progress.plan_file(std::fs::metadata(source).map_or(0, |m| m.len()));
            }
        }
        let results: Vec<(String, Result<SavedFile>)> = stream::iter(planned)
            .map(|(source, destination)| async move {
                let label = source.display().to_string();
                // The pattern found these as files: no second look before the
                // put, which reads the file and reports one that has gone.
                let location = self.location(kind, &destination);
                let saved = match location {
                    Ok(location) => {
                        self.put(location, kind, PutSource::File(source.clone()))
                            .await
                    }
                    Err(e) => Err(e),
                };
                (label, saved.map(|output| SavedFile { source, output }))
            })
            .buffered(self.concurrency)
            .collect()
            .await;
        let (saved, failed) = split_results(results);
        if !failed.is_empty() {
            return Err(partial(failed, total));
        }
        Ok(SaveReport { saved, unmatched })
    }

    /// The outputs of one kind, in name order.
    pub fn list(&self, kind: &OutputKind) -> BoxStream<'static, Result<Output>> {
        match kind_prefix(&self.scope, kind) {
            Ok(prefix) => self.list_prefix(prefix),
            Err(e) => Box::pin(stream::once(async move { Err(e.into()) })),
        }
    }

    /// Every output in this scope, of every kind, in name order. For a job this
    /// includes the outputs of all its tasks.
    pub fn list_all(&self) -> BoxStream<'static, Result<Output>> {
        self.list_prefix(scope_prefix(&self.scope))
    }

    fn list_prefix(&self, prefix: String) -> BoxStream<'static, Result<Output>> {
        let this = self.clone();
        Box::pin(
            self.store
                .list(&self.container, &prefix)
                .map_err(move |e| this.missing_job(e))
                .try_filter_map({
                    let this = self.clone();
                    move |meta| std::future::ready(Ok(this.output(meta)))
                }),
        )
    }

    /// One output, by kind and file path.
    ///
    /// # Errors
    ///
    /// [`Error::OutputNotFound`] or [`Error::NoSuchJob`] when it is not there.
    pub async fn get(&self, kind: &OutputKind, path: &OutputPath) -> Result<Output> {
        let location = self.location(kind, path)?;
        match self.store.head(&location).await {
            Ok(meta) => Ok(self.named(kind, path, location, meta)),
            Err(e) => Err(self.not_found(kind, path, e)),
        }
    }

    /// Opens one output for a whole read, by kind and file path: the read's own
    /// answer gives its properties, so fetching an output costs no separate
    /// existence check (one request, for an output up to a block).
    ///
    /// # Errors
    ///
    /// [`Error::OutputNotFound`] or [`Error::NoSuchJob`] when it is not there.
    pub async fn open(&self, kind: &OutputKind, path: &OutputPath) -> Result<OpenedOutput> {
        let location = self.location(kind, path)?;
        match self.store.get(&location, None).await {
            Ok(got) => {
                if let Some(progress) = &self.progress {
                    progress.plan_file(got.meta.size);
                }
                let output = self.named(kind, path, location, got.meta.clone());
                Ok(OpenedOutput::new(output, self.counted(got)))
            }
            Err(e) => Err(self.not_found(kind, path, e)),
        }
    }

    /// Downloads one listed output below `dest`, at its name less `prefix`.
    async fn download_one(
        &self,
        output: Output,
        prefix: &str,
        dest: &Path,
    ) -> Result<(Output, PathBuf)> {
        let below = output.blob_name().strip_prefix(prefix).unwrap_or_default();
        let relative = OutputPath::new(below)
            .map_err(|e| Error::UnsafeName {
                name: output.blob_name().to_owned(),
                reason: e.to_string(),
            })?
            .to_relative_path_buf();
        let got = self.store.get(output.location(), None).await?;
        let (target, _) = OpenedOutput::new(output.clone(), self.counted(got))
            .download_into(download::Target::Below(dest.to_owned(), relative))
            .await?;
        Ok((output, target))
    }

    /// A whole read, counted into the progress, if any: its bytes as they
    /// come, and the file once the last has come.
    fn counted(&self, mut got: GetResult) -> GetResult {
        if let Some(progress) = self.progress.clone() {
            let mut finished = Some(progress.clone());
            let done = stream::poll_fn(move |_| {
                if let Some(progress) = finished.take() {
                    progress.file_done();
                }
                std::task::Poll::Ready(None)
            });
            got.stream = got
                .stream
                .inspect_ok(move |chunk| progress.add_bytes(chunk.len() as u64))
                .chain(done)
                .boxed();
        }
        got
    }

    /// The output at a name asked for.
    fn named(
        &self,
        kind: &OutputKind,
        path: &OutputPath,
        location: Location,
        meta: ObjectMeta,
    ) -> Output {
        Output {
            store: self.store.clone(),
            location,
            scope: self.scope.clone(),
            kind: kind.clone(),
            file_path: path.to_string(),
            meta,
            verify: self.verify,
            sync: self.sync,
        }
    }

    /// The error of a read of an output asked for by name.
    fn not_found(&self, kind: &OutputKind, path: &OutputPath, error: StoreError) -> Error {
        match error {
            StoreError::NotFound { .. } => Error::OutputNotFound {
                kind: kind.to_string(),
                path: path.to_string(),
                owner: self.owner(),
            },
            e => self.missing_job(e),
        }
    }

    /// The kinds that have outputs in this scope, sorted.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchJob`]; store errors.
    pub async fn kinds(&self) -> Result<Vec<OutputKind>> {
        let prefix = scope_prefix(&self.scope);
        let listing = self
            .store
            .list_with_delimiter(&self.container, &prefix)
            .await
            .map_err(|e| self.missing_job(e))?;
        let mut kinds: Vec<OutputKind> = listing
            .prefixes
            .iter()
            .filter_map(|p| {
                p.strip_prefix(&prefix)?
                    .strip_prefix('$')?
                    .strip_suffix('/')
            })
            .filter_map(|k| OutputKind::new(k).ok())
            .collect();
        kinds.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        Ok(kinds)
    }

    /// Downloads outputs into `dest`: those of one kind, or every output in this
    /// scope. Each lands at its blob name less the listing prefix (for one kind,
    /// its file path), atomically, with up to [`Outputs::concurrency`] at once,
    /// while the listing goes on. A stored name
    /// that could leave `dest` is refused and reported, never written. Each is
    /// verified against the checksum the store recorded for it, unless
    /// [`Outputs::verify`] turned that off.
    ///
    /// # Errors
    ///
    /// [`Error::Partial`] when some outputs failed or were refused (the others
    /// are complete), among them any whose bytes do not match their recorded
    /// checksum ([`StoreError::ChecksumMismatch`]; nothing of those is written);
    /// listing errors.
    pub async fn download_all(
        &self,
        kind: Option<&OutputKind>,
        dest: &Path,
    ) -> Result<DownloadReport> {
        let prefix = match kind {
            Some(kind) => kind_prefix(&self.scope, kind)?,
            None => scope_prefix(&self.scope),
        };
        if tokio::fs::metadata(dest).await.is_ok_and(|m| !m.is_dir()) {
            return Err(Error::BadDestination {
                path: dest.to_owned(),
                reason: "it exists and is not a folder; give a folder (it is created if needed)"
                    .into(),
            });
        }
        tokio::fs::create_dir_all(dest)
            .await
            .map_err(|e| Error::io("create folder", dest, e))?;
        let results: Vec<(String, Result<(Output, PathBuf)>)> = self
            .list_prefix(prefix.clone())
            .map(|listed| {
                let prefix = &prefix;
                async move {
                    let output = listed?;
                    if let Some(progress) = &self.progress {
                        progress.plan_file(output.size());
                    }
                    let label = output.blob_name().to_owned();
                    let fetched = self.download_one(output, prefix, dest).await;
                    Ok::<_, Error>((label, fetched))
                }
            })
            .buffer_unordered(self.concurrency)
            .try_collect()
            .await?;
        let total = results.len();
        let (files, failed) = split_results(results);
        if !failed.is_empty() {
            return Err(partial(failed, total));
        }
        let bytes = files.iter().map(|(o, _)| o.size()).sum();
        Ok(DownloadReport { files, bytes })
    }

    /// Deletes outputs: those of one kind, or every output in this scope. Returns
    /// how many were deleted.
    ///
    /// # Errors
    ///
    /// [`Error::Partial`] when some deletions failed; listing errors.
    pub async fn delete_all(&self, kind: Option<&OutputKind>) -> Result<usize> {
        let listing = match kind {
            Some(kind) => self.list(kind),
            None => self.list_all(),
        };
        let results: Vec<(String, Result<()>)> = listing
            .map(|listed| async move {
                let output = listed?;
                Ok::<_, Error>((output.blob_name().to_owned(), output.delete().await))
            })
            .buffer_unordered(self.concurrency)
            .try_collect()
            .await?;
        let total = results.len();
        let (deleted, failed) = split_results(results);
        if !failed.is_empty() {
            return Err(partial(failed, total));
        }
        Ok(deleted.len())
    }

    pub(crate) fn location(&self, kind: &OutputKind, path: &OutputPath) -> Result<Location> {
        let name = blob_name(&self.scope, kind, path)?;
        Ok(Location::new(self.container.clone(), BlobName::new(name)?))
    }

    async fn put(
        &self,
        location: Location,
        kind: &OutputKind,
        source: PutSource,
    ) -> Result<Output> {
        let mut options = PutOptions::default();
        options.progress = self.progress.clone();
        let meta = match self.store.put(&location, source.clone(), &options).await {
            Err(StoreError::ContainerNotFound { .. }) => {
                self.store.create_container(&self.container).await?;
                self.store.put(&location, source, &options).await?
            }
            other => other?,
        };
        if let Some(progress) = &self.progress {
            progress.file_done();
        }
        tracing::info!(container = %location.container, blob = %location.name, bytes = meta.size, "saved");
        let file_path = parse_blob_name(location.name.as_str())
            .map(|parts| parts.file_path)
            .unwrap_or_default();
        Ok(Output {
            store: self.store.clone(),
            location,
            scope: self.scope.clone(),
            kind: kind.clone(),
            file_path,
            meta,
            verify: self.verify,
            sync: self.sync,
        })
    }

    /// An output from a listed blob; `None` for blobs outside the conventions.
    fn output(&self, meta: ObjectMeta) -> Option<Output> {
        let parts = parse_blob_name(&meta.name)?;
        let name = match BlobName::new(meta.name.clone()) {
            Ok(name) => name,
            Err(e) => {
                // Not silently: a name no request can address is still news.
                tracing::warn!(container = %self.container, "skipping a stored name: {e}");
                return None;
            }
        };
        Some(Output {
            store: self.store.clone(),
            location: Location::new(self.container.clone(), name),
            scope: parts.scope,
            kind: parts.kind,
            file_path: parts.file_path,
            meta,
            verify: self.verify,
            sync: self.sync,
        })
    }

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

    fn owner(&self) -> String {
        match &self.scope {
            Scope::Job => format!("of job {}", self.job),
            Scope::Task(task) => format!("of task {task} of job {}", self.job),
        }
    }
}

/// Refuses a source that is not a regular file, saying why; gives its length.
async fn check_source(path: &Path) -> Result<u64> {
    let bad = |reason: String| Error::BadSource {
        path: path.to_owned(),
        reason,
    };
    match tokio::fs::metadata(path).await {
        Ok(meta) if meta.is_file() => Ok(meta.len()),
        Ok(meta) if meta.is_dir() => Err(bad(
            "it is a directory; save the files in it with a pattern such as 'DIR/**/*'".into(),
        )),
        Ok(_) => Err(bad("it is not a regular file".into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let cwd = std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|_| "the working directory".into());
            Err(bad(format!(
                "no such file; relative paths are taken from {cwd}"
            )))
        }
        Err(e) => Err(bad(e.to_string())),
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

fn split_results<T>(results: Vec<(String, Result<T>)>) -> (Vec<T>, Vec<(String, Error)>) {
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

fn partial(mut failures: Vec<(String, Error)>, total: usize) -> Error {
    if failures.len() == 1 && total == 1 {
        return failures.remove(0).1;
    }
    Error::Partial { total, failures }
}
