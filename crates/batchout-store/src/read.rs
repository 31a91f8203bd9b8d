//! Reads: which bytes of a blob to read ([`ReadRange`]), on which condition
//! ([`GetOptions`]), and the answer ([`GetResult`]), which can check a whole
//! read against the checksum the store recorded.

use std::fmt;
use std::ops::Range;

use bytes::{Bytes, BytesMut};
use futures::stream::{self, BoxStream};
use futures::{StreamExt, TryStreamExt};

use crate::checksum::{ContentChecksums, ContentHasher, crc64nvme_hex};
use crate::{Error, ObjectMeta, Result};

/// Which bytes of a blob a read asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadRange {
    /// Bytes `start..end`; the range must lie inside the blob.
    Bounded(Range<u64>),
    /// From an offset to the end: what a log gained since a reader last
    /// looked. An offset equal to the blob's size reads nothing (and still
    /// tells the blob's properties); a larger one is
    /// [`Error::InvalidRange`].
    From(u64),
    /// The last `n` bytes, or the whole blob when it is shorter: the tail of
    /// a log. One request where [`crate::Capabilities::suffix_reads`] says so;
    /// elsewhere the store asks for the size first.
    Suffix(u64),
}

impl ReadRange {
    /// The bytes this asks for, of a blob of `size` bytes, as a plain range.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRange`] naming the blob `name` for a range that
    /// starts after its end or ends beyond it.
    pub fn resolve(&self, name: &str, size: u64) -> Result<Range<u64>> {
        let range = match self {
            Self::Bounded(range) => range.clone(),
            Self::From(start) => *start..size.max(*start),
            Self::Suffix(n) => size.saturating_sub(*n)..size,
        };
        if range.start > range.end || range.end > size {
            return Err(Error::InvalidRange {
                name: name.to_owned(),
                start: range.start,
                end: range.end,
                size,
            });
        }
        Ok(range)
    }
}

impl From<Range<u64>> for ReadRange {
    fn from(range: Range<u64>) -> Self {
        Self::Bounded(range)
    }
}

/// What [`crate::Store::get_opts`] reads, and on which condition.
///
/// ```
/// use batchout_store::{GetOptions, ReadRange};
///
/// // The last 64 KiB of a log, only if it is still the version seen before.
/// let options = GetOptions::default()
///     .with_range(ReadRange::Suffix(64 * 1024))
///     .with_if_match("\"0x8DC\"");
/// assert_eq!(options.range, Some(ReadRange::Suffix(65536)));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GetOptions {
    /// The bytes to read; `None` for the whole blob.
    pub range: Option<ReadRange>,
    /// Read only the version of the blob with this ETag
    /// ([`ObjectMeta::etag`]); another version fails the read with
    /// [`Error::Modified`] instead of returning its bytes.
    pub if_match: Option<String>,
}

impl GetOptions {
    /// Reads `range` of the blob.
    #[must_use]
    pub fn with_range(mut self, range: impl Into<ReadRange>) -> Self {
        self.range = Some(range.into());
        self
    }

    /// Reads only the version of the blob with `etag`.
    #[must_use]
    pub fn with_if_match(mut self, etag: impl Into<String>) -> Self {
        self.if_match = Some(etag.into());
        self
    }
}

/// The answer of [`crate::Store::get_opts`]: properties and a stream of the bytes.
pub struct GetResult {
    /// The blob's properties.
    pub meta: ObjectMeta,
    /// The byte range being returned, resolved against the blob's size (a
    /// [`ReadRange::Suffix`] of a short blob is all of it).
    pub range: Range<u64>,
    /// The bytes, in order.
    pub stream: BoxStream<'static, Result<Bytes>>,
}

impl GetResult {
    /// A read of nothing, at `range` (empty): what a remote backend answers
    /// for a range at the end of a blob.
    pub(crate) fn empty(meta: ObjectMeta, range: Range<u64>) -> Self {
        Self {
            meta,
            range,
            stream: Box::pin(stream::empty()),
        }
    }
}

/// `error`, told as [`Error::Modified`] when it is a 412 to a read
/// conditioned on a version (`conditioned`): that version is gone.
pub(crate) fn gone_if_conditioned(
    error: Error,
    location: &crate::Location,
    conditioned: bool,
) -> Error {
    match error {
        Error::Service { status: 412, .. } if conditioned => Error::Modified {
            container: location.container.to_string(),
            name: location.name.to_string(),
        },
        other => other,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_against_the_size_and_refuse_what_lies_outside() {
        let resolve = |range: ReadRange, size| range.resolve("b", size);
        assert_eq!(resolve(ReadRange::Bounded(2..5), 10).expect("inside"), 2..5);
        assert_eq!(resolve(ReadRange::From(4), 10).expect("to the end"), 4..10);
        assert_eq!(
            resolve(ReadRange::From(10), 10).expect("nothing new"),
            10..10
        );
        assert_eq!(resolve(ReadRange::Suffix(3), 10).expect("the tail"), 7..10);
        assert_eq!(
            resolve(ReadRange::Suffix(30), 10).expect("all of it"),
            0..10
        );
        assert_eq!(resolve(ReadRange::Suffix(0), 10).expect("none"), 10..10);
        for bad in [
            ReadRange::From(11),
            ReadRange::Bounded(5..11),
            #[allow(clippy::reversed_empty_ranges)]
            ReadRange::Bounded(6..5),
        ] {
            let err = resolve(bad.clone(), 10).expect_err("outside");
            assert!(
                matches!(err, Error::InvalidRange { size: 10, .. }),
                "{bad:?}: {err}"
            );
        }
    }

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
            assert!(
                shown.contains("without verification") && !shown.contains("--"),
                "{shown}"
            );
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
