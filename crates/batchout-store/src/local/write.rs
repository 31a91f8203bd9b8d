//! Creating containers, putting and deleting blobs.
//!
//! A put never shows a partial blob: the bytes go to a temporary file under
//! `<root>/.batchout-tmp/`, which is synced and then renamed over the blob's
//! path. Folders created for a put that fails are removed again, and a delete
//! removes the folders it leaves empty, so folders exist only while they hold
//! blobs.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use super::LocalStore;
use super::meta::object_meta;
use super::paths::{Entry, Parents, Probe, conflict, map_io};
use crate::{ContainerName, Error, Location, ObjectMeta, PutSource, Result};

/// How often a put retries when a concurrent delete removed its folder.
const PUT_ATTEMPTS: usize = 3;

impl LocalStore {
    pub(super) fn create_container_blocking(&self, container: &ContainerName) -> Result<bool> {
        fs::create_dir_all(&self.root).map_err(|err| Error::io("create", &self.root, err))?;
        let dir = self.container_dir(container);
        match fs::create_dir(&dir) {
            Ok(()) => Ok(true),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => match Entry::at(&dir) {
                Ok(Entry::Dir) => Ok(false),
                _ => Err(Error::io(
                    "create container folder",
                    dir,
                    io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        "something that is not a folder is in the way (batchout never follows symbolic links); move it away",
                    ),
                )),
            },
            Err(err) => Err(Error::io("create container folder", dir, err)),
        }
    }

    pub(super) fn put_blocking(
        &self,
        location: &Location,
        source: PutSource,
    ) -> Result<ObjectMeta> {
        let probe = self.probe(location)?;
        check_room(location, &probe)?;
        let mut temp = self.write_temp(source)?;
        let meta = temp
            .as_file()
            .metadata()
            .map_err(|err| Error::io("read", temp.path(), err))?;
        let mut attempt = 1;
        loop {
            let existing = match self.probe(location)?.parents {
                Parents::Exist => probe.segments.len() - 1,
                Parents::MissingAfter(n) => n,
                Parents::Blocked(n, entry) => {
                    return Err(conflict(location.name.as_str(), &probe.name_of(n), &entry));
                }
            };
            let created = create_parents(location, &probe, existing)?;
            match temp.persist(&probe.path) {
                Ok(_) => return Ok(object_meta(location.name.as_str(), &meta)),
                Err(err) => {
                    remove_empty(&created);
                    let retry =
                        err.error.kind() == io::ErrorKind::NotFound && attempt < PUT_ATTEMPTS;
                    if !retry {
                        return Err(map_io("write", location, &probe.path, err.error));
                    }
                    temp = err.file;
                    attempt += 1;
                }
            }
        }
    }

    /// Writes the source to a synced temporary file, removed again on failure.
    fn write_temp(&self, source: PutSource) -> Result<NamedTempFile> {
        let dir = self.tmp_dir();
        fs::create_dir_all(&dir).map_err(|err| Error::io("create", &dir, err))?;
        let mut builder = tempfile::Builder::new();
        builder.prefix("put-");
        // A blob gets the permissions any new file gets (0666 less the umask),
        // as with `cp`, not the owner-only ones of a temporary file.
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
        let mut temp = builder
            .tempfile_in(&dir)
            .map_err(|err| Error::io("create a temporary file in", &dir, err))?;
        let written = match source {
            PutSource::Bytes(bytes) => temp.write_all(&bytes),
            PutSource::File(path) => {
                let mut file = open_source(&path)?;
                // On Linux, std's copy between two files uses copy_file_range.
                io::copy(&mut file, temp.as_file_mut()).map(drop)
            }
        };
        written
            .and_then(|()| temp.as_file().sync_all())
            .map_err(|err| Error::io("write", temp.path(), err))?;
        Ok(temp)
    }

    pub(super) fn delete_blocking(&self, location: &Location) -> Result<()> {
        let probe = self.probe(location)?;
        let Entry::File(_) = probe.target else {
            return Err(map_io(
                "delete",
                location,
                &probe.path,
                io::ErrorKind::NotFound.into(),
            ));
        };
        fs::remove_file(&probe.path).map_err(|err| map_io("delete", location, &probe.path, err))?;
        let mut dir = probe.path.parent();
        while let Some(parent) = dir.filter(|parent| *parent != probe.container_dir) {
            if fs::remove_dir(parent).is_err() {
                break;
            }
            dir = parent.parent();
        }
        Ok(())
    }
}

/// Refuses a put whose name collides with a file or folder, before anything is
/// written. An empty folder (left by a crash) in the blob's place is removed.
fn check_room(location: &Location, probe: &Probe<'_>) -> Result<()> {
    let name = location.name.as_str();
    if let Parents::Blocked(n, entry) = &probe.parents {
        return Err(conflict(name, &probe.name_of(*n), entry));
    }
    match &probe.target {
        Entry::Missing | Entry::File(_) | Entry::Symlink => Ok(()),
        Entry::Other => Err(conflict(name, name, &Entry::Other)),
        Entry::Dir => {
            if super::list::holds_blob(&probe.path) {
                return Err(conflict(name, name, &Entry::Dir));
            }
            let mut emptied = walkdir::WalkDir::new(&probe.path)
                .contents_first(true)
                .into_iter();
            let removed =
                emptied.all(|entry| entry.is_ok_and(|entry| fs::remove_dir(entry.path()).is_ok()));
            if removed {
                Ok(())
            } else {
                Err(conflict(name, name, &Entry::Other))
            }
        }
    }
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

/// Creates the missing folders above a blob, the first `existing` being there.
/// Returns those it created, deepest last; on failure it removes them again.
pub(super) fn create_parents(
    location: &Location,
    probe: &Probe<'_>,
    existing: usize,
) -> Result<Vec<PathBuf>> {
    let mut dir = probe.container_dir.clone();
    dir.extend(&probe.segments[..existing]);
    let mut created = Vec::new();
    for depth in existing..probe.segments.len() - 1 {
        dir.push(probe.segments[depth]);
        match fs::create_dir(&dir) {
            Ok(()) => created.push(dir.clone()),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => match Entry::at(&dir) {
                Ok(Entry::Dir) => {}
                Ok(entry) => {
                    remove_empty(&created);
                    return Err(conflict(
                        location.name.as_str(),
                        &probe.name_of(depth + 1),
                        &entry,
                    ));
                }
                Err(err) => {
                    remove_empty(&created);
                    return Err(Error::io("read", dir, err));
                }
            },
            Err(err) => {
                remove_empty(&created);
                return Err(map_io("create folder", location, &dir, err));
            }
        }
    }
    Ok(created)
}

/// Removes folders created for a put that failed, deepest first, leaving any
/// that another write has filled meanwhile.
pub(super) fn remove_empty(created: &[PathBuf]) {
    for dir in created.iter().rev() {
        if fs::remove_dir(dir).is_err() {
            break;
        }
    }
}
