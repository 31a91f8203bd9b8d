//! `get` and `download`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use batchout::{OutputPath, Scope};
use serde::Serialize;

use super::spelling;
use crate::cli::Target;
use crate::config::{self, Context};
use crate::print::{self, OutputJson, Printer};
use crate::progress::Meter;

/// What `get` was asked for.
pub struct GetRequest<'a> {
    /// The job and task.
    pub target: &'a Target,
    /// The kind, if given.
    pub kind: Option<&'a str>,
    /// The output's file path.
    pub path: &'a str,
    /// `-o`: a file, a folder, or `-`.
    pub destination: Option<PathBuf>,
    /// Whether to check the recorded checksum (not `--no-verify`).
    pub verify: bool,
}

/// Fetches one output to a file (atomically, and only if it matches its
/// recorded checksum) or standard output. A task whose exact spelling holds
/// nothing is looked for under the other spellings of its id
/// ([`spelling::open_elsewhere`]).
pub async fn get(
    context: &Context,
    request: GetRequest<'_>,
    printer: &Printer,
) -> anyhow::Result<()> {
    let (job, scope, kind) = config::kind_or_default(request.kind, request.target)?;
    let path = OutputPath::destination(request.path).map_err(config::naming)?;
    let to_stdout = request
        .destination
        .as_ref()
        .is_some_and(|dest| dest.as_os_str() == "-");
    // The output's own bytes on the terminal would be torn by a bar there.
    let meter = Meter::start(
        context.progress && !(to_stdout && std::io::stdout().is_terminal()),
        "fetching",
    );
    let open = |scope: Scope| {
        let outputs = meter
            .attach(context.outputs(job.clone(), &scope))
            .verify(request.verify);
        let (kind, path) = (kind.clone(), &path);
        async move { outputs.open(kind, path).await }
    };
    let opened = match (open(scope.clone()).await, &scope) {
        (Err(missing @ batchout::Error::OutputNotFound { .. }), Scope::Task(asked)) => {
            spelling::open_elsewhere(context, &job, asked, missing, open, printer).await?
        }
        (opened, _) => opened?,
    };
    let file = match request.destination {
        Some(_) if to_stdout => {
            let mut stdout = tokio::io::stdout();
            opened.write_to(&mut stdout).await?;
            return Ok(());
        }
        Some(dest) if dest.is_dir() => dest.join(path.file_name()),
        Some(dest) => dest,
        None => PathBuf::from(path.file_name()),
    };
    let output = opened.output().clone();
    let written = opened.download_to(&file).await?;
    meter.finish();
    printer.note(format!(
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

/// What `download` was asked for.
pub struct DownloadRequest<'a> {
    /// The job and task.
    pub target: &'a Target,
    /// The kind, if given.
    pub kind: Option<&'a str>,
    /// The folder to download into.
    pub dest: &'a Path,
    /// How many files at once.
    pub concurrency: usize,
    /// Whether to check the recorded checksums (not `--no-verify`).
    pub verify: bool,
}

/// Downloads a kind, a task or a whole job into a folder. A task whose
/// exact spelling holds nothing is looked for under the other spellings of
/// its id: one is downloaded as if it were given, several each into
/// `dest/<stored id>/`.
pub async fn download(
    context: &Context,
    request: DownloadRequest<'_>,
    printer: &Printer,
) -> anyhow::Result<()> {
    let DownloadRequest {
        target,
        kind,
        dest,
        concurrency,
        verify,
    } = request;
    let kind = kind.map(config::kind).transpose()?;
    let (job, scope) = config::scope(target, kind.as_ref())?;
    let meter = Meter::start(context.progress, "downloading");
    let outputs = meter.attach(
        context
            .outputs(job.clone(), &scope)
            .verify(verify)
            .concurrency(concurrency),
    );
    let mut report = outputs.download_all(kind.clone(), dest).await?;
    if report.files.is_empty()
        && let Scope::Task(asked) = &scope
    {
        let doing = format!("downloading each into {}/<task id>/", dest.display());
        let found = spelling::elsewhere_warned(context, printer, &job, asked, &doing).await?;
        let apart = found.len() > 1;
        for stored in found {
            let into = if apart {
                dest.join(stored.as_str())
            } else {
                dest.to_owned()
            };
            let outputs = meter.attach(
                context
                    .outputs(job.clone(), &Scope::Task(stored))
                    .verify(verify)
                    .concurrency(concurrency),
            );
            let more = outputs.download_all(kind.clone(), into).await?;
            report.bytes += more.bytes;
            report.files.extend(more.files);
        }
    }
    meter.finish();
    printer.note(format!(
        "downloaded {} ({}) to {}",
        print::count(report.files.len() as u64, "output"),
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
