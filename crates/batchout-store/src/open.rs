//! Opening a store from what a user gives: a path, a URL, a connection string,
//! or nothing (the environment, else the local default).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::azure::RetryPolicy;
use crate::azure::config::{self, EnvLookup};
use crate::{AzureOptions, AzureStore, Error, LocalStore, RequestChecksum, Result, Store};

/// The local directory used when no store is named.
pub const DEFAULT_LOCAL_STORE: &str = "./batchout-data";

/// Attempts in all for one request (`5` by default).
pub const RETRIES_ENV: &str = "BATCHOUT_RETRIES";
/// The longest one request that is not a transfer may take (`30s`).
pub const TIMEOUT_ENV: &str = "BATCHOUT_TIMEOUT";
/// How long a transfer may go without moving a byte (`60s`).
pub const IDLE_TIMEOUT_ENV: &str = "BATCHOUT_IDLE_TIMEOUT";
/// The longest one operation may take across all its attempts (`5m`).
pub const DEADLINE_ENV: &str = "BATCHOUT_DEADLINE";
/// The size of the blocks large files move in (`8MiB`).
pub const BLOCK_SIZE_ENV: &str = "BATCHOUT_BLOCK_SIZE";
/// How many blocks of one file move at once (`4`).
pub const BLOCK_CONCURRENCY_ENV: &str = "BATCHOUT_BLOCK_CONCURRENCY";

/// The checksum upload requests carry: `md5` or `crc64` (unset: by endpoint).
pub const CHECKSUM_ENV: &str = "BATCHOUT_CHECKSUM";

/// Whether puts record each blob's SHA-256 beside its CRC-64: `1` or `0`
/// (unset: no; see `AzureOptions::sha256`).
pub const SHA256_ENV: &str = "BATCHOUT_SHA256";

/// How much lower the thread that reads and hashes a large upload runs: a nice
/// value added, `0` to `19` (`10`; see `AzureOptions::nice`).
pub const NICE_ENV: &str = "BATCHOUT_NICE";

/// Whether whole reads of large blobs go in parallel ranges: `1` or `0` (unset:
/// by endpoint; see `AzureOptions::parallel_reads`).
pub const PARALLEL_READS_ENV: &str = "BATCHOUT_PARALLEL_READS";

/// Whether the local directory store syncs each put to disk: `1` or `0` (unset:
/// by file system; see `LocalStore::sync_puts`).
pub const SYNC_ENV: &str = "BATCHOUT_SYNC";

/// The smallest block size accepted.
const MIN_BLOCK_SIZE: u64 = 64 * 1024;
/// The largest block size accepted (the most one Put Block may carry).
const MAX_BLOCK_SIZE: u64 = 4000 * 1024 * 1024;
/// The most blocks of one file accepted in flight at once.
const MAX_BLOCK_CONCURRENCY: usize = 64;

/// How a remote store is used, as a user set it: how requests are retried and
/// timed, and how large files move (block size, blocks at once). What is not
/// set comes from the environment ([`RETRIES_ENV`], [`TIMEOUT_ENV`],
/// [`IDLE_TIMEOUT_ENV`], [`DEADLINE_ENV`], [`BLOCK_SIZE_ENV`],
/// [`BLOCK_CONCURRENCY_ENV`], [`CHECKSUM_ENV`], [`SHA256_ENV`], [`SYNC_ENV`],
/// [`PARALLEL_READS_ENV`], [`NICE_ENV`]), else from [`RetryPolicy::default`] and
/// [`AzureOptions::default`].
///
/// ```
/// use std::time::Duration;
/// use batchout_store::StoreSettings;
///
/// let settings = StoreSettings::default()
///     .with_attempts(10)
///     .with_timeout(Duration::from_secs(20));
/// assert_eq!(settings.policy().attempts, 10);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreSettings {
    attempts: Option<u32>,
    timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    deadline: Option<Duration>,
    block_size: Option<u64>,
    block_concurrency: Option<usize>,
    checksum: Option<RequestChecksum>,
    sync_puts: Option<bool>,
    parallel_reads: Option<bool>,
    sha256: Option<bool>,
    nice: Option<u8>,
}

impl StoreSettings {
    /// Attempts in all for one request, the first included (at least 1).
    pub fn with_attempts(mut self, attempts: u32) -> Self {
        self.attempts = Some(attempts);
        self
    }

    /// The longest one request that is not a transfer may take.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How long a transfer may go without moving a byte.
    pub fn with_idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = Some(idle);
        self
    }

    /// The longest one operation may take across all its attempts.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// The size of the blocks a large file moves in, up and down (see
    /// [`parse_block_size`] for the range accepted).
    pub fn with_block_size(mut self, bytes: u64) -> Self {
        self.block_size = Some(bytes);
        self
    }

    /// How many blocks of one file move at once (see
    /// [`parse_block_concurrency`]).
    pub fn with_block_concurrency(mut self, blocks: usize) -> Self {
        self.block_concurrency = Some(blocks);
        self
    }

    /// The checksum every upload request carries (see [`RequestChecksum`];
    /// unset, it is chosen by endpoint).
    pub fn with_checksum(mut self, checksum: RequestChecksum) -> Self {
        self.checksum = Some(checksum);
        self
    }

    /// Whether puts record each blob's SHA-256 beside its CRC-64 (see
    /// [`AzureOptions::sha256`]; unset, they do not).
    pub fn with_sha256(mut self, sha256: bool) -> Self {
        self.sha256 = Some(sha256);
        self
    }

    /// How much lower than the rest of the process the thread that reads and
    /// hashes a large upload runs (see [`AzureOptions::nice`] and
    /// [`parse_nice`]).
    pub fn with_nice(mut self, nice: u8) -> Self {
        self.nice = Some(nice);
        self
    }

    /// Whether whole reads of large blobs go in parallel ranges (see
    /// [`AzureOptions::parallel_reads`]; unset, it is chosen by endpoint).
    pub fn with_parallel_reads(mut self, parallel: bool) -> Self {
        self.parallel_reads = Some(parallel);
        self
    }

    /// Whether the local directory store syncs each put to disk before it is
    /// renamed into place (see [`LocalStore::sync_puts`]; unset, it is chosen
    /// by file system).
    pub fn with_sync_puts(mut self, sync: bool) -> Self {
        self.sync_puts = Some(sync);
        self
    }

    /// Whether local writes sync to disk, if set (see
    /// [`StoreSettings::with_sync_puts`]): unset, it is chosen by file system.
    pub fn sync(&self) -> Option<bool> {
        self.sync_puts
    }

    /// The settings given by the environment variables.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidStoreUrl`] naming the variable, for a count that is not a
    /// whole number from 1 to 100 or a duration that is not one (`30s`, `2m`).
    pub fn from_env(env: EnvLookup<'_>) -> Result<Self> {
        let invalid = |name: &str, value: &str, reason: String| Error::InvalidStoreUrl {
            url: format!("{name}={value}"),
            reason,
        };
        let mut settings = Self::default();
        if let Some(value) = env(RETRIES_ENV) {
            let attempts =
                parse_attempts(&value).map_err(|reason| invalid(RETRIES_ENV, &value, reason))?;
            settings.attempts = Some(attempts);
        }
        let duration = |name: &str| -> Result<Option<Duration>> {
            env(name)
                .map(|value| parse_duration(&value).map_err(|reason| invalid(name, &value, reason)))
                .transpose()
        };
        settings.timeout = duration(TIMEOUT_ENV)?;
        settings.idle_timeout = duration(IDLE_TIMEOUT_ENV)?;
        settings.deadline = duration(DEADLINE_ENV)?;
        if let Some(value) = env(BLOCK_SIZE_ENV) {
            let size = parse_block_size(&value)
                .map_err(|reason| invalid(BLOCK_SIZE_ENV, &value, reason))?;
            settings.block_size = Some(size);
        }
        if let Some(value) = env(BLOCK_CONCURRENCY_ENV) {
            let blocks = parse_block_concurrency(&value)
                .map_err(|reason| invalid(BLOCK_CONCURRENCY_ENV, &value, reason))?;
            settings.block_concurrency = Some(blocks);
        }
        let switch = |name: &str, fix: &str| -> Result<Option<bool>> {
            env(name)
                .map(|value| match value.trim().to_ascii_lowercase().as_str() {
                    "1" | "true" | "yes" | "on" => Ok(true),
                    "0" | "false" | "no" | "off" => Ok(false),
                    _ => Err(invalid(name, &value, fix.to_owned())),
                })
                .transpose()
        };
        settings.sync_puts = switch(SYNC_ENV, "give 1 to sync every put to disk, or 0 not to")?;
        settings.parallel_reads = switch(
            PARALLEL_READS_ENV,
            "give 1 to read large blobs in parallel ranges, or 0 for one stream",
        )?;
        settings.sha256 = switch(
            SHA256_ENV,
            "give 1 to record each output's SHA-256 too, or 0 not to",
        )?;
        if let Some(value) = env(NICE_ENV) {
            let nice = parse_nice(&value).map_err(|reason| invalid(NICE_ENV, &value, reason))?;
            settings.nice = Some(nice);
        }
        if let Some(value) = env(CHECKSUM_ENV) {
            let checksum = RequestChecksum::parse(&value)
                .map_err(|reason| invalid(CHECKSUM_ENV, &value, reason))?;
            settings.checksum = Some(checksum);
        }
        Ok(settings)
    }

    /// These settings, with what they leave unset taken from `fallback`.
    pub fn or(self, fallback: Self) -> Self {
        Self {
            attempts: self.attempts.or(fallback.attempts),
            timeout: self.timeout.or(fallback.timeout),
            idle_timeout: self.idle_timeout.or(fallback.idle_timeout),
            deadline: self.deadline.or(fallback.deadline),
            block_size: self.block_size.or(fallback.block_size),
            block_concurrency: self.block_concurrency.or(fallback.block_concurrency),
            checksum: self.checksum.or(fallback.checksum),
            sync_puts: self.sync_puts.or(fallback.sync_puts),
            parallel_reads: self.parallel_reads.or(fallback.parallel_reads),
            sha256: self.sha256.or(fallback.sha256),
            nice: self.nice.or(fallback.nice),
        }
    }

    /// A local directory store at `root`, with these settings.
    pub fn local_store(&self, root: PathBuf) -> LocalStore {
        let store = LocalStore::new(root);
        match self.sync_puts {
            Some(sync) => store.sync_puts(sync),
            None => store,
        }
    }

    /// The Azure options: these settings over [`AzureOptions::default`].
    pub fn azure_options(&self) -> AzureOptions {
        let mut options = AzureOptions {
            retry: self.policy(),
            ..AzureOptions::default()
        };
        if let Some(size) = self.block_size {
            options.block_size = size.clamp(MIN_BLOCK_SIZE, MAX_BLOCK_SIZE);
        }
        if let Some(blocks) = self.block_concurrency {
            options.block_concurrency = blocks.clamp(1, MAX_BLOCK_CONCURRENCY);
        }
        options.checksum = self.checksum.or(options.checksum);
        options.parallel_reads = self.parallel_reads.or(options.parallel_reads);
        options.sha256 = self.sha256.unwrap_or(options.sha256);
        if let Some(nice) = self.nice {
            options.nice = nice.min(crate::priority::MAX_NICE);
        }
        options
    }

    /// The policy: these settings over [`RetryPolicy::default`].
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
}

/// A block size: bytes, or a number with a unit (`KiB`, `MiB`, `GiB`, or
/// `K`, `M`, `G` for the same), from 64 KiB to 4000 MiB.
///
/// # Errors
///
/// Why it is not one, and what to write instead.
pub fn parse_block_size(text: &str) -> std::result::Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit_bytes: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "kb" => 1024,
        "m" | "mib" | "mb" => 1024 * 1024,
        "g" | "gib" | "gb" => 1024 * 1024 * 1024,
        _ => {
            return Err(format!(
                "{text:?} is not a size; write bytes or a number with KiB, MiB or GiB, as in 8MiB"
            ));
        }
    };
    let bytes = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit_bytes))
        .ok_or_else(|| format!("{text:?} is not a size; write a whole number, as in 8MiB"))?;
    if (MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&bytes) {
        Ok(bytes)
    } else {
        Err(format!(
            "{text:?} is outside what Azure blocks allow here; give 64KiB to 4000MiB"
        ))
    }
}

/// A number of blocks of one file at once, from 1 to 64.
///
/// # Errors
///
/// Why it is not one, and what to write instead.
pub fn parse_block_concurrency(text: &str) -> std::result::Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_BLOCK_CONCURRENCY).contains(&n) => Ok(n),
        _ => Err(format!(
            "{text:?} is not a number of blocks at once; give a whole number from 1 to {MAX_BLOCK_CONCURRENCY}"
        )),
    }
}

/// A nice value to add, from 0 (the same priority) to 19 (the lowest).
///
/// # Errors
///
/// Why it is not one, and what to write instead.
pub fn parse_nice(text: &str) -> std::result::Result<u8, String> {
    let max = crate::priority::MAX_NICE;
    match text.trim().parse::<u8>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(format!(
            "{text:?} is not a nice value to add; give a whole number from 0 (the same priority as the rest) to {max} (the lowest)"
        )),
    }
}

/// A count of attempts, from 1 to 100.
///
/// # Errors
///
/// Why it is not one, and what to write instead.
pub fn parse_attempts(text: &str) -> std::result::Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(n) if (1..=100).contains(&n) => Ok(n),
        _ => Err(format!(
            "{text:?} is not a number of attempts; give a whole number from 1 (no retry) to 100"
        )),
    }
}

/// A positive duration such as `30s`, `2m`, `1h30m` or `500ms`.
///
/// # Errors
///
/// Why it is not one, and what to write instead.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    match humantime::parse_duration(text.trim()) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(format!(
            "{text:?} is no time at all; give a positive duration such as 30s"
        )),
        Err(e) => Err(format!(
            "{text:?} is not a duration ({e}); write it as 30s, 2m, 1h30m or 500ms"
        )),
    }
}

/// Opens a store from a path, URL or connection string:
///
/// - a directory path, or `file:///absolute/path`: a [`LocalStore`] there (it is
///   created on first write);
/// - `https://ACCOUNT.blob.core.windows.net` or a path-style endpoint such as
///   Azurite's `http://127.0.0.1:10000/devstoreaccount1`: Azure Blob Storage,
///   signed with `AZURE_STORAGE_KEY` or `AZURE_STORAGE_SAS_TOKEN` (the emulator's
///   well-known key for `devstoreaccount1`);
/// - a container SAS URL (`https://…/CONTAINER?sv=…&sig=…`): that container only;
/// - a connection string (`AccountName=…;AccountKey=…`, `UseDevelopmentStorage=true`).
///
/// # Errors
///
/// [`Error::InvalidStoreUrl`] saying what is wrong; no secret is ever in it.
pub fn open(url: &str) -> Result<Arc<dyn Store>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    open_with(url, &env, &StoreSettings::from_env(&env)?)
}

/// Opens the store named by `explicit` (a `--store` flag), else the
/// `BATCHOUT_STORE` variable, else the `AZURE_STORAGE_CONNECTION_STRING` or
/// `AZURE_STORAGE_ACCOUNT` variables, else the local directory
/// [`DEFAULT_LOCAL_STORE`].
///
/// # Errors
///
/// As [`open`].
pub fn open_configured(explicit: Option<&str>) -> Result<Arc<dyn Store>> {
    open_configured_with(explicit, &StoreSettings::default())
}

/// As [`open_configured`], with retry settings that take precedence over the
/// environment's (command-line flags, say).
///
/// # Errors
///
/// As [`open`]; and [`Error::InvalidStoreUrl`] for a retry variable that is not
/// valid.
pub fn open_configured_with(
    explicit: Option<&str>,
    settings: &StoreSettings,
) -> Result<Arc<dyn Store>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let settings = settings.clone().or(StoreSettings::from_env(&env)?);
    if let Some(url) = named_url(explicit, &env) {
        return open_with(&url, &env, &settings);
    }
    if let Some(target) = config::from_env(&env)? {
        return Ok(Arc::new(AzureStore::new(target, settings.azure_options())?));
    }
    open_with(DEFAULT_LOCAL_STORE, &env, &settings)
}

/// The store URL given: `explicit`, else `BATCHOUT_STORE`.
fn named_url(explicit: Option<&str>, env: EnvLookup<'_>) -> Option<String> {
    explicit
        .map(str::to_owned)
        .or_else(|| env("BATCHOUT_STORE"))
}

/// Whether [`open_configured_with`] would open a local directory store, told
/// without opening anything: a named URL that is a path or `file://` URL, or
/// nothing named and no `AZURE_STORAGE_*` variables (the default). A process
/// sizes its threads by it before it opens the store.
pub fn configured_is_local(explicit: Option<&str>) -> bool {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    match named_url(explicit, &env) {
        Some(url) => url_is_local(&url),
        None => matches!(config::from_env(&env), Ok(None)),
    }
}

/// Whether [`open_with`] makes a local directory store of `url`.
fn url_is_local(url: &str) -> bool {
    match url.split_once("://") {
        Some((scheme, _)) => scheme == "file",
        None => !url.trim().is_empty() && !config::is_connection_string(url),
    }
}

fn open_with(url: &str, env: EnvLookup<'_>, settings: &StoreSettings) -> Result<Arc<dyn Store>> {
    let invalid = |reason: &str| Error::InvalidStoreUrl {
        url: config::redact_url(url),
        reason: reason.to_owned(),
    };
    if url.trim().is_empty() {
        return Err(invalid(
            "it is empty; give a directory path or a URL, or leave --store and BATCHOUT_STORE unset for ./batchout-data",
        ));
    }
    if let Some(path) = url.strip_prefix("file://") {
        if !path.starts_with('/') {
            return Err(invalid(
                "a file:// URL needs an absolute path, as in file:///data/outputs",
            ));
        }
        return Ok(Arc::new(settings.local_store(PathBuf::from(path))));
    }
    if url.starts_with("http://") || url.starts_with("https://") {
        let target = config::from_url(url, env)?;
        return Ok(Arc::new(AzureStore::new(target, settings.azure_options())?));
    }
    if config::is_connection_string(url) {
        let target = config::from_connection_string(url)?;
        return Ok(Arc::new(AzureStore::new(target, settings.azure_options())?));
    }
    if let Some((scheme, _)) = url.split_once("://") {
        return Err(invalid(&format!(
            "{scheme}:// stores are not supported; give a directory path, a file:/// URL, an https:// Azure URL or a connection string"
        )));
    }
    Ok(Arc::new(settings.local_store(PathBuf::from(url))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn none() -> StoreSettings {
        StoreSettings::default()
    }

    #[test]
    fn local_urls_are_told_from_remote_ones_as_they_are_opened() {
        let local = [
            "./batchout-data",
            "/data/out",
            "file:///data/out",
            "out dir",
        ];
        let remote = [
            "https://acct.blob.core.windows.net",
            "http://127.0.0.1:10000/devstoreaccount1",
            "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=a2V5;EndpointSuffix=core.windows.net",
            "s3://bucket",
            "",
        ];
        for url in local {
            assert!(url_is_local(url), "{url}");
            let opened = open_with(url, &no_env, &none()).expect(url);
            assert!(opened.to_string().contains("local"), "{url}: {opened}");
        }
        for url in remote {
            assert!(!url_is_local(url), "{url}");
            if let Ok(opened) = open_with(url, &no_env, &none()) {
                assert!(!opened.to_string().contains("local"), "{url}: {opened}");
            }
        }
    }

    #[test]
    fn retry_settings_come_from_flags_then_the_environment_then_defaults() {
        let env = |name: &str| match name {
            RETRIES_ENV => Some("9".to_owned()),
            TIMEOUT_ENV => Some("12s".to_owned()),
            DEADLINE_ENV => Some("2m".to_owned()),
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
    fn invalid_retry_variables_name_the_variable_and_the_fix() {
        for (name, value, expected) in [
            (RETRIES_ENV, "0", "from 1 (no retry) to 100"),
            (RETRIES_ENV, "lots", "whole number"),
            (TIMEOUT_ENV, "30", "write it as 30s"),
            (DEADLINE_ENV, "0s", "positive duration"),
        ] {
            let env = |n: &str| (n == name).then(|| value.to_owned());
            let err = StoreSettings::from_env(&env).expect_err(value).to_string();
            assert!(err.contains(name) && err.contains(expected), "{err}");
        }
    }

    #[test]
    fn block_settings_parse_sizes_and_counts_and_name_the_fix() {
        assert_eq!(parse_block_size("8MiB"), Ok(8 * 1024 * 1024));
        assert_eq!(parse_block_size(" 4 m "), Ok(4 * 1024 * 1024));
        assert_eq!(parse_block_size("65536"), Ok(65536));
        assert_eq!(parse_block_size("1GiB"), Ok(1024 * 1024 * 1024));
        for bad in [
            "",
            "8 parsecs",
            "1KiB",
            "5000MiB",
            "-1M",
            "99999999999999999999G",
        ] {
            let reason = parse_block_size(bad).expect_err(bad);
            assert!(reason.contains("MiB"), "{bad}: {reason}");
        }
        assert_eq!(parse_block_concurrency("16"), Ok(16));
        assert!(parse_block_concurrency("0").is_err());
        assert!(
            parse_block_concurrency("65")
                .unwrap_err()
                .contains("1 to 64")
        );

        let env = |name: &str| match name {
            BLOCK_SIZE_ENV => Some("16MiB".to_owned()),
            BLOCK_CONCURRENCY_ENV => Some("2".to_owned()),
            _ => None,
        };
        let options = StoreSettings::default()
            .with_block_concurrency(8)
            .or(StoreSettings::from_env(&env).expect("valid"))
            .azure_options();
        assert_eq!(options.block_size, 16 * 1024 * 1024, "from the environment");
        assert_eq!(options.block_concurrency, 8, "the flag wins");
        let bad = |name: &str| (name == BLOCK_SIZE_ENV).then(|| "huge".to_owned());
        let err = StoreSettings::from_env(&bad).unwrap_err().to_string();
        assert!(err.contains(BLOCK_SIZE_ENV), "{err}");
    }

    #[test]
    fn the_nice_value_comes_from_the_flag_then_the_environment_then_the_default() {
        assert_eq!(AzureOptions::default().nice, 10);
        assert_eq!(parse_nice("0"), Ok(0));
        assert_eq!(parse_nice(" 19 "), Ok(19));
        for bad in ["20", "-1", "low", ""] {
            let reason = parse_nice(bad).expect_err(bad);
            assert!(
                reason.contains("from 0") && reason.contains("19"),
                "{bad}: {reason}"
            );
        }
        let env = |name: &str| (name == NICE_ENV).then(|| "3".to_owned());
        let from_env = StoreSettings::from_env(&env).expect("valid");
        assert_eq!(from_env.azure_options().nice, 3, "from the environment");
        let flagged = StoreSettings::default().with_nice(0).or(from_env);
        assert_eq!(flagged.azure_options().nice, 0, "the setting wins");
        let capped = StoreSettings::default().with_nice(40).azure_options();
        assert_eq!(capped.nice, 19);
        let bad = |name: &str| (name == NICE_ENV).then(|| "99".to_owned());
        let err = StoreSettings::from_env(&bad).unwrap_err().to_string();
        assert!(err.contains(NICE_ENV), "{err}");
    }

    #[test]
    fn the_sync_variable_takes_yes_or_no_and_names_the_fix() {
        for (value, sync) in [("1", true), ("on", true), ("0", false), ("False", false)] {
            let env = |name: &str| (name == SYNC_ENV).then(|| value.to_owned());
            let settings = StoreSettings::from_env(&env).expect(value);
            assert_eq!(settings.sync_puts, Some(sync), "{value}");
        }
        let env = |name: &str| (name == SYNC_ENV).then(|| "sometimes".to_owned());
        let err = StoreSettings::from_env(&env).unwrap_err().to_string();
        assert!(err.contains(SYNC_ENV) && err.contains("give 1"), "{err}");
    }

    #[test]
    fn paths_and_file_urls_open_local_stores() {
        let store =
            open_with("some/dir", &no_env, &StoreSettings::default()).expect("a path opens");
        assert!(store.to_string().contains("some/dir"), "{store}");
        let store = open_with("file:///tmp/x", &no_env, &none()).expect("a file URL opens");
        assert!(store.to_string().contains("/tmp/x"), "{store}");
    }

    #[test]
    fn azure_urls_and_connection_strings_open_azure_stores() {
        let store =
            open_with("http://127.0.0.1:10000/devstoreaccount1", &no_env, &none()).expect("opens");
        assert_eq!(
            store.to_string(),
            "Azure Blob Storage http://127.0.0.1:10000/devstoreaccount1 (account key)"
        );
        let store = open_with("UseDevelopmentStorage=true", &no_env, &none()).expect("opens");
        assert!(
            store.to_string().starts_with("Azure Blob Storage"),
            "{store}"
        );
        let sas = "https://acct.blob.core.windows.net/job-x?sv=2021-12-02&sr=c&sp=racwl&sig=SECRET";
        let store = open_with(sas, &no_env, &none()).expect("opens");
        assert_eq!(
            store
                .capabilities()
                .bound_container
                .expect("bound")
                .as_str(),
            "job-x"
        );
        assert!(!format!("{store} {store:?}").contains("SECRET"));
    }

    #[test]
    fn unknown_schemes_and_empty_urls_are_refused_with_a_hint() {
        let err = open_with("ftp://host/x", &no_env, &none()).expect_err("ftp is not a store");
        assert!(
            err.to_string().contains("ftp:// stores are not supported"),
            "{err}"
        );
        assert!(open_with("", &no_env, &none()).is_err());
        assert!(open_with("file://relative", &no_env, &none()).is_err());
    }
}
