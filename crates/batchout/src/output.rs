//! A reference to one stored output: its properties, and the ways to fetch or
//! delete it.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use batchout_naming::{OutputKind, OutputPath, Scope, TaskId};
use batchout_store::{GetResult, Location, ObjectMeta, Result as StoreResult, Store};
use bytes::Bytes;
use futures::TryStreamExt;
use futures::stream::BoxStream;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_util::io::StreamReader;

use crate::{Error, Result, download};

/// One stored output of a job or task.
///
/// Got from a listing, `get` (of [`crate::TaskOutputs`], [`crate::JobOutputs`]
/// or [`crate::Outputs`]) or a save. The properties are
/// those the store reported then.
///
/// Whole reads ([`Output::download_to`], [`Output::download_to_writer`],
/// [`Output::bytes`], [`Output::reader`]) are verified against the checksum
/// the store recorded for the blob (its CRC-64/NVME, else its SHA-256), where it
/// recorded one (Azure, for every put;
/// not the local directory store, nor appended logs): bytes that do not match
/// fail with [`batchout_store::Error::ChecksumMismatch`]. Turn it off with
/// [`Output::verify`]. Ranged reads are never verified.
#[derive(Debug, Clone)]
pub struct Output {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) location: Location,
    pub(crate) scope: Scope,
    pub(crate) kind: OutputKind,
    pub(crate) file_path: StoredPath,
    pub(crate) meta: ObjectMeta,
    pub(crate) verify: bool,
    /// Whether downloads sync to disk before the rename; `None`: by file
    /// system (see [`Output::sync_downloads`]).
    pub(crate) sync: Option<bool>,
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

    /// The file path: the blob name without the kind prefix, exactly as
    /// stored, and so not to be trusted as a local path (see [`StoredPath`]).
    pub fn file_path(&self) -> &StoredPath {
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

    /// The CRC-64/NVME of the content that the store recorded, where it
    /// recorded one: set by a save to Azure, and by a `get` of
    /// an output saved there, but not by listings. As text:
    /// [`batchout_store::crc64nvme_hex`].
    pub fn crc64nvme(&self) -> Option<u64> {
        self.meta.crc64nvme
    }

    /// The SHA-256 of the content (hex) that the store recorded, where it
    /// recorded one: as [`Output::crc64nvme`], for saves to Azure that asked
    /// for it (`BATCHOUT_SHA256=1`, [`batchout_store::TransferOptions::sha256`]).
    pub fn sha256(&self) -> Option<&str> {
        self.meta.sha256.as_deref()
    }

    /// The same output, with whole reads verified against the recorded checksum
    /// (`true`, the default) or not (`false`: fetch a copy whose recorded hash
    /// no longer matches, for instance one rewritten by a tool that kept the old
    /// metadata).
    #[must_use]
    pub fn verify(mut self, verify: bool) -> Self {
        self.verify = verify;
        self
    }

    /// Whether whole reads are verified (see [`Output::verify`]).
    pub fn verifies(&self) -> bool {
        self.verify
    }

    /// Whether downloads to a file sync to disk: as set by
    /// [`Output::sync_downloads`], `None` when unset (by file system).
    pub fn syncs_downloads(&self) -> Option<bool> {
        self.sync
    }

    /// The same output, with downloads to a file ([`Output::download_to`])
    /// synced to disk before they are renamed into place (`true`), or never
    /// (`false`). Unset, a download is synced only on a file system that is not
    /// a local disk ([`batchout_store::is_local_disk`]: NFS, SMB, Lustre, FUSE…),
    /// where a late write error (an exceeded quota) shows only then, as the
    /// local directory store does (decision 0005). Either way a download is
    /// renamed into place only when complete, so a process that dies leaves
    /// the target untouched; only a sync keeps it complete across a power cut.
    #[must_use]
    pub fn sync_downloads(mut self, sync: bool) -> Self {
        self.sync = Some(sync);
        self
    }

    /// Opens a whole read (one request for an output up to a block; see
    /// [`OpenedOutput`]), verified unless that was turned off.
    ///
    /// # Errors
    ///
    /// Store errors; [`batchout_store::Error::NotFound`] when the output is no
    /// longer there.
    pub async fn open(&self) -> Result<OpenedOutput> {
        let got = self.store.get(&self.location, None).await?;
        Ok(OpenedOutput::new(self.clone(), got))
    }

    /// The file path as a local relative path, refusing any name that could leave
    /// a destination folder (`..`, absolute, `\`, control characters).
    ///
    /// # Errors
    ///
    /// [`Error::UnsafeName`] naming the problem.
    pub fn safe_relative_path(&self) -> Result<PathBuf> {
        self.file_path.to_safe_path()
    }

    /// Downloads the output into the folder `dir` (created if needed), at its
    /// file path there, atomically as [`Output::download_to`] does: the way
    /// to fetch a listed output by its name. A stored name that could leave
    /// `dir` (`..`, absolute, `\`, or a path through a link) is refused, and
    /// nothing is written. Returns the file written.
    ///
    /// # Errors
    ///
    /// [`Error::UnsafeName`]; [`Error::BadDestination`] when `dir` is not a
    /// folder; as [`Output::download_to`].
    pub async fn download_into(&self, dir: impl AsRef<Path>) -> Result<PathBuf> {
        let dir = dir.as_ref();
        let relative = self.safe_relative_path()?;
        download::prepare_folder(dir).await?;
        let target = download::Target::Below(dir.to_owned(), relative);
        let (path, _) = self.open().await?.download_into(target).await?;
        Ok(path)
    }

    /// Downloads the output to the local file `path`, atomically: the bytes
    /// land in a temporary file beside it, which is renamed over `path` only
    /// when complete and verified. Returns the number of bytes written. To
    /// fetch an output by its stored name, use [`Output::download_into`],
    /// which keeps it inside a folder.
    ///
    /// # Errors
    ///
    /// Store errors while reading, among them
    /// [`batchout_store::Error::ChecksumMismatch`] when the bytes do not have
    /// the recorded checksum (then nothing is written: `path` is untouched);
    /// [`Error::Io`] when the file cannot be written.
    pub async fn download_to(&self, path: impl AsRef<Path>) -> Result<u64> {
        self.open().await?.download_to(path).await
    }

    /// Streams the output into a writer. Returns the number of bytes written.
    ///
    /// # Errors
    ///
    /// Store errors while reading; [`Error::Io`] when the writer fails. The
    /// bytes are written as they come, so when they turn out not to have the
    /// recorded checksum ([`batchout_store::Error::ChecksumMismatch`], at the
    /// end) the writer already holds them: treat its content as corrupt.
    pub async fn download_to_writer<W: AsyncWrite + Unpin>(&self, writer: &mut W) -> Result<u64> {
        self.open().await?.write_to(writer).await
    }

    /// Reads the whole output into memory.
    ///
    /// # Errors
    ///
    /// Store errors, among them [`batchout_store::Error::ChecksumMismatch`]
    /// when the bytes do not have the recorded checksum.
    pub async fn bytes(&self) -> Result<Bytes> {
        self.open().await?.bytes().await
    }

    /// Reads a byte range of the output (not verified: the recorded checksum is
    /// of the whole).
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
    /// `std::io::Error`, a checksum that does not match as one at the end.
    pub async fn reader(&self) -> Result<impl AsyncRead + Send + Unpin + 'static> {
        Ok(self.open().await?.into_reader())
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

/// An output's file path as it is stored: the blob name less its kind
/// prefix. Whoever wrote the blob chose it, so it may hold `..`, a leading
/// `/` or `\`: it is deliberately not a [`Path`]. Show it with `Display`,
/// and turn it into a local path only with [`StoredPath::to_safe_path`] (or
/// download with [`Output::download_into`]), which refuse such names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoredPath(String);

impl StoredPath {
    pub(crate) fn new(path: String) -> Self {
        Self(path)
    }

    /// The path as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path as a local relative path, refusing any name that could leave
    /// a folder it is joined to (`..`, absolute, `\`, control characters).
    ///
    /// # Errors
    ///
    /// [`Error::UnsafeName`] naming the problem.
    pub fn to_safe_path(&self) -> Result<PathBuf> {
        OutputPath::new(&self.0)
            .map(|p| p.to_relative_path_buf())
            .map_err(|e| Error::UnsafeName {
                name: self.0.clone(),
                reason: e.to_string(),
            })
    }
}

impl std::fmt::Display for StoredPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for StoredPath {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for StoredPath {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// An output whose whole read has begun: its properties, as the read's own
/// answer gave them, and its bytes, which the methods consume. Got from
/// `open` (an output by name, without a separate existence
/// check) or [`Output::open`].
pub struct OpenedOutput {
    output: Output,
    stream: BoxStream<'static, StoreResult<Bytes>>,
}

impl std::fmt::Debug for OpenedOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedOutput")
            .field("output", &self.output)
            .finish_non_exhaustive()
    }
}

impl OpenedOutput {
    /// Takes the properties from the read's answer and checks the bytes against
    /// the recorded checksum unless the output's verification is off.
    pub(crate) fn new(mut output: Output, got: GetResult) -> Self {
        let got = if output.verify { got.verified() } else { got };
        output.meta = got.meta;
        Self {
            output,
            stream: got.stream,
        }
    }

    /// The output, with the properties the read returned.
    pub fn output(&self) -> &Output {
        &self.output
    }

    /// Writes the bytes to a local file, atomically (see
    /// [`Output::download_to`]). Returns the number of bytes written.
    ///
    /// # Errors
    ///
    /// As [`Output::download_to`].
    pub async fn download_to(self, path: impl AsRef<Path>) -> Result<u64> {
        let target = download::Target::File(path.as_ref().to_owned());
        Ok(self.download_into(target).await?.1)
    }

    /// Writes the bytes to a download target, atomically; returns the file
    /// written and its length.
    pub(crate) async fn download_into(self, target: download::Target) -> Result<(PathBuf, u64)> {
        let sync = self.output.sync;
        let (path, written) = download::write_atomically(target, self.stream, sync).await?;
        tracing::info!(blob = %self.output.location, file = %path.display(), bytes = written, "downloaded");
        Ok((path, written))
    }

    /// Streams the bytes into a writer (see [`Output::download_to_writer`]).
    ///
    /// # Errors
    ///
    /// As [`Output::download_to_writer`].
    pub async fn write_to<W: AsyncWrite + Unpin>(self, writer: &mut W) -> Result<u64> {
        let mut stream = self.stream;
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

    /// Collects the bytes into memory.
    ///
    /// # Errors
    ///
    /// As [`Output::bytes`].
    pub async fn bytes(self) -> Result<Bytes> {
        let got = GetResult {
            range: 0..self.output.meta.size,
            meta: self.output.meta,
            stream: self.stream,
        };
        Ok(got.bytes().await?)
    }

    /// A streaming reader over the bytes (see [`Output::reader`]).
    pub fn into_reader(self) -> impl AsyncRead + Send + Unpin + 'static {
        StreamReader::new(self.stream.map_err(|e| std::io::Error::other(Box::new(e))))
    }
}
