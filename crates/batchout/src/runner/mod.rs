//! `batchout run`: wrap a task's command so that its logs and outputs persist
//! without changing it.
//!
//! The command runs directly (no shell); its standard output and error go to
//! `stdout.txt` and `stderr.txt` in the task directory and through to the
//! console, and both are tracked live as `TaskLog` outputs. When it exits, the
//! logs are flushed complete whatever the exit code, the output rules whose
//! condition holds are uploaded (the Batch service's output-file semantics), and
//! a manifest of everything stored is written. Signals received are forwarded to
//! the command.

mod child;
mod manifest;
mod rule;
pub mod service;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use batchout_naming::{OutputKind, OutputPath};

pub use child::Exit;
pub use manifest::{MANIFEST_NAME, Manifest, PersistedFile, UPLOAD_ERRORS, UPLOAD_LOG};
pub use rule::{OutputRule, UploadCondition};

use crate::track::{TrackOptions, Tracker};
use crate::{DEFAULT_CONCURRENCY, Outputs, Progress, Result, TaskOutputs};

/// The exit code of a run whose command succeeded but whose outputs could not
/// all be stored (retry the task). Like `EX_TEMPFAIL`.
pub const PERSIST_FAILED: i32 = 75;

/// A task's command, and what to persist around it.
#[derive(Debug)]
pub struct TaskRunner {
    task: TaskOutputs,
    command: Vec<OsString>,
    working_dir: PathBuf,
    task_dir: PathBuf,
    rules: Vec<OutputRule>,
    interval: Duration,
    concurrency: usize,
    progress: Option<Progress>,
}

/// What a run did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RunReport {
    /// How the command ended.
    pub exit: Exit,
    /// Everything persisted, and what was not.
    pub manifest: Manifest,
}

impl RunReport {
    /// The exit code `run` ends with: the command's own, or [`PERSIST_FAILED`]
    /// when the command succeeded but something could not be stored.
    pub fn exit_code(&self) -> i32 {
        if self.exit.succeeded() && !self.manifest.errors.is_empty() {
            PERSIST_FAILED
        } else {
            self.exit.code()
        }
    }
}

impl TaskRunner {
    /// A runner for `command` (program and arguments) of `task`, in the current
    /// directory, with logs in the current directory and no output rules.
    ///
    /// # Errors
    ///
    /// When the current directory cannot be read.
    pub fn new(task: TaskOutputs, command: Vec<OsString>) -> Result<Self> {
        let cwd = std::env::current_dir().map_err(|e| crate::Error::io("read", ".", e))?;
        Ok(Self {
            task,
            command,
            working_dir: cwd.clone(),
            task_dir: cwd,
            rules: Vec::new(),
            interval: TrackOptions::default().interval,
            concurrency: DEFAULT_CONCURRENCY,
            progress: None,
        })
    }

    /// Where the command runs, and output patterns are taken from.
    pub fn working_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.working_dir = dir.into();
        self
    }

    /// Where `stdout.txt`, `stderr.txt` and the upload logs are written (Batch's
    /// `AZ_BATCH_TASK_DIR`).
    pub fn task_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.task_dir = dir.into();
        self
    }

    /// The output rules.
    pub fn rules(mut self, rules: Vec<OutputRule>) -> Self {
        self.rules = rules;
        self
    }

    /// How often the logs are flushed while the command runs.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// How many of the output rules' files are uploaded at once when the
    /// command has exited (at least 1; [`DEFAULT_CONCURRENCY`] unless set). See
    /// [`Outputs::concurrency`].
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// Counts the upload of the output rules' files into `progress` (for a
    /// progress bar; see [`Outputs::progress`]). The logs, which are
    /// tracked while the command runs, and the manifest are not counted, so
    /// nothing is planned before the command has exited.
    pub fn progress(mut self, progress: Progress) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Runs the command to its end and persists its logs and outputs.
    ///
    /// # Errors
    ///
    /// Only when the command cannot be started, or the logs cannot be tracked
    /// at all. Failures to store after the command ran are in the report's
    /// manifest (`errors`) and its [`RunReport::exit_code`].
    pub async fn run(self) -> Result<RunReport> {
        let started = SystemTime::now();
        let stdout = self.task_dir.join("stdout.txt");
        let stderr = self.task_dir.join("stderr.txt");
        // Storage trouble never stops the work: it is recorded, and the exit
        // code says so at the end.
        let mut errors = Vec::new();
        if let Err(e) = self.task.prepare().await {
            tracing::debug!(error = %e, "cannot prepare the job's container; saving will say why");
        }
        let mut process = child::start(&self.command, &self.working_dir, &stdout, &stderr)?;
        let options = TrackOptions::default().with_interval(self.interval);
        let mut trackers = Vec::new();
        for (path, name) in [(&stdout, "stdout.txt"), (&stderr, "stderr.txt")] {
            let destination = OutputPath::new(name)?;
            match self
                .task
                .track_as(OutputKind::TaskLog, path, &destination, options.clone())
                .await
            {
                Ok(tracker) => trackers.push((path.clone(), tracker)),
                Err(e) => errors.push(format!(
                    "log {}: cannot track it: {}",
                    path.display(),
                    e.described()
                )),
            }
        }

        let tracking: Vec<&Tracker> = trackers.iter().map(|(_, tracker)| tracker).collect();
        let exit = supervise(&mut process.child, &tracking).await?;
        process.drain().await;
        let ended = SystemTime::now();

        let mut manifest = Manifest {
            job: self.task.job_id().to_string(),
            task: self.task.task_id().to_string(),
            attempt: self.previous_attempt().await + 1,
            command: self
                .command
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            exit_code: exit.code(),
            signal: match exit {
                Exit::Signal(signal) => Some(signal),
                Exit::Code(_) => None,
            },
            started: manifest::timestamp(started),
            ended: manifest::timestamp(ended),
            logs: Vec::new(),
            outputs: Vec::new(),
            warnings: Vec::new(),
            errors,
        };
        for (path, tracker) in trackers {
            match tracker.finish().await {
                Ok(report) => {
                    for blob in report.blobs {
                        manifest.logs.push(persisted(&path, "TaskLog", blob).await?);
                    }
                }
                Err(e) => {
                    manifest
                        .errors
                        .push(format!("log {}: {}", path.display(), e.described()))
                }
            }
        }
        self.upload_outputs(exit, &mut manifest).await;
        self.write_manifest(&mut manifest).await;
        Ok(RunReport { exit, manifest })
    }

    /// Uploads the files of every rule whose condition holds, one `save_all`
    /// per kind so that a file matched by two rules of a kind is stored once.
    async fn upload_outputs(&self, exit: Exit, manifest: &mut Manifest) {
        let mut by_kind: Vec<(OutputKind, Vec<String>)> = Vec::new();
        for rule in self
            .rules
            .iter()
            .filter(|r| r.condition.applies(exit.succeeded()))
        {
            let pattern = match Path::new(&rule.pattern).is_absolute() {
                true => rule.pattern.clone(),
                false => self
                    .working_dir
                    .join(&rule.pattern)
                    .to_string_lossy()
                    .into_owned(),
            };
            match by_kind.iter_mut().find(|(kind, _)| *kind == rule.kind) {
                Some((_, patterns)) => patterns.push(pattern),
                None => by_kind.push((rule.kind.clone(), vec![pattern])),
            }
        }
        for (kind, patterns) in by_kind {
            let outputs = self.for_outputs(&kind);
            match outputs.save_all(&kind, &patterns).await {
                Ok(report) => {
                    for pattern in report.unmatched {
                        let shown = Path::new(&pattern)
                            .strip_prefix(&self.working_dir)
                            .map(|p| p.display().to_string())
                            .unwrap_or(pattern);
                        manifest
                            .warnings
                            .push(format!("{kind} pattern {shown:?} matched no file"));
                    }
                    for file in report.saved {
                        match uploaded(&file.source, &file.output).await {
                            Ok(persisted) => manifest.outputs.push(persisted),
                            Err(e) => manifest.errors.push(format!(
                                "{}: stored, but cannot be read back to record it: {}",
                                file.source.display(),
                                e.described()
                            )),
                        }
                    }
                }
                Err(e) => manifest
                    .errors
                    .push(format!("{kind} outputs: {}", e.described())),
            }
        }
    }

    /// The outputs the rules of `kind` are saved to (the job's, for a job
    /// kind), moving files as [`TaskRunner::concurrency`] and
    /// [`TaskRunner::progress`] set.
    fn for_outputs(&self, kind: &OutputKind) -> Outputs {
        let outputs = if kind.is_job_kind() {
            Outputs::from(self.task.job())
        } else {
            Outputs::from(self.task.clone())
        };
        let outputs = outputs.concurrency(self.concurrency);
        match &self.progress {
            Some(progress) => outputs.progress(progress.clone()),
            None => outputs,
        }
    }

    /// The attempt recorded by an earlier run's manifest, or 0.
    async fn previous_attempt(&self) -> u32 {
        let Ok(path) = OutputPath::new(MANIFEST_NAME) else {
            return 0;
        };
        let Ok(output) = self.task.get(&OutputKind::TaskLog, &path).await else {
            return 0;
        };
        let Ok(bytes) = output.bytes().await else {
            return 0;
        };
        serde_json::from_slice::<Manifest>(&bytes).map_or(0, |m| m.attempt)
    }

    async fn write_manifest(&self, manifest: &mut Manifest) {
        let stored = match (
            OutputPath::new(MANIFEST_NAME),
            serde_json::to_string_pretty(&*manifest),
        ) {
            (Ok(path), Ok(json)) => self
                .task
                .save_text(&OutputKind::TaskLog, json, &path)
                .await
                .map(drop)
                .map_err(|e| e.described()),
            (Err(e), _) => Err(e.to_string()),
            (_, Err(e)) => Err(e.to_string()),
        };
        if let Err(e) = stored {
            manifest.errors.push(format!("manifest: {e}"));
        }
        let logs = [
            (UPLOAD_LOG, manifest.upload_log()),
            (UPLOAD_ERRORS, manifest.error_log()),
        ];
        for (name, text) in logs {
            let path = self.task_dir.join(name);
            if let Err(e) = tokio::fs::write(&path, text).await {
                tracing::error!(file = %path.display(), error = %e, "cannot write the upload log");
            }
        }
    }
}

/// An output a rule stored, with the size and checksums of what was uploaded
/// (the store computes them from the bytes it sends, and a file that changed
/// meanwhile is refused), so the manifest describes the stored copy even if
/// the file changes afterwards. A store that records no checksum (the local
/// directory) has the local file hashed instead.
async fn uploaded(path: &Path, output: &crate::Output) -> Result<PersistedFile> {
    let crc64nvme = match output.crc64nvme() {
        Some(crc) => batchout_store::crc64nvme_hex(crc),
        None => manifest::crc64nvme_file(path).await?,
    };
    Ok(PersistedFile {
        path: path.to_owned(),
        kind: output.kind().as_str().to_owned(),
        blob: output.blob_name().to_owned(),
        size: output.size(),
        crc64nvme,
        sha256: output.sha256().map(str::to_owned),
    })
}

/// A stored log (an appended blob, which carries no checksum of its own),
/// with its size and CRC-64/NVME read from the local copy.
async fn persisted(path: &Path, kind: &str, blob: String) -> Result<PersistedFile> {
    let size = tokio::fs::metadata(path)
        .await
        .map_err(|e| crate::Error::io("read", path, e))?
        .len();
    Ok(PersistedFile {
        path: path.to_owned(),
        kind: kind.to_owned(),
        blob,
        size,
        crc64nvme: manifest::crc64nvme_file(path).await?,
        sha256: None,
    })
}

/// Waits for a command, forwarding SIGTERM, SIGINT and SIGHUP received by this
/// process to it and flushing the trackers when one arrives (the node may be
/// going away). Returns how the command ended.
///
/// # Errors
///
/// When signals cannot be listened for, or the command cannot be waited for.
pub async fn supervise(child: &mut tokio::process::Child, trackers: &[&Tracker]) -> Result<Exit> {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    use tokio::signal::unix::{SignalKind, signal};

    let listen = |kind: SignalKind| {
        signal(kind).map_err(|e| crate::Error::io("listen for signals in", ".", e))
    };
    let mut term = listen(SignalKind::terminate())?;
    let mut int = listen(SignalKind::interrupt())?;
    let mut hup = listen(SignalKind::hangup())?;
    let pid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw);
    loop {
        let received = tokio::select! {
            status = child.wait() => {
                return status
                    .map(Exit::from_status)
                    .map_err(|e| crate::Error::io("wait for", "the command", e));
            }
            _ = term.recv() => Signal::SIGTERM,
            _ = int.recv() => Signal::SIGINT,
            _ = hup.recv() => Signal::SIGHUP,
        };
        tracing::warn!(signal = %received, "forwarding a signal to the command");
        if let Some(pid) = pid {
            let _ = kill(pid, received);
        }
        for tracker in trackers {
            if let Err(e) = tracker.flush().await {
                tracing::warn!(error = %e, "flush on signal failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use batchout_naming::{JobId, TaskId};
    use batchout_store::LocalStore;

    use super::*;

    #[tokio::test]
    async fn the_rules_files_are_counted_into_the_progress_and_the_logs_are_not() {
        let dir = tempfile::tempdir().expect("temp dir");
        let work = dir.path().join("work");
        std::fs::create_dir_all(work.join("out")).expect("mkdir");
        let mut bytes = 0;
        for n in 1..=5 {
            let text = "x".repeat(n * 100);
            std::fs::write(work.join(format!("out/{n}.txt")), &text).expect("write");
            bytes += text.len() as u64;
        }
        let store = Arc::new(LocalStore::new(dir.path().join("store")));
        let task = TaskOutputs::new(
            store,
            JobId::new("j").expect("job id"),
            TaskId::new("t").expect("task id"),
        );
        let command = ["sh", "-c", "echo a log line"].map(OsString::from).to_vec();
        let progress = Progress::new();
        let report = TaskRunner::new(task, command)
            .expect("a runner")
            .working_dir(&work)
            .task_dir(&work)
            .rules(vec!["out/*.txt".parse().expect("a rule")])
            .concurrency(0)
            .progress(progress.clone())
            .run()
            .await
            .expect("runs");
        assert_eq!(report.exit_code(), 0, "{:?}", report.manifest.errors);
        assert_eq!(report.manifest.outputs.len(), 5);
        let counted = progress.snapshot();
        assert_eq!(
            (counted.files_total, counted.files_done, counted.bytes_total),
            (5, 5, bytes),
            "the five outputs, and neither the logs nor the manifest"
        );
    }
}
