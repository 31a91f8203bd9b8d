//! Creating containers, putting and deleting blobs.
//!
//! A put never shows a partial blob: the bytes go to a temporary file under
//! `<root>/.batchout-tmp/`, which is closed and then renamed over the blob's
//! path once it is complete. (On Linux, `unnamed` does the same with fewer
//! steps when it can; this module's way is what it falls back on.) That makes
//! a put complete or absent against any failure of the process. Whether it also waits for the disk, so that it is
//! complete or absent across a power loss, is [`LocalStore::sync_puts`]'s to
//! say: by default it does on a network file system and not on a local disk
//! (ADR 0005, `docs/decisions/0005-local-store-durability.md`).
//!
//! Folders created for a put that fails are removed again, and a delete removes
//! the folders it leaves empty, so folders exist only while they hold blobs.

use std::fs::{self, File, Metadata};
use std::io;
use std::path::{Path, PathBuf};

use tempfile::{NamedTempFile, TempPath};

use super::LocalStore;
use super::copy::{RECHECK_AFTER_BYTES, fill};
use super::meta::object_meta;
use super::paths::{Entry, Parents, Probe, conflict, map_io};
#[cfg(target_os = "linux")]
use super::unnamed::Attempt;
use crate::{ContainerName, Error, Location, ObjectMeta, PutSource, Result};

/// How often a put retries when a concurrent delete removed its folder.
const PUT_ATTEMPTS: usize = 3;

impl LocalStore {
    pub(super) fn create_container_blocking(&self, container: &ContainerName) -> Result<bool> {
        fs::create_dir_all(&self.root).map_err(|err| Error::io("create", &self.root, err))?;
        let dir = self.container_dir(container);
        match fs::create_dir(&dir) {
            Ok(()) => {
                if self.sync == Some(true) {
                    sync_dir(&self.root)?;
                }
                Ok(true)
            }
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
        let (sync_data, sync_folders_too) = self.put_syncs();
        #[cfg(target_os = "linux")]
        let source = match self.put_unnamed(location, source, sync_data, sync_folders_too)? {
            Attempt::Stored(meta) => return Ok(meta),
            Attempt::Aside(temp, meta) => {
                let probe = self.probe(location)?;
                return self.place(location, probe, temp, &meta, sync_folders_too);
            }
            Attempt::NotHere(source) => source,
        };
        let mut probe = self.probe(location)?;
        check_room(location, &probe)?;
        let temp = self.write_temp(source, sync_data)?;
        let meta = temp
            .as_file()
            .metadata()
            .map_err(|err| Error::io("read", temp.path(), err))?;
        // Closed before the rename: an NFS client writes a file's data back
        // to the server when it is closed, so the name never comes first.
        let temp = temp.into_temp_path();
        // A long copy gives others time to change the folders on the way:
        // look again (a small blob's copy takes less time than the look).
        if meta.len() >= RECHECK_AFTER_BYTES {
            probe = self.probe(location)?;
        }
        self.place(location, probe, temp, &meta, sync_folders_too)
    }

    /// Renames a complete copy into the blob's place, creating the folders on
    /// the way, and looking again when a concurrent delete removed one; then
    /// syncs the folders whose names changed, if asked.
    fn place<'n>(
        &self,
        location: &'n Location,
        mut probe: Probe<'n>,
        mut temp: TempPath,
        meta: &Metadata,
        sync_folders_too: bool,
    ) -> Result<ObjectMeta> {
        let mut attempt = 1;
        loop {
            let existing = match probe.parents {
                Parents::Exist => probe.segments.len() - 1,
                Parents::MissingAfter(n) => n,
                Parents::Blocked(n, ref entry) => {
                    return Err(conflict(location.name.as_str(), &probe.name_of(n), entry));
                }
            };
            let created = create_parents(location, &probe, existing)?;
            match temp.persist(&probe.path) {
                Ok(()) => {
                    if sync_folders_too {
                        sync_folders(&probe, &created)?;
                    }
                    return Ok(object_meta(location.name.as_str(), meta));
                }
                Err(err) => {
                    remove_empty(&created);
                    let retry =
                        err.error.kind() == io::ErrorKind::NotFound && attempt < PUT_ATTEMPTS;
                    if !retry {
                        return Err(map_io("write", location, &probe.path, err.error));
                    }
                    // A concurrent delete removed a folder on the way.
                    temp = err.path;
                    attempt += 1;
                    probe = self.probe(location)?;
                }
            }
        }
    }

    /// Writes the source to a temporary file, removed again on failure, and
    /// syncs its data if asked.
    fn write_temp(&self, source: PutSource, sync: bool) -> Result<NamedTempFile> {
        let mut temp = self.create_temp()?;
        fill(temp.as_file_mut(), source, sync).map_err(|err| err.of_copy_at(temp.path()))?;
        Ok(temp)
    }

    /// Creates an empty temporary file in the folder of puts in progress,
    /// creating that folder when it is not there (the first time).
    fn create_temp(&self) -> Result<NamedTempFile> {
        let dir = self.tmp_dir();
        let mut builder = tempfile::Builder::new();
        builder.prefix("put-");
        // A blob gets the permissions any new file gets (0666 less the umask),
        // as with `cp`, not the owner-only ones of a temporary file.
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
        let created = match builder.tempfile_in(&dir) {
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(&dir).map_err(|err| Error::io("create", &dir, err))?;
                builder.tempfile_in(&dir)
            }
            created => created,
        };
        created.map_err(|err| Error::io("create a temporary file in", &dir, err))
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

/// Syncs the folders whose entries a put changed, so that its blob is on disk.
fn sync_folders(probe: &Probe<'_>, created: &[PathBuf]) -> Result<()> {
    for dir in folders_to_sync(&probe.path, created) {
        sync_dir(dir)?;
    }
    Ok(())
}

/// The folders whose entries a put of `blob` changed, given the folders it
/// `created` (outermost first): the folder holding the first one created, then
/// each one created (the last holds the blob); or only the blob's folder.
fn folders_to_sync<'p>(blob: &'p Path, created: &'p [PathBuf]) -> Vec<&'p Path> {
    match created.first() {
        None => blob.parent().into_iter().collect(),
        Some(first) => first
            .parent()
            .into_iter()
            .chain(created.iter().map(PathBuf::as_path))
            .collect(),
    }
}

/// Syncs a folder, so that the names in it are on disk. (Windows cannot open a
/// folder as a file; NTFS journals its names itself.)
fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(|err| Error::io("sync", dir, err))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
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

#[cfg(test)]
mod tests {
    #[cfg(target_os = "linux")]
    use std::io::Write;

    use super::*;
    use crate::{BlobName, ContainerName};

    fn at(name: &str) -> Location {
        Location::new(
            ContainerName::parse("job-1").expect("a container name"),
            BlobName::new(name).expect("a blob name"),
        )
    }

    /// A store in a temporary folder, with the container `job-1`.
    fn store(sync: bool) -> (LocalStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = LocalStore::new(dir.path().join("store")).sync_puts(sync);
        let container = ContainerName::parse("job-1").expect("a container name");
        assert!(store.create_container_blocking(&container).expect("create"));
        (store, dir)
    }

    /// The same store, made to put the general way: a copy in the folder of
    /// puts in progress, renamed into place (elsewhere than Linux, the only way).
    fn general(store: LocalStore) -> LocalStore {
        #[cfg(target_os = "linux")]
        store.shared.unnamed.lacking();
        store
    }

    /// The stores the tests below run against: the general way, and on Linux
    /// also the default one (unnamed copies named in place, `unnamed.rs`).
    fn both_ways(sync: bool) -> Vec<(&'static str, LocalStore, tempfile::TempDir)> {
        let (store_general, dir_general) = store(sync);
        #[allow(unused_mut)]
        let mut stores = vec![("general", general(store_general), dir_general)];
        #[cfg(target_os = "linux")]
        {
            let (store, dir) = store(sync);
            let store = super::super::unnamed::tests::on_local_disk(store, true);
            stores.push(("unnamed", store, dir));
        }
        stores
    }

    fn put(store: &LocalStore, name: &str, source: impl Into<PutSource>) -> Result<ObjectMeta> {
        store.put_blocking(&at(name), source.into())
    }

    fn temp_files(store: &LocalStore) -> Vec<PathBuf> {
        match fs::read_dir(store.tmp_dir()) {
            Ok(entries) => entries
                .map(|entry| entry.expect("an entry").path())
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    #[test]
    fn synced_puts_store_whole_blobs_in_new_and_existing_folders() {
        for (way, store, dir) in both_ways(true) {
            synced_puts_store_whole_blobs(way, &store, &dir);
        }
    }

    fn synced_puts_store_whole_blobs(way: &str, store: &LocalStore, dir: &tempfile::TempDir) {
        let blob = dir.path().join("store/job-1/t/$TaskOutput/deep/a.txt");
        let meta = put(store, "t/$TaskOutput/deep/a.txt", "first").expect("put");
        assert_eq!(meta.size, 5);
        assert_eq!(fs::read_to_string(&blob).expect("read"), "first");
        put(store, "t/$TaskOutput/deep/a.txt", "second").expect("replace");
        assert_eq!(fs::read_to_string(&blob).expect("read"), "second");
        let source = dir.path().join("source.bin");
        fs::write(&source, vec![7u8; 100_000]).expect("write the source");
        put(store, "t/$TaskOutput/b.bin", PutSource::File(source)).expect("put a file");
        let stored = fs::read(dir.path().join("store/job-1/t/$TaskOutput/b.bin")).expect("read");
        assert_eq!(stored, vec![7u8; 100_000], "{way}");
        assert!(
            temp_files(store).is_empty(),
            "{way}: {:?}",
            temp_files(store)
        );
    }

    #[test]
    fn the_folders_synced_are_those_whose_names_changed() {
        let blob = Path::new("/s/job-1/t/x/y/b.txt");
        assert_eq!(folders_to_sync(blob, &[]), [Path::new("/s/job-1/t/x/y")]);
        let created = [
            PathBuf::from("/s/job-1/t/x"),
            PathBuf::from("/s/job-1/t/x/y"),
        ];
        assert_eq!(
            folders_to_sync(blob, &created),
            [
                Path::new("/s/job-1/t"),
                Path::new("/s/job-1/t/x"),
                Path::new("/s/job-1/t/x/y"),
            ]
        );
    }

    #[test]
    fn the_folder_of_puts_in_progress_is_made_again_when_removed() {
        // The unnamed way needs it only to replace a blob.
        for (way, store, _dir) in both_ways(false) {
            put(&store, "a.txt", "a").expect("put");
            put(&store, "a.txt", "a2").expect("replace");
            fs::remove_dir(store.tmp_dir()).expect("remove the empty temp folder");
            put(&store, "a.txt", "a3").expect("replace after the temp folder went");
            put(&store, "b.txt", "b").expect("put after the temp folder went");
            assert!(store.tmp_dir().is_dir(), "{way}");
            assert!(temp_files(&store).is_empty(), "{way}");
            let read =
                |name| fs::read_to_string(store.container_dir(&at(name).container).join(name));
            assert_eq!(read("a.txt").expect("read a"), "a3", "{way}");
            assert_eq!(read("b.txt").expect("read b"), "b", "{way}");
        }
    }

    /// Makes a FIFO (named pipe) at `path`.
    #[cfg(target_os = "linux")]
    fn mkfifo(path: &Path) {
        let made = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .expect("run mkfifo");
        assert!(made.success(), "mkfifo {}", path.display());
    }

    /// Opens a FIFO for writing, failing the test if no reader comes (opening
    /// blocks until one does).
    #[cfg(target_os = "linux")]
    fn open_writer(fifo: &Path) -> File {
        let (send, receive) = std::sync::mpsc::channel();
        let fifo = fifo.to_owned();
        std::thread::spawn(move || {
            let _ = send.send(fs::OpenOptions::new().write(true).open(fifo));
        });
        receive
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the put opens its source")
            .expect("open the FIFO for writing")
    }

    /// Waits until process `pid` has a copy of at least `bytes` open in the
    /// store (a named file in the folder of puts in progress, or an unnamed
    /// one in the blob's folder), checking meanwhile that the blob's path
    /// shows what it showed before the put.
    #[cfg(target_os = "linux")]
    fn wait_for_copy(pid: u32, store: &LocalStore, bytes: u64, blob: &Path, before: Option<&str>) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let fds = PathBuf::from(format!("/proc/{pid}/fd"));
        loop {
            assert_eq!(fs::read_to_string(blob).ok().as_deref(), before);
            let written = fs::read_dir(&fds)
                .into_iter()
                .flatten()
                .filter_map(|fd| fd.ok().map(|fd| fd.path()))
                .filter(|fd| fs::read_link(fd).is_ok_and(|open| open.starts_with(&store.root)))
                .filter_map(|fd| fs::metadata(fd).ok())
                .filter(|meta| meta.is_file())
                .map(|meta| meta.len())
                .max();
            if written.is_some_and(|written| written >= bytes) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the copy never started"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// What the child of `a_put_killed_midway_leaves_the_old_blob_or_none` is
    /// given: the store's root, the FIFO to copy from, the blob's name, and
    /// the way to put it (`general` or `unnamed`).
    const KILLED_PUT: &str = "BATCHOUT_TEST_KILLED_PUT";

    /// Not a test by itself: the process that the test below kills mid-put.
    #[test]
    #[ignore = "the child process of a_put_killed_midway_leaves_the_old_blob_or_none"]
    fn killed_put_child() {
        let Ok(spec) = std::env::var(KILLED_PUT) else {
            return;
        };
        let [root, fifo, name, way] = spec.split('\n').collect::<Vec<_>>()[..] else {
            panic!("{KILLED_PUT}: root, FIFO, name and way on four lines")
        };
        let store = LocalStore::new(PathBuf::from(root));
        let store = if way == "general" {
            general(store)
        } else {
            #[cfg(target_os = "linux")]
            let store = super::super::unnamed::tests::on_local_disk(store, true);
            store
        };
        let _ = put(&store, name, PutSource::File(PathBuf::from(fifo)));
    }

    /// A process killed (SIGKILL) while it copies a blob in leaves the blob's
    /// name as it was: the previous blob, or nothing. The general way leaves
    /// the copy it was making in the folder of puts in progress, which is
    /// never listed; the unnamed way leaves nothing at all.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_put_killed_midway_leaves_the_old_blob_or_none() {
        for (way, set_aside) in [("general", 1), ("unnamed", 0)] {
            for (name, before) in [("t/a.bin", Some("old")), ("t/new/b.bin", None)] {
                let (store, dir) = store(false);
                put(&store, "t/new/other.txt", "makes t/new").expect("a blob beside");
                if let Some(before) = before {
                    put(&store, name, before).expect("the blob before");
                }
                let blob = dir.path().join("store/job-1").join(name);
                let folder = blob.parent().expect("a folder").to_owned();
                let entries = || {
                    let mut names: Vec<_> = fs::read_dir(&folder)
                        .expect("read the blob's folder")
                        .map(|entry| entry.expect("an entry").file_name())
                        .collect();
                    names.sort();
                    names
                };
                let entries_before = entries();
                let fifo = dir.path().join("source.fifo");
                mkfifo(&fifo);
                let spec = format!(
                    "{}\n{}\n{name}\n{way}",
                    store.root.display(),
                    fifo.display()
                );
                let mut child = std::process::Command::new(std::env::current_exe().expect("exe"))
                    .args(["--exact", "local::write::tests::killed_put_child"])
                    .args(["--include-ignored", "--test-threads=1", "-q"])
                    .env(KILLED_PUT, spec)
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .expect("start the child");
                let mut writer = open_writer(&fifo);
                writer.write_all(&[b'x'; 256 * 1024]).expect("feed the put");
                wait_for_copy(child.id(), &store, 128 * 1024, &blob, before);
                child.kill().expect("kill -9 the child");
                child.wait().expect("reap the child");
                drop(writer);

                assert_eq!(
                    fs::read_to_string(&blob).ok().as_deref(),
                    before,
                    "{way} {name}"
                );
                let listed = store
                    .list_blocking(&at(name).container, "t/")
                    .expect("list");
                let mut names: Vec<_> = listed.iter().map(|meta| meta.name.as_str()).collect();
                names.retain(|listed| *listed != "t/new/other.txt");
                assert_eq!(
                    names,
                    before.map(|_| name).into_iter().collect::<Vec<_>>(),
                    "{way}"
                );
                assert_eq!(
                    temp_files(&store).len(),
                    set_aside,
                    "{way}: the killed copy"
                );
                assert_eq!(
                    entries(),
                    entries_before,
                    "{way}: the blob's folder as it was"
                );
                put(&store, name, "new").expect("a put after the crash");
                assert_eq!(fs::read_to_string(&blob).expect("read"), "new");
            }
        }
    }

    /// A put of a large blob looks at the folders on the way again before its
    /// rename: a folder swapped for a link during the copy is refused, and
    /// nothing is written through the link.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_folder_swapped_for_a_link_during_a_large_copy_is_refused() {
        for (way, store, dir) in both_ways(false) {
            a_folder_swapped_for_a_link_is_refused(way, store, &dir);
        }
    }

    #[cfg(target_os = "linux")]
    fn a_folder_swapped_for_a_link_is_refused(
        way: &str,
        store: LocalStore,
        dir: &tempfile::TempDir,
    ) {
        put(&store, "t/x/first.txt", "first").expect("make t/x");
        let outside = dir.path().join("outside");
        fs::create_dir(&outside).expect("mkdir outside");
        let fifo = dir.path().join("source.fifo");
        mkfifo(&fifo);
        let putting = {
            let (store, fifo) = (store.clone(), fifo.clone());
            std::thread::spawn(move || put(&store, "t/x/big.bin", PutSource::File(fifo)))
        };
        let mut writer = open_writer(&fifo);
        let big = vec![b'y'; usize::try_from(RECHECK_AFTER_BYTES).expect("fits")];
        writer.write_all(&big).expect("feed the put");
        let container_dir = dir.path().join("store/job-1");
        wait_for_copy(
            std::process::id(),
            &store,
            RECHECK_AFTER_BYTES / 2,
            &container_dir.join("t/x/big.bin"),
            None,
        );
        fs::rename(container_dir.join("t/x"), dir.path().join("moved")).expect("move t/x away");
        std::os::unix::fs::symlink(&outside, container_dir.join("t/x")).expect("plant a link");
        writer.write_all(b"end").expect("finish the source");
        drop(writer);

        let err = putting
            .join()
            .expect("the put thread")
            .expect_err("through a link");
        assert!(matches!(err, Error::NameConflict { .. }), "{way}: {err:?}");
        assert_eq!(
            fs::read_dir(&outside).expect("read outside").count(),
            0,
            "{way}"
        );
        let moved = fs::read_dir(dir.path().join("moved")).expect("read the moved folder");
        assert_eq!(
            moved.count(),
            1,
            "{way}: nothing but first.txt where the folder went"
        );
        assert!(
            temp_files(&store).is_empty(),
            "{way}: {:?}",
            temp_files(&store)
        );
    }
}
