//! Large files: blocks uploaded in parallel, then committed in order.
//!
//! Memory stays bounded by `block_size × block_concurrency` whatever the file's
//! size. Until Put Block List commits them, uploaded blocks are invisible, so a
//! failed upload leaves the blob as it was (absent, or its previous version).

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures::{StreamExt, TryStreamExt, stream};
use reqwest::Method;

use super::AzureStore;
use super::client::{Payload, Request};
use crate::{BlobType, Location, ObjectMeta, Result};

/// Uploads a file of `len` bytes as blocks, and commits them.
pub(super) async fn put_blocks(
    store: &AzureStore,
    location: &Location,
    path: &Path,
    len: u64,
    content_type: &str,
) -> Result<ObjectMeta> {
    let options = &store.inner.options;
    let block_size = options.block_size.max(1);
    let count = len.div_ceil(block_size);
    let ids: Vec<String> = (0..count).map(block_id).collect();
    stream::iter(ids.clone().into_iter().enumerate())
        .map(|(index, id)| {
            let offset = index as u64 * block_size;
            let payload = Payload::File {
                path: path.to_owned(),
                offset,
                len: block_size.min(len - offset),
            };
            async move {
                let request = Request::new(
                    "write",
                    Method::PUT,
                    &location.container,
                    Some(location.name.as_str()),
                )
                .query("comp", "block")
                .query("blockid", id)
                .payload(payload);
                store.client().send(&request).await.map(drop)
            }
        })
        .buffer_unordered(options.block_concurrency.max(1))
        .try_collect::<()>()
        .await?;

    let mut list = String::with_capacity(40 + ids.len() * 40);
    list.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
    for id in &ids {
        list.push_str("<Latest>");
        list.push_str(id);
        list.push_str("</Latest>");
    }
    list.push_str("</BlockList>");
    let request = Request::new(
        "write",
        Method::PUT,
        &location.container,
        Some(location.name.as_str()),
    )
    .query("comp", "blocklist")
    .header("x-ms-blob-content-type", content_type)
    .payload(Payload::Bytes(list.into()));
    let response = store.client().send(&request).await?;
    Ok(super::written_meta(
        location,
        len,
        content_type.to_owned(),
        BlobType::Block,
        response.headers(),
    ))
}

/// Block ids must all have the same length: a zero-padded index, base64.
fn block_id(index: u64) -> String {
    BASE64.encode(format!("block-{index:010}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_ids_have_one_length() {
        assert_eq!(block_id(0).len(), block_id(9_999_999).len());
        assert_ne!(block_id(1), block_id(2));
    }
}
