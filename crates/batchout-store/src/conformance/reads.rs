//! Reads of part of a blob: from an offset to the end, its tail, and reads
//! conditioned on a version.

use bytes::Bytes;

use super::{at, put};
use crate::{ContainerName, Error, GetOptions, ReadRange, Store};

/// What `options` reads of `name`, with the range the store says it gave.
async fn read_opts(
    store: &dyn Store,
    container: &ContainerName,
    name: &str,
    options: GetOptions,
) -> crate::Result<(std::ops::Range<u64>, Bytes)> {
    let got = store.get_opts(&at(container, name), &options).await?;
    let range = got.range.clone();
    Ok((range, got.bytes().await?))
}

/// [`ReadRange::From`] reads what follows an offset (nothing at the end, an
/// error beyond it) and [`ReadRange::Suffix`] the last bytes (all of a
/// shorter blob), on a blob with content and on an empty one.
pub async fn reads_from_an_offset_and_of_the_tail(store: &dyn Store, container: &ContainerName) {
    put(store, container, "t1/$TaskLog/log.txt", "0123456789").await;
    put(store, container, "t1/$TaskLog/empty.txt", Bytes::new()).await;
    let cases = [
        ("log.txt", ReadRange::From(4), 4..10, "456789"),
        ("log.txt", ReadRange::From(0), 0..10, "0123456789"),
        ("log.txt", ReadRange::From(10), 10..10, ""),
        ("log.txt", ReadRange::Suffix(3), 7..10, "789"),
        ("log.txt", ReadRange::Suffix(10), 0..10, "0123456789"),
        ("log.txt", ReadRange::Suffix(64 * 1024), 0..10, "0123456789"),
        ("log.txt", ReadRange::Suffix(0), 10..10, ""),
        ("log.txt", ReadRange::Bounded(2..5), 2..5, "234"),
        ("empty.txt", ReadRange::From(0), 0..0, ""),
        ("empty.txt", ReadRange::Suffix(5), 0..0, ""),
    ];
    for (file, range, expected_range, expected) in cases {
        let name = format!("t1/$TaskLog/{file}");
        let options = GetOptions::default().with_range(range.clone());
        let (got_range, bytes) = read_opts(store, container, &name, options)
            .await
            .unwrap_or_else(|err| panic!("{store}: {range:?} of {file}: {err}"));
        assert_eq!(got_range, expected_range, "{store}: {range:?} of {file}");
        assert_eq!(bytes, expected, "{store}: {range:?} of {file}");
    }
    for range in [ReadRange::From(11), ReadRange::Bounded(8..11)] {
        let options = GetOptions::default().with_range(range.clone());
        let err = read_opts(store, container, "t1/$TaskLog/log.txt", options)
            .await
            .expect_err("beyond the end");
        assert!(
            matches!(err, Error::InvalidRange { size: 10, .. }),
            "{store}: {range:?}: {err:?}"
        );
    }
    let options = GetOptions::default().with_range(ReadRange::Suffix(4));
    let err = read_opts(store, container, "t1/$TaskLog/absent.txt", options)
        .await
        .expect_err("no such blob");
    assert!(matches!(err, Error::NotFound { .. }), "{store}: {err:?}");
}

/// A log followed by offsets: each read from where the last ended gives
/// exactly what was appended since, whichever way the blob grows.
pub async fn following_a_growing_blob_reads_each_byte_once(
    store: &dyn Store,
    container: &ContainerName,
) {
    let name = "t1/$TaskLog/stdout.txt";
    let location = at(container, name);
    let appends = store.capabilities().append;
    let mut written = String::new();
    let mut seen = String::new();
    for part in ["first line\n", "", "second\nthird\n", "x"] {
        if appends {
            store
                .append(
                    &location,
                    Bytes::from(part.to_owned()),
                    written.len() as u64,
                )
                .await
                .unwrap_or_else(|err| panic!("{store}: append: {err}"));
            written.push_str(part);
        } else {
            written.push_str(part);
            put(store, container, name, written.clone()).await;
        }
        let options = GetOptions::default().with_range(ReadRange::From(seen.len() as u64));
        let (_, bytes) = read_opts(store, container, name, options)
            .await
            .unwrap_or_else(|err| panic!("{store}: read on from {}: {err}", seen.len()));
        seen.push_str(std::str::from_utf8(&bytes).expect("text"));
        assert_eq!(seen, written, "{store}");
    }
}

/// A read conditioned on the ETag a head gave succeeds while the blob is
/// that version, whatever part it asks for, and fails with
/// [`Error::Modified`] once the blob is replaced.
pub async fn reads_on_a_version_fail_once_it_is_replaced(
    store: &dyn Store,
    container: &ContainerName,
) {
    let name = "t1/$TaskOutput/v.txt";
    put(store, container, name, "version one").await;
    let first = store.head(&at(container, name)).await.expect("head");
    let etag = first.etag.clone().expect("every backend gives an ETag");
    let ranges = [
        None,
        Some(ReadRange::Bounded(0..7)),
        Some(ReadRange::From(8)),
        Some(ReadRange::Suffix(3)),
    ];
    for range in &ranges {
        let mut options = GetOptions::default().with_if_match(etag.clone());
        options.range = range.clone();
        read_opts(store, container, name, options)
            .await
            .unwrap_or_else(|err| panic!("{store}: {range:?} on the version seen: {err}"));
    }
    // Replaced, with a different length so even a coarse version changes.
    put(store, container, name, "version two!").await;
    for range in &ranges {
        let mut options = GetOptions::default().with_if_match(etag.clone());
        options.range = range.clone();
        let err = read_opts(store, container, name, options)
            .await
            .expect_err("the version is gone");
        assert!(
            matches!(err, Error::Modified { .. }),
            "{store}: {range:?}: {err:?}"
        );
        assert!(!err.is_retryable(), "{err:?}");
    }
    let now = store.head(&at(container, name)).await.expect("head");
    let options = GetOptions::default().with_if_match(now.etag.expect("an ETag"));
    let (_, bytes) = read_opts(store, container, name, options)
        .await
        .expect("the new version");
    assert_eq!(bytes, "version two!");
}
