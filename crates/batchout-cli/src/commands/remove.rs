//! `rm`.

use batchout::OutputPath;
use serde::Serialize;

use crate::cli::Target;
use crate::config::{self, Context};
use crate::print::Printer;

#[derive(Serialize)]
struct RemoveJson {
    deleted: usize,
}

/// Deletes named outputs, or every output in scope with `--all`.
pub async fn rm(
    context: &Context,
    target: &Target,
    kind: Option<&str>,
    all: bool,
    paths: &[String],
    printer: &Printer,
) -> anyhow::Result<()> {
    let deleted = if all {
        let kind = kind.map(config::kind).transpose()?;
        let (job, scope) = config::scope(target, kind.as_ref())?;
        context
            .outputs(job, &scope)
            .delete_all(kind.clone())
            .await?
    } else {
        let (job, scope, kind) = config::kind_or_default(kind, target)?;
        let outputs = context.outputs(job, &scope);
        let mut checked = Vec::with_capacity(paths.len());
        for path in paths {
            checked.push(OutputPath::destination(path).map_err(config::naming)?);
        }
        for path in &checked {
            let output = outputs.get(&kind, path).await?;
            output.delete().await?;
            printer.note(format!("deleted {}", output.blob_name()))?;
        }
        checked.len()
    };
    if all {
        printer.note(format!(
            "deleted {}",
            crate::print::count(deleted as u64, "output")
        ))?;
    }
    printer.value(&RemoveJson { deleted })?;
    Ok(())
}
