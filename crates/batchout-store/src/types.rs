//! The values that cross the [`crate::Store`] trait.

use std::fmt;
use std::path::PathBuf;
use std::time::SystemTime;

use bytes::Bytes;

use crate::{ContainerName, Error, Progress, Result};

/// The longest blob name Azure accepts, in characters.
const MAX_NAME_CHARS: usize = 1024;

/// A blob name: 1 to 1,024 characters, no NUL. Backends may refuse more (the
/// local directory store refuses names that are not safe relative paths).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobName(String);

impl BlobName {
    /// Validates a blob name.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] when it is empty, too long, or has a NUL.
    pub fn new(name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        let reason = if name.is_empty() {
            Some("it is empty")
        } else if name.chars().count() > MAX_NAME_CHARS {
            Some("it is longer than 1,024 characters")
        } else if name.contains('\0') {
            Some("it contains a NUL character")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(Error::InvalidName {
                name,
                reason: reason.into(),
            }),
            None => Ok(Self(name)),
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BlobName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a blob is: its container and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// The container.
    pub container: ContainerName,
    /// The blob name.
    pub name: BlobName,
}

impl Location {
    /// A blob in a container.
    pub fn new(container: ContainerName, name: BlobName) -> Self {
        Self { container, name }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.container, self.name)
    }
}

/// What to write with [`crate::Store::put`].
#[derive(Debug, Clone)]
pub enum PutSource {
    /// Bytes in memory.
    Bytes(Bytes),
    /// A local file, read by the backend in whatever way suits it, never wholly
    /// into memory unless it is small. On Azure it is read in order, one
    /// request's worth at a time (the whole file up to
    /// [`crate::TransferOptions::single_put_max`], else blocks of
    /// [`crate::TransferOptions::block_size`]), hashed as it is read, and
    /// refused with
    /// [`crate::Error::SourceChanged`] if it changes meanwhile. The local
    /// directory store copies it.
    File(PathBuf),
}

impl From<Bytes> for PutSource {
    fn from(bytes: Bytes) -> Self {
        Self::Bytes(bytes)
    }
}

impl From<Vec<u8>> for PutSource {
    fn from(bytes: Vec<u8>) -> Self {
        Self::Bytes(bytes.into())
    }
}

impl From<&'static str> for PutSource {
    fn from(text: &'static str) -> Self {
        Self::Bytes(Bytes::from_static(text.as_bytes()))
    }
}

impl From<String> for PutSource {
    fn from(text: String) -> Self {
        Self::Bytes(text.into())
    }
}

/// Options of a [`crate::Store::put`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PutOptions {
    /// The content type to record, where the backend records one; when `None` the
    /// backend guesses from the name.
    pub content_type: Option<String>,
    /// Where to count the bytes as the store accepts them, if anywhere.
    pub progress: Option<Progress>,
    /// Write only over this version of the blob ([`ObjectMeta::etag`], as a
    /// put, an append or a head gave it): when the blob is another version,
    /// or is gone, the put fails with [`crate::Error::Modified`] and writes
    /// nothing. What stops two writers of one blob from overwriting each
    /// other's bytes (a tracked file on a store that appends by copying).
    /// Azure and S3 check it in the write itself (`If-Match`); a local
    /// directory just before it.
    pub if_match: Option<String>,
}

impl PutOptions {
    /// Sets the content type.
    pub fn with_content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }

    /// Counts the bytes into `progress` as the store accepts them.
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Writes only over this version of the blob (see [`PutOptions::if_match`]).
    pub fn with_if_match(mut self, etag: impl Into<String>) -> Self {
        self.if_match = Some(etag.into());
        self
    }

    /// Counts `bytes` accepted, if anyone is counting.
    pub(crate) fn count(&self, bytes: u64) {
        if let Some(progress) = &self.progress {
            progress.add_bytes(bytes);
        }
    }
}

/// How a blob was written, where the backend knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlobType {
    /// Written whole (Azure's block blob).
    Block,
    /// Written by appends (Azure's append blob).
    Append,
}

/// A blob's properties.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ObjectMeta {
    /// The blob name, exactly as the store holds it. It may not be a safe local
    /// path if something other than batchout wrote it.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// When it was last written, where known.
    pub last_modified: Option<SystemTime>,
    /// Its content type, where known.
    pub content_type: Option<String>,
    /// How it was written, where the backend knows.
    pub blob_type: Option<BlobType>,
    /// An opaque version tag, where the backend has one.
    pub etag: Option<String>,
    /// How many appends (Azure's committed blocks) an append blob holds, where
    /// the backend counts them (Azure: `x-ms-blob-committed-block-count`, on
    /// `head`); see [`crate::Capabilities::max_append_blocks`].
    pub append_blocks: Option<u64>,
    /// The CRC-64/NVME of the whole content, where the backend records one:
    /// on Azure, set by every put (which computes it from the bytes it sends)
    /// and kept in the blob's metadata (`x-ms-meta-crc64nvme`, 16 hex digits,
    /// see [`crate::crc64nvme_hex`]), read back by `get` and `head` but not by
    /// listings. Appended blobs carry none, nor does the local directory
    /// store, which keeps no checksums. [`crate::GetResult::verified`] checks a read
    /// against it.
    pub crc64nvme: Option<u64>,
    /// The SHA-256 of the whole content, lowercase hex, where one is recorded
    /// (`x-ms-meta-sha256`): by puts asked for it
    /// ([`crate::TransferOptions::sha256`]), and by every put of earlier versions
    /// of batchout. A read with no CRC-64 to check is checked against it.
    pub sha256: Option<String>,
}

impl ObjectMeta {
    /// Properties with a name and size, the rest unknown.
    pub fn new(name: impl Into<String>, size: u64) -> Self {
        Self {
            name: name.into(),
            size,
            last_modified: None,
            content_type: None,
            blob_type: None,
            etag: None,
            append_blocks: None,
            crc64nvme: None,
            sha256: None,
        }
    }
}

/// A URL that carries a secret (a SAS signature). `Display` and `Debug` show it
/// redacted; only [`SecretUrl::expose`] gives the usable URL.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl {
    shown: String,
    secret: String,
    expiry: Option<SystemTime>,
}

impl SecretUrl {
    /// A secret URL and the form of it that may be shown.
    pub fn new(secret: String, shown: String) -> Self {
        Self {
            shown,
            secret,
            expiry: None,
        }
    }

    /// The same URL, known to stop granting access at `expiry`.
    #[must_use]
    pub fn with_expiry(mut self, expiry: SystemTime) -> Self {
        self.expiry = Some(expiry);
        self
    }

    /// When the URL stops granting access, where its maker says: it may be
    /// sooner than was asked (a user delegation SAS lasts at most 7 days).
    pub fn expiry(&self) -> Option<SystemTime> {
        self.expiry
    }

    /// The full URL, secret included: for handing to whoever needs access, never
    /// for logs or messages.
    pub fn expose(&self) -> &str {
        &self.secret
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({})", self.shown)
    }
}
