//! What [`TaskOutputs::progress`] counts, on the local directory store: every
//! file planned before it moves, done once stored or fetched, and its bytes.

use batchout::{
    JobId, JobOutputs, OutputKind, OutputPath, Progress, ProgressSnapshot, TaskId, TaskOutputs,
};

fn task_outputs(store: &std::path::Path) -> TaskOutputs {
    let store = batchout::open(store.to_str().expect("utf-8 path")).expect("a local store");
    let job = JobOutputs::new(store, JobId::new("progress").expect("job id"));
    job.task(TaskId::new("t1").expect("task id"))
}

fn counts(files: u64, bytes: u64) -> ProgressSnapshot {
    ProgressSnapshot {
        files_total: files,
        files_done: files,
        bytes_total: bytes,
        bytes_done: bytes,
    }
}

#[tokio::test]
async fn saves_and_downloads_count_every_file_and_byte() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).expect("folders");
    for (name, len) in [("a.bin", 10), ("b.bin", 20), ("sub/c.bin", 30)] {
        std::fs::write(tree.join(name), vec![7u8; len]).expect("write");
    }
    let kind = OutputKind::new("TaskOutput").expect("a kind");
    let outputs = task_outputs(&dir.path().join("store"));

    let saving = Progress::new();
    let pattern = format!("{}/**/*", tree.display());
    outputs
        .clone()
        .progress(saving.clone())
        .save_all(&kind, &[pattern])
        .await
        .expect("saved");
    assert_eq!(saving.snapshot(), counts(3, 60));

    let one = Progress::new();
    outputs
        .clone()
        .progress(one.clone())
        .save_as(
            &kind,
            tree.join("a.bin"),
            &OutputPath::new("again.bin").expect("path"),
        )
        .await
        .expect("saved");
    assert_eq!(one.snapshot(), counts(1, 10));

    let fetching = Progress::new();
    outputs
        .clone()
        .progress(fetching.clone())
        .download_all(Some(kind.clone()), dir.path().join("down"))
        .await
        .expect("downloaded");
    assert_eq!(fetching.snapshot(), counts(4, 70));

    let getting = Progress::new();
    let opened = outputs
        .clone()
        .progress(getting.clone())
        .open(&kind, &OutputPath::new("sub/c.bin").expect("path"))
        .await
        .expect("opened");
    assert_eq!(
        getting.snapshot().files_done,
        0,
        "not done before it is read"
    );
    opened
        .download_to(dir.path().join("c.bin"))
        .await
        .expect("written");
    assert_eq!(getting.snapshot(), counts(1, 30));
}
