//! A kind's outputs, a page at a time: the listing a task's tab shows, and
//! the page of a job's own outputs. Previews show their images as
//! thumbnails; every name links to its file's page.

use std::fmt::Write;

use axum::extract::{Path, Query, State};
use axum::response::Html;
use batchout::{OutputKind, OutputPath, Scope};
use batchout_store::ListOptions;
use serde::Deserialize;

use super::error::PageError;
use super::html::{Crumb, Esc, job_href, page, path_segments, query_value, size, task_href, time};
use super::preview::{View, view_of};
use crate::Viewer;
use crate::listing::no_such_job;
use crate::target::Kind;

/// What people call the outputs of a kind: the portal's names where it has
/// them.
pub(crate) fn kind_label(kind: &OutputKind) -> &str {
    match kind {
        OutputKind::TaskOutput => "Saved output files",
        OutputKind::TaskLog => "Saved logs",
        OutputKind::TaskPreview => "Previews",
        OutputKind::TaskIntermediate => "Intermediate",
        OutputKind::JobOutput => "Job outputs",
        OutputKind::JobPreview => "Job previews",
        other => other.as_str(),
    }
}

/// Which page of a listing of outputs.
#[derive(Debug, Deserialize)]
pub(crate) struct OutputsQuery {
    pub(crate) after: Option<String>,
}

/// The URL of the page of `kind` (without a trailing `/`).
pub(crate) fn kind_href(kind: &Kind) -> String {
    match &kind.scope {
        Scope::Task(task) => task_href(kind.job.as_str(), task.as_str(), Some(kind.kind.as_str())),
        Scope::Job => format!(
            "{}/outputs/{}",
            job_href(kind.job.as_str()),
            super::html::segment(kind.kind.as_str())
        ),
    }
}

/// The listing of one page of `kind`'s outputs, as HTML.
pub(crate) async fn listing(
    viewer: &Viewer,
    kind: &Kind,
    after: Option<&str>,
) -> Result<String, PageError> {
    let prefix = kind.prefix()?;
    let options = ListOptions::default()
        .with_prefix(prefix.clone())
        .with_marker(after.filter(|a| !a.is_empty()).map(str::to_owned))
        .with_max_results(viewer.page);
    let listed = viewer
        .store
        .list_page(&kind.container(), &options)
        .await
        .map_err(|e| no_such_job(&kind.job, e))?;
    let base = kind_href(kind);
    let mut out = String::new();
    if listed.objects.is_empty() && after.is_none() {
        let _ = write!(
            out,
            "<p class=\"empty\">No {} saved.</p>",
            Esc(&kind_label(&kind.kind).to_lowercase())
        );
        return Ok(out);
    }
    let preview = matches!(kind.kind, OutputKind::TaskPreview | OutputKind::JobPreview);
    let _ = write!(
        out,
        "<p class=\"actions\"><a class=\"button\" href=\"/zip{}\" download>Download these as .zip</a></p>\
         <table class=\"list\" id=\"outputs\"><thead><tr><th>Name</th><th class=\"num\">Size</th>\
         <th>Last modified</th><th></th></tr></thead><tbody>",
        Esc(&base)
    );
    for meta in &listed.objects {
        let Some(path) = meta.name.strip_prefix(&prefix) else {
            continue;
        };
        let name = match OutputPath::new(path) {
            Ok(_) => {
                let href = format!("{base}/{}", path_segments(path));
                let thumb = if preview && view_of(path) == View::Image {
                    format!(
                        "<img class=\"thumb\" loading=\"lazy\" alt=\"\" src=\"/files{}\">",
                        Esc(&href)
                    )
                } else {
                    String::new()
                };
                format!(
                    "<a href=\"{}\">{thumb}{}</a></td><td class=\"num\">{}</td><td>{}</td>\
                     <td><a class=\"dl\" href=\"/files{}\" download>download</a>",
                    Esc(&href),
                    Esc(path),
                    size(meta.size),
                    time(meta.last_modified),
                    Esc(&href)
                )
            }
            Err(_) => format!(
                "<span class=\"bad\" title=\"not a name the conventions allow: it cannot be opened here\">{}</span>\
                 </td><td class=\"num\">{}</td><td>{}</td><td>",
                Esc(path),
                size(meta.size),
                time(meta.last_modified)
            ),
        };
        let _ = write!(out, "<tr><td>{name}</td></tr>");
    }
    out.push_str("</tbody></table>");
    if let Some(next) = &listed.next_marker {
        let _ = write!(
            out,
            "<nav class=\"pages\"><a rel=\"next\" href=\"{}?after={}\">Next page →</a></nav>",
            Esc(&base),
            query_value(next)
        );
    }
    Ok(out)
}

/// `GET /jobs/{job}/outputs/{kind}`: a page of the job's own outputs.
pub(crate) async fn job_kind_page(
    State(viewer): State<Viewer>,
    Path((job, kind)): Path<(String, String)>,
    Query(query): Query<OutputsQuery>,
) -> Result<Html<String>, PageError> {
    let kind = Kind::parse(&job, None, &kind)?;
    let listing = listing(&viewer, &kind, query.after.as_deref()).await?;
    let id = kind.job.as_str();
    let label = kind_label(&kind.kind);
    let body = format!(
        "<h1>{} <span class=\"dim\">of job</span> <span class=\"id\">{}</span></h1>{listing}",
        Esc(label),
        Esc(id)
    );
    let trail = [
        Crumb::new(id, job_href(id)),
        Crumb::new(label, kind_href(&kind)),
    ];
    Ok(page(&format!("{label} · {id}"), &trail, &body))
}
