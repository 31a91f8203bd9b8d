//! Proving that a container SAS URL lets a task do what it must, before a
//! task finds out the hard way: with the URL alone (no key), a probe is
//! saved, a second one appended to, both read back byte for byte, listed,
//! and deleted. Each step reports its result and, when the service refuses
//! it for want of a permission, the letter that would grant it; the SAS's
//! expiry is checked against this machine's clock and against the longest a
//! task may run.
//!
//! The probes are named `.batchout-check/<UTC time>-<random>/put.txt` and
//! `…/append.txt` ([`ACCESS_PROBE_FOLDER`]). No lookup by the conventions
//! can take them for outputs: a task's outputs are under `<taskId>/$<kind>/`,
//! and no task id holds a `.`; the job's own are under `$<kind>/`. So
//! listings of outputs, `tasks`, `jobs`, downloads and the viewer never
//! count one, even when a SAS without delete (`d`, which tasks do not need)
//! has to leave it behind. A check given a store with wider rights
//! ([`AccessCheck::cleanup_with`]: the store whose account key signed the
//! URL, or whose Entra ID token got the key of a user delegation SAS)
//! removes what the SAS could not.

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use batchout_naming::{ContainerName, JobId};
use batchout_store::azure::config::{self, Credential};
use batchout_store::{AzureStore, BlobName, Location, PutOptions, PutSource, Store, StoreSettings};
use bytes::Bytes;
use futures::TryStreamExt;

use crate::{Error, Result, StoreError};

/// The top-level folder of a container that holds the probes of
/// [`AccessCheck`]: a name that no task id can be (it holds a `.`) and no
/// job kind either (it does not start with `$`), so nothing it holds is
/// ever taken for an output.
pub const ACCESS_PROBE_FOLDER: &str = ".batchout-check";

/// One step of an [`AccessCheck`], in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AccessStep {
    /// The SAS's start and expiry against this machine's clock and the
    /// longest a task may run (no request).
    Expiry,
    /// Saving a blob whole, as `save` does (`c` or `w`).
    Create,
    /// Appending to a blob, as a tracked log grows (`a` or `w`; `c` or `w`
    /// to create it).
    Append,
    /// Reading back what was saved, byte for byte (`r`).
    Read,
    /// Listing the probes (`l`).
    List,
    /// Deleting the probes (`d`, which tasks do not need).
    Delete,
}

impl AccessStep {
    /// The step's name: `expiry`, `create`, `append`, `read`, `list`,
    /// `delete`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expiry => "expiry",
            Self::Create => "create",
            Self::Append => "append",
            Self::Read => "read",
            Self::List => "list",
            Self::Delete => "delete",
        }
    }
}

impl fmt::Display for AccessStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one step went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StepStatus {
    /// It worked.
    Passed,
    /// It worked, or was not needed, but something is worth knowing: a SAS
    /// that expires before a task may end, probes a SAS could not delete.
    Warning,
    /// A task with this URL would fail at it.
    Failed,
    /// Not tried, after a failure that makes it pointless.
    Skipped,
}

impl StepStatus {
    /// The status's name: `passed`, `warning`, `failed`, `skipped`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Warning => "warning",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }
}

impl fmt::Display for StepStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of one step.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StepResult {
    /// Which step.
    pub step: AccessStep,
    /// How it went.
    pub status: StepStatus,
    /// The permission the service refused the step for want of, as the
    /// letters that would grant it: `c/w` (create or write), `a` (add),
    /// `r`, `l`, `d`.
    pub missing: Option<&'static str>,
    /// What happened, and what to do; never a signature.
    pub detail: String,
}

/// What an [`AccessCheck`] found.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AccessReport {
    /// The container checked.
    pub container: ContainerName,
    /// The store, as displayed (no secret).
    pub store: String,
    /// The SAS's permission letters (`sp`), where it carries them.
    pub permissions: Option<String>,
    /// When the SAS expires (`se`), where it says.
    pub expiry: Option<SystemTime>,
    /// Each step's result, in order.
    pub steps: Vec<StepResult>,
    /// The probes the check wrote, whether or not they were removed.
    pub probes: Vec<String>,
    /// The probes that stay in the container: neither the SAS nor a cleanup
    /// store could delete them. Harmless (see [`ACCESS_PROBE_FOLDER`]).
    pub left_behind: Vec<String>,
}

impl AccessReport {
    /// Whether a task with this URL can do all it must: no step failed.
    /// (A warning does not fail the check.)
    pub fn passed(&self) -> bool {
        !self.steps.iter().any(|s| s.status == StepStatus::Failed)
    }

    /// The result of one step, if it ran or was skipped.
    pub fn step(&self, step: AccessStep) -> Option<&StepResult> {
        self.steps.iter().find(|s| s.step == step)
    }

    /// The steps that failed.
    pub fn failures(&self) -> impl Iterator<Item = &StepResult> {
        self.steps.iter().filter(|s| s.status == StepStatus::Failed)
    }
}

/// A check that a store bound to one container, a container SAS URL above
/// all, lets a task save, append, read and list there (see the module's
/// documentation). Eight requests or so.
///
/// ```
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// use batchout::{AccessCheck, ContainerName, JobId, open};
///
/// let dir = tempfile::tempdir()?;
/// let store = open(dir.path().to_str().expect("utf-8"))?;
/// let container = ContainerName::for_job(&JobId::new("render-42")?);
/// store.create_container(&container).await?;
/// let report = AccessCheck::new().check_store(store, container).await;
/// assert!(report.passed());
/// assert!(report.left_behind.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?; Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct AccessCheck {
    max_task_time: Option<Duration>,
    cleanup: Option<Arc<dyn Store>>,
    settings: StoreSettings,
    job: Option<JobId>,
}

impl AccessCheck {
    /// A check with no expectation of expiry, no cleanup store, and the
    /// store settings of the environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same check, warning when the SAS expires sooner than
    /// `max_task_time` from now: a task that runs that long would lose
    /// access to its outputs.
    #[must_use]
    pub fn max_task_time(mut self, max_task_time: Duration) -> Self {
        self.max_task_time = Some(max_task_time);
        self
    }

    /// The same check, deleting through `store` (one with wider rights: the
    /// account key that signed the URL, or the Entra ID token whose
    /// identity's user delegation key did) the probes the SAS cannot delete.
    #[must_use]
    pub fn cleanup_with(mut self, store: Arc<dyn Store>) -> Self {
        self.cleanup = Some(store);
        self
    }

    /// The same check, opening the URL with these settings (retries,
    /// timeouts); what they leave unset comes from their variables.
    #[must_use]
    pub fn settings(mut self, settings: StoreSettings) -> Self {
        self.settings = settings;
        self
    }

    /// The same check, refusing a URL that is not for `job`'s container.
    #[must_use]
    pub fn for_job(mut self, job: JobId) -> Self {
        self.job = Some(job);
        self
    }

    /// Checks a container SAS URL, opened on its SAS alone: no key, and
    /// none of the `AZURE_STORAGE_*` credentials, is used for the steps.
    /// The report says what failed; the `Err` is only for a URL that cannot
    /// be checked.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for a URL that is not a container SAS URL
    /// (not a URL, no SAS, no container), or is not for the job of
    /// [`Self::for_job`]; [`StoreError::InvalidSetting`] for a setting's
    /// variable that is not valid.
    pub async fn check_url(&self, url: &str) -> Result<AccessReport> {
        let shown = config::redact_url(url.trim());
        let invalid = |reason: String| Error::InvalidOption {
            option: "SAS URL",
            reason,
        };
        let no_env = |_: &str| None;
        let target = config::from_url(url.trim(), &no_env).map_err(|e| invalid(e.to_string()))?;
        let Credential::Sas(token) = &target.credential else {
            return Err(invalid(format!(
                "{shown} carries no SAS (?sv=…&sig=…); give the container SAS URL a task gets, as `batchout sas` prints it"
            )));
        };
        let Some(container) = target.container.clone() else {
            return Err(invalid(format!(
                "{shown} names no container; give a container SAS URL (…/job-…?sv=…&sig=…), as `batchout sas` prints it"
            )));
        };
        if let Some(job) = &self.job {
            let expected = ContainerName::for_job(job);
            if expected != container {
                return Err(invalid(format!(
                    "it is for container {container}, not job {job}'s container {expected}; give that job's own SAS URL"
                )));
            }
        }
        let read_time = |field: &str| {
            token
                .field(field)
                .and_then(|t| humantime::parse_rfc3339_weak(&t).ok())
        };
        let terms = Terms {
            sas: true,
            permissions: token.field("sp"),
            start: read_time("st"),
            expiry: read_time("se"),
        };
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let settings = self
            .settings
            .clone()
            .or(StoreSettings::from_env(&env).map_err(Error::Store)?);
        let store: Arc<dyn Store> = Arc::new(AzureStore::new(target, settings.azure_options())?);
        Ok(self.run(store, container, terms).await)
    }

    /// Checks `container` in any store, through its own credentials: what
    /// [`Self::check_url`] does once it has opened the URL, without the
    /// expiry step (no SAS is in sight).
    pub async fn check_store(
        &self,
        store: Arc<dyn Store>,
        container: ContainerName,
    ) -> AccessReport {
        self.run(store, container, Terms::default()).await
    }

    async fn run(
        &self,
        store: Arc<dyn Store>,
        container: ContainerName,
        terms: Terms,
    ) -> AccessReport {
        let mut run = Run {
            shown: store.to_string(),
            store,
            container,
            permissions: terms.permissions.clone(),
            folder: probe_folder(),
            created: Vec::new(),
            steps: Vec::new(),
            stopped: None,
            left_behind: Vec::new(),
            probes: Vec::new(),
        };
        if terms.sas {
            let step = expiry_step(
                terms.start,
                terms.expiry,
                self.max_task_time,
                SystemTime::now(),
            );
            if step.status == StepStatus::Failed {
                run.stopped = Some("not tried: the SAS is not valid now (see expiry)".into());
            }
            run.steps.push(step);
        }
        run.create().await;
        run.append().await;
        run.read().await;
        run.list().await;
        run.delete(self.cleanup.as_deref()).await;
        AccessReport {
            container: run.container,
            store: run.shown,
            permissions: terms.permissions,
            expiry: terms.expiry,
            steps: run.steps,
            probes: run.probes,
            left_behind: run.left_behind,
        }
    }
}

/// What a SAS says of itself.
#[derive(Debug, Default)]
struct Terms {
    /// Whether a SAS is in play at all.
    sas: bool,
    permissions: Option<String>,
    start: Option<SystemTime>,
    expiry: Option<SystemTime>,
}

/// The expiry step: a SAS valid from `start` to `expiry`, at `now`, for a
/// task that may run `max_task_time`. Fails when the SAS is not valid at
/// `now`; warns when it expires sooner than `max_task_time` from `now`, or
/// when its expiry cannot be read and `max_task_time` asks for it.
pub fn expiry_step(
    start: Option<SystemTime>,
    expiry: Option<SystemTime>,
    max_task_time: Option<Duration>,
    now: SystemTime,
) -> StepResult {
    let at = |time: SystemTime| humantime::format_rfc3339_seconds(time).to_string();
    let result = |status, detail: String| StepResult {
        step: AccessStep::Expiry,
        status,
        missing: None,
        detail,
    };
    if let Some(start) = start
        && start > now
    {
        return result(
            StepStatus::Failed,
            format!(
                "the SAS is not valid before {}, by this machine's clock; check the clock, or make a new one",
                at(start)
            ),
        );
    }
    let Some(expiry) = expiry else {
        return match max_task_time {
            Some(max) => result(
                StepStatus::Warning,
                format!(
                    "the SAS names no expiry (se) that can be read, so whether it outlasts a task of {} cannot be told",
                    humantime::format_duration(max)
                ),
            ),
            None => result(
                StepStatus::Passed,
                "the SAS names no expiry (se) that can be read".into(),
            ),
        };
    };
    let Ok(left) = expiry.duration_since(now) else {
        return result(
            StepStatus::Failed,
            format!("the SAS expired at {}; make a new one", at(expiry)),
        );
    };
    if left.is_zero() {
        return result(
            StepStatus::Failed,
            format!("the SAS expired at {}; make a new one", at(expiry)),
        );
    }
    let shown_left = humantime::format_duration(Duration::from_secs(left.as_secs() / 60 * 60));
    match max_task_time {
        Some(max) if left < max => result(
            StepStatus::Warning,
            format!(
                "the SAS expires at {} (in {}), sooner than a task may run ({}): a task still running then loses access to its outputs; make one that lasts longer",
                at(expiry),
                if left.as_secs() < 60 {
                    "under a minute".to_owned()
                } else {
                    shown_left.to_string()
                },
                humantime::format_duration(max)
            ),
        ),
        _ => result(
            StepStatus::Passed,
            format!("valid until {} (in {shown_left})", at(expiry)),
        ),
    }
}

/// The state of one check as it runs.
struct Run {
    store: Arc<dyn Store>,
    shown: String,
    container: ContainerName,
    permissions: Option<String>,
    /// `.batchout-check/<time>-<random>/`.
    folder: String,
    /// The probes written, with their bytes.
    created: Vec<(Location, Bytes)>,
    steps: Vec<StepResult>,
    /// Why the steps still to come are not tried, once one failed for
    /// another reason than a permission.
    stopped: Option<String>,
    left_behind: Vec<String>,
    probes: Vec<String>,
}

impl Run {
    /// A probe's location in the check's folder.
    fn probe(&self, file: &str) -> std::result::Result<Location, StoreError> {
        let name = BlobName::new(format!("{}{file}", self.folder))?;
        Ok(Location::new(self.container.clone(), name))
    }

    /// The probe's content: what it is, for whoever finds one.
    fn content(&self, how: &str) -> Bytes {
        Bytes::from(format!(
            "batchout access check of a container SAS URL ({how}); not an output, safe to delete\n"
        ))
    }

    /// A probe's name within the check's folder.
    fn short(&self, location: &Location) -> String {
        let name = location.name.as_str();
        name.strip_prefix(&self.folder).unwrap_or(name).to_owned()
    }

    /// Who was refused: the SAS and what it grants, or the store.
    fn who(&self) -> String {
        match &self.permissions {
            Some(granted) => format!("the SAS (granting '{granted}')"),
            None => "the store".into(),
        }
    }

    /// Records a skipped step when an earlier one stopped the check.
    fn skipped(&mut self, step: AccessStep) -> bool {
        let Some(why) = &self.stopped else {
            return false;
        };
        let detail = why.clone();
        self.push(step, StepStatus::Skipped, None, detail);
        true
    }

    fn push(
        &mut self,
        step: AccessStep,
        status: StepStatus,
        missing: Option<&'static str>,
        detail: String,
    ) {
        self.steps.push(StepResult {
            step,
            status,
            missing,
            detail,
        });
    }

    /// A step refused for want of a permission: the check goes on.
    fn denied(&mut self, step: AccessStep, missing: &'static str, needs: &str) {
        let detail = format!("{} cannot {needs}", self.who());
        self.push(step, StepStatus::Failed, Some(missing), detail);
    }

    /// A step failed for another reason: the check stops, save for
    /// removing what it wrote.
    fn failed(&mut self, step: AccessStep, error: &StoreError) {
        let detail = match error {
            StoreError::ContainerNotFound { container, .. } => format!(
                "container {container} does not exist, and a SAS cannot create it; prepare the job with the account key or an Entra ID token first (batchout prepare)"
            ),
            other => other.to_string(),
        };
        self.push(step, StepStatus::Failed, None, detail);
        self.stopped = Some(format!("not tried after {step} failed"));
    }

    fn lacks(&self, error: &StoreError, letters: &[char]) -> bool {
        lacks_permission(error, letters, self.permissions.as_deref())
    }

    /// Saves a probe whole (Put Blob on Azure).
    async fn create(&mut self) {
        const STEP: AccessStep = AccessStep::Create;
        if self.skipped(STEP) {
            return;
        }
        let location = match self.probe("put.txt") {
            Ok(location) => location,
            Err(e) => return self.failed(STEP, &e),
        };
        let bytes = self.content("saved whole");
        let options = PutOptions::default().with_content_type("text/plain");
        self.probes.push(location.name.to_string());
        match self
            .store
            .put(&location, PutSource::Bytes(bytes.clone()), &options)
            .await
        {
            Ok(meta) => {
                let detail = format!("saved {} ({} bytes)", location.name, meta.size);
                self.created.push((location, bytes));
                self.push(STEP, StepStatus::Passed, None, detail);
            }
            Err(e) if self.lacks(&e, &['c', 'w']) => self.denied(
                STEP,
                "c/w",
                "create a blob: saving an output needs 'c' (create) or 'w' (write)",
            ),
            Err(e) => self.failed(STEP, &e),
        }
    }

    /// Appends to a second probe, as a tracked log grows (Append Block on
    /// Azure, creating the append blob first).
    async fn append(&mut self) {
        const STEP: AccessStep = AccessStep::Append;
        if self.skipped(STEP) {
            return;
        }
        if !self.store.capabilities().append {
            let detail =
                "the store cannot append; a tracked log is stored whole at each flush".into();
            return self.push(STEP, StepStatus::Skipped, None, detail);
        }
        let location = match self.probe("append.txt") {
            Ok(location) => location,
            Err(e) => return self.failed(STEP, &e),
        };
        let bytes = self.content("appended");
        self.probes.push(location.name.to_string());
        match self.store.append(&location, bytes.clone(), 0).await {
            Ok(length) => {
                let detail = format!("appended {length} bytes to {}", self.short(&location));
                self.created.push((location, bytes));
                self.push(STEP, StepStatus::Passed, None, detail);
            }
            Err(
                ref e @ StoreError::Denied {
                    operation: "create",
                    ..
                },
            ) if self.lacks(e, &['c', 'w']) => self.denied(
                STEP,
                "c/w",
                "create the append blob a tracked log (run, track) is stored in: that needs 'c' (create) or 'w' (write)",
            ),
            Err(e) if self.lacks(&e, &['a', 'w']) => self.denied(
                STEP,
                "a",
                "append: a tracked log (run, track) needs 'a' (add) or 'w' (write)",
            ),
            Err(e) => self.failed(STEP, &e),
        }
    }

    /// Reads back each probe, byte for byte; with none written, reads the
    /// absent one, which a SAS that may read answers with "not found".
    async fn read(&mut self) {
        const STEP: AccessStep = AccessStep::Read;
        if self.skipped(STEP) {
            return;
        }
        let needs =
            "read: fetching outputs (get, download), and continuing a tracked log, need 'r' (read)";
        if self.created.is_empty() {
            let location = match self.probe("put.txt") {
                Ok(location) => location,
                Err(e) => return self.failed(STEP, &e),
            };
            return match self.store.get(&location, None).await {
                Err(StoreError::NotFound { .. }) | Ok(_) => self.push(
                    STEP,
                    StepStatus::Passed,
                    None,
                    "permitted (nothing was saved to read back)".into(),
                ),
                Err(e) if self.lacks(&e, &['r']) => self.denied(STEP, "r", needs),
                Err(e) => self.failed(STEP, &e),
            };
        }
        let mut read = Vec::new();
        for (location, written) in self.created.clone() {
            let got = match self.store.get(&location, None).await {
                Ok(got) => got.bytes().await,
                Err(e) => Err(e),
            };
            match got {
                Ok(got) if got == written => read.push(self.short(&location)),
                Ok(got) => {
                    let detail = format!(
                        "read {} bytes from {} that differ from the {} written",
                        got.len(),
                        location.name,
                        written.len()
                    );
                    return self.push(STEP, StepStatus::Failed, None, detail);
                }
                Err(e) if self.lacks(&e, &['r']) => return self.denied(STEP, "r", needs),
                Err(e) => return self.failed(STEP, &e),
            }
        }
        let detail = format!("read back {}, byte for byte", read.join(" and "));
        self.push(STEP, StepStatus::Passed, None, detail);
    }

    /// Lists the check's folder, which must hold every probe written.
    async fn list(&mut self) {
        const STEP: AccessStep = AccessStep::List;
        if self.skipped(STEP) {
            return;
        }
        let listed: std::result::Result<Vec<String>, StoreError> = self
            .store
            .list(&self.container, &self.folder)
            .map_ok(|meta| meta.name)
            .try_collect()
            .await;
        match listed {
            Ok(names) => {
                let unseen: Vec<String> = self
                    .created
                    .iter()
                    .filter(|(location, _)| !names.iter().any(|n| n == location.name.as_str()))
                    .map(|(location, _)| self.short(location))
                    .collect();
                if !unseen.is_empty() {
                    let detail = format!(
                        "the listing of {} lacks {}",
                        self.folder,
                        unseen.join(" and ")
                    );
                    return self.push(STEP, StepStatus::Failed, None, detail);
                }
                let detail = if self.created.is_empty() {
                    "permitted (nothing was saved to see)".into()
                } else {
                    let seen: Vec<String> =
                        self.created.iter().map(|(l, _)| self.short(l)).collect();
                    format!("listed {} under {}", seen.join(" and "), self.folder)
                };
                self.push(STEP, StepStatus::Passed, None, detail);
            }
            Err(e) if self.lacks(&e, &['l']) => self.denied(
                STEP,
                "l",
                "list: ls, download and the tasks of a job need 'l' (list)",
            ),
            Err(e) => self.failed(STEP, &e),
        }
    }

    /// Deletes every probe written, whatever failed before; what the SAS
    /// may not delete goes through `cleanup`, or stays.
    async fn delete(&mut self, cleanup: Option<&dyn Store>) {
        const STEP: AccessStep = AccessStep::Delete;
        if self.created.is_empty() {
            let detail = self
                .stopped
                .clone()
                .unwrap_or_else(|| "nothing was saved to delete".into());
            return self.push(STEP, StepStatus::Skipped, None, detail);
        }
        let mut deleted = Vec::new();
        let mut refused = Vec::new();
        let mut error = None;
        for (location, _) in std::mem::take(&mut self.created) {
            match self.store.delete(&location).await {
                Ok(()) => deleted.push(self.short(&location)),
                Err(e) if self.lacks(&e, &['d']) => refused.push(location),
                Err(e) => {
                    self.left_behind.push(location.name.to_string());
                    error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = error {
            return self.failed(STEP, &e);
        }
        if refused.is_empty() {
            let detail = format!("deleted {}", deleted.join(" and "));
            return self.push(STEP, StepStatus::Passed, None, detail);
        }
        let granted = self.permissions.as_deref().is_some_and(|p| p.contains('d'));
        let mut removed = Vec::new();
        if let Some(cleanup) = cleanup {
            for location in &refused {
                match cleanup.delete(location).await {
                    Ok(()) => removed.push(self.short(location)),
                    Err(e) => {
                        tracing::warn!(probe = %location.name, "cannot remove an access-check probe: {e}");
                        self.left_behind.push(location.name.to_string());
                    }
                }
            }
        } else {
            self.left_behind
                .extend(refused.iter().map(|location| location.name.to_string()));
        }
        let outcome = if self.left_behind.is_empty() {
            format!(
                "removed {} through {} instead",
                removed.join(" and "),
                cleanup.map_or_else(String::new, ToString::to_string)
            )
        } else {
            format!(
                "so {} stay{}: harmless, under {ACCESS_PROBE_FOLDER}/, which no listing of outputs, tasks or jobs counts; delete them with the account key or an Entra ID token if you like",
                self.left_behind.join(" and "),
                if self.left_behind.len() == 1 { "s" } else { "" }
            )
        };
        let (status, needs) = if granted {
            (StepStatus::Failed, "delete, though it grants 'd' (delete)")
        } else {
            (
                StepStatus::Warning,
                "delete: that needs 'd' (delete), which tasks do not need",
            )
        };
        let detail = format!("{} cannot {needs}; {outcome}", self.who());
        self.push(STEP, status, Some("d"), detail);
    }
}

/// Whether `error` is the service refusing an operation for want of a
/// permission that one of `letters` would grant: its code says so, or the
/// SAS grants none of them.
fn lacks_permission(error: &StoreError, letters: &[char], granted: Option<&str>) -> bool {
    match error {
        StoreError::Denied { code, .. } => {
            matches!(
                code.as_str(),
                "AuthorizationPermissionMismatch" | "AuthorizationResourceTypeMismatch"
            ) || granted.is_some_and(|g| !letters.iter().any(|l| g.contains(*l)))
        }
        StoreError::GaveUp { last, .. } => lacks_permission(last, letters, granted),
        _ => false,
    }
}

/// A folder of probes no other check shares: `.batchout-check/`, the time
/// (UTC, to the second) and 64 random bits.
fn probe_folder() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now();
    let stamp: String = humantime::format_rfc3339_seconds(now)
        .to_string()
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect();
    let nanos = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let random = RandomState::new().hash_one((
        nanos,
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
    ));
    format!("{ACCESS_PROBE_FOLDER}/{stamp}-{random:016x}/")
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn the_expiry_fails_when_past_or_not_yet_and_warns_before_the_longest_task() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        let step = expiry_step(None, Some(now - HOUR), None, now);
        assert_eq!(step.status, StepStatus::Failed);
        assert!(step.detail.contains("expired at"), "{}", step.detail);
        let step = expiry_step(Some(now + HOUR), Some(now + 2 * HOUR), None, now);
        assert_eq!(step.status, StepStatus::Failed);
        assert!(step.detail.contains("not valid before"), "{}", step.detail);
        let step = expiry_step(None, Some(now + HOUR), Some(12 * HOUR), now);
        assert_eq!(step.status, StepStatus::Warning);
        assert!(
            step.detail.contains("sooner than a task may run (12h)"),
            "{}",
            step.detail
        );
        let step = expiry_step(None, Some(now + 13 * HOUR), Some(12 * HOUR), now);
        assert_eq!(step.status, StepStatus::Passed, "{}", step.detail);
        assert!(step.detail.contains("in 13h"), "{}", step.detail);
        let step = expiry_step(None, None, Some(HOUR), now);
        assert_eq!(step.status, StepStatus::Warning, "{}", step.detail);
    }

    #[test]
    fn probes_are_never_outputs_and_never_collide() {
        let a = probe_folder();
        let b = probe_folder();
        assert_ne!(a, b);
        for name in [format!("{a}put.txt"), format!("{a}append.txt")] {
            assert_eq!(batchout_naming::parse_blob_name(&name), None, "{name}");
            let top = name.split('/').next().unwrap_or_default();
            assert!(batchout_naming::TaskId::new(top).is_err(), "{top}");
            assert!(!top.starts_with('$'));
        }
    }

    #[test]
    fn a_refusal_is_a_missing_permission_by_its_code_or_by_the_letters_granted() {
        let denied = |code: &str| StoreError::Denied {
            store: "s".into(),
            operation: "write",
            target: "t".into(),
            code: code.into(),
            hint: String::new(),
        };
        assert!(lacks_permission(
            &denied("AuthorizationPermissionMismatch"),
            &['r'],
            None
        ));
        assert!(lacks_permission(
            &denied("AuthorizationFailure"),
            &['c', 'w'],
            Some("rl")
        ));
        assert!(!lacks_permission(
            &denied("AuthenticationFailed"),
            &['c', 'w'],
            Some("rcwl")
        ));
        assert!(!lacks_permission(
            &StoreError::NotFound {
                container: "c".into(),
                name: "n".into()
            },
            &['r'],
            Some("")
        ));
    }
}
