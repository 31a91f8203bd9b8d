//! What a backend can do: callers choose a strategy from these, never from
//! the backend's name.

use crate::ContainerName;

/// What a backend can do. Callers choose a strategy from these, never from the
/// backend's name. New fields are added as backends gain abilities.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// Whether [`crate::Store::append`] works (else a tracked file is re-uploaded
    /// whole at each flush).
    pub append: bool,
    /// The most bytes one append may carry.
    pub max_append_size: u64,
    /// Where [`crate::Store::append`] works by copying the stored blob
    /// server-side rather than by a native append (S3: a multipart upload
    /// whose first part copies the object, UploadPartCopy, then a part with
    /// the new bytes): the length from which it does. Parts but the last must
    /// be at least 5 MiB, so a shorter blob is appended to by reading it and
    /// writing it whole again; a caller that holds the bytes (a tracked file)
    /// does better to put them whole, on the version it last wrote
    /// ([`crate::PutOptions::if_match`]), until the blob reaches this length.
    /// Such a store appends to any blob, whatever its [`crate::BlobType`].
    /// `None` for a native append (Azure's append blobs, a local file).
    pub append_copy_floor: Option<u64>,
    /// The most appends one blob may receive, where the backend has a limit
    /// (Azure: 50,000 blocks per append blob). A tracked file rolls over to a
    /// continuation blob before reaching it.
    pub max_append_blocks: Option<u64>,
    /// Whether one name may be both a blob and a prefix of other blobs (`x` and
    /// `x/y`). Object stores allow it; a local directory cannot.
    pub file_and_folder_names: bool,
    /// The only container this store can reach, when it is bound to one (a
    /// container SAS URL): it cannot create containers, and
    /// [`crate::Store::list_containers`] gives that one alone.
    pub bound_container: Option<ContainerName>,
    /// Whether [`crate::Store::create_container_with`] records metadata on a
    /// container (and [`crate::Store::list_containers`] gives it back).
    pub container_metadata: bool,
    /// Whether a [`crate::ReadRange::Suffix`] read is one request; else the
    /// store asks for the blob's size first.
    pub suffix_reads: bool,
    /// Whether every put records the CRC-64/NVME of the whole content
    /// ([`crate::ObjectMeta::crc64nvme`]), so that whole reads can be checked
    /// end to end ([`crate::GetResult::verified`]).
    pub records_checksums: bool,
}
