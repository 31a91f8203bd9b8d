//! Finding and fetching: listings, one output by name, the kinds present,
//! downloads of many into a folder, and deletes of many.

use std::path::{Path, PathBuf};

use batchout_naming::{OutputKind, OutputPath, kind_prefix, scope_prefix};
use batchout_store::{GetResult, Location, ObjectMeta};
use futures::stream::{self, BoxStream};
use futures::{StreamExt, TryStreamExt};

use crate::core::{Core, partial, split_results};
use crate::{Error, OpenedOutput, Output, Result, download};

/// What a download of many outputs wrote.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DownloadReport {
    /// Each output downloaded, with the local file it was written to.
    pub files: Vec<(Output, PathBuf)>,
    /// Bytes written in all.
    pub bytes: u64,
}

impl Core {
    pub(crate) fn list(&self, kind: &OutputKind) -> BoxStream<'static, Result<Output>> {
        match kind_prefix(&self.scope, kind) {
            Ok(prefix) => self.list_prefix(prefix),
            Err(e) => Box::pin(stream::once(async move { Err(e.into()) })),
        }
    }

    pub(crate) fn list_all(&self) -> BoxStream<'static, Result<Output>> {
        self.list_prefix(scope_prefix(&self.scope))
    }

    fn list_prefix(&self, prefix: String) -> BoxStream<'static, Result<Output>> {
        let (errors, outputs) = (self.clone(), self.clone());
        Box::pin(
            self.store
                .list(&self.container, &prefix)
                .map_err(move |e| errors.missing_job(e))
                .try_filter_map(move |meta| std::future::ready(Ok(outputs.listed(meta)))),
        )
    }

    pub(crate) async fn get(&self, kind: &OutputKind, path: &OutputPath) -> Result<Output> {
        let location = self.location(kind, path)?;
        match self.store.head(&location).await {
            Ok(meta) => Ok(self.named(kind, path, location, meta)),
            Err(e) => Err(self.not_found(kind, path, e)),
        }
    }

    pub(crate) async fn open(&self, kind: &OutputKind, path: &OutputPath) -> Result<OpenedOutput> {
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

    pub(crate) async fn kinds(&self) -> Result<Vec<OutputKind>> {
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

    pub(crate) async fn download_all(
        &self,
        kind: Option<&OutputKind>,
        dest: &Path,
    ) -> Result<DownloadReport> {
        let prefix = match kind {
            Some(kind) => kind_prefix(&self.scope, kind)?,
            None => scope_prefix(&self.scope),
        };
        download::prepare_folder(dest).await?;
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

    pub(crate) async fn delete_all(&self, kind: Option<&OutputKind>) -> Result<usize> {
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
        let scope = self.scope.clone();
        self.make_output(location, scope, kind.clone(), path.to_string(), meta)
    }
}
