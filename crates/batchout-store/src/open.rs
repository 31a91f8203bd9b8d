//! Opening a store from what a user types: a path or a URL.

use std::path::PathBuf;
use std::sync::Arc;

use crate::{Error, LocalStore, Result, Store};

/// The local directory used when no store is named.
pub const DEFAULT_LOCAL_STORE: &str = "./batchout-data";

/// Opens a store from a path or URL:
///
/// - a directory path, or `file:///absolute/path`: a [`LocalStore`] there (it is
///   created on first write).
///
/// # Errors
///
/// [`Error::InvalidStoreUrl`] for a URL of a kind this build cannot open.
pub fn open(url: &str) -> Result<Arc<dyn Store>> {
    let invalid = |reason: &str| Error::InvalidStoreUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    if url.trim().is_empty() {
        return Err(invalid(
            "it is empty; give a directory path, or leave --store and BATCHOUT_STORE unset for ./batchout-data",
        ));
    }
    if let Some(path) = url.strip_prefix("file://") {
        if !path.starts_with('/') {
            return Err(invalid(
                "a file:// URL needs an absolute path, as in file:///data/outputs",
            ));
        }
        return Ok(Arc::new(LocalStore::new(PathBuf::from(path))));
    }
    if let Some((scheme, _)) = url.split_once("://") {
        return Err(invalid(&format!(
            "{scheme}:// stores are not supported by this build; give a local directory path or a file:/// URL"
        )));
    }
    Ok(Arc::new(LocalStore::new(PathBuf::from(url))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_file_urls_open_local_stores() {
        let store = open("some/dir").expect("a path opens");
        assert!(store.to_string().contains("some/dir"), "{store}");
        let store = open("file:///tmp/x").expect("a file URL opens");
        assert!(store.to_string().contains("/tmp/x"), "{store}");
    }

    #[test]
    fn unknown_schemes_and_empty_urls_are_refused_with_a_hint() {
        let err = open("ftp://host/x").expect_err("ftp is not a store");
        assert!(
            err.to_string().contains("ftp:// stores are not supported"),
            "{err}"
        );
        assert!(open("").is_err());
        assert!(open("file://relative").is_err());
    }
}
