//! Blob name → local path mapping, and what is found on the way there.
//!
//! The blob name *is* the relative path below the container folder: no encoding,
//! so `t1/$TaskLog/a b.txt` is the file `<root>/<container>/t1/$TaskLog/a b.txt`.
//! That is only safe because every name is checked here first: a name that could
//! leave its container (`..`, a leading `/`, an empty segment) is refused, and the
//! walk from the container folder to the blob never passes through a symbolic
//! link.

use std::fs::Metadata;
use std::io;
use std::path::{Path, PathBuf};

use super::LocalStore;
use crate::{BlobName, ContainerName, Error, Location, Result};

/// The longest path segment local file systems accept, in bytes.
const MAX_SEGMENT_BYTES: usize = 255;

/// The folder below the root that holds puts in progress. Container names never
/// start with `.`, so it can never be taken for a container.
const TMP_DIR: &str = ".batchout-tmp";

/// Splits a blob name into the path segments it maps to.
///
/// # Errors
///
/// [`Error::InvalidName`] when the name is not a safe relative path.
pub(super) fn segments(name: &BlobName) -> Result<Vec<&str>> {
    split(name.as_str()).map_err(|reason| Error::InvalidName {
        name: name.to_string(),
        reason,
    })
}

/// Splits `/`-separated text into safe path segments, or says why it cannot be.
pub(super) fn split(name: &str) -> Result<Vec<&str>, String> {
    if name.starts_with('/') {
        return Err("it starts with '/'; blob names are relative — remove the leading '/'".into());
    }
    if name.contains('\0') {
        return Err("it contains a NUL character".into());
    }
    let segments: Vec<&str> = name.split('/').collect();
    for segment in &segments {
        check_segment(segment)?;
    }
    Ok(segments)
}

fn check_segment(segment: &str) -> Result<(), String> {
    if segment.is_empty() {
        return Err("it has an empty segment ('//', or a '/' at the end); in a local directory store every '/'-separated segment is a folder or file name".into());
    }
    if segment == "." || segment == ".." {
        return Err(format!(
            "it has a '{segment}' segment, which a local directory store cannot hold — use plain folder names"
        ));
    }
    if segment.len() > MAX_SEGMENT_BYTES {
        return Err(format!(
            "a segment is {} bytes long; local file systems limit a segment to {MAX_SEGMENT_BYTES} bytes — shorten it",
            segment.len()
        ));
    }
    if cfg!(windows) && segment.contains(['\\', ':', '*', '?', '"', '<', '>', '|']) {
        return Err(
            "it has a character that Windows file names cannot hold (\\ : * ? \" < > |)".into(),
        );
    }
    Ok(())
}

/// What stands at a path, seen without following symbolic links.
#[derive(Debug)]
pub(super) enum Entry {
    /// Nothing.
    Missing,
    /// A regular file: a blob.
    File(Metadata),
    /// A folder.
    Dir,
    /// A symbolic link, never followed.
    Symlink,
    /// A FIFO, socket, device or the like.
    Other,
}

impl Entry {
    /// What is at `path`, without following a final symbolic link.
    pub(super) fn at(path: &Path) -> io::Result<Self> {
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.is_file() => Ok(Self::File(meta)),
            Ok(meta) if meta.is_dir() => Ok(Self::Dir),
            Ok(meta) if meta.is_symlink() => Ok(Self::Symlink),
            Ok(_) => Ok(Self::Other),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(Self::Missing),
            Err(err) if err.kind() == io::ErrorKind::NotADirectory => Ok(Self::Missing),
            Err(err) => Err(err),
        }
    }
}

/// The state of the folders above a blob.
#[derive(Debug)]
pub(super) enum Parents {
    /// They all exist, as real folders.
    Exist,
    /// The first `n` exist; the rest are missing.
    MissingAfter(usize),
    /// The folder of the first `n` segments is not a folder.
    Blocked(usize, Entry),
}

/// The path of a blob, and what stands on the way to it.
#[derive(Debug)]
pub(super) struct Probe<'n> {
    /// The container folder.
    pub container_dir: PathBuf,
    /// The blob's segments.
    pub segments: Vec<&'n str>,
    /// The blob's path.
    pub path: PathBuf,
    /// The folders above it.
    pub parents: Parents,
    /// What is at the path (always [`Entry::Missing`] unless the parents exist).
    pub target: Entry,
}

impl Probe<'_> {
    /// The name made of the first `n` segments.
    pub(super) fn name_of(&self, n: usize) -> String {
        self.segments[..n].join("/")
    }
}

impl LocalStore {
    /// The folder of a container.
    pub(super) fn container_dir(&self, container: &ContainerName) -> PathBuf {
        self.root.join(container.as_str())
    }

    /// The folder that holds puts in progress.
    pub(super) fn tmp_dir(&self) -> PathBuf {
        self.root.join(TMP_DIR)
    }

    /// Fails with [`Error::ContainerNotFound`] unless the container is a real
    /// folder, and returns that folder.
    pub(super) fn existing_container(&self, container: &ContainerName) -> Result<PathBuf> {
        let dir = self.container_dir(container);
        match Entry::at(&dir) {
            Ok(Entry::Dir) => Ok(dir),
            Ok(_) => Err(Error::ContainerNotFound {
                container: container.to_string(),
                store: self.to_string(),
            }),
            Err(err) => Err(Error::io("read", dir, err)),
        }
    }

    /// Checks the name and the container, then looks at each folder from the
    /// container down to the blob without following links.
    pub(super) fn probe<'n>(&self, location: &'n Location) -> Result<Probe<'n>> {
        let segments = segments(&location.name)?;
        let container_dir = self.existing_container(&location.container)?;
        let mut path = container_dir.clone();
        let mut parents = Parents::Exist;
        for (depth, segment) in segments[..segments.len() - 1].iter().enumerate() {
            path.push(segment);
            match Entry::at(&path).map_err(|err| Error::io("read", &path, err))? {
                Entry::Dir => {}
                Entry::Missing => {
                    parents = Parents::MissingAfter(depth);
                    break;
                }
                blocker => {
                    parents = Parents::Blocked(depth + 1, blocker);
                    break;
                }
            }
        }
        let path = segments
            .iter()
            .fold(container_dir.clone(), |path, segment| path.join(segment));
        let target = match parents {
            Parents::Exist => Entry::at(&path).map_err(|err| Error::io("read", &path, err))?,
            _ => Entry::Missing,
        };
        Ok(Probe {
            container_dir,
            segments,
            path,
            parents,
            target,
        })
    }
}

/// The error for a name that collides with what the store holds, or for a
/// file system answer that says so (a file where a folder must be).
pub(super) fn conflict(name: &str, with: &str, entry: &Entry) -> Error {
    let reason = match entry {
        Entry::File(_) => format!(
            "'{with}' is already stored as a file; a blob cannot also be a folder in a local directory store — choose another name or delete '{with}' first"
        ),
        Entry::Dir => format!(
            "'{with}/' is a folder holding blobs; a blob cannot also be a folder in a local directory store — choose another name or delete the blobs under '{with}/' first"
        ),
        Entry::Symlink => format!(
            "'{with}' is a symbolic link in the local directory store, and batchout never follows links — remove the link or choose another name"
        ),
        Entry::Other | Entry::Missing => format!(
            "'{with}' is not a regular file or folder in the local directory store — remove it or choose another name"
        ),
    };
    Error::NameConflict {
        name: name.to_owned(),
        reason,
    }
}

/// Maps a file system error on a blob's path: missing → [`Error::NotFound`], a
/// file where a folder should be (or the reverse) → [`Error::NameConflict`].
pub(super) fn map_io(
    action: &'static str,
    location: &Location,
    path: &Path,
    err: io::Error,
) -> Error {
    match err.kind() {
        io::ErrorKind::NotFound => Error::NotFound {
            container: location.container.to_string(),
            name: location.name.to_string(),
        },
        io::ErrorKind::NotADirectory | io::ErrorKind::IsADirectory => Error::NameConflict {
            name: location.name.to_string(),
            reason: "a file and a folder of the same name collide in the local directory store (another write may have raced this one) — choose another name or delete the other blob first".into(),
        },
        _ => Error::io(action, path, err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_split_on_slashes() {
        assert_eq!(
            split("t1/$TaskLog/a b+c%#é.txt"),
            Ok(vec!["t1", "$TaskLog", "a b+c%#é.txt"])
        );
        assert_eq!(
            split("a\\b"),
            Ok(vec!["a\\b"]),
            "a backslash is an ordinary character"
        );
        assert_eq!(split(".hidden/x"), Ok(vec![".hidden", "x"]));
    }

    #[test]
    fn names_that_could_leave_the_container_are_refused() {
        for name in ["../x", "a/../b", ".", "a/./b", "a//b", "/x", "x/", "a\0b"] {
            assert!(split(name).is_err(), "{name:?} must be refused");
        }
    }

    #[test]
    fn segments_over_255_bytes_are_refused_with_the_limit() {
        assert!(split(&"é".repeat(127)).is_ok());
        let reason = split(&format!("a/{}", "é".repeat(128))).expect_err("256 bytes");
        assert!(reason.contains("255 bytes"), "{reason}");
    }
}
