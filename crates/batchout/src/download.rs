//! Writing downloads to the local disk: atomically, and never outside the folder
//! asked for.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use batchout_store::Result as StoreResult;
use bytes::Bytes;
use futures::TryStreamExt;
use futures::stream::BoxStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::{Error, Result};

/// The most bytes queued for the writer thread at once.
const WRITE_QUEUE_BYTES: usize = 4 * 1024 * 1024;

/// Bytes gathered before they are handed to the writer thread, so it wakes
/// once per batch rather than once per network read: network reads are many
/// and small, and each hand-off wakes a thread (decision 0006,
/// `docs/decisions/0006-transfer-patterns.md`, has the figures).
const WRITE_BATCH_BYTES: usize = 1024 * 1024;

/// Where a download goes.
pub(crate) enum Target {
    /// This file.
    File(PathBuf),
    /// A relative path below a folder, whose missing folders are created
    /// (never through a link: see [`prepare_destination`]).
    Below(PathBuf, PathBuf),
}

impl Target {
    /// The folder the file goes in, or below: where its file system is
    /// asked about.
    fn folder(&self) -> PathBuf {
        match self {
            Self::File(path) => match path.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
                _ => PathBuf::from("."),
            },
            Self::Below(root, _) => root.clone(),
        }
    }
}

/// Writes a stream to its target through a temporary file in the same folder,
/// renamed into place only when every byte is written (and synced, when
/// `sync` says so or, unset, when the folder is not on a local disk: see
/// [`crate::Output::sync_downloads`]). On any failure the temporary file is
/// removed and the target is untouched. Returns the file written and its
/// length.
///
/// On a local disk the bytes are written as they arrive, on the thread that
/// receives them, as curl does ([`write_here`]). Elsewhere a thread of the
/// blocking pool writes them ([`write_on_thread`]).
pub(crate) async fn write_atomically(
    target: Target,
    stream: BoxStream<'static, StoreResult<Bytes>>,
    sync: Option<bool>,
) -> Result<(PathBuf, u64)> {
    if on_local_disk(&target.folder()) {
        write_here(target, stream, sync).await
    } else {
        write_on_thread(target, stream, sync).await
    }
}

/// [`write_atomically`] on a local disk: each chunk is written as it arrives,
/// on the async thread. A write there is a copy into the page cache, cheaper
/// than handing the chunk to another thread and waking it: this way a
/// download takes less time and less CPU than with a writer thread, and is
/// as fast as curl (decision 0006,
/// `docs/decisions/0006-transfer-patterns.md`, amended 2026-11-25, has the
/// figures). Only a sync, which waits for the disk, goes to a blocking
/// thread.
async fn write_here(
    target: Target,
    mut stream: BoxStream<'static, StoreResult<Bytes>>,
    sync: Option<bool>,
) -> Result<(PathBuf, u64)> {
    let mut part = PartFile::create(target)?;
    while let Some(chunk) = stream.try_next().await? {
        part.write(&chunk)?;
    }
    // A local disk syncs only when asked (ADR 0005, downloads).
    if sync == Some(true) {
        tokio::task::spawn_blocking(move || part.commit(true))
            .await
            .map_err(|e| Error::io("sync", "a download", std::io::Error::other(e)))?
    } else {
        part.commit(false)
    }
}

/// What the reading side hands the writer thread.
enum Piece {
    /// The next bytes, holding their share of the queue's budget.
    Bytes(Vec<Bytes>, OwnedSemaphorePermit),
    /// Every byte came, and checked: sync (if asked) and rename into place.
    Commit,
}

/// [`write_atomically`] off local disks, where a write may wait for a server:
/// one blocking thread does all the file work (folders, temporary file,
/// writes, sync, rename) while the stream is read, so receiving (and checking)
/// the next bytes and writing the last ones overlap. Bytes go to it in
/// batches of [`WRITE_BATCH_BYTES`], at most [`WRITE_QUEUE_BYTES`] (or one
/// batch, if larger) waiting between them.
async fn write_on_thread(
    target: Target,
    mut stream: BoxStream<'static, StoreResult<Bytes>>,
    sync: Option<bool>,
) -> Result<(PathBuf, u64)> {
    let budget = Arc::new(Semaphore::new(WRITE_QUEUE_BYTES));
    let (sender, receiver) = mpsc::unbounded_channel::<Piece>();
    let writer = tokio::task::spawn_blocking(move || write_pieces(target, receiver, sync));
    let read = async {
        let mut batch = Vec::new();
        let mut batched = 0;
        loop {
            let chunk = stream.try_next().await?;
            let end = chunk.is_none();
            if let Some(chunk) = chunk {
                batched += chunk.len();
                batch.push(chunk);
            }
            if batched >= WRITE_BATCH_BYTES || (end && !batch.is_empty()) {
                let wanted = batched.clamp(1, WRITE_QUEUE_BYTES);
                let permits = u32::try_from(wanted).unwrap_or(u32::MAX);
                let Ok(permit) = Arc::clone(&budget).acquire_many_owned(permits).await else {
                    return Ok(());
                };
                let piece = Piece::Bytes(std::mem::take(&mut batch), permit);
                batched = 0;
                if sender.send(piece).is_err() {
                    return Ok(()); // the writer failed; its error is the one to report
                }
            }
            if end {
                let _ = sender.send(Piece::Commit);
                return Ok::<_, Error>(());
            }
        }
    }
    .await;
    drop(sender);
    let written = writer
        .await
        .map_err(|e| Error::io("write", "a download", std::io::Error::other(e)))?;
    read?;
    written?.ok_or_else(|| {
        let stopped = std::io::Error::other("the download stopped before its last byte");
        Error::io("write", "a download", stopped)
    })
}

/// The writer thread: the file work of [`write_on_thread`]. `None` when the
/// reading side stopped without committing (the temporary file is removed).
fn write_pieces(
    target: Target,
    mut receiver: mpsc::UnboundedReceiver<Piece>,
    sync: Option<bool>,
) -> Result<Option<(PathBuf, u64)>> {
    let mut part = PartFile::create(target)?;
    while let Some(piece) = receiver.blocking_recv() {
        match piece {
            Piece::Bytes(chunks, _permit) => {
                for chunk in chunks {
                    part.write(&chunk)?;
                }
            }
            Piece::Commit => {
                let sync = sync.unwrap_or_else(|| !on_local_disk(&part.parent));
                return part.commit(sync).map(Some);
            }
        }
    }
    Ok(None)
}

/// A download being written: a temporary file beside its target, removed
/// unless it is committed.
struct PartFile {
    path: PathBuf,
    parent: PathBuf,
    temp: tempfile::NamedTempFile,
    written: u64,
}

impl PartFile {
    /// Creates the target's folders (for [`Target::Below`]) and the temporary
    /// file beside it.
    fn create(target: Target) -> Result<Self> {
        let path = match target {
            Target::File(path) => path,
            Target::Below(root, relative) => prepare_destination(&root, &relative)?,
        };
        if path.is_dir() {
            let e = std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                "it is a directory; give a file path",
            );
            return Err(Error::io("write", &path, e));
        }
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let temp = tempfile::Builder::new()
            .prefix(".batchout-")
            .suffix(".part")
            .tempfile_in(&parent)
            .map_err(|e| Error::io("create a temporary file in", &parent, e))?;
        Ok(Self {
            path,
            parent,
            temp,
            written: 0,
        })
    }

    /// Appends the next bytes.
    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.temp
            .as_file_mut()
            .write_all(bytes)
            .map_err(|e| Error::io("write", self.temp.path(), e))?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Syncs the file if `sync`, and renames it into place. Returns the file
    /// written and its length.
    fn commit(self, sync: bool) -> Result<(PathBuf, u64)> {
        if sync {
            self.temp
                .as_file()
                .sync_data()
                .map_err(|e| Error::io("sync", self.temp.path(), e))?;
        }
        self.temp
            .persist(&self.path)
            .map_err(|e| Error::io("rename a download into", &self.path, e.error))?;
        Ok((self.path, self.written))
    }
}

/// Whether `folder` is on a local disk ([`batchout_store::is_local_disk`]),
/// remembered per folder: a download of many files asks once per folder, not
/// once per file.
fn on_local_disk(folder: &Path) -> bool {
    static KNOWN: OnceLock<Mutex<HashMap<PathBuf, bool>>> = OnceLock::new();
    let known = KNOWN.get_or_init(Mutex::default);
    if let Some(local) = known.lock().ok().and_then(|k| k.get(folder).copied()) {
        return local;
    }
    let local = batchout_store::is_local_disk(folder);
    if let Ok(mut known) = known.lock() {
        known.insert(folder.to_owned(), local);
    }
    local
}

/// Makes `dest` a folder that downloads can go below: created, with its
/// parents, when missing; refused when something else is there.
pub(crate) async fn prepare_folder(dest: &Path) -> Result<()> {
    if tokio::fs::metadata(dest).await.is_ok_and(|m| !m.is_dir()) {
        return Err(Error::BadDestination {
            path: dest.to_owned(),
            reason: "it exists and is not a folder; give a folder (it is created if needed)".into(),
        });
    }
    tokio::fs::create_dir_all(dest)
        .await
        .map_err(|e| Error::io("create folder", dest, e))
}

/// Creates the folders of `relative` below `root`, refusing to pass through
/// anything that is not a real folder (a symlink planted in the destination could
/// otherwise lead outside it). Returns the full file path.
pub(crate) fn prepare_destination(root: &Path, relative: &Path) -> Result<PathBuf> {
    let mut current = root.to_owned();
    let mut components = relative.components().peekable();
    while let Some(component) = components.next() {
        let std::path::Component::Normal(name) = component else {
            return Err(Error::UnsafeName {
                name: relative.display().to_string(),
                reason: "it is not a plain relative path".into(),
            });
        };
        current.push(name);
        if components.peek().is_none() {
            break;
        }
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(Error::UnsafeName {
                    name: relative.display().to_string(),
                    reason: format!(
                        "{} exists and is not a folder (a file or a link); remove it or choose another destination",
                        current.display()
                    ),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                match std::fs::create_dir(&current) {
                    Ok(()) => {}
                    // Another download of the same folder created it first.
                    Err(e)
                        if e.kind() == std::io::ErrorKind::AlreadyExists
                            && std::fs::symlink_metadata(&current).is_ok_and(|m| m.is_dir()) => {}
                    Err(e) => return Err(Error::io("create folder", &current, e)),
                }
            }
            Err(e) => return Err(Error::io("inspect", &current, e)),
        }
    }
    if let Ok(meta) = std::fs::symlink_metadata(&current)
        && meta.file_type().is_symlink()
    {
        return Err(Error::UnsafeName {
            name: relative.display().to_string(),
            reason: format!(
                "{} is a link; remove it or choose another destination",
                current.display()
            ),
        });
    }
    Ok(current)
}

#[cfg(test)]
mod tests {
    use futures::stream;

    use super::*;

    fn chunks(parts: Vec<StoreResult<Bytes>>) -> BoxStream<'static, StoreResult<Bytes>> {
        Box::pin(stream::iter(parts))
    }

    /// A read that fails partway, as when the blob is deleted meanwhile.
    fn lost() -> StoreResult<Bytes> {
        Err(batchout_store::Error::NotFound {
            container: "c".into(),
            name: "n".into(),
        })
    }

    /// The two ways a download is written, whatever the folder's file system.
    #[derive(Debug, Clone, Copy)]
    enum Way {
        Here,
        OnThread,
    }

    const BOTH_WAYS: [Way; 2] = [Way::Here, Way::OnThread];

    async fn write(
        way: Way,
        target: Target,
        stream: BoxStream<'static, StoreResult<Bytes>>,
        sync: Option<bool>,
    ) -> Result<(PathBuf, u64)> {
        match way {
            Way::Here => write_here(target, stream, sync).await,
            Way::OnThread => write_on_thread(target, stream, sync).await,
        }
    }

    #[tokio::test]
    async fn a_failed_download_leaves_the_target_untouched_and_no_temporary_file() {
        for way in BOTH_WAYS {
            let dir = tempfile::tempdir().expect("temp dir");
            let target = dir.path().join("out.txt");
            std::fs::write(&target, "old").expect("write");
            let failing = chunks(vec![Ok(Bytes::from_static(b"new part")), lost()]);
            let to = Target::File(target.clone());
            assert!(write(way, to, failing, None).await.is_err(), "{way:?}");
            assert_eq!(std::fs::read_to_string(&target).expect("read"), "old");
            let entries: Vec<_> = std::fs::read_dir(dir.path()).expect("list").collect();
            assert_eq!(
                entries.len(),
                1,
                "{way:?}: no temporary file is left behind"
            );
        }
    }

    #[tokio::test]
    async fn a_complete_download_replaces_the_target() {
        for way in BOTH_WAYS {
            let dir = tempfile::tempdir().expect("temp dir");
            let target = dir.path().join("out.txt");
            std::fs::write(&target, "old").expect("write");
            let ok = chunks(vec![
                Ok(Bytes::from_static(b"ab")),
                Ok(Bytes::from_static(b"cd")),
            ]);
            let to = Target::File(target.clone());
            assert_eq!(
                write(way, to, ok, None).await.expect("written"),
                (target.clone(), 4)
            );
            assert_eq!(std::fs::read_to_string(&target).expect("read"), "abcd");
            assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 1);
        }
    }

    /// Bytes that differ from their neighbours, in chunks of `chunk` bytes.
    fn pieces(len: usize, chunk: usize) -> (Vec<u8>, Vec<StoreResult<Bytes>>) {
        let data: Vec<u8> = (0..len as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let parts = data
            .chunks(chunk)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        (data, parts)
    }

    #[tokio::test]
    async fn many_chunks_arrive_whole_and_in_order_synced_or_not() {
        let dir = tempfile::tempdir().expect("temp dir");
        // More than the writer thread's queue holds, in chunks that do not
        // divide a batch.
        let len = WRITE_QUEUE_BYTES + 3 * WRITE_BATCH_BYTES + 12_345;
        for way in BOTH_WAYS {
            for sync in [None, Some(true), Some(false)] {
                let (data, parts) = pieces(len, 100_003);
                let target = dir.path().join(format!("{way:?}-{sync:?}.bin"));
                let to = Target::File(target.clone());
                let written = write(way, to, chunks(parts), sync).await;
                assert_eq!(written.expect("written"), (target.clone(), len as u64));
                assert!(
                    std::fs::read(&target).expect("read") == data,
                    "{way:?} {sync:?}"
                );
            }
        }
    }

    #[tokio::test]
    async fn a_failure_after_many_chunks_were_written_leaves_nothing() {
        for way in BOTH_WAYS {
            let dir = tempfile::tempdir().expect("temp dir");
            let target = dir.path().join("out.bin");
            let (_, mut parts) = pieces(3 * WRITE_BATCH_BYTES, 65_536);
            parts.push(lost());
            let to = Target::File(target.clone());
            assert!(write(way, to, chunks(parts), None).await.is_err());
            let left = std::fs::read_dir(dir.path()).expect("list").count();
            assert_eq!(left, 0, "{way:?}");
        }
    }

    #[tokio::test]
    async fn downloads_below_a_folder_create_its_folders_and_refuse_a_folder_as_target() {
        for way in BOTH_WAYS {
            let dest = tempfile::tempdir().expect("temp dir");
            let to = Target::Below(dest.path().to_owned(), PathBuf::from("a/b/c.txt"));
            let ok = chunks(vec![Ok(Bytes::from_static(b"abc"))]);
            let (path, len) = write(way, to, ok, None).await.expect("written");
            assert_eq!((path.clone(), len), (dest.path().join("a/b/c.txt"), 3));
            assert_eq!(std::fs::read_to_string(&path).expect("read"), "abc");
            let to = Target::File(dest.path().join("a"));
            let ok = chunks(vec![Ok(Bytes::from_static(b"abc"))]);
            let err = write(way, to, ok, None).await.unwrap_err();
            let shown = err.described();
            assert!(shown.contains("directory"), "{way:?}: {shown}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn destinations_never_pass_through_a_link() {
        let dest = tempfile::tempdir().expect("temp dir");
        let outside = tempfile::tempdir().expect("temp dir");
        std::os::unix::fs::symlink(outside.path(), dest.path().join("escape")).expect("symlink");
        let err = prepare_destination(dest.path(), Path::new("escape/x.txt")).unwrap_err();
        assert!(matches!(err, Error::UnsafeName { .. }), "{err}");
        assert_eq!(std::fs::read_dir(outside.path()).expect("list").count(), 0);
    }

    #[test]
    fn concurrent_downloads_into_one_new_folder_all_succeed() {
        let dest = tempfile::tempdir().expect("temp dir");
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..16)
                .map(|i| {
                    let root = dest.path();
                    scope.spawn(move || {
                        prepare_destination(root, Path::new(&format!("t1/sub/deep/{i}.txt")))
                    })
                })
                .collect();
            for handle in handles {
                assert!(handle.join().expect("no panic").is_ok());
            }
        });
    }

    #[test]
    fn destinations_refuse_climbing_components() {
        let dest = tempfile::tempdir().expect("temp dir");
        assert!(prepare_destination(dest.path(), Path::new("../x")).is_err());
        assert!(prepare_destination(dest.path(), Path::new("/x")).is_err());
        let ok = prepare_destination(dest.path(), Path::new("a/b/c.txt")).expect("plain path");
        assert_eq!(ok, dest.path().join("a/b/c.txt"));
        assert!(dest.path().join("a/b").is_dir());
    }
}
