//! The state of one tracked file and its flush: what the file gained since the
//! last flush goes to the store, at the position the stored copy ends.
//!
//! The stored copy is a chain of blobs: part 1 holds the file from byte 0,
//! each continuation part (rolled over to before the store's append limit)
//! holds what follows. A file that shrank or was rewritten starts a new chain,
//! the next free attempt, from byte 0; an old chain is never appended to again.

use std::sync::Arc;

use batchout_store::{Location, ObjectMeta, PutOptions, PutSource, Store};
use bytes::Bytes;

use super::TrackReport;
use super::compare;
use super::fingerprint::Fingerprint;
use super::names::Naming;
use super::source::Source;
use crate::{Error, Result, StoreError};

/// How many rotations one flush may do before it gives up (each needs the
/// stored copy to be changed under it by someone else).
const MAX_ROTATIONS_PER_FLUSH: u32 = 3;

/// How the file reaches the store.
#[derive(Debug, Clone, Copy)]
pub(super) enum Strategy {
    /// Appends of at most `chunk` bytes, at most `max_blocks` to one blob.
    /// Where the store appends by copying (`copy_floor`, S3), a blob shorter
    /// than the floor is put whole again instead, from the file, on the
    /// version last written (see [`Capabilities::append_copy_floor`]).
    ///
    /// [`Capabilities::append_copy_floor`]: batchout_store::Capabilities::append_copy_floor
    Append {
        chunk: u64,
        max_blocks: Option<u64>,
        copy_floor: Option<u64>,
    },
    /// The store cannot append: the whole file is uploaded again.
    Replace,
}

/// The blob being written.
#[derive(Debug, Clone)]
pub(super) struct Blob {
    pub(super) attempt: u32,
    pub(super) part: u32,
    pub(super) location: Location,
    /// Where in the file this blob starts.
    pub(super) offset: u64,
    /// Its length.
    pub(super) stored: u64,
    /// How many appends it holds, where known.
    pub(super) blocks: Option<u64>,
    /// The version this session last wrote or saw, where known: a whole
    /// put below the copy floor is made on it.
    pub(super) etag: Option<String>,
    /// Whether this session wrote to it.
    pub(super) written: bool,
}

impl Blob {
    pub(super) fn empty(attempt: u32, part: u32, location: Location, offset: u64) -> Self {
        Self {
            attempt,
            part,
            location,
            offset,
            stored: 0,
            blocks: Some(0),
            etag: None,
            written: false,
        }
    }

    /// How much of the file is stored, this blob included.
    pub(super) fn end(&self) -> u64 {
        self.offset + self.stored
    }
}

/// One tracked file and where its copy is stored.
#[derive(Debug)]
pub(super) struct Mirror {
    pub(super) store: Arc<dyn Store>,
    pub(super) naming: Naming,
    pub(super) source: Source,
    pub(super) strategy: Strategy,
    pub(super) at: Blob,
    pub(super) fingerprint: Fingerprint,
    pub(super) report: TrackReport,
    pub(super) container_ready: bool,
}

impl Mirror {
    /// The blob being written.
    pub(super) fn blob(&self) -> &Location {
        &self.at.location
    }

    /// Stores what the file gained since the last flush.
    ///
    /// # Errors
    ///
    /// File and store errors; nothing is marked stored that was not.
    pub(super) async fn flush(&mut self) -> Result<()> {
        let Some(len) = self.source.stat().await? else {
            return self.check_unchanged(0).await;
        };
        self.check_unchanged(len).await?;
        match self.strategy {
            Strategy::Append {
                chunk,
                max_blocks,
                copy_floor,
            } => {
                self.append_up_to(len, chunk, max_blocks, copy_floor)
                    .await?;
            }
            Strategy::Replace => self.replace(len).await?,
        }
        if self.at.end() == 0 && !self.at.written {
            self.create_empty().await?;
        }
        Ok(())
    }

    /// A file that exists but is empty is stored as an empty blob (a task
    /// that printed nothing still has its `stderr.txt`).
    async fn create_empty(&mut self) -> Result<()> {
        match self.strategy {
            Strategy::Append { .. } => {
                self.append(Bytes::new()).await?;
            }
            Strategy::Replace => {
                self.put(PutSource::Bytes(Bytes::new())).await?;
            }
        }
        self.mark_written();
        Ok(())
    }

    /// Starts a new attempt when the file no longer begins with what is stored.
    async fn check_unchanged(&mut self, len: u64) -> Result<()> {
        let end = self.at.end();
        if end == 0 {
            return Ok(());
        }
        if len < end {
            let reason = format!("the file shrank from {end} to {len} bytes");
            return self.rotate(&reason).await;
        }
        if !self.fingerprint.matches(&self.source, end).await? {
            return self
                .rotate("the file was rewritten: its first or last stored bytes changed")
                .await;
        }
        Ok(())
    }

    async fn append_up_to(
        &mut self,
        len: u64,
        chunk: u64,
        max_blocks: Option<u64>,
        copy_floor: Option<u64>,
    ) -> Result<()> {
        let mut rotations = 0;
        while self.at.end() < len {
            let full = match (max_blocks, self.at.blocks) {
                (Some(max), Some(blocks)) => blocks >= max,
                // Unknown count: a fresh part is the only safe place.
                (Some(_), None) => true,
                (None, _) => false,
            };
            if full {
                self.next_part()?;
            }
            if let Some(floor) = copy_floor
                && self.at.stored > 0
                && self.at.stored < floor
            {
                // The file's bytes from the blob's start, up to the floor and
                // a chunk beyond (bounded memory).
                let most = (floor + chunk).min(len - self.at.offset);
                let want = usize::try_from(most).unwrap_or(usize::MAX);
                let data = self.source.read_at(self.at.offset, want).await?;
                if data.len() as u64 <= self.at.stored {
                    // Shrank while being read: the next flush sees it.
                    break;
                }
                match self.put_below_floor(data).await {
                    Ok(()) => {}
                    Err(StoreError::AppendPosition { actual, .. }) => {
                        self.lost_race(Some(actual), len, &mut rotations).await?;
                    }
                    Err(StoreError::Modified { .. }) => {
                        self.lost_race(None, len, &mut rotations).await?;
                    }
                    Err(e) => return Err(e.into()),
                }
                continue;
            }
            let want = usize::try_from(chunk.min(len - self.at.end())).unwrap_or(usize::MAX);
            let data = self.source.read_at(self.at.end(), want).await?;
            if data.is_empty() {
                // Shrank while being read: the next flush sees it.
                break;
            }
            match self.append(data.clone()).await {
                Ok(new_len) => self.stored(&data, new_len),
                Err(StoreError::AppendPosition { actual, .. }) => {
                    self.lost_race(Some(actual), len, &mut rotations).await?;
                }
                Err(StoreError::Modified { .. }) => {
                    self.lost_race(None, len, &mut rotations).await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// The stored blob is not what this session last wrote (its length
    /// `actual`, or, at the same length, its version): continued when it
    /// holds more of the file, else the file goes to a new attempt, up to
    /// [`MAX_ROTATIONS_PER_FLUSH`] times in one flush.
    async fn lost_race(
        &mut self,
        actual: Option<u64>,
        len: u64,
        rotations: &mut u32,
    ) -> Result<()> {
        if self.adopt(len).await? {
            return Ok(());
        }
        *rotations += 1;
        let expected = self.at.stored;
        if *rotations > MAX_ROTATIONS_PER_FLUSH {
            return Err(match actual {
                Some(actual) => StoreError::AppendPosition {
                    name: self.at.location.name.to_string(),
                    expected,
                    actual,
                },
                None => StoreError::Modified {
                    container: self.at.location.container.to_string(),
                    name: self.at.location.name.to_string(),
                },
            }
            .into());
        }
        let reason = match actual {
            Some(actual) => format!(
                "the stored blob is {actual} bytes long where {expected} were expected, and is not the file's (another writer is at work on it, or the file was replaced)"
            ),
            None => format!(
                "another writer is at work on the stored blob: it is {expected} bytes long as expected, but not the version batchout wrote"
            ),
        };
        self.rotate(&reason).await
    }

    /// Below the store's copy floor: `data`, the file's bytes from the
    /// blob's start, put whole on the version last written.
    async fn put_below_floor(&mut self, data: Bytes) -> std::result::Result<(), StoreError> {
        let location = self.at.location.clone();
        if self.at.etag.is_none() {
            // Appended or resumed: the version is asked once.
            let meta = match self.store.head(&location).await {
                Ok(meta) => meta,
                Err(StoreError::NotFound { .. }) => {
                    return Err(StoreError::AppendPosition {
                        name: location.name.to_string(),
                        expected: self.at.stored,
                        actual: 0,
                    });
                }
                Err(e) => return Err(e),
            };
            if meta.size != self.at.stored {
                return Err(StoreError::AppendPosition {
                    name: location.name.to_string(),
                    expected: self.at.stored,
                    actual: meta.size,
                });
            }
            self.at.etag = meta.etag;
        }
        let Some(etag) = self.at.etag.clone() else {
            return Err(StoreError::Unsupported {
                store: self.store.to_string(),
                operation: "tracked files on a store that gives no version (ETag) of its blobs",
            });
        };
        let before = usize::try_from(self.at.stored).unwrap_or(usize::MAX);
        let options = PutOptions::default().with_if_match(etag);
        let meta = self
            .store
            .put(&location, PutSource::Bytes(data.clone()), &options)
            .await?;
        self.stored(&data[before..], meta.size);
        self.at.etag = meta.etag;
        tracing::debug!(blob = %location, length = meta.size, "stored whole, below the store's copy floor");
        Ok(())
    }

    /// One append at the stored length, creating the container if needed.
    async fn append(&mut self, data: Bytes) -> std::result::Result<u64, StoreError> {
        let result = self
            .store
            .append(&self.at.location, data.clone(), self.at.stored)
            .await;
        match result {
            Err(StoreError::ContainerNotFound { .. }) if !self.container_ready => {
                self.naming.create_container().await?;
                self.container_ready = true;
                self.store
                    .append(&self.at.location, data, self.at.stored)
                    .await
            }
            other => other,
        }
    }

    /// Records bytes that were appended by this session.
    fn stored(&mut self, data: &[u8], new_len: u64) {
        self.at.stored = new_len;
        self.at.etag = None;
        self.at.blocks = self.at.blocks.map(|b| b + 1);
        self.fingerprint.push(data);
        self.report.bytes += data.len() as u64;
        self.mark_written();
        tracing::debug!(blob = %self.at.location, bytes = data.len(), length = new_len, "appended");
    }

    fn mark_written(&mut self) {
        if !self.at.written {
            self.at.written = true;
            self.report.blobs.push(self.at.location.name.to_string());
        }
    }

    /// After a position mismatch: if the blob now holds more of the file (an
    /// append whose answer was lost, or another writer of the same file), takes
    /// its length and goes on. Returns false when the blob is not the file's.
    async fn adopt(&mut self, len: u64) -> Result<bool> {
        let meta = match self.store.head(&self.at.location).await {
            Ok(meta) => meta,
            Err(StoreError::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        let size = meta.size;
        if size <= self.at.stored || self.at.offset + size > len {
            return Ok(false);
        }
        let tail = self.at.stored..size;
        let from = self.at.end();
        if !compare::range_matches(&*self.store, &self.at.location, tail, &self.source, from)
            .await?
        {
            return Ok(false);
        }
        tracing::info!(blob = %self.at.location, expected = self.at.stored, length = size, "the stored blob already holds the next bytes of the file; continuing after them");
        self.at.stored = size;
        self.at.blocks = meta.append_blocks;
        self.at.etag = meta.etag;
        self.fingerprint = Fingerprint::read(&self.source, self.at.end()).await?;
        self.mark_written();
        Ok(true)
    }

    /// Without native appends: uploads the whole file when it grew.
    async fn replace(&mut self, len: u64) -> Result<()> {
        if len <= self.at.stored {
            return Ok(());
        }
        let meta = self
            .put(PutSource::File(self.source.path().to_owned()))
            .await?;
        self.report.bytes += meta.size.saturating_sub(self.at.stored);
        self.at.stored = meta.size;
        self.fingerprint = Fingerprint::read(&self.source, meta.size).await?;
        self.mark_written();
        tracing::debug!(blob = %self.at.location, length = meta.size, "uploaded whole");
        Ok(())
    }

    /// A whole upload of the blob, creating the container if needed.
    async fn put(&mut self, source: PutSource) -> Result<ObjectMeta> {
        let options = PutOptions::default();
        let put = self
            .store
            .put(&self.at.location, source.clone(), &options)
            .await;
        Ok(match put {
            Err(StoreError::ContainerNotFound { .. }) if !self.container_ready => {
                self.naming.create_container().await?;
                self.container_ready = true;
                self.store.put(&self.at.location, source, &options).await?
            }
            other => other?,
        })
    }

    /// Moves to the next continuation part of this attempt.
    fn next_part(&mut self) -> Result<()> {
        let part = self.at.part + 1;
        let location = self.naming.location(self.at.attempt, part)?;
        tracing::info!(from = %self.at.location, to = %location, "the blob reached the store's append limit; continuing in the next part");
        self.at = Blob::empty(self.at.attempt, part, location, self.at.end());
        Ok(())
    }

    /// Moves to the next free attempt, to store the file again from byte 0.
    pub(super) async fn rotate(&mut self, reason: &str) -> Result<()> {
        let attempt = self.free_attempt(self.at.attempt + 1).await?;
        let location = self.naming.location(attempt, 1)?;
        tracing::warn!(
            file = %self.source.path().display(),
            from = %self.at.location,
            to = %location,
            "{reason}; storing it from the start in a new blob"
        );
        self.at = Blob::empty(attempt, 1, location, 0);
        self.fingerprint = Fingerprint::default();
        self.report.rotations += 1;
        Ok(())
    }

    /// The first attempt from `from` whose first blob does not exist.
    pub(super) async fn free_attempt(&self, from: u32) -> Result<u32> {
        let mut attempt = from;
        loop {
            let location = self.naming.location(attempt, 1)?;
            match self.store.head(&location).await {
                Ok(_) => attempt += 1,
                Err(e) if e.is_not_found() => return Ok(attempt),
                Err(e) => return Err(Error::from(e)),
            }
        }
    }
}
