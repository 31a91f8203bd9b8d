//! The S3 backend against S3 servers started by the test harness on
//! loopback. The conformance suite runs unchanged against moto's model of
//! S3 (SeaweedFS lists folder by folder and keeps emptied folders for
//! minutes, where the suite checks S3's own order and listings: decision
//! 0016). What only a real server shows runs against SeaweedFS: signatures
//! checked (a wrong secret, an unknown key), multipart uploads with the
//! full-object CRC-64/NVME the server verifies and keeps, the container's
//! marker, a bucket that is not there.

use std::sync::Arc;

use batchout_store::conformance::fresh_container;
use batchout_store::{
    BlobName, ContainerName, Error, ListOptions, Location, PutSource, Store, StoreSettings,
};
use batchout_testkit::seaweed::{ACCESS_KEY, BUCKET, REGION, SECRET_KEY};
use batchout_testkit::{MotoS3, SeaweedFs};
use bytes::Bytes;
use futures::TryStreamExt;

/// The variables `env` of a server with the `overrides`.
fn lookup(
    env: Vec<(&'static str, String)>,
    overrides: &[(&str, &str)],
) -> impl Fn(&str) -> Option<String> {
    let mut vars: Vec<(String, String)> = env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    vars.push(("HOME".into(), "/nonexistent".into()));
    for (k, v) in overrides {
        vars.retain(|(name, _)| name != k);
        vars.push(((*k).to_owned(), (*v).to_owned()));
    }
    move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// A store on the bucket of the server whose variables are `env`, under
/// `prefix`, with `settings`.
fn store_with(
    env: Vec<(&'static str, String)>,
    prefix: &str,
    overrides: &[(&str, &str)],
    settings: &StoreSettings,
) -> Arc<dyn Store> {
    let env = lookup(env, overrides);
    let target = batchout_store::s3::config::from_url(&format!("s3://{BUCKET}/{prefix}"), &env)
        .expect("the S3 URL opens");
    let options = batchout_store::S3Options::from_settings(settings);
    Arc::new(batchout_store::S3Store::new(target, options).expect("a client"))
}

/// The store of the conformance suite, and a fresh container.
async fn with_s3(test: &str) -> Option<(Arc<dyn Store>, ContainerName, ())> {
    let server = MotoS3::shared()?;
    let store = store_with(server.env(), "conformance", &[], &StoreSettings::default());
    let container = fresh_container(&*store, test).await;
    Some((store, container, ()))
}

mod conformance {
    batchout_store::store_conformance_tests!(setup = super::with_s3);
}

/// With whole reads in parallel ranges, the suite passes too.
async fn with_parallel_reads(test: &str) -> Option<(Arc<dyn Store>, ContainerName, ())> {
    let server = MotoS3::shared()?;
    let settings = StoreSettings::default()
        .with_parallel_reads(true)
        .with_block_size(64 * 1024);
    let store = store_with(server.env(), "parallel", &[], &settings);
    let container = fresh_container(&*store, test).await;
    Some((store, container, ()))
}

mod parallel_reads {
    batchout_store::store_conformance_tests!(setup = super::with_parallel_reads);
}

fn at(container: &ContainerName, name: &str) -> Location {
    Location::new(container.clone(), BlobName::new(name).expect("valid name"))
}

/// Pseudo-random bytes.
fn data(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn large_files_go_up_in_parts_with_a_full_object_checksum_the_server_keeps() {
    let Some(server) = SeaweedFs::shared() else {
        return;
    };
    // Parts of 5 MiB (S3's smallest), a file of 12 MiB + a bit: 3 parts.
    let settings = StoreSettings::default().with_block_size(5 * 1024 * 1024);
    let mut small = settings.transfer();
    small.single_put_max = 6 * 1024 * 1024;
    let env = lookup(server.env(), &[]);
    let target = batchout_store::s3::config::from_url(&format!("s3://{BUCKET}/multipart"), &env)
        .expect("opens");
    let mut options = batchout_store::S3Options::default();
    options.transfer = small;
    let store = batchout_store::S3Store::new(target, options).expect("a client");
    let container = fresh_container(&store, "multipart").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("big.bin");
    let content = data(12 * 1024 * 1024 + 4321);
    std::fs::write(&path, &content).expect("write");
    let location = at(&container, "t1/$TaskOutput/big.bin");
    let meta = store
        .put(&location, PutSource::File(path), &Default::default())
        .await
        .expect("a multipart put");
    let crc = batchout_testkit::crc64nvme(&content);
    assert_eq!(meta.crc64nvme, Some(crc));
    let head = store.head(&location).await.expect("head");
    assert_eq!(head.size, content.len() as u64);
    assert_eq!(
        head.crc64nvme,
        Some(crc),
        "the server keeps the full-object checksum"
    );
    assert!(
        head.etag.as_deref().is_some_and(|e| e.ends_with("-3\"")),
        "three parts: {head:?}"
    );
    let got = store.get(&location, None).await.expect("get");
    assert_eq!(got.meta.crc64nvme, Some(crc), "a whole read gets it back");
    let back = got.verified().bytes().await.expect("verified");
    assert!(back == content, "the object equals the file");
}

/// Appends on a real server: below 5 MiB the object is read and written
/// whole again; from 5 MiB, a multipart upload copies it server-side and
/// adds the new bytes, with the whole CRC-64/NVME the server checks and
/// keeps. Each append is made on the version last seen: a stale position is
/// refused with the length found, and an object replaced at the same length
/// with [`Error::Modified`], both writing nothing.
#[tokio::test(flavor = "multi_thread")]
async fn appends_copy_the_object_past_5_mib_on_its_version() {
    let Some(server) = SeaweedFs::shared() else {
        return;
    };
    let store = store_with(server.env(), "appends", &[], &StoreSettings::default());
    let floor = store
        .capabilities()
        .append_copy_floor
        .expect("S3 appends by copy");
    assert_eq!(floor, 5 * 1024 * 1024);
    let container = fresh_container(&*store, "appends").await;
    let location = at(&container, "t1/$TaskLog/stdout.txt");
    let content = data(7 * 1024 * 1024 + 17);
    let pieces = [
        0..1000,
        1000..3 * 1024 * 1024,
        3 * 1024 * 1024..floor as usize + 10,
        floor as usize + 10..6 * 1024 * 1024,
        6 * 1024 * 1024..content.len(),
    ];
    for piece in pieces {
        let end = store
            .append(
                &location,
                Bytes::copy_from_slice(&content[piece.clone()]),
                piece.start as u64,
            )
            .await
            .expect("append");
        assert_eq!(end, piece.end as u64);
    }
    let head = store.head(&location).await.expect("head");
    assert_eq!(head.size, content.len() as u64);
    assert_eq!(head.crc64nvme, Some(batchout_testkit::crc64nvme(&content)));
    let got = store.get(&location, None).await.expect("get");
    let back = got.verified().bytes().await.expect("verified");
    assert!(back == content, "the appends concatenate");

    // A stale position: the length found, nothing written.
    let stale = store
        .append(&location, Bytes::from_static(b"late"), 1000)
        .await
        .expect_err("stale");
    assert!(
        matches!(stale, Error::AppendPosition { actual, .. } if actual == content.len() as u64),
        "{stale:?}"
    );
    // Replaced by another writer at the same length: not the version seen.
    let other = store_with(server.env(), "appends", &[], &StoreSettings::default());
    let mut changed = content.clone();
    changed[0] ^= 1;
    other
        .put(
            &location,
            PutSource::Bytes(Bytes::from(changed)),
            &Default::default(),
        )
        .await
        .expect("another writer");
    let replaced = store
        .append(&location, Bytes::from_static(b"more"), content.len() as u64)
        .await
        .expect_err("replaced");
    assert!(matches!(replaced, Error::Modified { .. }), "{replaced:?}");
    // Seen afresh (another store), it is appended to.
    let end = other
        .append(&location, Bytes::from_static(b"more"), content.len() as u64)
        .await
        .expect("append on the version seen");
    assert_eq!(end, content.len() as u64 + 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_containers_marker_holds_its_metadata_and_no_listing_shows_it() {
    let Some(server) = SeaweedFs::shared() else {
        return;
    };
    let store = store_with(server.env(), "marker", &[], &StoreSettings::default());
    let container = fresh_container(&*store, "marker").await;
    let mut metadata = batchout_store::ContainerMetadata::new();
    metadata.insert("jobid".into(), "Nightly:Job-7".into());
    assert!(
        !store
            .create_container_with(&container, &metadata)
            .await
            .expect("record")
    );
    let page = store
        .list_page(&container, &ListOptions::default().delimited())
        .await
        .expect("list");
    assert!(
        page.objects.is_empty() && page.prefixes.is_empty(),
        "{page:?}"
    );
    let err = store
        .put(
            &at(&container, ".batchout-container"),
            PutSource::from("x"),
            &Default::default(),
        )
        .await
        .expect_err("the marker's name is the store's");
    assert!(matches!(err, Error::InvalidName { .. }), "{err:?}");
    let listed: Vec<_> = store
        .list_containers()
        .try_collect()
        .await
        .expect("containers");
    let this = listed.iter().find(|c| c.name == container).expect("listed");
    assert_eq!(this.metadata, metadata, "the job id keeps its case");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_bucket_and_a_wrong_secret_are_told_at_once_and_the_secret_never_shows() {
    let Some(server) = SeaweedFs::shared() else {
        return;
    };
    let settings = StoreSettings::default();
    let container = ContainerName::parse("job-anything").expect("valid");
    let env = lookup(server.env(), &[]);
    let target =
        batchout_store::s3::config::from_url("s3://no-such-bucket-here/p", &env).expect("opens");
    let missing = batchout_store::S3Store::new(target, batchout_store::S3Options::default())
        .expect("a client");
    let err = missing
        .create_container(&container)
        .await
        .expect_err("no bucket");
    let text = err.to_string();
    assert!(
        text.contains("NoSuchBucket") && text.contains("does not exist"),
        "{text}"
    );
    assert!(!err.is_retryable(), "{err:?}");

    let wrong = store_with(
        server.env(),
        "p",
        &[("AWS_SECRET_ACCESS_KEY", "not-the-secret")],
        &settings,
    );
    let started = std::time::Instant::now();
    let err = wrong
        .create_container(&container)
        .await
        .expect_err("refused");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "at once"
    );
    assert!(matches!(err, Error::Denied { .. }), "{err:?}");
    let text = format!("{err} {err:?} {wrong:?} {wrong}");
    assert!(text.contains("SignatureDoesNotMatch"), "{text}");
    assert!(text.contains("check AWS_SECRET_ACCESS_KEY"), "{text}");
    assert!(
        !text.contains("not-the-secret") && !text.contains(SECRET_KEY),
        "{text}"
    );

    let unknown = store_with(
        server.env(),
        "p",
        &[("AWS_ACCESS_KEY_ID", "NOSUCHKEYID")],
        &settings,
    );
    let err = unknown
        .create_container(&container)
        .await
        .expect_err("refused");
    assert!(
        err.to_string()
            .contains("NOSUCHKEYID (AWS_ACCESS_KEY_ID) is not known"),
        "{err}"
    );
    let _ = (ACCESS_KEY, REGION);
}

/// A gateway whose certificate a private authority signed (an on-premises
/// MinIO or Ceph): trusted through `AWS_CA_BUNDLE`, as the AWS CLI takes it,
/// and refused without it, at once and saying why.
#[tokio::test(flavor = "multi_thread")]
async fn a_private_authority_is_trusted_through_aws_ca_bundle() {
    let Some(server) = SeaweedFs::start_https() else {
        return;
    };
    let authority = server
        .authority()
        .expect("an HTTPS gateway")
        .display()
        .to_string();
    assert!(server.endpoint().starts_with("https://"));
    let settings = StoreSettings::default();
    let container = ContainerName::parse("job-tls").expect("valid");
    let trusted = store_with(
        server.env(),
        "tls",
        &[("AWS_CA_BUNDLE", &authority)],
        &settings,
    );
    trusted
        .create_container(&container)
        .await
        .expect("made over HTTPS");
    let location = at(&container, "t1/$TaskOutput/a.txt");
    trusted
        .put(
            &location,
            PutSource::Bytes(Bytes::from_static(b"over TLS")),
            &Default::default(),
        )
        .await
        .expect("put");
    let got = trusted.get(&location, None).await.expect("get");
    assert_eq!(got.bytes().await.expect("bytes"), &b"over TLS"[..]);

    let untrusted = store_with(server.env(), "tls", &[], &settings);
    let started = std::time::Instant::now();
    let err = untrusted.head(&location).await.expect_err("not trusted");
    assert!(matches!(err, Error::Untrusted { .. }), "{err:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "not retried"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").expect("write");
    let overrides = [("AWS_CA_BUNDLE", empty.to_str().expect("utf-8"))];
    let env = lookup(server.env(), &overrides);
    let target =
        batchout_store::s3::config::from_url("s3://batchout-test/tls", &env).expect("opens");
    let err = batchout_store::S3Store::new(target, batchout_store::S3Options::default())
        .expect_err("no authority in the file");
    assert!(err.to_string().contains("AWS_CA_BUNDLE names"), "{err}");
}
