//! How a store is used, as a user set it: the settings every remote store
//! shares (retries and timeouts, how large files move), and those of one
//! backend ([`AzureSettings`], [`LocalSettings`]). Each can be given as text,
//! by its variable (`BATCHOUT_RETRIES`…) or by a command-line flag, and is
//! parsed here in one place ([`StoreSettings::set`]), so both accept the same
//! values and say the same thing about a bad one.

use std::path::PathBuf;
use std::time::Duration;

use crate::azure::config::AuthMode;
use crate::remote::TransferOptions;
use crate::{AzureOptions, Error, LocalStore, RequestChecksum, Result, RetryPolicy};

/// The smallest block size accepted.
const MIN_BLOCK_SIZE: u64 = 64 * 1024;
/// The largest block size accepted (the most one Put Block may carry).
const MAX_BLOCK_SIZE: u64 = 4000 * 1024 * 1024;
/// The most blocks of one file accepted in flight at once.
const MAX_BLOCK_CONCURRENCY: usize = 64;

/// Reads a variable; tests pass their own.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A store setting that can be given as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Setting {
    /// Attempts in all for one request (`BATCHOUT_RETRIES`).
    Attempts,
    /// The longest one request that is not a transfer may take
    /// (`BATCHOUT_TIMEOUT`).
    Timeout,
    /// How long a transfer may go without moving a byte
    /// (`BATCHOUT_IDLE_TIMEOUT`).
    IdleTimeout,
    /// The longest one operation may take across its attempts
    /// (`BATCHOUT_DEADLINE`).
    Deadline,
    /// The size of the blocks large files move in (`BATCHOUT_BLOCK_SIZE`).
    BlockSize,
    /// How many blocks of one file move at once
    /// (`BATCHOUT_BLOCK_CONCURRENCY`).
    BlockConcurrency,
    /// Whether whole reads go in parallel ranges (`BATCHOUT_PARALLEL_READS`).
    ParallelReads,
    /// Whether puts record a SHA-256 too (`BATCHOUT_SHA256`).
    Sha256,
    /// How much lower the upload's hashing thread runs (`BATCHOUT_NICE`).
    Nice,
    /// The checksum Azure upload requests carry (`BATCHOUT_CHECKSUM`).
    Checksum,
    /// Whether the local directory store syncs its puts (`BATCHOUT_SYNC`).
    Sync,
    /// How to sign in to Azure Storage (`BATCHOUT_AUTH`).
    Auth,
    /// The client id of the user-assigned managed identity to sign in with
    /// (`BATCHOUT_IDENTITY_CLIENT_ID`; else `AZURE_CLIENT_ID`).
    IdentityClientId,
}

impl Setting {
    /// Every setting.
    pub const ALL: [Setting; 13] = [
        Self::Attempts,
        Self::Timeout,
        Self::IdleTimeout,
        Self::Deadline,
        Self::BlockSize,
        Self::BlockConcurrency,
        Self::ParallelReads,
        Self::Sha256,
        Self::Nice,
        Self::Checksum,
        Self::Sync,
        Self::Auth,
        Self::IdentityClientId,
    ];

    /// The variable that gives it.
    pub fn variable(self) -> &'static str {
        match self {
            Self::Attempts => "BATCHOUT_RETRIES",
            Self::Timeout => "BATCHOUT_TIMEOUT",
            Self::IdleTimeout => "BATCHOUT_IDLE_TIMEOUT",
            Self::Deadline => "BATCHOUT_DEADLINE",
            Self::BlockSize => "BATCHOUT_BLOCK_SIZE",
            Self::BlockConcurrency => "BATCHOUT_BLOCK_CONCURRENCY",
            Self::ParallelReads => "BATCHOUT_PARALLEL_READS",
            Self::Sha256 => "BATCHOUT_SHA256",
            Self::Nice => "BATCHOUT_NICE",
            Self::Checksum => "BATCHOUT_CHECKSUM",
            Self::Sync => "BATCHOUT_SYNC",
            Self::Auth => "BATCHOUT_AUTH",
            Self::IdentityClientId => "BATCHOUT_IDENTITY_CLIENT_ID",
        }
    }

    /// What it accepts, as a message says it.
    pub fn expects(self) -> &'static str {
        match self {
            Self::Attempts => "a whole number from 1 (no retry) to 100",
            Self::Timeout | Self::IdleTimeout | Self::Deadline => {
                "a positive duration, written as 30s, 2m, 1h30m or 500ms"
            }
            Self::BlockSize => {
                "a size from 64KiB to 4000MiB, as bytes or with KiB, MiB or GiB (8MiB)"
            }
            Self::BlockConcurrency => "a whole number from 1 to 64",
            Self::ParallelReads | Self::Sha256 | Self::Sync => "1 (yes) or 0 (no)",
            Self::Nice => {
                "a whole number from 0 (the same priority as the rest) to 19 (the lowest)"
            }
            Self::Checksum => "md5 or crc64 (or nothing, to choose by endpoint)",
            Self::Auth => {
                "key, sas, token, cli, managed-identity, workload-identity, service-principal or anonymous"
            }
            Self::IdentityClientId => {
                "the client id of a user-assigned managed identity (a GUID, without spaces)"
            }
        }
    }
}

/// A setting's text that is not a value it takes. Its message says what
/// would be; whoever gave the text (a variable, a flag) names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not valid; give {}", .setting.expects())]
pub struct InvalidValue {
    /// The setting.
    pub setting: Setting,
    /// The text given.
    pub value: String,
}

/// How a store is used, as a user set it. What is not set comes from the
/// environment (each [`Setting::variable`]), else from the defaults
/// ([`RetryPolicy::default`], [`TransferOptions::default`]).
///
/// ```
/// use std::time::Duration;
/// use batchout_store::{Setting, StoreSettings};
///
/// let mut settings = StoreSettings::default().with_timeout(Duration::from_secs(20));
/// settings.set(Setting::Attempts, "10")?;
/// assert_eq!(settings.policy().attempts, 10);
/// assert!(settings.set(Setting::BlockSize, "8 parsecs").is_err());
/// # Ok::<(), batchout_store::InvalidValue>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreSettings {
    attempts: Option<u32>,
    timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    deadline: Option<Duration>,
    block_size: Option<u64>,
    block_concurrency: Option<usize>,
    parallel_reads: Option<bool>,
    sha256: Option<bool>,
    nice: Option<u8>,
    /// What only Azure Blob Storage reads.
    pub azure: AzureSettings,
    /// What only the local directory store reads.
    pub local: LocalSettings,
}

/// The settings only Azure Blob Storage reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AzureSettings {
    /// The checksum every upload request carries (unset: by endpoint; see
    /// [`AzureOptions::checksum`]).
    pub checksum: Option<RequestChecksum>,
    /// How to sign in (unset: the first way given; see [`AuthMode`]).
    pub auth: Option<AuthMode>,
    /// The client id of the user-assigned managed identity to sign in with
    /// (unset: `AZURE_CLIENT_ID`, else the machine's only identity).
    pub identity_client_id: Option<String>,
}

/// The settings only the local directory store reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LocalSettings {
    /// Whether each put, and each download, is synced to disk before it is
    /// renamed into place (unset: by file system; see
    /// [`LocalStore::sync_puts`]).
    pub sync: Option<bool>,
}

impl StoreSettings {
    /// Attempts in all for one request, the first included (at least 1).
    #[must_use]
    pub fn with_attempts(mut self, attempts: u32) -> Self {
        self.attempts = Some(attempts);
        self
    }

    /// The longest one request that is not a transfer may take.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How long a transfer may go without moving a byte.
    #[must_use]
    pub fn with_idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = Some(idle);
        self
    }

    /// The longest one operation may take across all its attempts.
    #[must_use]
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// The size of the blocks a large file moves in, up and down (64 KiB to
    /// 4000 MiB; clamped to that).
    #[must_use]
    pub fn with_block_size(mut self, bytes: u64) -> Self {
        self.block_size = Some(bytes);
        self
    }

    /// How many blocks of one file move at once (1 to 64; clamped to that).
    #[must_use]
    pub fn with_block_concurrency(mut self, blocks: usize) -> Self {
        self.block_concurrency = Some(blocks);
        self
    }

    /// Whether whole reads of large blobs go in parallel ranges (see
    /// [`TransferOptions::parallel_reads`]; unset, by endpoint).
    #[must_use]
    pub fn with_parallel_reads(mut self, parallel: bool) -> Self {
        self.parallel_reads = Some(parallel);
        self
    }

    /// Whether puts record each blob's SHA-256 beside its CRC-64 (see
    /// [`TransferOptions::sha256`]; unset, they do not).
    #[must_use]
    pub fn with_sha256(mut self, sha256: bool) -> Self {
        self.sha256 = Some(sha256);
        self
    }

    /// How much lower than the rest of the process the thread that reads and
    /// hashes a large upload runs (see [`TransferOptions::nice`]; 0 to 19).
    #[must_use]
    pub fn with_nice(mut self, nice: u8) -> Self {
        self.nice = Some(nice);
        self
    }

    /// Sets `setting` from its text, as its variable or a flag gives it.
    ///
    /// # Errors
    ///
    /// [`InvalidValue`] saying what the setting takes; nothing is set.
    pub fn set(&mut self, setting: Setting, text: &str) -> std::result::Result<(), InvalidValue> {
        let invalid = || InvalidValue {
            setting,
            value: text.to_owned(),
        };
        let trimmed = text.trim();
        let switch = || match trimmed.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(invalid()),
        };
        let duration = || match humantime::parse_duration(trimmed) {
            Ok(d) if !d.is_zero() => Ok(d),
            _ => Err(invalid()),
        };
        match setting {
            Setting::Attempts => {
                self.attempts = Some(
                    trimmed
                        .parse()
                        .ok()
                        .filter(|n| (1..=100).contains(n))
                        .ok_or_else(invalid)?,
                );
            }
            Setting::Timeout => self.timeout = Some(duration()?),
            Setting::IdleTimeout => self.idle_timeout = Some(duration()?),
            Setting::Deadline => self.deadline = Some(duration()?),
            Setting::BlockSize => self.block_size = Some(parse_size(trimmed).ok_or_else(invalid)?),
            Setting::BlockConcurrency => {
                self.block_concurrency = Some(
                    trimmed
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_BLOCK_CONCURRENCY).contains(n))
                        .ok_or_else(invalid)?,
                );
            }
            Setting::ParallelReads => self.parallel_reads = Some(switch()?),
            Setting::Sha256 => self.sha256 = Some(switch()?),
            Setting::Nice => {
                self.nice = Some(
                    trimmed
                        .parse()
                        .ok()
                        .filter(|n| *n <= crate::priority::MAX_NICE)
                        .ok_or_else(invalid)?,
                );
            }
            Setting::Checksum => {
                self.azure.checksum = Some(match trimmed.to_ascii_lowercase().as_str() {
                    "md5" => RequestChecksum::Md5,
                    "crc64" => RequestChecksum::Crc64,
                    _ => return Err(invalid()),
                });
            }
            Setting::Sync => self.local.sync = Some(switch()?),
            Setting::Auth => self.azure.auth = Some(AuthMode::parse(trimmed).ok_or_else(invalid)?),
            Setting::IdentityClientId => {
                if trimmed.is_empty()
                    || trimmed.chars().any(|c| c.is_whitespace() || c.is_control())
                {
                    return Err(invalid());
                }
                self.azure.identity_client_id = Some(trimmed.to_owned());
            }
        }
        Ok(())
    }

    /// The settings the environment's variables give (those set and not
    /// empty).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSetting`] naming the first variable whose value is
    /// not one its setting takes, and what would be.
    pub fn from_env(env: EnvLookup<'_>) -> Result<Self> {
        let mut settings = Self::default();
        for setting in Setting::ALL {
            if let Some(value) = env(setting.variable()) {
                settings
                    .set(setting, &value)
                    .map_err(|invalid| Error::InvalidSetting {
                        name: setting.variable().to_owned(),
                        value: invalid.value,
                        expected: setting.expects(),
                    })?;
            }
        }
        Ok(settings)
    }

    /// These settings, with what they leave unset taken from `fallback`.
    #[must_use]
    pub fn or(self, fallback: Self) -> Self {
        Self {
            attempts: self.attempts.or(fallback.attempts),
            timeout: self.timeout.or(fallback.timeout),
            idle_timeout: self.idle_timeout.or(fallback.idle_timeout),
            deadline: self.deadline.or(fallback.deadline),
            block_size: self.block_size.or(fallback.block_size),
            block_concurrency: self.block_concurrency.or(fallback.block_concurrency),
            parallel_reads: self.parallel_reads.or(fallback.parallel_reads),
            sha256: self.sha256.or(fallback.sha256),
            nice: self.nice.or(fallback.nice),
            azure: AzureSettings {
                checksum: self.azure.checksum.or(fallback.azure.checksum),
                auth: self.azure.auth.or(fallback.azure.auth),
                identity_client_id: self
                    .azure
                    .identity_client_id
                    .or(fallback.azure.identity_client_id),
            },
            local: LocalSettings {
                sync: self.local.sync.or(fallback.local.sync),
            },
        }
    }

    /// The retry policy: these settings over [`RetryPolicy::default`].
    pub fn policy(&self) -> RetryPolicy {
        let mut policy = RetryPolicy::default();
        if let Some(attempts) = self.attempts {
            policy.attempts = attempts.max(1);
        }
        if let Some(timeout) = self.timeout {
            policy.request_timeout = timeout;
        }
        if let Some(idle) = self.idle_timeout {
            policy.idle_timeout = idle;
        }
        if let Some(deadline) = self.deadline {
            policy.deadline = deadline;
        }
        policy
    }

    /// How large files move: these settings over
    /// [`TransferOptions::default`].
    pub fn transfer(&self) -> TransferOptions {
        let mut options = TransferOptions::default();
        if let Some(size) = self.block_size {
            options.block_size = size.clamp(MIN_BLOCK_SIZE, MAX_BLOCK_SIZE);
        }
        if let Some(blocks) = self.block_concurrency {
            options.block_concurrency = blocks.clamp(1, MAX_BLOCK_CONCURRENCY);
        }
        options.parallel_reads = self.parallel_reads.or(options.parallel_reads);
        options.sha256 = self.sha256.unwrap_or(options.sha256);
        if let Some(nice) = self.nice {
            options.nice = nice.min(crate::priority::MAX_NICE);
        }
        options
    }

    /// The options of an Azure store with these settings.
    pub fn azure_options(&self) -> AzureOptions {
        AzureOptions {
            transfer: self.transfer(),
            retry: self.policy(),
            checksum: self.azure.checksum,
        }
    }

    /// A local directory store at `root`, with these settings.
    pub fn local_store(&self, root: PathBuf) -> LocalStore {
        let store = LocalStore::new(root);
        match self.local.sync {
            Some(sync) => store.sync_puts(sync),
            None => store,
        }
    }
}

/// A size: bytes, or a number with a unit (`KiB`, `MiB`, `GiB`, or `K`, `M`,
/// `G` for the same), from 64 KiB to 4000 MiB.
fn parse_size(text: &str) -> Option<u64> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit_bytes: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "kb" => 1024,
        "m" | "mib" | "mb" => 1024 * 1024,
        "g" | "gib" | "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit_bytes))
        .filter(|bytes| (MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_settings_come_from_flags_then_the_environment_then_defaults() {
        let env = |name: &str| match name {
            "BATCHOUT_RETRIES" => Some("9".to_owned()),
            "BATCHOUT_TIMEOUT" => Some("12s".to_owned()),
            "BATCHOUT_DEADLINE" => Some("2m".to_owned()),
            _ => None,
        };
        let from_env = StoreSettings::from_env(&env).expect("valid");
        let flags = StoreSettings::default().with_attempts(3);
        let policy = flags.or(from_env).policy();
        assert_eq!(policy.attempts, 3, "a flag wins over the variable");
        assert_eq!(policy.request_timeout, Duration::from_secs(12));
        assert_eq!(policy.deadline, Duration::from_secs(120));
        assert_eq!(
            policy.idle_timeout,
            RetryPolicy::default().idle_timeout,
            "unset: the default"
        );
    }

    #[test]
    fn every_bad_variable_is_named_with_what_it_takes() {
        for (setting, value, expected) in [
            (Setting::Attempts, "0", "from 1 (no retry) to 100"),
            (Setting::Attempts, "lots", "whole number"),
            (Setting::Timeout, "30", "written as 30s"),
            (Setting::Deadline, "0s", "positive duration"),
            (Setting::BlockSize, "8 parsecs", "MiB"),
            (Setting::BlockSize, "1KiB", "from 64KiB"),
            (Setting::BlockSize, "5000MiB", "4000MiB"),
            (Setting::BlockSize, "99999999999999999999G", "MiB"),
            (Setting::BlockConcurrency, "65", "1 to 64"),
            (Setting::Nice, "20", "19 (the lowest)"),
            (Setting::Checksum, "sha1", "md5 or crc64"),
            (Setting::Sync, "sometimes", "1 (yes) or 0 (no)"),
            (Setting::Sha256, "maybe", "1 (yes) or 0 (no)"),
            (Setting::ParallelReads, "2", "1 (yes) or 0 (no)"),
            (
                Setting::Auth,
                "password",
                "managed-identity, workload-identity",
            ),
            (
                Setting::IdentityClientId,
                "a b",
                "user-assigned managed identity",
            ),
        ] {
            let env = |n: &str| (n == setting.variable()).then(|| value.to_owned());
            let err = StoreSettings::from_env(&env).expect_err(value).to_string();
            assert!(
                err.contains(setting.variable()) && err.contains(expected) && err.contains(value),
                "{err}"
            );
            let mut settings = StoreSettings::default();
            let invalid = settings.set(setting, value).expect_err(value);
            assert_eq!(settings, StoreSettings::default(), "nothing set");
            assert!(invalid.to_string().contains(expected), "{invalid}");
        }
    }

    #[test]
    fn values_parse_sizes_counts_switches_and_checksums() {
        let mut settings = StoreSettings::default();
        for (setting, value) in [
            (Setting::BlockSize, " 4 m "),
            (Setting::BlockConcurrency, "16"),
            (Setting::Nice, "0"),
            (Setting::Sha256, "on"),
            (Setting::ParallelReads, "False"),
            (Setting::Checksum, "CRC64"),
            (Setting::Sync, "yes"),
            (Setting::IdleTimeout, "1h30m"),
            (Setting::Auth, " Managed_Identity "),
            (Setting::IdentityClientId, " 0a1b "),
        ] {
            settings.set(setting, value).expect(value);
        }
        let transfer = settings.transfer();
        assert_eq!(transfer.block_size, 4 * 1024 * 1024);
        assert_eq!(transfer.block_concurrency, 16);
        assert_eq!(transfer.nice, 0);
        assert!(transfer.sha256);
        assert_eq!(transfer.parallel_reads, Some(false));
        assert_eq!(settings.azure.checksum, Some(RequestChecksum::Crc64));
        assert_eq!(settings.local.sync, Some(true));
        assert_eq!(settings.azure.auth, Some(AuthMode::ManagedIdentity));
        assert_eq!(settings.azure.identity_client_id.as_deref(), Some("0a1b"));
        assert_eq!(settings.policy().idle_timeout, Duration::from_secs(5400));
        assert_eq!(parse_size("65536"), Some(65536));
        assert_eq!(parse_size("1GiB"), Some(1024 * 1024 * 1024));
    }

    #[test]
    fn a_flag_wins_over_its_variable_and_values_out_of_range_are_clamped() {
        let env = |name: &str| match name {
            "BATCHOUT_BLOCK_SIZE" => Some("16MiB".to_owned()),
            "BATCHOUT_BLOCK_CONCURRENCY" => Some("2".to_owned()),
            "BATCHOUT_NICE" => Some("3".to_owned()),
            _ => None,
        };
        let options = StoreSettings::default()
            .with_block_concurrency(8)
            .or(StoreSettings::from_env(&env).expect("valid"))
            .azure_options();
        assert_eq!(options.transfer.block_size, 16 * 1024 * 1024);
        assert_eq!(options.transfer.block_concurrency, 8, "the flag wins");
        assert_eq!(options.transfer.nice, 3);
        assert_eq!(TransferOptions::default().nice, 10);
        let capped = StoreSettings::default()
            .with_nice(40)
            .with_block_concurrency(1000)
            .transfer();
        assert_eq!((capped.nice, capped.block_concurrency), (19, 64));
    }
}
