//! `sas --check` and `sas --check-url`: the report of an access check, as
//! lines and as JSON, and its verdict. The check itself is the library's
//! ([`batchout::AccessCheck`]).

use std::io::Read;

use batchout::{AccessCheck, AccessReport, StepStatus};
use serde::Serialize;

use crate::config;
use crate::exit::UsageError;
use crate::print::{self, Printer};

/// An access check as JSON.
#[derive(Serialize)]
pub struct CheckJson {
    container: String,
    /// The store, as shown (no signature).
    store: String,
    permissions: Option<String>,
    /// The SAS's expiry, RFC 3339, where it says.
    expiry: Option<String>,
    passed: bool,
    steps: Vec<StepJson>,
    probes: Vec<String>,
    left_behind: Vec<String>,
}

/// One step as JSON.
#[derive(Serialize)]
struct StepJson {
    step: &'static str,
    status: &'static str,
    missing: Option<&'static str>,
    detail: String,
}

impl CheckJson {
    /// The JSON form of a report.
    pub fn new(report: &AccessReport) -> Self {
        Self {
            container: report.container.to_string(),
            store: report.store.clone(),
            permissions: report.permissions.clone(),
            expiry: report.expiry.map(print::rfc3339),
            passed: report.passed(),
            steps: report
                .steps
                .iter()
                .map(|s| StepJson {
                    step: s.step.as_str(),
                    status: s.status.as_str(),
                    missing: s.missing,
                    detail: s.detail.clone(),
                })
                .collect(),
            probes: report.probes.clone(),
            left_behind: report.left_behind.clone(),
        }
    }
}

/// Checks a URL given (`-`: read from standard input), with the job's
/// container expected when the job is named (`--job`, or
/// `AZ_BATCH_JOB_ID`); prints the report on stdout.
pub async fn check_given(
    check: AccessCheck,
    url: &str,
    job: Option<&str>,
    printer: &Printer,
) -> anyhow::Result<()> {
    let url = if url == "-" {
        read_url()?
    } else {
        url.to_owned()
    };
    let named = job.is_some() || std::env::var_os(config::JOB_ENV).is_some_and(|v| !v.is_empty());
    let check = if named {
        check.for_job(config::job_id(job)?)
    } else {
        check
    };
    let report = check.check_url(&url).await?;
    for line in report_lines(&report) {
        printer.line(line)?;
    }
    printer.value(&CheckJson::new(&report))?;
    verdict(&report)
}

/// The first line of standard input, for `--check-url -`.
fn read_url() -> anyhow::Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .take(64 * 1024)
        .read_to_string(&mut text)
        .map_err(|e| UsageError::new(format!("--check-url -: cannot read standard input: {e}")))?;
    let url = text.lines().map(str::trim).find(|l| !l.is_empty());
    match url {
        Some(url) => Ok(url.to_owned()),
        None => Err(UsageError::new(
            "--check-url -: standard input holds no URL; pipe the container SAS URL in",
        )
        .into()),
    }
}

/// The report as lines for people: what was checked, each step, and the
/// outcome.
pub fn report_lines(report: &AccessReport) -> Vec<String> {
    let mut lines = vec![format!(
        "checking {}{}, with nothing else:",
        report.store,
        report
            .permissions
            .as_deref()
            .map(|p| format!(", granting '{p}'"))
            .unwrap_or_default()
    )];
    for step in &report.steps {
        let missing = step
            .missing
            .map(|m| format!("missing {m}: "))
            .unwrap_or_default();
        lines.push(format!(
            "  {:<8} {:<7} {missing}{}",
            step.status.as_str(),
            step.step.as_str(),
            step.detail
        ));
    }
    let warned = report.steps.iter().any(|s| s.status == StepStatus::Warning);
    lines.push(match (report.passed(), warned) {
        (true, false) => "passed: a task with this URL can save, append, read and list its job's outputs".into(),
        (true, true) => "passed, with the warnings above: a task with this URL can save, append, read and list its job's outputs".into(),
        (false, _) => "failed: a task with this URL cannot do all it must (see above)".into(),
    });
    lines
}

/// The exit of a check: an error naming each failed step and what it
/// lacks, when one failed.
pub fn verdict(report: &AccessReport) -> anyhow::Result<()> {
    let failures: Vec<String> = report
        .failures()
        .map(|step| match step.missing {
            Some(missing) => format!("{} (missing {missing})", step.step),
            None => format!("{} ({})", step.step, step.detail),
        })
        .collect();
    if failures.is_empty() {
        return Ok(());
    }
    let fix = if report.failures().any(|s| s.missing.is_some()) {
        "; make a URL with the letters it lacks (batchout sas --permissions racwl)"
    } else {
        ""
    };
    Err(anyhow::anyhow!(
        "the SAS URL of container {} failed its check: {}{fix}",
        report.container,
        failures.join(", ")
    ))
}
