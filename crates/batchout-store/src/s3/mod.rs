//! S3 and S3-compatible object stores (SeaweedFS, MinIO, Ceph…), through
//! S3's REST API, signed with Signature Version 4.
//!
//! The client is our own, on the `reqwest` clients, TLS set-up and retry
//! loop every remote backend shares (`remote/`), as the Azure client is
//! (decision 0016 says why, and why the layout below).
//!
//! - **Layout.** A store is a bucket and a key prefix, `s3://BUCKET/PREFIX`.
//!   Buckets are global and few, so each container (a job) is a folder of
//!   keys: the blob `NAME` of container `C` is the key `PREFIX/C/NAME`. A
//!   container is marked by the object `PREFIX/C/.batchout-container`, which
//!   holds its metadata as JSON; listings of the container never show it.
//!   A container exists when any key is under `PREFIX/C/` (so one written by
//!   another tool, without the marker, is found too).
//! - **Saves** are one PutObject up to [`TransferOptions::single_put_max`],
//!   else a multipart upload. Each request carries the CRC-64/NVME of its
//!   body (`x-amz-checksum-crc64nvme`), which the server checks, and the
//!   object records the CRC-64/NVME of its whole content as S3's own
//!   full-object checksum, which reads check ([`crate::GetResult::verified`]).
//! - **Reads** send `x-amz-checksum-mode: ENABLED` to get that checksum back;
//!   a tail is one request (`Range: bytes=-N`); a read whose connection
//!   breaks is resumed on the same version (`If-Match`).
//! - **Appends**: general-purpose buckets have none; an append is a
//!   multipart upload that copies the stored object server-side and adds
//!   the new bytes, on the object's version (`append.rs`), from 5 MiB
//!   ([`Capabilities::append_copy_floor`]); below, the object is written
//!   whole again.

mod append;
mod client;
pub mod config;
pub mod credentials;
mod errors;
mod profile;
mod read;
mod request;
mod upload;
mod xml;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use futures::TryStreamExt;
use futures::stream::{self, BoxStream};
use reqwest::Method;
use reqwest::header::HeaderMap;

use self::append::Seen;
use self::client::Client;
use self::config::S3Target;
use self::request::{MARKER, Request};
use crate::remote::TransferOptions;
use crate::remote::http::Payload;
use crate::remote::retry::RetryPolicy;
use crate::{
    BlobType, Capabilities, ContainerInfo, ContainerMetadata, ContainerName, Error, GetOptions,
    GetResult, ListOptions, ListPage, Location, ObjectMeta, PutOptions, PutSource, Result,
    SecretUrl, Store, checksum,
};

/// The most keys one ListObjectsV2 page returns.
const MAX_PAGE: u32 = 1000;
/// How many containers' markers are read at once when listing containers.
const MARKER_READS: usize = 8;

/// How an S3 store moves data: the options every remote store has.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct S3Options {
    /// Part sizes, concurrency, parallel reads, checksums recorded, the
    /// priority of hashing.
    pub transfer: TransferOptions,
    /// Retries of transient failures, and timeouts.
    pub retry: RetryPolicy,
}

impl S3Options {
    /// The options `settings` give (with the environment's already folded
    /// in by the caller): how files move, and retries and timeouts.
    pub fn from_settings(settings: &crate::StoreSettings) -> Self {
        Self {
            transfer: settings.transfer(),
            retry: settings.policy(),
        }
    }
}

/// A store in an S3 bucket (AWS, or anything that speaks S3's REST API).
#[derive(Clone)]
pub struct S3Store {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    options: S3Options,
    /// Whether whole reads go in parallel ranges, chosen.
    parallel_reads: bool,
    /// Containers seen to exist, which need no check before a put.
    known: Mutex<HashSet<ContainerName>>,
    /// Held while a container is checked, so that puts started together
    /// wait for one check rather than each making its own.
    checking: tokio::sync::Mutex<()>,
    /// The version of each object this store last appended to or wrote on
    /// a condition: the next append is made on it without a HEAD.
    seen: Mutex<HashMap<Location, Seen>>,
    /// The most one UploadPartCopy of an append copies: 5 GiB, lowered
    /// only by tests (`append.rs`).
    copy_part_max: u64,
}

impl S3Store {
    /// A store for a resolved target.
    ///
    /// # Errors
    ///
    /// When the HTTP client cannot be built.
    pub fn new(target: S3Target, options: S3Options) -> Result<Self> {
        // One streamed GET unless asked: S3 gives the checksum of the whole
        // object only to a whole GET, and parallel ranges cost a HEAD first.
        let parallel_reads = options.transfer.parallel_reads.unwrap_or(false)
            && options.transfer.block_concurrency > 1;
        let client = Client::new(target, options.retry.clone())?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                options,
                parallel_reads,
                known: Mutex::new(HashSet::new()),
                checking: tokio::sync::Mutex::new(()),
                seen: Mutex::new(HashMap::new()),
                copy_part_max: append::MAX_COPY_PART,
            }),
        })
    }

    /// The target: bucket, prefix, endpoint, region, credentials.
    pub fn target(&self) -> &S3Target {
        self.inner.client.target()
    }

    fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The key prefix of `container`'s folder: `PREFIX/CONTAINER/`.
    fn container_prefix(&self, container: &ContainerName) -> String {
        format!("{}{container}/", self.target().prefix)
    }

    /// A request about the blob at `location`.
    fn object<'a>(
        &self,
        operation: &'static str,
        method: Method,
        location: &'a Location,
    ) -> Request<'a> {
        let name = location.name.as_str();
        Request::object(
            operation,
            method,
            &self.target().prefix,
            &location.container,
            name,
        )
        .about(name)
    }

    /// One ListObjectsV2 request under the whole key prefix `prefix`.
    async fn list_keys(
        &self,
        container: Option<&ContainerName>,
        prefix: String,
        delimiter: bool,
        token: Option<String>,
        max: u32,
    ) -> Result<xml::ObjectPage> {
        let mut request = Request::bucket("list", Method::GET, container)
            .query("list-type", "2")
            .query("encoding-type", "url")
            .query("max-keys", max.clamp(1, MAX_PAGE).to_string())
            .query("prefix", prefix);
        if delimiter {
            request = request.query("delimiter", "/");
        }
        if let Some(token) = token {
            request = request.query("continuation-token", token);
        }
        let response = self.client().send(&request).await?;
        let body = response
            .text()
            .await
            .map_err(|e| self.client().unreachable(&request, &e))?;
        let encoded = xml::element(&body, "EncodingType").is_some_and(|e| e == "url");
        xml::parse_list(&body, encoded).map_err(|reason| Error::Service {
            store: self.to_string(),
            operation: request.operation,
            target: request.target(),
            status: 200,
            code: "-".into(),
            message: format!("the listing is not valid XML: {reason}"),
        })
    }

    /// Whether `container` exists: any key under its folder (its marker, or
    /// a blob another tool wrote).
    async fn container_exists(&self, container: &ContainerName) -> Result<bool> {
        if self.is_known(container) {
            return Ok(true);
        }
        let _checking = self.inner.checking.lock().await;
        if self.is_known(container) {
            return Ok(true);
        }
        let page = self
            .list_keys(
                Some(container),
                self.container_prefix(container),
                false,
                None,
                1,
            )
            .await?;
        let exists = !page.objects.is_empty();
        if exists {
            self.remember(container);
        }
        Ok(exists)
    }

    fn is_known(&self, container: &ContainerName) -> bool {
        self.inner
            .known
            .lock()
            .is_ok_and(|known| known.contains(container))
    }

    fn remember(&self, container: &ContainerName) {
        if let Ok(mut known) = self.inner.known.lock() {
            known.insert(container.clone());
        }
    }

    /// The version of the object at `location` this store last wrote, if
    /// it keeps one.
    fn seen(&self, location: &Location) -> Option<Seen> {
        self.inner
            .seen
            .lock()
            .ok()
            .and_then(|seen| seen.get(location).cloned())
    }

    /// Keeps the version just written (or forgets it, when unknown).
    fn saw(&self, location: &Location, version: Option<Seen>) {
        if let Ok(mut seen) = self.inner.seen.lock() {
            match version {
                Some(version) => seen.insert(location.clone(), version),
                None => seen.remove(location),
            };
        }
    }

    fn forget(&self, location: &Location) {
        self.saw(location, None);
    }

    /// The content type an object gets when none is given: guessed from
    /// its name.
    fn content_type(&self, location: &Location) -> String {
        mime_guess::from_path(location.name.as_str())
            .first_or_octet_stream()
            .to_string()
    }

    /// Fails with [`Error::ContainerNotFound`] unless `container` exists.
    async fn require_container(&self, container: &ContainerName) -> Result<()> {
        if self.container_exists(container).await? {
            Ok(())
        } else {
            Err(self.missing(container))
        }
    }

    fn missing(&self, container: &ContainerName) -> Error {
        Error::ContainerNotFound {
            container: container.to_string(),
            store: self.to_string(),
        }
    }

    /// A blob not found is a container not found, when the container is.
    async fn or_missing_container(&self, error: Error, container: &ContainerName) -> Error {
        match error {
            Error::NotFound { .. } => match self.container_exists(container).await {
                Ok(true) => error,
                Ok(false) => self.missing(container),
                Err(e) => e,
            },
            other => other,
        }
    }

    /// One page of a container's listing, the marker left out.
    async fn list_request(
        &self,
        container: &ContainerName,
        options: &ListOptions,
    ) -> Result<ListPage> {
        let base = self.container_prefix(container);
        let max = options
            .max_results
            .map_or(MAX_PAGE, |n| n.clamp(1, MAX_PAGE));
        let mut token = options.marker.clone();
        loop {
            let page = self
                .list_keys(
                    Some(container),
                    format!("{base}{}", options.prefix),
                    options.delimiter,
                    token.clone(),
                    max,
                )
                .await?;
            let anything = !page.objects.is_empty() || !page.prefixes.is_empty();
            let strip = |key: &str| key.strip_prefix(&base).map(str::to_owned);
            let objects: Vec<ObjectMeta> = page
                .objects
                .into_iter()
                .filter_map(|mut meta| {
                    meta.name = strip(&meta.name).filter(|name| name != MARKER)?;
                    Some(meta)
                })
                .collect();
            let prefixes: Vec<String> = page.prefixes.iter().filter_map(|p| strip(p)).collect();
            if anything {
                self.remember(container);
            } else if token.is_none() {
                self.require_container(container).await?;
            }
            // A page that held only the marker: the next one, so no page is
            // empty but the last.
            if objects.is_empty() && prefixes.is_empty() && page.next_token.is_some() {
                token = page.next_token;
                continue;
            }
            // S3 lists in byte order; a server that lists folder by folder
            // (SeaweedFS) is put in order here, a page at a time.
            let mut objects = objects;
            let mut prefixes = prefixes;
            objects.sort_by(|a, b| a.name.cmp(&b.name));
            prefixes.sort();
            return Ok(ListPage {
                objects,
                prefixes,
                next_marker: page.next_token,
            });
        }
    }

    /// The marker of `container`: its metadata, version and time; `None`
    /// when there is none.
    async fn read_marker(&self, container: &ContainerName) -> Result<Option<Marker>> {
        let request = Request::object(
            "read",
            Method::GET,
            &self.target().prefix,
            container,
            MARKER,
        )
        .about(MARKER);
        let response = match self.client().send(&request).await {
            Ok(response) => response,
            Err(Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| self.client().unreachable(&request, &e))?;
        let metadata = serde_json::from_slice::<ContainerMetadata>(&body).unwrap_or_else(|e| {
            tracing::warn!(%container, error = %e, "the container's marker holds no metadata batchout can read");
            ContainerMetadata::new()
        });
        let meta = meta_from_headers(MARKER, &headers);
        Ok(Some(Marker {
            metadata,
            etag: meta.etag,
            last_modified: meta.last_modified,
        }))
    }

    /// Writes the marker of `container` with `metadata`, on the condition
    /// that it is the version `etag`, or that there is none (`None`).
    /// Returns `false` when the condition failed.
    async fn write_marker(
        &self,
        container: &ContainerName,
        metadata: &ContainerMetadata,
        etag: Option<&str>,
    ) -> Result<bool> {
        let body = serde_json::to_vec(metadata).map_err(|e| Error::InvalidMetadata {
            name: "-".into(),
            reason: e.to_string(),
        })?;
        let request = Request::object(
            "create",
            Method::PUT,
            &self.target().prefix,
            container,
            MARKER,
        )
        .about(MARKER)
        .header("content-type", "application/json");
        let request = match etag {
            Some(etag) => request.header("if-match", etag.to_owned()),
            None => request.header("if-none-match", "*"),
        };
        match self
            .client()
            .send(&request.payload(Payload::Bytes(Bytes::from(body))))
            .await
        {
            Ok(_) => {
                self.remember(container);
                Ok(true)
            }
            Err(Error::Service { status: 412, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The container a listing's common prefix names, with its marker's
    /// metadata.
    async fn container_info(&self, name: ContainerName) -> Result<ContainerInfo> {
        let mut info = ContainerInfo::new(name);
        if let Some(marker) = self.read_marker(&info.name).await? {
            info.metadata = marker.metadata;
            info.last_modified = marker.last_modified;
        }
        Ok(info)
    }
}

/// A container's marker, as read.
struct Marker {
    metadata: ContainerMetadata,
    etag: Option<String>,
    last_modified: Option<std::time::SystemTime>,
}

impl fmt::Debug for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Store")
            .field("target", self.target())
            .field("options", &self.inner.options)
            .finish()
    }
}

impl fmt::Display for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.client().shown())
    }
}

#[async_trait]
impl Store for S3Store {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            append: true,
            max_append_size: append::MAX_APPEND_SIZE,
            append_copy_floor: Some(append::COPY_FLOOR),
            max_append_blocks: None,
            file_and_folder_names: true,
            bound_container: None,
            container_metadata: true,
            suffix_reads: true,
            records_checksums: true,
        }
    }

    async fn create_container_with(
        &self,
        container: &ContainerName,
        metadata: &ContainerMetadata,
    ) -> Result<bool> {
        crate::listing::check_metadata(metadata)?;
        // Twice at most: a marker written by another client meanwhile is
        // read, merged and written again.
        for _ in 0..3 {
            match self.read_marker(container).await? {
                None => {
                    let existed = self.container_exists(container).await?;
                    if self.write_marker(container, metadata, None).await? {
                        return Ok(!existed);
                    }
                }
                Some(marker) => {
                    self.remember(container);
                    let mut recorded = marker.metadata.clone();
                    recorded.extend(metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
                    // Written again even when nothing changes: a job's
                    // `prepare` then proves that these credentials may
                    // write under the prefix, not only read (one small PUT).
                    if self
                        .write_marker(container, &recorded, marker.etag.as_deref())
                        .await?
                    {
                        return Ok(false);
                    }
                }
            }
        }
        Err(Error::Service {
            store: self.to_string(),
            operation: "create",
            target: format!("container {container}"),
            status: 412,
            code: "PreconditionFailed".into(),
            message: "other clients kept changing the container's metadata; run the command again"
                .into(),
        })
    }

    fn list_containers(&self) -> BoxStream<'static, Result<ContainerInfo>> {
        let store = self.clone();
        let names = stream::try_unfold(Some(None), move |token: Option<Option<String>>| {
            let store = store.clone();
            async move {
                let Some(token) = token else {
                    return Ok(None);
                };
                let prefix = store.target().prefix.clone();
                let page = store
                    .list_keys(None, prefix.clone(), true, token, MAX_PAGE)
                    .await?;
                let names: Vec<Result<ContainerName>> = page
                    .prefixes
                    .iter()
                    .filter_map(|p| {
                        let name = p.strip_prefix(&prefix)?.strip_suffix('/')?;
                        ContainerName::parse(name).ok().map(Ok)
                    })
                    .collect();
                Ok(Some((stream::iter(names), page.next_token.map(Some))))
            }
        });
        let store = self.clone();
        Box::pin(
            names
                .try_flatten()
                .map_ok(move |name| {
                    let store = store.clone();
                    async move { store.container_info(name).await }
                })
                .try_buffered(MARKER_READS),
        )
    }

    async fn put(
        &self,
        location: &Location,
        source: PutSource,
        options: &PutOptions,
    ) -> Result<ObjectMeta> {
        refuse_marker(location)?;
        self.require_container(&location.container).await?;
        let content_type = options
            .content_type
            .clone()
            .unwrap_or_else(|| self.content_type(location));
        let written = match source {
            PutSource::Bytes(bytes) => {
                upload::put_bytes(self, location, bytes, &content_type, options).await
            }
            PutSource::File(path) => {
                upload::put_file(self, location, &path, &content_type, options).await
            }
        };
        if options.if_match.is_some() || self.seen(location).is_some() {
            // The version an append would be made on next.
            self.saw(location, written.as_ref().ok().and_then(Seen::of));
        }
        written
    }

    async fn append(&self, location: &Location, data: Bytes, position: u64) -> Result<u64> {
        refuse_marker(location)?;
        if data.len() as u64 > append::MAX_APPEND_SIZE {
            return Err(Error::Unsupported {
                store: self.to_string(),
                operation: "appends of more than 8 MiB (Capabilities::max_append_size); split the data into chunks",
            });
        }
        match append::append(self, location, data, position).await {
            Ok(end) => Ok(end),
            Err(e) => Err(self.or_missing_container(e, &location.container).await),
        }
    }

    async fn get_opts(&self, location: &Location, options: &GetOptions) -> Result<GetResult> {
        match read::get(self, location, options).await {
            Ok(result) => Ok(result),
            Err(e) => Err(self.or_missing_container(e, &location.container).await),
        }
    }

    async fn head(&self, location: &Location) -> Result<ObjectMeta> {
        match self.head_object(location, None).await {
            Ok(meta) => Ok(meta),
            Err(e) => Err(self.or_missing_container(e, &location.container).await),
        }
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

    async fn container_access_url(
        &self,
        container: &ContainerName,
        permissions: &str,
        expiry: SystemTime,
    ) -> Result<SecretUrl> {
        let _ = (container, permissions, expiry);
        Err(Error::Unsupported {
            store: self.to_string(),
            operation: "container access URLs: S3 cannot presign a whole folder of keys for writing. \
                Give each task the node's own credentials instead (an instance profile or an IAM role \
                allowed s3:PutObject, s3:GetObject and s3:ListBucket on this bucket's prefix), which \
                batchout finds by itself (an EC2 instance's, ECS task's or EKS pod's role), or \
                give them with the AWS_* variables or AWS_PROFILE",
        })
    }

    async fn delete(&self, location: &Location) -> Result<()> {
        // S3 deletes a missing key without a word: the HEAD tells.
        self.head(location).await?;
        self.forget(location);
        let request = self.object("delete", Method::DELETE, location);
        self.client().send(&request).await.map(drop)
    }
}

impl S3Store {
    /// A HEAD of the object, on the version `if_match` names, if any.
    async fn head_object(&self, location: &Location, if_match: Option<&str>) -> Result<ObjectMeta> {
        let mut request = self
            .object("read", Method::HEAD, location)
            .header("x-amz-checksum-mode", "ENABLED");
        if let Some(etag) = if_match {
            request = request.header("if-match", etag.to_owned());
        }
        let response = self.client().send(&request).await?;
        self.remember(&location.container);
        Ok(meta_from_headers(
            location.name.as_str(),
            response.headers(),
        ))
    }
}

/// The marker's name is the store's own.
fn refuse_marker(location: &Location) -> Result<()> {
    if location.name.as_str() == MARKER {
        return Err(Error::InvalidName {
            name: MARKER.to_owned(),
            reason: "the S3 store keeps each container's metadata under this name; choose another"
                .into(),
        });
    }
    Ok(())
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
    meta.last_modified = text("last-modified").and_then(|v| httpdate::parse_http_date(v).ok());
    meta.content_type = text("content-type").map(str::to_owned);
    meta.blob_type = Some(BlobType::Block);
    meta.etag = text("etag").map(str::to_owned);
    let whole = !text("x-amz-checksum-type").is_some_and(|t| t.eq_ignore_ascii_case("COMPOSITE"));
    meta.crc64nvme = text(upload::CRC64NVME_HEADER)
        .filter(|_| whole)
        .and_then(parse_crc64nvme);
    meta.sha256 = text(upload::SHA256_HEADER).and_then(checksum::parse_sha256);
    meta
}

/// S3's CRC-64/NVME: the 8 bytes of the checksum, most significant first,
/// base64.
fn crc64nvme_base64(crc: u64) -> String {
    BASE64.encode(crc.to_be_bytes())
}

/// The CRC-64/NVME S3 gives in base64.
fn parse_crc64nvme(text: &str) -> Option<u64> {
    let bytes: [u8; 8] = BASE64.decode(text.trim()).ok()?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_writes_the_crc_most_significant_byte_first() {
        // What SeaweedFS and boto3 give for "hello".
        let crc = crate::checksum::ContentHasher::of(b"hello", None, false).crc64nvme;
        assert_eq!(crc64nvme_base64(crc), "M3eFcAZSQlc=");
        assert_eq!(parse_crc64nvme("M3eFcAZSQlc="), Some(crc));
        assert_eq!(parse_crc64nvme("not base64"), None);
        assert_eq!(parse_crc64nvme("AAAA"), None);
    }
}
