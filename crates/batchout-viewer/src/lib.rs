//! The viewer of a store's outputs: jobs → tasks → kinds → files, and logs
//! read a range at a time, over HTTP. It is a [`Router`] built from a store,
//! so it serves the local directory store, an Azure account or a container
//! SAS URL alike, and is tested in process, without a socket.
//!
//! This is the JSON API the viewer's pages are to be built on (documented in
//! `docs/viewer-api.md`):
//!
//! | route | gives |
//! |---|---|
//! | `GET /api/jobs` | the store's jobs: id (as recorded), container, tasks, outputs, bytes, last write |
//! | `GET /api/jobs/{job}?after=&limit=` | the job's own outputs, and one page of its task ids |
//! | `GET /api/jobs/{job}/tasks/{task}` | the kinds a task has outputs of |
//! | `GET /api/jobs/{job}/tasks/{task}/{kind}?after=&limit=` | one page of a task's outputs of a kind |
//! | `GET /api/jobs/{job}/outputs/{kind}?after=&limit=` | one page of the job's own outputs of a kind |
//! | `GET /api/jobs/{job}/tasks/{task}/{kind}/{path}?from=N` or `?tail=N` | text of an output from byte N, or its last N bytes (a log, followed) |
//! | `GET /files/jobs/{job}/tasks/{task}/{kind}/{path}` | the output's bytes, with `Range` |
//!
//! (and the same under `/api/jobs/{job}/outputs/{kind}/…` and
//! `/files/jobs/{job}/outputs/{kind}/…` for the job's own outputs).
//!
//! Every request costs the store only what its answer needs: a page of
//! tasks is one listing request, and a log followed from byte N reads only
//! what follows N. Names in URLs are checked by the conventions' rules
//! before anything is asked of the store, and stored names are never used
//! as local paths. With a token set, every request must carry it
//! ([`ViewerOptions::token`]).

mod auth;
mod error;
mod files;
mod listing;
mod pages;
mod target;
mod tasks;
mod text;
mod zip;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use batchout::Store;

pub use error::ViewerError;

/// The most entries a page of a listing holds unless asked for fewer.
pub const DEFAULT_PAGE: u32 = 100;

/// How the viewer serves.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct ViewerOptions {
    /// When set, every request must carry this token: as
    /// `Authorization: Bearer TOKEN`, as the cookie `batchout_token`, or once
    /// as `?token=TOKEN`, which answers with that cookie (HttpOnly,
    /// SameSite=Strict) so that a browser need not carry it in its URLs.
    /// Without one, any request is served: listen on loopback only.
    pub token: Option<String>,
    /// The most entries of a page when a request asks for none (at most
    /// 5,000); [`DEFAULT_PAGE`] unless set.
    pub page: Option<u32>,
}

impl ViewerOptions {
    /// Requires `token` on every request.
    #[must_use]
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Lists at most `page` entries a page (1 to 5,000) unless a request
    /// asks for fewer.
    #[must_use]
    pub fn with_page(mut self, page: u32) -> Self {
        self.page = Some(page);
        self
    }
}

impl std::fmt::Debug for ViewerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewerOptions")
            .field("token", &self.token.as_ref().map(|_| "REDACTED"))
            .field("page", &self.page)
            .finish()
    }
}

/// What every handler reads.
#[derive(Clone)]
pub(crate) struct Viewer {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) page: u32,
}

/// Serves the viewer of `store` on `listener` until `shutdown` resolves,
/// then lets the requests in flight finish.
///
/// # Errors
///
/// When the listener fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: Arc<dyn Store>,
    options: ViewerOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(store, options))
        .with_graceful_shutdown(shutdown)
        .await
}

/// The viewer of `store`, as a router of its routes, to serve with
/// [`serve`] or to call in process.
pub fn router(store: Arc<dyn Store>, options: ViewerOptions) -> Router {
    let viewer = Viewer {
        store,
        page: options.page.unwrap_or(DEFAULT_PAGE).clamp(1, 5000),
    };
    let api = Router::new()
        .route("/api/jobs", get(listing::jobs))
        .route("/api/jobs/{job}", get(listing::job))
        .route("/api/jobs/{job}/tasks/{task}", get(listing::task))
        .route(
            "/api/jobs/{job}/tasks/{task}/{kind}",
            get(listing::task_kind),
        )
        .route("/api/jobs/{job}/outputs/{kind}", get(listing::job_kind))
        .route(
            "/api/jobs/{job}/tasks/{task}/{kind}/{*path}",
            get(text::task_text),
        )
        .route(
            "/api/jobs/{job}/outputs/{kind}/{*path}",
            get(text::job_text),
        )
        .route(
            "/files/jobs/{job}/tasks/{task}/{kind}/{*path}",
            get(files::task_file),
        )
        .route(
            "/files/jobs/{job}/outputs/{kind}/{*path}",
            get(files::job_file),
        )
        .merge(pages::routes())
        .with_state(viewer);
    auth::guarded(api, options.token)
}
