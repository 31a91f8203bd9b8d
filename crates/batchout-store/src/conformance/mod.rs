//! The behavioural test suite that every backend must pass.
//!
//! Each test is a public async function taking a store and a fresh, already
//! created container; it panics (like any test) when the store misbehaves.
//! Local-only behaviour is never assumed: what differs between backends is
//! gated on [`Capabilities`](crate::Capabilities), so the same suite runs against
//! the local directory store, Azurite and S3.
//!
//! A backend's tests run the whole suite with
//! [`store_conformance_tests!`](crate::store_conformance_tests), given an async
//! constructor that returns
//! the store and a guard kept alive for the test (a temporary directory, an
//! emulator handle):
//!
//! ```no_run
//! use std::sync::Arc;
//! use batchout_store::{LocalStore, Store};
//!
//! async fn local_store() -> (Arc<dyn Store>, tempfile::TempDir) {
//!     let dir = tempfile::tempdir().expect("a temporary directory");
//!     (Arc::new(LocalStore::new(dir.path().join("store"))), dir)
//! }
//!
//! batchout_store::store_conformance_tests!(local_store());
//! # fn main() {}
//! ```

mod append;
mod blobs;
mod containers;
mod listing;
mod reads;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::TryStreamExt;

pub use append::{
    append_at_wrong_position_writes_nothing, appends_concatenate, retried_append_is_refused,
};
pub use blobs::{
    empty_blob, file_round_trip, head_reports_size_and_content_type, missing_blob_is_not_found,
    overwrite_replaces, put_get_round_trip, put_on_a_version_writes_over_that_version_only,
    ranged_reads, special_names_round_trip,
};
pub use containers::{
    containers_are_listed_with_their_metadata, create_container_is_idempotent,
    missing_container_is_reported,
};
pub use listing::{
    deleted_blobs_leave_listings, list_by_prefix_is_recursive_and_sorted,
    list_pages_go_on_from_their_marker, list_prefix_stops_at_the_boundary,
    list_with_delimiter_levels,
};
pub use reads::{
    following_a_growing_blob_reads_each_byte_once, reads_from_an_offset_and_of_the_tail,
    reads_on_a_version_fail_once_it_is_replaced,
};

use crate::{BlobName, ContainerName, Location, PutSource, Store};

/// Generates one `#[tokio::test]` per conformance test.
///
/// The argument is an expression of a future (such as a call of an async
/// function) that gives `(store, guard)`: `store` derefs to a [`Store`] (an
/// `Arc<dyn Store>`, say) and `guard` is kept until the test ends. Each test
/// creates its own fresh container with [`fresh_container`]. The crate that
/// calls this needs `tokio` (with the `macros` and `rt-multi-thread` features)
/// among its dependencies.
///
/// A store bound to one container (a container SAS URL) cannot create fresh
/// containers; give it `setup = PATH` instead, where `PATH` names an async
/// function of the test's name that returns `Some((store, container, guard))`
/// with the container already created, or `None` when the backend cannot be had
/// on this machine (it must then say so, and fail under CI).
#[macro_export]
macro_rules! store_conformance_tests {
    (setup = $setup:path) => {
        $crate::store_conformance_tests!(@tests @setup $setup);
    };
    ($make:expr) => {
        $crate::store_conformance_tests!(@tests @make $make);
    };
    (@tests @$how:ident $arg:tt) => {
        $crate::store_conformance_tests!(@each $how $arg;
            put_get_round_trip,
            file_round_trip,
            overwrite_replaces,
            put_on_a_version_writes_over_that_version_only,
            empty_blob,
            special_names_round_trip,
            head_reports_size_and_content_type,
            ranged_reads,
            missing_blob_is_not_found,
            list_by_prefix_is_recursive_and_sorted,
            list_prefix_stops_at_the_boundary,
            list_with_delimiter_levels,
            list_pages_go_on_from_their_marker,
            deleted_blobs_leave_listings,
            create_container_is_idempotent,
            missing_container_is_reported,
            containers_are_listed_with_their_metadata,
            reads_from_an_offset_and_of_the_tail,
            following_a_growing_blob_reads_each_byte_once,
            reads_on_a_version_fail_once_it_is_replaced,
            appends_concatenate,
            append_at_wrong_position_writes_nothing,
            retried_append_is_refused,
        );
    };
    (@each make $make:tt; $($test:ident),+ $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread")]
            async fn $test() {
                let (store, _guard) = $make.await;
                let container =
                    $crate::conformance::fresh_container(&*store, stringify!($test)).await;
                $crate::conformance::$test(&*store, &container).await;
            }
        )+
    };
    (@each setup $setup:tt; $($test:ident),+ $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread")]
            async fn $test() {
                // `None`: the backend is not available here (and the setup said
                // so loudly; under CI it fails instead).
                let Some((store, container, _guard)) = $setup(stringify!($test)).await else {
                    return;
                };
                $crate::conformance::$test(&*store, &container).await;
            }
        )+
    };
}

/// Creates a new container, unique to this run, for the test `test`, and checks
/// that the store says it created it.
pub async fn fresh_container(store: &dyn Store, test: &str) -> ContainerName {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let slug: String = test
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(32)
        .collect();
    let slug = slug
        .split('-')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos());
    let unique = format!(
        "{:x}{nanos:x}{:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let container =
        ContainerName::parse(&format!("t-{slug}-{unique}")).expect("a valid container name");
    let created = store
        .create_container(&container)
        .await
        .expect("create a fresh container");
    assert!(
        created,
        "{store}: a new container {container} must be reported as created"
    );
    container
}

/// The location of `name` in `container`.
fn at(container: &ContainerName, name: &str) -> Location {
    Location::new(
        container.clone(),
        BlobName::new(name).expect("a valid blob name"),
    )
}

/// Puts `bytes` at `name`.
async fn put(store: &dyn Store, container: &ContainerName, name: &str, bytes: impl Into<Bytes>) {
    let source = PutSource::Bytes(bytes.into());
    store
        .put(&at(container, name), source, &Default::default())
        .await
        .unwrap_or_else(|err| panic!("{store}: put {name:?}: {err}"));
}

/// Reads all of `name`.
async fn read(store: &dyn Store, container: &ContainerName, name: &str) -> Bytes {
    let got = store.get(&at(container, name), None).await;
    let got = got.unwrap_or_else(|err| panic!("{store}: get {name:?}: {err}"));
    got.bytes()
        .await
        .unwrap_or_else(|err| panic!("{store}: read {name:?}: {err}"))
}

/// The names [`Store::list`] gives for `prefix`.
async fn names(store: &dyn Store, container: &ContainerName, prefix: &str) -> Vec<String> {
    let listed: Vec<_> = store
        .list(container, prefix)
        .try_collect()
        .await
        .unwrap_or_else(|err| panic!("{store}: list {prefix:?}: {err}"));
    listed.into_iter().map(|meta| meta.name).collect()
}
