//! The local directory store: the conformance suite, and what only a local
//! directory can get wrong (names that leave the root, symbolic links, file and
//! folder collisions, temporary files).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use batchout_store::{BlobName, ContainerName, Error, LocalStore, Location, PutSource, Store};
use bytes::Bytes;
use futures::TryStreamExt;
use tempfile::TempDir;

async fn local_store() -> (Arc<dyn Store>, TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    (Arc::new(LocalStore::new(dir.path().join("store"))), dir)
}

mod conformance {
    batchout_store::store_conformance_tests!(super::local_store());
}

/// A store in a temporary directory with one container, `job-1`.
struct Fixture {
    dir: TempDir,
    store: LocalStore,
    container: ContainerName,
}

impl Fixture {
    async fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = LocalStore::new(dir.path().join("store"));
        let container = ContainerName::parse("job-1").expect("a container name");
        assert!(store.create_container(&container).await.expect("create"));
        Self {
            dir,
            store,
            container,
        }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    fn container_dir(&self) -> PathBuf {
        self.root().join("job-1")
    }

    fn at(&self, name: &str) -> Location {
        Location::new(
            self.container.clone(),
            BlobName::new(name).expect("a blob name"),
        )
    }

    async fn put(&self, name: &str, content: &'static str) -> batchout_store::Result<()> {
        self.store
            .put(
                &self.at(name),
                PutSource::from(content),
                &Default::default(),
            )
            .await
            .map(drop)
    }

    async fn read(&self, name: &str) -> batchout_store::Result<Bytes> {
        self.store.get(&self.at(name), None).await?.bytes().await
    }

    async fn names(&self, prefix: &str) -> Vec<String> {
        let listed: Vec<_> = self
            .store
            .list(&self.container, prefix)
            .try_collect()
            .await
            .expect("list");
        listed.into_iter().map(|meta| meta.name).collect()
    }

    fn temp_files(&self) -> Vec<PathBuf> {
        match std::fs::read_dir(self.root().join(".batchout-tmp")) {
            Ok(entries) => entries
                .map(|entry| entry.expect("a temp dir entry").path())
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// Every path below `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut paths: Vec<_> = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .map(|entry| {
            let entry = entry.expect("a walk entry");
            entry
                .path()
                .strip_prefix(dir)
                .expect("below dir")
                .display()
                .to_string()
        })
        .collect();
    paths.sort();
    paths
}

#[tokio::test]
async fn new_never_touches_the_disk_and_capabilities_say_what_it_can_do() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = LocalStore::new(dir.path().join("store"));
    assert!(!dir.path().join("store").exists());
    let capabilities = store.capabilities();
    assert!(capabilities.append);
    assert_eq!(capabilities.max_append_size, 4 * 1024 * 1024);
    assert!(!capabilities.file_and_folder_names);
    assert_eq!(capabilities.bound_container, None);
    assert!(store.to_string().starts_with("local store "), "{store}");
}

#[tokio::test]
async fn a_blob_below_a_file_is_a_conflict_and_nothing_is_written() {
    let f = Fixture::new().await;
    f.put("x", "file").await.expect("put x");
    let err = f.put("x/y", "below").await.expect_err("x is a file");
    let Error::NameConflict { name, reason } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(name, "x/y");
    assert!(
        reason.contains("'x' is already stored as a file") && reason.contains("delete 'x'"),
        "{reason}"
    );
    let err = f.put("x/y/z", "deeper").await.expect_err("x is a file");
    assert!(matches!(err, Error::NameConflict { .. }), "{err:?}");
    assert_eq!(f.read("x").await.expect("x unchanged"), "file");
    assert_eq!(tree(&f.container_dir()), ["x"]);
    assert!(f.temp_files().is_empty(), "{:?}", f.temp_files());
}

#[tokio::test]
async fn a_blob_where_a_folder_holds_blobs_is_a_conflict_and_nothing_is_written() {
    let f = Fixture::new().await;
    f.put("d/e/f.txt", "deep").await.expect("put d/e/f.txt");
    for name in ["d", "d/e"] {
        let err = f
            .put(name, "file")
            .await
            .expect_err("a folder holding blobs");
        let Error::NameConflict { reason, .. } = &err else {
            panic!("{err:?}")
        };
        assert!(
            reason.contains(&format!("'{name}/' is a folder holding blobs")),
            "{reason}"
        );
    }
    let err = f
        .store
        .append(&f.at("d"), Bytes::from_static(b"x"), 0)
        .await
        .expect_err("append over a folder");
    assert!(matches!(err, Error::NameConflict { .. }), "{err:?}");
    assert_eq!(f.read("d/e/f.txt").await.expect("unchanged"), "deep");
    assert_eq!(tree(&f.container_dir()), ["d", "d/e", "d/e/f.txt"]);
    assert!(f.temp_files().is_empty());
}

#[tokio::test]
async fn an_empty_folder_left_behind_does_not_block_a_put() {
    let f = Fixture::new().await;
    std::fs::create_dir_all(f.container_dir().join("left/over")).expect("mkdir");
    f.put("left", "now a file")
        .await
        .expect("an empty folder is no blob");
    assert_eq!(f.read("left").await.expect("read"), "now a file");
}

#[tokio::test]
async fn hostile_names_are_refused_and_nothing_is_created_anywhere() {
    let f = Fixture::new().await;
    let long = "a".repeat(256);
    let hostile = [
        "../x",
        "../../escape",
        "a//b",
        "/x",
        "/etc/passwd",
        ".",
        "..",
        "a/./b",
        "a/../../x",
        "x/",
        &long,
    ];
    for name in hostile {
        let location = f.at(name);
        let err = f
            .store
            .put(&location, PutSource::from("evil"), &Default::default())
            .await
            .expect_err(name);
        assert!(
            matches!(err, Error::InvalidName { .. }),
            "{name:?}: {err:?}"
        );
        let err = f.store.get(&location, None).await.expect_err(name);
        assert!(
            matches!(err, Error::InvalidName { .. }),
            "{name:?}: {err:?}"
        );
        let err = f
            .store
            .append(&location, Bytes::from_static(b"evil"), 0)
            .await
            .expect_err(name);
        assert!(
            matches!(err, Error::InvalidName { .. }),
            "{name:?}: {err:?}"
        );
        let err = f.store.delete(&location).await.expect_err(name);
        assert!(
            matches!(err, Error::InvalidName { .. }),
            "{name:?}: {err:?}"
        );
    }
    let err = f.put(&long, "x").await.expect_err("256 bytes");
    assert!(
        err.to_string().contains("limit a segment to 255 bytes"),
        "{err}"
    );
    f.put(&"b".repeat(255), "x")
        .await
        .expect("255 bytes is fine");
    f.put("back\\slash", "x")
        .await
        .expect("a backslash is an ordinary character");
    let mut expected = ["store", "store/job-1", "store/job-1/back\\slash"]
        .map(String::from)
        .to_vec();
    expected.push(format!("store/job-1/{}", "b".repeat(255)));
    expected.sort();
    // The folder of puts in progress is made only by puts that need it.
    let mut found = tree(f.dir.path());
    found.retain(|path| path != "store/.batchout-tmp");
    assert!(f.temp_files().is_empty(), "{:?}", f.temp_files());
    assert_eq!(found, expected, "nothing outside the container");
    assert!(f.names("..").await.is_empty());
    assert!(f.names("../").await.is_empty());
    assert!(
        f.store
            .list_with_delimiter(&f.container, "../")
            .await
            .expect("list")
            .objects
            .is_empty()
    );
}

#[cfg(unix)]
#[tokio::test]
async fn symlinks_planted_in_the_store_are_neither_listed_nor_followed() {
    use std::os::unix::fs::symlink;
    let f = Fixture::new().await;
    let outside = f.dir.path().join("outside");
    std::fs::create_dir(&outside).expect("mkdir outside");
    std::fs::write(outside.join("secret.txt"), "secret").expect("write the secret");
    f.put("t1/ok.txt", "ok").await.expect("put");
    symlink(&outside, f.container_dir().join("t1/linkdir")).expect("plant a folder link");
    symlink(
        outside.join("secret.txt"),
        f.container_dir().join("t1/leak.txt"),
    )
    .expect("plant a file link");
    symlink(&outside, f.root().join("job-evil")).expect("plant a container link");

    assert_eq!(f.names("").await, ["t1/ok.txt"]);
    assert_eq!(f.names("t1/linkdir/").await, Vec::<String>::new());
    let level = f
        .store
        .list_with_delimiter(&f.container, "t1/")
        .await
        .expect("list t1/");
    assert!(level.prefixes.is_empty(), "{level:?}");
    assert_eq!(level.objects.len(), 1);
    for name in ["t1/leak.txt", "t1/linkdir/secret.txt"] {
        let err = f.read(name).await.expect_err("a link is not a blob");
        assert!(err.is_not_found(), "{name}: {err:?}");
        let err = f
            .store
            .head(&f.at(name))
            .await
            .expect_err("a link is not a blob");
        assert!(err.is_not_found(), "{name}: {err:?}");
    }
    let err = f
        .put("t1/linkdir/new.txt", "x")
        .await
        .expect_err("never written through a link");
    assert!(matches!(err, Error::NameConflict { .. }), "{err:?}");
    let err = f
        .store
        .append(&f.at("t1/leak.txt"), Bytes::from_static(b"x"), 6)
        .await
        .expect_err("no append through a link");
    assert!(matches!(err, Error::NameConflict { .. }), "{err:?}");
    let err = f
        .store
        .delete(&f.at("t1/linkdir/secret.txt"))
        .await
        .expect_err("no delete through a link");
    assert!(err.is_not_found(), "{err:?}");
    let evil = ContainerName::parse("job-evil").expect("a container name");
    let err = f
        .store
        .get(
            &Location::new(evil.clone(), BlobName::new("secret.txt").expect("name")),
            None,
        )
        .await
        .expect_err("a linked container");
    assert!(matches!(err, Error::ContainerNotFound { .. }), "{err:?}");
    let listed = f.store.list(&evil, "").try_collect::<Vec<_>>().await;
    assert!(
        matches!(listed, Err(Error::ContainerNotFound { .. })),
        "{listed:?}"
    );
    assert_eq!(tree(&outside), ["secret.txt"]);
    assert_eq!(
        std::fs::read_to_string(outside.join("secret.txt")).expect("read"),
        "secret"
    );
}

#[tokio::test]
async fn temp_files_are_never_listed_and_never_left_behind() {
    let f = Fixture::new().await;
    f.put("a.txt", "a").await.expect("put");
    f.put("a.txt", "replaced").await.expect("replace");
    assert!(f.temp_files().is_empty(), "{:?}", f.temp_files());
    assert_eq!(f.names("").await, ["a.txt"]);

    // In a new folder (the general way) and in the container's own folder
    // (on Linux, an unnamed copy there).
    for name in ["deep/dir/x.bin", "x.bin"] {
        let missing = f.dir.path().join("no-such-file");
        let err = f
            .store
            .put(
                &f.at(name),
                PutSource::File(missing.clone()),
                &Default::default(),
            )
            .await
            .expect_err("a missing source");
        let Error::Io { action, path, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!((*action, path), ("read", &missing), "{name}");
        assert!(
            !err.is_not_found(),
            "a missing source is not a missing blob"
        );
        let err = f
            .store
            .put(
                &f.at(name),
                PutSource::File(f.dir.path().to_owned()),
                &Default::default(),
            )
            .await
            .expect_err("a folder as source");
        assert!(
            matches!(err, Error::Io { action: "read", .. }),
            "{name}: {err:?}"
        );
        assert!(f.temp_files().is_empty(), "{:?}", f.temp_files());
        assert_eq!(tree(&f.container_dir()), ["a.txt"], "{name}");
    }
}

#[tokio::test]
async fn delete_removes_emptied_folders_but_not_the_container() {
    let f = Fixture::new().await;
    f.put("a/b/c/d.txt", "x").await.expect("put");
    f.put("a/e.txt", "x").await.expect("put");
    f.store.delete(&f.at("a/b/c/d.txt")).await.expect("delete");
    assert_eq!(tree(&f.container_dir()), ["a", "a/e.txt"]);
    f.store.delete(&f.at("a/e.txt")).await.expect("delete");
    assert!(f.container_dir().is_dir());
    assert!(tree(&f.container_dir()).is_empty());
}

#[tokio::test]
async fn concurrent_appends_at_the_same_position_land_once() {
    let f = Arc::new(Fixture::new().await);
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let f = Arc::clone(&f);
            tokio::spawn(async move {
                let data = Bytes::from(format!("writer {i:02};"));
                f.store.append(&f.at("shared/log.txt"), data, 0).await
            })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.expect("the task ran") {
            Ok(length) => {
                won += 1;
                assert_eq!(length, 10);
            }
            Err(Error::AppendPosition { actual: 10, .. }) => {}
            Err(err) => panic!("{err:?}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(f.read("shared/log.txt").await.expect("read").len(), 10);
}

#[tokio::test]
async fn an_append_over_the_azure_limit_is_refused() {
    let f = Fixture::new().await;
    let data = Bytes::from(vec![0; 4 * 1024 * 1024 + 1]);
    let err = f
        .store
        .append(&f.at("big"), data, 0)
        .await
        .expect_err("too big");
    assert!(matches!(err, Error::Unsupported { .. }), "{err:?}");
    assert!(
        f.store
            .head(&f.at("big"))
            .await
            .is_err_and(|err| err.is_not_found())
    );
}

#[tokio::test]
async fn names_map_to_the_same_relative_path() {
    let f = Fixture::new().await;
    let name = "t1/$TaskLog/a b+c%20#é 日本 🦀.txt";
    f.put(name, "x").await.expect("put");
    assert_eq!(
        std::fs::read_to_string(f.container_dir().join(name)).expect("the file is there"),
        "x"
    );
}

#[tokio::test]
async fn twenty_thousand_names_list_quickly() {
    let f = Fixture::new().await;
    for task in 0..200 {
        let dir = f
            .container_dir()
            .join(format!("task-{task:03}/$TaskOutput"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        for file in 0..100 {
            std::fs::write(dir.join(format!("out-{file:03}.txt")), "x").expect("write");
        }
    }
    let started = Instant::now();
    let names = f.names("").await;
    let took = started.elapsed();
    assert_eq!(names.len(), 20_000);
    assert!(names.is_sorted());
    assert!(
        took < Duration::from_secs(5),
        "listing 20,000 names took {took:?}"
    );
    assert_eq!(f.names("task-042/").await.len(), 100);
    let level = f
        .store
        .list_with_delimiter(&f.container, "")
        .await
        .expect("list by delimiter");
    assert_eq!(level.prefixes.len(), 200);
}

#[cfg(unix)]
#[tokio::test]
async fn blobs_get_ordinary_file_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let f = Fixture::new().await;
    f.put("a.txt", "x").await.expect("put");
    let put_mode = std::fs::metadata(f.container_dir().join("a.txt"))
        .expect("stat")
        .permissions()
        .mode();
    f.store
        .append(&f.at("b.txt"), Bytes::from_static(b"x"), 0)
        .await
        .expect("append");
    let append_mode = std::fs::metadata(f.container_dir().join("b.txt"))
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(
        put_mode & 0o777,
        append_mode & 0o777,
        "put and append agree"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn files_whose_names_are_not_utf8_are_skipped() {
    use std::os::unix::ffi::OsStrExt;
    let f = Fixture::new().await;
    f.put("t1/ok.txt", "ok").await.expect("put");
    let odd = std::ffi::OsStr::from_bytes(b"bad-\xff.txt");
    std::fs::write(f.container_dir().join("t1").join(odd), "x").expect("write");
    std::fs::create_dir(f.container_dir().join(odd)).expect("mkdir");
    std::fs::write(f.container_dir().join(odd).join("x.txt"), "x").expect("write");
    assert_eq!(f.names("").await, ["t1/ok.txt"]);
    let level = f
        .store
        .list_with_delimiter(&f.container, "")
        .await
        .expect("list by delimiter");
    assert_eq!(level.prefixes, ["t1/"]);
}
