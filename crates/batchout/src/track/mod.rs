//! Tracked files: a local file that grows at its end (a log, `stdout.txt`),
//! mirrored to an output while it is written, so that what a task printed
//! survives the node even if the task never finishes.
//!
//! [`crate::TaskOutputs::track`] (or the same method of [`crate::JobOutputs`]
//! and [`crate::Outputs`]) starts a [`Tracker`]; every [`TrackOptions::interval`]
//! it stores what the file gained since the last flush, and
//! [`Tracker::finish`] does a final flush and reports. The rules, which make
//! sure no byte is lost or stored twice:
//!
//! - **Appends at a position.** Each flush reads the bytes beyond what is
//!   stored, one chunk of at most [`batchout_store::Capabilities::max_append_size`]
//!   at a time (bounded memory), and appends each at the stored length. A
//!   retried append therefore never writes twice: if the blob already holds
//!   the next bytes of the file (an answer was lost), its length is adopted
//!   after comparing those bytes; if it holds anything else, the file goes to a
//!   new blob.
//! - **Resume.** On start the stored copy is continued when the file still
//!   begins with it, compared by content: whole up to 8 MiB, else the first and
//!   last MiB by ranged reads. A tracker that crashed (or was dropped without
//!   `finish`) is thus continued by the next one, without re-sending a byte.
//! - **Rotation.** A file that shrank or was rewritten (a new attempt truncated
//!   it; checked at every flush by its first and last 4 KiB stored) is stored
//!   again from its start in the next free attempt, `stdout.2.txt`,
//!   `stdout.3.txt`, …; the old blob is never touched again. Logged as a
//!   warning and counted in [`TrackReport::rotations`].
//! - **Continuation.** A blob that would pass the store's append limit (Azure:
//!   50,000 blocks) is continued in `stdout.part2.txt`, `stdout.part3.txt`
//!   (`stdout.2.part2.txt` for a rotation): the file is the concatenation of
//!   its parts.
//! - **Appends by copy.** Where the store appends by copying the stored blob
//!   ([`batchout_store::Capabilities::append_copy_floor`]: S3, from 5 MiB),
//!   a blob below that floor is put whole again from the file at each flush,
//!   on the version this session last wrote or saw
//!   ([`batchout_store::PutOptions::if_match`]), and appended to from it. A
//!   write that finds another version is a lost race: treated as an append
//!   at the wrong position (adopted, or a new attempt), never spliced.
//! - **No native append.** Where the store cannot append, each flush uploads
//!   the whole file again when it grew (a put of the file, atomic).
//! - **Errors surface.** A failed periodic flush is logged and retried at the
//!   next interval; `finish` returns the first error of any flush.
//!
//! A missing file stores nothing until it appears; a file that exists, even
//! empty, is stored (a task that printed nothing still has its `stderr.txt`).

mod compare;
mod fingerprint;
mod mirror;
mod names;
mod options;
mod resume;
mod source;
mod tracker;

use std::path::Path;

use batchout_naming::{OutputKind, OutputPath};

pub use self::options::{DEFAULT_TRACK_INTERVAL, MIN_TRACK_INTERVAL, TrackOptions, TrackReport};
pub use self::tracker::Tracker;
use crate::Result;
use crate::core::Core;

impl Core {
    pub(crate) async fn track(
        &self,
        kind: &OutputKind,
        source: &Path,
        destination: &OutputPath,
        options: TrackOptions,
    ) -> Result<Tracker> {
        options.check()?;
        let mirror = mirror::Mirror::start(self, kind, source, destination, &options).await?;
        Ok(Tracker::start(mirror, source.to_owned(), options.interval))
    }
}
