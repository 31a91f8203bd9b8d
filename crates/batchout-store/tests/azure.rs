//! The Azure backend against a real Blob service: Azurite, started by the test
//! harness. The conformance suite runs twice, with the account key and with
//! nothing but a container SAS URL, so the two cannot drift apart.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use batchout_store::conformance::fresh_container;
use batchout_store::{BlobName, BlobType, ContainerName, Error, Location, PutSource, Store, open};
use batchout_testkit::Azurite;
use bytes::Bytes;

/// A store signed with the emulator's account key.
fn key_store(azurite: &Azurite) -> Arc<dyn Store> {
    open(&azurite.blob_endpoint()).expect("the emulator endpoint opens")
}

/// The key store and a fresh container.
async fn with_key(test: &str) -> Option<(Arc<dyn Store>, ContainerName, ())> {
    let azurite = Azurite::shared()?;
    let store = key_store(azurite);
    let container = fresh_container(&*store, test).await;
    Some((store, container, ()))
}

/// A store opened from nothing but a container SAS URL, for a fresh container
/// created with the key.
async fn with_sas_only(test: &str) -> Option<(Arc<dyn Store>, ContainerName, ())> {
    let azurite = Azurite::shared()?;
    let admin = key_store(azurite);
    let container = fresh_container(&*admin, test).await;
    let expiry = SystemTime::now() + Duration::from_secs(3600);
    let url = admin
        .container_access_url(&container, "racwdl", expiry)
        .await
        .expect("the key signs a SAS");
    let store = open(url.expose()).expect("a SAS URL opens");
    assert_eq!(
        store.capabilities().bound_container.as_ref(),
        Some(&container)
    );
    Some((store, container, ()))
}

mod with_account_key {
    batchout_store::store_conformance_tests!(setup = super::with_key);
}

mod with_sas_only {
    batchout_store::store_conformance_tests!(setup = super::with_sas_only);
}

fn at(container: &ContainerName, name: &str) -> Location {
    Location::new(container.clone(), BlobName::new(name).expect("valid name"))
}

#[tokio::test]
async fn saves_are_block_blobs_and_appends_are_append_blobs() {
    let Some((store, container, ())) = with_key("blob-types").await else {
        return;
    };
    let saved = at(&container, "t1/$TaskOutput/a.txt");
    store
        .put(&saved, PutSource::from("a"), &Default::default())
        .await
        .expect("put");
    assert_eq!(
        store.head(&saved).await.expect("head").blob_type,
        Some(BlobType::Block)
    );

    let log = at(&container, "t1/$TaskLog/stdout.txt");
    store
        .append(&log, Bytes::from_static(b"line 1\n"), 0)
        .await
        .expect("append");
    store
        .append(&log, Bytes::from_static(b"line 2\n"), 7)
        .await
        .expect("append");
    let meta = store.head(&log).await.expect("head");
    assert_eq!(meta.blob_type, Some(BlobType::Append));
    assert_eq!(meta.size, 14);
    let listed = store
        .list_with_delimiter(&container, "t1/$TaskLog/")
        .await
        .expect("list");
    assert_eq!(
        listed.objects[0].blob_type,
        Some(BlobType::Append),
        "listings say so too"
    );
}

#[tokio::test]
async fn large_files_go_up_in_blocks_and_come_back_intact() {
    let Some((store, container, ())) = with_key("blocks").await else {
        return;
    };
    // Above the single-request threshold (32 MiB): uploaded as 8 MiB blocks.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("big.bin");
    let data: Vec<u8> = (0..(40 * 1024 * 1024 + 123))
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&path, &data).expect("write");
    let location = at(&container, "t1/$TaskOutput/big.bin");
    let meta = store
        .put(&location, PutSource::File(path), &Default::default())
        .await
        .expect("put");
    assert_eq!(meta.size, data.len() as u64);
    let back = store
        .get(&location, None)
        .await
        .expect("get")
        .bytes()
        .await
        .expect("read");
    assert!(back == data, "the blob equals the file");
    let middle = store
        .get(&location, Some(9_000_000..9_000_100))
        .await
        .expect("range");
    assert_eq!(
        middle.bytes().await.expect("read"),
        &data[9_000_000..9_000_100]
    );
}

#[tokio::test]
async fn denied_and_missing_are_told_apart() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let admin = key_store(azurite);
    let container = fresh_container(&*admin, "denied").await;
    let location = at(&container, "t1/$TaskOutput/a.txt");
    admin
        .put(&location, PutSource::from("a"), &Default::default())
        .await
        .expect("put");

    let read_only = admin
        .container_access_url(
            &container,
            "r",
            SystemTime::now() + Duration::from_secs(600),
        )
        .await
        .expect("signed");
    let store = open(read_only.expose()).expect("opens");
    assert_eq!(
        store
            .get(&location, None)
            .await
            .expect("read")
            .bytes()
            .await
            .expect("body"),
        "a"
    );
    let err = store
        .put(&location, PutSource::from("b"), &Default::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Denied { .. }), "{err:?}");
    assert!(err.to_string().contains("write needs 'w'"), "{err}");

    let wrong_key = format!(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint={}",
        azurite.blob_endpoint()
    );
    let err = open(&wrong_key)
        .expect("opens")
        .head(&location)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("account key was refused"), "{err}");

    let unreachable = open("http://127.0.0.1:9/devstoreaccount1").expect("opens");
    let err = unreachable.head(&location).await.unwrap_err();
    // Retried, then given up: the last attempt's error is kept, and says why.
    let Error::GaveUp { last, attempts, .. } = &err else {
        panic!("{err:?}");
    };
    assert!(matches!(**last, Error::Unreachable { .. }), "{err:?}");
    assert_eq!(*attempts, 5, "the default attempts");
    assert!(err.is_retryable(), "the condition may pass later");
}

#[tokio::test]
async fn secrets_never_reach_errors_or_debug_output() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let admin = key_store(azurite);
    let container = fresh_container(&*admin, "secrets").await;
    let url = admin
        .container_access_url(
            &container,
            "r",
            SystemTime::now() + Duration::from_secs(600),
        )
        .await
        .expect("signed");
    let signature = url
        .expose()
        .split("sig=")
        .nth(1)
        .expect("a signature")
        .to_owned();
    let store = open(url.expose()).expect("opens");
    let location = at(&container, "t1/$TaskOutput/a.txt");
    let failures = [
        store
            .put(&location, PutSource::from("x"), &Default::default())
            .await
            .map(drop),
        store.head(&location).await.map(drop),
        open(
            &url.expose()
                .replace("127.0.0.1", "127.0.0.2")
                .replace(&azurite.port().to_string(), "9"),
        )
        .expect("opens")
        .head(&location)
        .await
        .map(drop),
    ];
    let key = azurite.key();
    for failure in failures {
        let err = failure.expect_err("each fails");
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(!shown.contains(&signature), "{shown}");
            assert!(!shown.contains(key), "{shown}");
        }
    }
    let shown = format!("{store} {store:?} {url} {url:?} {admin:?}");
    assert!(
        !shown.contains(&signature) && !shown.contains(key),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_append_whose_answer_was_lost_is_not_repeated() {
    use batchout_testkit::{FaultProxy, Matcher, Rules};

    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let proxy = FaultProxy::start(azurite.addr());
    let store =
        open(&proxy.endpoint_for(&azurite.blob_endpoint())).expect("opens through the proxy");
    let container = fresh_container(&*store, "lost-answer").await;
    let log = at(&container, "t1/$TaskLog/stdout.txt");
    store
        .append(&log, Bytes::from_static(b"line 1\n"), 0)
        .await
        .expect("append");

    // The next Append Block reaches the service and is applied, but its answer
    // never comes back: the client retries, the position condition refuses the
    // retry, and the store recognises its own applied block.
    proxy.set_rules(Rules {
        drop_response_fraction: 1.0,
        only_if: Some(Matcher::method("PUT").target_contains("comp=appendblock")),
        fault_budget: Some(1),
        ..Rules::default()
    });
    let length = store
        .append(&log, Bytes::from_static(b"line 2\n"), 7)
        .await
        .expect("append");
    assert_eq!(length, 14);
    assert_eq!(
        proxy.stats().dropped_responses,
        1,
        "the fault really happened"
    );
    store
        .append(&log, Bytes::from_static(b"line 3\n"), 14)
        .await
        .expect("append");
    let stored = store
        .get(&log, None)
        .await
        .expect("get")
        .bytes()
        .await
        .expect("read");
    assert_eq!(
        stored, "line 1\nline 2\nline 3\n",
        "no byte duplicated or lost"
    );
}
