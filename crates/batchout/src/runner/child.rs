//! The wrapped command: started directly (no shell), its standard output and
//! error teed to log files and to the console, its exit told as the Batch
//! service would.

use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use crate::{Error, Result};

/// How long the log pumps may go on after the command exits (a background
/// process it started may hold its output open).
const PUMP_GRACE: Duration = Duration::from_secs(3);

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// It was killed by this signal.
    Signal(i32),
}

impl Exit {
    /// The exit code a shell would report: the code, or 128 + the signal.
    pub fn code(self) -> i32 {
        match self {
            Self::Code(code) => code,
            Self::Signal(signal) => 128 + signal,
        }
    }

    /// Whether the command succeeded (exit code 0).
    pub fn succeeded(self) -> bool {
        self == Self::Code(0)
    }

    /// How a finished process ended.
    pub fn from_status(status: ExitStatus) -> Self {
        match (status.code(), status.signal()) {
            (Some(code), _) => Self::Code(code),
            (None, Some(signal)) => Self::Signal(signal),
            (None, None) => Self::Code(1),
        }
    }
}

/// A started command and the pumps copying its output.
pub(crate) struct Started {
    pub child: Child,
    pumps: Vec<JoinHandle<()>>,
}

/// Starts `command` in `working_dir`, its output written to `stdout_log` and
/// `stderr_log` and passed through to this process's own output.
///
/// When this process's output already *is* the log file (Batch writes a task's
/// output to `stdout.txt` in the task directory), the log is not written twice.
pub(crate) fn start(
    command: &[OsString],
    working_dir: &Path,
    stdout_log: &Path,
    stderr_log: &Path,
) -> Result<Started> {
    let (program, args) = command.split_first().ok_or_else(|| Error::BadSource {
        path: PathBuf::new(),
        reason:
            "no command to run; give it after --, as in `batchout run -- ./simulate --steps 10`"
                .into(),
    })?;
    let mut child = Command::new(program)
        .args(args)
        .current_dir(working_dir)
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::CannotStart {
            program: PathBuf::from(program),
            source,
        })?;
    let mut pumps = Vec::new();
    if let Some(out) = child.stdout.take() {
        let file = log_file(stdout_log, 1)?;
        pumps.push(tokio::spawn(pump(out, file, tokio::io::stdout())));
    }
    if let Some(err) = child.stderr.take() {
        let file = log_file(stderr_log, 2)?;
        pumps.push(tokio::spawn(pump(err, file, tokio::io::stderr())));
    }
    Ok(Started { child, pumps })
}

impl Started {
    /// Waits for the log pumps to drain, for a short grace at most.
    pub async fn drain(self) {
        for pump in self.pumps {
            let abort = pump.abort_handle();
            if tokio::time::timeout(PUMP_GRACE, pump).await.is_err() {
                tracing::warn!(
                    "the command's output stayed open after it exited; the log holds what came until now"
                );
                abort.abort();
            }
        }
    }
}

/// Opens (creating or truncating) a log file, unless this process's own file
/// descriptor `fd` already writes to it.
fn log_file(path: &Path, fd: u32) -> Result<Option<std::fs::File>> {
    if is_same_file(path, fd) {
        return Ok(None);
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io("create folder", parent, e))?;
    }
    std::fs::File::create(path)
        .map(Some)
        .map_err(|e| Error::io("create", path, e))
}

fn is_same_file(path: &Path, fd: u32) -> bool {
    let ours = std::fs::metadata(format!("/proc/self/fd/{fd}"));
    let theirs = std::fs::metadata(path);
    matches!((ours, theirs), (Ok(a), Ok(b)) if a.dev() == b.dev() && a.ino() == b.ino())
}

/// Copies the command's output to the log file and the console. The log is
/// what matters: a console that goes away (a closed pipe) stops the console
/// copy only.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    file: Option<std::fs::File>,
    mut console: impl AsyncWrite + Unpin,
) {
    let mut file = file.map(tokio::fs::File::from_std);
    let mut console_open = true;
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(log) = file.as_mut() {
            // Flushed at once, so that the tracker sees every byte written.
            let written = async {
                log.write_all(&buffer[..n]).await?;
                log.flush().await
            };
            if let Err(e) = written.await {
                tracing::error!(error = %e, "cannot write the command's log");
                file = None;
            }
        }
        if console_open
            && (console.write_all(&buffer[..n]).await.is_err() || console.flush().await.is_err())
        {
            console_open = false;
        }
    }
    if let Some(log) = file {
        let _ = log.sync_all().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(Exit::Code(3).code(), 3);
        assert_eq!(Exit::Signal(9).code(), 137);
        assert!(Exit::Code(0).succeeded());
        assert!(!Exit::Signal(15).succeeded());
    }

    #[tokio::test]
    async fn output_is_teed_to_the_log_and_the_exit_is_told() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (out, err) = (dir.path().join("stdout.txt"), dir.path().join("stderr.txt"));
        let command: Vec<OsString> = ["sh", "-c", "echo out; echo err >&2; exit 3"]
            .iter()
            .map(OsString::from)
            .collect();
        let mut started = start(&command, dir.path(), &out, &err).expect("starts");
        let status = started.child.wait().await.expect("waits");
        started.drain().await;
        assert_eq!(Exit::from_status(status), Exit::Code(3));
        assert_eq!(std::fs::read_to_string(&out).expect("log"), "out\n");
        assert_eq!(std::fs::read_to_string(&err).expect("log"), "err\n");
    }

    #[test]
    fn a_missing_program_is_reported() {
        let dir = tempfile::tempdir().expect("temp dir");
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let command = vec![OsString::from("/no/such/program")];
        let err = rt
            .block_on(async {
                start(
                    &command,
                    dir.path(),
                    &dir.path().join("o"),
                    &dir.path().join("e"),
                )
                .map(drop)
            })
            .unwrap_err();
        assert!(
            matches!(&err, Error::CannotStart { source, .. } if source.kind() == std::io::ErrorKind::NotFound),
            "{err:?}"
        );
        assert!(err.described().contains("/no/such/program"), "{err:?}");
    }
}
