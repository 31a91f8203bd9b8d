//! The local directory store: one folder per container, one file per blob.
//!
//! This is batchout's zero-configuration default, so it must be as safe as an
//! object store: a put is atomic (written aside — on a Linux local disk as an
//! unnamed file in the blob's folder, elsewhere under `<root>/.batchout-tmp/`
//! — and given the blob's name only when complete, so no reader and no
//! failure of the process ever sees part of a blob), an append is guarded by
//! a file lock and the expected length, and no name or planted symbolic link
//! can reach outside the root.
//! Against a power loss or an operating system crash a put is only as safe as
//! [`LocalStore::sync_puts`] asks: by default, on a local disk, it does not
//! wait for the disk, as `cp` does not; on a network file system it syncs its
//! data before the rename (ADR 0005, `docs/decisions/0005-local-store-durability.md`,
//! says what is and is not guaranteed, and why). It keeps no checksums: the
//! atomic rename is its integrity guarantee, and [`ObjectMeta::crc64nvme`] and
//! [`ObjectMeta::sha256`] are always `None` here, so reads are not verified.
//! (A file that changes while it is copied in is stored as copied: unlike the
//! Azure backend, this one does not detect it.)
//!
//! Modules: `paths` maps names to paths and refuses unsafe ones; `write`
//! creates containers, puts and deletes; `copy` fills a put's copy of a blob
//! from its source; `append` appends; `read` gets and heads; `list` lists;
//! `meta` turns file metadata into [`ObjectMeta`]; `disk` tells a local disk
//! from a network file system; `lane` runs puts on a few long-lived loops
//! rather than one blocking task each; `unnamed` (Linux) puts with fewer
//! steps, through a handle on the blob's folder. Dependencies among the put
//! modules point one way: `write` → `unnamed` → `copy`, and `write` → `copy`.
//!
//! Symbolic links are never followed below the root. On a Linux local disk a
//! put opens the blob's folder with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS)` and writes and names its copy relative to that
//! handle, so the kernel refuses any link on the way. Otherwise (elsewhere,
//! or where that cannot be done) every folder on the way is checked with
//! `symlink_metadata`, before anything is written and again before the rename
//! when the copy was 1 MiB or more.
//! A file is read only if the path is the same regular file before and after
//! it is opened. (On the general way, a link swapped into a *folder* on the
//! way between that check and the open or rename is not caught.)

mod append;
mod containers;
mod copy;
mod disk;
mod lane;
mod list;
mod meta;
mod paths;
mod read;
#[cfg(target_os = "linux")]
mod unnamed;
mod write;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use lane::Lane;

use crate::{
    Capabilities, ContainerInfo, ContainerMetadata, ContainerName, Error, GetOptions, GetResult,
    ListOptions, ListPage, Location, ObjectMeta, PutOptions, PutSource, Result, Store,
};

/// The most bytes one append may carry: Azure's Append Block limit, so that
/// callers chunk the same way whichever store they write to.
const MAX_APPEND_SIZE: u64 = 4 * 1024 * 1024;

/// How many puts run at once when each waits for a disk or a server.
const WAITING_PUT_LOOPS: usize = 16;

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
    /// What [`LocalStore::sync_puts`] asked, if it was called.
    sync: Option<bool>,
    /// What the clones that run each operation share.
    shared: Arc<Shared>,
}

/// What is found out once, at the first put.
#[derive(Debug, Default)]
struct Shared {
    /// Whether the root is on a local disk.
    local_disk: OnceLock<bool>,
    /// The lane that runs puts.
    puts: OnceLock<Arc<Lane>>,
    /// Whether puts can write unnamed copies in the blob's folder.
    #[cfg(target_os = "linux")]
    unnamed: unnamed::Availability,
}

impl LocalStore {
    /// A store rooted at `root`, whose puts wait for the disk only as
    /// [`LocalStore::sync_puts`] says when it is not called. Nothing is touched
    /// on disk until [`Store::create_container`] creates the root and a
    /// container in it.
    pub fn new(root: PathBuf) -> Self {
        Self {
            root,
            sync: None,
            shared: Arc::default(),
        }
    }

    /// Whether each put waits for the disk. A put is always written aside and
    /// renamed into place, so no reader ever sees part of a blob, and any
    /// failure of the process (an error, a panic, a kill) leaves it complete or
    /// absent. What syncing adds is the power loss:
    ///
    /// - `true`: the blob's data is synced before the rename, and its folder
    ///   (with any folder created for it) after, so a put is complete or
    ///   absent across a power loss or an operating system crash too, and on
    ///   disk once it returns. It costs a few disk flushes per blob.
    /// - `false`: nothing is synced. After a power loss, a blob written in the
    ///   last seconds may be missing or, on some file systems (ext4 for a new
    ///   name, XFS), empty or cut short. On a network file system, a write
    ///   error the server reports late (a full quota) goes unnoticed.
    /// - Not called (the default): as `false` on a local disk (ext4, XFS,
    ///   btrfs, tmpfs and the like, as Linux's mount table says); elsewhere
    ///   (NFS, SMB, Lustre, GPFS, FUSE, an unknown type, or not Linux) the data
    ///   is synced before the rename, as with `true`, but not the folder.
    ///
    /// ADR 0005 (`docs/decisions/0005-local-store-durability.md`) explains the
    /// choice. Appends sync each block whatever this says.
    #[must_use]
    pub fn sync_puts(mut self, sync: bool) -> Self {
        self.sync = Some(sync);
        self
    }

    /// Whether the root is on a local disk (looked at once, at the first put).
    fn on_local_disk(&self) -> bool {
        *self
            .shared
            .local_disk
            .get_or_init(|| disk::is_local(&self.root))
    }

    /// Whether a put syncs its data before renaming it into place, and whether
    /// it then syncs the folders whose names it changed.
    fn put_syncs(&self) -> (bool, bool) {
        match self.sync {
            Some(sync) => (sync, sync),
            None => {
                let local = self.on_local_disk();
                (!local, false)
            }
        }
    }

    /// The lane that runs puts: as many loops as there are cores when puts
    /// only copy and rename (more would only take turns on them), more when
    /// they wait for a disk or a server.
    async fn put_lane(&self) -> Arc<Lane> {
        if let Some(lane) = self.shared.puts.get() {
            return Arc::clone(lane);
        }
        let store = self.clone();
        let waits = tokio::task::spawn_blocking(move || store.put_syncs().0)
            .await
            .unwrap_or(true);
        let loops = if waits {
            WAITING_PUT_LOOPS
        } else {
            std::thread::available_parallelism().map_or(2, usize::from)
        };
        Arc::clone(self.shared.puts.get_or_init(|| Arc::new(Lane::new(loops))))
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
            append_copy_floor: None,
            max_append_blocks: None,
            file_and_folder_names: false,
            bound_container: None,
            container_metadata: true,
            suffix_reads: true,
            records_checksums: false,
        }
    }

    async fn create_container_with(
        &self,
        container: &ContainerName,
        metadata: &ContainerMetadata,
    ) -> Result<bool> {
        let (container, metadata) = (container.clone(), metadata.clone());
        self.blocking(move |store| store.create_container_with_blocking(&container, &metadata))
            .await
    }

    fn list_containers(&self) -> BoxStream<'static, Result<ContainerInfo>> {
        let store = self.clone();
        each_of(async move {
            store
                .blocking(|store| store.list_containers_blocking())
                .await
        })
    }

    async fn put(
        &self,
        location: &Location,
        source: PutSource,
        options: &PutOptions,
    ) -> Result<ObjectMeta> {
        if let Some(etag) = &options.if_match {
            // Checked just before the write, not in it: a local directory
            // has one writer machine, and its blobs' versions are their
            // modification times and lengths.
            let current = match self.head(location).await {
                Ok(meta) => meta.etag,
                Err(Error::NotFound { .. }) => None,
                Err(e) => return Err(e),
            };
            if current.as_deref() != Some(etag.as_str()) {
                return Err(Error::Modified {
                    container: location.container.to_string(),
                    name: location.name.to_string(),
                });
            }
        }
        let (store, location) = (self.clone(), location.clone());
        let lane = self.put_lane().await;
        match lane
            .run(move || store.put_blocking(&location, source))
            .await
        {
            Some(Ok(result)) => {
                if let Ok(meta) = &result {
                    options.count(meta.size);
                }
                result
            }
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            None => Err(Error::io(
                "finish file work in",
                &self.root,
                io::Error::other("the runtime is shutting down"),
            )),
        }
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

    async fn get_opts(&self, location: &Location, options: &GetOptions) -> Result<GetResult> {
        let (location, options) = (location.clone(), options.clone());
        self.blocking(move |store| store.get_blocking(&location, &options))
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

    async fn list_page(
        &self,
        container: &ContainerName,
        options: &ListOptions,
    ) -> Result<ListPage> {
        let (container, options) = (container.clone(), options.clone());
        self.blocking(move |store| store.list_page_blocking(&container, &options))
            .await
    }

    async fn delete(&self, location: &Location) -> Result<()> {
        let location = location.clone();
        self.blocking(move |store| store.delete_blocking(&location))
            .await
    }
}

/// The items of a list made on a blocking thread, as a stream: the list's
/// error, if it could not be made, as its one item.
fn each_of<T: Send + 'static>(
    listed: impl std::future::Future<Output = Result<Vec<T>>> + Send + 'static,
) -> BoxStream<'static, Result<T>> {
    stream::once(listed)
        .flat_map(|listed| match listed {
            Ok(items) => stream::iter(items.into_iter().map(Ok)).left_stream(),
            Err(err) => stream::iter([Err(err)]).right_stream(),
        })
        .boxed()
}

/// Whether `path` (or, while it does not exist yet, its nearest existing
/// folder) is on a file system that keeps its data on this machine's own disk
/// or memory (ext4, XFS, btrfs, tmpfs, overlay…), as `/proc/self/mountinfo`
/// tells; `false` for network and FUSE file systems, types not known to be
/// local, and systems other than Linux. Local writes (puts to this store,
/// downloads) are synced by default only where this is `false`: decision 0005.
pub fn is_local_disk(path: &Path) -> bool {
    disk::is_local(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store that believes its root is (or is not) on a local disk.
    fn on(local_disk: bool) -> LocalStore {
        let store = LocalStore::new(PathBuf::from("/nowhere"));
        store
            .shared
            .local_disk
            .set(local_disk)
            .expect("not set yet");
        store
    }

    #[test]
    fn puts_sync_their_data_off_local_disks_unless_told_otherwise() {
        assert_eq!(on(true).put_syncs(), (false, false));
        assert_eq!(on(false).put_syncs(), (true, false));
        for local_disk in [true, false] {
            assert_eq!(on(local_disk).sync_puts(true).put_syncs(), (true, true));
            assert_eq!(on(local_disk).sync_puts(false).put_syncs(), (false, false));
        }
    }
}

/// The conformance suite again, against a store whose puts wait for the disk
/// (the default store runs it in `tests/local.rs`).
#[cfg(all(test, feature = "conformance"))]
mod synced_conformance {
    use std::sync::Arc;

    use super::LocalStore;
    use crate::Store;

    async fn synced_store() -> (Arc<dyn Store>, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = LocalStore::new(dir.path().join("store")).sync_puts(true);
        (Arc::new(store), dir)
    }

    crate::store_conformance_tests!(synced_store());
}

/// The conformance suite again, against a store whose puts go the general way
/// (a named copy in the folder of puts in progress, renamed into place), as
/// they do where the unnamed way cannot be taken (`unnamed.rs`).
#[cfg(all(test, feature = "conformance", target_os = "linux"))]
mod general_conformance {
    use std::sync::Arc;

    use super::LocalStore;
    use crate::Store;

    async fn general_store() -> (Arc<dyn Store>, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = LocalStore::new(dir.path().join("store"));
        store.shared.unnamed.lacking();
        (Arc::new(store), dir)
    }

    crate::store_conformance_tests!(general_store());
}
