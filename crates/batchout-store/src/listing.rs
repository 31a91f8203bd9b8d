//! Listings: of the blobs in a container, a page at a time or one level by
//! delimiter, and of the store's containers.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::SystemTime;

use futures::TryStreamExt;
use futures::stream::{self, BoxStream};

use crate::{ContainerName, Error, ObjectMeta, Result};

/// A container's metadata: names (ASCII letters, digits and `_`, not
/// starting with a digit, as Azure's metadata names are) and ASCII values.
pub type ContainerMetadata = BTreeMap<String, String>;

/// One container of a store, as [`crate::Store::list_containers`] gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ContainerInfo {
    /// Its name.
    pub name: ContainerName,
    /// The metadata recorded on it (empty where none was, or where the
    /// credentials cannot read it).
    pub metadata: ContainerMetadata,
    /// When the container itself last changed (not its blobs), where known.
    pub last_modified: Option<SystemTime>,
}

impl ContainerInfo {
    /// A container with no metadata and no time.
    pub fn new(name: ContainerName) -> Self {
        Self {
            name,
            metadata: ContainerMetadata::new(),
            last_modified: None,
        }
    }
}

/// Which page of a listing [`crate::Store::list_page`] gives.
///
/// ```
/// use batchout_store::ListOptions;
///
/// // The task folders of a job's container, 100 at a time.
/// let first = ListOptions::default().delimited().with_max_results(100);
/// assert!(first.delimiter && first.marker.is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListOptions {
    /// Only names that start with this (anywhere in a segment).
    pub prefix: String,
    /// One level only: blobs directly below `prefix` (which is then empty or
    /// ends in `/`), and the `…/` prefixes holding deeper ones.
    pub delimiter: bool,
    /// Where to go on from: the [`ListPage::next_marker`] of the page before.
    /// Opaque; `None` for the first page.
    pub marker: Option<String>,
    /// The most entries (blobs and prefixes together) the page may hold; the
    /// backend may give fewer, and caps it at its own largest page (Azure:
    /// 5,000). `None`: the backend's largest page.
    pub max_results: Option<u32>,
}

impl ListOptions {
    /// Lists the names that start with `prefix`.
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Lists one level only (see [`ListOptions::delimiter`]).
    #[must_use]
    pub fn delimited(mut self) -> Self {
        self.delimiter = true;
        self
    }

    /// Goes on after the page whose [`ListPage::next_marker`] this is.
    #[must_use]
    pub fn with_marker(mut self, marker: Option<String>) -> Self {
        self.marker = marker;
        self
    }

    /// Gives at most `max` entries (at least 1).
    #[must_use]
    pub fn with_max_results(mut self, max: u32) -> Self {
        self.max_results = Some(max.max(1));
        self
    }
}

/// One page of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListPage {
    /// The `…/` prefixes one level down that hold at least one blob, sorted
    /// (with a delimiter only).
    pub prefixes: Vec<String>,
    /// The blobs on this page, sorted by name.
    pub objects: Vec<ObjectMeta>,
    /// What to pass as [`ListOptions::marker`] for the next page; `None`
    /// when this is the last.
    pub next_marker: Option<String>,
}

/// One level of a listing by delimiter, every page of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListResult {
    /// The `…/` prefixes one level down that hold at least one blob, sorted.
    pub prefixes: Vec<String>,
    /// The blobs directly at this level, sorted by name.
    pub objects: Vec<ObjectMeta>,
}

/// Every blob of a listing that starts with `first`, fetched a page at a time
/// by `page` (a backend's own listing request), each page after the last
/// one's marker.
pub(crate) fn all_pages<Page>(
    first: ListOptions,
    page: impl Fn(ListOptions) -> Page + Send + 'static,
) -> BoxStream<'static, Result<ObjectMeta>>
where
    Page: Future<Output = Result<ListPage>> + Send + 'static,
{
    let pages = stream::try_unfold(Some(first), move |options: Option<ListOptions>| {
        let fetched = options.clone().map(&page);
        async move {
            let (Some(options), Some(fetched)) = (options, fetched) else {
                return Ok(None);
            };
            let page = fetched.await?;
            let next = page
                .next_marker
                .map(|marker| options.with_marker(Some(marker)));
            Ok(Some((stream::iter(page.objects.into_iter().map(Ok)), next)))
        }
    });
    Box::pin(pages.try_flatten())
}

/// Whether `name` can be a metadata name: an identifier of ASCII letters,
/// digits and `_` that does not start with a digit (Azure's rule, which the
/// other backends keep so metadata moves between them).
pub(crate) fn is_metadata_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Whether `value` can be a metadata value: printable ASCII, as an HTTP
/// header carries it, without spaces at either end (which headers drop).
pub(crate) fn is_metadata_value(value: &str) -> bool {
    value.bytes().all(|b| (0x20..0x7f).contains(&b)) && value.trim() == value
}

/// Refuses metadata that some backend could not hold, naming the entry.
pub(crate) fn check_metadata(metadata: &ContainerMetadata) -> Result<()> {
    for (name, value) in metadata {
        let reason = if !is_metadata_name(name) {
            "a metadata name is ASCII letters, digits and '_', not starting with a digit"
        } else if !is_metadata_value(value) {
            "a metadata value is printable ASCII, without spaces at its ends"
        } else {
            continue;
        };
        return Err(Error::InvalidMetadata {
            name: name.clone(),
            reason: reason.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_names_and_values_are_what_every_backend_can_hold() {
        for good in ["jobid", "_x", "Job_Id2"] {
            assert!(is_metadata_name(good), "{good}");
        }
        for bad in ["", "2x", "job-id", "job id", "jöb"] {
            assert!(!is_metadata_name(bad), "{bad}");
        }
        assert!(is_metadata_value("nightly:job-7"));
        assert!(is_metadata_value(""));
        for bad in ["a\nb", " x", "é", "x\t"] {
            assert!(!is_metadata_value(bad), "{bad:?}");
        }
    }
}
