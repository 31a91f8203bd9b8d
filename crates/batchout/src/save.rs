//! Saving: files by their path or under a destination, text and bytes, and
//! every file that glob patterns match.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use batchout_naming::{OutputKind, OutputPath, kind_prefix};
use batchout_store::PutSource;
use futures::StreamExt;
use futures::stream;

use crate::core::{Core, partial, split_results};
use crate::{Error, Output, Result, pattern};

/// What a save of glob patterns stored.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SaveReport {
    /// The files stored, in the order of their local paths.
    pub saved: Vec<SavedFile>,
    /// The patterns that matched no file.
    pub unmatched: Vec<String>,
}

/// One local file stored by a save of glob patterns.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SavedFile {
    /// The local file.
    pub source: PathBuf,
    /// The output it was stored as.
    pub output: Output,
}

/// The files patterns matched, each with its destination, and the patterns
/// that matched none.
struct Plan {
    files: Vec<(PathBuf, OutputPath)>,
    unmatched: Vec<String>,
}

impl Core {
    pub(crate) async fn save(&self, kind: &OutputKind, path: &Path) -> Result<Output> {
        let destination = crate::core::local_destination(path)?;
        self.save_as(kind, path, &destination).await
    }

    pub(crate) async fn save_as(
        &self,
        kind: &OutputKind,
        source: &Path,
        destination: &OutputPath,
    ) -> Result<Output> {
        let location = self.location(kind, destination)?;
        let len = check_source(source).await?;
        if let Some(progress) = &self.progress {
            progress.plan_file(len);
        }
        let source = PutSource::File(source.to_owned());
        self.put(location, kind, destination, source).await
    }

    pub(crate) async fn save_bytes(
        &self,
        kind: &OutputKind,
        bytes: bytes::Bytes,
        destination: &OutputPath,
    ) -> Result<Output> {
        let location = self.location(kind, destination)?;
        if let Some(progress) = &self.progress {
            progress.plan_file(bytes.len() as u64);
        }
        let source = PutSource::Bytes(bytes);
        self.put(location, kind, destination, source).await
    }

    pub(crate) async fn save_all_under(
        &self,
        kind: &OutputKind,
        patterns: Vec<String>,
        folder: Option<OutputPath>,
    ) -> Result<SaveReport> {
        kind_prefix(&self.scope, kind)?;
        let progress = self.progress.clone();
        // Walking folders, and comparing files matched twice, is file-system
        // work: it runs off the async threads.
        let plan = tokio::task::spawn_blocking(move || {
            let plan = plan(&patterns, folder.as_ref())?;
            if let Some(progress) = &progress {
                for (source, _) in &plan.files {
                    progress.plan_file(std::fs::metadata(source).map_or(0, |m| m.len()));
                }
            }
            Ok::<_, Error>(plan)
        })
        .await
        .map_err(|e| Error::io("match", "the patterns", std::io::Error::other(e)))??;
        let total = plan.files.len();
        let results: Vec<(String, Result<SavedFile>)> = stream::iter(plan.files)
            .map(|(source, destination)| async move {
                let label = source.display().to_string();
                // The pattern found these as files: no second look before the
                // put, which reads the file and reports one that has gone.
                let saved = match self.location(kind, &destination) {
                    Ok(location) => {
                        let put = PutSource::File(source.clone());
                        self.put(location, kind, &destination, put).await
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
        Ok(SaveReport {
            saved,
            unmatched: plan.unmatched,
        })
    }
}

/// Expands the patterns, each match stored below `folder` if given; a file
/// matched twice is planned once, and two files for one destination are
/// refused.
fn plan(patterns: &[String], folder: Option<&OutputPath>) -> Result<Plan> {
    let mut files: Vec<(PathBuf, OutputPath)> = Vec::new();
    // Which planned file each destination came from: one lookup per match.
    let mut sources: HashMap<OutputPath, usize> = HashMap::new();
    let mut unmatched = Vec::new();
    for pattern in patterns {
        let matches = pattern::expand(pattern)?;
        if matches.is_empty() {
            unmatched.push(pattern.clone());
        }
        for m in matches {
            let destination = match folder {
                Some(folder) => m.relative.under(folder)?,
                None => m.relative,
            };
            if let Some(&index) = sources.get(&destination) {
                let first = &files[index].0;
                if same_file(first, &m.source) {
                    continue;
                }
                return Err(Error::DuplicateDestination {
                    name: destination.to_string(),
                    first: first.clone(),
                    second: m.source,
                });
            }
            sources.insert(destination.clone(), files.len());
            files.push((m.source, destination));
        }
    }
    Ok(Plan { files, unmatched })
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

/// Whether two paths name one file.
fn same_file(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}
