//! The local directory store: one folder per container, one file per blob.
//!
//! This is batchout's zero-configuration default, so it must be as safe as an
//! object store: a put is atomic (written aside under `<root>/.batchout-tmp/`,
//! synced, then renamed into place), an append is guarded by a file lock and the
//! expected length, and no name or planted symbolic link can reach outside the
//! root. It keeps no checksums: the atomic rename is its integrity guarantee,
//! and [`ObjectMeta::sha256`] is always `None` here, so reads are not verified.
//! (A file that changes while it is copied in is stored as copied: unlike the
//! Azure backend, this one does not detect it.)
//!
//! Modules: `paths` maps names to paths and refuses unsafe ones; `write`
//! creates containers, puts and deletes; `append` appends; `read` gets and
//! heads; `list` lists; `meta` turns file metadata into [`ObjectMeta`].
//!
//! Symbolic links are never followed below the root: every folder on the way
//! to a blob is checked with `symlink_metadata`, and a file is read only if the
//! path is the same regular file before and after it is opened. (A link swapped
//! into a *folder* on the way between that check and the open is not caught;
//! that needs `openat2(RESOLVE_BENEATH)`, which is not worth a platform-specific
//! dependency for a store whose writers are batchout itself.)

mod append;
mod list;
mod meta;
mod paths;
mod read;
mod write;

use std::fmt;
use std::io;
use std::ops::Range;
use std::path::PathBuf;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

use crate::{
    Capabilities, ContainerName, Error, GetResult, ListResult, Location, ObjectMeta, PutOptions,
    PutSource, Result, Store,
};

/// The most bytes one append may carry: Azure's Append Block limit, so that
/// callers chunk the same way whichever store they write to.
const MAX_APPEND_SIZE: u64 = 4 * 1024 * 1024;

/// A store in a local directory: `<root>/<container>/<blob name>`, where the
/// blob name's `/`-separated segments are folders and the file name.
///
/// Names are not encoded, so a blob named `t1/$TaskLog/stdout.txt` can be read
/// with any tool at that path. The price is that a name cannot be both a file
/// and a folder (see [`Capabilities::file_and_folder_names`]), and names that
/// are not safe relative paths are refused.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// A store rooted at `root`. Nothing is touched on disk until
    /// [`Store::create_container`] creates the root and a container in it.
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    /// Runs blocking file work on tokio's blocking pool.
    async fn blocking<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&LocalStore) -> Result<T> + Send + 'static,
    {
        let store = self.clone();
        match tokio::task::spawn_blocking(move || work(&store)).await {
            Ok(result) => result,
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            Err(err) => Err(Error::io(
                "finish file work in",
                &self.root,
                io::Error::other(err),
            )),
        }
    }
}

impl fmt::Display for LocalStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "local store {}", self.root.display())
    }
}

#[async_trait]
impl Store for LocalStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            append: true,
            max_append_size: MAX_APPEND_SIZE,
            max_append_blocks: None,
            file_and_folder_names: false,
            bound_container: None,
        }
    }

    async fn create_container(&self, container: &ContainerName) -> Result<bool> {
        let container = container.clone();
        self.blocking(move |store| store.create_container_blocking(&container))
            .await
    }

    async fn put(
        &self,
        location: &Location,
        source: PutSource,
        _options: &PutOptions,
    ) -> Result<ObjectMeta> {
        let location = location.clone();
        self.blocking(move |store| store.put_blocking(&location, source))
            .await
    }

    async fn append(&self, location: &Location, data: Bytes, position: u64) -> Result<u64> {
        if data.len() as u64 > MAX_APPEND_SIZE {
            return Err(Error::Unsupported {
                store: self.to_string(),
                operation: "appends of more than 4 MiB (Capabilities::max_append_size); split the data into chunks",
            });
        }
        let location = location.clone();
        self.blocking(move |store| store.append_blocking(&location, &data, position))
            .await
    }

    async fn get(&self, location: &Location, range: Option<Range<u64>>) -> Result<GetResult> {
        let location = location.clone();
        self.blocking(move |store| store.get_blocking(&location, range))
            .await
    }

    async fn head(&self, location: &Location) -> Result<ObjectMeta> {
        let location = location.clone();
        self.blocking(move |store| store.head_blocking(&location))
            .await
    }

    fn list(
        &self,
        container: &ContainerName,
        prefix: &str,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.list_stream(container, prefix)
    }

    async fn list_with_delimiter(
        &self,
        container: &ContainerName,
        prefix: &str,
    ) -> Result<ListResult> {
        let (container, prefix) = (container.clone(), prefix.to_owned());
        self.blocking(move |store| store.list_with_delimiter_blocking(&container, &prefix))
            .await
    }

    async fn delete(&self, location: &Location) -> Result<()> {
        let location = location.clone();
        self.blocking(move |store| store.delete_blocking(&location))
            .await
    }
}
