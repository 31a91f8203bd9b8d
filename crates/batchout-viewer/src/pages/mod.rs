//! The viewer's pages: HTML a browser shows, each at a URL that can be
//! shared (`/jobs/{job}/tasks/{task}/{kind}/{path}`). Listings are whole
//! pages that need no script; the one script, served from the binary like
//! everything else, only adds following a log, loading what came before,
//! searching and wrapping.

mod ansi;
mod assets;
mod error;
mod file;
pub(crate) mod html;
mod job;
mod jobs;
pub(crate) mod lines;
mod outputs;
mod preview;
mod task;
mod zip_routes;

use axum::Router;
use axum::routing::get;

use crate::Viewer;

/// The routes of the pages, their assets, and what their script asks for.
pub(crate) fn routes() -> Router<Viewer> {
    Router::new()
        .route("/", get(jobs::show))
        .route("/jobs/{job}", get(job::show))
        .route("/jobs/{job}/outputs/{kind}", get(outputs::job_kind_page))
        .route(
            "/jobs/{job}/outputs/{kind}/{*path}",
            get(file::job_file_page),
        )
        .route("/jobs/{job}/tasks/{task}", get(task::show))
        .route("/jobs/{job}/tasks/{task}/{kind}", get(task::kind_page))
        .route(
            "/jobs/{job}/tasks/{task}/{kind}/{*path}",
            get(file::task_file_page),
        )
        .route(
            "/lines/jobs/{job}/tasks/{task}/{kind}/{*path}",
            get(lines::task_lines),
        )
        .route(
            "/lines/jobs/{job}/outputs/{kind}/{*path}",
            get(lines::job_lines),
        )
        .route("/zip/jobs/{job}/tasks/{task}", get(zip_routes::task_zip))
        .route(
            "/zip/jobs/{job}/tasks/{task}/{kind}",
            get(zip_routes::task_kind_zip),
        )
        .route(
            "/zip/jobs/{job}/outputs/{kind}",
            get(zip_routes::job_kind_zip),
        )
        .route("/assets/viewer.css", get(assets::css))
        .route("/assets/viewer.js", get(assets::js))
}
