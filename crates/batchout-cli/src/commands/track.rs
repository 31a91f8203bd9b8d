//! `track`: runs a command while a file it writes (a log) is mirrored to an
//! output, live, so that what it wrote survives the node even if it never
//! finishes. The behaviour is the library's ([`batchout::track`]); this only
//! runs the command (signals forwarded to it, as `run` does) and picks the exit
//! code.

use std::ffi::OsString;
use std::path::Path;

use batchout::{OutputPath, TrackOptions, TrackReport};
use serde::Serialize;

use crate::cli::Target;
use crate::config::{self, Context};
use crate::exit::{self, UsageError};
use crate::print::Printer;

/// The arguments of `track`.
pub struct TrackRequest<'a> {
    pub target: &'a Target,
    pub kind: Option<&'a str>,
    pub dest: Option<&'a str>,
    pub interval: &'a str,
    pub file: &'a Path,
    pub command: &'a [OsString],
}

/// Runs the command, tracking the file; returns the exit code: the command's
/// own (128 + N if a signal N killed it), or [`exit::PERSIST_FAILED`] if it
/// succeeded but the file could not all be stored.
pub async fn track(
    context: &Context,
    request: TrackRequest<'_>,
    printer: &Printer,
) -> anyhow::Result<u8> {
    let (job, scope, kind) = config::kind_or_default(request.kind, request.target)?;
    let file = request.file;
    let dest = match request.dest {
        Some(dest) => OutputPath::destination(dest),
        None => {
            let text = file.to_str().ok_or_else(|| {
                UsageError::new(format!(
                    "{} is not valid UTF-8, which blob names must be; give --as DEST",
                    file.display()
                ))
            })?;
            OutputPath::from_local(text)
        }
    }
    .map_err(config::naming)?;
    let interval = config::interval(request.interval)?;
    let Some((program, args)) = request.command.split_first() else {
        return Err(UsageError::new(
            "no command to run: give it after --, as in `track FILE -- CMD ARGS…`",
        )
        .into());
    };

    if file.is_dir() {
        return Err(UsageError::new(format!(
            "{} is a directory; track a file (the log the command writes), which need not exist yet",
            file.display()
        ))
        .into());
    }

    let outputs = context.outputs(job.clone(), &scope);
    let options = TrackOptions::default().with_interval(interval);
    let tracker = outputs.track_as(&kind, file, &dest, options).await?;
    let mut child = match tokio::process::Command::new(program).args(args).spawn() {
        Ok(child) => child,
        Err(e) => {
            let tracked = tracker.finish().await;
            if let Err(e) = tracked {
                eprintln!("error: {}", exit::describe(&e.into()));
            }
            eprintln!("error: cannot run {}: {e}", program.to_string_lossy());
            // As shells do: 127 for a command not found, 126 for one that
            // cannot be run.
            return Ok(if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            });
        }
    };
    let exit = batchout::runner::supervise(&mut child, &[&tracker]).await?;
    let code = u8::try_from(exit.code()).unwrap_or(exit::FAILURE);
    let (code, report) = match tracker.finish().await {
        Ok(report) => (code, Some(report)),
        Err(e) => {
            eprintln!("error: {}", exit::describe(&e.into()));
            (
                if code == exit::SUCCESS {
                    exit::PERSIST_FAILED
                } else {
                    code
                },
                None,
            )
        }
    };
    if let Some(report) = &report {
        tracing::info!(file = %file.display(), blobs = ?report.blobs, bytes = report.bytes, "tracked");
    }
    printer.value(&TrackJson::new(job.as_str(), file, code, report.as_ref()))?;
    Ok(code)
}

/// What `track --json` prints once the command has ended.
#[derive(Serialize)]
struct TrackJson {
    job: String,
    file: String,
    exit_code: u8,
    /// Whether the whole file was stored.
    stored: bool,
    blobs: Vec<String>,
    bytes: u64,
    rotations: u32,
    resumed_from: u64,
}

impl TrackJson {
    fn new(job: &str, file: &Path, exit_code: u8, report: Option<&TrackReport>) -> Self {
        let empty = TrackReport::default();
        let r = report.unwrap_or(&empty);
        Self {
            job: job.to_owned(),
            file: file.display().to_string(),
            exit_code,
            stored: report.is_some(),
            blobs: r.blobs.clone(),
            bytes: r.bytes,
            rotations: r.rotations,
            resumed_from: r.resumed_from,
        }
    }
}
