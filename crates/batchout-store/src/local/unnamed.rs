//! Puts on Linux: an unnamed copy, written in the blob's folder and then named.
//!
//! The general put (`write`) looks at each folder from the container down to
//! the blob, writes its copy in `<root>/.batchout-tmp/` and renames it across
//! to the blob's path: six or more path lookups and two changes of folder
//! entries per blob. On Linux the same guarantees take fewer steps:
//!
//! - the blob's folder is opened once, below the container folder, with
//!   `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, so that no link and no
//!   `..` on the way is followed — checked by the kernel in the same step as
//!   the open, where the general put checks first and opens after;
//! - the copy is written to an unnamed file in that folder (`O_TMPFILE`). It
//!   has no name while it is written, so no reader can see it, and it is gone
//!   with the process if the process dies: nothing is left behind;
//! - the complete copy is given the blob's name with `linkat`, which makes the
//!   name point at the whole file at once, or fails if the name is taken.
//!
//! A blob that exists already is replaced as the general put replaces it: the
//! copy is linked into the folder of puts in progress and renamed over the
//! blob, relative to the opened folder, so the rename is atomic (readers see
//! the old blob or the new one).
//!
//! Whatever this path cannot do goes the general way, which explains itself:
//! a folder on the way missing or not a folder, a folder at the blob's name, a
//! kernel without `openat2` (before 5.6), a file system without `O_TMPFILE`,
//! no `/proc` to name the unnamed file by. So does every put to a store that
//! is not on a local disk (ADR 0005's list): network file systems mostly lack
//! `O_TMPFILE`, and where they have it the general way is the one whose
//! write-back and error reporting ADR 0005 reasons about.
//!
//! A large copy (1 MiB or more) checks again, before naming it, that the
//! folder opened is still the one at its path, so a folder moved elsewhere
//! during the copy does not receive the blob.
//!
//! With fewer path lookups, and no rename for a new blob, a save of many
//! small files is faster this way than the general way, though still behind
//! `cp -r`; ADR 0005 (`docs/decisions/0005-local-store-durability.md`,
//! "Unnamed copies on Linux") has W5's figures.
//!
//! Tests: this module's own (what goes which way), `write`'s (kills, links
//! swapped in, the folder of puts in progress), run both ways; the
//! conformance suite against the default store (this way) and against
//! `general_conformance` (the general way).

use std::fs::{File, Metadata};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use tempfile::TempPath;

use super::LocalStore;
use super::copy::{RECHECK_AFTER_BYTES, fill};
use super::meta::object_meta;
use super::paths::segments;
use crate::{Error, Location, ObjectMeta, PutSource, Result};

/// Whether the machine can take this path: `/proc` is there (looked at once),
/// and no put has found `openat2` or `O_TMPFILE` missing. Once it cannot,
/// every later put goes the general way at once.
#[derive(Debug, Default)]
pub(super) struct Availability {
    proc_fd: OnceLock<bool>,
    lacking: AtomicBool,
}

impl Availability {
    fn available(&self) -> bool {
        !self.lacking.load(Ordering::Relaxed)
            && *self
                .proc_fd
                .get_or_init(|| Path::new("/proc/self/fd").is_dir())
    }

    pub(super) fn lacking(&self) {
        self.lacking.store(true, Ordering::Relaxed);
    }
}

/// How a put by this path ended.
pub(super) enum Attempt {
    /// The blob is stored.
    Stored(ObjectMeta),
    /// The copy is complete and set aside in the folder of puts in progress;
    /// the general put is to rename it into place (the folder went away, or
    /// changed, while the copy was made).
    Aside(TempPath, Metadata),
    /// Nothing was done: the general put is to do it all.
    NotHere(PutSource),
}

/// Numbers the names that copies get in the folder of puts in progress.
static ASIDE: AtomicU64 = AtomicU64::new(0);

impl LocalStore {
    /// Puts a blob by this module's path, or says that the general put must.
    pub(super) fn put_unnamed(
        &self,
        location: &Location,
        source: PutSource,
        sync_data: bool,
        sync_folder: bool,
    ) -> Result<Attempt> {
        if !self.shared.unnamed.available() || !self.on_local_disk() {
            return Ok(Attempt::NotHere(source));
        }
        let segments = segments(&location.name)?;
        let Some((leaf, parents)) = segments.split_last() else {
            return Ok(Attempt::NotHere(source));
        };
        let Some(folder) = self.open_folder(location, parents) else {
            return Ok(Attempt::NotHere(source));
        };
        // A folder (say, one left empty by a crash) or a FIFO at the blob's
        // name: the general put says what to do about it.
        match rustix::fs::statat(&folder, *leaf, AtFlags::SYMLINK_NOFOLLOW) {
            Err(Errno::NOENT) => {}
            Ok(stat)
                if matches!(
                    FileType::from_raw_mode(stat.st_mode),
                    FileType::RegularFile | FileType::Symlink
                ) => {}
            _ => return Ok(Attempt::NotHere(source)),
        }
        let flags = OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC;
        let mut unnamed =
            match rustix::fs::openat(&folder, ".", flags, Mode::from_bits_truncate(0o666)) {
                Ok(fd) => File::from(fd),
                Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL | Errno::NOSYS) => {
                    self.shared.unnamed.lacking();
                    return Ok(Attempt::NotHere(source));
                }
                Err(_) => return Ok(Attempt::NotHere(source)),
            };
        let blob_path = || {
            let mut path = self.container_dir(&location.container);
            path.extend(&segments);
            path
        };
        fill(&mut unnamed, source, sync_data).map_err(|err| err.of_copy_at(blob_path()))?;
        let meta = unnamed
            .metadata()
            .map_err(|err| Error::io("read", blob_path(), err))?;
        if meta.len() >= RECHECK_AFTER_BYTES && !self.still_there(location, parents, &folder) {
            return Ok(Attempt::Aside(self.set_aside(&unnamed)?, meta));
        }
        match rustix::fs::linkat(
            CWD,
            fd_path(&unnamed),
            &folder,
            *leaf,
            AtFlags::SYMLINK_FOLLOW,
        ) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                let temp = self.set_aside(&unnamed)?;
                match rustix::fs::renameat(CWD, &*temp, &folder, *leaf) {
                    Ok(()) => {
                        // The name now belongs to the blob: nothing to remove.
                        let _ = temp.keep();
                    }
                    Err(_) => return Ok(Attempt::Aside(temp, meta)),
                }
            }
            // The folder was removed (a concurrent delete), or the like.
            Err(_) => return Ok(Attempt::Aside(self.set_aside(&unnamed)?, meta)),
        }
        if sync_folder {
            rustix::fs::fsync(&folder).map_err(|err| Error::io("sync", blob_path(), err.into()))?;
        }
        Ok(Attempt::Stored(object_meta(location.name.as_str(), &meta)))
    }

    /// Opens the folder that holds the blob, refusing any link or `..` on the
    /// way; `None` when that cannot be done (the general put says why).
    fn open_folder(&self, location: &Location, parents: &[&str]) -> Option<OwnedFd> {
        let container = self.container_dir(&location.container);
        let folder = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let container =
            match rustix::fs::openat(CWD, &container, folder | OFlags::NOFOLLOW, Mode::empty()) {
                Ok(fd) => fd,
                Err(_) => return None,
            };
        if parents.is_empty() {
            return Some(container);
        }
        let resolve =
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        match rustix::fs::openat2(
            &container,
            parents.join("/"),
            folder,
            Mode::empty(),
            resolve,
        ) {
            Ok(fd) => Some(fd),
            Err(Errno::NOSYS) => {
                self.shared.unnamed.lacking();
                None
            }
            Err(_) => None,
        }
    }

    /// Whether the folder at the blob's folder path is still the one opened.
    fn still_there(&self, location: &Location, parents: &[&str], folder: &OwnedFd) -> bool {
        let (Some(again), Ok(opened)) = (
            self.open_folder(location, parents),
            rustix::fs::fstat(folder),
        ) else {
            return false;
        };
        rustix::fs::fstat(again)
            .is_ok_and(|now| now.st_dev == opened.st_dev && now.st_ino == opened.st_ino)
    }

    /// Gives the unnamed copy a name in the folder of puts in progress, which
    /// is removed again when the returned path is dropped.
    fn set_aside(&self, unnamed: &File) -> Result<TempPath> {
        let dir = self.tmp_dir();
        let mut made_dir = false;
        loop {
            let n = ASIDE.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!("put-{}-{n}", std::process::id()));
            match rustix::fs::linkat(CWD, fd_path(unnamed), CWD, &path, AtFlags::SYMLINK_FOLLOW) {
                Ok(()) => {
                    return TempPath::try_from_path(&path)
                        .map_err(|err| Error::io("name a temporary file in", &dir, err));
                }
                // Left by an earlier process of the same id: take the next.
                Err(Errno::EXIST) => {}
                Err(Errno::NOENT) if !made_dir => {
                    std::fs::create_dir_all(&dir).map_err(|err| Error::io("create", &dir, err))?;
                    made_dir = true;
                }
                Err(err) => return Err(Error::io("create a temporary file in", &dir, err.into())),
            }
        }
    }
}

/// The path by which an unnamed file can be linked: `/proc/self/fd/N`.
/// (`linkat` with `AT_EMPTY_PATH` would need `CAP_DAC_READ_SEARCH`.)
fn fd_path(file: &File) -> String {
    format!("/proc/self/fd/{}", file.as_fd().as_raw_fd())
}

#[cfg(test)]
pub(super) mod tests {
    use std::fs;
    use std::path::PathBuf;

    use super::*;
    use crate::{BlobName, ContainerName};

    fn at(name: &str) -> Location {
        Location::new(
            ContainerName::parse("job-1").expect("a container name"),
            BlobName::new(name).expect("a blob name"),
        )
    }

    /// A store in a temporary folder with the container `job-1`, holding
    /// `t/a.txt` (put the general way, which makes the folder `t`).
    fn store() -> (LocalStore, PathBuf, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = on_local_disk(LocalStore::new(dir.path().join("store")), true);
        let container = at("a").container;
        assert!(store.create_container_blocking(&container).expect("create"));
        let setup = LocalStore::new(dir.path().join("store"));
        setup.shared.unnamed.lacking();
        setup
            .put_blocking(&at("t/a.txt"), "a".into())
            .expect("put the general way");
        let container_dir = store.container_dir(&container);
        (store, container_dir, dir)
    }

    /// The store, told whether its root is on a local disk.
    pub(in crate::local) fn on_local_disk(store: LocalStore, local: bool) -> LocalStore {
        store
            .shared
            .local_disk
            .set(local)
            .expect("not looked at yet");
        store
    }

    fn put(store: &LocalStore, name: &str, text: &str) -> Attempt {
        store
            .put_unnamed(&at(name), text.to_owned().into(), false, false)
            .expect("no error")
    }

    #[test]
    fn puts_into_existing_folders_are_named_in_place() {
        let (store, container_dir, _dir) = store();
        for (name, text) in [
            ("t/b.txt", "new"),
            ("t/b.txt", "replaced"),
            ("top.txt", "top"),
        ] {
            let Attempt::Stored(meta) = put(&store, name, text) else {
                panic!("{name} was not put the unnamed way");
            };
            assert_eq!(meta.size, text.len() as u64);
            assert_eq!(meta.name, name);
            let stored = fs::read_to_string(container_dir.join(name)).expect("read");
            assert_eq!(stored, text);
        }
        let set_aside = fs::read_dir(store.tmp_dir()).map_or(0, Iterator::count);
        assert_eq!(
            set_aside, 0,
            "nothing left in the folder of puts in progress"
        );
        let names: Vec<_> = fs::read_dir(container_dir.join("t"))
            .expect("read t")
            .map(|entry| entry.expect("an entry").file_name())
            .collect();
        assert_eq!(names.len(), 2, "only the blobs: {names:?}");
    }

    #[test]
    fn a_synced_put_is_named_in_place_too() {
        let (store, container_dir, _dir) = store();
        let attempt = store
            .put_unnamed(&at("t/s.txt"), "synced".into(), true, true)
            .expect("no error");
        assert!(matches!(attempt, Attempt::Stored(_)));
        assert_eq!(
            fs::read_to_string(container_dir.join("t/s.txt")).expect("read"),
            "synced"
        );
    }

    #[test]
    fn what_it_cannot_do_is_left_to_the_general_put_untouched() {
        let (store, container_dir, dir) = store();
        let outside = dir.path().join("outside");
        fs::create_dir(&outside).expect("mkdir outside");
        std::os::unix::fs::symlink(&outside, container_dir.join("t/link")).expect("a link");
        fs::create_dir(container_dir.join("t/folder")).expect("a folder at a blob's name");
        let fifo = container_dir.join("t/fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(made.success());
        for name in [
            "missing/x.txt",
            "t/link/x.txt",
            "t/folder",
            "t/fifo",
            "t/a.txt/x",
        ] {
            let Attempt::NotHere(PutSource::Bytes(bytes)) = put(&store, name, name) else {
                panic!("{name} was not left to the general put with its source");
            };
            assert_eq!(bytes, name.as_bytes(), "{name}");
        }
        assert_eq!(fs::read_dir(&outside).expect("read outside").count(), 0);
        assert!(!container_dir.join("missing").exists());
        assert_eq!(
            fs::read_to_string(container_dir.join("t/a.txt")).expect("read"),
            "a"
        );
    }

    #[test]
    fn stores_off_local_disks_go_the_general_way() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = on_local_disk(LocalStore::new(dir.path().join("store")), false);
        let container = at("a").container;
        assert!(store.create_container_blocking(&container).expect("create"));
        assert!(matches!(put(&store, "a.txt", "a"), Attempt::NotHere(_)));
    }

    #[test]
    fn once_the_machine_lacks_something_every_put_goes_the_general_way() {
        let (store, _container_dir, _dir) = store();
        assert!(matches!(put(&store, "t/b.txt", "b"), Attempt::Stored(_)));
        store.shared.unnamed.lacking();
        assert!(matches!(put(&store, "t/c.txt", "c"), Attempt::NotHere(_)));
        assert!(matches!(
            store
                .clone()
                .put_unnamed(&at("t/d.txt"), "d".into(), false, false),
            Ok(Attempt::NotHere(_))
        ));
    }
}
