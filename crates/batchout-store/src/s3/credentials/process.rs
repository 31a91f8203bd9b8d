//! A profile's `credential_process`: a command that prints credentials as
//! JSON (`{"Version": 1, "AccessKeyId": …, "SecretAccessKey": …,
//! "SessionToken": …, "Expiration": …}`), run without a shell, its words
//! split as a POSIX shell would (as the AWS CLI splits them). Run again
//! when the credentials it gave are about to expire; never again when it
//! gives none.

use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;

use super::{Credentials, ProvideCredentials, from_json};
use crate::{Error, Result};

/// The longest a credential process may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Credentials from a profile's `credential_process`.
#[derive(Debug)]
pub struct ProcessCredentials {
    words: Vec<String>,
    profile: String,
}

impl ProcessCredentials {
    /// The command `command` of the profile `profile`.
    ///
    /// # Errors
    ///
    /// When the command is empty or its quotes do not close.
    pub fn new(command: &str, profile: &str) -> std::result::Result<Self, String> {
        let words = shlex::split(command)
            .filter(|words| !words.is_empty())
            .ok_or_else(|| {
                format!(
                    "the credential_process of the profile {profile} is empty or its quotes do not close"
                )
            })?;
        Ok(Self {
            words,
            profile: profile.to_owned(),
        })
    }

    fn failed(&self, reason: String) -> Error {
        Error::Credential {
            credential: self.name(),
            reason,
            unavailable: false,
        }
    }
}

#[async_trait]
impl ProvideCredentials for ProcessCredentials {
    async fn credentials(&self) -> Result<Credentials> {
        let program = &self.words[0];
        let mut command = tokio::process::Command::new(program);
        command
            .args(&self.words[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let output = match tokio::time::timeout(TIMEOUT, command.output()).await {
            Err(_) => {
                return Err(self.failed(format!(
                    "{program} did not finish within {}s",
                    TIMEOUT.as_secs()
                )));
            }
            Ok(Err(e)) => return Err(self.failed(format!("cannot run {program}: {e}"))),
            Ok(Ok(output)) => output,
        };
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let first = stderr
                .lines()
                .map(str::trim)
                .find(|line| !line.is_empty())
                .unwrap_or("no message");
            return Err(self.failed(format!("{program} failed ({}): {first}", output.status)));
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let version = serde_json::from_str::<serde_json::Value>(&stdout)
            .ok()
            .and_then(|json| json.get("Version").and_then(serde_json::Value::as_u64));
        if version != Some(1) {
            return Err(self.failed(format!(
                "{program} printed no JSON with \"Version\": 1; it must print the credentials as the AWS CLI documents for credential_process"
            )));
        }
        from_json(&stdout, &self.name()).ok_or_else(|| {
            self.failed(format!(
                "{program} printed no AccessKeyId and SecretAccessKey (or an Expiration that is not an RFC 3339 time)"
            ))
        })
    }

    fn name(&self) -> String {
        format!("the credential_process of the profile {}", self.profile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(dir: &std::path::Path, body: &str) -> String {
        let path = dir.join("creds.sh");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write");
        let mut permissions = std::fs::metadata(&path).expect("meta").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
        std::fs::set_permissions(&path, permissions).expect("chmod");
        path.display().to_string()
    }

    #[tokio::test]
    async fn the_process_gives_credentials_and_its_failures_say_why() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = script(
            dir.path(),
            r#"echo "{\"Version\": 1, \"AccessKeyId\": \"ASIA$1\", \"SecretAccessKey\": \"SECRET\", \"SessionToken\": \"TOKEN\", \"Expiration\": \"2099-01-01T00:00:00Z\"}""#,
        );
        let process =
            ProcessCredentials::new(&format!("'{path}' \"the account\""), "ci").expect("valid");
        let credentials = process.credentials().await.expect("credentials");
        assert_eq!(credentials.access_key_id, "ASIAthe account");
        assert!(credentials.expires_on.is_some());
        assert_eq!(
            credentials.source,
            "the credential_process of the profile ci"
        );

        let failing = script(
            dir.path(),
            "echo 'token expired: run sso login' >&2; exit 3",
        );
        let err = ProcessCredentials::new(&failing, "ci")
            .expect("valid")
            .credentials()
            .await
            .expect_err("fails");
        assert!(
            err.to_string().contains("token expired: run sso login"),
            "{err}"
        );
        let wrong = script(
            dir.path(),
            r#"echo '{"AccessKeyId": "A", "SecretAccessKey": "SECRET"}'"#,
        );
        let err = ProcessCredentials::new(&wrong, "ci")
            .expect("valid")
            .credentials()
            .await
            .expect_err("no version");
        assert!(err.to_string().contains("Version"), "{err}");
        assert!(!err.to_string().contains("SECRET"), "{err}");
        assert!(ProcessCredentials::new("'unclosed", "ci").is_err());
        assert!(ProcessCredentials::new("  ", "ci").is_err());
    }
}
