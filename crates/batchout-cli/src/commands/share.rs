//! `sas`: a URL for tasks.

use serde::Serialize;

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
}

/// Prints a container SAS URL for the job.
pub fn sas(
    context: &Context,
    job: Option<&str>,
    expiry: &str,
    permissions: &str,
    printer: &Printer,
) -> anyhow::Result<()> {
    let job = context.job(config::job_id(job)?);
    let valid_for = humantime::parse_duration(expiry).map_err(|e| {
        UsageError::new(format!(
            "--expiry {expiry:?} is not a duration ({e}); write it as 7d, 12h or 90m"
        ))
    })?;
    let url = job.access_url(permissions, valid_for)?;
    printer.line(url.expose())?;
    printer.value(&SasJson {
        job: job.job_id().to_string(),
        container: job.container().to_string(),
        url: url.expose().to_owned(),
        permissions: permissions.to_owned(),
        expiry: print::rfc3339(std::time::SystemTime::now() + valid_for),
    })?;
    Ok(())
}
