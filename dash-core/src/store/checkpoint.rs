//! Checkpoints and merges: freezing memtables into segments, publishing manifests, removing the
//! WAL and files no manifest of the last two generations needs.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;

use crate::detect::record::TenantDerived;
use crate::error::{CheckpointError, WriteError};
use crate::manifest::{Manifest, SegmentMeta};
use crate::memtable::Memtable;
use crate::model::{ClaimId, ClaimVersion, Lsn, TenantId, VersionBody};
use crate::segment::{self, CommitMeta, Segment, SegmentBuilder, SEGMENT_DIR};
use crate::storage::Storage;
use crate::wal;

use super::builder::Retention;
use super::gc::{covered_wal_to_remove, remove_garbage};
use super::writer::Request;
use super::{lock, Shared};

/// The manifests the checkpointer works from (behind the checkpoint mutex, so one checkpoint or
/// merge runs at a time).
#[derive(Debug)]
pub(crate) struct CheckpointState {
    pub(crate) manifest: Manifest,
    pub(crate) previous: Option<Manifest>,
}

/// What a checkpoint or merge did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CheckpointReport {
    /// Every record up to this LSN is now in segments.
    pub checkpoint_lsn: Lsn,
    /// The manifest generation published.
    pub manifest_generation: u64,
    /// The id of the segment written, if there was anything to write.
    pub segment_written: Option<u64>,
    /// Its size in bytes.
    pub segment_bytes: u64,
    /// Whether segments were merged.
    pub merged: bool,
    /// The ids of the segments merged into one, oldest first (adjacent in the store's order);
    /// empty when nothing was merged.
    pub merged_from: Vec<u64>,
    /// Segments in the store afterwards.
    pub segments: usize,
}

impl CheckpointReport {
    fn new(published: &Manifest, written: Option<&Segment>, merged_from: Vec<u64>) -> Self {
        Self {
            checkpoint_lsn: published.watermark,
            manifest_generation: published.generation,
            segment_written: written.map(|s| s.id),
            segment_bytes: written.map_or(0, Segment::len),
            merged: !merged_from.is_empty(),
            merged_from,
            segments: published.segments.len(),
        }
    }
}

fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> CheckpointError {
    let path = path.into();
    move |source| CheckpointError::Io { path, source }
}

/// Writes a new segment under the next id of `next`: `fill` adds its entries to a builder that
/// writes them to the file as it goes (a merge of gigabytes is never held in memory). Then the
/// file is made durable (data, then directory entry) and loaded back, mapped. `None`, and no
/// file, when `fill` added nothing and `Keep::IfFilled` (a merge keeps an empty segment: it
/// stands for the run it replaced).
fn write_segment(
    shared: &Shared,
    next: &mut Manifest,
    keep: Keep,
    fill: impl FnOnce(&mut SegmentBuilder, &Path) -> Result<(), CheckpointError>,
) -> Result<Option<Arc<Segment>>, CheckpointError> {
    let storage: &dyn Storage = shared.storage.as_ref();
    let id = next.next_segment_id;
    let path = segment::file_path(id);
    let file = storage.create(&path).map_err(io_err(&path))?;
    let mut builder = SegmentBuilder::new(file);
    let filled = fill(&mut builder, &path);
    if filled.is_err() || (keep == Keep::IfFilled && builder.is_empty()) {
        drop(builder);
        // A file left behind (this failed too) is garbage the next checkpoint or open removes.
        let _ = storage.remove(&path);
        return filled.map(|()| None);
    }
    let mut file = builder.finish().map_err(io_err(&path))?;
    file.sync_data().map_err(io_err(&path))?;
    drop(file);
    storage
        .sync_dir(Path::new(SEGMENT_DIR))
        .map_err(io_err(SEGMENT_DIR))?;
    next.next_segment_id += 1;
    let mapped = storage.map(&path).map_err(io_err(&path))?;
    Ok(Some(Arc::new(Segment::from_bytes(id, mapped)?)))
}

/// Whether [`write_segment`] keeps a segment that holds nothing.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Keep {
    IfFilled,
    Always,
}

fn meta_of(seg: &Segment) -> SegmentMeta {
    SegmentMeta {
        id: seg.id,
        file_len: seg.len(),
        hash: seg.hash,
        min_lsn: seg.min_lsn,
        max_lsn: seg.max_lsn,
        entry_count: seg.entry_count() as u64,
    }
}

/// Publishes `next` as the new manifest generation, then removes what neither it nor the one
/// before references, and the WAL files wholly below its watermark.
///
/// Order (each step durable before the next): segment files were written and their directory
/// fsynced by the caller → manifest temp file written and fsynced → renamed → root directory
/// fsynced → only then is anything deleted.
fn publish(
    shared: &Shared,
    ck: &mut CheckpointState,
    next: Manifest,
) -> Result<(), CheckpointError> {
    let storage = shared.storage.as_ref();
    next.publish(storage)
        .map_err(io_err(crate::manifest::file_path(next.generation)))?;
    let previous = std::mem::replace(&mut ck.manifest, next);
    ck.previous = Some(previous);
    // Deletion failures leave garbage, not damage: the next checkpoint or open retries them.
    let _ = remove_garbage(storage, &ck.manifest, ck.previous.as_ref());
    remove_covered_wal(shared, ck.manifest.watermark);
    Ok(())
}

/// Removes WAL files whose every record is at or below `watermark`, but for the newest of
/// them kept for the change feed (`feed_retention_bytes`).
fn remove_covered_wal(shared: &Shared, watermark: Lsn) {
    let mut files = shared.wal_files();
    let listed: Vec<(Lsn, u64)> = files.iter().map(|(f, l)| (*f, *l)).collect();
    let remove = covered_wal_to_remove(&listed, watermark, shared.config.feed_retention_bytes);
    for (first, _) in &listed[..remove] {
        if shared.storage.remove(&wal::file_path(*first)).is_ok() {
            files.remove(first);
        }
    }
    let _ = shared.storage.sync_dir(Path::new(wal::WAL_DIR));
}

/// Rotates the WAL, writes the frozen memtables as one segment and publishes it.
pub(crate) fn checkpoint(
    shared: &Shared,
    writer: &Sender<Request>,
) -> Result<CheckpointReport, CheckpointError> {
    let mut ck = lock(&shared.checkpoint);
    let (reply, answer) = mpsc::sync_channel(1);
    writer
        .send(Request::Rotate(reply))
        .map_err(|_| CheckpointError::Closed)?;
    let rotated = answer
        .recv()
        .map_err(|_| CheckpointError::Closed)?
        .map_err(|e| match e {
            WriteError::Closed => CheckpointError::Closed,
            other => CheckpointError::Wal(other),
        })?;

    let frozen: Vec<Arc<Memtable>> = shared.read_state().frozen.clone();
    let mut next = ck.manifest.clone();
    next.generation += 1;
    next.watermark = rotated.watermark;
    next.live_claims = rotated.live_claims;
    next.dims = rotated.dims;
    next.last_recorded_at = rotated.last_recorded_at;
    next.detected_through = rotated.detected_through;
    let tables: Vec<&Memtable> = frozen.iter().map(AsRef::as_ref).collect();
    let new_segment = write_segment(shared, &mut next, Keep::IfFilled, |builder, path| {
        Memtable::write_all(&tables, builder).map_err(io_err(path))
    })?;
    if let Some(seg) = &new_segment {
        next.segments.push(meta_of(seg));
    }
    publish(shared, &mut ck, next)?;
    {
        shared
            .write_state()
            .publish_checkpoint(frozen.len(), new_segment.as_ref());
    }
    shared.metrics.checkpoints.fetch_add(1, Ordering::Relaxed);
    if let Some(seg) = &new_segment {
        shared
            .metrics
            .checkpoint_bytes
            .fetch_add(seg.len(), Ordering::Relaxed);
    }

    let sizes: Vec<u64> = ck.manifest.segments.iter().map(|s| s.file_len).collect();
    let merged_from = match shared
        .config
        .merge_policy
        .pick(&sizes, shared.config.max_segments)
    {
        Some(run) => merge(shared, &mut ck, run)?.merged_from,
        None => Vec::new(),
    };
    // `ck.manifest` is the newest published: the merge's, if there was one.
    Ok(CheckpointReport::new(
        &ck.manifest,
        new_segment.as_deref(),
        merged_from,
    ))
}

/// Merges all segments into one under the retention policy.
pub(crate) fn compact(shared: &Shared) -> Result<CheckpointReport, CheckpointError> {
    let mut ck = lock(&shared.checkpoint);
    let all = 0..ck.manifest.segments.len();
    merge(shared, &mut ck, all)
}

/// Merges the adjacent segments at `run` (indexes into the current list, oldest first) into one
/// in their place.
fn merge(
    shared: &Shared,
    ck: &mut CheckpointState,
    run: Range<usize>,
) -> Result<CheckpointReport, CheckpointError> {
    // Checkpoints are excluded by the mutex we hold, so the state's list is the manifest's.
    let segments: Vec<Arc<Segment>> = shared
        .read_state()
        .segments
        .get(run.clone())
        .map(<[_]>::to_vec)
        .unwrap_or_default();
    let merged_from: Vec<u64> = segments.iter().map(|s| s.id).collect();
    let mut next = ck.manifest.clone();
    next.generation += 1;
    let mut dropped = Vec::new();
    let merged = if segments.is_empty() {
        None
    } else {
        let scope = MergeScope {
            retention: shared.config.retention,
            from_oldest: run.start == 0,
        };
        write_segment(shared, &mut next, Keep::Always, |builder, path| {
            merge_segments(&segments, scope, &mut dropped, builder, path)
        })?
    };
    let run = run.start..run.start + segments.len();
    next.segments
        .splice(run.clone(), merged.iter().map(|s| meta_of(s)));
    publish(shared, ck, next)?;
    shared
        .write_state()
        .publish_merge(run, merged.as_ref(), &dropped);
    shared.metrics.merges.fetch_add(1, Ordering::Relaxed);
    if let Some(seg) = &merged {
        shared
            .metrics
            .merge_bytes
            .fetch_add(seg.len(), Ordering::Relaxed);
    }
    Ok(CheckpointReport::new(
        &ck.manifest,
        merged.as_deref(),
        merged_from,
    ))
}

/// What a merge may drop: the retention policy, and whether the run starts at the oldest
/// segment (nothing older holds versions its tombstones shadow).
#[derive(Debug, Clone, Copy)]
struct MergeScope {
    retention: Retention,
    from_oldest: bool,
}

impl MergeScope {
    /// Applies retention to one claim's versions in the run (oldest first).
    ///
    /// A run that starts at the oldest segment drops everything up to the claim's last
    /// tombstone, the tombstone too. A later run keeps that tombstone (older segments may hold
    /// versions it shadows) and drops only what lies between it and the run's start; the
    /// version cap then counts only what follows it.
    fn apply(&self, versions: &mut Vec<ClaimVersion>) {
        let mut keep_from = 0;
        if self.retention.purge_forgotten {
            // Everything up to a claim's last tombstone is forgotten content, whatever came
            // after it: a re-ingest after `forget` starts a new life. Deciding on the segments
            // alone keeps the outcome independent of what the memtables hold right now.
            if let Some(last) = versions
                .iter()
                .rposition(|v| matches!(v.body, VersionBody::Tombstone))
            {
                if self.from_oldest {
                    versions.drain(..=last);
                } else {
                    versions.drain(..last);
                    keep_from = 1;
                }
            }
        }
        if let Some(max) = self.retention.max_versions {
            let capped = versions.len().saturating_sub(keep_from);
            let excess = capped.saturating_sub(max as usize);
            versions.drain(keep_from..keep_from + excess);
        }
    }
}

/// K-way merge of sorted, adjacent segments (oldest first) into `builder` (its file: `path`).
///
/// The live versions retention drops are added to `dropped`, by key.
fn merge_segments(
    segments: &[Arc<Segment>],
    scope: MergeScope,
    dropped: &mut Vec<(TenantId, ClaimId, Vec<u32>)>,
    builder: &mut SegmentBuilder,
    path: &Path,
) -> Result<(), CheckpointError> {
    let mut cursors = vec![0usize; segments.len()];
    // Read ahead through the inputs (their mappings are set for scattered reads otherwise),
    // letting go of the pages each has passed.
    let reading: Vec<_> = segments.iter().map(|s| s.read_through()).collect();
    loop {
        let mut min: Option<(&str, &str)> = None;
        for (seg, &c) in segments.iter().zip(&cursors) {
            if c < seg.entry_count() {
                let key = seg.key(c)?;
                if min.is_none_or(|m| key < m) {
                    min = Some(key);
                }
            }
        }
        let Some((tenant, claim)) = min else {
            break;
        };
        let mut versions = Vec::new();
        for ((seg, c), pass) in segments.iter().zip(cursors.iter_mut()).zip(&reading) {
            if *c < seg.entry_count() && seg.key(*c)? == (tenant, claim) {
                versions.extend(seg.versions(*c)?);
                *c += 1;
                pass.passed(seg.entry_start(*c));
            }
        }
        let before: Vec<(u32, bool)> = versions
            .iter()
            .map(|v| (v.version, matches!(v.body, VersionBody::Live(_))))
            .collect();
        let tenant_id = TenantId::new(tenant);
        let claim_id = ClaimId::new(claim);
        scope.apply(&mut versions);
        let gone: Vec<u32> = before
            .iter()
            .filter(|(n, live)| *live && !versions.iter().any(|v| v.version == *n))
            .map(|(n, _)| *n)
            .collect();
        if !gone.is_empty() {
            dropped.push((tenant_id.clone(), claim_id.clone(), gone));
        }
        if versions.is_empty() {
            continue;
        }
        builder
            .add_claim(&tenant_id, &claim_id, versions.iter())
            .map_err(io_err(path))?;
    }
    let mut commits: BTreeMap<(TenantId, String), CommitMeta> = BTreeMap::new();
    for seg in segments {
        for (tenant, id, meta) in seg.commits()? {
            commits.insert((tenant, id), meta);
        }
    }
    for ((tenant, id), meta) in &commits {
        builder.add_commit(tenant, id, meta);
    }
    for derived in merge_derived(segments, dropped)? {
        builder.add_derived(&derived);
    }
    Ok(())
}

/// The segments' derived sections (oldest first) as one: per tenant, the vectors and the edges
/// of its active epoch (or of a later, pending one), without those of versions retention
/// dropped.
fn merge_derived(
    segments: &[Arc<Segment>],
    dropped: &[(TenantId, ClaimId, Vec<u32>)],
) -> Result<Vec<TenantDerived>, crate::error::Corruption> {
    let mut merged: BTreeMap<TenantId, TenantDerived> = BTreeMap::new();
    for seg in segments {
        for d in seg.derived()? {
            merged
                .entry(d.tenant.clone())
                .or_insert_with(|| TenantDerived::new(d.tenant.clone()))
                .extend(&d);
        }
    }
    let gone: HashSet<(&TenantId, &ClaimId, u32)> = dropped
        .iter()
        .flat_map(|(t, c, vs)| vs.iter().map(move |v| (t, c, *v)))
        .collect();
    let mut out: Vec<TenantDerived> = merged.into_values().collect();
    for d in &mut out {
        let active = d.activate.unwrap_or(0);
        let tenant = d.tenant.clone();
        d.vectors
            .retain(|v| !gone.contains(&(&tenant, &v.claim, v.version)));
        d.edges.retain(|e| {
            e.epoch >= active
                && !gone.contains(&(&tenant, &e.from, e.from_version))
                && !gone.contains(&(&tenant, &e.to, e.to_version))
        });
    }
    Ok(out)
}
