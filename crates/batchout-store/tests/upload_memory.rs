//! What a large upload holds in memory, on real servers: at most
//! (block concurrency + 1) blocks of the file, as docs/tuning.md promises,
//! however much faster the disk reads than the server takes. The heap is
//! counted by dhat's allocator, so this binary holds this one test alone.
//!
//! SeaweedFS takes parts slower than a file in the page cache is read, so
//! a reader that ran ahead of its bound would show here: before the bound
//! was held for the whole of each send, an S3 upload held 9 parts where 5
//! were promised.

use std::sync::Arc;

use batchout_store::conformance::fresh_container;
use batchout_store::{
    AzureStore, BlobName, Location, PutOptions, PutSource, S3Options, S3Store, Store, StoreSettings,
};
use batchout_testkit::seaweed::BUCKET;
use batchout_testkit::{Azurite, SeaweedFs};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const BLOCK: u64 = 8 * 1024 * 1024;
const CONCURRENCY: usize = 4;
/// Twelve blocks: many more than are ever in memory at once.
const FILE: u64 = 12 * BLOCK;
/// Beyond the blocks: the HTTP client's buffers, the runtime, the listing
/// of a part or two.
const SLACK: u64 = 4 * 1024 * 1024;

fn settings() -> StoreSettings {
    StoreSettings::default()
        .with_block_size(BLOCK)
        .with_block_concurrency(CONCURRENCY)
}

fn s3(server: &SeaweedFs) -> Arc<dyn Store> {
    let mut env = server.env();
    env.push(("HOME", "/nonexistent".to_owned()));
    let lookup = |name: &str| {
        env.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.clone())
    };
    let target =
        batchout_store::s3::config::from_url(&format!("s3://{BUCKET}/upload-memory"), &lookup)
            .expect("the S3 URL opens");
    let options = S3Options::from_settings(&settings());
    Arc::new(S3Store::new(target, options).expect("a client"))
}

fn azure(azurite: &Azurite) -> Arc<dyn Store> {
    let target = batchout_store::azure::config::from_url(&azurite.blob_endpoint(), &|_| None)
        .expect("the emulator's endpoint opens");
    Arc::new(AzureStore::new(target, settings().azure_options()).expect("a client"))
}

/// Uploads `file` to `store` and returns the most heap held meanwhile, in
/// bytes, counted from just before the upload.
async fn peak_of_upload(store: &dyn Store, test: &str, file: &std::path::Path) -> u64 {
    let container = fresh_container(store, test).await;
    let at = Location::new(container, BlobName::new("big.bin").expect("a valid name"));
    let profiler = dhat::Profiler::builder().testing().build();
    let stored = store
        .put(
            &at,
            PutSource::File(file.to_owned()),
            &PutOptions::default(),
        )
        .await
        .expect("the upload");
    let peak = dhat::HeapStats::get().max_bytes as u64;
    drop(profiler);
    assert_eq!(stored.size, FILE, "the whole file is stored");
    peak
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_upload_holds_at_most_block_concurrency_plus_one_blocks() {
    let (Some(seaweed), Some(azurite)) = (SeaweedFs::shared(), Azurite::shared()) else {
        return;
    };
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("big.bin");
    let bytes: Vec<u8> = (0..FILE)
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&file, &bytes).expect("write the file");
    drop(bytes);

    let bound = (CONCURRENCY as u64 + 1) * BLOCK + SLACK;
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    for (backend, store) in [("S3", s3(seaweed)), ("Azure", azure(azurite))] {
        let peak = peak_of_upload(&*store, &format!("memory-{backend}"), &file).await;
        eprintln!(
            "{backend}: a {} MiB upload peaked at {:.1} MiB of heap",
            mib(FILE),
            mib(peak)
        );
        assert!(
            peak <= bound,
            "{backend}: a {} MiB upload in blocks of {} MiB, {CONCURRENCY} at once, held {:.1} MiB; at most {:.1} MiB were promised",
            mib(FILE),
            mib(BLOCK),
            mib(peak),
            mib(bound)
        );
    }
}
