//! The client that submitted a job, later: which jobs the store holds, what
//! one job's tasks saved, and everything downloaded into a folder.
//!
//! ```sh
//! cargo run -p batchout --example client -- render-42 ./render-42
//! ```
//!
//! The store is `BATCHOUT_STORE` (an Azure account URL with
//! `AZURE_STORAGE_KEY`, a connection string…), else `./batchout-data`.

use batchout::{JobId, JobOutputs, OutputKind, list_jobs, open_default};
use futures::TryStreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(job), Some(dest)) = (args.next(), args.next()) else {
        return Err("usage: client JOB DEST".into());
    };
    let store = open_default(None)?;

    let mut jobs = list_jobs(&store);
    while let Some(listed) = jobs.try_next().await? {
        println!("job {} in {}", listed.shown(), listed.container);
    }

    let job = JobOutputs::new(store, JobId::new(job)?).concurrency(16);
    let summary = job.summary().await?;
    println!(
        "{}: {} outputs of {} tasks, {} bytes",
        job.job_id(),
        summary.outputs,
        summary.tasks,
        summary.bytes
    );
    for task in job.tasks().await? {
        let outputs = job.task(task.clone());
        let mut logs = outputs.list(OutputKind::TaskLog);
        while let Some(log) = logs.try_next().await? {
            // Into a folder of the task's own: a stored name never leaves it.
            let file = log.download_into(format!("{dest}/logs/{task}")).await?;
            println!("log {} -> {}", log.file_path(), file.display());
        }
    }
    let report = job.download_all(None, &dest).await?;
    println!(
        "downloaded {} outputs ({} bytes) to {dest}",
        report.files.len(),
        report.bytes
    );
    Ok(())
}
