//! boto3, the AWS SDK for Python, driven through `interop/s3_sdk.py`, so
//! tests can check that what batchout writes to S3 is what the SDK reads at
//! the same keys, and the reverse.

use std::fmt;
use std::path::PathBuf;
use std::process::{Command, Output};

/// The Python of the workspace's `.venv` (where `scripts/test` installs
/// `boto3`), and the `s3_sdk.py` command line over it, pointed at a server.
#[derive(Clone)]
pub struct Boto3 {
    python: PathBuf,
    script: PathBuf,
    env: Vec<(&'static str, String)>,
}

impl Boto3 {
    /// Finds `<workspace root>/.venv/bin/python` and checks that it can
    /// import `boto3`; requests go where the AWS variables `env` say
    /// ([`SeaweedFs::env`](crate::SeaweedFs::env),
    /// [`MotoS3::env`](crate::MotoS3::env)).
    ///
    /// Returns `None`, after a `SKIPPED` warning on stderr, when it cannot
    /// (run `scripts/test`, which installs it).
    ///
    /// # Panics
    ///
    /// When boto3 is missing and `CI=true`.
    pub fn find(env: Vec<(&'static str, String)>) -> Option<Boto3> {
        let python = crate::workspace_root().join(".venv/bin/python");
        let importable = python.is_file()
            && Command::new(&python)
                .args(["-c", "import boto3"])
                .output()
                .is_ok_and(|out| out.status.success());
        if !importable {
            return crate::not_installed("boto3, the AWS SDK for Python (.venv)");
        }
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop/s3_sdk.py");
        Some(Boto3 {
            python,
            script,
            env,
        })
    }

    /// Runs `s3_sdk.py ARGS…` and returns what it did, failed or not. Its
    /// subcommands (`list`, `download`, `upload`, `head`) print JSON on
    /// stdout; a failure exits non-zero with the SDK's exception on stderr.
    ///
    /// # Panics
    ///
    /// When Python cannot be run at all.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut command = Command::new(&self.python);
        command.arg(&self.script).args(args);
        for name in ["AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"] {
            command.env_remove(name);
        }
        for (name, value) in &self.env {
            command.env(name, value);
        }
        command.output().expect("run the Python of .venv")
    }

    /// Runs `s3_sdk.py ARGS…` and parses the JSON it prints.
    ///
    /// # Panics
    ///
    /// When the command fails (with its stderr in the message) or does not
    /// print JSON.
    pub fn run_json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.run(args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "s3_sdk.py {args:?} failed ({}):\n{}{stdout}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("s3_sdk.py {args:?} printed no JSON ({e}):\n{stdout}"))
    }
}

/// Shows where Python is, never the secret key.
impl fmt::Debug for Boto3 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Boto3")
            .field("python", &self.python)
            .field("script", &self.script)
            .finish_non_exhaustive()
    }
}
