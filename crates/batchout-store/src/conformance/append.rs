//! Appends at a position (gated on [`Capabilities::append`](crate::Capabilities)).

use bytes::Bytes;

use super::{at, read};
use crate::{ContainerName, Error, Store};

/// Without append support, append is [`Error::Unsupported`]; with it, appends
/// create the blob at 0 and concatenate, up to the largest allowed append.
pub async fn appends_concatenate(store: &dyn Store, container: &ContainerName) {
    let location = at(container, "t1/$TaskLog/stdout.txt");
    if !store.capabilities().append {
        let err = store
            .append(&location, Bytes::from_static(b"x"), 0)
            .await
            .expect_err("no appends");
        assert!(matches!(err, Error::Unsupported { .. }), "{err:?}");
        return;
    }
    let mut expected = Vec::new();
    for part in ["hello ", "world", "!"] {
        let position = expected.len() as u64;
        let length = store
            .append(&location, Bytes::from(part), position)
            .await
            .expect("append");
        expected.extend_from_slice(part.as_bytes());
        assert_eq!(length, expected.len() as u64);
    }
    assert_eq!(
        read(store, container, location.name.as_str()).await,
        expected
    );
    let largest = usize::try_from(store.capabilities().max_append_size).expect("fits in memory");
    let big = vec![b'z'; largest];
    let length = store
        .append(&location, Bytes::from(big), expected.len() as u64)
        .await
        .expect("append the most one append may carry");
    assert_eq!(length, (expected.len() + largest) as u64);
    assert_eq!(store.head(&location).await.expect("head").size, length);
}

/// An append at a position other than the blob's length fails with the actual
/// length and writes nothing; at a position past 0 it creates nothing.
pub async fn append_at_wrong_position_writes_nothing(store: &dyn Store, container: &ContainerName) {
    if !store.capabilities().append {
        return;
    }
    let location = at(container, "log.txt");
    store
        .append(&location, Bytes::from_static(b"abc"), 0)
        .await
        .expect("append");
    for position in [0, 1, 10] {
        let err = store
            .append(&location, Bytes::from_static(b"zzz"), position)
            .await
            .expect_err("wrong position");
        assert!(
            matches!(err, Error::AppendPosition { expected, actual: 3, .. } if expected == position),
            "{err:?}"
        );
    }
    assert_eq!(read(store, container, "log.txt").await, "abc");
    let fresh = at(container, "new/log.txt");
    let err = store
        .append(&fresh, Bytes::from_static(b"x"), 5)
        .await
        .expect_err("past the end");
    assert!(
        matches!(
            err,
            Error::AppendPosition {
                expected: 5,
                actual: 0,
                ..
            }
        ),
        "{err:?}"
    );
    let err = store.head(&fresh).await.expect_err("nothing created");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

/// Retrying an append that already succeeded fails with the new length, and
/// the bytes are not written twice.
pub async fn retried_append_is_refused(store: &dyn Store, container: &ContainerName) {
    if !store.capabilities().append {
        return;
    }
    let location = at(container, "retry.txt");
    store
        .append(&location, Bytes::from_static(b"first"), 0)
        .await
        .expect("append");
    store
        .append(&location, Bytes::from_static(b"second"), 5)
        .await
        .expect("append");
    let err = store
        .append(&location, Bytes::from_static(b"second"), 5)
        .await
        .expect_err("a retry");
    assert!(
        matches!(
            err,
            Error::AppendPosition {
                expected: 5,
                actual: 11,
                ..
            }
        ),
        "{err:?}"
    );
    let err = store
        .append(&location, Bytes::from_static(b"first"), 0)
        .await
        .expect_err("a retry of the first");
    assert!(
        matches!(
            err,
            Error::AppendPosition {
                expected: 0,
                actual: 11,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(read(store, container, "retry.txt").await, "firstsecond");
}
