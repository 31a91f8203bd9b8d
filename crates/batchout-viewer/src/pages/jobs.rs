//! The first page: every job of the store, with its figures.

use std::fmt::Write;

use axum::extract::State;
use axum::response::Html;
use batchout::count_jobs;
use futures::TryStreamExt;

use super::error::PageError;
use super::html::{Esc, job_href, page, size, time};
use crate::Viewer;

/// `GET /`: the jobs, as recorded when they were prepared (else by their
/// container's name), with their tasks, outputs, bytes and last write.
pub(crate) async fn show(State(viewer): State<Viewer>) -> Result<Html<String>, PageError> {
    let mut jobs: Vec<_> = count_jobs(&viewer.store).try_collect().await?;
    jobs.sort_by_key(|(_, summary)| std::cmp::Reverse(summary.last_modified));
    let mut body = String::from("<h1>Jobs</h1>");
    if jobs.is_empty() {
        body.push_str("<p class=\"empty\">No job has saved outputs in this store yet.</p>");
        return Ok(page("Jobs", &[], &body));
    }
    body.push_str(
        "<table class=\"list\" id=\"jobs\"><thead><tr><th>Job</th><th class=\"num\">Tasks</th>\
         <th class=\"num\">Outputs</th><th class=\"num\">Size</th><th>Last activity</th></tr></thead><tbody>",
    );
    for (listing, summary) in &jobs {
        let name = match &listing.job {
            Some(job) => format!(
                "<a href=\"{}\">{}</a>",
                Esc(&job_href(job.as_str())),
                Esc(job.as_str())
            ),
            None => format!(
                "<span title=\"no job id recorded for this container\">{}</span>",
                Esc(listing.container.as_str())
            ),
        };
        let _ = write!(
            body,
            "<tr><td>{name}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td>{}</td></tr>",
            summary.tasks,
            summary.outputs,
            size(summary.bytes),
            time(summary.last_modified)
        );
    }
    body.push_str("</tbody></table>");
    Ok(page("Jobs", &[], &body))
}
