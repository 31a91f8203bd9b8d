//! Whole blobs: put, get, head, ranges, names.

use std::io::Write;
use std::ops::Range;

use bytes::Bytes;

use super::{at, names, put, read};
use crate::{ContainerName, Error, PutSource, Store};

/// Bytes put are the bytes got, and put reports the name and size.
pub async fn put_get_round_trip(store: &dyn Store, container: &ContainerName) {
    let name = "t1/$TaskOutput/out.bin";
    let content = Bytes::from_static(b"hello, world\n\x00\xff binary too");
    let meta = store
        .put(
            &at(container, name),
            PutSource::Bytes(content.clone()),
            &Default::default(),
        )
        .await
        .expect("put bytes");
    assert_eq!(
        (meta.name.as_str(), meta.size),
        (name, content.len() as u64)
    );
    let got = store
        .get(&at(container, name), None)
        .await
        .expect("get what was put");
    assert_eq!(got.range, 0..content.len() as u64);
    assert_eq!(got.meta.size, content.len() as u64);
    assert_eq!(got.bytes().await.expect("read the stream"), content);
}

/// A ~20 MiB file put with [`PutSource::File`] reads back identical.
pub async fn file_round_trip(store: &dyn Store, container: &ContainerName) {
    let content = pseudo_random(20 * 1024 * 1024 + 12_345);
    let mut file = tempfile::NamedTempFile::new().expect("a temporary source file");
    file.write_all(&content).expect("write the source file");
    file.flush().expect("flush the source file");
    let name = "t1/$TaskOutput/big.bin";
    let source = PutSource::File(file.path().to_owned());
    let meta = store
        .put(&at(container, name), source, &Default::default())
        .await
        .expect("put a file");
    assert_eq!(meta.size, content.len() as u64);
    let got = read(store, container, name).await;
    assert_eq!(got.len(), content.len(), "size read back");
    let differs = got.iter().zip(&content).position(|(a, b)| a != b);
    assert_eq!(differs, None, "first differing byte");
    let middle = 7_000_000..7_000_100;
    let ranged = store
        .get(&at(container, name), Some(middle.clone()))
        .await
        .expect("ranged get");
    let ranged = ranged.bytes().await.expect("read the range");
    assert_eq!(ranged, content[7_000_000..7_000_100]);
}

/// A second put replaces the blob, even with shorter content.
pub async fn overwrite_replaces(store: &dyn Store, container: &ContainerName) {
    put(store, container, "a/b.txt", "a long first version").await;
    put(store, container, "a/b.txt", "short").await;
    assert_eq!(read(store, container, "a/b.txt").await, "short");
    let meta = store.head(&at(container, "a/b.txt")).await.expect("head");
    assert_eq!(meta.size, 5);
    assert_eq!(super::names(store, container, "").await, ["a/b.txt"]);
}

/// A put on a version ([`crate::PutOptions::if_match`]) writes over that
/// version only: another version, or no blob, fails it with
/// [`crate::Error::Modified`] and leaves the blob as it was.
pub async fn put_on_a_version_writes_over_that_version_only(
    store: &dyn Store,
    container: &ContainerName,
) {
    let location = at(container, "v.txt");
    let first = store
        .put(&location, PutSource::from("first"), &Default::default())
        .await
        .expect("put");
    let first_tag = first.etag.clone().expect("a version");
    let on_first = crate::PutOptions::default().with_if_match(first_tag.clone());
    let second = store
        .put(&location, PutSource::from("second!"), &on_first)
        .await
        .expect("a put on the version there");
    assert_eq!(read(store, container, "v.txt").await, "second!");
    let stale = store
        .put(&location, PutSource::from("third"), &on_first)
        .await
        .expect_err("the version moved on");
    assert!(matches!(stale, crate::Error::Modified { .. }), "{stale:?}");
    assert_eq!(read(store, container, "v.txt").await, "second!");
    let on_second = crate::PutOptions::default().with_if_match(second.etag.expect("a version"));
    store
        .put(&location, PutSource::from("third"), &on_second)
        .await
        .expect("on the version there");
    assert_eq!(read(store, container, "v.txt").await, "third");
    let missing = store
        .put(&at(container, "none.txt"), PutSource::from("x"), &on_first)
        .await
        .expect_err("no blob, no version");
    assert!(
        matches!(missing, crate::Error::Modified { .. }),
        "{missing:?}"
    );
    assert!(
        store
            .head(&at(container, "none.txt"))
            .await
            .is_err_and(|e| e.is_not_found())
    );
}

/// An empty blob exists, has size 0 and reads as nothing.
pub async fn empty_blob(store: &dyn Store, container: &ContainerName) {
    put(store, container, "empty", Bytes::new()).await;
    assert_eq!(
        store
            .head(&at(container, "empty"))
            .await
            .expect("head")
            .size,
        0
    );
    let got = store.get(&at(container, "empty"), None).await.expect("get");
    assert_eq!(got.range, 0..0);
    assert!(got.bytes().await.expect("read").is_empty());
    assert_eq!(names(store, container, "").await, ["empty"]);
}

/// Names with `$`, spaces, `+`, `%`, `#` and Unicode round-trip exactly through
/// put, get, head and list.
pub async fn special_names_round_trip(store: &dyn Store, container: &ContainerName) {
    let mut all = vec![
        "t1/$TaskLog/stdout.txt",
        "t1/with space/a b.txt",
        "t1/plus+percent%20hash#.bin",
        "t1/é/日本/🦀 crab.txt",
        "$JobOutput/100% done #1 + more.txt",
    ];
    for name in &all {
        put(store, container, name, name.to_string()).await;
    }
    for name in &all {
        assert_eq!(
            read(store, container, name).await,
            name.as_bytes(),
            "content of {name:?}"
        );
        let meta = store.head(&at(container, name)).await.expect("head");
        assert_eq!(meta.name, *name);
    }
    all.sort_unstable();
    assert_eq!(names(store, container, "").await, all);
    assert_eq!(
        names(store, container, "t1/é/").await,
        ["t1/é/日本/🦀 crab.txt"]
    );
    let level = store
        .list_with_delimiter(container, "t1/")
        .await
        .expect("list t1/");
    assert_eq!(level.prefixes, ["t1/$TaskLog/", "t1/with space/", "t1/é/"]);
    let objects: Vec<_> = level
        .objects
        .iter()
        .map(|meta| meta.name.as_str())
        .collect();
    assert_eq!(objects, ["t1/plus+percent%20hash#.bin"]);
}

/// Head gives the size, a modification time, and a content type from the name.
pub async fn head_reports_size_and_content_type(store: &dyn Store, container: &ContainerName) {
    put(store, container, "notes.txt", "twelve bytes").await;
    let meta = store.head(&at(container, "notes.txt")).await.expect("head");
    assert_eq!(meta.name, "notes.txt");
    assert_eq!(meta.size, 12);
    assert_eq!(meta.content_type.as_deref(), Some("text/plain"));
    assert!(meta.last_modified.is_some(), "{meta:?}");
}

/// Ranges at the start, middle and end, and an empty range, read exactly those
/// bytes; a range outside the blob is [`Error::InvalidRange`].
pub async fn ranged_reads(store: &dyn Store, container: &ContainerName) {
    put(store, container, "r", "0123456789abcdef").await;
    for (range, expected) in [
        (0..4, "0123"),
        (5..9, "5678"),
        (12..16, "cdef"),
        (7..7, ""),
        (0..16, "0123456789abcdef"),
    ] {
        let got = store
            .get(&at(container, "r"), Some(range.clone()))
            .await
            .expect("ranged get");
        assert_eq!(got.range, range);
        assert_eq!(got.meta.size, 16);
        assert_eq!(
            got.bytes().await.expect("read"),
            expected,
            "range {range:?}"
        );
    }
    for range in [
        Range { start: 0, end: 17 },
        Range { start: 10, end: 5 },
        Range { start: 20, end: 30 },
    ] {
        let err = store
            .get(&at(container, "r"), Some(range.clone()))
            .await
            .expect_err("outside the blob");
        assert!(
            matches!(err, Error::InvalidRange { start, end, size: 16, .. } if start == range.start && end == range.end),
            "range {range:?}: {err:?}"
        );
    }
}

/// Get, head and delete of a blob that is not there are [`Error::NotFound`].
pub async fn missing_blob_is_not_found(store: &dyn Store, container: &ContainerName) {
    put(store, container, "there.txt", "x").await;
    let missing = at(container, "nope/missing.txt");
    let errors = [
        store
            .get(&missing, None)
            .await
            .expect_err("get a missing blob"),
        store.head(&missing).await.expect_err("head a missing blob"),
        store
            .delete(&missing)
            .await
            .expect_err("delete a missing blob"),
    ];
    for err in errors {
        assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
        assert!(err.is_not_found(), "{err:?}");
    }
    let err = store
        .get(&at(container, "there.txt/below"), None)
        .await
        .expect_err("below a blob");
    assert!(err.is_not_found(), "{err:?}");
}

/// Deterministic bytes that compress badly.
fn pseudo_random(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}
