//! What a run persisted, written twice: as the JSON manifest stored with the
//! task's logs (`$TaskLog/batchout-manifest.json`), and as a human-readable upload
//! log in the task directory, like the Batch service's `fileuploadout.txt` and
//! `fileuploaderr.txt`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use batchout_store::crc64nvme_hex;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The stored name of the manifest, a `TaskLog` output.
pub const MANIFEST_NAME: &str = "batchout-manifest.json";
/// The upload log of what was stored, in the task directory.
pub const UPLOAD_LOG: &str = "fileuploadout.txt";
/// The upload log of what failed, in the task directory.
pub const UPLOAD_ERRORS: &str = "fileuploaderr.txt";

/// One file a run stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersistedFile {
    /// The local file.
    pub path: PathBuf,
    /// Its kind.
    pub kind: String,
    /// The blob it was stored as.
    pub blob: String,
    /// Its size in bytes.
    pub size: u64,
    /// The CRC-64/NVME of its content, 16 hex digits: for an output, of the
    /// bytes uploaded (as the store computed it while sending them, where it
    /// does: Azure), else of the local file once stored (logs, and the local
    /// directory store).
    pub crc64nvme: String,
    /// The SHA-256 of the bytes uploaded, hex, where the store recorded one
    /// (Azure with `BATCHOUT_SHA256=1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// The manifest of one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The job id.
    pub job: String,
    /// The task id.
    pub task: String,
    /// Which attempt of the task this was, from 1.
    pub attempt: u32,
    /// The command, as run.
    pub command: Vec<String>,
    /// Its exit code (128 + N when killed by signal N).
    pub exit_code: i32,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
    /// When it started, RFC 3339.
    pub started: String,
    /// When it ended, RFC 3339.
    pub ended: String,
    /// The logs stored (`stdout.txt`, `stderr.txt`).
    pub logs: Vec<PersistedFile>,
    /// The outputs stored by the rules.
    pub outputs: Vec<PersistedFile>,
    /// Rules that matched nothing, and other notes.
    pub warnings: Vec<String>,
    /// What could not be stored.
    pub errors: Vec<String>,
}

/// A time as RFC 3339 with milliseconds, UTC.
pub(crate) fn timestamp(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}

/// The CRC-64/NVME of a file, 16 hex digits; read in chunks on a blocking
/// thread, off the async ones.
pub(crate) async fn crc64nvme_file(path: &Path) -> Result<String> {
    let owned = path.to_owned();
    tokio::task::spawn_blocking(move || crc64nvme_file_blocking(&owned))
        .await
        .map_err(|e| Error::io("read", path, std::io::Error::other(e)))?
}

fn crc64nvme_file_blocking(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io("read", path, e))?;
    let mut hasher = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme);
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(|e| Error::io("read", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(crc64nvme_hex(hasher.finalize()))
}

impl Manifest {
    /// The upload log: one line per stored file, then the warnings.
    pub fn upload_log(&self) -> String {
        let mut text = format!(
            "batchout run: job {} task {} attempt {}; command exited {} at {}\n",
            self.job, self.task, self.attempt, self.exit_code, self.ended
        );
        for file in self.logs.iter().chain(&self.outputs) {
            let sha256 = file
                .sha256
                .as_ref()
                .map(|sha256| format!(", sha256 {sha256}"))
                .unwrap_or_default();
            text.push_str(&format!(
                "uploaded {} as {} {} ({} bytes, crc64nvme {}{sha256})\n",
                file.path.display(),
                file.kind,
                file.blob,
                file.size,
                file.crc64nvme
            ));
        }
        for warning in &self.warnings {
            text.push_str(&format!("warning: {warning}\n"));
        }
        text
    }

    /// The error log: one line per failure.
    pub fn error_log(&self) -> String {
        self.errors
            .iter()
            .map(|e| format!("error: {e}\n"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_files_in_hex() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "abc").expect("write");
        assert_eq!(
            crc64nvme_file_blocking(&path).expect("hashed"),
            "05e5cabb3fc1faeb"
        );
    }
}
