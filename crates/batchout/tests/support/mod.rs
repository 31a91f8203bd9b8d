//! Shared by the library's tests: [`Wrapper`], a store that delegates to
//! another and can be made to misbehave or to report what it was asked.
#![allow(dead_code)]

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use batchout::{ContainerName, Store, StoreError};
use batchout_store::{
    Capabilities, ContainerInfo, ContainerMetadata, GetOptions, GetResult, ListOptions, ListPage,
    Location, ObjectMeta, PutOptions, PutSource, SecretUrl,
};
use bytes::Bytes;
use futures::stream::BoxStream;

/// A store that delegates to another, but can claim it cannot append, fail
/// a number of appends, or hold each put for a while; it counts appends, and
/// the most puts it had in flight at once.
pub struct Wrapper {
    inner: Arc<dyn Store>,
    append: bool,
    failures: AtomicU32,
    pub appends: AtomicU32,
    put_delay: Duration,
    puts_in_flight: AtomicUsize,
    pub most_puts_at_once: AtomicUsize,
}

impl Wrapper {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            append: true,
            failures: AtomicU32::new(0),
            appends: AtomicU32::new(0),
            put_delay: Duration::ZERO,
            puts_in_flight: AtomicUsize::new(0),
            most_puts_at_once: AtomicUsize::new(0),
        }
    }

    pub fn without_append(mut self) -> Self {
        self.append = false;
        self
    }

    /// Fails the next `n` appends (and whole puts on a version, which a
    /// tracker makes in place of appends below a store's copy floor).
    pub fn failing_appends(self, n: u32) -> Self {
        self.failures.store(n, Ordering::Relaxed);
        self
    }

    /// Holds each put `delay` before it is done, so puts that may overlap do.
    pub fn slow_puts(mut self, delay: Duration) -> Self {
        self.put_delay = delay;
        self
    }
}

impl fmt::Debug for Wrapper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Wrapper({:?})", self.inner)
    }
}

impl fmt::Display for Wrapper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "wrapped {}", self.inner)
    }
}

#[async_trait]
impl Store for Wrapper {
    fn capabilities(&self) -> Capabilities {
        let mut capabilities = self.inner.capabilities();
        capabilities.append = self.append;
        capabilities
    }

    async fn create_container_with(
        &self,
        container: &ContainerName,
        metadata: &ContainerMetadata,
    ) -> batchout_store::Result<bool> {
        self.inner.create_container_with(container, metadata).await
    }

    fn list_containers(&self) -> BoxStream<'static, batchout_store::Result<ContainerInfo>> {
        self.inner.list_containers()
    }

    async fn put(
        &self,
        location: &Location,
        source: PutSource,
        options: &PutOptions,
    ) -> batchout_store::Result<ObjectMeta> {
        // A tracker's whole put below a store's copy floor (on the version
        // it last wrote) is one of its appends, as far as failing goes.
        if options.if_match.is_some()
            && self
                .failures
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
        {
            return Err(StoreError::Service {
                store: self.to_string(),
                operation: "write",
                target: location.to_string(),
                status: 503,
                code: "ServerBusy".into(),
                message: "injected failure".into(),
            });
        }
        let now = self.puts_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_puts_at_once.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.put_delay).await;
        let put = self.inner.put(location, source, options).await;
        self.puts_in_flight.fetch_sub(1, Ordering::SeqCst);
        put
    }

    async fn append(
        &self,
        location: &Location,
        data: Bytes,
        position: u64,
    ) -> batchout_store::Result<u64> {
        self.appends.fetch_add(1, Ordering::Relaxed);
        if !self.append {
            return Err(StoreError::Unsupported {
                store: self.to_string(),
                operation: "appends",
            });
        }
        let failing = self
            .failures
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err(StoreError::Service {
                store: self.to_string(),
                operation: "append to",
                target: location.to_string(),
                status: 503,
                code: "ServerBusy".into(),
                message: "injected failure".into(),
            });
        }
        self.inner.append(location, data, position).await
    }

    async fn get_opts(
        &self,
        location: &Location,
        options: &GetOptions,
    ) -> batchout_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn head(&self, location: &Location) -> batchout_store::Result<ObjectMeta> {
        self.inner.head(location).await
    }

    fn list(
        &self,
        container: &ContainerName,
        prefix: &str,
    ) -> BoxStream<'static, batchout_store::Result<ObjectMeta>> {
        self.inner.list(container, prefix)
    }

    async fn list_page(
        &self,
        container: &ContainerName,
        options: &ListOptions,
    ) -> batchout_store::Result<ListPage> {
        self.inner.list_page(container, options).await
    }

    async fn delete(&self, location: &Location) -> batchout_store::Result<()> {
        self.inner.delete(location).await
    }

    async fn container_access_url(
        &self,
        container: &ContainerName,
        permissions: &str,
        expiry: SystemTime,
    ) -> batchout_store::Result<SecretUrl> {
        self.inner
            .container_access_url(container, permissions, expiry)
            .await
    }
}
