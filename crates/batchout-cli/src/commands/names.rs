//! `container-name` and `path`: the naming rules, with no store.

use batchout::{ContainerName, JobId, OutputPath, blob_name, kind_prefix, scope_prefix};
use serde::Serialize;

use crate::cli::Target;
use crate::config;
use crate::exit::UsageError;
use crate::print::Printer;

#[derive(Serialize)]
struct ContainerJson {
    job: String,
    container: String,
}

/// Prints the container name of each job id.
pub fn container_name(jobs: &[String], printer: &Printer) -> anyhow::Result<()> {
    let mut rows = Vec::with_capacity(jobs.len());
    for job in jobs {
        let id = JobId::new(job.as_str()).map_err(UsageError::from_naming)?;
        rows.push(ContainerJson {
            job: job.clone(),
            container: ContainerName::for_job(&id).to_string(),
        });
    }
    for row in &rows {
        printer.line(&row.container)?;
    }
    printer.value(&rows)?;
    Ok(())
}

#[derive(Serialize)]
struct PathJson {
    container: String,
    /// A blob name when a file was given, else a prefix.
    name: String,
}

/// Prints the prefix of a scope and kind, or the blob name of a file.
pub fn path(
    target: &Target,
    kind: Option<&str>,
    file: Option<&str>,
    printer: &Printer,
) -> anyhow::Result<()> {
    let kind = kind.map(config::kind).transpose()?;
    let (job, scope) = config::scope(target, kind.as_ref())?;
    let name = match (kind, file) {
        (Some(kind), Some(file)) => {
            let path = OutputPath::from_local(file).map_err(config::naming)?;
            blob_name(&scope, &kind, &path).map_err(config::naming)?
        }
        (Some(kind), None) => kind_prefix(&scope, &kind).map_err(config::naming)?,
        (None, None) => scope_prefix(&scope),
        (None, Some(_)) => {
            return Err(
                UsageError::new("a file's blob name needs its kind: add --kind KIND").into(),
            );
        }
    };
    printer.line(&name)?;
    printer.value(&PathJson {
        container: ContainerName::for_job(&job).to_string(),
        name,
    })?;
    Ok(())
}
