//! The values that cross the [`crate::Store`] trait.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::time::SystemTime;

use crate::checksum::{ContentChecksums, ContentHasher, crc64nvme_hex};
use bytes::{Bytes, BytesMut};
use futures::stream::{self, BoxStream};
use futures::{StreamExt, TryStreamExt};

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
    /// [`crate::AzureOptions::single_put_max`], else blocks of
    /// [`crate::AzureOptions::block_size`]), hashed as it is read (blocks'
    /// MD5s several at a time, ahead), and refused with
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
    /// `head`); see [`Capabilities::max_append_blocks`].
    pub append_blocks: Option<u64>,
    /// The CRC-64/NVME of the whole content, where the backend records one:
    /// on Azure, set by every put (which computes it from the bytes it sends)
    /// and kept in the blob's metadata (`x-ms-meta-crc64nvme`, 16 hex digits,
    /// see [`crate::crc64nvme_hex`]), read back by `get` and `head` but not by
    /// listings. Appended blobs carry none, nor does the local directory
    /// store, which keeps no checksums. [`GetResult::verified`] checks a read
    /// against it.
    pub crc64nvme: Option<u64>,
    /// The SHA-256 of the whole content, lowercase hex, where one is recorded
    /// (`x-ms-meta-sha256`): by puts asked for it
    /// ([`crate::AzureOptions::sha256`]), and by every put of earlier versions
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

/// One level of a listing by delimiter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListResult {
    /// The `…/` prefixes one level down that hold at least one blob, sorted.
    pub prefixes: Vec<String>,
    /// The blobs directly at this level, sorted by name.
    pub objects: Vec<ObjectMeta>,
}

/// The answer of [`crate::Store::get`]: properties and a stream of the bytes.
pub struct GetResult {
    /// The blob's properties.
    pub meta: ObjectMeta,
    /// The byte range being returned.
    pub range: Range<u64>,
    /// The bytes, in order.
    pub stream: BoxStream<'static, Result<Bytes>>,
}

impl GetResult {
    /// Collects the whole stream into memory.
    ///
    /// # Errors
    ///
    /// The first error of the stream.
    pub async fn bytes(self) -> Result<Bytes> {
        let capacity = usize::try_from(self.range.end - self.range.start).unwrap_or(0);
        let mut buffer = BytesMut::with_capacity(capacity);
        let mut stream = self.stream;
        while let Some(chunk) = stream.try_next().await? {
            buffer.extend_from_slice(&chunk);
        }
        Ok(buffer.freeze())
    }
}

impl GetResult {
    /// The same read, checked against the checksum the blob's properties
    /// record: its CRC-64/NVME ([`ObjectMeta::crc64nvme`]), else its SHA-256
    /// ([`ObjectMeta::sha256`]). The bytes pass through as they come, hashed
    /// on the way, and a stream whose bytes do not match ends with
    /// [`Error::ChecksumMismatch`] instead of ending cleanly. A consumer that
    /// stops at the first error (as an atomic download does) therefore keeps
    /// nothing of a corrupt blob.
    ///
    /// A read of part of a blob, or of a blob with no recorded checksum, is
    /// returned as it is: there is nothing to check it against.
    pub fn verified(self) -> Self {
        let Some(expected) = Recorded::of(&self.meta) else {
            return self;
        };
        if self.range != (0..self.meta.size) {
            return self;
        }
        let name = self.meta.name.clone();
        let hasher = ContentHasher::new(matches!(expected, Recorded::Sha256(_)));
        let checked = stream::unfold(Some((self.stream, hasher)), move |state| {
            let (expected, name) = (expected.clone(), name.clone());
            async move {
                let (mut inner, mut hasher) = state?;
                match inner.next().await {
                    Some(Ok(chunk)) => {
                        hasher.update(&chunk);
                        Some((Ok(chunk), Some((inner, hasher))))
                    }
                    Some(Err(e)) => Some((Err(e), None)),
                    None => expected
                        .check(&name, hasher.finish())
                        .err()
                        .map(|mismatch| (Err(mismatch), None)),
                }
            }
        });
        Self {
            meta: self.meta,
            range: self.range,
            stream: Box::pin(checked),
        }
    }
}

/// The recorded checksum a whole read is checked against.
#[derive(Clone)]
enum Recorded {
    Crc64Nvme(u64),
    Sha256(String),
}

impl Recorded {
    /// The cheapest checksum `meta` records, if any.
    fn of(meta: &ObjectMeta) -> Option<Self> {
        meta.crc64nvme
            .map(Self::Crc64Nvme)
            .or_else(|| meta.sha256.clone().map(Self::Sha256))
    }

    /// Whether the checksums of what was read match.
    fn check(self, name: &str, read: ContentChecksums) -> Result<()> {
        let (algorithm, expected, actual) = match self {
            Self::Crc64Nvme(expected) if expected == read.crc64nvme => return Ok(()),
            Self::Crc64Nvme(expected) => (
                "CRC-64/NVME",
                crc64nvme_hex(expected),
                crc64nvme_hex(read.crc64nvme),
            ),
            Self::Sha256(expected) => {
                let actual = read.sha256.unwrap_or_default();
                if actual.eq_ignore_ascii_case(&expected) {
                    return Ok(());
                }
                ("SHA-256", expected, actual)
            }
        };
        Err(Error::ChecksumMismatch {
            name: name.to_owned(),
            algorithm,
            expected,
            actual,
        })
    }
}

impl fmt::Debug for GetResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetResult")
            .field("meta", &self.meta)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// What a backend can do. Callers choose a strategy from these, never from the
/// backend's name.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// Whether [`crate::Store::append`] works (else a tracked file is re-uploaded
    /// whole at each flush).
    pub append: bool,
    /// The most bytes one append may carry.
    pub max_append_size: u64,
    /// The most appends one blob may receive, where the backend has a limit
    /// (Azure: 50,000 blocks per append blob). A tracked file rolls over to a
    /// continuation blob before reaching it.
    pub max_append_blocks: Option<u64>,
    /// Whether one name may be both a blob and a prefix of other blobs (`x` and
    /// `x/y`). Object stores allow it; a local directory cannot.
    pub file_and_folder_names: bool,
    /// The only container this store can reach, when it is bound to one (a
    /// container SAS URL).
    pub bound_container: Option<ContainerName>,
}

/// A URL that carries a secret (a SAS signature). `Display` and `Debug` show it
/// redacted; only [`SecretUrl::expose`] gives the usable URL.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl {
    shown: String,
    secret: String,
}

impl SecretUrl {
    /// A secret URL and the form of it that may be shown.
    pub fn new(secret: String, shown: String) -> Self {
        Self { shown, secret }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(
        parts: &[&'static str],
        crc64nvme: Option<u64>,
        sha256: Option<&str>,
        range: Range<u64>,
    ) -> GetResult {
        let size: usize = parts.iter().map(|p| p.len()).sum();
        let mut meta = ObjectMeta::new("t/$TaskOutput/a.txt", size as u64);
        meta.crc64nvme = crc64nvme;
        meta.sha256 = sha256.map(str::to_owned);
        let chunks: Vec<Result<Bytes>> = parts
            .iter()
            .map(|p| Ok(Bytes::from_static(p.as_bytes())))
            .collect();
        GetResult {
            meta,
            range,
            stream: Box::pin(stream::iter(chunks)),
        }
    }

    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    /// The CRC-64/NVME of "abc" (from the bitwise reference in the store's
    /// integrity tests).
    const ABC_CRC: u64 = 0x05e5_cabb_3fc1_faeb;

    #[tokio::test]
    async fn a_whole_read_that_matches_its_recorded_checksum_passes() {
        let got = reading(&["a", "bc"], None, Some(ABC), 0..3).verified();
        assert_eq!(got.bytes().await.expect("verified"), "abc");
        let upper = ABC.to_ascii_uppercase();
        let got = reading(&["abc"], None, Some(&upper), 0..3).verified();
        assert_eq!(got.bytes().await.expect("any case"), "abc");
        let got = reading(&["ab", "c"], Some(ABC_CRC), None, 0..3).verified();
        assert_eq!(got.bytes().await.expect("CRC-64 verified"), "abc");
    }

    #[tokio::test]
    async fn a_whole_read_that_does_not_match_ends_in_an_error_naming_both_checksums() {
        for (crc, sha256, recorded) in [
            (None, Some(ABC), ABC.to_owned()),
            (Some(ABC_CRC), None, crc64nvme_hex(ABC_CRC)),
            // The CRC-64 is the one checked when both are recorded.
            (
                Some(ABC_CRC),
                Some("0".repeat(64).as_str()),
                crc64nvme_hex(ABC_CRC),
            ),
        ] {
            let got = reading(&["a", "bd"], crc, sha256, 0..3).verified();
            let err = got.bytes().await.unwrap_err();
            assert!(matches!(err, Error::ChecksumMismatch { .. }), "{err:?}");
            let shown = err.to_string();
            assert!(
                shown.contains(&recorded) && shown.contains("t/$TaskOutput/a.txt"),
                "{shown}"
            );
            assert!(shown.contains("--no-verify"), "{shown}");
        }
    }

    #[tokio::test]
    async fn ranges_and_blobs_without_a_checksum_are_not_checked() {
        let part = reading(&["bd"], Some(ABC_CRC), Some(ABC), 1..3);
        let mut part = part.verified();
        part.meta.size = 3;
        assert_eq!(part.bytes().await.expect("a range"), "bd");
        let unhashed = reading(&["abd"], None, None, 0..3).verified();
        assert_eq!(unhashed.bytes().await.expect("no hash"), "abd");
    }
}
