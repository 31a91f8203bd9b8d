//! `sas`: a URL for tasks, and the check that it works.

use std::time::{Duration, SystemTime};

use batchout::{AccessCheck, SecretUrl, StepStatus, StoreSettings};
use serde::Serialize;

use super::sas_check::{self, CheckJson};
use crate::config::{self, Context};
use crate::exit::UsageError;
use crate::print::{self, Printer};

#[derive(Serialize)]
struct SasJson {
    job: String,
    container: String,
    url: String,
    permissions: String,
    expiry: String,
    /// The check of the URL, with `--check`.
    #[serde(skip_serializing_if = "Option::is_none")]
    check: Option<CheckJson>,
}

/// What `sas` was asked for.
pub struct SasRequest<'a> {
    /// `--job`.
    pub job: Option<&'a str>,
    /// `--expiry`.
    pub expiry: &'a str,
    /// `--permissions`.
    pub permissions: &'a str,
    /// `--check`: check the URL made.
    pub check: bool,
    /// `--check-url`: check this URL instead of making one.
    pub check_url: Option<&'a str>,
    /// `--max-task-time`.
    pub max_task_time: Option<&'a str>,
}

/// Prints a container SAS URL for the job, and checks it with `--check`;
/// or, with `--check-url`, checks a URL given. `context` opens the store,
/// which only a URL made needs; `settings` are the store flags.
pub async fn sas(
    context: impl FnOnce() -> anyhow::Result<Context>,
    settings: &StoreSettings,
    request: SasRequest<'_>,
    printer: &Printer,
) -> anyhow::Result<()> {
    let max_task_time = request.max_task_time.map(max_task_time).transpose()?;
    let mut check = AccessCheck::new().settings(settings.clone());
    if let Some(max) = max_task_time {
        check = check.max_task_time(max);
    }
    if let Some(url) = request.check_url {
        return sas_check::check_given(check, url, request.job, printer).await;
    }
    let context = context()?;
    let job = context.job(config::job_id(request.job)?);
    let expiry = request.expiry;
    let valid_for = humantime::parse_duration(expiry).map_err(|e| {
        UsageError::new(format!(
            "--expiry {expiry:?} is not a duration ({e}); write it as 7d, 12h or 90m"
        ))
    })?;
    let now = SystemTime::now();
    let url = job.access_url(request.permissions, valid_for).await?;
    let expires = url.expiry().unwrap_or(now + valid_for);
    if let Some(warning) = shortened(&url, now + valid_for, "--expiry") {
        printer.warn(warning);
    }
    printer.line(url.expose())?;
    let report = if request.check {
        let check = check
            .for_job(job.job_id().clone())
            .cleanup_with(context.store.clone());
        let report = check.check_url(url.expose()).await?;
        sas_check::report_lines(&report)
            .into_iter()
            .for_each(|line| printer.warn(line));
        Some(report)
    } else {
        if let Some(max) = max_task_time {
            let step = batchout::expiry_step(None, Some(expires), Some(max), now);
            if step.status != StepStatus::Passed {
                printer.warn(format!("warning: {} (--expiry)", step.detail));
            }
        }
        None
    };
    printer.value(&SasJson {
        job: job.job_id().to_string(),
        container: job.container().to_string(),
        url: url.expose().to_owned(),
        permissions: request.permissions.to_owned(),
        expiry: print::rfc3339(expires),
        check: report.as_ref().map(CheckJson::new),
    })?;
    match &report {
        Some(report) => sas_check::verdict(report),
        None => Ok(()),
    }
}

/// How much sooner than asked a URL may expire without a word: a user
/// delegation SAS ends 7 days after its key's start, which is set 5 minutes
/// back for clocks that are behind, so the default `--expiry 7d` ends those
/// minutes sooner.
const UNREMARKED: Duration = Duration::from_secs(10 * 60);

/// A warning when `url` expires sooner than `asked` (by more than a few
/// minutes): the store could not sign for so long.
pub fn shortened(url: &SecretUrl, asked: SystemTime, flag: &str) -> Option<String> {
    let expiry = url.expiry()?;
    let short = asked.duration_since(expiry).ok()?;
    (short > UNREMARKED).then(|| {
        format!(
            "warning: the URL expires at {}, not at {} as {flag} asked: a user delegation SAS (signed in with Entra ID) lasts at most 7 days; sign with the account key for a longer one",
            print::rfc3339(expiry),
            print::rfc3339(asked)
        )
    })
}

/// `--max-task-time`: a duration.
fn max_task_time(text: &str) -> anyhow::Result<Duration> {
    Ok(humantime::parse_duration(text.trim()).map_err(|e| {
        UsageError::new(format!(
            "--max-task-time {text:?} is not a duration ({e}); write it as 12h, 2d or 90m"
        ))
    })?)
}
