//! A task's outputs, or one kind's, as one `.zip`, streamed: the listing is
//! read a page at a time and each file is read from the store only when the
//! archive reaches it, so the first bytes leave at once and memory stays
//! flat whatever the total. A failure mid-way cuts the download short,
//! which a browser reports as failed, rather than ending a valid-looking
//! archive without some files.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use batchout::{OutputKind, OutputPath, Store};
use batchout_store::{BlobName, ListOptions, Location, ObjectMeta};
use futures::{StreamExt, TryStreamExt};

use super::error::PageError;
use crate::Viewer;
use crate::listing::no_such_job;
use crate::target::Kind;
use crate::zip::{ZipEntry, zip_stream};

/// `GET /zip/jobs/{job}/tasks/{task}`: every output of the task, each under
/// `Kind/path`.
pub(crate) async fn task_zip(
    State(viewer): State<Viewer>,
    Path((job, task)): Path<(String, String)>,
) -> Result<Response, PageError> {
    // Any kind names the task; the archive holds all of them.
    let kind = Kind::parse(&job, Some(&task), "TaskOutput")?;
    let prefix = format!("{task}/");
    archive(&viewer, &kind, prefix, true, format!("{job}-{task}")).await
}

/// `GET /zip/jobs/{job}/tasks/{task}/{kind}`: the task's outputs of a kind.
pub(crate) async fn task_kind_zip(
    State(viewer): State<Viewer>,
    Path((job, task, kind)): Path<(String, String, String)>,
) -> Result<Response, PageError> {
    let named = Kind::parse(&job, Some(&task), &kind)?;
    let prefix = named.prefix()?;
    archive(
        &viewer,
        &named,
        prefix,
        false,
        format!("{job}-{task}-{kind}"),
    )
    .await
}

/// `GET /zip/jobs/{job}/outputs/{kind}`: the job's own outputs of a kind.
pub(crate) async fn job_kind_zip(
    State(viewer): State<Viewer>,
    Path((job, kind)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let named = Kind::parse(&job, None, &kind)?;
    let prefix = named.prefix()?;
    archive(&viewer, &named, prefix, false, format!("{job}-{kind}")).await
}

/// The archive of every blob under `prefix`, each named by what follows
/// the prefix (`Kind/path` when `by_kind`), as `{file_name}.zip`.
async fn archive(
    viewer: &Viewer,
    kind: &Kind,
    prefix: String,
    by_kind: bool,
    file_name: String,
) -> Result<Response, PageError> {
    let container = kind.container();
    // The first page is read before answering, so a job or task that does
    // not exist is a 404, not an empty archive.
    let options = ListOptions::default().with_prefix(prefix.clone());
    let first = viewer
        .store
        .list_page(&container, &options)
        .await
        .map_err(|e| no_such_job(&kind.job, e))?;
    if first.objects.is_empty() {
        return Err(PageError(crate::ViewerError::BadRequest(format!(
            "there are no outputs to put in {file_name}.zip"
        ))));
    }
    let store = viewer.store.clone();
    let listed = prefix.clone();
    let pages = futures::stream::try_unfold(Some(Ok(first)), move |next| {
        let (store, container, prefix) = (store.clone(), container.clone(), listed.clone());
        async move {
            // The first page as read, then one page per marker, until none.
            let page = match next {
                None => return Ok(None),
                Some(Ok(page)) => page,
                Some(Err(marker)) => {
                    let options = ListOptions::default()
                        .with_prefix(prefix)
                        .with_marker(Some(marker));
                    store
                        .list_page(&container, &options)
                        .await
                        .map_err(std::io::Error::other)?
                }
            };
            let next = page.next_marker.map(Err::<batchout_store::ListPage, _>);
            Ok::<_, std::io::Error>(Some((page.objects, next)))
        }
    });
    let store = viewer.store.clone();
    let container = kind.container();

    let entries = pages
        .map_ok(|objects| futures::stream::iter(objects.into_iter().map(Ok::<_, std::io::Error>)))
        .try_flatten()
        .try_filter_map(move |meta: ObjectMeta| {
            let name = entry_name(&meta.name, &prefix, by_kind);
            let entry = name.map(|name| (name, meta));
            futures::future::ready(Ok(entry))
        })
        .and_then(move |(name, meta)| {
            let (store, container) = (store.clone(), container.clone());
            async move { open_entry(store, container, name, meta).await }
        });
    let mut answer = Body::from_stream(zip_stream(entries)).into_response();
    let headers = answer.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    let plain: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{plain}.zip\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(answer)
}

/// The name in the archive of the blob `name` under `prefix`: what follows
/// it (`Kind/path`, without the `$`, when `by_kind`); `None` for a name the
/// conventions would not give, which is left out.
fn entry_name(name: &str, prefix: &str, by_kind: bool) -> Option<String> {
    let rest = name.strip_prefix(prefix)?;
    if !by_kind {
        OutputPath::new(rest).ok()?;
        return Some(rest.to_owned());
    }
    let (kind, path) = rest.strip_prefix('$')?.split_once('/')?;
    OutputKind::new(kind).ok()?;
    OutputPath::new(path).ok()?;
    Some(format!("{kind}/{path}"))
}

async fn open_entry(
    store: Arc<dyn Store>,
    container: batchout::ContainerName,
    name: String,
    meta: ObjectMeta,
) -> std::io::Result<ZipEntry> {
    let blob = BlobName::new(meta.name.clone()).map_err(std::io::Error::other)?;
    let got = store
        .get(&Location::new(container, blob), None)
        .await
        .map_err(std::io::Error::other)?
        .verified();
    Ok(ZipEntry {
        name,
        modified: meta.last_modified,
        body: got.stream.map_err(std::io::Error::other).boxed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_names_are_the_paths_under_the_prefix() {
        assert_eq!(
            entry_name("t1/$TaskLog/stdout.txt", "t1/", true).as_deref(),
            Some("TaskLog/stdout.txt")
        );
        assert_eq!(
            entry_name("t1/$TaskOutput/a/b.txt", "t1/$TaskOutput/", false).as_deref(),
            Some("a/b.txt")
        );
        // Names the conventions would not give are left out.
        assert_eq!(entry_name("t1/stray.txt", "t1/", true), None);
        assert_eq!(
            entry_name("t1/$TaskOutput/../x", "t1/$TaskOutput/", false),
            None
        );
    }
}
