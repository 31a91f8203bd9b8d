//! `save` and `save-text`.

use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

use batchout::{Output, OutputPath};
use futures::{StreamExt, TryStreamExt, stream};

use crate::cli::Target;
use crate::config::{self, Context};
use crate::exit::UsageError;
use crate::print::{self, OutputJson, Printer};
use crate::progress::Meter;

/// The arguments of `save`.
pub struct SaveRequest<'a> {
    pub target: &'a Target,
    pub kind: Option<&'a str>,
    pub dest: Option<&'a str>,
    pub patterns: &'a [String],
    pub files: &'a [PathBuf],
    /// How many files to store at once.
    pub concurrency: usize,
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
    // Every file is checked before any is stored, so a bad one among many
    // leaves nothing half-saved behind.
    let mut bytes = 0;
    for file in files {
        bytes += check_file(file, dest.is_none())?;
    }
    let meter = Meter::start(context.progress, "saving");
    // Files are planned as they start; the bar shows them all from the start.
    meter.expect(files.len() as u64, bytes);
    let outputs = meter.attach(
        context
            .outputs(job.clone(), &scope)
            .concurrency(request.concurrency),
    );

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
        .buffered(request.concurrency)
        .try_collect()
        .await?;

    let mut unmatched = Vec::new();
    if !patterns.is_empty() {
        let folder = if files.is_empty() {
            dest.as_ref()
        } else {
            None
        };
        let report = match folder {
            Some(folder) => outputs.save_all_under(&kind, patterns, folder).await?,
            None => outputs.save_all(&kind, patterns).await?,
        };
        saved.extend(report.saved.into_iter().map(|file| file.output));
        unmatched = report.unmatched;
    }
    meter.finish();

    for pattern in &unmatched {
        printer.warn(format!("warning: pattern {pattern:?} matched no file"));
    }
    print_saved(printer, job.as_str(), &saved)
}

/// One line per stored output, or their JSON.
fn print_saved(printer: &Printer, job: &str, saved: &[Output]) -> anyhow::Result<()> {
    printer.notes(saved.iter().map(|output| {
        format!(
            "saved {}/{} ({})",
            output.location().container,
            output.blob_name(),
            print::bytes(output.size())
        )
    }))?;
    let rows: Vec<OutputJson> = saved.iter().map(|o| OutputJson::new(job, o)).collect();
    printer.value(&rows)?;
    Ok(())
}

/// Refuses a FILE that cannot be saved: empty, missing, not a regular file,
/// unreadable, or (when it is stored by its own path) not a valid output path.
/// Gives its size.
fn check_file(file: &Path, by_its_path: bool) -> anyhow::Result<u64> {
    let shown = file.display();
    if file.as_os_str().is_empty() {
        return Err(UsageError::new("an empty FILE names no file; give a file's path").into());
    }
    if by_its_path {
        let text = file.to_str().ok_or_else(|| {
            UsageError::new(format!(
                "cannot save {shown}: its path is not valid UTF-8, which blob names must be; rename it or give a destination (--as)"
            ))
        })?;
        OutputPath::from_local(text).map_err(config::naming)?;
    }
    let cannot = |why: String| anyhow::anyhow!("cannot save {shown}: {why}");
    let meta = std::fs::metadata(file).map_err(|e| match e.kind() {
        ErrorKind::NotFound => {
            let cwd = std::env::current_dir().unwrap_or_default();
            cannot(format!(
                "no such file; relative paths are taken from {}",
                cwd.display()
            ))
        }
        _ => cannot(format!("{e}")),
    })?;
    if meta.is_dir() {
        return Err(cannot(format!(
            "it is a directory; save the files in it with --pattern '{}/**'",
            shown
        )));
    }
    if !meta.is_file() {
        return Err(cannot(
            "it is not a regular file (a device, socket or pipe); copy what it holds to a file and save that"
                .into(),
        ));
    }
    std::fs::File::open(file).map_err(|e| match e.kind() {
        ErrorKind::PermissionDenied => cannot(
            "permission denied; make it readable (chmod u+r), or run as a user who can read it"
                .into(),
        ),
        _ => cannot(format!("{e}")),
    })?;
    Ok(meta.len())
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
    print_saved(printer, job.as_str(), &[output])
}
