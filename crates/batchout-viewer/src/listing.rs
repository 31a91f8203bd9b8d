//! The listings: the store's jobs, a job's tasks a page at a time, a task's
//! kinds, and the outputs of a kind a page at a time. Each answer costs the
//! store what it shows: one listing request for a page.

use std::time::SystemTime;

use axum::Json;
use axum::extract::{Path, Query, State};
use batchout::{ContainerName, JobId, JobOutputs, OutputKind, Scope, TaskId, count_jobs};
use batchout_store::{ListOptions, ObjectMeta};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

use crate::target::Kind;
use crate::tasks::{TaskOrder, TaskQuery, task_page};
use crate::{Viewer, ViewerError};

/// Which page of a listing: after the marker the page before gave, at most
/// `limit` entries.
#[derive(Debug, Deserialize)]
pub(crate) struct Page {
    after: Option<String>,
    limit: Option<u32>,
}

impl Page {
    fn options(&self, viewer: &Viewer, prefix: String) -> ListOptions {
        ListOptions::default()
            .with_prefix(prefix)
            .with_marker(self.after.clone().filter(|m| !m.is_empty()))
            .with_max_results(self.limit.unwrap_or(viewer.page).clamp(1, 5000))
    }
}

/// A time as RFC 3339, to the second.
fn rfc3339(time: Option<SystemTime>) -> Option<String> {
    time.map(|t| humantime::format_rfc3339_seconds(t).to_string())
}

/// One job of the store.
#[derive(Serialize)]
pub(crate) struct JobJson {
    /// The job id as recorded, or read from a plain container name; null
    /// when neither can be had.
    job: Option<String>,
    container: String,
    tasks: u64,
    outputs: u64,
    bytes: u64,
    last_modified: Option<String>,
}

/// `GET /api/jobs`: every job, counted (one listing of each container, a
/// few at a time).
pub(crate) async fn jobs(State(viewer): State<Viewer>) -> Result<Json<Vec<JobJson>>, ViewerError> {
    let jobs = count_jobs(&viewer.store)
        .map_ok(|(listing, summary)| JobJson {
            job: listing.job.as_ref().map(ToString::to_string),
            container: listing.container.to_string(),
            tasks: summary.tasks,
            outputs: summary.outputs,
            bytes: summary.bytes,
            last_modified: rfc3339(summary.last_modified),
        })
        .try_collect()
        .await?;
    Ok(Json(jobs))
}

/// A job, with one page of its tasks.
#[derive(Serialize)]
pub(crate) struct JobPage {
    job: String,
    container: String,
    /// The kinds the job has outputs of itself.
    kinds: Vec<String>,
    /// The tasks on this page, in order.
    tasks: Vec<TaskJson>,
    /// What to pass as `after` for the next page; null on the last.
    next: Option<String>,
    /// How many listing requests the page cost the store.
    listings: u32,
}

/// One task of a job's page.
#[derive(Serialize)]
pub(crate) struct TaskJson {
    task: String,
    outputs: u64,
    bytes: u64,
    last_modified: Option<String>,
    /// The exit code `batchout run` recorded, where it ran the task.
    exit_code: Option<i32>,
    /// How long that run took, in milliseconds.
    duration_ms: Option<u64>,
}

/// Which page of a job's tasks: `after`, `limit`, `order` (`id`,
/// `activity`, `size`) and `prefix` (tasks whose id starts with it).
#[derive(Debug, Deserialize)]
pub(crate) struct TasksQuery {
    after: Option<String>,
    limit: Option<u32>,
    #[serde(default)]
    order: TaskOrder,
    #[serde(default)]
    prefix: String,
}

impl TasksQuery {
    pub(crate) fn query(&self, viewer: &Viewer) -> TaskQuery {
        TaskQuery {
            prefix: self.prefix.trim().to_owned(),
            order: self.order,
            after: self.after.clone().filter(|a| !a.is_empty()),
            limit: self.limit.unwrap_or(viewer.page).clamp(1, 5000) as usize,
        }
    }
}

/// `GET /api/jobs/{job}`: the job's own kinds and a page of its tasks.
pub(crate) async fn job(
    State(viewer): State<Viewer>,
    Path(job): Path<String>,
    Query(query): Query<TasksQuery>,
) -> Result<Json<JobPage>, ViewerError> {
    let job = JobId::new(job)?;
    let kinds = job_kinds(&viewer, &job).await?;
    let page = task_page(viewer.store.as_ref(), &job, &query.query(&viewer)).await?;
    Ok(Json(JobPage {
        container: ContainerName::for_job(&job).to_string(),
        job: job.to_string(),
        kinds: kinds.iter().map(ToString::to_string).collect(),
        tasks: page
            .rows
            .into_iter()
            .map(|row| TaskJson {
                exit_code: row.run.as_ref().map(|r| r.exit_code),
                duration_ms: row
                    .run
                    .as_ref()
                    .and_then(|r| r.duration)
                    .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                task: row.id,
                outputs: row.outputs,
                bytes: row.bytes,
                last_modified: rfc3339(row.last_modified),
            })
            .collect(),
        next: page.next,
        listings: page.listings + 1,
    }))
}

/// The kinds a job has outputs of itself: one listing of the `$…/`
/// prefixes at its top.
pub(crate) async fn job_kinds(
    viewer: &Viewer,
    job: &JobId,
) -> Result<Vec<OutputKind>, ViewerError> {
    let options = ListOptions::default().with_prefix("$").delimited();
    let listed = viewer
        .store
        .list_page(&ContainerName::for_job(job), &options)
        .await
        .map_err(|e| no_such_job(job, e))?;
    Ok(listed
        .prefixes
        .iter()
        .filter_map(|p| OutputKind::new(p.trim_start_matches('$').trim_end_matches('/')).ok())
        .filter(|kind| Scope::Job.check_kind(kind).is_ok())
        .collect())
}

/// A store error, with a missing container told as a job with no outputs.
pub(crate) fn no_such_job(job: &JobId, error: batchout::StoreError) -> ViewerError {
    match error {
        batchout::StoreError::ContainerNotFound { container, store } => {
            ViewerError::Outputs(batchout::Error::NoSuchJob {
                job: job.to_string(),
                container,
                store,
            })
        }
        other => other.into(),
    }
}

/// A task's kinds.
#[derive(Serialize)]
pub(crate) struct TaskKinds {
    job: String,
    task: String,
    kinds: Vec<String>,
}

/// `GET /api/jobs/{job}/tasks/{task}`: the kinds the task has outputs of.
pub(crate) async fn task(
    State(viewer): State<Viewer>,
    Path((job, task)): Path<(String, String)>,
) -> Result<Json<TaskKinds>, ViewerError> {
    let job = JobId::new(job)?;
    let task = TaskId::new(task)?;
    let outputs = JobOutputs::new(viewer.store.clone(), job.clone()).task(task.clone());
    let kinds = outputs.kinds().await?;
    Ok(Json(TaskKinds {
        job: job.to_string(),
        task: task.to_string(),
        kinds: kinds.iter().map(ToString::to_string).collect(),
    }))
}

/// One output, as a listing shows it.
#[derive(Serialize)]
pub(crate) struct OutputJson {
    /// Its file path within the kind, as stored.
    path: String,
    size: u64,
    last_modified: Option<String>,
    content_type: Option<String>,
}

/// A page of the outputs of one kind.
#[derive(Serialize)]
pub(crate) struct KindPage {
    job: String,
    task: Option<String>,
    kind: String,
    outputs: Vec<OutputJson>,
    next: Option<String>,
}

/// `GET /api/jobs/{job}/tasks/{task}/{kind}`: a page of a task's outputs.
pub(crate) async fn task_kind(
    State(viewer): State<Viewer>,
    Path((job, task, kind)): Path<(String, String, String)>,
    Query(page): Query<Page>,
) -> Result<Json<KindPage>, ViewerError> {
    let kind = Kind::parse(&job, Some(&task), &kind)?;
    kind_page(&viewer, kind, &page).await
}

/// `GET /api/jobs/{job}/outputs/{kind}`: a page of the job's own outputs.
pub(crate) async fn job_kind(
    State(viewer): State<Viewer>,
    Path((job, kind)): Path<(String, String)>,
    Query(page): Query<Page>,
) -> Result<Json<KindPage>, ViewerError> {
    let kind = Kind::parse(&job, None, &kind)?;
    kind_page(&viewer, kind, &page).await
}

async fn kind_page(
    viewer: &Viewer,
    kind: Kind,
    page: &Page,
) -> Result<Json<KindPage>, ViewerError> {
    let prefix = kind.prefix()?;
    let options = page.options(viewer, prefix.clone());
    let listed = viewer
        .store
        .list_page(&kind.container(), &options)
        .await
        .map_err(|e| no_such_job(&kind.job, e))?;
    let outputs = listed
        .objects
        .into_iter()
        .filter_map(|meta: ObjectMeta| {
            let path = meta.name.strip_prefix(&prefix)?.to_owned();
            Some(OutputJson {
                path,
                size: meta.size,
                last_modified: rfc3339(meta.last_modified),
                content_type: meta.content_type,
            })
        })
        .collect();
    Ok(Json(KindPage {
        job: kind.job.to_string(),
        task: kind.scope.task().map(ToString::to_string),
        kind: kind.kind.to_string(),
        outputs,
        next: listed.next_marker,
    }))
}
