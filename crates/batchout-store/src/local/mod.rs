//! The local directory store (stub: being implemented).
#![allow(missing_docs, clippy::todo, unused_variables)]

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

use crate::*;

/// A store in a local directory.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }
}

impl fmt::Display for LocalStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "local store {}", self.root.display())
    }
}

#[async_trait]
impl Store for LocalStore {
    fn capabilities(&self) -> Capabilities {
        todo!()
    }
    async fn create_container(&self, container: &ContainerName) -> Result<bool> {
        todo!()
    }
    async fn put(&self, location: &Location, source: PutSource, options: &PutOptions) -> Result<ObjectMeta> {
        todo!()
    }
    async fn append(&self, location: &Location, data: Bytes, position: u64) -> Result<u64> {
        todo!()
    }
    async fn get(&self, location: &Location, range: Option<Range<u64>>) -> Result<GetResult> {
        todo!()
    }
    async fn head(&self, location: &Location) -> Result<ObjectMeta> {
        todo!()
    }
    fn list<'a>(&'a self, container: &'a ContainerName, prefix: &'a str) -> BoxStream<'a, Result<ObjectMeta>> {
        todo!()
    }
    async fn list_with_delimiter(&self, container: &ContainerName, prefix: &str) -> Result<ListResult> {
        todo!()
    }
    async fn delete(&self, location: &Location) -> Result<()> {
        todo!()
    }
}
