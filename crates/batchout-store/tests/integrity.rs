//! Integrity of the Azure backend against a real Blob service (Azurite), with
//! the fault proxy between them: per-request checksums the service checks, the
//! CRC-64/NVME (and on request the SHA-256) kept in the blob's metadata, files
//! that change while they are uploaded, and reads resumed after a cut.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use batchout_store::azure::config::from_url;
use batchout_store::conformance::fresh_container;
use batchout_store::{
    AzureOptions, AzureStore, BlobName, ContainerName, Error, Location, PutSource, RequestChecksum,
    Store,
};
use batchout_testkit::{Azurite, Fault, FaultProxy, Matcher, Rules, crc64nvme};
use bytes::Bytes;
use md5::Md5;
use sha2::{Digest, Sha256};

/// A store on `endpoint` with small requests, so a few MiB exercise every kind
/// of upload: one Put Blob up to 1 MiB, else blocks of 256 KiB.
fn small_requests(endpoint: &str) -> Arc<dyn Store> {
    small_requests_checked_by(endpoint, None)
}

/// As [`small_requests`], with a chosen request checksum.
fn small_requests_checked_by(endpoint: &str, checksum: Option<RequestChecksum>) -> Arc<dyn Store> {
    let target = from_url(endpoint, &|_| None).expect("the emulator endpoint parses");
    let mut options = AzureOptions::default();
    options.transfer.single_put_max = 1024 * 1024;
    options.transfer.block_size = 256 * 1024;
    options.checksum = checksum;
    // Parallel ranged reads, as on Azure accounts (the emulator's default is
    // one stream), so reads exercise every range and resume.
    options.transfer.parallel_reads = Some(true);
    Arc::new(AzureStore::new(target, options).expect("a client"))
}

/// Azurite, a proxy in front of it, and a store with small requests through it.
async fn through_proxy(test: &str) -> Option<(FaultProxy, Arc<dyn Store>, ContainerName)> {
    let azurite = Azurite::shared()?;
    let proxy = FaultProxy::start(azurite.addr());
    let store = small_requests(&proxy.endpoint_for(&azurite.blob_endpoint()));
    let container = fresh_container(&*store, test).await;
    Some((proxy, store, container))
}

fn at(container: &ContainerName, name: &str) -> Location {
    Location::new(container.clone(), BlobName::new(name).expect("valid name"))
}

fn sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn content_md5(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(data))
}

/// Bytes that differ everywhere from their neighbours' blocks.
fn data(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_add(seed).wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

async fn read(store: &dyn Store, location: &Location) -> Result<Bytes, Error> {
    store.get(location, None).await?.verified().bytes().await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_upload_request_carries_the_md5_of_its_body() {
    let Some((proxy, store, container)) = through_proxy("md5-sent").await else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let small = data(1000, 1);
    // 11 blocks of 256 KiB, the last of 100 KiB: each request carries the
    // MD5 of its own block.
    let large = data(10 * 256 * 1024 + 100 * 1024, 2);
    let path = dir.path().join("large.bin");
    std::fs::write(&path, &large).expect("write");
    proxy.reset_stats();

    store
        .put(
            &at(&container, "a/small.bin"),
            PutSource::from(small.clone()),
            &Default::default(),
        )
        .await
        .expect("put blob");
    store
        .put(
            &at(&container, "a/large.bin"),
            PutSource::File(path),
            &Default::default(),
        )
        .await
        .expect("put blocks");
    store
        .append(
            &at(&container, "a/log.txt"),
            Bytes::from_static(b"line\n"),
            0,
        )
        .await
        .expect("append");

    let uploads: Vec<_> = proxy
        .log()
        .into_iter()
        .filter(|r| r.method == "PUT" && !r.target.contains("restype=container"))
        .collect();
    let md5_of = |needle: &str| -> Vec<Option<String>> {
        uploads
            .iter()
            .filter(|r| r.target.contains(needle))
            .map(|r| r.content_md5.clone())
            .collect()
    };
    assert_eq!(md5_of("small.bin"), [Some(content_md5(&small))], "Put Blob");
    // Blocks go up several at once, in any order: each block's MD5 once.
    let mut blocks = md5_of("comp=block&");
    let mut expected: Vec<_> = large
        .chunks(256 * 1024)
        .map(|b| Some(content_md5(b)))
        .collect();
    blocks.sort();
    expected.sort();
    assert_eq!(blocks, expected, "Put Block");
    let list = md5_of("comp=blocklist");
    assert!(
        matches!(list.as_slice(), [Some(_)]),
        "Put Block List: {list:?}"
    );
    // The first Append Block finds no blob (404), which is then created.
    let appends = md5_of("comp=appendblock");
    assert!(!appends.is_empty());
    assert!(
        appends
            .iter()
            .all(|md5| *md5 == Some(content_md5(b"line\n"))),
        "Append Block: {appends:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_corrupted_on_the_way_is_refused_by_the_service_and_sent_again() {
    let Some((proxy, store, container)) = through_proxy("md5-once").await else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let large = data(1024 * 1024 + 1, 3);
    let path = dir.path().join("large.bin");
    std::fs::write(&path, &large).expect("write");
    proxy.set_rules(Rules {
        corrupt_request_fraction: 1.0,
        only_if: Some(Matcher::method("PUT").target_contains("comp=block&")),
        fault_budget: Some(2),
        ..Rules::default()
    });
    let location = at(&container, "t/large.bin");
    store
        .put(&location, PutSource::File(path), &Default::default())
        .await
        .expect("stored after the corrupted blocks were sent again");
    assert_eq!(proxy.stats().corrupted_requests, 2, "the fault happened");
    let refused = proxy
        .log()
        .iter()
        .filter(|r| r.fault == Some(Fault::CorruptedRequest) && r.status == Some(400))
        .count();
    assert_eq!(refused, 2, "Azurite refused each corrupted body");
    assert!(read(&*store, &location).await.expect("read") == large);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_corrupted_every_time_fails_clearly_and_stores_nothing() {
    let Some((proxy, store, container)) = through_proxy("md5-always").await else {
        return;
    };
    proxy.set_rules(Rules {
        corrupt_request_fraction: 1.0,
        only_if: Some(Matcher::method("PUT")),
        ..Rules::default()
    });
    let location = at(&container, "t/small.txt");
    let err = store
        .put(&location, PutSource::from("hello"), &Default::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::CorruptedInTransit { .. }), "{err:?}");
    let shown = err.to_string();
    assert!(
        shown.contains("corrupted on the way") && shown.contains("checksum"),
        "{shown}"
    );
    let log = at(&container, "t/log.txt");
    let err = store
        .append(&log, Bytes::from_static(b"line\n"), 0)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::CorruptedInTransit { .. }), "{err:?}");

    proxy.clear_rules();
    assert!(store.head(&location).await.unwrap_err().is_not_found());
    assert_eq!(store.head(&log).await.expect("created empty").size, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn puts_record_the_crc64_of_what_they_sent_and_reads_return_it() {
    let Some((_proxy, store, container)) = through_proxy("crc64").await else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, len) in [("small", 10_000), ("large", 1024 * 1024 + 7), ("empty", 0)] {
        let content = data(len, 4);
        let path = dir.path().join(name);
        std::fs::write(&path, &content).expect("write");
        let location = at(&container, &format!("file/{name}"));
        let meta = store
            .put(&location, PutSource::File(path), &Default::default())
            .await
            .expect("put");
        assert_eq!(meta.crc64nvme, Some(crc64nvme(&content)), "{name}");
        assert_eq!(meta.sha256, None, "SHA-256 only when asked for");
        let head = store.head(&location).await.expect("head");
        assert_eq!((head.crc64nvme, head.sha256), (meta.crc64nvme, None));
        let got = store.get(&location, None).await.expect("get");
        assert_eq!(got.meta.crc64nvme, meta.crc64nvme);
        assert!(got.verified().bytes().await.expect("verified") == content);
    }
    let location = at(&container, "bytes/text.txt");
    let meta = store
        .put(&location, PutSource::from("text"), &Default::default())
        .await
        .expect("put");
    assert_eq!(meta.crc64nvme, Some(crc64nvme(b"text")));
    let log = at(&container, "log/appended.txt");
    store
        .append(&log, Bytes::from_static(b"x"), 0)
        .await
        .expect("append");
    let head = store.head(&log).await.expect("head");
    assert_eq!(
        (head.crc64nvme, head.sha256),
        (None, None),
        "appended blobs carry no whole-content checksum"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn puts_asked_for_it_record_the_sha256_too() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let target =
        from_url(&azurite.blob_endpoint(), &|_| None).expect("the emulator endpoint parses");
    let mut options = AzureOptions::default();
    options.transfer.single_put_max = 1024 * 1024;
    options.transfer.block_size = 256 * 1024;
    options.transfer.sha256 = true;
    let store: Arc<dyn Store> = Arc::new(AzureStore::new(target, options).expect("a client"));
    let container = fresh_container(&*store, "sha256").await;
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, len) in [("small", 10_000), ("large", 1024 * 1024 + 7)] {
        let content = data(len, 7);
        let path = dir.path().join(name);
        std::fs::write(&path, &content).expect("write");
        let location = at(&container, name);
        let meta = store
            .put(&location, PutSource::File(path), &Default::default())
            .await
            .expect("put");
        assert_eq!(meta.sha256.as_deref(), Some(&*sha256(&content)), "{name}");
        assert_eq!(meta.crc64nvme, Some(crc64nvme(&content)), "{name}");
        let head = store.head(&location).await.expect("head");
        assert_eq!((head.crc64nvme, head.sha256), (meta.crc64nvme, meta.sha256));
    }
    let location = at(&container, "text.txt");
    let meta = store
        .put(&location, PutSource::from("text"), &Default::default())
        .await
        .expect("put");
    assert_eq!(meta.sha256.as_deref(), Some(&*sha256(b"text")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_changed_during_a_block_upload_is_never_committed() {
    let Some((proxy, store, container)) = through_proxy("changed").await else {
        return;
    };
    let location = at(&container, "t/big.bin");
    store
        .put(&location, PutSource::from("previous"), &Default::default())
        .await
        .expect("a previous version");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("big.bin");
    std::fs::write(&path, data(8 * 1024 * 1024, 5)).expect("write");
    // Slow blocks: the reader, a few blocks ahead at most, is still reading
    // when the file changes.
    proxy.set_rules(Rules {
        delay: Some(Duration::from_millis(100)),
        only_if: Some(Matcher::method("PUT").target_contains("comp=block&")),
        ..Rules::default()
    });
    proxy.reset_stats();
    let upload = {
        let (store, location, path) = (store.clone(), location.clone(), path.clone());
        tokio::spawn(async move {
            store
                .put(&location, PutSource::File(path), &Default::default())
                .await
        })
    };
    while proxy.stats().requests == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open");
        file.seek(SeekFrom::Start(100)).expect("seek");
        file.write_all(b"changed").expect("write");
    }
    let err = upload.await.expect("no panic").unwrap_err();
    assert!(matches!(err, Error::SourceChanged { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("changed while it was being uploaded"),
        "{err}"
    );
    assert!(
        !proxy
            .log()
            .iter()
            .any(|r| r.target.contains("comp=blocklist")),
        "nothing was committed"
    );
    proxy.clear_rules();
    assert_eq!(
        read(&*store, &location).await.expect("read"),
        "previous",
        "the blob keeps its previous content"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_cut_mid_body_is_resumed_to_the_exact_bytes() {
    let Some((proxy, store, container)) = through_proxy("resume").await else {
        return;
    };
    let content = data(3 * 1024 * 1024 + 11, 6);
    let location = at(&container, "t/cut.bin");
    store
        .put(
            &location,
            PutSource::from(content.clone()),
            &Default::default(),
        )
        .await
        .expect("put");
    proxy.set_rules(Rules {
        cut_body_fraction: 1.0,
        only_if: Some(Matcher::method("GET").target_contains("cut.bin")),
        fault_budget: Some(4),
        ..Rules::default()
    });
    assert!(read(&*store, &location).await.expect("resumed") == content);
    assert_eq!(proxy.stats().cut_bodies, 4, "every cut happened");

    proxy.set_rules(Rules {
        cut_body_fraction: 1.0,
        only_if: Some(Matcher::method("GET").target_contains("cut.bin")),
        fault_budget: Some(2),
        ..Rules::default()
    });
    let range = 1_000_000..2_500_000;
    let part = store
        .get(&location, Some(range.clone()))
        .await
        .expect("get")
        .bytes()
        .await
        .expect("resumed");
    assert!(
        part == content[1_000_000..2_500_000],
        "a range is resumed too"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blob_replaced_while_a_cut_read_resumes_fails_rather_than_splicing() {
    let Some((proxy, store, container)) = through_proxy("replaced").await else {
        return;
    };
    let location = at(&container, "t/cut.bin");
    store
        .put(
            &location,
            PutSource::from(data(2_000_000, 7)),
            &Default::default(),
        )
        .await
        .expect("put");
    proxy.set_rules(Rules {
        cut_body_fraction: 1.0,
        only_if: Some(Matcher::method("GET").target_contains("cut.bin")),
        fault_budget: Some(1),
        ..Rules::default()
    });
    let reading = store.get(&location, None).await.expect("get");
    store
        .put(
            &location,
            PutSource::from(data(2_000_000, 8)),
            &Default::default(),
        )
        .await
        .expect("replaced meanwhile");
    let err = reading.bytes().await.unwrap_err();
    assert!(matches!(err, Error::ChangedDuringRead { .. }), "{err:?}");
    assert!(err.to_string().contains("read it again"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_whole_read_is_one_request_up_to_a_block_and_ranges_beyond() {
    let Some((proxy, store, container)) = through_proxy("read-pattern").await else {
        return;
    };
    let block = 256 * 1024;
    for (name, len) in [
        ("one-block.bin", block),
        ("empty.bin", 0),
        ("many.bin", 13 * block + 11),
    ] {
        let content = data(len, 9);
        let location = at(&container, &format!("t/{name}"));
        store
            .put(
                &location,
                PutSource::from(content.clone()),
                &Default::default(),
            )
            .await
            .expect("put");
        proxy.reset_stats();
        let got = store.get(&location, None).await.expect("get");
        assert_eq!(
            got.meta.size, len as u64,
            "{name}: the size, from the read itself"
        );
        assert!(
            got.verified().bytes().await.expect("read") == content,
            "{name}: intact"
        );
        let log = proxy.log();
        assert!(
            log.iter().all(|r| r.method == "GET"),
            "{name}: no existence check: {log:?}"
        );
        let expected = match len {
            0 => 2, // a range of an empty blob is refused; it is asked for whole
            _ => len.div_ceil(block),
        };
        assert_eq!(log.len(), expected, "{name}: one GET per block: {log:?}");
    }

    // On a path-style endpoint (the emulator) reads default to one stream.
    let target = from_url(&proxy.endpoint_for(&azurite_endpoint()), &|_| None).expect("parses");
    let mut options = AzureOptions::default();
    options.transfer.block_size = block as u64;
    let streaming = AzureStore::new(target, options).expect("a client");
    proxy.reset_stats();
    let location = at(&container, "t/many.bin");
    let got = streaming.get(&location, None).await.expect("get");
    assert!(got.verified().bytes().await.expect("read") == data(13 * block + 11, 9));
    assert_eq!(proxy.stats().requests, 1, "one streamed GET");
}

fn azurite_endpoint() -> String {
    Azurite::shared().expect("running").blob_endpoint()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blob_replaced_between_the_ranges_of_a_read_fails_rather_than_splicing() {
    let Some((_proxy, store, container)) = through_proxy("replaced-ranges").await else {
        return;
    };
    let location = at(&container, "t/ranges.bin");
    let old = data(2_000_000, 10);
    store
        .put(&location, PutSource::from(old), &Default::default())
        .await
        .expect("put");
    // The first range is asked for now; the others once the bytes are read.
    let reading = store.get(&location, None).await.expect("get");
    store
        .put(
            &location,
            PutSource::from(data(2_000_000, 11)),
            &Default::default(),
        )
        .await
        .expect("replaced meanwhile");
    let err = reading.bytes().await.unwrap_err();
    assert!(matches!(err, Error::ChangedDuringRead { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn crc64_checksums_are_the_services_own_and_catch_corruption_on_every_upload_kind() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let proxy = FaultProxy::start(azurite.addr());
    let store = small_requests_checked_by(
        &proxy.endpoint_for(&azurite.blob_endpoint()),
        Some(RequestChecksum::Crc64),
    );
    let container = fresh_container(&*store, "crc64").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let small = data(1000, 12);
    let large = data(1024 * 1024 + 300 * 1024, 13);
    let path = dir.path().join("large.bin");
    std::fs::write(&path, &large).expect("write");
    // Every kind of upload request is corrupted once on the way: the service
    // must refuse each (so it checked the CRC-64 sent), and the retry store it.
    proxy.set_rules(Rules {
        corrupt_request_fraction: 1.0,
        only_if: Some(Matcher::method("PUT").target_contains("comp=block&")),
        fault_budget: Some(1),
        ..Rules::default()
    });
    let (small_at, large_at, log_at) = (
        at(&container, "a/small.bin"),
        at(&container, "a/large.bin"),
        at(&container, "a/log.txt"),
    );
    store
        .put(&large_at, PutSource::File(path), &Default::default())
        .await
        .expect("put blocks");
    proxy.set_rules(Rules {
        corrupt_request_fraction: 1.0,
        only_if: Some(Matcher::method("PUT").target_contains("small.bin")),
        fault_budget: Some(1),
        ..Rules::default()
    });
    store
        .put(
            &small_at,
            PutSource::from(small.clone()),
            &Default::default(),
        )
        .await
        .expect("put blob");
    store
        .append(&log_at, Bytes::from_static(b"line\n"), 0)
        .await
        .expect("append");
    proxy.set_rules(Rules {
        corrupt_request_fraction: 1.0,
        only_if: Some(Matcher::method("PUT").target_contains("comp=appendblock")),
        fault_budget: Some(1),
        ..Rules::default()
    });
    store
        .append(&log_at, Bytes::from_static(b"more\n"), 5)
        .await
        .expect("append");

    let log = proxy.log();
    let refused = log
        .iter()
        .filter(|r| r.fault == Some(Fault::CorruptedRequest))
        .map(|r| r.status)
        .collect::<Vec<_>>();
    assert_eq!(
        refused,
        [Some(400); 3],
        "each corrupted body was refused: {log:#?}"
    );
    assert!(
        log.iter().all(|r| r.content_md5.is_none()),
        "CRC-64 instead of MD5, never both"
    );
    assert!(read(&*store, &large_at).await.expect("read") == large);
    assert!(read(&*store, &small_at).await.expect("read") == small);
    assert_eq!(read(&*store, &log_at).await.expect("read"), "line\nmore\n");
}
