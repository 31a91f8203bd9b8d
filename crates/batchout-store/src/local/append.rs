//! Appending at a position, under a file lock.
//!
//! The position condition is what makes a retried append safe: the lock makes
//! "check the length, then write" one step against other batchout writers, so
//! an append that already landed fails its retry instead of writing twice.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use super::LocalStore;
use super::paths::{Entry, Parents, conflict, map_io};
use super::read::open_checked;
use super::write::{create_parents, remove_empty};
use crate::{Error, Location, Result};

impl LocalStore {
    pub(super) fn append_blocking(
        &self,
        location: &Location,
        data: &[u8],
        position: u64,
    ) -> Result<u64> {
        let probe = self.probe(location)?;
        let name = location.name.as_str();
        let not_found = || {
            map_io(
                "open",
                location,
                &probe.path,
                io::ErrorKind::NotFound.into(),
            )
        };
        let mut options = OpenOptions::new();
        options.append(true);
        let file = match (&probe.parents, &probe.target) {
            (Parents::Blocked(n, entry), _) => {
                return Err(conflict(name, &probe.name_of(*n), entry));
            }
            (_, Entry::File(_)) => {
                let file = open_checked(&probe.path, &options)
                    .map_err(|err| map_io("open", location, &probe.path, err))?;
                file.ok_or_else(not_found)?
            }
            (_, Entry::Missing) if position > 0 => {
                return Err(Error::AppendPosition {
                    name: name.to_owned(),
                    expected: position,
                    actual: 0,
                });
            }
            (parents, Entry::Missing) => {
                let existing = match parents {
                    Parents::MissingAfter(n) => *n,
                    _ => probe.segments.len() - 1,
                };
                let dirs = create_parents(location, &probe, existing)?;
                match options.clone().create_new(true).open(&probe.path) {
                    Ok(file) => file,
                    // Another writer created it first: append to theirs, if the
                    // position still fits.
                    Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                        let file = open_checked(&probe.path, &options)
                            .map_err(|err| map_io("open", location, &probe.path, err))?;
                        file.ok_or_else(not_found)?
                    }
                    Err(err) => {
                        remove_empty(&dirs);
                        return Err(map_io("create", location, &probe.path, err));
                    }
                }
            }
            (_, entry) => return Err(conflict(name, name, entry)),
        };
        append_locked(location, &file, data, position, &probe.path)
    }
}

/// Under an exclusive lock: checks the length, writes everything, syncs.
fn append_locked(
    location: &Location,
    mut file: &File,
    data: &[u8],
    position: u64,
    path: &Path,
) -> Result<u64> {
    file.lock().map_err(|err| Error::io("lock", path, err))?;
    let actual = file
        .metadata()
        .map_err(|err| Error::io("read", path, err))?
        .len();
    if actual != position {
        return Err(Error::AppendPosition {
            name: location.name.to_string(),
            expected: position,
            actual,
        });
    }
    let written = file.write_all(data).and_then(|()| file.sync_data());
    if let Err(err) = written {
        // Never leave part of an append: cut the blob back to where it was.
        let _ = file.set_len(position);
        return Err(Error::io("append to", path, err));
    }
    Ok(position + data.len() as u64)
}
