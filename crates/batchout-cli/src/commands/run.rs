//! `run`: wrap a task's command.

use std::ffi::OsString;
use std::path::PathBuf;

use batchout::runner::{OutputRule, TaskRunner};
use batchout::{Scope, TaskOutputs};

use crate::cli::Target;
use crate::config::{self, Context};
use crate::exit::UsageError;
use crate::print::Printer;
use crate::progress::Meter;

/// The variable Batch sets to the task directory (stdout.txt lives there).
const TASK_DIR_ENV: &str = "AZ_BATCH_TASK_DIR";

/// The arguments of `run`.
pub struct RunRequest<'a> {
    /// The job and task.
    pub target: &'a Target,
    /// The output rules, as given.
    pub rules: &'a [String],
    /// How often the logs are flushed, as given.
    pub interval: &'a str,
    /// How many of the rules' files to upload at once.
    pub concurrency: usize,
    /// The command and its arguments.
    pub command: Vec<OsString>,
}

/// Runs the command and persists its logs and outputs; returns the exit code.
/// Its warnings (a rule that matched nothing) go to the printer, which `-q`
/// silences; they stay in the manifest.
pub async fn run(
    context: &Context,
    request: RunRequest<'_>,
    printer: &Printer,
) -> anyhow::Result<u8> {
    let RunRequest {
        target,
        rules,
        interval,
        concurrency,
        command,
    } = request;
    let (job, scope) = config::scope(target, None)?;
    let Scope::Task(task) = scope else {
        return Err(UsageError::new(
            "run needs a task: pass --task TASK, or set AZ_BATCH_TASK_ID (Batch sets it for every task)",
        )
        .into());
    };
    let rules = rules
        .iter()
        .map(|r| r.parse::<OutputRule>())
        .collect::<Result<Vec<_>, _>>()?;
    let interval = config::interval(interval)?;
    let task_dir = std::env::var_os(TASK_DIR_ENV)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let outputs = TaskOutputs::new(context.store.clone(), job, task);
    // Drawn once the rules' files are planned, after the command has exited,
    // so never over the command's own output.
    let meter = Meter::start(context.progress, "saving outputs");
    let mut runner = TaskRunner::new(outputs, command)?
        .task_dir(task_dir)
        .rules(rules)
        .interval(interval)
        .concurrency(concurrency);
    if let Some(progress) = meter.progress() {
        runner = runner.progress(progress);
    }
    let report = match runner.run().await {
        Ok(report) => report,
        Err(batchout::Error::CannotStart { program, source }) => {
            eprintln!("error: cannot start {}: {source}", program.display());
            // As shells do: 127 for a command not found, 126 for one that
            // cannot be run.
            return Ok(if source.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            });
        }
        Err(e) => return Err(e.into()),
    };
    meter.finish();
    let manifest = &report.manifest;
    for warning in &manifest.warnings {
        printer.warn(format!("batchout: warning: {warning}"));
    }
    for error in &manifest.errors {
        eprintln!("batchout: error: {error}");
    }
    tracing::info!(
        logs = manifest.logs.len(),
        outputs = manifest.outputs.len(),
        exit = report.exit_code(),
        "run finished"
    );
    Ok(u8::try_from(report.exit_code()).unwrap_or(1))
}
