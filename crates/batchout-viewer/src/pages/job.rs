//! A job's page: its own outputs, and its tasks a page at a time, each with
//! its outputs, size, last write and (where `batchout run` ran it) exit code
//! and duration; sortable by id, last activity or size, filtered by the
//! start of the id. A plain form and links: no script needed.

use std::fmt::Write;

use axum::extract::{Path, Query, State};
use axum::response::Html;
use batchout::{ContainerName, JobId};

use super::error::PageError;
use super::html::{
    Crumb, Esc, duration, job_href, page, query_value, segment, size, task_href, time,
};
use super::outputs::kind_label;
use crate::Viewer;
use crate::listing::{TasksQuery, job_kinds};
use crate::tasks::{TaskOrder, task_page};

/// `GET /jobs/{job}?order=&prefix=&after=&limit=`.
pub(crate) async fn show(
    State(viewer): State<Viewer>,
    Path(job): Path<String>,
    Query(asked): Query<TasksQuery>,
) -> Result<Html<String>, PageError> {
    let job = JobId::new(job)?;
    let query = asked.query(&viewer);
    let kinds = job_kinds(&viewer, &job).await?;
    let tasks = task_page(viewer.store.as_ref(), &job, &query).await?;
    let id = job.as_str();
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>Job <span class=\"id\">{}</span></h1><p class=\"dim\">container {}</p>",
        Esc(id),
        Esc(ContainerName::for_job(&job).as_str())
    );
    if !kinds.is_empty() {
        body.push_str("<h2>Job outputs</h2><ul class=\"kinds\" id=\"job-kinds\">");
        for kind in &kinds {
            let _ = write!(
                body,
                "<li><a href=\"{}/outputs/{}\">{}</a></li>",
                Esc(&job_href(id)),
                segment(kind.as_str()),
                Esc(kind_label(kind))
            );
        }
        body.push_str("</ul>");
    }
    body.push_str("<h2>Tasks</h2>");
    let _ = write!(
        body,
        "<form class=\"filter\" method=\"get\" action=\"{}\">\
         <label>Task id starts with <input type=\"search\" name=\"prefix\" value=\"{}\" \
         autocomplete=\"off\" spellcheck=\"false\"></label> <label>Sort by <select name=\"order\">",
        Esc(&job_href(id)),
        Esc(&query.prefix)
    );
    for order in [TaskOrder::Id, TaskOrder::Activity, TaskOrder::Size] {
        let _ = write!(
            body,
            "<option value=\"{}\"{}>{}</option>",
            order.as_str(),
            if order == query.order {
                " selected"
            } else {
                ""
            },
            order_label(order)
        );
    }
    body.push_str("</select></label> <button type=\"submit\">Show</button></form>");
    if tasks.rows.is_empty() {
        body.push_str(if query.prefix.is_empty() {
            "<p class=\"empty\">No task of this job has saved outputs yet.</p>"
        } else {
            "<p class=\"empty\">No task id starts with that.</p>"
        });
    } else {
        let link = |order: TaskOrder| {
            format!(
                "{}?order={}&amp;prefix={}",
                Esc(&job_href(id)),
                order.as_str(),
                query_value(&query.prefix)
            )
        };
        let _ = write!(
            body,
            "<table class=\"list\" id=\"tasks\"><thead><tr>\
             <th><a href=\"{}\">Task</a></th><th class=\"num\">Outputs</th>\
             <th class=\"num\"><a href=\"{}\">Size</a></th><th><a href=\"{}\">Last activity</a></th>\
             <th class=\"num\">Exit code</th><th class=\"num\">Duration</th></tr></thead><tbody>",
            link(TaskOrder::Id),
            link(TaskOrder::Size),
            link(TaskOrder::Activity)
        );
        for row in &tasks.rows {
            let (exit, took) = match &row.run {
                Some(run) => (
                    format!(
                        "<span class=\"{}\">{}</span>",
                        if run.exit_code == 0 { "ok" } else { "failed" },
                        run.exit_code
                    ),
                    run.duration.map(duration).unwrap_or_default(),
                ),
                None => (String::from("<span class=\"dim\">—</span>"), String::new()),
            };
            let _ = write!(
                body,
                "<tr><td><a href=\"{}\">{}</a></td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td>{}</td><td class=\"num\">{exit}</td><td class=\"num\">{took}</td></tr>",
                Esc(&task_href(id, &row.id, None)),
                Esc(&row.id),
                row.outputs,
                size(row.bytes),
                time(row.last_modified)
            );
        }
        body.push_str("</tbody></table>");
    }
    let base = format!(
        "{}?order={}&amp;prefix={}&amp;limit={}",
        Esc(&job_href(id)),
        query.order.as_str(),
        query_value(&query.prefix),
        query.limit
    );
    body.push_str("<nav class=\"pages\">");
    if query.after.is_some() {
        let _ = write!(body, "<a href=\"{base}\">First page</a>");
    }
    if let Some(next) = &tasks.next {
        let _ = write!(
            body,
            "<a rel=\"next\" id=\"next-page\" href=\"{base}&amp;after={}\">Next page →</a>",
            query_value(next)
        );
    }
    body.push_str("</nav>");
    let trail = [Crumb::new(id, job_href(id))];
    Ok(page(&format!("Job {id}"), &trail, &body))
}

fn order_label(order: TaskOrder) -> &'static str {
    match order {
        TaskOrder::Id => "id",
        TaskOrder::Activity => "last activity",
        TaskOrder::Size => "size",
    }
}
