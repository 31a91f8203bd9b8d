//! A job's own output: a task that runs after the others (a job manager, or
//! the last task) reads what every task saved and stores the merge as the
//! job's `JobOutput`, which belongs to no task.
//!
//! ```sh
//! AZ_BATCH_JOB_ID=render-42 cargo run -p batchout --example job_output
//! ```

use batchout::{JobOutputs, OutputKind, OutputPath};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let job = JobOutputs::from_env()?;
    let frame = OutputPath::new("out/frame.txt")?;
    let mut merged = String::new();
    for task in job.tasks().await? {
        let output = job
            .task(task.clone())
            .get(OutputKind::TaskOutput, &frame)
            .await?;
        let bytes = output.bytes().await?;
        merged.push_str(&format!("== {task}\n{}", String::from_utf8_lossy(&bytes)));
    }
    let saved = job
        .save_text(OutputKind::JobOutput, merged, &OutputPath::new("film.txt")?)
        .await?;
    println!("saved {} ({} bytes)", saved.blob_name(), saved.size());
    Ok(())
}
