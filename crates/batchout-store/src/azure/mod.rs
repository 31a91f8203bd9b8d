//! Azure Blob Storage, through its REST API: the store the conventions were
//! made for.
//!
//! The client is our own, on `reqwest` (see `docs/decisions/0001-azure-client.md`):
//! the Blob REST surface batchout needs is small, and owning it gives exact
//! control of each request (one Put Blob per small file, the append-position
//! condition on every append, per-request retries) and of secrets (a SAS never
//! reaches a log or an error).
//!
//! - Plain saves are block blobs: one Put Blob up to [`TransferOptions::single_put_max`],
//!   else blocks uploaded in parallel and committed with Put Block List.
//! - Appends write append blobs, each Append Block conditioned on the expected
//!   length (`x-ms-blob-condition-appendpos`).
//! - Integrity: every upload request carries a checksum of its body
//!   ([`RequestChecksum`]); a file is read in order, hashed, and refused if
//!   it changes meanwhile; the CRC-64/NVME of a whole put is kept in the blob's
//!   metadata (`x-ms-meta-crc64nvme`, [`ObjectMeta::crc64nvme`]), with its
//!   SHA-256 if asked for, for reads to check; a read whose connection breaks
//!   is resumed from where it stopped, on the same version of the blob (see
//!   `upload.rs` and `download.rs`).
//! - A store opened from a container SAS URL is bound to that container.

mod client;
pub mod config;
pub mod credential;
mod delegation;
mod errors;
pub mod identity;
mod read;
mod request;
pub mod sas;
mod upload;
mod xml;

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;
use futures::stream::{self, BoxStream};
use reqwest::header::HeaderMap;
use reqwest::{Method, Response};

use self::client::Client;
use self::config::{AzureTarget, Credential};
use self::request::Request;
use crate::remote::TransferOptions;
use crate::remote::http::Payload;
pub use crate::remote::retry::RetryPolicy;
use crate::{
    BlobType, Capabilities, ContainerInfo, ContainerMetadata, ContainerName, Error, GetOptions,
    GetResult, ListOptions, ListPage, Location, ObjectMeta, PutOptions, PutSource, RequestChecksum,
    Result, SecretUrl, Store, checksum,
};

/// The Blob service version batchout speaks.
pub const SERVICE_VERSION: &str = "2021-12-02";

/// The most bytes one Append Block may carry.
const MAX_APPEND_SIZE: u64 = 4 * 1024 * 1024;
/// The most blocks (appends) one append blob may hold.
const MAX_APPEND_BLOCKS: u64 = 50_000;
/// The most blobs one List Blobs page returns.
const MAX_PAGE: u32 = 5000;

/// How an Azure store moves data: the options every remote store has, and
/// Azure's own.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct AzureOptions {
    /// Block sizes, concurrency, parallel reads, checksums recorded, the
    /// priority of hashing.
    pub transfer: TransferOptions,
    /// Retries of transient failures, and timeouts.
    pub retry: RetryPolicy,
    /// The checksum every upload request carries; `None` chooses by endpoint:
    /// [`RequestChecksum::Md5`] for path-style endpoints (the emulator, which
    /// computes CRC-64 slowly), else [`RequestChecksum::Crc64`] (the Blob
    /// service's own, and far cheaper for the client than MD5: decision 0006).
    pub checksum: Option<RequestChecksum>,
}

/// A store in Azure Blob Storage (or anything that speaks its REST API, such as
/// the Azurite emulator).
#[derive(Clone)]
pub struct AzureStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    options: AzureOptions,
    /// The checksum upload requests carry, chosen.
    checksum: RequestChecksum,
    /// Whether whole reads go in parallel ranges, chosen.
    parallel_reads: bool,
}

impl AzureStore {
    /// A store for a resolved target.
    ///
    /// # Errors
    ///
    /// When the HTTP client cannot be built.
    pub fn new(target: AzureTarget, options: AzureOptions) -> Result<Self> {
        let checksum = options.checksum.unwrap_or(if target.is_path_style() {
            RequestChecksum::Md5
        } else {
            RequestChecksum::Crc64
        });
        let parallel_reads = options
            .transfer
            .parallel_reads
            .unwrap_or(!target.is_path_style())
            && options.transfer.block_concurrency > 1;
        let client = Client::new(target, options.retry.clone())?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                options,
                checksum,
                parallel_reads,
            }),
        })
    }

    /// The target: endpoint, account, credential, bound container.
    pub fn target(&self) -> &AzureTarget {
        self.inner.client.target()
    }

    fn client(&self) -> &Client {
        &self.inner.client
    }

    /// Refuses a container other than the one a SAS URL is bound to.
    /// The container's URL: the endpoint and its name, no query.
    fn container_base(&self, container: &ContainerName) -> String {
        format!(
            "{}/{container}",
            self.target().endpoint.as_str().trim_end_matches('/')
        )
    }

    fn check_container(&self, container: &ContainerName) -> Result<()> {
        match &self.target().container {
            Some(bound) if bound != container => Err(Error::WrongContainer {
                store: self.to_string(),
                bound: bound.to_string(),
                asked: container.to_string(),
            }),
            _ => Ok(()),
        }
    }

    fn content_type(location: &Location, options: &PutOptions) -> String {
        options.content_type.clone().unwrap_or_else(|| {
            mime_guess::from_path(location.name.as_str())
                .first_or_octet_stream()
                .to_string()
        })
    }

    /// One List Blobs request.
    async fn list_request(
        &self,
        container: &ContainerName,
        options: &ListOptions,
    ) -> Result<ListPage> {
        self.check_container(container)?;
        let max = options
            .max_results
            .map_or(MAX_PAGE, |n| n.clamp(1, MAX_PAGE));
        let mut request = Request::new("list", Method::GET, container, None)
            .query("restype", "container")
            .query("comp", "list")
            .query("maxresults", max.to_string());
        if !options.prefix.is_empty() {
            request = request.query("prefix", options.prefix.clone());
        }
        if options.delimiter {
            request = request.query("delimiter", "/");
        }
        if let Some(marker) = &options.marker {
            request = request.query("marker", marker.clone());
        }
        let body = self.text_of(&request).await?;
        xml::parse_list(&body).map_err(|reason| self.bad_xml(&request, &reason))
    }

    /// One page of List Containers, with each container's metadata.
    async fn list_containers_request(&self, marker: Option<String>) -> Result<xml::ContainerPage> {
        let mut request = Request::account("list", Method::GET)
            .query("comp", "list")
            .query("include", "metadata")
            .query("maxresults", MAX_PAGE.to_string());
        if let Some(marker) = marker {
            request = request.query("marker", marker);
        }
        let body = self.text_of(&request).await?;
        xml::parse_containers(&body).map_err(|reason| self.bad_xml(&request, &reason))
    }

    /// The body of a request's answer, as text.
    async fn text_of(&self, request: &Request<'_>) -> Result<String> {
        let response = self.client().send(request).await?;
        response
            .text()
            .await
            .map_err(|e| self.client().unreachable(request, &e))
    }

    fn bad_xml(&self, request: &Request<'_>, reason: &str) -> Error {
        Error::Service {
            store: self.to_string(),
            operation: request.operation,
            target: request.target(),
            status: 200,
            code: "-".into(),
            message: format!("the listing is not valid XML: {reason}"),
        }
    }

    /// The metadata recorded on a container (Get Container Metadata).
    async fn container_metadata(&self, container: &ContainerName) -> Result<ContainerMetadata> {
        let request = Request::new("read", Method::GET, container, None)
            .query("restype", "container")
            .query("comp", "metadata");
        let response = self.client().send(&request).await?;
        Ok(metadata_from_headers(response.headers()))
    }

    /// Replaces the metadata of a container (Set Container Metadata).
    async fn set_container_metadata(
        &self,
        container: &ContainerName,
        metadata: &ContainerMetadata,
    ) -> Result<()> {
        let request = Request::new("write", Method::PUT, container, None)
            .query("restype", "container")
            .query("comp", "metadata");
        let request = with_metadata(request, metadata);
        self.client().send(&request).await.map(drop)
    }

    /// The bound container, as the one container of a listing: with its
    /// metadata where the SAS lets it be read.
    async fn bound_container_info(&self, container: ContainerName) -> Result<ContainerInfo> {
        // Shows the container is there (a listing is what a SAS for tasks
        // always permits), then asks for its metadata.
        self.list_request(&container, &ListOptions::default().with_max_results(1))
            .await?;
        let mut info = ContainerInfo::new(container);
        match self.container_metadata(&info.name).await {
            Ok(metadata) => info.metadata = metadata,
            Err(Error::Denied { .. }) => {
                tracing::debug!(container = %info.name, "the SAS does not let the container's metadata be read");
            }
            Err(e) => return Err(e),
        }
        Ok(info)
    }

    async fn append_block(&self, location: &Location, data: &Bytes, position: u64) -> Result<u64> {
        let request = Request::new(
            "append to",
            Method::PUT,
            &location.container,
            Some(location.name.as_str()),
        )
        .query("comp", "appendblock")
        .header("x-ms-blob-condition-appendpos", position.to_string())
        .checksum(self.inner.checksum.of(data))
        .payload(Payload::Bytes(data.clone()));
        let end = position + data.len() as u64;
        let (result, attempts) = self.send_checked(&request).await;
        match result {
            Ok(_) => Ok(end),
            Err(Error::Service {
                status: 412, code, ..
            }) if code == "AppendPositionConditionNotMet" => {
                let actual = self.head(location).await?.size;
                if attempts > 1 && actual == end {
                    // An earlier attempt was applied but its answer was lost:
                    // the blob has advanced by exactly this block. Not repeated.
                    tracing::info!(blob = %location, position, "an append whose answer was lost had been applied");
                    return Ok(end);
                }
                Err(Error::AppendPosition {
                    name: location.name.to_string(),
                    expected: position,
                    actual,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Sends an upload request whose body carries its checksum. A body the
    /// service found corrupted on the way (`400 Md5Mismatch` or
    /// `Crc64Mismatch`; nothing was stored) is sent again while the retry policy's attempts last, then
    /// reported as [`Error::CorruptedInTransit`]. Also tells how many attempts
    /// were made in all, as [`Client::send_counted`] does.
    async fn send_checked(&self, request: &Request<'_>) -> (Result<Response>, u32) {
        let mut attempts = 0;
        loop {
            let (result, made) = self.client().send_counted(request).await;
            attempts += made;
            match result {
                Err(Error::Service {
                    status: 400,
                    code,
                    operation,
                    target,
                    ..
                }) if code == "Md5Mismatch" || code == "Crc64Mismatch" => {
                    tracing::warn!(%target, attempts, %code, "the service found the request's body corrupted on the way");
                    if attempts < self.inner.options.retry.attempts {
                        continue;
                    }
                    let corrupted = Error::CorruptedInTransit {
                        store: self.to_string(),
                        operation,
                        target,
                    };
                    return (Err(corrupted), attempts);
                }
                other => return (other, attempts),
            }
        }
    }

    async fn create_append_blob(&self, location: &Location) -> Result<()> {
        let request = Request::new(
            "create",
            Method::PUT,
            &location.container,
            Some(location.name.as_str()),
        )
        .header("x-ms-blob-type", "AppendBlob")
        .header(
            "x-ms-blob-content-type",
            Self::content_type(location, &PutOptions::default()),
        )
        .header("if-none-match", "*");
        match self.client().send(&request).await {
            Ok(_) => Ok(()),
            // Created meanwhile by another writer: the position check decides.
            Err(Error::Service { status: 409, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl fmt::Debug for AzureStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureStore")
            .field("target", &self.client().shown())
            .field("options", &self.inner.options)
            .finish()
    }
}

impl fmt::Display for AzureStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.client().shown())
    }
}

#[async_trait]
impl Store for AzureStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            append: true,
            max_append_size: MAX_APPEND_SIZE,
            append_copy_floor: None,
            max_append_blocks: Some(MAX_APPEND_BLOCKS),
            file_and_folder_names: true,
            bound_container: self.target().container.clone(),
            container_metadata: self.target().container.is_none(),
            suffix_reads: false,
            records_checksums: true,
        }
    }

    async fn create_container_with(
        &self,
        container: &ContainerName,
        metadata: &ContainerMetadata,
    ) -> Result<bool> {
        self.check_container(container)?;
        crate::listing::check_metadata(metadata)?;
        if self.target().container.is_some() {
            // A container SAS can neither create its container nor record
            // metadata on it; it can only show that the container is there.
            self.list_request(container, &ListOptions::default().with_max_results(1))
                .await?;
            return Ok(false);
        }
        let request =
            Request::new("create", Method::PUT, container, None).query("restype", "container");
        match self.client().send(&with_metadata(request, metadata)).await {
            Ok(_) => Ok(true),
            Err(Error::Service {
                status: 409, code, ..
            }) if code == "ContainerAlreadyExists" => {
                if !metadata.is_empty() {
                    let mut recorded = self.container_metadata(container).await?;
                    let before = recorded.clone();
                    recorded.extend(metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
                    if recorded != before {
                        self.set_container_metadata(container, &recorded).await?;
                    }
                }
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    fn list_containers(&self) -> BoxStream<'static, Result<ContainerInfo>> {
        let store = self.clone();
        if let Some(bound) = self.target().container.clone() {
            return Box::pin(stream::once(async move {
                store.bound_container_info(bound).await
            }));
        }
        let pages = stream::try_unfold(Some(None), move |marker: Option<Option<String>>| {
            let store = store.clone();
            async move {
                let Some(marker) = marker else {
                    return Ok(None);
                };
                let page = store.list_containers_request(marker).await?;
                let next = page.next_marker.map(Some);
                Ok(Some((
                    stream::iter(page.containers.into_iter().map(Ok)),
                    next,
                )))
            }
        });
        Box::pin(pages.try_flatten())
    }

    async fn put(
        &self,
        location: &Location,
        source: PutSource,
        options: &PutOptions,
    ) -> Result<ObjectMeta> {
        self.check_container(&location.container)?;
        let content_type = Self::content_type(location, options);
        match source {
            PutSource::Bytes(bytes) => {
                upload::put_bytes(self, location, bytes, &content_type, options).await
            }
            PutSource::File(path) => {
                upload::put_file(self, location, &path, &content_type, options).await
            }
        }
    }

    async fn append(&self, location: &Location, data: Bytes, position: u64) -> Result<u64> {
        self.check_container(&location.container)?;
        if data.len() as u64 > MAX_APPEND_SIZE {
            return Err(Error::Unsupported {
                store: self.to_string(),
                operation: "appends of more than 4 MiB (Capabilities::max_append_size); split the data into chunks",
            });
        }
        if data.is_empty() {
            // The service refuses an empty Append Block: appending nothing
            // creates the blob at 0 and checks the position, as a backend
            // that can write nothing does.
            return match self.head(location).await {
                Ok(meta) if meta.size == position => Ok(position),
                Ok(meta) => Err(Error::AppendPosition {
                    name: location.name.to_string(),
                    expected: position,
                    actual: meta.size,
                }),
                Err(Error::NotFound { .. }) if position == 0 => {
                    self.create_append_blob(location).await?;
                    Ok(0)
                }
                Err(Error::NotFound { name, .. }) => Err(Error::AppendPosition {
                    name,
                    expected: position,
                    actual: 0,
                }),
                Err(e) => Err(e),
            };
        }
        match self.append_block(location, &data, position).await {
            Err(Error::NotFound { .. }) if position == 0 => {
                self.create_append_blob(location).await?;
                self.append_block(location, &data, position).await
            }
            // A blob that does not exist is empty: appending further on is a
            // position mismatch, as everywhere else.
            Err(Error::NotFound { name, .. }) => Err(Error::AppendPosition {
                name,
                expected: position,
                actual: 0,
            }),
            other => other,
        }
    }

    async fn get_opts(&self, location: &Location, options: &GetOptions) -> Result<GetResult> {
        self.check_container(&location.container)?;
        read::get(self, location, options).await
    }

    async fn head(&self, location: &Location) -> Result<ObjectMeta> {
        self.check_container(&location.container)?;
        let name = location.name.as_str();
        let request = Request::new("read", Method::HEAD, &location.container, Some(name));
        let response = self.client().send(&request).await?;
        Ok(meta_from_headers(name, response.headers()))
    }

    fn list(
        &self,
        container: &ContainerName,
        prefix: &str,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        let store = self.clone();
        let container = container.clone();
        crate::listing::all_pages(ListOptions::default().with_prefix(prefix), move |options| {
            let (store, container) = (store.clone(), container.clone());
            async move { store.list_request(&container, &options).await }
        })
    }

    async fn list_page(
        &self,
        container: &ContainerName,
        options: &ListOptions,
    ) -> Result<ListPage> {
        self.list_request(container, options).await
    }

    fn container_url(&self, container: &ContainerName) -> Result<Option<String>> {
        self.check_container(container)?;
        Ok(Some(self.container_base(container)))
    }

    async fn container_access_url(
        &self,
        container: &ContainerName,
        permissions: &str,
        expiry: SystemTime,
    ) -> Result<SecretUrl> {
        self.check_container(container)?;
        let (token, expiry) = match &self.target().credential {
            Credential::SharedKey(key) => (
                sas::container_sas(key, container, permissions, expiry)?,
                expiry,
            ),
            // A user delegation SAS, with a key asked of the service.
            Credential::Token(_) => {
                delegation::container_sas(self, container, permissions, expiry).await?
            }
            _ => {
                return Err(Error::Unsupported {
                    store: self.to_string(),
                    operation: "creating a SAS without the account key or an Entra ID token; open the store with AZURE_STORAGE_KEY, a connection string with AccountKey=, or sign in with Entra ID",
                });
            }
        };
        let base = self.container_base(container);
        Ok(SecretUrl::new(
            format!("{base}?{}", token.expose()),
            format!("{base}?{}", token.redacted()),
        )
        .with_expiry(expiry))
    }

    async fn delete(&self, location: &Location) -> Result<()> {
        self.check_container(&location.container)?;
        let request = Request::new(
            "delete",
            Method::DELETE,
            &location.container,
            Some(location.name.as_str()),
        );
        self.client().send(&request).await?;
        Ok(())
    }
}

/// A request with `x-ms-meta-*` headers for each entry of `metadata`.
fn with_metadata<'a>(mut request: Request<'a>, metadata: &ContainerMetadata) -> Request<'a> {
    for (name, value) in metadata {
        request = request.owned_header(format!("x-ms-meta-{name}"), value.clone());
    }
    request
}

/// The `x-ms-meta-*` headers of an answer, as metadata.
fn metadata_from_headers(headers: &HeaderMap) -> ContainerMetadata {
    headers
        .iter()
        .filter_map(|(name, value)| {
            let name = name.as_str().strip_prefix("x-ms-meta-")?;
            Some((name.to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect()
}

/// Properties from the headers of a GET or HEAD answer.
fn meta_from_headers(name: &str, headers: &HeaderMap) -> ObjectMeta {
    let text = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
    let mut meta = ObjectMeta::new(
        name,
        text("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    );
    meta.last_modified = text("last-modified").and_then(xml::parse_http_date);
    meta.content_type = text("content-type").map(str::to_owned);
    meta.blob_type = text("x-ms-blob-type").and_then(xml::parse_blob_type);
    meta.etag = text("etag").map(str::to_owned);
    meta.append_blocks = text("x-ms-blob-committed-block-count").and_then(|v| v.parse().ok());
    meta.crc64nvme = text(upload::CRC64NVME_HEADER).and_then(checksum::parse_crc64nvme);
    meta.sha256 = text(upload::SHA256_HEADER).and_then(checksum::parse_sha256);
    meta
}

/// Properties of a blob just written.
fn written_meta(
    location: &Location,
    size: u64,
    content_type: String,
    blob_type: BlobType,
    headers: &HeaderMap,
) -> ObjectMeta {
    let text = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
    let mut meta = ObjectMeta::new(location.name.as_str(), size);
    meta.last_modified = text("last-modified").and_then(xml::parse_http_date);
    meta.content_type = Some(content_type);
    meta.blob_type = Some(blob_type);
    meta.etag = text("etag").map(str::to_owned);
    meta
}

/// `Content-Range: bytes START-LAST/TOTAL` as (start, end exclusive, total).
fn content_range(headers: &HeaderMap) -> Option<(u64, u64, u64)> {
    let value = headers.get("content-range")?.to_str().ok()?;
    let (range, total) = value.strip_prefix("bytes ")?.split_once('/')?;
    let (start, last) = range.split_once('-')?;
    Some((
        start.parse().ok()?,
        last.parse::<u64>().ok()? + 1,
        total.parse().ok()?,
    ))
}
