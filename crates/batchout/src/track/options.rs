//! [`TrackOptions`] and [`TrackReport`].

use std::time::Duration;

use crate::{Error, Result};

/// The shortest flush interval accepted.
pub const MIN_TRACK_INTERVAL: Duration = Duration::from_secs(1);
/// The flush interval when none is given.
pub const DEFAULT_TRACK_INTERVAL: Duration = Duration::from_secs(15);

/// Options of a tracked file.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct TrackOptions {
    /// How often what the file gained is stored: default 15 s, at least 1 s.
    pub interval: Duration,
    /// The most appends one blob receives before tracking continues in the next
    /// part (`stdout.part2.txt`, …). `None`, the default, is the store's own
    /// limit ([`batchout_store::Capabilities::max_append_blocks`]: 50,000 on
    /// Azure, none locally). Tests lower it to prove the roll-over cheaply.
    pub max_append_blocks: Option<u64>,
}

impl Default for TrackOptions {
    fn default() -> Self {
        Self {
            interval: DEFAULT_TRACK_INTERVAL,
            max_append_blocks: None,
        }
    }
}

impl TrackOptions {
    /// Sets the flush interval.
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Sets the most appends per blob (see [`TrackOptions::max_append_blocks`]).
    pub fn with_max_append_blocks(mut self, blocks: u64) -> Self {
        self.max_append_blocks = Some(blocks);
        self
    }

    /// Refuses values that cannot work.
    pub(super) fn check(&self) -> Result<()> {
        if self.interval < MIN_TRACK_INTERVAL {
            return Err(Error::InvalidOption {
                option: "interval",
                reason: format!(
                    "{} is shorter than the minimum of 1s; flushing more often costs requests without making the copy safer",
                    humantime::format_duration(self.interval)
                ),
            });
        }
        if self.max_append_blocks == Some(0) {
            return Err(Error::InvalidOption {
                option: "max_append_blocks",
                reason: "0 appends per blob leaves no room for any byte; give at least 1".into(),
            });
        }
        Ok(())
    }
}

/// What a tracker stored, from [`super::Tracker::finish`].
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackReport {
    /// Every blob name this session wrote to, in order: the blob continued on
    /// resume (once written to), rotations and continuation parts.
    pub blobs: Vec<String>,
    /// Bytes of the file stored by this session.
    pub bytes: u64,
    /// How many times the file was found shrunk or rewritten (or its stored
    /// copy changed by someone else) and stored again from its start in a new
    /// blob.
    pub rotations: u32,
    /// How many bytes of the file were already stored when tracking started and
    /// were continued, not stored again.
    pub resumed_from: u64,
}
