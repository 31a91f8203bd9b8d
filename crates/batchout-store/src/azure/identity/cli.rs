//! The account the Azure CLI is logged in with: `az account get-access-token
//! --resource https://storage.azure.com/ --output json`, one process per
//! token. Its standard output holds the token, so it is never shown; its
//! standard error is, cut to its first line, when it fails.

use std::process::Stdio;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use super::token::parse_token;
use super::{AccessToken, TokenCredential, resource_of};
use crate::{Error, Result};

/// How long `az` may take.
const TIMEOUT: Duration = Duration::from_secs(60);
/// How long a token from a CLI too old to say when it expires is kept.
const UNKNOWN_LIFETIME: Duration = Duration::from_secs(300);

/// The Azure CLI's logged-in account.
#[derive(Debug, Clone)]
pub struct AzureCliCredential {
    program: String,
    tenant: Option<String>,
}

impl Default for AzureCliCredential {
    fn default() -> Self {
        Self::new()
    }
}

impl AzureCliCredential {
    /// The account `az` (found on `PATH`) is logged in with.
    pub fn new() -> Self {
        Self {
            program: "az".to_owned(),
            tenant: None,
        }
    }

    /// Asks for a token of `tenant` (`--tenant`), not of the account's own.
    #[must_use]
    pub fn with_tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    fn failed(&self, reason: String, unavailable: bool) -> Error {
        Error::Credential {
            credential: self.name(),
            reason,
            unavailable,
        }
    }
}

#[async_trait]
impl TokenCredential for AzureCliCredential {
    async fn token(&self, scope: &str) -> Result<AccessToken> {
        let mut command = tokio::process::Command::new(&self.program);
        command
            .args(["account", "get-access-token", "--output", "json"])
            .args(["--resource", resource_of(scope)])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(tenant) = &self.tenant {
            command.args(["--tenant", tenant]);
        }
        let asked = SystemTime::now();
        let output = match tokio::time::timeout(TIMEOUT, command.output()).await {
            Err(_) => {
                return Err(self.failed(
                    format!(
                        "`az account get-access-token` did not finish within {}s",
                        TIMEOUT.as_secs()
                    ),
                    false,
                ));
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(self.failed(
                    "the Azure CLI (az) is not installed, or not on PATH".into(),
                    true,
                ));
            }
            Ok(Err(e)) => return Err(self.failed(format!("cannot run az: {e}"), true)),
            Ok(Ok(output)) => output,
        };
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let first = stderr
                .lines()
                .map(str::trim)
                .find(|line| !line.is_empty())
                .unwrap_or("no message")
                .trim_start_matches("ERROR:")
                .trim();
            let logged_out = stderr.contains("az login");
            let what = if logged_out {
                "it is not logged in; run `az login`"
            } else {
                "check `az account show`"
            };
            return Err(self.failed(
                format!("`az account get-access-token` failed ({first}); {what}"),
                logged_out,
            ));
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let mut token = parse_token(&stdout, asked)
            .or_else(|| {
                // A CLI older than 2.54 gives only `expiresOn` in local time:
                // keep its token a short while.
                let json: serde_json::Value = serde_json::from_str(&stdout).ok()?;
                let access = json.get("accessToken")?.as_str()?;
                Some(AccessToken::new(
                    super::Secret::new(access),
                    asked + UNKNOWN_LIFETIME,
                ))
            })
            .ok_or_else(|| {
                self.failed(
                    "`az account get-access-token` printed no token that batchout can read; update the Azure CLI".into(),
                    false,
                )
            })?;
        if token.expires_on <= asked {
            token.expires_on = asked + UNKNOWN_LIFETIME;
        }
        Ok(token)
    }

    fn name(&self) -> String {
        "the Azure CLI's account (az login)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    /// A fake `az`: a shell script that prints `stdout` and `stderr` and
    /// exits with `code`.
    fn fake_az(dir: &std::path::Path, stdout: &str, stderr: &str, code: i32) -> AzureCliCredential {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("az");
        let script = format!(
            "#!/bin/sh\necho \"$@\" > '{}/args'\ncat <<'EOF'\n{stdout}\nEOF\necho '{stderr}' >&2\nexit {code}\n",
            dir.display()
        );
        std::fs::write(&path, script).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        AzureCliCredential {
            program: path.to_string_lossy().into_owned(),
            tenant: None,
        }
    }

    #[test]
    fn the_cli_token_is_read_and_its_failures_say_what_to_do() {
        let dir = tempfile::tempdir().expect("dir");
        let az = fake_az(
            dir.path(),
            r#"{"accessToken":"CLI-TOKEN","expiresOn":"2030-01-01 00:00:00.000000","expires_on":4102444800,"tokenType":"Bearer"}"#,
            "",
            0,
        );
        let token = runtime()
            .block_on(az.token(super::super::STORAGE_SCOPE))
            .expect("token");
        assert_eq!(token.secret.expose(), "CLI-TOKEN");
        let args = std::fs::read_to_string(dir.path().join("args")).expect("args");
        assert!(
            args.contains(
                "account get-access-token --output json --resource https://storage.azure.com/"
            ),
            "{args}"
        );

        let az = fake_az(
            dir.path(),
            "",
            "ERROR: Please run 'az login' to setup account.",
            1,
        );
        let err = runtime()
            .block_on(az.token(super::super::STORAGE_SCOPE))
            .expect_err("logged out");
        assert!(matches!(
            err,
            Error::Credential {
                unavailable: true,
                ..
            }
        ));
        assert!(err.to_string().contains("run `az login`"), "{err}");

        let missing = AzureCliCredential {
            program: dir.path().join("nothing").to_string_lossy().into_owned(),
            tenant: None,
        };
        let err = runtime()
            .block_on(missing.token(super::super::STORAGE_SCOPE))
            .expect_err("not installed");
        assert!(err.to_string().contains("not installed"), "{err}");
    }
}
