//! Tracked files on real stores: a local directory and Azurite. Each scenario
//! runs on both (the Azurite one skips loudly where the emulator is not
//! installed, and fails under CI), and proves that the stored copy is the file,
//! byte for byte, whatever happened on the way: bursts, a crash, an answer lost
//! after an append, a truncating new attempt, the append limit of a blob, a
//! store that cannot append, a store that fails.

mod support;

use std::fs::OpenOptions;
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use batchout::{
    Error, JobId, JobOutputs, OutputKind, OutputPath, Store, TaskId, TaskOutputs, TrackOptions,
    Tracker,
};
use batchout_store::{BlobName, LocalStore, Location};
use batchout_testkit::seaweed::BUCKET;
use batchout_testkit::{Azurite, FaultProxy, Matcher, Rules, SeaweedFs};
use bytes::Bytes;
use support::Wrapper;

/// One scenario's world: a store, a task of a fresh job in it, and a working
/// folder for the tracked files.
struct Case {
    store: Arc<dyn Store>,
    task: TaskOutputs,
    work: tempfile::TempDir,
    _store_dir: Option<tempfile::TempDir>,
}

fn unique_job(kind: &str) -> JobId {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    JobId::new(format!("track-{kind}-{}-{n}", std::process::id())).expect("valid job id")
}

impl Case {
    fn new(store: Arc<dyn Store>, store_dir: Option<tempfile::TempDir>) -> Self {
        let task =
            JobOutputs::new(store.clone(), unique_job("lib")).task(TaskId::new("t1").expect("id"));
        Self {
            store,
            task,
            work: tempfile::tempdir().expect("temp dir"),
            _store_dir: store_dir,
        }
    }

    fn local() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store: Arc<dyn Store> = Arc::new(LocalStore::new(dir.path().join("store")));
        Self::new(store, Some(dir))
    }

    fn azurite() -> Option<Self> {
        let azurite = Azurite::shared()?;
        let store = batchout::open(&azurite.blob_endpoint()).expect("the emulator opens");
        Some(Self::new(store, None))
    }

    /// On SeaweedFS, a real S3 server: appends by copy from 5 MiB, whole
    /// conditional puts below.
    fn s3() -> Option<Self> {
        let server = SeaweedFs::shared()?;
        Some(Self::new(s3_store(&server.env(), &server.endpoint()), None))
    }

    /// The same job and task, seen through another store (a wrapper).
    fn through(&self, store: Arc<dyn Store>) -> TaskOutputs {
        JobOutputs::new(store, self.task.job_id().clone()).task(self.task.task_id().clone())
    }

    fn file(&self) -> PathBuf {
        self.work.path().join("stdout.txt")
    }

    async fn track(&self, options: TrackOptions) -> Tracker {
        track_on(&self.task, &self.file(), options).await
    }

    fn location(&self, name: &str) -> Location {
        Location::new(
            self.task.container().clone(),
            BlobName::new(format!("t1/$TaskLog/{name}")).expect("blob name"),
        )
    }

    /// The stored blob `t1/$TaskLog/NAME`, if it exists.
    async fn blob(&self, name: &str) -> Option<Vec<u8>> {
        match self.store.get(&self.location(name), None).await {
            Ok(got) => Some(got.bytes().await.expect("read").to_vec()),
            Err(e) if e.is_not_found() => None,
            Err(e) => panic!("cannot read {name}: {e}"),
        }
    }

    /// Every part of attempt `stem` (`stdout`, `stdout.2`), concatenated, and
    /// how many parts there are.
    async fn parts(&self, stem: &str) -> (Vec<u8>, usize) {
        let mut all = Vec::new();
        for part in 1.. {
            let name = if part == 1 {
                format!("{stem}.txt")
            } else {
                format!("{stem}.part{part}.txt")
            };
            match self.blob(&name).await {
                Some(bytes) => all.extend(bytes),
                None => return (all, part - 1),
            }
        }
        unreachable!()
    }
}

async fn track_on(task: &TaskOutputs, file: &Path, options: TrackOptions) -> Tracker {
    task.track_as(
        &OutputKind::TaskLog,
        file,
        &OutputPath::new("stdout.txt").expect("path"),
        options,
    )
    .await
    .expect("tracking starts")
}

/// An S3 store on SeaweedFS's bucket, reached at `endpoint` (the server's,
/// or a proxy's in front of it: the signature covers the host named).
fn s3_store(env: &[(&'static str, String)], endpoint: &str) -> Arc<dyn Store> {
    let mut vars: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    vars.retain(|(k, _)| k != "AWS_ENDPOINT_URL");
    vars.push(("AWS_ENDPOINT_URL".into(), endpoint.to_owned()));
    vars.push(("HOME".into(), "/nonexistent".into()));
    let lookup = move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let target = batchout_store::s3::config::from_url(&format!("s3://{BUCKET}/track"), &lookup)
        .expect("the S3 URL opens");
    Arc::new(
        batchout_store::S3Store::new(target, batchout_store::S3Options::default())
            .expect("a client"),
    )
}

/// Runs a scenario on the local store, on Azurite and on SeaweedFS.
macro_rules! on_every_store {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread")]
            async fn local() {
                super::$scenario(super::Case::local()).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn azurite() {
                if let Some(case) = super::Case::azurite() {
                    super::$scenario(case).await;
                }
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn s3() {
                if let Some(case) = super::Case::s3() {
                    super::$scenario(case).await;
                }
            }
        }
    )*};
}

on_every_store!(
    bursts_flushed_between_equal_the_blob,
    a_file_larger_than_one_append_goes_in_chunks_and_resumes_by_its_edges,
    a_crashed_tracker_is_continued_without_a_duplicate_byte,
    an_applied_append_whose_answer_was_lost_is_adopted,
    foreign_bytes_in_the_blob_send_the_file_to_a_new_blob,
    a_truncated_or_rewritten_file_goes_to_the_next_attempt,
    the_append_limit_rolls_over_to_continuation_parts,
    a_failing_flush_is_retried_and_still_reported_by_finish,
    a_file_that_appears_late_is_tracked,
    an_empty_file_is_stored_as_an_empty_blob,
);

/// The manual interval of scenarios that flush explicitly: long enough that
/// no periodic flush interferes.
fn manual() -> TrackOptions {
    TrackOptions::default().with_interval(Duration::from_secs(600))
}

fn lines(range: Range<u32>) -> Vec<u8> {
    range
        .map(|i| format!("line {i:05} of the tracked log\n"))
        .collect::<String>()
        .into_bytes()
}

fn append(path: &Path, bytes: &[u8]) {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open for append");
    file.write_all(bytes).expect("append");
}

async fn bursts_flushed_between_equal_the_blob(case: Case) {
    let tracker = case.track(manual()).await;
    let mut expected = Vec::new();
    for burst in 0..5 {
        let bytes = lines(burst * 100..burst * 100 + 100);
        append(&case.file(), &bytes);
        expected.extend(bytes);
        tracker.flush().await.expect("flush");
        assert_eq!(case.blob("stdout.txt").await.as_ref(), Some(&expected));
    }
    let report = tracker.finish().await.expect("finish");
    assert_eq!(report.blobs, ["t1/$TaskLog/stdout.txt"]);
    assert_eq!(report.bytes, expected.len() as u64);
    assert_eq!((report.rotations, report.resumed_from), (0, 0));
    assert_eq!(std::fs::read(case.file()).expect("read"), expected);
    if case.store.capabilities().max_append_blocks.is_some() {
        // Each flush was one append (Azure counts them as committed blocks).
        let meta = case
            .store
            .head(&case.location("stdout.txt"))
            .await
            .expect("head");
        assert_eq!(meta.append_blocks, Some(5));
    }
}

async fn a_file_larger_than_one_append_goes_in_chunks_and_resumes_by_its_edges(case: Case) {
    let chunk = case.store.capabilities().max_append_size as usize;
    // Two full chunks and a bit: three appends, and a blob over the 8 MiB
    // beyond which resuming compares only the first and last MiB.
    let mut expected: Vec<u8> = (0..2 * chunk + 1000).map(|i| (i * 7 % 251) as u8).collect();
    append(&case.file(), &expected);
    let tracker = case.track(manual()).await;
    tracker.flush().await.expect("flush");
    if case.store.capabilities().max_append_blocks.is_some() {
        let meta = case
            .store
            .head(&case.location("stdout.txt"))
            .await
            .expect("head");
        assert_eq!(meta.append_blocks, Some(3));
    }
    drop(tracker);
    append(&case.file(), b"the end\n");
    expected.extend(b"the end\n");
    let report = case.track(manual()).await.finish().await.expect("finish");
    assert_eq!(report.resumed_from, (2 * chunk + 1000) as u64);
    assert_eq!(report.bytes, 8);
    assert!(
        case.blob("stdout.txt").await == Some(expected),
        "the blob is the file"
    );
}

async fn a_crashed_tracker_is_continued_without_a_duplicate_byte(case: Case) {
    let first = lines(0..300);
    append(&case.file(), &first);
    let tracker = case.track(manual()).await;
    tracker.flush().await.expect("flush");
    // A crash: no finish, no final flush, while the file keeps growing.
    drop(tracker);
    let second = lines(300..600);
    append(&case.file(), &second);

    let tracker = case.track(manual()).await;
    let third = lines(600..700);
    append(&case.file(), &third);
    let report = tracker.finish().await.expect("finish");
    assert_eq!(report.resumed_from, first.len() as u64);
    assert_eq!(report.bytes, (second.len() + third.len()) as u64);
    assert_eq!(report.blobs, ["t1/$TaskLog/stdout.txt"]);
    assert_eq!(report.rotations, 0);
    let expected = [first, second, third].concat();
    assert_eq!(case.blob("stdout.txt").await, Some(expected));
}

async fn an_applied_append_whose_answer_was_lost_is_adopted(case: Case) {
    let first = lines(0..100);
    append(&case.file(), &first);
    let tracker = case.track(manual()).await;
    tracker.flush().await.expect("flush");
    let second = lines(100..200);
    append(&case.file(), &second);
    // The next bytes reach the blob, but the tracker never heard so.
    let half = second.len() / 2;
    case.store
        .append(
            &case.location("stdout.txt"),
            Bytes::copy_from_slice(&second[..half]),
            first.len() as u64,
        )
        .await
        .expect("append behind the tracker's back");
    tracker.flush().await.expect("flush adopts them");
    let report = tracker.finish().await.expect("finish");
    assert_eq!(report.bytes, (first.len() + second.len() - half) as u64);
    assert_eq!(report.rotations, 0);
    assert_eq!(
        case.blob("stdout.txt").await,
        Some([first, second].concat())
    );
}

async fn foreign_bytes_in_the_blob_send_the_file_to_a_new_blob(case: Case) {
    let first = lines(0..100);
    append(&case.file(), &first);
    let tracker = case.track(manual()).await;
    tracker.flush().await.expect("flush");
    case.store
        .append(
            &case.location("stdout.txt"),
            Bytes::from_static(b"not from the file\n"),
            first.len() as u64,
        )
        .await
        .expect("someone else appends");
    let second = lines(100..200);
    append(&case.file(), &second);
    tracker.flush().await.expect("flush");
    let report = tracker.finish().await.expect("finish");
    assert_eq!(report.rotations, 1);
    assert_eq!(
        report.blobs,
        ["t1/$TaskLog/stdout.txt", "t1/$TaskLog/stdout.2.txt"]
    );
    assert_eq!(
        case.blob("stdout.2.txt").await,
        Some([first.clone(), second].concat())
    );
    let old = [first, b"not from the file\n".to_vec()].concat();
    assert_eq!(case.blob("stdout.txt").await, Some(old), "left as it was");
}

async fn a_truncated_or_rewritten_file_goes_to_the_next_attempt(case: Case) {
    let first = lines(0..200);
    append(&case.file(), &first);
    let tracker = case.track(manual()).await;
    tracker.flush().await.expect("flush");

    // A new attempt truncates the file and writes less: it shrank.
    let second = b"attempt 2\n".to_vec();
    std::fs::write(case.file(), &second).expect("rewrite");
    tracker.flush().await.expect("flush");
    assert_eq!(case.blob("stdout.2.txt").await, Some(second.clone()));
    let more = lines(0..10);
    append(&case.file(), &more);
    tracker.flush().await.expect("flush");

    // Another rewrites it longer than before: only its content tells.
    let third = [b"attempt 3\n".to_vec(), lines(0..400)].concat();
    std::fs::write(case.file(), &third).expect("rewrite");
    let report = tracker.finish().await.expect("finish");
    assert_eq!(report.rotations, 2);
    assert_eq!(
        report.blobs,
        [
            "t1/$TaskLog/stdout.txt",
            "t1/$TaskLog/stdout.2.txt",
            "t1/$TaskLog/stdout.3.txt"
        ]
    );
    assert_eq!(
        case.blob("stdout.txt").await,
        Some(first),
        "never touched again"
    );
    assert_eq!(
        case.blob("stdout.2.txt").await,
        Some([second, more].concat())
    );
    assert_eq!(case.blob("stdout.3.txt").await, Some(third));

    // A later tracker of a file that no longer begins with stdout.3.txt starts
    // the next attempt rather than mixing into it.
    let fourth = b"attempt 4\n".to_vec();
    std::fs::write(case.file(), &fourth).expect("rewrite");
    let report = case.track(manual()).await.finish().await.expect("finish");
    assert_eq!((report.rotations, report.resumed_from), (1, 0));
    assert_eq!(report.blobs, ["t1/$TaskLog/stdout.4.txt"]);
    assert_eq!(case.blob("stdout.4.txt").await, Some(fourth));

    // Nor does a longer file whose content differs: compared by content.
    let fifth = [b"attempt 5\n".to_vec(), lines(0..10)].concat();
    std::fs::write(case.file(), &fifth).expect("rewrite");
    let report = case.track(manual()).await.finish().await.expect("finish");
    assert_eq!(report.blobs, ["t1/$TaskLog/stdout.5.txt"]);
    assert_eq!(case.blob("stdout.5.txt").await, Some(fifth));
}

async fn the_append_limit_rolls_over_to_continuation_parts(case: Case) {
    let capped = || manual().with_max_append_blocks(3);
    let tracker = case.track(capped()).await;
    let mut expected = Vec::new();
    for burst in 0..8 {
        let bytes = lines(burst * 10..burst * 10 + 10);
        append(&case.file(), &bytes);
        expected.extend(bytes);
        tracker.flush().await.expect("flush");
    }
    let report = tracker.finish().await.expect("finish");
    assert_eq!(
        report.blobs,
        [
            "t1/$TaskLog/stdout.txt",
            "t1/$TaskLog/stdout.part2.txt",
            "t1/$TaskLog/stdout.part3.txt"
        ]
    );
    let burst = lines(0..10).len();
    assert_eq!(
        case.blob("stdout.txt").await.map(|b| b.len()),
        Some(3 * burst)
    );
    assert_eq!(case.parts("stdout").await, (expected.clone(), 3));

    // Resumed, the chain continues where it ends.
    let tracker = case.track(capped()).await;
    for burst in 8..12 {
        let bytes = lines(burst * 10..burst * 10 + 10);
        append(&case.file(), &bytes);
        expected.extend(bytes);
        tracker.flush().await.expect("flush");
    }
    let report = tracker.finish().await.expect("finish");
    assert_eq!(report.resumed_from, (8 * burst) as u64);
    let (stored, parts) = case.parts("stdout").await;
    assert!(stored == expected, "the parts concatenated are the file");
    assert!((4..=5).contains(&parts), "{parts} parts");
}

async fn a_failing_flush_is_retried_and_still_reported_by_finish(case: Case) {
    let failing = Arc::new(Wrapper::new(case.store.clone()).failing_appends(1));
    let task = case.through(failing.clone());
    let tracker = track_on(
        &task,
        &case.file(),
        TrackOptions::default().with_interval(Duration::from_secs(1)),
    )
    .await;
    let bytes = lines(0..50);
    append(&case.file(), &bytes);
    // The first periodic flush (at 1 s) fails; the second (at 2 s) stores.
    tokio::time::sleep(Duration::from_millis(2600)).await;
    assert_eq!(case.blob("stdout.txt").await, Some(bytes.clone()));
    let err = tracker.finish().await.expect_err("the failure is reported");
    assert!(matches!(err, Error::Track { .. }), "{err:?}");
    assert!(err.described().contains("injected failure"), "{err:?}");
    assert_eq!(
        case.blob("stdout.txt").await,
        Some(bytes),
        "and nothing lost"
    );

    // An explicit flush that fails says so at once, and at the end.
    let failing = Arc::new(Wrapper::new(case.store.clone()).failing_appends(1));
    let task = case.through(failing);
    let tracker = track_on(&task, &case.file(), manual()).await;
    append(&case.file(), b"more\n");
    assert!(tracker.flush().await.is_err());
    tracker.flush().await.expect("the retry stores");
    assert!(tracker.finish().await.is_err());
}

async fn a_file_that_appears_late_is_tracked(case: Case) {
    let tracker = case.track(manual()).await;
    tracker.flush().await.expect("flush of nothing");
    assert_eq!(case.blob("stdout.txt").await, None, "nothing to store yet");
    let bytes = lines(0..10);
    append(&case.file(), &bytes);
    let report = tracker.finish().await.expect("finish");
    assert_eq!(report.bytes, bytes.len() as u64);
    assert_eq!(case.blob("stdout.txt").await, Some(bytes));
}

async fn an_empty_file_is_stored_as_an_empty_blob(case: Case) {
    std::fs::write(case.file(), b"").expect("create");
    let tracker = case.track(manual()).await;
    tracker.flush().await.expect("flush");
    assert_eq!(case.blob("stdout.txt").await, Some(Vec::new()));
    let report = tracker.finish().await.expect("finish");
    assert_eq!(report.blobs, ["t1/$TaskLog/stdout.txt"]);
    // Continued later like any other.
    append(&case.file(), b"late\n");
    let report = case.track(manual()).await.finish().await.expect("finish");
    assert_eq!((report.resumed_from, report.bytes), (0, 5));
    assert_eq!(case.blob("stdout.txt").await, Some(b"late\n".to_vec()));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_periodic_flush_stores_without_being_asked() {
    let case = Case::local();
    let tracker = case
        .track(TrackOptions::default().with_interval(Duration::from_secs(1)))
        .await;
    let bytes = lines(0..10);
    append(&case.file(), &bytes);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(case.blob("stdout.txt").await, Some(bytes));
    tracker.finish().await.expect("finish");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_native_appends_the_whole_file_is_uploaded_again() {
    let case = Case::local();
    let plain = Arc::new(Wrapper::new(case.store.clone()).without_append());
    let task = case.through(plain.clone());
    let tracker = track_on(&task, &case.file(), manual()).await;
    let mut expected = Vec::new();
    for burst in 0..3 {
        let bytes = lines(burst * 10..burst * 10 + 10);
        append(&case.file(), &bytes);
        expected.extend(bytes);
        tracker.flush().await.expect("flush");
        assert_eq!(case.blob("stdout.txt").await.as_ref(), Some(&expected));
    }
    std::fs::write(case.file(), b"rewritten\n").expect("rewrite");
    let report = tracker.finish().await.expect("finish");
    assert_eq!(
        plain.appends.load(Ordering::Relaxed),
        0,
        "append never called"
    );
    assert_eq!(report.rotations, 1);
    assert_eq!(case.blob("stdout.txt").await, Some(expected.clone()));
    assert_eq!(
        case.blob("stdout.2.txt").await,
        Some(b"rewritten\n".to_vec())
    );

    // Resumed: the stored copy is kept, and replaced as the file grows.
    append(&case.file(), b"more\n");
    let report = track_on(&task, &case.file(), manual())
        .await
        .finish()
        .await
        .expect("finish");
    assert_eq!((report.resumed_from, report.bytes), (10, 5));
    assert_eq!(
        case.blob("stdout.2.txt").await,
        Some(b"rewritten\nmore\n".to_vec())
    );
}

#[tokio::test]
async fn an_interval_under_a_second_is_refused() {
    let case = Case::local();
    let err = case
        .task
        .track_as(
            &OutputKind::TaskLog,
            case.file(),
            &OutputPath::new("stdout.txt").expect("path"),
            TrackOptions::default().with_interval(Duration::from_millis(500)),
        )
        .await
        .expect_err("too short");
    assert!(err.is_invalid_input(), "{err:?}");
    assert!(err.to_string().contains("minimum of 1s"), "{err}");
}

/// Pseudo-random log lines of about `len` bytes, numbered from `from`.
fn log_bytes(from: u32, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 100);
    let mut i = from;
    while out.len() < len {
        out.extend_from_slice(
            format!(
                "line {i:08} {:016x} of a log that grows past the copy floor\n",
                u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            )
            .as_bytes(),
        );
        i += 1;
    }
    out
}

/// What one flush sent through the proxy: requests by kind, and bytes.
fn sent(proxy: &FaultProxy) -> (Vec<String>, u64) {
    let log = proxy.log();
    let kinds = log
        .iter()
        .map(|r| {
            let what = if r.target.contains("uploads") {
                "CreateMultipartUpload"
            } else if r.target.contains("partNumber") && r.method == "PUT" {
                "UploadPart"
            } else if r.target.contains("uploadId") && r.method == "POST" {
                "CompleteMultipartUpload"
            } else {
                &r.method
            };
            what.to_owned()
        })
        .collect();
    let bytes = log.iter().filter_map(|r| r.body_len).sum();
    (kinds, bytes)
}

/// On S3, a tracked log below 5 MiB is put whole at each flush; from 5 MiB,
/// each flush sends only its new bytes (a multipart upload that copies the
/// stored object server-side), and the stored object is the file, with its
/// whole CRC-64/NVME checked on the way back.
#[tokio::test(flavor = "multi_thread")]
async fn s3_flushes_past_the_copy_floor_send_only_the_new_bytes() {
    let Some(server) = SeaweedFs::shared() else {
        return;
    };
    let proxy = FaultProxy::start(server.addr());
    let store = s3_store(&server.env(), &proxy.endpoint_for(&server.endpoint()));
    let case = Case::new(store, None);
    let step = 1536 * 1024;
    let mut from = 0;
    let mut expected = Vec::new();
    let tracker = case.track(manual()).await;
    let mut figures = Vec::new();
    for flush in 0..8 {
        let grown = log_bytes(from, step);
        from += 100_000;
        append(&case.file(), &grown);
        expected.extend_from_slice(&grown);
        proxy.reset_stats();
        tracker.flush().await.expect("flush");
        let (kinds, bytes) = sent(&proxy);
        let before = expected.len() - grown.len();
        figures.push(format!(
            "flush {flush}: stored {before} -> {} B, sent {bytes} B in {kinds:?}",
            expected.len()
        ));
        if before >= 5 * 1024 * 1024 {
            // The new bytes and the completion's list, nothing of the old.
            assert!(
                bytes >= grown.len() as u64 && bytes < grown.len() as u64 + 4096,
                "{}",
                figures.join("\n")
            );
            assert_eq!(
                kinds,
                [
                    "CreateMultipartUpload",
                    "UploadPart",
                    "UploadPart",
                    "CompleteMultipartUpload"
                ],
                "{}",
                figures.join("\n")
            );
        } else if before > 0 {
            // Below the floor: the whole file again, one conditional put
            // (and, after an append, one HEAD for its version).
            assert!(bytes >= expected.len() as u64, "{}", figures.join("\n"));
            assert!(
                bytes < expected.len() as u64 + 4096,
                "{}",
                figures.join("\n")
            );
        }
    }
    let report = tracker.finish().await.expect("finish");
    assert_eq!(report.bytes, expected.len() as u64);
    assert_eq!(report.rotations, 0);
    let got = case
        .store
        .get(&case.location("stdout.txt"), None)
        .await
        .expect("read");
    // Read with the whole CRC-64/NVME the object records checked.
    let stored = got.verified().bytes().await.expect("read").to_vec();
    assert!(stored == expected, "the stored log is the file");
    let meta = case
        .store
        .head(&case.location("stdout.txt"))
        .await
        .expect("head");
    assert_eq!(
        meta.crc64nvme,
        Some(batchout_testkit::crc64nvme(&expected)),
        "the object records the file's CRC-64/NVME"
    );
    let _ = writeln!(std::io::stderr(), "{}", figures.join("\n"));
}

/// A completion applied whose answer was lost (and one lost copy answer),
/// on a log past the copy floor: the retry finds the object already the
/// expected length and checksum and goes on; nothing is stored twice. Then
/// a crash and a restart continue the same object exactly.
#[tokio::test(flavor = "multi_thread")]
async fn s3_a_lost_completion_and_a_crash_leave_the_log_exact() {
    let Some(server) = SeaweedFs::shared() else {
        return;
    };
    let proxy = FaultProxy::start(server.addr());
    let store = s3_store(&server.env(), &proxy.endpoint_for(&server.endpoint()));
    let case = Case::new(store, None);
    let first = log_bytes(0, 6 * 1024 * 1024);
    append(&case.file(), &first);
    let tracker = case.track(manual()).await;
    tracker.flush().await.expect("flush");
    let second = log_bytes(200_000, 300_000);
    append(&case.file(), &second);
    proxy.set_rules(Rules {
        drop_response_fraction: 1.0,
        only_if: Some(Matcher::method("POST").target_contains("uploadId=")),
        fault_budget: Some(1),
        ..Rules::default()
    });
    tracker
        .flush()
        .await
        .expect("flush despite the lost answer");
    assert_eq!(proxy.stats().dropped_responses, 1);
    proxy.clear_rules();
    // A crash, while the file grows.
    drop(tracker);
    let third = log_bytes(400_000, 200_000);
    append(&case.file(), &third);
    let tracker = case.track(manual()).await;
    let report = tracker.finish().await.expect("finish");
    assert_eq!(report.resumed_from, (first.len() + second.len()) as u64);
    assert_eq!(report.bytes, third.len() as u64);
    assert_eq!(report.rotations, 0);
    let expected = [first, second, third].concat();
    assert!(
        case.blob("stdout.txt").await == Some(expected),
        "the stored log is the file"
    );
}

/// Two writers of different files on one S3 object: the one whose
/// conditional write loses (`If-Match` on the version it last wrote) is told
/// another writer is at work and stores its file from the start in the next
/// attempt; neither object mixes the two.
#[tokio::test(flavor = "multi_thread")]
async fn s3_a_second_writer_never_splices_into_the_first() {
    let Some(case) = Case::s3() else {
        return;
    };
    let other = case.work.path().join("other.txt");
    let mine = log_bytes(0, 1000);
    let theirs = log_bytes(900_000, 1000);
    append(&case.file(), &mine);
    append(&other, &theirs);
    let first = case.track(manual()).await;
    first.flush().await.expect("flush");
    // A second tracker of another file on the same output, started while
    // the first one's copy is there: it does not begin with it.
    let second = track_on(&case.task, &other, manual()).await;
    second.flush().await.expect("flush");
    // The first writes on: it had the blob alone.
    append(&case.file(), &log_bytes(1000, 500));
    append(&other, &log_bytes(901_000, 500));
    first.flush().await.expect("flush");
    second.flush().await.expect("flush");
    let mine_report = first.finish().await.expect("finish");
    let theirs_report = second.finish().await.expect("finish");
    assert_eq!(mine_report.blobs, ["t1/$TaskLog/stdout.txt"]);
    assert_eq!(theirs_report.blobs, ["t1/$TaskLog/stdout.2.txt"]);
    assert_eq!(
        case.blob("stdout.txt").await,
        Some(std::fs::read(case.file()).expect("read"))
    );
    assert_eq!(
        case.blob("stdout.2.txt").await,
        Some(std::fs::read(&other).expect("read"))
    );

    // A writer whose version was replaced under it, at the same length:
    // its conditional put fails (Modified), and it moves on.
    let store = case.store.clone();
    let at = case.location("stdout.txt");
    let len = store.head(&at).await.expect("head").size;
    let third = track_on(&case.task, &case.file(), manual()).await;
    store
        .put(
            &at,
            batchout_store::PutSource::Bytes(Bytes::from(vec![
                b'x';
                usize::try_from(len).expect("small")
            ])),
            &Default::default(),
        )
        .await
        .expect("someone replaces the object");
    append(&case.file(), b"more\n");
    third.flush().await.expect("flush");
    let report = third.finish().await.expect("finish");
    assert_eq!(report.rotations, 1, "{report:?}");
    assert_eq!(
        case.blob("stdout.3.txt").await,
        Some(std::fs::read(case.file()).expect("read"))
    );
}
