//! One storage abstraction for batchout, and the backends behind it.
//!
//! Everything above this crate (job and task outputs, tracked files, the task
//! runner, the viewer) is written against the [`Store`] trait only. A backend
//! declares what it can do in [`Capabilities`]; callers choose a strategy from the
//! capability, never from the backend's name.
//!
//! Backends:
//! - [`LocalStore`]: a local directory, one folder per container. The embedded
//!   default: zero configuration.
//! - [`AzureStore`]: Azure Blob Storage, or the Azurite emulator.
//! - [`S3Store`]: an S3 bucket (AWS, or an S3-compatible server), each
//!   container a folder of keys under the store's prefix.
//!
//! Stores are opened from a URL or path with [`open`]; an Azure account
//! with the caller's own source of Entra ID tokens with
//! [`open_with_credential`].
//!
//! What the trait offers beyond put and get is what a viewer of outputs
//! needs: the store's containers with their metadata
//! ([`Store::list_containers`]), listings a page at a time
//! ([`Store::list_page`]), and reads of what a log gained or its tail
//! ([`ReadRange::From`], [`ReadRange::Suffix`]) on a version
//! ([`GetOptions::if_match`]).
//!
//! ```
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! use batchout_store::{BlobName, Location, PutSource, Store, open};
//! use batchout_naming::{ContainerName, JobId};
//!
//! let dir = tempfile::tempdir()?;
//! let store = open(dir.path().to_str().expect("utf-8 temp dir"))?;
//! let container = ContainerName::for_job(&JobId::new("job-1")?);
//! store.create_container(&container).await?;
//! let at = Location::new(container, BlobName::new("t1/$TaskLog/a.txt")?);
//! store.put(&at, PutSource::from("hello"), &Default::default()).await?;
//! assert_eq!(store.get(&at, None).await?.bytes().await?, "hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?; Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod azure;
mod capabilities;
mod checksum;
#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
mod expiring;
mod listing;
mod local;
mod open;
mod priority;
mod progress;
mod read;
mod remote;
pub mod s3;
mod settings;
mod types;

use std::fmt;
use std::ops::Range;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

pub use azure::config::AuthMode;
pub use azure::identity::{AccessToken, Secret, TokenCredential};
pub use azure::{AzureOptions, AzureStore};
pub use batchout_naming::ContainerName;
pub use capabilities::Capabilities;
pub use checksum::{RequestChecksum, crc64nvme_hex};
pub use error::{Error, Result};
pub use listing::{ContainerInfo, ContainerMetadata, ListOptions, ListPage, ListResult};
pub use local::{LocalStore, is_local_disk};
pub use open::{
    DEFAULT_LOCAL_STORE, configured_is_local, open, open_configured, open_configured_with,
    open_with_credential,
};
pub use progress::{Progress, ProgressSnapshot};
pub use read::{GetOptions, GetResult, ReadRange};
pub use remote::TransferOptions;
pub use remote::retry::RetryPolicy;
pub use remote::tls::Authorities;
pub use s3::{S3Options, S3Store};
pub use settings::{AzureSettings, EnvLookup, InvalidValue, LocalSettings, Setting, StoreSettings};
pub use types::{BlobName, BlobType, Location, ObjectMeta, PutOptions, PutSource, SecretUrl};

/// A blob store: containers of named blobs.
///
/// Names are `/`-separated; listings treat `/` as the only delimiter. Every
/// method that takes a [`Location`] fails with [`Error::ContainerNotFound`] when
/// the container does not exist, and with [`Error::NotFound`] when a blob that
/// must exist does not.
///
/// Implementations hold any credentials themselves and must never reveal them in
/// `Debug`, `Display` or errors.
#[async_trait]
pub trait Store: fmt::Debug + fmt::Display + Send + Sync + 'static {
    /// What this backend can do.
    fn capabilities(&self) -> Capabilities;

    /// Creates a container if it does not exist, recording `metadata` on it
    /// where [`Capabilities::container_metadata`] allows. Returns whether it
    /// was created. A container that exists keeps its metadata, with the
    /// entries of `metadata` added or updated.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidMetadata`] for a name or value no backend can hold;
    /// when the store refuses or cannot be reached.
    async fn create_container_with(
        &self,
        container: &ContainerName,
        metadata: &ContainerMetadata,
    ) -> Result<bool>;

    /// Creates a container if it does not exist, with no metadata. Returns
    /// whether it was created.
    ///
    /// # Errors
    ///
    /// When the store refuses or cannot be reached.
    async fn create_container(&self, container: &ContainerName) -> Result<bool> {
        self.create_container_with(container, &ContainerMetadata::new())
            .await
    }

    /// The store's containers, in name order, with their metadata. A store
    /// bound to one container gives that one alone.
    fn list_containers(&self) -> BoxStream<'static, Result<ContainerInfo>>;

    /// Writes a whole blob, replacing any blob of that name. The blob is complete
    /// or absent: a failed put never leaves a partial blob behind.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when a [`PutSource::File`] cannot be read;
    /// [`Error::InvalidName`] or [`Error::NameConflict`] when the backend cannot
    /// hold that name.
    async fn put(
        &self,
        location: &Location,
        source: PutSource,
        options: &PutOptions,
    ) -> Result<ObjectMeta>;

    /// Appends `data` at `position`, which must be the blob's current length; a
    /// blob that does not exist is created when `position` is 0. Returns the new
    /// length.
    ///
    /// The position condition makes a retried append safe: an append that was
    /// applied but whose answer was lost fails the retry with
    /// [`Error::AppendPosition`] carrying the actual length, instead of writing
    /// the bytes twice.
    ///
    /// # Errors
    ///
    /// [`Error::AppendPosition`] when the blob's length is not `position`;
    /// [`Error::Unsupported`] when [`Capabilities::append`] is false.
    async fn append(&self, location: &Location, data: Bytes, position: u64) -> Result<u64>;

    /// Reads a blob, or the part of it `options` asks for, as a stream, on
    /// the condition `options` sets.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`]; [`Error::InvalidRange`] for a range outside the
    /// blob; [`Error::Modified`] when the blob is not the version
    /// [`GetOptions::if_match`] names.
    async fn get_opts(&self, location: &Location, options: &GetOptions) -> Result<GetResult>;

    /// Reads a blob, or the byte range of it, as a stream.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`]; [`Error::InvalidRange`] for a range outside the blob.
    async fn get(&self, location: &Location, range: Option<Range<u64>>) -> Result<GetResult> {
        let options = GetOptions {
            range: range.map(ReadRange::Bounded),
            ..GetOptions::default()
        };
        self.get_opts(location, &options).await
    }

    /// Reads a blob's properties.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`].
    async fn head(&self, location: &Location) -> Result<ObjectMeta>;

    /// Lists every blob whose name starts with `prefix` (which may end anywhere,
    /// not only at a `/`), in lexicographic order of names. The stream owns what
    /// it needs, so it can outlive the borrow of `self`.
    fn list(
        &self,
        container: &ContainerName,
        prefix: &str,
    ) -> BoxStream<'static, Result<ObjectMeta>>;

    /// One page of a listing: the blobs whose names start with
    /// [`ListOptions::prefix`], or one level below it, from where the page
    /// before ended. A page costs one request at most, so a listing of any
    /// size can be shown a page at a time.
    ///
    /// # Errors
    ///
    /// [`Error::ContainerNotFound`]; when the store refuses or cannot be
    /// reached.
    async fn list_page(&self, container: &ContainerName, options: &ListOptions)
    -> Result<ListPage>;

    /// Lists one level below `prefix` (which is empty or ends in `/`): the blobs
    /// directly there, and the `…/` prefixes that hold deeper blobs, every
    /// page of it.
    ///
    /// # Errors
    ///
    /// When the store refuses or cannot be reached.
    async fn list_with_delimiter(
        &self,
        container: &ContainerName,
        prefix: &str,
    ) -> Result<ListResult> {
        let mut options = ListOptions::default().with_prefix(prefix).delimited();
        let mut result = ListResult::default();
        loop {
            let page = self.list_page(container, &options).await?;
            result.objects.extend(page.objects);
            result.prefixes.extend(page.prefixes);
            match page.next_marker {
                Some(next) => options.marker = Some(next),
                None => return Ok(result),
            }
        }
    }

    /// Deletes a blob.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when there is no such blob.
    async fn delete(&self, location: &Location) -> Result<()>;

    /// The plain URL of `container`, with no credential in it, where the
    /// store is reached by URL: what a service that authenticates its own
    /// way (a Batch pool's managed identity) is given. `None` for a store
    /// that no other machine can reach (a local directory).
    ///
    /// # Errors
    ///
    /// [`Error::WrongContainer`] for a container this store cannot reach (a
    /// store opened on one container, asked for another).
    fn container_url(&self, container: &ContainerName) -> Result<Option<String>> {
        let _ = container;
        Ok(None)
    }

    /// A URL that grants access to one container, and nothing else, until
    /// `expiry`: on Azure, a container SAS URL, signed with the account key
    /// (a service SAS) or, for a store signed in with Entra ID, with a user
    /// delegation key asked of the service (a user delegation SAS, which
    /// lasts at most 7 days: [`SecretUrl::expiry`] says when the URL given
    /// expires). `permissions` are the letters of the service (`racwl`:
    /// read, add, create, write, list).
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] by default, and where the store holds neither
    /// a key nor a token that can sign one; for a user delegation SAS, when
    /// the service refuses the key ([`Error::Denied`] for an identity
    /// without a data role) or cannot be reached.
    async fn container_access_url(
        &self,
        container: &ContainerName,
        permissions: &str,
        expiry: SystemTime,
    ) -> Result<SecretUrl> {
        let _ = (container, permissions, expiry);
        Err(Error::Unsupported {
            store: self.to_string(),
            operation: "container access URLs (they need Azure Blob Storage opened with its account key or an Entra ID token)",
        })
    }
}
