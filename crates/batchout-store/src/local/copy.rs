//! Filling a copy of a blob from its source.
//!
//! Both ways of putting make their copy the same way — `write`'s general way
//! (a named temporary file in the folder of puts in progress) and, on Linux,
//! `unnamed`'s (an unnamed file in the blob's folder) — and differ only in
//! where the copy is and how it gets the blob's name. What they share lives
//! here, so that each depends on this module and neither on the other: the
//! copying itself, the error that says whether the source or the copy failed,
//! and the size from which a copy is long enough for both to look at the
//! blob's folders again before naming it.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use crate::{Error, PutSource, Result};

/// From this size on, a put looks at the folders on the way to its blob again
/// once its copy is made, before renaming it into place.
pub(super) const RECHECK_AFTER_BYTES: u64 = 1024 * 1024;

/// Why a copy could not be filled: its source (an error that says so), or
/// the copy itself.
pub(super) enum Filled {
    Source(Error),
    Copy(io::Error),
}

impl Filled {
    /// The error to report, naming `copy` (where the copy goes) when it was
    /// the copy that failed.
    pub(super) fn of_copy_at(self, copy: impl AsRef<Path>) -> Error {
        match self {
            Self::Source(err) => err,
            Self::Copy(err) => Error::io("write", copy.as_ref(), err),
        }
    }
}

/// Writes the source into `copy`, and syncs its data if asked.
pub(super) fn fill(copy: &mut File, source: PutSource, sync: bool) -> Result<(), Filled> {
    match source {
        PutSource::Bytes(bytes) => copy.write_all(&bytes).map_err(Filled::Copy)?,
        PutSource::File(path) => {
            let mut file = open_source(&path).map_err(Filled::Source)?;
            // On Linux, std's copy between two files uses copy_file_range.
            io::copy(&mut file, copy).map_err(Filled::Copy)?;
        }
    }
    // `sync_data` is enough: the name comes after, and what `sync_data`
    // leaves out (times) is not what makes a blob whole.
    if sync {
        copy.sync_data().map_err(Filled::Copy)?;
    }
    Ok(())
}

/// Opens the file of a [`PutSource::File`].
fn open_source(path: &Path) -> Result<File> {
    let file = File::open(path).map_err(|err| Error::io("read", path, err))?;
    let meta = file
        .metadata()
        .map_err(|err| Error::io("read", path, err))?;
    if meta.is_dir() {
        let err = io::Error::new(io::ErrorKind::IsADirectory, "it is a folder, not a file");
        return Err(Error::io("read", path, err));
    }
    Ok(file)
}
