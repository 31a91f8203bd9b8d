//! The jobs a store holds outputs for: its job containers, each with the job
//! id recorded when it was prepared, and what each holds.

use std::sync::Arc;
use std::time::SystemTime;

use batchout_naming::{ContainerName, JobId, Scope};
use batchout_store::{ContainerInfo, Store};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

use crate::{JOB_ID_METADATA, JobOutputs, Result};

/// One job a store holds outputs for: a container whose name follows the
/// conventions (`job-…`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JobListing {
    /// The job's output container.
    pub container: ContainerName,
    /// The job id: as recorded when the container was prepared
    /// ([`JOB_ID_METADATA`]), else read back from a plain container name
    /// (`job-render-42` is job `render-42`, in lower case, as Batch ids are
    /// case-insensitive); `None` when neither can be had (a hashed name, such
    /// as a job schedule's job that no batchout prepared).
    pub job: Option<JobId>,
    /// Whether [`JobListing::job`] is the id recorded at prepare, as given.
    pub recorded: bool,
    /// When the container itself last changed, where the store knows.
    pub last_modified: Option<SystemTime>,
}

impl JobListing {
    /// The listing of a container, or `None` when its name is not a job's.
    pub fn of(info: &ContainerInfo) -> Option<Self> {
        let rest = info.name.as_str().strip_prefix("job-")?;
        // A recorded id is believed only when it names this container.
        let recorded = info
            .metadata
            .get(JOB_ID_METADATA)
            .and_then(|id| JobId::new(id.as_str()).ok())
            .filter(|id| ContainerName::for_job(id) == info.name);
        let (job, is_recorded) = match recorded {
            Some(id) => (Some(id), true),
            None => (plain_job_id(rest, &info.name), false),
        };
        Some(Self {
            container: info.name.clone(),
            job,
            recorded: is_recorded,
            last_modified: info.last_modified,
        })
    }

    /// The job id if known, else the container name: what a list shows.
    pub fn shown(&self) -> String {
        match &self.job {
            Some(job) => job.to_string(),
            None => self.container.to_string(),
        }
    }
}

/// The id a plain container name `job-<id>` was made from, when it can have
/// been: the conventions use a name as it is only for an id that is a valid
/// container name, and a name that ends in `-` and 40 hex digits is the
/// hashed form of some other id.
fn plain_job_id(rest: &str, container: &ContainerName) -> Option<JobId> {
    let hashed = rest.len() > 41
        && rest.rsplit_once('-').is_some_and(|(_, hash)| {
            hash.len() == 40 && hash.bytes().all(|b| b.is_ascii_hexdigit())
        });
    if hashed {
        return None;
    }
    JobId::new(rest)
        .ok()
        .filter(|id| ContainerName::for_job(id) == *container)
}

/// The jobs `store` holds outputs for, in container name order: every
/// container named by the conventions. A store bound to one job's
/// container (a container SAS URL) gives that one.
pub fn list_jobs(store: &Arc<dyn Store>) -> BoxStream<'static, Result<JobListing>> {
    store
        .list_containers()
        .map_err(crate::Error::from)
        .try_filter_map(|info| std::future::ready(Ok(JobListing::of(&info))))
        .boxed()
}

/// The jobs `store` holds outputs for, each with what its container holds,
/// in container name order: [`list_jobs`], and a listing of each container
/// ([`JobListing::summary`]), [`crate::DEFAULT_CONCURRENCY`] at a time.
pub fn count_jobs(store: &Arc<dyn Store>) -> BoxStream<'static, Result<(JobListing, JobSummary)>> {
    let counting = store.clone();
    list_jobs(store)
        .map_ok(move |listing| {
            let store = counting.clone();
            async move {
                let summary = listing.summary(&store).await?;
                Ok((listing, summary))
            }
        })
        .try_buffered(crate::DEFAULT_CONCURRENCY)
        .boxed()
}

/// What a job's container holds, counted from one listing of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct JobSummary {
    /// Outputs of the job and of all its tasks.
    pub outputs: u64,
    /// Their bytes, in all.
    pub bytes: u64,
    /// How many tasks have outputs.
    pub tasks: u64,
    /// When the latest output was written, where the store knows.
    pub last_modified: Option<SystemTime>,
}

impl JobListing {
    /// Counts what the job's container holds (see [`JobOutputs::summary`]),
    /// whether or not its id is known.
    ///
    /// # Errors
    ///
    /// Store errors.
    pub async fn summary(&self, store: &Arc<dyn Store>) -> Result<JobSummary> {
        summarize(store, &self.container).await
    }
}

impl JobOutputs {
    /// Counts the outputs of the job and its tasks: how many, their size,
    /// the tasks that have any, and the latest write. It lists the whole
    /// container (one request per 5,000 outputs on Azure).
    ///
    /// # Errors
    ///
    /// [`crate::Error::NoSuchJob`] when nothing was saved for the job; store
    /// errors.
    pub async fn summary(&self) -> Result<JobSummary> {
        summarize(self.store(), self.container())
            .await
            .map_err(|e| match e {
                crate::Error::Store(e) => self.core.missing_job(e),
                other => other,
            })
    }
}

/// Counts the outputs (blobs named by the conventions) in `container`.
async fn summarize(store: &Arc<dyn Store>, container: &ContainerName) -> Result<JobSummary> {
    let mut listing = store.list(container, "");
    let mut summary = JobSummary::default();
    let mut last_task: Option<String> = None;
    while let Some(meta) = listing.try_next().await? {
        let Some(parts) = batchout_naming::parse_blob_name(&meta.name) else {
            continue;
        };
        summary.outputs += 1;
        summary.bytes += meta.size;
        summary.last_modified = summary.last_modified.max(meta.last_modified);
        // Names come in order, so each task's outputs come together.
        if let Scope::Task(task) = parts.scope
            && last_task.as_deref() != Some(task.as_str())
        {
            summary.tasks += 1;
            last_task = Some(task.to_string());
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use batchout_store::ContainerMetadata;

    use super::*;

    fn info(name: &str, recorded: Option<&str>) -> ContainerInfo {
        let mut info = ContainerInfo::new(ContainerName::parse(name).expect("valid"));
        if let Some(id) = recorded {
            info.metadata = ContainerMetadata::from([(JOB_ID_METADATA.to_owned(), id.to_owned())]);
        }
        info
    }

    #[test]
    fn a_recorded_id_is_shown_as_given_when_it_names_the_container() {
        let hashed = ContainerName::for_job(&JobId::new("nightly:job-7").expect("valid"));
        let listing = JobListing::of(&info(hashed.as_str(), Some("nightly:job-7"))).expect("a job");
        assert_eq!(listing.shown(), "nightly:job-7");
        assert!(listing.recorded);
        let listing = JobListing::of(&info("job-render-42", Some("Render-42"))).expect("a job");
        assert_eq!(listing.shown(), "Render-42", "its case kept");
        // Metadata that names another job is not believed.
        let listing = JobListing::of(&info("job-render-42", Some("other"))).expect("a job");
        assert_eq!(
            (listing.shown().as_str(), listing.recorded),
            ("render-42", false)
        );
    }

    #[test]
    fn without_a_record_plain_names_give_their_id_and_hashed_ones_their_container() {
        let listing = JobListing::of(&info("job-job-15", None)).expect("a job");
        assert_eq!(listing.job.expect("plain").as_str(), "job-15");
        let hashed = ContainerName::for_job(&JobId::new("my_job-bob").expect("valid"));
        let listing = JobListing::of(&info(hashed.as_str(), None)).expect("a job");
        assert_eq!(listing.job, None);
        assert_eq!(listing.shown(), hashed.as_str());
        assert_eq!(JobListing::of(&info("results", None)), None, "not a job's");
    }
}
