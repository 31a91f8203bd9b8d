//! Starting to track: continue the stored copy a previous session left (after a
//! crash or a restart of batchout), or, when the file no longer begins with it,
//! start the next attempt.
//!
//! The latest attempt is the last of `stdout.txt`, `stdout.2.txt`, … that
//! exists; its chain is its first blob and every continuation part after it.
//! The chain is continued only if the file is at least as long as the chain
//! and begins with every part's bytes, compared by content (see
//! [`super::compare`]). Otherwise, and for an empty or missing file where bytes
//! are stored, the file belongs to a new attempt and goes to the next free
//! name; the old blobs are left untouched.

use std::path::Path;

use batchout_naming::{OutputKind, OutputPath};
use batchout_store::{BlobType, Location, ObjectMeta};

use super::TrackOptions;
use super::compare;
use super::fingerprint::Fingerprint;
use super::mirror::{Blob, Mirror, Strategy};
use super::names::Naming;
use super::source::Source;
use crate::Result;
use crate::core::Core;

impl Mirror {
    /// A mirror of `source` at `destination`, continuing what is stored when
    /// the file still begins with it.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Naming`] when the destination cannot be named for the
    /// kind; store and file errors.
    pub(super) async fn start(
        outputs: &Core,
        kind: &OutputKind,
        source: &Path,
        destination: &OutputPath,
        options: &TrackOptions,
    ) -> Result<Self> {
        let naming = Naming::new(outputs.clone(), kind.clone(), destination.clone())?;
        let store = outputs.store.clone();
        let capabilities = store.capabilities();
        let strategy = if capabilities.append {
            Strategy::Append {
                chunk: capabilities.max_append_size.max(1),
                max_blocks: options.max_append_blocks.or(capabilities.max_append_blocks),
                copy_floor: capabilities.append_copy_floor,
            }
        } else {
            Strategy::Replace
        };
        let first = naming.location(1, 1)?;
        let mut mirror = Mirror {
            store,
            naming,
            source: Source::new(source),
            strategy,
            at: Blob::empty(1, 1, first, 0),
            fingerprint: Fingerprint::default(),
            report: super::TrackReport::default(),
            container_ready: false,
        };
        let latest = mirror.free_attempt(1).await? - 1;
        if latest == 0 {
            return Ok(mirror);
        }
        let chain = mirror.chain(latest).await?;
        match mirror.continuable(latest, &chain).await? {
            Some(at) => {
                let end = at.end();
                tracing::info!(file = %source.display(), blob = %at.location, stored = end, "continuing the stored copy");
                mirror.fingerprint = Fingerprint::read(&mirror.source, end).await?;
                mirror.report.resumed_from = end;
                mirror.at = at;
            }
            None => {
                mirror.at = Blob::empty(latest, 1, chain[0].0.clone(), 0);
                mirror
                    .rotate("the file does not begin with the bytes stored for it (a new attempt)")
                    .await?;
            }
        }
        Ok(mirror)
    }

    /// The blobs of an attempt: its first and every continuation part.
    async fn chain(&self, attempt: u32) -> Result<Vec<(Location, ObjectMeta)>> {
        let mut chain = Vec::new();
        for part in 1.. {
            let location = self.naming.location(attempt, part)?;
            match self.store.head(&location).await {
                Ok(meta) => chain.push((location, meta)),
                Err(e) if e.is_not_found() => break,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(chain)
    }

    /// Where to continue, when the file begins with the whole chain.
    async fn continuable(
        &self,
        attempt: u32,
        chain: &[(Location, ObjectMeta)],
    ) -> Result<Option<Blob>> {
        let appendable = |meta: &ObjectMeta| match self.strategy {
            // A store that appends by copying extends any blob.
            Strategy::Append {
                copy_floor: Some(_),
                ..
            } => true,
            Strategy::Append { .. } => meta.blob_type != Some(BlobType::Block),
            Strategy::Replace => true,
        };
        let total: u64 = chain.iter().map(|(_, meta)| meta.size).sum();
        if matches!(self.strategy, Strategy::Replace) && chain.len() > 1
            || self.source.len().await? < total
            || !chain.iter().all(|(_, meta)| appendable(meta))
        {
            return Ok(None);
        }
        let mut offset = 0;
        for (location, meta) in chain {
            let same =
                compare::stored_matches(&*self.store, location, meta.size, &self.source, offset)
                    .await?;
            if !same {
                return Ok(None);
            }
            offset += meta.size;
        }
        let Some((location, meta)) = chain.last() else {
            return Ok(None);
        };
        let part = u32::try_from(chain.len()).unwrap_or(u32::MAX);
        Ok(Some(Blob {
            attempt,
            part,
            location: location.clone(),
            offset: offset - meta.size,
            stored: meta.size,
            blocks: meta.append_blocks,
            etag: meta.etag.clone(),
            written: false,
        }))
    }
}
