//! `ls`, `jobs` and `tasks`.

use batchout::{
    JobId, JobListing, JobSummary, OutputKind, Scope, TaskId, count_jobs, kind_prefix, scope_prefix,
};
use futures::TryStreamExt;
use serde::Serialize;

use super::spelling;
use crate::cli::Target;
use crate::config::{self, Context};
use crate::print::{self, OutputJson, Printer};

/// Lists outputs. Each is shown by its blob name less the listing prefix: the
/// file path for one kind, `$Kind/path` for a task, the whole name for a job.
/// That is also where `download` puts it below `--dest`. A task whose exact
/// spelling holds nothing is looked for under the other spellings of its id
/// (see [`spelling`]); outputs under several are shown by their whole names.
pub async fn ls(
    context: &Context,
    target: &Target,
    kind: Option<&str>,
    printer: &Printer,
) -> anyhow::Result<()> {
    let kind = kind.map(config::kind).transpose()?;
    let (job, scope) = config::scope(target, kind.as_ref())?;
    let mut rows = Vec::new();
    let listing = Listing {
        context,
        job: &job,
        kind: kind.as_ref(),
        printer,
    };
    let listed = listing.list(&scope, None, false, &mut rows).await?;
    if listed == 0
        && let Scope::Task(asked) = &scope
    {
        let doing = "listing each output by its whole name";
        let found = spelling::elsewhere_warned(context, printer, &job, asked, doing).await?;
        let whole = found.len() > 1;
        for stored in found {
            listing
                .list(&Scope::Task(stored), Some(asked), whole, &mut rows)
                .await?;
        }
    }
    printer.value(&rows)?;
    Ok(())
}

/// One output as `ls --json` prints it.
#[derive(Serialize)]
struct LsJson {
    #[serde(flatten)]
    output: OutputJson,
    /// The task id asked for, when the output is stored under another
    /// spelling of it (`task` is the stored one).
    #[serde(skip_serializing_if = "Option::is_none")]
    asked_task: Option<String>,
}

/// What every listing of one `ls` shares.
struct Listing<'a> {
    context: &'a Context,
    job: &'a JobId,
    kind: Option<&'a OutputKind>,
    printer: &'a Printer,
}

impl Listing<'_> {
    /// Lists `scope`, printing each output (shown by its whole blob name when
    /// `whole`), or gathering its JSON into `rows` with `asked` as the task
    /// asked for; gives how many were listed.
    async fn list(
        &self,
        scope: &Scope,
        asked: Option<&TaskId>,
        whole: bool,
        rows: &mut Vec<LsJson>,
    ) -> anyhow::Result<usize> {
        let outputs = self.context.outputs(self.job.clone(), scope);
        let (prefix, mut listing) = match self.kind {
            Some(kind) => (kind_prefix(scope, kind)?, outputs.list(kind.clone())),
            None => (scope_prefix(scope), outputs.list_all()),
        };
        let mut listed = 0;
        while let Some(output) = listing.try_next().await? {
            listed += 1;
            if self.printer.json() {
                rows.push(LsJson {
                    output: OutputJson::new(self.job.as_str(), &output),
                    asked_task: asked.map(ToString::to_string),
                });
                continue;
            }
            let shown = if whole {
                output.blob_name()
            } else {
                output
                    .blob_name()
                    .strip_prefix(&prefix)
                    .unwrap_or(output.blob_name())
            };
            let modified = output
                .last_modified()
                .map(print::rfc3339)
                .unwrap_or_else(|| "-".repeat(20));
            self.printer.line(format!(
                "{:>10}  {modified}  {shown}",
                print::bytes(output.size())
            ))?;
        }
        Ok(listed)
    }
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
            "{:<width$}  {:>15}  {:>10}  {modified}  {}",
            listing.shown(),
            print::count(summary.outputs, "output"),
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
    for same in spelling::same_but_for_case(&tasks) {
        printer.warn(format!(
            "warning: tasks {} differ only in case: Batch task ids are case-insensitive, so they are one task, its outputs stored under {} spellings",
            spelling::and_list(&same),
            same.len()
        ));
    }
    let ids: Vec<&str> = tasks.iter().map(|t| t.as_str()).collect();
    printer.value(&ids)?;
    Ok(())
}
