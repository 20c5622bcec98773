//! The store's in-memory view: sealed segments, frozen memtables being checkpointed, the active
//! memtable, and the commit registry. Reads merge them oldest to newest.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use crate::error::Corruption;
use crate::memtable::Memtable;
use crate::model::{ClaimId, ClaimVersion, Lsn, TenantId, Timestamp, VersionBody};
use crate::retrieve::Catalog;
use crate::segment::{CommitMeta, Segment};
use crate::wal::{RecordBody, WalRecord};

use super::dims::Dimensions;

/// Everything a read needs, behind the store's `RwLock`. Only the writer thread (applying
/// committed records) and the checkpointer (swapping memtables for segments) mutate it.
#[derive(Debug)]
pub(crate) struct State {
    /// Sealed segments, oldest first.
    pub(crate) segments: Vec<Arc<Segment>>,
    /// Memtables frozen by a WAL rotation and not yet published as a segment, oldest first.
    pub(crate) frozen: Vec<Arc<Memtable>>,
    /// Where new versions go.
    pub(crate) active: Memtable,
    /// Every remembered `commit_id`, by tenant.
    pub(crate) commits: HashMap<TenantId, HashMap<String, CommitMeta>>,
    /// Embedding dimensions: the store's, or each tenant's.
    pub(crate) dims: Dimensions,
    /// Keys whose latest version is live.
    pub(crate) live_claims: u64,
    /// The newest applied record.
    pub(crate) last_lsn: Lsn,
    /// The newest applied record's recorded time (recorded times strictly increase).
    pub(crate) last_recorded: Timestamp,
    /// Every tenant's retrieval indexes, over every kept version.
    pub(crate) catalog: Catalog,
    /// Dense exact parts seal into an HNSW graph at this many documents.
    pub(crate) seal_threshold: usize,
    /// Set when a tenant's exact dense part reached the threshold; the writer wakes the indexer.
    pub(crate) seal_wanted: bool,
    /// Every commit up to here has been through the detection stage (its derived record
    /// applied).
    pub(crate) detected_through: Lsn,
}

impl Default for State {
    fn default() -> Self {
        Self {
            segments: Vec::new(),
            frozen: Vec::new(),
            active: Memtable::default(),
            commits: HashMap::new(),
            dims: Dimensions::default(),
            live_claims: 0,
            last_lsn: Lsn(0),
            last_recorded: Timestamp::MIN,
            catalog: Catalog::default(),
            seal_threshold: usize::MAX,
            seal_wanted: false,
            detected_through: Lsn(0),
        }
    }
}

impl State {
    /// The newest version of a key anywhere: its number and whether it is a tombstone.
    pub(crate) fn latest(
        &self,
        tenant: &TenantId,
        claim: &ClaimId,
    ) -> Result<Option<(u32, bool)>, Corruption> {
        if let Some(l) = self.active.latest(tenant, claim) {
            return Ok(Some(l));
        }
        for table in self.frozen.iter().rev() {
            if let Some(l) = table.latest(tenant, claim) {
                return Ok(Some(l));
            }
        }
        for seg in self.segments.iter().rev() {
            if let Some(i) = seg.find(tenant.as_str(), claim.as_str())? {
                return seg.latest(i).map(Some);
            }
        }
        Ok(None)
    }

    /// Every kept version of a key, oldest first.
    pub(crate) fn versions(
        &self,
        tenant: &TenantId,
        claim: &ClaimId,
    ) -> Result<Vec<ClaimVersion>, Corruption> {
        let mut out = Vec::new();
        for seg in &self.segments {
            if let Some(i) = seg.find(tenant.as_str(), claim.as_str())? {
                out.extend(seg.versions(i)?);
            }
        }
        for table in self.frozen.iter().map(AsRef::as_ref).chain([&self.active]) {
            if let Some(v) = table.versions(tenant, claim) {
                out.extend_from_slice(v);
            }
        }
        Ok(out)
    }

    pub(crate) fn commit(&self, tenant: &TenantId, commit_id: &str) -> Option<&CommitMeta> {
        self.commits.get(tenant)?.get(commit_id)
    }

    /// Applies a committed record (live, after its WAL write; or during replay).
    pub(crate) fn apply(&mut self, record: &WalRecord) -> Result<(), Corruption> {
        match &record.body {
            RecordBody::Commit {
                tenant,
                commit_id,
                digest,
                versions,
                items,
            } => {
                for (item, version) in items.iter().zip(versions) {
                    let claim = &item.claim.claim_id;
                    if !matches!(self.latest(tenant, claim)?, Some((_, false))) {
                        self.live_claims += 1;
                    }
                    if let Some(e) = &item.claim.embedding {
                        self.dims.fix(tenant, e.len());
                        if let Some(model) = &item.claim.embedding_model {
                            self.dims.fix_model(tenant, model);
                        }
                    }
                    self.active.insert(
                        tenant,
                        claim,
                        ClaimVersion {
                            version: *version,
                            lsn: record.lsn,
                            recorded_at: record.recorded_at,
                            body: VersionBody::Live(Arc::clone(item)),
                        },
                    );
                }
                self.catalog.add_commit(
                    tenant,
                    record.lsn,
                    record.recorded_at,
                    items
                        .iter()
                        .cloned()
                        .zip(versions.iter().copied())
                        .collect(),
                );
                if !self.seal_wanted && self.catalog.wants_seal(tenant, self.seal_threshold) {
                    self.seal_wanted = true;
                }
                if let Some(id) = commit_id {
                    let meta = CommitMeta {
                        digest: *digest,
                        lsn: record.lsn,
                        recorded_at: record.recorded_at,
                        versions: versions.clone(),
                    };
                    self.active.insert_commit(tenant, id, meta.clone());
                    self.commits
                        .entry(tenant.clone())
                        .or_default()
                        .insert(id.clone(), meta);
                }
            }
            RecordBody::Forget {
                tenant,
                claim_id,
                version,
            } => {
                if matches!(self.latest(tenant, claim_id)?, Some((_, false))) {
                    self.live_claims = self.live_claims.saturating_sub(1);
                }
                self.active.insert(
                    tenant,
                    claim_id,
                    ClaimVersion {
                        version: *version,
                        lsn: record.lsn,
                        recorded_at: record.recorded_at,
                        body: VersionBody::Tombstone,
                    },
                );
                self.catalog
                    .add_tombstone(tenant, record.lsn, claim_id, record.recorded_at);
            }
            RecordBody::Derived {
                detected_through,
                tenants,
            } => {
                for d in tenants {
                    if let (Some(model), Some(v)) = (&d.model, d.vectors.first()) {
                        self.dims.fix(&d.tenant, v.vector.len());
                        self.dims.fix_model(&d.tenant, model);
                    }
                    self.active.insert_derived(d);
                }
                self.catalog
                    .apply_derived(record.lsn, *detected_through, tenants.clone());
                if !self.seal_wanted {
                    self.seal_wanted = tenants
                        .iter()
                        .any(|d| self.catalog.wants_seal(&d.tenant, self.seal_threshold));
                }
                self.detected_through = self.detected_through.max(*detected_through);
            }
        }
        self.last_lsn = record.lsn;
        self.last_recorded = record.recorded_at;
        Ok(())
    }

    /// A WAL rotation: the active memtable freezes, waiting for its checkpoint.
    pub(crate) fn freeze_active(&mut self) {
        let active = std::mem::take(&mut self.active);
        self.frozen.push(Arc::new(active));
    }

    /// A checkpoint published `segment` (if it wrote one) holding the oldest `frozen`
    /// memtables: they go, and the catalog reads those versions from the mapped segment (the
    /// memtables' items leave memory with them).
    pub(crate) fn publish_checkpoint(&mut self, frozen: usize, segment: Option<&Arc<Segment>>) {
        self.frozen.drain(..frozen.min(self.frozen.len()));
        if let Some(seg) = segment {
            self.segments.push(Arc::clone(seg));
            self.catalog.relocate(seg);
        }
    }

    /// A merge published `merged` in the place of the segments at `run`: the versions
    /// retention `dropped` leave the retrieval indexes in the same step, the rest move to the
    /// merged segment (the merged-away files are unmapped when their last reader is done).
    pub(crate) fn publish_merge(
        &mut self,
        run: Range<usize>,
        merged: Option<&Arc<Segment>>,
        dropped: &[(TenantId, ClaimId, Vec<u32>)],
    ) {
        self.segments.splice(run, merged.into_iter().cloned());
        for (tenant, claim, versions) in dropped {
            self.catalog.drop_versions(tenant, claim, versions);
        }
        if let Some(seg) = merged {
            self.catalog.relocate(seg);
        }
    }

    /// The catalog the indexer built at open takes the place of the deferred one (whose
    /// changes it has absorbed).
    pub(crate) fn install_catalog(&mut self, catalog: Catalog) {
        self.catalog = catalog;
        self.seal_wanted = !self.catalog.seal_candidates(self.seal_threshold).is_empty();
    }

    /// The deferred catalog's queued changes, taken out (a fresh deferred catalog queues the
    /// next ones).
    pub(crate) fn take_deferred(&mut self) -> Catalog {
        let queued = std::mem::take(&mut self.catalog);
        self.catalog = Catalog::deferred(queued.queueing(), queued.detected_through);
        queued
    }

    /// The indexer took the seal request.
    pub(crate) fn take_seal_request(&mut self) {
        self.seal_wanted = false;
    }
}
