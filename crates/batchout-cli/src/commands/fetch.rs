//! `get` and `download`.

use std::path::{Path, PathBuf};

use batchout::OutputPath;
use serde::Serialize;

use crate::cli::Target;
use crate::config::{self, Context};
use crate::print::{self, OutputJson, Printer};

/// Fetches one output to a file (atomically) or standard output.
pub async fn get(
    context: &Context,
    target: &Target,
    kind: Option<&str>,
    path: &str,
    destination: Option<PathBuf>,
    printer: &Printer,
) -> anyhow::Result<()> {
    let (job, scope, kind) = config::kind_or_default(kind, target)?;
    let path = OutputPath::destination(path).map_err(config::naming)?;
    let output = context
        .outputs(job.clone(), &scope)
        .get(&kind, &path)
        .await?;
    let file = match destination {
        Some(dest) if dest.as_os_str() == "-" => {
            let mut stdout = tokio::io::stdout();
            output.download_to_writer(&mut stdout).await?;
            return Ok(());
        }
        Some(dest) if dest.is_dir() => dest.join(path.file_name()),
        Some(dest) => dest,
        None => PathBuf::from(path.file_name()),
    };
    let written = output.download_to(&file).await?;
    printer.line(format!(
        "wrote {} to {}",
        print::bytes(written),
        file.display()
    ))?;
    printer.value(&GetJson {
        output: OutputJson::new(job.as_str(), &output),
        file: file.display().to_string(),
    })?;
    Ok(())
}

#[derive(Serialize)]
struct GetJson {
    #[serde(flatten)]
    output: OutputJson,
    file: String,
}

/// Downloads a kind, a task or a whole job into a folder.
pub async fn download(
    context: &Context,
    target: &Target,
    kind: Option<&str>,
    dest: &Path,
    concurrency: usize,
    printer: &Printer,
) -> anyhow::Result<()> {
    let kind = kind.map(config::kind).transpose()?;
    let (job, scope) = config::scope(target, kind.as_ref())?;
    let outputs = context.outputs(job.clone(), &scope);
    let report = outputs
        .download_all(kind.as_ref(), dest, concurrency)
        .await?;
    printer.line(format!(
        "downloaded {} outputs ({}) to {}",
        report.files.len(),
        print::bytes(report.bytes),
        dest.display()
    ))?;
    let rows: Vec<GetJson> = report
        .files
        .iter()
        .map(|(output, file)| GetJson {
            output: OutputJson::new(job.as_str(), output),
            file: file.display().to_string(),
        })
        .collect();
    printer.value(&rows)?;
    Ok(())
}
