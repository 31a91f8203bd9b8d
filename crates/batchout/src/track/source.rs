//! The tracked local file: its length, and its bytes at an offset, read with
//! bounded memory on tokio's blocking pool.

use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};

use crate::{Error, Result};

/// The local file being tracked. It may not exist yet: a missing file is empty.
#[derive(Debug, Clone)]
pub(super) struct Source {
    path: PathBuf,
}

impl Source {
    pub(super) fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
        }
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// The file's length; `None` while it does not exist.
    ///
    /// # Errors
    ///
    /// [`Error::BadSource`] for a directory; [`Error::Io`] when it cannot be
    /// inspected.
    pub(super) async fn stat(&self) -> Result<Option<u64>> {
        match tokio::fs::metadata(&self.path).await {
            Ok(meta) if meta.is_dir() => Err(Error::BadSource {
                path: self.path.clone(),
                reason: "it is a directory; track a file".into(),
            }),
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("inspect", &self.path, e)),
        }
    }

    /// The file's length; 0 while it does not exist.
    ///
    /// # Errors
    ///
    /// As [`Source::stat`].
    pub(super) async fn len(&self) -> Result<u64> {
        Ok(self.stat().await?.unwrap_or(0))
    }

    /// Up to `len` bytes from `offset`; fewer when the file is shorter.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be read.
    pub(super) async fn read_at(&self, offset: u64, len: usize) -> Result<Bytes> {
        let path = self.path.clone();
        let read = tokio::task::spawn_blocking(move || read_at(&path, offset, len))
            .await
            .map_err(|e| Error::io("read", &self.path, io::Error::other(e)))?;
        read.map_err(|e| Error::io("read", &self.path, e))
    }
}

fn read_at(path: &Path, offset: u64, len: usize) -> io::Result<Bytes> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Bytes::new()),
        Err(e) => return Err(e),
    };
    file.seek(SeekFrom::Start(offset))?;
    let mut buffer = BytesMut::zeroed(len);
    let mut filled = 0;
    while filled < len {
        match file.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buffer.truncate(filled);
    Ok(buffer.freeze())
}
