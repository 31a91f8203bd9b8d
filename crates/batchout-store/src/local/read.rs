//! Reading blobs: get (whole or a range, streamed) and head.
//!
//! Opening is checked: the path must be a regular file both before and after
//! the open, and the same file, so a symbolic link or FIFO planted in the store
//! is never read through.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Seek, SeekFrom};
use std::path::Path;

use futures::{StreamExt, TryStreamExt};
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;

use super::LocalStore;
use super::meta::object_meta;
use super::paths::{Entry, map_io};
use crate::{Error, GetOptions, GetResult, Location, ObjectMeta, Result};

/// The size of the chunks a get streams.
const CHUNK_BYTES: usize = 256 * 1024;

/// How often an open is tried when the file is replaced while it is opened.
const OPEN_ATTEMPTS: usize = 3;

impl LocalStore {
    pub(super) fn get_blocking(
        &self,
        location: &Location,
        options: &GetOptions,
    ) -> Result<GetResult> {
        let (mut file, meta, path) = self.open_blob(location)?;
        let size = meta.len();
        let properties = object_meta(location.name.as_str(), &meta);
        if let Some(expected) = &options.if_match
            && properties.etag.as_ref() != Some(expected)
        {
            return Err(Error::Modified {
                container: location.container.to_string(),
                name: location.name.to_string(),
            });
        }
        let range = match &options.range {
            Some(range) => range.resolve(location.name.as_str(), size)?,
            None => 0..size,
        };
        file.seek(SeekFrom::Start(range.start))
            .map_err(|err| Error::io("read", &path, err))?;
        let reader = tokio::fs::File::from_std(file).take(range.end - range.start);
        let stream = ReaderStream::with_capacity(reader, CHUNK_BYTES)
            .map_err(move |err| Error::io("read", &path, err))
            .boxed();
        Ok(GetResult {
            meta: properties,
            range,
            stream,
        })
    }

    pub(super) fn head_blocking(&self, location: &Location) -> Result<ObjectMeta> {
        let probe = self.probe(location)?;
        match probe.target {
            Entry::File(meta) => Ok(object_meta(location.name.as_str(), &meta)),
            _ => Err(not_found(location, &probe.path)),
        }
    }

    /// Opens a blob's file for reading.
    fn open_blob(&self, location: &Location) -> Result<(File, Metadata, std::path::PathBuf)> {
        let probe = self.probe(location)?;
        if !matches!(probe.target, Entry::File(_)) {
            return Err(not_found(location, &probe.path));
        }
        let file = open_checked(&probe.path, OpenOptions::new().read(true))
            .map_err(|err| map_io("open", location, &probe.path, err))?
            .ok_or_else(|| not_found(location, &probe.path))?;
        let meta = file
            .metadata()
            .map_err(|err| Error::io("read", &probe.path, err))?;
        Ok((file, meta, probe.path))
    }
}

fn not_found(location: &Location, path: &Path) -> Error {
    map_io("read", location, path, io::ErrorKind::NotFound.into())
}

/// Opens a regular file without reading through a symbolic link or opening a
/// FIFO: `None` when the path is not (or stops being) a regular file.
pub(super) fn open_checked(path: &Path, options: &OpenOptions) -> io::Result<Option<File>> {
    for _ in 0..OPEN_ATTEMPTS {
        let Entry::File(_) = Entry::at(path)? else {
            return Ok(None);
        };
        let file = match options.open(path) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Err(err) => return Err(err),
        };
        let opened = file.metadata()?;
        if let Entry::File(now) = Entry::at(path)?
            && same_file(&opened, &now)
        {
            return Ok(Some(file));
        }
    }
    Ok(None)
}

#[cfg(unix)]
fn same_file(a: &Metadata, b: &Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(a: &Metadata, b: &Metadata) -> bool {
    a.is_file() && b.is_file()
}
