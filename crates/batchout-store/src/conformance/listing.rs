//! Listings: recursive by prefix, one level by delimiter, after deletes.

use super::{at, names, put};
use crate::{ContainerName, Error, ListOptions, Store};

/// [`Store::list`] is recursive, sorted by name (byte order), and the prefix may
/// end anywhere in a segment.
pub async fn list_by_prefix_is_recursive_and_sorted(store: &dyn Store, container: &ContainerName) {
    let all = [
        "t2/b.txt",
        "t1/b/c.txt",
        "t1/a.txt",
        "t1/b.txt",
        "t10/x.txt",
        "t1-x/y.txt",
    ];
    for name in all {
        put(store, container, name, name).await;
    }
    let mut sorted = all.to_vec();
    sorted.sort_unstable();
    assert_eq!(names(store, container, "").await, sorted);
    assert_eq!(
        names(store, container, "t1/").await,
        ["t1/a.txt", "t1/b.txt", "t1/b/c.txt"]
    );
    assert_eq!(
        names(store, container, "t1/b").await,
        ["t1/b.txt", "t1/b/c.txt"]
    );
    assert_eq!(
        names(store, container, "t1").await,
        [
            "t1-x/y.txt",
            "t1/a.txt",
            "t1/b.txt",
            "t1/b/c.txt",
            "t10/x.txt"
        ]
    );
    assert_eq!(names(store, container, "t1/a.txt").await, ["t1/a.txt"]);
    assert!(names(store, container, "t3").await.is_empty());
    assert!(names(store, container, "t1/a.txt/").await.is_empty());
    let listed: Vec<_> = futures::TryStreamExt::try_collect::<Vec<_>>(store.list(container, "t2/"))
        .await
        .expect("list t2/");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].size, "t2/b.txt".len() as u64);
}

/// A prefix ending in `/` stops at that folder: `t1/$TaskLog/` does not list
/// `t1/$TaskLogs/x`.
pub async fn list_prefix_stops_at_the_boundary(store: &dyn Store, container: &ContainerName) {
    for name in ["t1/$TaskLog/a.txt", "t1/$TaskLogs/x", "t1/$TaskLog-extra/y"] {
        put(store, container, name, "x").await;
    }
    assert_eq!(
        names(store, container, "t1/$TaskLog/").await,
        ["t1/$TaskLog/a.txt"]
    );
    assert_eq!(
        names(store, container, "t1/$TaskLog").await,
        ["t1/$TaskLog-extra/y", "t1/$TaskLog/a.txt", "t1/$TaskLogs/x"]
    );
}

/// [`Store::list_with_delimiter`] gives the blobs at one level as objects and
/// the deeper ones as prefixes, both sorted.
pub async fn list_with_delimiter_levels(store: &dyn Store, container: &ContainerName) {
    let all = [
        "root.txt",
        "t1/$TaskLog/stdout.txt",
        "t1/$TaskLog/stderr.txt",
        "t1/$TaskOutput/out.bin",
        "t1/readme.md",
        "t2/x.txt",
        "a.txt",
    ];
    for name in all {
        put(store, container, name, name).await;
    }
    let level = |prefix: &'static str| async move {
        let listed = store.list_with_delimiter(container, prefix).await;
        let listed =
            listed.unwrap_or_else(|err| panic!("{store}: list {prefix:?} by delimiter: {err}"));
        let objects: Vec<_> = listed
            .objects
            .iter()
            .map(|meta| meta.name.clone())
            .collect();
        for meta in &listed.objects {
            assert_eq!(meta.size, meta.name.len() as u64, "{meta:?}");
        }
        (listed.prefixes, objects)
    };
    assert_eq!(
        level("").await,
        (
            vec!["t1/".into(), "t2/".into()],
            vec!["a.txt".into(), "root.txt".into()]
        )
    );
    assert_eq!(
        level("t1/").await,
        (
            vec!["t1/$TaskLog/".into(), "t1/$TaskOutput/".into()],
            vec!["t1/readme.md".into()]
        )
    );
    assert_eq!(
        level("t1/$TaskLog/").await,
        (
            vec![],
            vec![
                "t1/$TaskLog/stderr.txt".into(),
                "t1/$TaskLog/stdout.txt".into()
            ]
        )
    );
    assert_eq!(level("nope/").await, (vec![], vec![]));
}

/// A deleted blob is gone from get and from both listings, and an emptied
/// prefix is no longer listed.
pub async fn deleted_blobs_leave_listings(store: &dyn Store, container: &ContainerName) {
    put(store, container, "d/a/x.txt", "x").await;
    put(store, container, "d/b.txt", "b").await;
    store
        .delete(&at(container, "d/a/x.txt"))
        .await
        .expect("delete");
    assert_eq!(names(store, container, "").await, ["d/b.txt"]);
    let level = store
        .list_with_delimiter(container, "d/")
        .await
        .expect("list d/");
    assert!(level.prefixes.is_empty(), "{level:?}");
    assert_eq!(level.objects.len(), 1);
    let err = store
        .get(&at(container, "d/a/x.txt"), None)
        .await
        .expect_err("deleted");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let err = store
        .delete(&at(container, "d/a/x.txt"))
        .await
        .expect_err("deleted twice");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    store
        .delete(&at(container, "d/b.txt"))
        .await
        .expect("delete the last");
    assert!(names(store, container, "").await.is_empty());
    assert_eq!(
        store
            .list_with_delimiter(container, "")
            .await
            .expect("list")
            .prefixes,
        Vec::<String>::new()
    );
}

/// A listing read a page at a time, each page going on from the marker of
/// the one before, gives every entry once, in order, and no page holds more
/// than asked; the last page has no marker.
pub async fn list_pages_go_on_from_their_marker(store: &dyn Store, container: &ContainerName) {
    let blobs = [
        "$JobOutput/a.txt",
        "t1/$TaskLog/a.txt",
        "t1/$TaskOutput/b.txt",
        "t2/$TaskLog/c.txt",
        "t3/x.txt",
        "t4/y.txt",
        "top.txt",
    ];
    for name in blobs {
        put(store, container, name, name).await;
    }
    for (delimiter, expected) in [
        (false, blobs.to_vec()),
        (
            true,
            vec!["$JobOutput/", "t1/", "t2/", "t3/", "t4/", "top.txt"],
        ),
    ] {
        for max in [1, 2, 3, 5000] {
            let mut options = ListOptions::default().with_max_results(max);
            options.delimiter = delimiter;
            let mut seen = Vec::new();
            let mut pages = 0;
            loop {
                let page = store
                    .list_page(container, &options)
                    .await
                    .unwrap_or_else(|err| panic!("{store}: a page of {max}: {err}"));
                pages += 1;
                let entries = page.objects.len() + page.prefixes.len();
                assert!(entries <= max as usize, "{store}: {entries} > {max}");
                let mut names: Vec<String> = page.objects.into_iter().map(|o| o.name).collect();
                names.extend(page.prefixes);
                names.sort_unstable();
                seen.extend(names);
                match page.next_marker {
                    Some(marker) => options.marker = Some(marker),
                    None => break,
                }
                assert!(pages <= expected.len(), "{store}: pages never end");
            }
            assert_eq!(
                seen, expected,
                "{store}: delimiter {delimiter}, {max} a page"
            );
        }
    }
    let below = ListOptions::default().with_prefix("t1/").delimited();
    let page = store
        .list_page(container, &below)
        .await
        .expect("one level down");
    assert_eq!(
        page.prefixes,
        ["t1/$TaskLog/", "t1/$TaskOutput/"],
        "{store}"
    );
    assert!(
        page.objects.is_empty() && page.next_marker.is_none(),
        "{store}"
    );
}
