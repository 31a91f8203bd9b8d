//! Microsoft's PersistOutputs sample, with batchout: a job of eight tasks
//! that persist their outputs, previews and logs by the conventions, one of
//! which fails; then the client's side, which finds every task's outputs by
//! job, task and kind, downloads them, and merges them into the job's own
//! output, checking every byte on the way.
//!
//! ```sh
//! cargo run -p batchout --example persist_outputs -- persist-outputs ./fetched
//! ```
//!
//! The tasks run here as concurrent futures of one process; on Batch each is
//! a task on a node, with [`TaskOutputs::from_env`] in place of
//! [`JobOutputs::task`]. The store is `BATCHOUT_STORE` (a container SAS URL,
//! an Azure account with `AZURE_STORAGE_KEY`, a connection string…), else
//! `./batchout-data`. `scripts/persist-outputs` is the same walk-through with
//! the command line and real processes.

use std::collections::BTreeMap;

use batchout::{JobId, JobOutputs, OutputKind, OutputPath, TaskId, TaskOutputs, open_default};
use futures::TryStreamExt;

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// What frame `n` renders: one line a row.
fn frame(n: usize) -> String {
    (1..=6)
        .map(|row| format!("frame {n} row {row}: {}\n", "#".repeat(n * row)))
        .collect()
}

/// A preview of frame `n`: a bar as tall as the frame's number.
fn preview(n: usize) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"64\" height=\"64\">\
         <rect width=\"64\" height=\"{}\" fill=\"#3a7\"/></svg>\n",
        n * 8
    )
}

/// The task of frame `n`: its log, then its frame and preview; frame 5 runs
/// out of memory half-way, so it stores its partial work and its log, and
/// fails.
async fn render(task: TaskOutputs, n: usize) -> Result<(), Failure> {
    let path = |p: &str| OutputPath::new(p);
    let mut log = format!("rendering frame {n}\n");
    let rendered = frame(n);
    if n == 5 {
        log.push_str("frame 5: out of memory after row 6\n");
        task.save_text(OutputKind::TaskIntermediate, rendered, &path("frame.part")?)
            .await?;
        task.save_text(OutputKind::TaskLog, log, &path("stdout.txt")?)
            .await?;
        return Err("frame 5: out of memory".into());
    }
    task.save_text(
        OutputKind::TaskOutput,
        rendered,
        &path(&format!("frame-{n}.txt"))?,
    )
    .await?;
    task.save_text(
        OutputKind::TaskPreview,
        preview(n),
        &path(&format!("frame-{n}.svg"))?,
    )
    .await?;
    log.push_str(&format!("frame {n} done\n"));
    task.save_text(OutputKind::TaskLog, log, &path("stdout.txt")?)
        .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let mut args = std::env::args().skip(1);
    let (Some(job), Some(dest)) = (args.next(), args.next()) else {
        return Err("usage: persist_outputs JOB DEST".into());
    };
    let job = JobOutputs::new(open_default(None)?, JobId::new(job)?);

    // The client prepares the job's container, then the job's tasks run.
    job.prepare().await?;
    let frames = 8;
    let runs = (1..=frames).map(|n| {
        let task = job.task(TaskId::new(format!("frame-{n}")).expect("a valid task id"));
        async move { (n, render(task, n).await) }
    });
    let mut failed = Vec::new();
    for (n, result) in futures::future::join_all(runs).await {
        if let Err(e) = result {
            println!("task frame-{n} failed: {e}");
            failed.push(n);
        }
    }
    if failed != [5] {
        return Err(format!("expected frame 5 alone to fail, not {failed:?}").into());
    }

    // The client, later: every task's outputs by kind, found by the conventions.
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for task in job.tasks().await? {
        let outputs = job.task(task.clone());
        for kind in outputs.kinds().await? {
            let mut listed = outputs.list(kind.clone());
            while let Some(output) = listed.try_next().await? {
                found
                    .entry(task.to_string())
                    .or_default()
                    .push(format!("{kind}/{}", output.file_path()));
            }
        }
    }
    for (task, outputs) in &found {
        println!("{task}: {}", outputs.join(", "));
    }
    let report = job.download_all(None, &dest).await?;
    println!("downloaded {} outputs to {dest}", report.files.len());

    // Every frame came back as it was rendered; the failed one stored none.
    let mut film = String::new();
    for n in 1..=frames {
        let task = job.task(TaskId::new(format!("frame-{n}"))?);
        let name = OutputPath::new(&format!("frame-{n}.txt"))?;
        if n == 5 {
            if task.get(OutputKind::TaskOutput, &name).await.is_ok() {
                return Err("frame 5 failed, yet stored its frame".into());
            }
            continue;
        }
        let stored = task
            .open(OutputKind::TaskOutput, &name)
            .await?
            .bytes()
            .await?;
        if stored != frame(n).as_bytes() {
            return Err(format!("frame {n} came back changed").into());
        }
        let local = std::fs::read(format!("{dest}/frame-{n}/$TaskOutput/frame-{n}.txt"))?;
        if local != stored {
            return Err(format!("frame {n} downloaded changed").into());
        }
        film.push_str(&String::from_utf8(stored.to_vec())?);
    }

    // The merge: the film, as the job's own output.
    let merged = OutputPath::new("film.txt")?;
    job.save_text(OutputKind::JobOutput, film.clone(), &merged)
        .await?;
    let stored = job
        .open(OutputKind::JobOutput, &merged)
        .await?
        .bytes()
        .await?;
    if stored != film.as_bytes() {
        return Err("the film came back changed".into());
    }
    println!(
        "job output film.txt: {} frames, {} bytes",
        frames - 1,
        stored.len()
    );
    Ok(())
}
