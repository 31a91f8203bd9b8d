//! The official Azure Storage SDK for Python, driven through `interop/blob_sdk.py`,
//! so tests can check that what batchout writes is what Microsoft's SDK reads, and
//! the reverse.

use std::fmt;
use std::path::PathBuf;
use std::process::{Command, Output};

/// The Python of the workspace's `.venv` (where `scripts/test` installs
/// `azure-storage-blob`), and the `blob_sdk.py` command line over the SDK.
#[derive(Clone)]
pub struct PythonSdk {
    python: PathBuf,
    script: PathBuf,
    connection_string: Option<String>,
    retries: Option<u32>,
}

impl PythonSdk {
    /// Finds `<workspace root>/.venv/bin/python` and checks that it can import
    /// `azure.storage.blob`.
    ///
    /// Returns `None`, after a `SKIPPED` warning on stderr, when it cannot (run
    /// `scripts/test`, which installs it).
    ///
    /// # Panics
    ///
    /// When the SDK is missing and `CI=true`.
    pub fn find() -> Option<PythonSdk> {
        let python = crate::workspace_root().join(".venv/bin/python");
        let importable = python.is_file()
            && Command::new(&python)
                .args(["-c", "import azure.storage.blob"])
                .output()
                .is_ok_and(|out| out.status.success());
        if !importable {
            return crate::not_installed("the Azure SDK for Python (.venv)");
        }
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop/blob_sdk.py");
        Some(PythonSdk {
            python,
            script,
            connection_string: None,
            retries: None,
        })
    }

    /// The same SDK, connecting with `connection_string` (e.g.
    /// [`Azurite::connection_string`](crate::Azurite::connection_string)) rather
    /// than the `AZURE_STORAGE_CONNECTION_STRING` of the environment.
    pub fn with_connection_string(mut self, connection_string: impl Into<String>) -> Self {
        self.connection_string = Some(connection_string.into());
        self
    }

    /// The same SDK, retrying a failed request `retries` times at once, rather
    /// than by its default policy (3 retries, about 15 seconds apart): for tests
    /// through a [`FaultProxy`](crate::FaultProxy). `0` shows each failure.
    pub fn with_retries(mut self, retries: u32) -> Self {
        self.retries = Some(retries);
        self
    }

    /// Runs `blob_sdk.py ARGS…` and returns what it did, failed or not. Its
    /// subcommands (`create-container`, `upload-block`, `append`, `list`,
    /// `download`, `blob-type`) print JSON on stdout; a failure exits non-zero with
    /// the SDK's exception on stderr.
    ///
    /// # Panics
    ///
    /// When Python cannot be run at all.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut command = Command::new(&self.python);
        command.arg(&self.script).args(args);
        if let Some(connection_string) = &self.connection_string {
            command.env("AZURE_STORAGE_CONNECTION_STRING", connection_string);
        }
        if let Some(retries) = self.retries {
            command.env("BLOB_SDK_RETRIES", retries.to_string());
        }
        command.output().expect("run the Python of .venv")
    }

    /// Runs `blob_sdk.py ARGS…` and parses the JSON it prints.
    ///
    /// # Panics
    ///
    /// When the command fails (with its stderr in the message) or does not print
    /// JSON.
    pub fn run_json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.run(args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "blob_sdk.py {args:?} failed ({}):\n{}{stdout}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("blob_sdk.py {args:?} printed no JSON ({e}):\n{stdout}"))
    }
}

/// Shows where Python is, never the connection string (it holds a key).
impl fmt::Debug for PythonSdk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PythonSdk")
            .field("python", &self.python)
            .field("script", &self.script)
            .field(
                "connection_string",
                &self.connection_string.as_ref().map(|_| "<redacted>"),
            )
            .field("retries", &self.retries)
            .finish()
    }
}
