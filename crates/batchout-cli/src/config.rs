//! Turns raw arguments and the environment into validated values: ids, kinds,
//! scopes and the store. Commands receive only what this module checked.

use std::sync::Arc;

use batchout::{
    JobId, JobOutputs, NamingError, OutputKind, Outputs, Scope, Setting, Store, StoreSettings,
    TaskId,
};

use crate::cli::{Cli, Target};
use crate::exit::UsageError;

/// The variable Batch sets to the job id of a task.
pub const JOB_ENV: &str = "AZ_BATCH_JOB_ID";
/// The variable Batch sets to the task id of a task.
pub const TASK_ENV: &str = "AZ_BATCH_TASK_ID";

/// The variable that sets how many files move at once when `--concurrency` is
/// not given.
pub const CONCURRENCY_ENV: &str = "BATCHOUT_CONCURRENCY";
/// The variable that turns progress bars off when `0` (or `false`, `no`, `off`).
pub const PROGRESS_ENV: &str = "BATCHOUT_PROGRESS";

/// What every command that touches storage needs.
#[derive(Debug, Clone)]
pub struct Context {
    /// The store named by `--store`, `BATCHOUT_STORE` or the default.
    pub store: Arc<dyn Store>,
    /// Whether a transfer may show a progress bar (see [`progress_wanted`]);
    /// one is drawn only on a terminal.
    pub progress: bool,
    /// Whether downloads sync to disk (`BATCHOUT_SYNC`); unset, by file
    /// system.
    pub sync: Option<bool>,
}

impl Context {
    /// Opens the store, retrying, timing and moving its requests by
    /// `settings`; transfers show progress when `progress`.
    pub fn new(
        store: Option<&str>,
        settings: &StoreSettings,
        progress: bool,
    ) -> anyhow::Result<Self> {
        let store = batchout::open_default_with(store, settings)?;
        let env = |name: &str| from_env(name);
        let sync = settings
            .clone()
            .or(StoreSettings::from_env(&env)?)
            .local
            .sync;
        Ok(Self {
            store,
            progress,
            sync,
        })
    }

    /// The outputs of a job.
    pub fn job(&self, job: JobId) -> JobOutputs {
        JobOutputs::new(self.store.clone(), job)
    }

    /// The outputs of the resolved scope.
    pub fn outputs(&self, job: JobId, scope: &Scope) -> Outputs {
        let outputs = Outputs::new(self.store.clone(), job, scope.clone());
        match self.sync {
            Some(sync) => outputs.sync_downloads(sync),
            None => outputs,
        }
    }
}

/// The store flags (`--retries`, `--timeout`, `--deadline`, `--block-size`,
/// `--block-concurrency`, `--auth`, `--identity-client-id`), parsed as
/// their `BATCHOUT_*` variables are (by
/// [`StoreSettings::set`]), so both accept the same values; what the flags
/// leave unset comes from those variables when the store is opened.
pub fn store_settings(cli: &Cli) -> anyhow::Result<StoreSettings> {
    let mut settings = StoreSettings::default();
    for (flag, setting, text) in [
        ("retries", Setting::Attempts, &cli.retries),
        ("timeout", Setting::Timeout, &cli.timeout),
        ("deadline", Setting::Deadline, &cli.deadline),
        ("block-size", Setting::BlockSize, &cli.block_size),
        (
            "block-concurrency",
            Setting::BlockConcurrency,
            &cli.block_concurrency,
        ),
        ("auth", Setting::Auth, &cli.auth),
        (
            "identity-client-id",
            Setting::IdentityClientId,
            &cli.identity_client_id,
        ),
    ] {
        if let Some(text) = text {
            settings
                .set(setting, text)
                .map_err(|invalid| UsageError::new(format!("--{flag}: {invalid}")))?;
        }
    }
    Ok(settings)
}

/// A flush interval (`--interval`): a duration of at least
/// [`batchout::track::MIN_TRACK_INTERVAL`].
pub fn interval(text: &str) -> anyhow::Result<std::time::Duration> {
    let interval = humantime::parse_duration(text.trim()).map_err(|e| {
        UsageError::new(format!(
            "--interval {text:?} is not a duration ({e}); write it as 15s, 1s or 2m"
        ))
    })?;
    if interval < batchout::track::MIN_TRACK_INTERVAL {
        return Err(UsageError::new(format!(
            "--interval {text:?} is under the minimum of 1s; flushing more often costs requests without making the copy safer"
        ))
        .into());
    }
    Ok(interval)
}

/// How many files move at once: `--concurrency`, else `BATCHOUT_CONCURRENCY`,
/// else [`batchout::DEFAULT_CONCURRENCY`]; a whole number, 1 or more.
pub fn concurrency(flag: Option<&str>) -> anyhow::Result<usize> {
    let (text, source) = match (flag, from_env(CONCURRENCY_ENV)) {
        (Some(text), _) => (text.to_owned(), "--concurrency"),
        (None, Some(text)) => (text, CONCURRENCY_ENV),
        (None, None) => return Ok(batchout::DEFAULT_CONCURRENCY),
    };
    match text.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(UsageError::new(format!(
            "{source}: {text:?} is not a number of files at once; give a whole number, 1 or more (default {})",
            batchout::DEFAULT_CONCURRENCY
        ))
        .into()),
    }
}

/// Whether transfers may show a progress bar: not with `--json` (a script is
/// reading), `-q`, `--no-progress`, or `BATCHOUT_PROGRESS` set to `0`, `false`,
/// `no` or `off`. Even then one is drawn only when standard error is a terminal
/// (see [`crate::progress`]).
pub fn progress_wanted(cli: &Cli) -> bool {
    let off_by_env = from_env(PROGRESS_ENV).is_some_and(|value| {
        matches!(
            value.trim().to_ascii_lowercase().as_str(),
            "0" | "false" | "no" | "off"
        )
    });
    !(cli.json || cli.quiet || cli.no_progress || off_by_env)
}

fn from_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The job id from `--job`, else `AZ_BATCH_JOB_ID`.
pub fn job_id(flag: Option<&str>) -> anyhow::Result<JobId> {
    let id = match flag {
        Some(id) => id.to_owned(),
        None => from_env(JOB_ENV).ok_or_else(|| {
            UsageError::new(format!(
                "no job id: pass --job JOB, or set {JOB_ENV} (Batch sets it for every task)"
            ))
        })?,
    };
    Ok(JobId::new(id).map_err(UsageError::from_naming)?)
}

/// A kind from its text.
pub fn kind(text: &str) -> anyhow::Result<OutputKind> {
    Ok(OutputKind::new(text).map_err(UsageError::from_naming)?)
}

/// The job and scope of a command.
///
/// The kind decides where an env-provided task applies: a job kind
/// (`JobOutput`, `JobPreview`) is always the job's own, even inside a task; a
/// task kind needs a task; a custom kind, or none, is the task's when a task is
/// named (by `--task` or `AZ_BATCH_TASK_ID`) and the job's otherwise.
pub fn scope(target: &Target, kind: Option<&OutputKind>) -> anyhow::Result<(JobId, Scope)> {
    let job = job_id(target.job.as_deref())?;
    if let Some(kind) = kind
        && kind.is_job_kind()
    {
        if target.task.is_some() {
            return Err(UsageError::new(format!(
                "{kind} is a job kind, but --task names a task; drop --task for the job's own outputs, or use a task kind such as TaskOutput"
            ))
            .into());
        }
        return Ok((job, Scope::Job));
    }
    let task = target.task.clone().or_else(|| from_env(TASK_ENV));
    let scope = match task {
        Some(task) => Scope::Task(task_id(&task)?),
        None => Scope::Job,
    };
    if let Some(kind) = kind {
        scope.check_kind(kind).map_err(UsageError::from_naming)?;
    }
    Ok((job, scope))
}

/// The kind given, else the default of the scope: `TaskOutput` for a task,
/// `JobOutput` for the job.
pub fn kind_or_default(
    kind: Option<&str>,
    target: &Target,
) -> anyhow::Result<(JobId, Scope, OutputKind)> {
    let kind = kind.map(self::kind).transpose()?;
    let (job, scope) = scope(target, kind.as_ref())?;
    let kind = kind.unwrap_or(match scope {
        Scope::Job => OutputKind::JobOutput,
        Scope::Task(_) => OutputKind::TaskOutput,
    });
    Ok((job, scope, kind))
}

fn task_id(text: &str) -> anyhow::Result<TaskId> {
    Ok(TaskId::new(text).map_err(UsageError::from_naming)?)
}

/// Maps a naming error found while reading arguments to a usage error.
pub fn naming(error: NamingError) -> anyhow::Error {
    UsageError::from_naming(error).into()
}
