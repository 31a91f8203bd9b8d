//! A reference to one stored output: its properties, and the ways to fetch or
//! delete it.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use batchout_naming::{OutputKind, OutputPath, Scope, TaskId};
use batchout_store::{Location, ObjectMeta, Store};
use bytes::Bytes;
use futures::TryStreamExt;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_util::io::StreamReader;

use crate::{Error, Result, download};

/// One stored output of a job or task.
///
/// Got from a listing, [`crate::Outputs::get`] or a save. The properties are
/// those the store reported then.
#[derive(Debug, Clone)]
pub struct Output {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) location: Location,
    pub(crate) scope: Scope,
    pub(crate) kind: OutputKind,
    pub(crate) file_path: String,
    pub(crate) meta: ObjectMeta,
}

impl Output {
    /// The output's kind.
    pub fn kind(&self) -> &OutputKind {
        &self.kind
    }

    /// The task it belongs to; `None` for a job output.
    pub fn task_id(&self) -> Option<&TaskId> {
        self.scope.task()
    }

    /// Whose output it is.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The file path: the blob name without the kind prefix, exactly as stored.
    pub fn file_path(&self) -> &str {
        &self.file_path
    }

    /// The whole blob name.
    pub fn blob_name(&self) -> &str {
        self.location.name.as_str()
    }

    /// Where the output is stored.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.meta.size
    }

    /// When it was last written, where the store knows.
    pub fn last_modified(&self) -> Option<SystemTime> {
        self.meta.last_modified
    }

    /// Its content type, where the store knows.
    pub fn content_type(&self) -> Option<&str> {
        self.meta.content_type.as_deref()
    }

    /// All properties the store reported.
    pub fn meta(&self) -> &ObjectMeta {
        &self.meta
    }

    /// The file path as a local relative path, refusing any name that could leave
    /// a destination folder (`..`, absolute, `\`, control characters).
    ///
    /// # Errors
    ///
    /// [`Error::UnsafeName`] naming the problem.
    pub fn safe_relative_path(&self) -> Result<PathBuf> {
        OutputPath::new(&self.file_path)
            .map(|p| p.to_relative_path_buf())
            .map_err(|e| Error::UnsafeName {
                name: self.blob_name().to_owned(),
                reason: e.to_string(),
            })
    }

    /// Downloads the output to a local file, atomically: the bytes land in a
    /// temporary file beside it, which is renamed over `path` only when complete.
    /// Returns the number of bytes written.
    ///
    /// # Errors
    ///
    /// Store errors while reading; [`Error::Io`] when the file cannot be written.
    pub async fn download_to(&self, path: impl AsRef<Path>) -> Result<u64> {
        let got = self.store.get(&self.location, None).await?;
        let written = download::write_atomically(path.as_ref(), got.stream).await?;
        tracing::info!(blob = %self.location, file = %path.as_ref().display(), bytes = written, "downloaded");
        Ok(written)
    }

    /// Streams the output into a writer. Returns the number of bytes written.
    ///
    /// # Errors
    ///
    /// Store errors while reading; [`Error::Io`] when the writer fails.
    pub async fn download_to_writer<W: AsyncWrite + Unpin>(&self, writer: &mut W) -> Result<u64> {
        let mut stream = self.store.get(&self.location, None).await?.stream;
        let mut written = 0;
        while let Some(chunk) = stream.try_next().await? {
            writer
                .write_all(&chunk)
                .await
                .map_err(|e| Error::io("write", "the output stream", e))?;
            written += chunk.len() as u64;
        }
        writer
            .flush()
            .await
            .map_err(|e| Error::io("write", "the output stream", e))?;
        Ok(written)
    }

    /// Reads the whole output into memory.
    ///
    /// # Errors
    ///
    /// Store errors.
    pub async fn bytes(&self) -> Result<Bytes> {
        Ok(self.store.get(&self.location, None).await?.bytes().await?)
    }

    /// Reads a byte range of the output.
    ///
    /// # Errors
    ///
    /// Store errors; a range outside the output fails with
    /// [`batchout_store::Error::InvalidRange`].
    pub async fn read_range(&self, range: Range<u64>) -> Result<Bytes> {
        Ok(self
            .store
            .get(&self.location, Some(range))
            .await?
            .bytes()
            .await?)
    }

    /// Opens a streaming reader over the output.
    ///
    /// # Errors
    ///
    /// Store errors when opening; read errors surface from the reader as
    /// `std::io::Error`.
    pub async fn reader(&self) -> Result<impl AsyncRead + Send + Unpin + 'static> {
        let stream = self.store.get(&self.location, None).await?.stream;
        Ok(StreamReader::new(
            stream.map_err(|e| std::io::Error::other(Box::new(e))),
        ))
    }

    /// Deletes the output.
    ///
    /// # Errors
    ///
    /// Store errors; a missing output is [`batchout_store::Error::NotFound`].
    pub async fn delete(&self) -> Result<()> {
        Ok(self.store.delete(&self.location).await?)
    }
}
