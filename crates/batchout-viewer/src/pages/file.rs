//! A file's page, shown as its name says: text as numbered lines read a
//! window at a time (never the whole file), images inline, tables, JSON
//! pretty-printed, and anything else as a download.

use std::fmt::Write;

use axum::extract::{Path, Query, State};
use axum::response::Html;
use batchout::{OutputKind, Scope};
use batchout_store::{Location, ObjectMeta};
use futures::StreamExt;

use super::error::PageError;
use super::html::{Crumb, Esc, job_href, page, path_segments, size, task_href, time};
use super::lines::{WindowQuery, read_at_most, read_window};
use super::outputs::{kind_href, kind_label};
use super::preview::{JSON_BYTES, TABLE_BYTES, View, pretty_json, table, view_of};
use crate::Viewer;
use crate::target::Kind;

/// `GET /jobs/{job}/tasks/{task}/{kind}/{path}?at=`.
pub(crate) async fn task_file_page(
    State(viewer): State<Viewer>,
    Path((job, task, kind, path)): Path<(String, String, String, String)>,
    Query(query): Query<WindowQuery>,
) -> Result<Html<String>, PageError> {
    let kind = Kind::parse(&job, Some(&task), &kind)?;
    render(&viewer, &kind, &path, query).await
}

/// `GET /jobs/{job}/outputs/{kind}/{path}?at=`.
pub(crate) async fn job_file_page(
    State(viewer): State<Viewer>,
    Path((job, kind, path)): Path<(String, String, String)>,
    Query(query): Query<WindowQuery>,
) -> Result<Html<String>, PageError> {
    let kind = Kind::parse(&job, None, &kind)?;
    render(&viewer, &kind, &path, query).await
}

async fn render(
    viewer: &Viewer,
    kind: &Kind,
    path: &str,
    query: WindowQuery,
) -> Result<Html<String>, PageError> {
    let (location, output) = kind.location(path)?;
    let path = output.as_str();
    let href = format!("{}/{}", kind_href(kind), path_segments(path));
    let files = format!("/files{href}");
    let name = path.rsplit('/').next().unwrap_or(path);
    let fail = |e| PageError(kind.read_error(&output, e));
    let mut body = String::new();
    let _ = write!(body, "<h1 class=\"file\">{}</h1>", Esc(path));
    match view_of(path) {
        View::Text => {
            let window = read_window(viewer, &location, query).await.map_err(fail)?;
            if window.binary {
                let meta = viewer.store.head(&location).await.map_err(fail)?;
                binary_card(&mut body, &meta, &files);
            } else {
                text_view(&mut body, kind, &href, &files, &window);
            }
        }
        View::Image => {
            let meta = viewer.store.head(&location).await.map_err(fail)?;
            facts(&mut body, &meta, &files);
            let _ = write!(
                body,
                "<figure class=\"image\"><img id=\"image\" src=\"{}\" alt=\"{}\"></figure>",
                Esc(&files),
                Esc(name)
            );
        }
        View::Table(delimiter) => {
            let (meta, bytes) = read_head(viewer, &location, TABLE_BYTES)
                .await
                .map_err(fail)?;
            facts(&mut body, &meta, &files);
            let complete = bytes.len() as u64 >= meta.size;
            body.push_str(&table(
                &String::from_utf8_lossy(&bytes),
                delimiter,
                complete,
            ));
        }
        View::Json => {
            let (meta, bytes) = read_head(viewer, &location, JSON_BYTES)
                .await
                .map_err(fail)?;
            facts(&mut body, &meta, &files);
            match pretty_json(&bytes).filter(|_| bytes.len() as u64 >= meta.size) {
                Some(pretty) => {
                    let _ = write!(
                        body,
                        "<pre class=\"json\" id=\"json\">{}</pre>",
                        Esc(&pretty)
                    );
                }
                None => {
                    let window = read_window(viewer, &location, query).await.map_err(fail)?;
                    text_view(&mut body, kind, &href, &files, &window);
                }
            }
        }
        View::Binary => {
            let meta = viewer.store.head(&location).await.map_err(fail)?;
            binary_card(&mut body, &meta, &files);
        }
    }
    let id = kind.job.as_str();
    let label = kind_label(&kind.kind);
    let mut trail = vec![Crumb::new(id, job_href(id))];
    if let Scope::Task(task) = &kind.scope {
        trail.push(Crumb::new(
            task.as_str(),
            task_href(id, task.as_str(), None),
        ));
    }
    trail.push(Crumb::new(label, kind_href(kind)));
    trail.push(Crumb::new(name, href.clone()));
    Ok(page(&format!("{name} · {label} · {id}"), &trail, &body))
}

/// The first `limit` bytes of a file (one request), and its properties.
async fn read_head(
    viewer: &Viewer,
    location: &Location,
    limit: u64,
) -> Result<(ObjectMeta, Vec<u8>), batchout_store::Error> {
    let got = read_at_most(viewer, location, 0, limit).await?;
    let meta = got.meta.clone();
    let mut stream = got.stream;
    let mut bytes = Vec::new();
    while (bytes.len() as u64) < limit {
        match stream.next().await {
            Some(chunk) => bytes.extend_from_slice(&chunk?),
            None => break,
        }
    }
    bytes.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok((meta, bytes))
}

/// The size, time and type of a file, and its download link.
fn facts(body: &mut String, meta: &ObjectMeta, files: &str) {
    let _ = write!(
        body,
        "<p class=\"facts\"><span id=\"size\">{}</span> · {} · {} · \
         <a class=\"button\" href=\"{}\" download>Download</a></p>",
        size(meta.size),
        time(meta.last_modified),
        Esc(meta.content_type.as_deref().unwrap_or("unknown type")),
        Esc(files)
    );
}

fn binary_card(body: &mut String, meta: &ObjectMeta, files: &str) {
    facts(body, meta, files);
    body.push_str("<p class=\"empty\">This file is not text: download it to open it.</p>");
}

/// Numbered lines of one window, the links that move it (which need no
/// script), and the controls the script adds: follow, wrap, search.
fn text_view(
    body: &mut String,
    kind: &Kind,
    href: &str,
    files: &str,
    window: &super::lines::Window,
) {
    let follow = matches!(kind.kind, OutputKind::TaskLog) && window.at_end;
    let _ = write!(
        body,
        "<div class=\"toolbar\"><span class=\"facts\"><span id=\"size\">{}</span> · \
         bytes <span id=\"range\">{}–{}</span></span>",
        size(window.size),
        window.start,
        window.end
    );
    body.push_str("<span class=\"moves\">");
    if window.start > 0 {
        let _ = write!(
            body,
            "<a href=\"?at=0\">Start</a> <a id=\"earlier-page\" href=\"?before={}\">Earlier</a> ",
            window.start
        );
    }
    if !window.at_end {
        let _ = write!(
            body,
            "<a id=\"later-page\" href=\"?at={}\">Later</a> <a href=\"?\">End</a> ",
            window.end
        );
    }
    let _ = write!(
        body,
        "</span><span class=\"js-only controls\">\
         <label><input type=\"checkbox\" id=\"follow\"{}> Follow</label> \
         <label><input type=\"checkbox\" id=\"wrap\"> Wrap</label> \
         <input type=\"search\" id=\"search\" placeholder=\"Search loaded lines\" autocomplete=\"off\"> \
         <span id=\"hits\" class=\"dim\"></span></span> \
         <a class=\"button\" href=\"{}\" download>Download</a></div>",
        if follow { " checked" } else { "" },
        Esc(files)
    );
    let optional = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or_default();
    let _ = write!(
        body,
        "<div id=\"lines\" class=\"lines{}\" data-src=\"/lines{}\" data-start=\"{}\" data-end=\"{}\" \
         data-size=\"{}\" data-first-line=\"{}\" data-next-line=\"{}\" data-at-end=\"{}\">",
        if window.first_line.is_none() {
            " offsets"
        } else {
            ""
        },
        Esc(href),
        window.start,
        window.end,
        window.size,
        optional(window.first_line),
        optional(window.next_line),
        window.at_end
    );
    if window.start > 0 {
        body.push_str("<button type=\"button\" class=\"js-only\" id=\"load-earlier\">Load earlier lines</button>");
    }
    if window.lines == 0 {
        body.push_str("<p class=\"empty\" id=\"no-lines\">Empty so far.</p>");
    }
    body.push_str(&window.html);
    body.push_str("</div><p id=\"status\" class=\"dim\" aria-live=\"polite\"></p>");
}
