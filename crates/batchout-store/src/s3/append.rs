//! Appends to S3 objects, which general-purpose buckets do not have (only
//! S3 Express directory buckets take `x-amz-write-offset-bytes`): made of a
//! multipart upload to the object's own key whose first part copies the
//! stored object server-side (UploadPartCopy; several parts, in ranges,
//! past 5 GiB: [`copy_ranges`]), a part with the new bytes, and
//! CompleteMultipartUpload. Only the new bytes cross the network.
//!
//! - **The floor.** A part but the last must be at least 5 MiB, so an
//!   object under 5 MiB cannot be the copied part: it is read (on its
//!   version) and written whole again with the new bytes. A caller that
//!   holds the bytes itself (a tracked file) puts them whole instead, below
//!   [`COPY_FLOOR`] (see [`crate::Capabilities::append_copy_floor`]).
//! - **The position, exactly.** An append is made on the version of the
//!   object this store last wrote or saw at that length: its ETag, kept per
//!   object, else a HEAD. The copy (`x-amz-copy-source-if-match`), the
//!   rewrite (`If-Match`) and the completion (`If-Match`) are all
//!   conditioned on it, so two writers never splice: the one that loses
//!   gets [`Error::AppendPosition`] with the length it found, or
//!   [`Error::Modified`] when another writer replaced the object at the same
//!   length.
//! - **An answer lost.** A completion applied whose answer was lost fails
//!   its retry (the ETag moved on): the object is then the expected length
//!   with the expected CRC-64/NVME, and the append is taken as made.
//! - **The checksum.** The object records its whole CRC-64/NVME
//!   (`FULL_OBJECT`): the stored object's, combined with the new bytes',
//!   sent with the completion, which the server checks against the parts.

use std::ops::Range;

use bytes::{Bytes, BytesMut};
use reqwest::Method;

use super::upload::{self, CRC64NVME_HEADER, Condition, MIN_PART, Part};
use super::{S3Store, crc64nvme_base64, xml};
use crate::checksum::crc64nvme_combine;
use crate::remote::http::Payload;
use crate::{Error, GetOptions, Location, ObjectMeta, PutOptions, Result};

/// From this length an append copies the stored object as the first part
/// of a multipart upload (parts but the last are at least 5 MiB).
pub(super) const COPY_FLOOR: u64 = MIN_PART;
/// The most bytes one append carries: one part, held in memory.
pub(super) const MAX_APPEND_SIZE: u64 = 8 * 1024 * 1024;
/// The most one UploadPartCopy copies: the default of the store's limit
/// (`Inner::copy_part_max`, which tests lower to split small objects).
pub(super) const MAX_COPY_PART: u64 = 5 * 1024 * 1024 * 1024;
/// Bytes above which the CRC of the new bytes is computed off the async
/// threads.
const INLINE_HASH_MAX: usize = 256 * 1024;

/// A version of an object this store wrote or saw: what an append to it on
/// that version needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Seen {
    pub(super) size: u64,
    pub(super) etag: String,
    pub(super) crc64nvme: Option<u64>,
}

impl Seen {
    /// The version `meta` describes, when it has an ETag.
    pub(super) fn of(meta: &ObjectMeta) -> Option<Self> {
        Some(Self {
            size: meta.size,
            etag: meta.etag.clone()?,
            crc64nvme: meta.crc64nvme,
        })
    }
}

/// Appends `data` to the object at `location`, which must be `position`
/// bytes long. See the module's documentation.
pub(super) async fn append(
    store: &S3Store,
    location: &Location,
    data: Bytes,
    position: u64,
) -> Result<u64> {
    let current = match store.seen(location).filter(|seen| seen.size == position) {
        Some(seen) => Some(seen),
        None => match store.head_object(location, None).await {
            Ok(meta) => Some(Seen::of(&meta).ok_or_else(|| no_etag(store, location))?),
            Err(Error::NotFound { .. }) => None,
            Err(e) => return Err(e),
        },
    };
    let Some(current) = current else {
        if position != 0 {
            return Err(moved(location, position, 0));
        }
        store.require_container(&location.container).await?;
        let meta = upload::create(store, location, data, &store.content_type(location)).await?;
        store.saw(location, Seen::of(&meta));
        return Ok(meta.size);
    };
    if current.size != position {
        return Err(moved(location, position, current.size));
    }
    if data.is_empty() {
        return Ok(position);
    }
    let len = data.len() as u64;
    let end = position + len;
    let crc = if data.len() <= INLINE_HASH_MAX {
        crc_of(&data)
    } else {
        let shared = data.clone();
        crate::remote::upload::blocking(move || Ok(crc_of(&shared))).await?
    };
    let expected = current
        .crc64nvme
        .map(|stored| crc64nvme_combine(stored, crc, len));
    let written = if position < COPY_FLOOR {
        rewrite(store, location, &current, data).await
    } else {
        copy_append(store, location, &current, data, crc, expected).await
    };
    match written {
        Ok(seen) => {
            store.saw(location, seen);
            store.remember(&location.container);
            Ok(end)
        }
        Err(Error::Modified { .. }) => {
            store.forget(location);
            let meta = match store.head_object(location, None).await {
                Ok(meta) => meta,
                Err(Error::NotFound { .. }) => return Err(moved(location, position, 0)),
                Err(e) => return Err(e),
            };
            if meta.size == end && expected.is_some() && meta.crc64nvme == expected {
                tracing::info!(blob = %location, position, "an append whose answer was lost had been applied");
                store.saw(location, Seen::of(&meta));
                return Ok(end);
            }
            if meta.size != position {
                return Err(moved(location, position, meta.size));
            }
            Err(Error::Modified {
                container: location.container.to_string(),
                name: location.name.to_string(),
            })
        }
        Err(e) => Err(e),
    }
}

fn crc_of(data: &[u8]) -> u64 {
    crate::checksum::ContentHasher::of(data, None, false).crc64nvme
}

/// Below the floor: the stored object, read on its version, and the new
/// bytes, written whole on that version.
async fn rewrite(
    store: &S3Store,
    location: &Location,
    current: &Seen,
    data: Bytes,
) -> Result<Option<Seen>> {
    let options = GetOptions {
        if_match: Some(current.etag.clone()),
        ..GetOptions::default()
    };
    let stored = super::read::get(store, location, &options)
        .await?
        .bytes()
        .await?;
    let mut whole = BytesMut::with_capacity(stored.len() + data.len());
    whole.extend_from_slice(&stored);
    whole.extend_from_slice(&data);
    let put = PutOptions::default().with_if_match(current.etag.clone());
    let meta = upload::put_bytes(
        store,
        location,
        whole.freeze(),
        &store.content_type(location),
        &put,
    )
    .await?;
    Ok(Seen::of(&meta))
}

/// From the floor: a multipart upload of the stored object, copied, and
/// the new bytes; aborted on any failure.
async fn copy_append(
    store: &S3Store,
    location: &Location,
    current: &Seen,
    data: Bytes,
    crc: u64,
    expected: Option<u64>,
) -> Result<Option<Seen>> {
    let upload_id = upload::start(store, location, &store.content_type(location)).await?;
    let done = copy_and_complete(store, location, &upload_id, current, data, crc, expected).await;
    if done.is_err() {
        upload::abort(store, location, &upload_id).await;
    }
    done
}

/// The ranges of a stored object of `size` bytes that UploadPartCopy
/// requests of at most `limit` bytes copy, in order: the whole object, one
/// range, up to `limit`; above, `ceil(size / limit)` ranges of sizes that
/// differ by at most a byte.
///
/// Every copied part is followed by the part of new bytes, so each must be
/// at least 5 MiB ([`MIN_PART`]), the last one too. With `size > limit` and
/// `n = ceil(size / limit)` ranges, `n - 1 < size / limit`, so
/// `size / n > limit / 2`, and every range, `floor(size / n)` or
/// `ceil(size / n)` bytes, is at least `floor(limit / 2)` and at most
/// `limit`. Ranges are therefore at least 5 MiB for any size from the floor
/// exactly when `limit >= 10 MiB`: true of S3's 5 GiB, and required of
/// what tests lower it to.
fn copy_ranges(size: u64, limit: u64) -> Vec<Range<u64>> {
    let count = size.div_ceil(limit.max(1)).max(1);
    let (base, longer) = (size / count, size % count);
    let mut start = 0;
    (0..count)
        .map(|index| {
            let end = start + base + u64::from(index < longer);
            let range = start..end;
            start = end;
            range
        })
        .collect()
}

async fn copy_and_complete(
    store: &S3Store,
    location: &Location,
    upload_id: &str,
    current: &Seen,
    data: Bytes,
    crc: u64,
    expected: Option<u64>,
) -> Result<Option<Seen>> {
    let condition = Condition::IfMatch(&current.etag);
    let ranges = copy_ranges(current.size, store.inner.copy_part_max);
    let split = ranges.len() > 1;
    let mut parts = Vec::with_capacity(ranges.len() + 1);
    for (number, range) in (1u64..).zip(ranges) {
        let request = store
            .object("write", Method::PUT, location)
            .query("partNumber", number.to_string())
            .query("uploadId", upload_id.to_owned())
            .header("x-amz-copy-source-if-match", current.etag.clone());
        let source = request.copy_source(store.target()).unwrap_or_default();
        let mut request = request.header("x-amz-copy-source", source);
        if split {
            let (start, last) = (range.start, range.end - 1);
            request = request.header("x-amz-copy-source-range", format!("bytes={start}-{last}"));
        }
        let response = store
            .client()
            .send(&request)
            .await
            .map_err(|e| condition.error(e, location))?;
        let body = response
            .text()
            .await
            .map_err(|e| store.client().unreachable(&request, &e))?;
        // S3 may answer a copy 200 and tell of a failure in the body.
        if let Some(code) = xml::parse_error(&body).code {
            let error = Error::Service {
                store: store.to_string(),
                operation: "write",
                target: location.to_string(),
                status: if code == "PreconditionFailed" {
                    412
                } else {
                    500
                },
                message: "the copy of the stored object failed".into(),
                code,
            };
            return Err(condition.error(error, location));
        }
        let etag = xml::element(&body, "ETag").ok_or_else(|| Error::Service {
            store: store.to_string(),
            operation: "write",
            target: location.to_string(),
            status: 200,
            code: "-".into(),
            message: "the server copied a part but gave no ETag for it".into(),
        })?;
        parts.push(Part {
            etag,
            crc: xml::element(&body, "ChecksumCRC64NVME"),
        });
    }
    let number = parts.len() + 1;
    let crc_text = crc64nvme_base64(crc);
    let len = data.len() as u64;
    let request = store
        .object("write", Method::PUT, location)
        .query("partNumber", number.to_string())
        .query("uploadId", upload_id.to_owned())
        .header(CRC64NVME_HEADER, crc_text.clone())
        .payload(Payload::Bytes(data));
    let response = upload::send_checked(store, &request).await?;
    let etag = response
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    parts.push(Part {
        etag,
        crc: Some(crc_text),
    });
    let done = upload::complete(store, location, upload_id, &parts, expected, condition)
        .await
        .map_err(|e| condition.error(e, location))?;
    let etag = done.etag.or_else(|| {
        done.headers
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    });
    Ok(etag.map(|etag| Seen {
        size: current.size + len,
        etag,
        crc64nvme: expected,
    }))
}

/// The object is not `position` bytes long.
fn moved(location: &Location, expected: u64, actual: u64) -> Error {
    Error::AppendPosition {
        name: location.name.to_string(),
        expected,
        actual,
    }
}

fn no_etag(store: &S3Store, location: &Location) -> Error {
    Error::Service {
        store: store.to_string(),
        operation: "append to",
        target: location.to_string(),
        status: 200,
        code: "-".into(),
        message: "the server gives the object no ETag, which an append is conditioned on".into(),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::{BlobName, ContainerName, PutSource, S3Options, Store, StoreSettings};

    const MIB: u64 = 1024 * 1024;
    /// The lowest copy limit for which every range is at least 5 MiB.
    const LOWEST_LIMIT: u64 = 2 * MIN_PART;

    /// Checks the ranges of `size` under `limit`: in order, contiguous,
    /// covering `0..size`, none empty (from 1 byte), none above `limit`,
    /// as few as `limit` allows, and each at least 5 MiB when `limit` is at
    /// least 10 MiB and `size` at least the floor.
    fn check(size: u64, limit: u64) {
        let ranges = copy_ranges(size, limit);
        let what = format!("size {size}, limit {limit}: {ranges:?}");
        assert_eq!(ranges.len() as u64, size.div_ceil(limit).max(1), "{what}");
        assert_eq!(ranges.first().map(|r| r.start), Some(0), "{what}");
        assert_eq!(ranges.last().map(|r| r.end), Some(size), "{what}");
        for pair in ranges.windows(2) {
            assert_eq!(pair[0].end, pair[1].start, "{what}");
        }
        let lengths: Vec<u64> = ranges.iter().map(|r| r.end - r.start).collect();
        let (least, most) = (lengths.iter().min(), lengths.iter().max());
        assert!(most.is_some_and(|&most| most <= limit), "{what}");
        assert!(
            most.zip(least)
                .is_some_and(|(most, least)| most - least <= 1),
            "{what}"
        );
        if size > 0 {
            assert!(lengths.iter().all(|&n| n > 0), "{what}");
        }
        if limit >= LOWEST_LIMIT && size >= COPY_FLOOR {
            assert!(lengths.iter().all(|&n| n >= MIN_PART), "{what}");
        }
    }

    #[test]
    fn copy_ranges_split_only_past_the_limit_into_near_equal_parts() {
        assert_eq!(copy_ranges(0, MAX_COPY_PART), vec![0..0]);
        assert_eq!(copy_ranges(7 * MIB, MAX_COPY_PART), vec![0..7 * MIB]);
        assert_eq!(
            copy_ranges(MAX_COPY_PART, MAX_COPY_PART),
            vec![0..MAX_COPY_PART]
        );
        // One byte past the limit: two halves, the first a byte longer.
        let half = MAX_COPY_PART / 2;
        assert_eq!(
            copy_ranges(MAX_COPY_PART + 1, MAX_COPY_PART),
            vec![0..half + 1, half + 1..MAX_COPY_PART + 1]
        );
        // The object of the server tests: 23 MiB under 10 MiB, 3 parts.
        let size = 23 * MIB + 4321;
        let ranges = copy_ranges(size, LOWEST_LIMIT);
        assert_eq!(ranges.len(), 3, "{ranges:?}");
        check(size, LOWEST_LIMIT);
        // The tightest case: a limit of exactly 10 MiB, one byte past it,
        // gives two ranges of 5 MiB and 5 MiB + 1.
        assert_eq!(
            copy_ranges(LOWEST_LIMIT + 1, LOWEST_LIMIT),
            vec![0..MIN_PART + 1, MIN_PART + 1..LOWEST_LIMIT + 1]
        );
    }

    #[test]
    fn copy_ranges_hold_around_every_multiple_of_the_limit() {
        let limits = [
            LOWEST_LIMIT,
            LOWEST_LIMIT + 1,
            LOWEST_LIMIT + 7,
            64 * MIB - 1,
            MAX_COPY_PART,
        ];
        for limit in limits {
            for multiple in 0..=12u64 {
                for delta in 0..=8u64 {
                    let around = multiple * limit;
                    check(around + delta, limit);
                    if let Some(below) = around.checked_sub(delta) {
                        check(below, limit);
                    }
                }
            }
            // The largest object S3 holds, 5 TiB, and more.
            check(5 * 1024 * 1024 * MIB, limit);
            check(5 * 1024 * 1024 * MIB + 12_345, limit);
        }
        for size in COPY_FLOOR..COPY_FLOOR + 2_000 {
            check(size, LOWEST_LIMIT);
        }
    }

    proptest! {
        #[test]
        fn copy_ranges_hold_for_any_size_and_limit(
            size in 0u64..(1 << 44),
            limit in LOWEST_LIMIT..(1 << 36),
        ) {
            check(size, limit);
        }

        #[test]
        fn copy_ranges_hold_for_small_limits_too(size in 0u64..100_000, limit in 1u64..1_000) {
            check(size, limit);
        }
    }

    /// Pseudo-random bytes with no short period (xorshift64*), so that a
    /// range copied to the wrong place cannot match by chance.
    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut state = seed | 1;
        (0..len)
            .map(|_| {
                state ^= state >> 12;
                state ^= state << 25;
                state ^= state >> 27;
                (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
            })
            .collect()
    }

    /// A store on the bucket of the server whose variables are `env`,
    /// under `prefix`, copying at most `copy_part_max` bytes a part.
    fn store_on(env: Vec<(&'static str, String)>, prefix: &str, copy_part_max: u64) -> S3Store {
        assert!(
            copy_part_max >= LOWEST_LIMIT,
            "below 10 MiB a copied range may be under S3's 5 MiB"
        );
        let mut vars = env;
        vars.push(("HOME", "/nonexistent".into()));
        let env = move |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        };
        let url = format!("s3://{}/{prefix}", batchout_testkit::seaweed::BUCKET);
        let target = crate::s3::config::from_url(&url, &env).expect("the S3 URL opens");
        let options = S3Options::from_settings(&StoreSettings::default());
        let mut store = S3Store::new(target, options).expect("a client");
        std::sync::Arc::get_mut(&mut store.inner)
            .expect("a store not yet shared")
            .copy_part_max = copy_part_max;
        store
    }

    /// A container no other test uses.
    async fn fresh(store: &S3Store, test: &str) -> ContainerName {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |t| t.subsec_nanos());
        let name = format!("t-{test}-{:x}{nanos:x}", std::process::id());
        let container = ContainerName::parse(&name).expect("a valid container name");
        assert!(store.create_container(&container).await.expect("create"));
        container
    }

    /// With the copy limit lowered to 10 MiB, an append to an object of
    /// 23 MiB copies it in 3 ranges (4 parts with the new bytes), and the
    /// object is the old content and the new bytes, byte for byte, with
    /// their whole CRC-64/NVME.
    async fn an_append_copies_in_ranges(env: Vec<(&'static str, String)>, test: &str) {
        let limit = LOWEST_LIMIT;
        let store = store_on(env, test, limit);
        let container = fresh(&store, test).await;
        let location = Location::new(
            container,
            BlobName::new("t1/$TaskLog/stdout.txt").expect("a valid name"),
        );
        let old = noise(23 * MIB as usize + 4321, 0x5eed);
        let size = old.len() as u64;
        assert_eq!(copy_ranges(size, limit).len(), 3, "3 copied ranges");
        let meta = store
            .put(
                &location,
                PutSource::Bytes(Bytes::from(old.clone())),
                &PutOptions::default(),
            )
            .await
            .expect("put the stored object");
        assert_eq!(meta.size, size);
        assert_eq!(meta.crc64nvme, Some(batchout_testkit::crc64nvme(&old)));

        let new = noise(5 * 1024 + 3, 0xadd);
        let end = store
            .append(&location, Bytes::from(new.clone()), size)
            .await
            .expect("an append copied in ranges");
        let mut whole = old;
        whole.extend_from_slice(&new);
        assert_eq!(end, whole.len() as u64);
        let crc = batchout_testkit::crc64nvme(&whole);

        let head = store.head(&location).await.expect("head");
        assert_eq!(head.size, whole.len() as u64);
        assert_eq!(head.crc64nvme, Some(crc), "the whole CRC-64/NVME is kept");
        // A multipart object's ETag ends with its number of parts: 3
        // copied ranges and the new bytes.
        assert!(
            head.etag
                .as_deref()
                .is_some_and(|etag| etag.trim_matches('"').ends_with("-4")),
            "4 parts: {head:?}"
        );
        let got = store.get(&location, None).await.expect("get");
        assert_eq!(got.meta.crc64nvme, Some(crc), "a whole read gets it back");
        let back = got.verified().bytes().await.expect("a verified read");
        assert_eq!(back.len(), whole.len());
        if let Some(at) = back.iter().zip(&whole).position(|(a, b)| a != b) {
            panic!("the object differs from byte {at} on");
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_append_past_the_copy_limit_copies_in_ranges_on_moto() {
        let Some(server) = batchout_testkit::MotoS3::shared() else {
            return;
        };
        an_append_copies_in_ranges(server.env(), "split-moto").await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_append_past_the_copy_limit_copies_in_ranges_on_seaweedfs() {
        let Some(server) = batchout_testkit::SeaweedFs::shared() else {
            return;
        };
        an_append_copies_in_ranges(server.env(), "split-seaweed").await;
    }
}
