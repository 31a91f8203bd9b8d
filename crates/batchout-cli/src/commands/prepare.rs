//! `prepare`: create the job's output container.

use serde::Serialize;

use crate::config::{self, Context};
use crate::print::Printer;

#[derive(Serialize)]
struct PrepareJson {
    job: String,
    container: String,
    created: bool,
}

/// Creates the job's container if it does not exist.
pub async fn prepare(
    context: &Context,
    job: Option<&str>,
    printer: &Printer,
) -> anyhow::Result<()> {
    let job = context.job(config::job_id(job)?);
    let created = job.prepare().await?;
    let container = job.container().to_string();
    if created {
        printer.note(format!(
            "created container {container} in {}",
            context.store
        ))?;
    } else {
        printer.note(format!(
            "container {container} already exists in {}",
            context.store
        ))?;
    }
    printer.value(&PrepareJson {
        job: job.job_id().to_string(),
        container,
        created,
    })?;
    Ok(())
}
