//! Shared by the CLI tests: a temporary working directory and the real binary,
//! run with none of batchout's or Batch's variables inherited.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

/// A temporary working directory whose default store is `./batchout-data`.
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
        cmd.current_dir(cwd)
            .env_remove("BATCHOUT_STORE")
            .env_remove("AZ_BATCH_JOB_ID")
            .env_remove("AZ_BATCH_TASK_ID")
            .env_remove("BATCHOUT_LOG")
            .env_remove("AZURE_STORAGE_CONNECTION_STRING")
            .env_remove("AZURE_STORAGE_ACCOUNT")
            .env_remove("AZURE_STORAGE_KEY")
            .env_remove("AZURE_STORAGE_SAS_TOKEN")
            .args(args);
        cmd
    }

    pub fn write(&self, relative: &str, content: &str) -> PathBuf {
        let path = self.path().join(relative);
        fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        fs::write(&path, content).expect("write");
        path
    }

    /// Every file under the store, as paths relative to it.
    pub fn stored(&self) -> Vec<String> {
        let mut files = Vec::new();
        if self.store().exists() {
            collect(&self.store(), &self.store(), &mut files);
        }
        files.sort();
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
