//! The thread that reads and hashes a large upload runs below the rest of the
//! process, by what `TransferOptions::nice` says (Linux: nice values are per
//! thread there), watched in `/proc` while a real upload to Azurite is slowed
//! by the fault proxy.
#![cfg(target_os = "linux")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use batchout_store::azure::config::from_url;
use batchout_store::conformance::fresh_container;
use batchout_store::{AzureOptions, AzureStore, BlobName, Location, PutSource, Store};
use batchout_testkit::{Azurite, FaultProxy, Matcher, Rules};

/// The nice value in a `/proc/…/stat` line (its 19th field).
fn nice_in_stat(stat: &str) -> i32 {
    let (_, after_name) = stat.rsplit_once(')').expect("a stat line");
    let nice = after_name.split_whitespace().nth(16).expect("a nice field");
    nice.parse().expect("a number")
}

/// The nice value of this process's first thread.
fn process_nice() -> i32 {
    nice_in_stat(&std::fs::read_to_string("/proc/self/stat").expect("own stat"))
}

/// The nice value of this process's thread named `name`, if there is one now.
fn thread_nice(name: &str) -> Option<i32> {
    for task in std::fs::read_dir("/proc/self/task")
        .expect("own threads")
        .flatten()
    {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end() == name {
            let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
            return Some(nice_in_stat(&stat));
        }
    }
    None
}

/// Uploads a file of 8 blocks, each slowed, one at a time, with `nice`; returns
/// the nice value its reader thread was seen with.
async fn reader_nice_during_upload(nice: u8) -> Option<i32> {
    let azurite = Azurite::shared()?;
    let proxy = FaultProxy::start(azurite.addr());
    let target = from_url(&proxy.endpoint_for(&azurite.blob_endpoint()), &|_| None)
        .expect("the emulator endpoint parses");
    let mut options = AzureOptions::default();
    options.transfer.single_put_max = 256 * 1024;
    options.transfer.block_size = 256 * 1024;
    options.transfer.block_concurrency = 1;
    options.transfer.nice = nice;
    let store: Arc<dyn Store> = Arc::new(AzureStore::new(target, options).expect("a client"));
    let container = fresh_container(&*store, &format!("nice-{nice}")).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("big.bin");
    std::fs::write(&path, vec![7u8; 8 * 256 * 1024]).expect("write");
    // Slow blocks keep the reader waiting for its turn to read the next one.
    proxy.set_rules(Rules {
        delay: Some(Duration::from_millis(150)),
        only_if: Some(Matcher::method("PUT").target_contains("comp=block&")),
        ..Rules::default()
    });
    proxy.reset_stats();
    let location = Location::new(container, BlobName::new("t/big.bin").expect("a name"));
    let upload = {
        let store = Arc::clone(&store);
        let location = location.clone();
        tokio::spawn(async move {
            store
                .put(&location, PutSource::File(path), &Default::default())
                .await
        })
    };
    // The reader lowers itself before it reads: once the first block has
    // reached the proxy, it is lowered, and waiting to read the third.
    let started = Instant::now();
    while proxy.stats().requests == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20) && !upload.is_finished(),
            "no block reached the proxy"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let seen = thread_nice("batchout-upload")
        .expect("a batchout-upload thread while the blocks are slowed");
    let meta = upload
        .await
        .expect("no panic")
        .expect("the upload succeeds");
    assert_eq!(meta.size, 8 * 256 * 1024);
    Some(seen)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_uploads_reader_runs_as_much_lower_as_asked() {
    let own = process_nice();
    let Some(lowered) = reader_nice_during_upload(7).await else {
        return;
    };
    assert_eq!(
        lowered,
        (own + 7).min(19),
        "nice 7 over the process's {own}"
    );
    let Some(same) = reader_nice_during_upload(0).await else {
        return;
    };
    assert_eq!(
        same, own,
        "nice 0 leaves the reader at the process's priority"
    );
    assert_eq!(process_nice(), own, "the process itself is untouched");
}
