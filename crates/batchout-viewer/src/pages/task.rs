//! A task's page: a tab for each kind (Saved output files, Saved logs,
//! Previews, Intermediate, and each custom kind it has), and the listing of
//! the tab shown.

use std::fmt::Write;

use axum::extract::{Path, Query, State};
use axum::response::Html;
use batchout::{JobOutputs, OutputKind};

use super::error::PageError;
use super::html::{Crumb, Esc, job_href, page, task_href};
use super::outputs::{OutputsQuery, kind_href, kind_label, listing};
use crate::Viewer;
use crate::target::Kind;

/// The tabs every task shows, present or not.
const STANDARD: [OutputKind; 4] = [
    OutputKind::TaskOutput,
    OutputKind::TaskLog,
    OutputKind::TaskPreview,
    OutputKind::TaskIntermediate,
];

/// `GET /jobs/{job}/tasks/{task}`: the task, on the tab of its saved output
/// files (or of the first kind it has).
pub(crate) async fn show(
    State(viewer): State<Viewer>,
    Path((job, task)): Path<(String, String)>,
) -> Result<Html<String>, PageError> {
    render(&viewer, &job, &task, None, None).await
}

/// `GET /jobs/{job}/tasks/{task}/{kind}?after=`: the task, on that tab.
pub(crate) async fn kind_page(
    State(viewer): State<Viewer>,
    Path((job, task, kind)): Path<(String, String, String)>,
    Query(query): Query<OutputsQuery>,
) -> Result<Html<String>, PageError> {
    render(&viewer, &job, &task, Some(&kind), query.after.as_deref()).await
}

async fn render(
    viewer: &Viewer,
    job: &str,
    task: &str,
    kind: Option<&str>,
    after: Option<&str>,
) -> Result<Html<String>, PageError> {
    // The names are checked before the store is asked anything.
    let named = Kind::parse(job, Some(task), kind.unwrap_or("TaskOutput"))?;
    let task_id = match &named.scope {
        batchout::Scope::Task(task) => task.clone(),
        batchout::Scope::Job => unreachable_scope()?,
    };
    let present = JobOutputs::new(viewer.store.clone(), named.job.clone())
        .task(task_id.clone())
        .kinds()
        .await?;
    let shown = match kind {
        Some(_) => named.kind.clone(),
        None => STANDARD
            .iter()
            .chain(present.iter())
            .find(|k| present.contains(k))
            .cloned()
            .unwrap_or(OutputKind::TaskOutput),
    };
    let kind = Kind {
        kind: shown,
        ..named
    };
    let (id, task) = (kind.job.as_str(), task_id.as_str());
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>Task <span class=\"id\">{}</span> <span class=\"dim\">of job</span> \
         <a class=\"id\" href=\"{}\">{}</a></h1>",
        Esc(task),
        Esc(&job_href(id)),
        Esc(id)
    );
    body.push_str("<nav class=\"tabs\" id=\"kinds\">");
    let customs = present.iter().filter(|k| !STANDARD.contains(k));
    for tab in STANDARD.iter().chain(customs) {
        let current = *tab == kind.kind;
        let _ = write!(
            body,
            "<a href=\"{}\" class=\"{}{}\"{}>{}</a>",
            Esc(&task_href(id, task, Some(tab.as_str()))),
            if present.contains(tab) {
                "tab"
            } else {
                "tab none"
            },
            if current { " current" } else { "" },
            if current {
                " aria-current=\"page\""
            } else {
                ""
            },
            Esc(kind_label(tab))
        );
    }
    let _ = write!(
        body,
        "<a class=\"tab zip\" href=\"/zip{}\" download>All as .zip</a></nav>",
        Esc(&task_href(id, task, None))
    );
    body.push_str(&listing(viewer, &kind, after).await?);
    let label = kind_label(&kind.kind);
    let trail = [
        Crumb::new(id, job_href(id)),
        Crumb::new(task, task_href(id, task, None)),
        Crumb::new(label, kind_href(&kind)),
    ];
    Ok(page(&format!("{label} · {task} · {id}"), &trail, &body))
}

/// A task's URL always names a task.
fn unreachable_scope() -> Result<batchout::TaskId, PageError> {
    Err(PageError(crate::ViewerError::BadRequest(
        "this URL names no task".into(),
    )))
}
