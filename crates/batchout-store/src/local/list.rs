//! Listing: recursively by prefix, or one level by delimiter.
//!
//! Only the deepest folder the prefix fully names is walked, never the whole
//! container. Symbolic links are neither followed nor listed, nor is anything
//! that is not a regular file, nor a file whose path is not UTF-8 (it cannot be
//! a blob name).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use futures::stream::BoxStream;
use walkdir::WalkDir;

use super::LocalStore;
use super::meta::object_meta;
use super::paths::{Entry, split};
use crate::{ContainerName, Error, ListOptions, ListPage, ListResult, ObjectMeta, Result};

impl LocalStore {
    pub(super) fn list_stream(
        &self,
        container: &ContainerName,
        prefix: &str,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        let (store, container, prefix) = (self.clone(), container.clone(), prefix.to_owned());
        super::each_of(async move {
            store
                .blocking(move |store| store.list_blocking(&container, &prefix))
                .await
        })
    }

    pub(super) fn list_blocking(
        &self,
        container: &ContainerName,
        prefix: &str,
    ) -> Result<Vec<ObjectMeta>> {
        let container_dir = self.existing_container(container)?;
        let (folder, rest) = split_prefix(prefix);
        let Some(start) = prefix_dir(&container_dir, folder)? else {
            return Ok(Vec::new());
        };
        let walk = WalkDir::new(&start)
            .min_depth(1)
            .follow_links(false)
            .into_iter()
            .filter_entry(|entry| {
                entry.depth() != 1
                    || entry
                        .file_name()
                        .as_encoded_bytes()
                        .starts_with(rest.as_bytes())
            });
        let mut objects = Vec::new();
        for entry in walk {
            let entry = match entry {
                Ok(entry) => entry,
                Err(err) if is_gone(&err) => continue,
                Err(err) => {
                    let path = err.path().unwrap_or(&start).to_owned();
                    return Err(Error::io("list", path, err.into()));
                }
            };
            if !entry.file_type().is_file() {
                continue;
            }
            let Some(name) = blob_name(&container_dir, entry.path()) else {
                continue;
            };
            match entry.metadata() {
                Ok(meta) if name.starts_with(prefix) => objects.push(object_meta(name, &meta)),
                Ok(_) => {}
                Err(err) if is_gone(&err) => {}
                Err(err) => return Err(Error::io("list", entry.path(), err.into())),
            }
        }
        objects.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        Ok(objects)
    }

    /// One page of a listing. The directory is read (or walked) whole and
    /// the page cut from it: the marker is the last name the page before
    /// gave, a blob's or a prefix's.
    pub(super) fn list_page_blocking(
        &self,
        container: &ContainerName,
        options: &ListOptions,
    ) -> Result<ListPage> {
        let (objects, prefixes) = if options.delimiter {
            let level = self.list_with_delimiter_blocking(container, &options.prefix)?;
            (level.objects, level.prefixes)
        } else {
            (self.list_blocking(container, &options.prefix)?, Vec::new())
        };
        let after = |name: &str| options.marker.as_deref().is_none_or(|m| name > m);
        let mut objects = objects.into_iter().filter(|o| after(&o.name)).peekable();
        let mut prefixes = prefixes.into_iter().filter(|p| after(p)).peekable();
        let max = options
            .max_results
            .map_or(usize::MAX, |n| n.max(1) as usize);
        let mut page = ListPage::default();
        let mut last = None;
        for _ in 0..max {
            // The two lists merged in name order.
            let blob_first = match (objects.peek(), prefixes.peek()) {
                (Some(o), Some(p)) => o.name.as_str() < p.as_str(),
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            if blob_first {
                let object = objects.next().expect("peeked");
                last = Some(object.name.clone());
                page.objects.push(object);
            } else {
                let prefix = prefixes.next().expect("peeked");
                last = Some(prefix.clone());
                page.prefixes.push(prefix);
            }
        }
        if objects.peek().is_some() || prefixes.peek().is_some() {
            page.next_marker = last;
        }
        Ok(page)
    }

    pub(super) fn list_with_delimiter_blocking(
        &self,
        container: &ContainerName,
        prefix: &str,
    ) -> Result<ListResult> {
        let container_dir = self.existing_container(container)?;
        let (folder, rest) = split_prefix(prefix);
        let base = &prefix[..prefix.len() - rest.len()];
        let mut listed = ListResult::default();
        let Some(start) = prefix_dir(&container_dir, folder)? else {
            return Ok(listed);
        };
        let entries = match fs::read_dir(&start) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(listed),
            Err(err) => return Err(Error::io("list", start, err)),
        };
        for entry in entries {
            let entry = entry.map_err(|err| Error::io("list", &start, err))?;
            let Some(name) = utf8_name(&entry.path()) else {
                continue;
            };
            if !name.starts_with(rest) {
                continue;
            }
            let (file_type, path) = match entry.file_type() {
                Ok(file_type) => (file_type, entry.path()),
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => return Err(Error::io("list", entry.path(), err)),
            };
            if file_type.is_file() {
                match entry.metadata() {
                    Ok(meta) => listed
                        .objects
                        .push(object_meta(format!("{base}{name}"), &meta)),
                    Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                    Err(err) => return Err(Error::io("list", path, err)),
                }
            } else if file_type.is_dir() && holds_blob(&path) {
                listed.prefixes.push(format!("{base}{name}/"));
            }
        }
        listed.objects.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        listed.prefixes.sort_unstable();
        Ok(listed)
    }
}

/// Whether a folder holds at least one blob somewhere below it.
pub(super) fn holds_blob(dir: &Path) -> bool {
    WalkDir::new(dir)
        .min_depth(1)
        .follow_links(false)
        .into_iter()
        .filter_map(std::result::Result::ok)
        .any(|entry| entry.file_type().is_file() && blob_name(dir, entry.path()).is_some())
}

/// Splits a prefix into the folder it fully names and the start of a name in
/// that folder: `t1/$TaskLog` → (`t1`, `$TaskLog`).
fn split_prefix(prefix: &str) -> (&str, &str) {
    match prefix.rfind('/') {
        Some(at) => (&prefix[..at], &prefix[at + 1..]),
        None => ("", prefix),
    }
}

/// The folder named by `folder` (`/`-separated) in the container, when it is a
/// real folder reached without links. `None` when no blob can be below it.
fn prefix_dir(container_dir: &Path, folder: &str) -> Result<Option<PathBuf>> {
    let mut dir = container_dir.to_owned();
    if folder.is_empty() {
        return Ok(Some(dir));
    }
    let Ok(segments) = split(folder) else {
        return Ok(None);
    };
    for segment in segments {
        dir.push(segment);
        match Entry::at(&dir) {
            Ok(Entry::Dir) => {}
            Ok(_) => return Ok(None),
            Err(err) => return Err(Error::io("list", dir, err)),
        }
    }
    Ok(Some(dir))
}

/// The blob name of a file below the container folder, or `None` (with a
/// warning) when its path is not UTF-8.
fn blob_name(container_dir: &Path, path: &Path) -> Option<String> {
    let relative = path.strip_prefix(container_dir).ok()?;
    let segments: Option<Vec<&str>> = relative.iter().map(|segment| segment.to_str()).collect();
    if segments.is_none() {
        tracing::warn!(path = %path.display(), "skipping a file whose path is not UTF-8: it cannot be a blob name");
    }
    Some(segments?.join("/"))
}

/// The last segment of a path, when it is UTF-8 (else a warning).
fn utf8_name(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str().map(str::to_owned);
    if name.is_none() {
        tracing::warn!(path = %path.display(), "skipping an entry whose name is not UTF-8: it cannot be a blob name");
    }
    name
}

/// Whether a walk error means the entry vanished while listing.
fn is_gone(err: &walkdir::Error) -> bool {
    err.io_error()
        .is_some_and(|err| err.kind() == io::ErrorKind::NotFound)
}
