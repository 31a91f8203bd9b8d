//! `save` and `save-text`.

use std::io::Read;
use std::path::PathBuf;

use batchout::{Output, OutputPath};
use futures::{StreamExt, TryStreamExt, stream};

use crate::cli::Target;
use crate::config::{self, Context};
use crate::exit::UsageError;
use crate::print::{self, OutputJson, Printer};

/// The arguments of `save`.
pub struct SaveRequest<'a> {
    pub target: &'a Target,
    pub kind: Option<&'a str>,
    pub dest: Option<&'a str>,
    pub patterns: &'a [String],
    pub files: &'a [PathBuf],
}

/// Saves files and pattern matches.
pub async fn save(
    context: &Context,
    request: SaveRequest<'_>,
    printer: &Printer,
) -> anyhow::Result<()> {
    let (job, scope, kind) = config::kind_or_default(request.kind, request.target)?;
    let (files, patterns) = (request.files, request.patterns);
    if files.is_empty() && patterns.is_empty() {
        return Err(UsageError::new("nothing to save: give FILE… or --pattern GLOB").into());
    }
    let dest = request
        .dest
        .map(OutputPath::destination)
        .transpose()
        .map_err(config::naming)?;
    if dest.is_some() && !(files.len() == 1 && patterns.is_empty() || files.is_empty()) {
        return Err(UsageError::new(
            "--as names the destination of one FILE, or the folder of --pattern matches; save several files without --as, or one at a time",
        )
        .into());
    }
    let outputs = context.outputs(job.clone(), &scope);

    let mut saved: Vec<Output> = stream::iter(files.iter())
        .map(|file| {
            let (outputs, kind, dest) = (&outputs, &kind, &dest);
            async move {
                let output = match dest {
                    Some(dest) => outputs.save_as(kind, file, dest).await?,
                    None => outputs.save(kind, file).await?,
                };
                Ok::<_, anyhow::Error>(output)
            }
        })
        .buffered(batchout::DEFAULT_CONCURRENCY)
        .try_collect()
        .await?;

    if !patterns.is_empty() {
        let folder = if files.is_empty() {
            dest.as_ref()
        } else {
            None
        };
        let report = outputs.save_all_under(&kind, patterns, folder).await?;
        for pattern in &report.unmatched {
            eprintln!("warning: pattern {pattern:?} matched no file");
        }
        saved.extend(report.saved.into_iter().map(|file| file.output));
    }

    for output in &saved {
        printer.line(format!(
            "saved {}/{} ({})",
            output.location().container,
            output.blob_name(),
            print::bytes(output.size())
        ))?;
    }
    let rows: Vec<OutputJson> = saved
        .iter()
        .map(|o| OutputJson::new(job.as_str(), o))
        .collect();
    printer.value(&rows)?;
    Ok(())
}

/// Saves text from the command line or standard input.
pub async fn save_text(
    context: &Context,
    target: &Target,
    kind: Option<&str>,
    dest: &str,
    text: Option<String>,
    printer: &Printer,
) -> anyhow::Result<()> {
    let (job, scope, kind) = config::kind_or_default(kind, target)?;
    let dest = OutputPath::destination(dest).map_err(config::naming)?;
    let bytes = match text {
        Some(text) => text.into_bytes(),
        None => {
            let mut buffer = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buffer)
                .map_err(|e| anyhow::anyhow!("cannot read standard input: {e}"))?;
            buffer
        }
    };
    let outputs = context.outputs(job.clone(), &scope);
    let output = outputs.save_bytes(&kind, bytes, &dest).await?;
    printer.line(format!(
        "saved {}/{} ({})",
        output.location().container,
        output.blob_name(),
        print::bytes(output.size())
    ))?;
    printer.value(&[OutputJson::new(job.as_str(), &output)])?;
    Ok(())
}
