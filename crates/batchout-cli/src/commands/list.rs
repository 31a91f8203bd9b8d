//! `ls`, `jobs` and `tasks`.

use batchout::{JobListing, JobSummary, count_jobs, kind_prefix, scope_prefix};
use futures::TryStreamExt;
use serde::Serialize;

use crate::cli::Target;
use crate::config::{self, Context};
use crate::print::{self, OutputJson, Printer};

/// Lists outputs. Each is shown by its blob name less the listing prefix: the
/// file path for one kind, `$Kind/path` for a task, the whole name for a job.
/// That is also where `download` puts it below `--dest`.
pub async fn ls(
    context: &Context,
    target: &Target,
    kind: Option<&str>,
    printer: &Printer,
) -> anyhow::Result<()> {
    let kind = kind.map(config::kind).transpose()?;
    let (job, scope) = config::scope(target, kind.as_ref())?;
    let outputs = context.outputs(job.clone(), &scope);
    let (prefix, listing) = match &kind {
        Some(kind) => (kind_prefix(&scope, kind)?, outputs.list(kind)),
        None => (scope_prefix(&scope), outputs.list_all()),
    };
    let mut listing = listing;
    let mut rows = Vec::new();
    while let Some(output) = listing.try_next().await? {
        if printer.json() {
            rows.push(OutputJson::new(job.as_str(), &output));
            continue;
        }
        let shown = output
            .blob_name()
            .strip_prefix(&prefix)
            .unwrap_or(output.blob_name());
        let modified = output
            .last_modified()
            .map(print::rfc3339)
            .unwrap_or_else(|| "-".repeat(20));
        printer.line(format!(
            "{:>10}  {modified}  {shown}",
            print::bytes(output.size())
        ))?;
    }
    printer.value(&rows)?;
    Ok(())
}

/// One job as `jobs --json` prints it.
#[derive(Serialize)]
struct JobJson {
    /// The job id; null when it cannot be recovered.
    job: Option<String>,
    /// Whether `job` is the id recorded when the job was prepared.
    recorded: bool,
    container: String,
    outputs: u64,
    bytes: u64,
    tasks: u64,
    /// The latest write of an output, RFC 3339, where known.
    last_modified: Option<String>,
}

/// Lists the store's jobs, counting each one's outputs (a listing of its
/// container each, a few at a time).
pub async fn jobs(context: &Context, printer: &Printer) -> anyhow::Result<()> {
    let counted: Vec<(JobListing, JobSummary)> = count_jobs(&context.store).try_collect().await?;
    let width = counted
        .iter()
        .map(|(listing, _)| listing.shown().len())
        .max()
        .unwrap_or(0);
    let mut rows = Vec::new();
    for (listing, summary) in &counted {
        let modified = summary
            .last_modified
            .map(print::rfc3339)
            .unwrap_or_else(|| "-".repeat(20));
        printer.line(format!(
            "{:<width$}  {:>7} outputs  {:>10}  {modified}  {}",
            listing.shown(),
            summary.outputs,
            print::bytes(summary.bytes),
            listing.container,
        ))?;
        rows.push(JobJson {
            job: listing.job.as_ref().map(ToString::to_string),
            recorded: listing.recorded,
            container: listing.container.to_string(),
            outputs: summary.outputs,
            bytes: summary.bytes,
            tasks: summary.tasks,
            last_modified: summary.last_modified.map(print::rfc3339),
        });
    }
    printer.value(&rows)?;
    Ok(())
}

/// Lists the job's task ids.
pub async fn tasks(context: &Context, job: Option<&str>, printer: &Printer) -> anyhow::Result<()> {
    let job = context.job(config::job_id(job)?);
    let tasks = job.tasks().await?;
    for task in &tasks {
        printer.line(task.as_str())?;
    }
    let ids: Vec<&str> = tasks.iter().map(|t| t.as_str()).collect();
    printer.value(&ids)?;
    Ok(())
}
