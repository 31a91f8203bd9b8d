//! Shared by the CLI tests: a temporary working directory and the real binary,
//! run with none of batchout's or Batch's variables inherited.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

pub mod server;

use assert_cmd::Command;
use serde_json::Value;

/// A temporary working directory whose default store is `./batchout-data`.
/// Variables of batchout and Batch that a test must not inherit from the
/// environment running it.
const INHERITED: [&str; 33] = [
    "BATCHOUT_STORE",
    "BATCHOUT_LOG",
    "BATCHOUT_RETRIES",
    "BATCHOUT_TIMEOUT",
    "BATCHOUT_DEADLINE",
    "BATCHOUT_IDLE_TIMEOUT",
    "BATCHOUT_BLOCK_SIZE",
    "BATCHOUT_BLOCK_CONCURRENCY",
    "BATCHOUT_CONCURRENCY",
    "BATCHOUT_PROGRESS",
    "BATCHOUT_CHECKSUM",
    "BATCHOUT_SYNC",
    "BATCHOUT_PARALLEL_READS",
    "BATCHOUT_SHA256",
    "BATCHOUT_THREADS",
    "BATCHOUT_SERVE_TOKEN",
    "AZ_BATCH_JOB_ID",
    "AZ_BATCH_TASK_ID",
    "AZ_BATCH_TASK_DIR",
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_ACCOUNT",
    "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "BATCHOUT_AUTH",
    "BATCHOUT_IDENTITY_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_AUTHORITY_HOST",
    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
];

pub struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn store(&self) -> PathBuf {
        self.path().join("batchout-data")
    }

    /// `batchout ARGS` in the working directory, with no batchout or Batch
    /// variables inherited from the environment running the tests.
    pub fn cmd(&self, args: &[&str]) -> Command {
        self.cmd_in(self.path(), args)
    }

    pub fn cmd_in(&self, cwd: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::cargo_bin("batchout").expect("the binary is built");
        cmd.current_dir(cwd).args(args);
        for name in INHERITED {
            cmd.env_remove(name);
        }
        cmd
    }

    /// `batchout ARGS` on `store` (a path, URL or connection string).
    pub fn cmd_on(&self, store: &str, args: &[&str]) -> Command {
        let mut cmd = self.cmd(args);
        cmd.env("BATCHOUT_STORE", store);
        cmd
    }

    /// `batchout ARGS` as a plain process, for running in the background, with
    /// the same environment as [`Env::cmd`].
    pub fn process(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("batchout"));
        cmd.current_dir(self.path()).args(args);
        for name in INHERITED {
            cmd.env_remove(name);
        }
        cmd
    }

    /// `batchout ARGS` with a terminal for its standard output and error (a
    /// pseudo-terminal, by util-linux's `script`), in the same environment as
    /// [`Env::cmd`]; what the terminal showed is `script`'s standard output.
    /// `None`, after saying `SKIPPED`, when `script` is not installed.
    pub fn terminal(&self, args: &[&str]) -> Option<std::process::Command> {
        let found = std::process::Command::new("script")
            .arg("--version")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !found {
            eprintln!(
                "SKIPPED: `script` (util-linux) is not installed, so nothing runs under a terminal"
            );
            return None;
        }
        let binary = assert_cmd::cargo::cargo_bin("batchout");
        let line = std::iter::once(binary.to_str().expect("a UTF-8 path"))
            .chain(args.iter().copied())
            .map(|arg| format!("'{}'", arg.replace('\'', r"'\''")))
            .collect::<Vec<_>>()
            .join(" ");
        let mut cmd = std::process::Command::new("script");
        cmd.current_dir(self.path())
            .args(["-qec", &line, "/dev/null"])
            .env("SHELL", "/bin/sh")
            .env("TERM", "xterm")
            .stdin(std::process::Stdio::null());
        for name in INHERITED {
            cmd.env_remove(name);
        }
        Some(cmd)
    }

    pub fn write(&self, relative: &str, content: &str) -> PathBuf {
        let path = self.path().join(relative);
        fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        fs::write(&path, content).expect("write");
        path
    }

    /// Every blob file under the store, as paths relative to it: the
    /// store's own bookkeeping (the metadata of containers, in
    /// `.batchout-containers/`) left out.
    pub fn stored(&self) -> Vec<String> {
        let mut files = files_below(&self.store());
        files.retain(|f| !f.starts_with(".batchout-containers/"));
        files
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.cmd(args).arg("--json").assert().success();
        serde_json::from_slice(&out.get_output().stdout).expect("valid JSON on stdout")
    }
}

pub fn collect(root: &Path, dir: &Path, into: &mut Vec<String>) {
    for entry in fs::read_dir(dir).expect("readable") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            collect(root, &path, into);
        } else {
            let rel = path.strip_prefix(root).expect("below root");
            into.push(rel.to_string_lossy().into_owned());
        }
    }
}

/// Every file below `dir`, relative to it and sorted; none when it does not exist.
pub fn files_below(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    if dir.exists() {
        collect(dir, dir, &mut files);
    }
    files.sort();
    files
}

/// A job id unique to this test process, so tests sharing one Azurite never meet.
pub fn job(test: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "{test}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `cmd`, expecting success, and gives its standard output.
pub fn stdout(cmd: &mut Command) -> String {
    let out = cmd.assert().success();
    String::from_utf8(out.get_output().stdout.clone()).expect("UTF-8 output")
}

/// The CRC-64/NVME of `data` as batchout records it (16 hex digits), from the
/// testkit's bit-by-bit reference.
pub fn crc64nvme(data: &[u8]) -> String {
    format!("{:016x}", batchout_testkit::crc64nvme(data))
}
