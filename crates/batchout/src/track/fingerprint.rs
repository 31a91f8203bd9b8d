//! A cheap check, at every flush, that the file still is what was stored: its
//! first and last few stored bytes, compared with the same ranges of the file.
//!
//! A new attempt that truncates the file and writes it again almost always
//! changes one of them; the file shrinking is caught by its length. (A rewrite
//! that leaves both ranges byte-identical at the same length is not seen, and
//! then the stored copy is what the file holds at those places anyway.)

use super::source::Source;
use crate::Result;

/// How many bytes of each end are kept.
const KEEP: usize = 4096;

/// The first and last stored bytes of the file (up to [`KEEP`] each).
#[derive(Debug, Clone, Default)]
pub(super) struct Fingerprint {
    /// The file's bytes from 0.
    head: Vec<u8>,
    /// The file's bytes that end where the stored copy ends.
    tail: Vec<u8>,
}

impl Fingerprint {
    /// Reads the fingerprint of the file's first `end` bytes.
    ///
    /// # Errors
    ///
    /// File read errors.
    pub(super) async fn read(source: &Source, end: u64) -> Result<Self> {
        let keep = KEEP.min(usize::try_from(end).unwrap_or(KEEP));
        let head = source.read_at(0, keep).await?.to_vec();
        let tail = source.read_at(end - keep as u64, keep).await?.to_vec();
        Ok(Self { head, tail })
    }

    /// Records bytes just stored after the previous ones.
    pub(super) fn push(&mut self, data: &[u8]) {
        if self.head.len() < KEEP {
            let more = (KEEP - self.head.len()).min(data.len());
            self.head.extend_from_slice(&data[..more]);
        }
        if data.len() >= KEEP {
            self.tail.clear();
            self.tail.extend_from_slice(&data[data.len() - KEEP..]);
        } else {
            self.tail.extend_from_slice(data);
            let excess = self.tail.len().saturating_sub(KEEP);
            self.tail.drain(..excess);
        }
    }

    /// Whether the file (stored up to `end`) still has these bytes.
    ///
    /// # Errors
    ///
    /// File read errors.
    pub(super) async fn matches(&self, source: &Source, end: u64) -> Result<bool> {
        let head = source.read_at(0, self.head.len()).await?;
        if head != self.head {
            return Ok(false);
        }
        let start = end.saturating_sub(self.tail.len() as u64);
        Ok(source.read_at(start, self.tail.len()).await? == self.tail)
    }
}

#[cfg(test)]
mod tests {
    use super::{Fingerprint, KEEP};

    #[test]
    fn keeps_the_first_and_last_bytes_pushed() {
        let mut print = Fingerprint::default();
        let all: Vec<u8> = (0..3 * KEEP).map(|i| (i % 251) as u8).collect();
        for piece in all.chunks(1000) {
            print.push(piece);
        }
        assert_eq!(print.head, all[..KEEP]);
        assert_eq!(print.tail, all[all.len() - KEEP..]);
        print.push(&all);
        assert_eq!(print.tail, all[all.len() - KEEP..]);
    }
}
