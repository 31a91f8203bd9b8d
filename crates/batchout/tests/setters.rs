//! The setters of [`JobOutputs`] and [`TaskOutputs`] return the type they are
//! called on, so they chain from a constructor and from each other, and each
//! takes effect: files at once, verification, syncing, progress.

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use batchout::{JobId, JobOutputs, OutputKind, OutputPath, Progress, TaskId, TaskOutputs};
use batchout_store::LocalStore;
use support::Wrapper;

/// 40 files in a folder, and a pattern for them.
fn files(dir: &std::path::Path) -> String {
    let tree = dir.join("tree");
    std::fs::create_dir_all(&tree).expect("a folder");
    for n in 0..40 {
        std::fs::write(tree.join(format!("{n:02}.txt")), format!("{n}\n")).expect("write");
    }
    format!("{}/*.txt", tree.display())
}

/// A local store below `dir` whose puts each take at least 30 ms, so that
/// puts allowed to overlap do.
fn slow_store(dir: &std::path::Path) -> Arc<Wrapper> {
    let local = Arc::new(LocalStore::new(dir.join("store")));
    Arc::new(Wrapper::new(local).slow_puts(Duration::from_millis(30)))
}

#[tokio::test(flavor = "multi_thread")]
async fn setters_return_the_type_they_are_called_on_and_take_effect() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pattern = files(dir.path());
    let slow = slow_store(dir.path());
    let job_id = JobId::new("setters").expect("job id");

    // Each chain's type is named: a setter that returned anything else would
    // not compile.
    let counted = Progress::new();
    let job: JobOutputs = JobOutputs::new(slow.clone(), job_id.clone())
        .concurrency(16)
        .verify(false)
        .sync_downloads(true)
        .progress(counted.clone());
    let report = job
        .save_all(OutputKind::JobOutput, &[&pattern])
        .await
        .expect("saved");
    assert_eq!(report.saved.len(), 40);
    assert_eq!(slow.most_puts_at_once.load(Ordering::SeqCst), 16);
    assert_eq!(counted.snapshot().files_done, 40, "counted");
    let output = &report.saved[0].output;
    assert!(!output.verifies(), "verify(false) reaches the outputs");
    assert_eq!(output.syncs_downloads(), Some(true));

    // A task of the job starts with the job's settings, and its own setters
    // give a TaskOutputs.
    let inherited: TaskOutputs = job.task(TaskId::new("t0").expect("task id"));
    let name = OutputPath::new("note.txt").expect("path");
    let saved = inherited
        .save_text(OutputKind::TaskOutput, "noted", &name)
        .await
        .expect("saved");
    assert!(!saved.verifies() && saved.syncs_downloads() == Some(true));
    let slow = slow_store(dir.path());
    let task: TaskOutputs =
        TaskOutputs::new(slow.clone(), job_id, TaskId::new("t1").expect("task id"))
            .concurrency(3)
            .verify(true);
    let report = task
        .save_all(&OutputKind::TaskOutput, &[&pattern])
        .await
        .expect("saved");
    assert_eq!(report.saved.len(), 40);
    assert_eq!(slow.most_puts_at_once.load(Ordering::SeqCst), 3);
    let output = &report.saved[0].output;
    assert!(output.verifies());
    assert_eq!(output.syncs_downloads(), None, "unset: by file system");

    // Unset, eight at a time.
    let slow = slow_store(dir.path());
    let plain = JobOutputs::new(slow.clone(), JobId::new("plain").expect("job id"));
    plain
        .save_all(OutputKind::JobOutput, &[&pattern])
        .await
        .expect("saved");
    assert_eq!(
        slow.most_puts_at_once.load(Ordering::SeqCst),
        batchout::DEFAULT_CONCURRENCY
    );
}
