//! A blob's properties, from its file's metadata.
//!
//! A local directory records no content type or blob type, so the content type
//! is guessed from the name (as an object store does when none is given) and
//! the blob type is unknown. Nor does it keep checksums: a put lands by an
//! atomic rename of a complete copy, so a blob is whole or absent, but no
//! checksum is recorded and reads are not verified.

use std::fs::Metadata;
use std::time::UNIX_EPOCH;

use crate::ObjectMeta;

/// The properties of the blob `name` stored in a file with `meta`.
pub(super) fn object_meta(name: impl Into<String>, meta: &Metadata) -> ObjectMeta {
    let name = name.into();
    let last_modified = meta.modified().ok();
    let nanos = last_modified
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |age| age.as_nanos());
    let content_type = mime_guess::from_path(&name)
        .first_or_octet_stream()
        .to_string();
    ObjectMeta {
        size: meta.len(),
        last_modified,
        content_type: Some(content_type),
        blob_type: None,
        etag: Some(format!("{nanos:x}-{:x}", meta.len())),
        append_blocks: None,
        crc64nvme: None,
        sha256: None,
        name,
    }
}
