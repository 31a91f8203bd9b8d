//! `run`: wrap a task's command.

use std::ffi::OsString;
use std::path::PathBuf;

use batchout::runner::{OutputRule, TaskRunner};
use batchout::{Scope, TaskOutputs};

use crate::cli::Target;
use crate::config::{self, Context};
use crate::exit::UsageError;

/// The variable Batch sets to the task directory (stdout.txt lives there).
const TASK_DIR_ENV: &str = "AZ_BATCH_TASK_DIR";

/// Runs the command and persists its logs and outputs; returns the exit code.
pub async fn run(
    context: &Context,
    target: &Target,
    rules: &[String],
    interval: &str,
    command: Vec<OsString>,
) -> anyhow::Result<u8> {
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
    let interval = humantime::parse_duration(interval).map_err(|e| {
        UsageError::new(format!(
            "--interval {interval:?} is not a duration ({e}); write it as 15s or 1m"
        ))
    })?;
    let task_dir = std::env::var_os(TASK_DIR_ENV)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let outputs = TaskOutputs::new(context.store.clone(), job, task);
    let report = TaskRunner::new(outputs, command)?
        .task_dir(task_dir)
        .rules(rules)
        .interval(interval)
        .run()
        .await?;
    let manifest = &report.manifest;
    for warning in &manifest.warnings {
        eprintln!("batchout: warning: {warning}");
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
