//! A task's code, as Batch runs it: everything comes from the environment
//! Batch sets (`AZ_BATCH_JOB_ID`, `AZ_BATCH_TASK_ID`) and the store from
//! `BATCHOUT_STORE` (a container SAS URL, on a real pool), else
//! `./batchout-data`.
//!
//! It renders a "frame", tracking its log while it works, then saves the
//! result and a preview:
//!
//! ```sh
//! AZ_BATCH_JOB_ID=render-42 AZ_BATCH_TASK_ID=frame-7 cargo run -p batchout --example task
//! ```

use std::io::Write;
use std::time::Duration;

use batchout::{OutputKind, OutputPath, TaskOutputs, TrackOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let task = TaskOutputs::from_env()?;
    println!("task {} of job {}", task.task_id(), task.job_id());

    // The log is mirrored while the work runs: if the node died now, what
    // was written so far would already be stored.
    let options = TrackOptions::default().with_interval(Duration::from_secs(1));
    let tracker = task
        .track(OutputKind::TaskLog, "render.log", options)
        .await?;
    let mut log = std::fs::File::create("render.log")?;
    std::fs::create_dir_all("out")?;
    let mut frame = String::new();
    for row in 0..8 {
        frame.push_str(&format!("row {row}: {}\n", "#".repeat(row + 1)));
        writeln!(log, "rendered row {row}")?;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    std::fs::write("out/frame.txt", &frame)?;
    writeln!(log, "done")?;
    // The final flush is explicit, and reports any byte that could not be
    // stored.
    let stored = tracker.finish().await?;
    println!("log stored: {} bytes in {:?}", stored.bytes, stored.blobs);

    let saved = task.save(OutputKind::TaskOutput, "out/frame.txt").await?;
    println!("saved {}", saved.blob_name());
    let preview = format!("{}…\n", frame.lines().next().unwrap_or_default());
    let preview = task
        .save_text(
            OutputKind::TaskPreview,
            preview,
            &OutputPath::new("frame.txt")?,
        )
        .await?;
    println!("saved {}", preview.blob_name());
    Ok(())
}
