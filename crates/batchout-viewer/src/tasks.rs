//! A job's tasks with their figures (outputs, bytes, last write, and the
//! exit code and duration `batchout run` recorded), a page at a time.
//!
//! A page comes from the job's flat listing, read from where the page
//! before stopped, asking for about as many outputs as its tasks hold (a
//! guess of 4 a task at first, then what the tasks seen held): its cost is
//! the listing of the outputs it shows, plus one small read per task whose
//! run left a manifest. Sorting by anything but the id needs every task's figures,
//! so it reads the whole listing once.

use std::cmp::Reverse;
use std::time::{Duration, SystemTime};

use batchout::runner::{MANIFEST_NAME, Manifest};
use batchout::{ContainerName, JobId, Store, TaskId};
use batchout_store::{BlobName, ListOptions, Location};
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;

use crate::ViewerError;
use crate::listing::no_such_job;

/// Separates the task a page starts at from the store's marker in a
/// [`TaskCursor`]; no task id holds it.
const CURSOR_SEPARATOR: char = '~';

/// How many outputs a task is guessed to hold before any is seen.
const OUTPUTS_PER_TASK: usize = 4;
/// The fewest entries a listing request asks for.
const MIN_LISTING: usize = 50;
/// The most entries a listing request asks for (Azure's largest page).
const MAX_LISTING: usize = 5000;

/// The most manifests read at once.
const MANIFEST_READS: usize = 8;

/// The largest manifest read; a larger one is left unread.
const MAX_MANIFEST: u64 = 1024 * 1024;

/// The order of a job's tasks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum TaskOrder {
    /// By id, as stored: paged from the store.
    #[default]
    Id,
    /// The latest write first.
    Activity,
    /// The most bytes first.
    Size,
}

impl TaskOrder {
    /// Its name in a URL.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::Activity => "activity",
            Self::Size => "size",
        }
    }
}

/// What a run of a task recorded in its manifest.
#[derive(Debug, Clone)]
pub(crate) struct RunRecord {
    /// The command's exit code.
    pub(crate) exit_code: i32,
    /// How long it ran.
    pub(crate) duration: Option<Duration>,
}

/// One task and its figures.
#[derive(Debug, Clone)]
pub(crate) struct TaskRow {
    pub(crate) id: String,
    pub(crate) outputs: u64,
    pub(crate) bytes: u64,
    pub(crate) last_modified: Option<SystemTime>,
    /// Whether `batchout run` stored a manifest for it.
    has_manifest: bool,
    /// What that manifest says, once read.
    pub(crate) run: Option<RunRecord>,
}

/// A page of tasks.
#[derive(Debug, Default)]
pub(crate) struct TaskPage {
    pub(crate) rows: Vec<TaskRow>,
    /// Where the next page starts (a cursor, or a position when sorted);
    /// `None` on the last.
    pub(crate) next: Option<String>,
    /// How many listing requests the page cost.
    pub(crate) listings: u32,
}

/// Which tasks, in which order, from where.
#[derive(Debug, Clone, Default)]
pub(crate) struct TaskQuery {
    /// Only tasks whose id starts with this.
    pub(crate) prefix: String,
    pub(crate) order: TaskOrder,
    /// The `next` of the page before.
    pub(crate) after: Option<String>,
    pub(crate) limit: usize,
}

/// Where a page by id starts: the first task on it, and the store's marker
/// of the listing page that holds that task's first output.
struct TaskCursor {
    task: String,
    marker: Option<String>,
}

impl TaskCursor {
    fn parse(text: &str) -> Result<Self, ViewerError> {
        let (task, marker) = text.split_once(CURSOR_SEPARATOR).unwrap_or((text, ""));
        TaskId::new(task)?;
        Ok(Self {
            task: task.to_owned(),
            marker: (!marker.is_empty()).then(|| marker.to_owned()),
        })
    }

    fn render(&self) -> String {
        format!(
            "{}{CURSOR_SEPARATOR}{}",
            self.task,
            self.marker.as_deref().unwrap_or("")
        )
    }
}

/// A page of the tasks of `job`, with what their runs recorded.
pub(crate) async fn task_page(
    store: &dyn Store,
    job: &JobId,
    query: &TaskQuery,
) -> Result<TaskPage, ViewerError> {
    if query.prefix.contains(['/', '$']) {
        return Err(ViewerError::BadRequest(
            "a task filter is the start of a task id: letters, digits, '-' and '_'".into(),
        ));
    }
    let container = ContainerName::for_job(job);
    let mut page = match query.order {
        TaskOrder::Id => by_id(store, job, &container, query).await?,
        order => sorted(store, job, &container, query, order).await?,
    };
    read_manifests(store, &container, &mut page.rows).await;
    Ok(page)
}

/// Tasks in stored order, from the cursor on, until `limit` are whole.
async fn by_id(
    store: &dyn Store,
    job: &JobId,
    container: &ContainerName,
    query: &TaskQuery,
) -> Result<TaskPage, ViewerError> {
    let cursor = query.after.as_deref().map(TaskCursor::parse).transpose()?;
    let start = cursor.as_ref().map(|c| format!("{}/", c.task));
    let mut marker = cursor.and_then(|c| c.marker);
    let mut page = TaskPage::default();
    // Ask for about as many outputs as the page's tasks hold: a guess of a
    // few each at first, then what the tasks seen so far held each.
    let mut seen = 0usize;
    let mut want = query
        .limit
        .saturating_add(1)
        .saturating_mul(OUTPUTS_PER_TASK);
    loop {
        let options = ListOptions::default()
            .with_prefix(query.prefix.clone())
            .with_marker(marker.clone())
            .with_max_results(
                u32::try_from(want.clamp(MIN_LISTING, MAX_LISTING)).unwrap_or(u32::MAX),
            );
        let listed = store
            .list_page(container, &options)
            .await
            .map_err(|e| no_such_job(job, e))?;
        page.listings += 1;
        seen += listed.objects.len();
        for meta in listed.objects {
            if start.as_deref().is_some_and(|s| meta.name.as_str() < s) {
                continue;
            }
            let Some((task, rest)) = meta.name.split_once('/') else {
                continue;
            };
            if TaskId::new(task).is_err() {
                continue; // a job's own output, or something else
            }
            if page.rows.last().is_none_or(|row| row.id != task) {
                if page.rows.len() == query.limit {
                    page.next = Some(
                        TaskCursor {
                            task: task.to_owned(),
                            marker: marker.clone(),
                        }
                        .render(),
                    );
                    return Ok(page);
                }
                page.rows.push(TaskRow::new(task));
            }
            if let Some(row) = page.rows.last_mut() {
                row.count(&meta, rest);
            }
        }
        match listed.next_marker {
            Some(next) => marker = Some(next),
            None => return Ok(page),
        }
        let each = (seen / page.rows.len().max(1)).max(1);
        let missing = query
            .limit
            .saturating_add(1)
            .saturating_sub(page.rows.len());
        want = missing.saturating_add(1).saturating_mul(each);
    }
}

/// Every task, sorted, and the page of them at position `after`.
async fn sorted(
    store: &dyn Store,
    job: &JobId,
    container: &ContainerName,
    query: &TaskQuery,
    order: TaskOrder,
) -> Result<TaskPage, ViewerError> {
    let start: usize = match query.after.as_deref() {
        Some(position) => position.parse().map_err(|_| {
            ViewerError::BadRequest(format!(
                "'after' of a page sorted by {} is a position in the list",
                order.as_str()
            ))
        })?,
        None => 0,
    };
    let every = TaskQuery {
        order: TaskOrder::Id,
        after: None,
        limit: usize::MAX,
        ..query.clone()
    };
    let mut all = by_id(store, job, container, &every).await?;
    match order {
        TaskOrder::Activity => all.rows.sort_by_key(|row| Reverse(row.last_modified)),
        TaskOrder::Size => all.rows.sort_by_key(|row| Reverse(row.bytes)),
        TaskOrder::Id => {}
    }
    let total = all.rows.len();
    let end = start.saturating_add(query.limit).min(total);
    let rows = all.rows.drain(start.min(end)..end).collect();
    Ok(TaskPage {
        rows,
        next: (end < total).then(|| end.to_string()),
        listings: all.listings,
    })
}

impl TaskRow {
    fn new(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            outputs: 0,
            bytes: 0,
            last_modified: None,
            has_manifest: false,
            run: None,
        }
    }

    /// Counts one of the task's outputs, `rest` its name after the task.
    fn count(&mut self, meta: &batchout_store::ObjectMeta, rest: &str) {
        self.outputs += 1;
        self.bytes += meta.size;
        self.last_modified = self.last_modified.max(meta.last_modified);
        if rest == format!("$TaskLog/{MANIFEST_NAME}") && meta.size <= MAX_MANIFEST {
            self.has_manifest = true;
        }
    }
}

/// Reads the manifests of the tasks that have one, a few at a time. A
/// manifest that cannot be read or parsed leaves its task's run unknown.
async fn read_manifests(store: &dyn Store, container: &ContainerName, rows: &mut [TaskRow]) {
    let names: Vec<(usize, String)> = rows
        .iter()
        .enumerate()
        .filter(|(_, row)| row.has_manifest)
        .map(|(i, row)| (i, format!("{}/$TaskLog/{MANIFEST_NAME}", row.id)))
        .collect();
    let reads = names.into_iter().map(|(i, name)| {
        let container = container.clone();
        async move { (i, read_manifest(store, &container, name).await) }
    });
    let records: Vec<_> = futures::stream::iter(reads)
        .buffer_unordered(MANIFEST_READS)
        .collect()
        .await;
    for (i, record) in records {
        if let (Some(row), Some(record)) = (rows.get_mut(i), record) {
            row.run = Some(record);
        }
    }
}

async fn read_manifest(
    store: &dyn Store,
    container: &ContainerName,
    name: String,
) -> Option<RunRecord> {
    let location = Location::new(container.clone(), BlobName::new(name).ok()?);
    let got = store.get(&location, None).await.ok()?;
    let bytes: Vec<u8> = got
        .stream
        .map_ok(|chunk| chunk.to_vec())
        .try_concat()
        .await
        .ok()?;
    let manifest: Manifest = serde_json::from_slice(&bytes).ok()?;
    let started = humantime::parse_rfc3339(&manifest.started).ok();
    let ended = humantime::parse_rfc3339(&manifest.ended).ok();
    Some(RunRecord {
        exit_code: manifest.exit_code,
        duration: started
            .zip(ended)
            .and_then(|(s, e)| e.duration_since(s).ok()),
    })
}
