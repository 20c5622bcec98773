//! The [`Store`] facade: open, write, read, checkpoint, close.

use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::codec::Encoder;
use crate::detect::stage::StageMsg;
use crate::error::{
    CheckpointError, CloseError, QueryError, ReadError, ValidationError, WriteError,
};
use crate::model::{ClaimId, ClaimRecord, ClaimVersion, Edge, IngestItem, TenantId};
use crate::retrieve::image;
use crate::retrieve::{DetectionStatus, Query, RetrieveResponse};
use crate::storage::Storage;
use crate::validate::{
    validate_claim_id, validate_commit_id, validate_item, validate_tenant_id, MAX_BATCH_ITEMS,
};

mod builder;
mod checkpoint;
pub(crate) mod dims;
mod gc;
mod indexer;
mod merge_policy;
mod receipts;
mod recovery;
mod shared;
mod state;
mod stats;
#[cfg(test)]
mod tenant_lock_tests;
mod workers;
pub(crate) mod writer;

pub use builder::{
    Durability, Retention, StoreBuilder, DEFAULT_DENSE_SEAL_THRESHOLD,
    DEFAULT_FEED_RETENTION_BYTES, DEFAULT_MAX_SEGMENTS, SAFE_BATCH_DELAY, SAFE_BATCH_RECORDS,
};
pub use checkpoint::CheckpointReport;
pub use merge_policy::MergePolicy;
pub use receipts::{BatchReceipt, CommitStatus, ForgetReceipt, IngestReceipt, RecoveryReport};
pub(crate) use shared::{lock, Metrics, Shared};
pub use stats::StoreStats;

use builder::Config;
use workers::Workers;
use writer::{CommitRequest, Request};

/// A durable, bi-temporal store of claims with their evidence and edges.
///
/// Writes go through a checksummed write-ahead log with group commit; checkpoints freeze the
/// in-memory part into immutable, checksummed segment files published by an atomic manifest.
/// A `Store` is `Send + Sync`: share it between threads behind an `Arc`. Readers never wait on
/// a WAL fsync.
///
/// ```
/// use dash_core::{Claim, Evidence, IngestItem, Stance, Store};
///
/// let dir = tempfile::tempdir()?;
/// let store = Store::builder(dir.path()).open()?;
/// let item = IngestItem::new(Claim::new("acme", "c1", "The Eiffel Tower is 330 m tall"))
///     .with_evidence(Evidence::new("e1", "c1", "wiki/Eiffel_Tower", Stance::Supports));
/// let receipt = store.ingest(item)?;
/// assert_eq!(receipt.version, 1);
///
/// let claim = store.get_claim(&"acme".into(), &"c1".into())?.expect("just written");
/// assert_eq!(claim.item.evidence.len(), 1);
/// store.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Store {
    shared: Arc<Shared>,
    tx: Sender<Request>,
    workers: Mutex<Workers>,
    /// The directory lock, released last (fields drop in order, after `Drop::drop` joined the
    /// writer and the checkpointer).
    _lock: Box<dyn Debug + Send + Sync>,
}

impl Store {
    /// A builder for the store in directory `path` (created if missing).
    pub fn builder(path: impl Into<PathBuf>) -> StoreBuilder {
        StoreBuilder::new(path)
    }

    /// A builder for a store on any [`Storage`] (for example [`crate::MemStorage`] in tests).
    pub fn builder_with_storage(storage: Arc<dyn Storage>) -> StoreBuilder {
        StoreBuilder::with_storage(storage)
    }

    fn open_with(
        storage: Arc<dyn Storage>,
        config: Config,
    ) -> Result<Self, crate::error::OpenError> {
        let recovered = recovery::recover(storage, config)?;
        let recovered_lock = recovered.lock;
        let shared = Arc::new(recovered.shared);
        let (tx, rx) = mpsc::channel();
        let workers = Workers::start(&shared, recovered.wal, recovered.prefetch, &tx, rx)?;
        Ok(Self {
            shared,
            tx,
            workers: Mutex::new(workers),
            _lock: recovered_lock,
        })
    }

    /// Ingests one item: a new claim, or a new version of an existing `(tenant, claim_id)`.
    ///
    /// Returns once the write is as durable as the store's [`Durability`] says, and visible to
    /// reads.
    ///
    /// # Errors
    /// [`WriteError::Invalid`] (nothing written), [`WriteError::Poisoned`], [`WriteError::Io`],
    /// [`WriteError::Closed`].
    pub fn ingest(&self, item: IngestItem) -> Result<IngestReceipt, WriteError> {
        let mut receipt = self.commit(None, vec![item])?;
        receipt.items.pop().ok_or(WriteError::Closed)
    }

    /// Ingests `items` of one tenant atomically (all or none, also across a crash) and
    /// idempotently: the same `commit_id` with the same content returns
    /// [`CommitStatus::Replayed`] and writes nothing; with other content it fails with
    /// [`WriteError::CommitConflict`]. Commit ids are remembered across restarts and checkpoints.
    ///
    /// # Errors
    /// [`WriteError::Invalid`] naming the first invalid item (nothing written),
    /// [`WriteError::CommitConflict`], [`WriteError::TooLarge`], [`WriteError::Poisoned`],
    /// [`WriteError::Io`], [`WriteError::Closed`].
    pub fn ingest_batch(
        &self,
        commit_id: impl Into<String>,
        items: Vec<IngestItem>,
    ) -> Result<BatchReceipt, WriteError> {
        let commit_id = commit_id.into();
        validate_commit_id(&commit_id)
            .map_err(|source| WriteError::Invalid { index: 0, source })?;
        self.commit(Some(commit_id), items)
    }

    fn commit(
        &self,
        commit_id: Option<String>,
        items: Vec<IngestItem>,
    ) -> Result<BatchReceipt, WriteError> {
        self.shared.check_poison()?;
        let invalid = |index, source| WriteError::Invalid { index, source };
        let Some(first) = items.first() else {
            return Err(invalid(0, ValidationError::EmptyBatch));
        };
        if items.len() > MAX_BATCH_ITEMS {
            return Err(invalid(
                MAX_BATCH_ITEMS,
                ValidationError::TooMany {
                    field: "items",
                    count: items.len(),
                    max: MAX_BATCH_ITEMS,
                },
            ));
        }
        let tenant = first.claim.tenant_id.clone();
        // The writer re-checks the dimension against writes in flight; this catches most early.
        let mut dim = self.shared.read_state().dims.of(&tenant);
        let mut enc = Encoder::with_capacity(items.len() * 512);
        for (index, item) in items.iter().enumerate() {
            validate_item(item, dim).map_err(|e| invalid(index, e))?;
            if item.claim.tenant_id != tenant {
                return Err(invalid(
                    index,
                    ValidationError::MixedTenants {
                        expected: tenant.to_string(),
                        found: item.claim.tenant_id.to_string(),
                    },
                ));
            }
            if dim.is_none() {
                dim = item
                    .claim
                    .embedding
                    .as_ref()
                    .and_then(|e| u32::try_from(e.len()).ok());
            }
            enc.item(item);
        }
        let digest = *blake3::hash(&enc.buf).as_bytes();
        let claim_ids: Vec<ClaimId> = items.iter().map(|i| i.claim.claim_id.clone()).collect();
        let (reply, answer) = mpsc::sync_channel(1);
        let request = CommitRequest {
            tenant: tenant.clone(),
            commit_id: commit_id.clone(),
            items: items.into_iter().map(Arc::new).collect(),
            items_bytes: enc.buf,
            digest,
            reply,
        };
        self.tx
            .send(Request::Commit(request))
            .map_err(|_| WriteError::Closed)?;
        let outcome = answer.recv().map_err(|_| WriteError::Closed)??;
        let items = claim_ids
            .into_iter()
            .zip(&outcome.versions)
            .map(|(claim_id, version)| IngestReceipt {
                tenant_id: tenant.clone(),
                claim_id,
                lsn: outcome.lsn,
                recorded_at: outcome.recorded_at,
                version: *version,
            })
            .collect();
        Ok(BatchReceipt {
            commit_id: commit_id.unwrap_or_default(),
            status: if outcome.replayed {
                CommitStatus::Replayed
            } else {
                CommitStatus::Committed
            },
            lsn: outcome.lsn,
            recorded_at: outcome.recorded_at,
            items,
        })
    }

    /// Forgets a claim: writes a tombstone version. The claim is no longer returned by
    /// [`Store::get_claim`]; its versions are purged by a later merge that reaches the claim's
    /// oldest segment, at the latest by [`Store::compact`] (see [`Retention`]).
    ///
    /// # Errors
    /// [`WriteError::NotFound`] if the claim does not exist or is already forgotten,
    /// [`WriteError::Invalid`] for a malformed id, and the WAL errors of [`Store::ingest`].
    pub fn forget(
        &self,
        tenant: &TenantId,
        claim_id: &ClaimId,
    ) -> Result<ForgetReceipt, WriteError> {
        self.shared.check_poison()?;
        validate_tenant_id(tenant)
            .and_then(|()| validate_claim_id(claim_id))
            .map_err(|source| WriteError::Invalid { index: 0, source })?;
        let (reply, answer) = mpsc::sync_channel(1);
        self.tx
            .send(Request::Forget {
                tenant: tenant.clone(),
                claim_id: claim_id.clone(),
                reply,
            })
            .map_err(|_| WriteError::Closed)?;
        let (lsn, recorded_at, version) = answer.recv().map_err(|_| WriteError::Closed)??;
        Ok(ForgetReceipt {
            tenant_id: tenant.clone(),
            claim_id: claim_id.clone(),
            lsn,
            recorded_at,
            version,
        })
    }

    /// The current version of a claim with its evidence, edges and version history; `None` if
    /// the claim does not exist in this tenant or was forgotten.
    ///
    /// # Errors
    /// [`ReadError::Invalid`] for a malformed id; [`ReadError::Corruption`] if stored data does
    /// not decode.
    pub fn get_claim(
        &self,
        tenant: &TenantId,
        claim_id: &ClaimId,
    ) -> Result<Option<ClaimRecord>, ReadError> {
        let versions = self.versions(tenant, claim_id)?;
        let Some(current) = versions.last() else {
            return Ok(None);
        };
        let Some(item) = current.item() else {
            return Ok(None);
        };
        Ok(Some(ClaimRecord {
            item: Arc::clone(item),
            version: current.version,
            lsn: current.lsn,
            recorded_at: current.recorded_at,
            history: versions.iter().map(Into::into).collect(),
        }))
    }

    /// Every kept version of a claim, oldest first, tombstones included (empty if unknown).
    ///
    /// # Errors
    /// As [`Store::get_claim`].
    pub fn versions(
        &self,
        tenant: &TenantId,
        claim_id: &ClaimId,
    ) -> Result<Vec<ClaimVersion>, ReadError> {
        validate_tenant_id(tenant)?;
        validate_claim_id(claim_id)?;
        Ok(self.shared.read_state().versions(tenant, claim_id)?)
    }

    /// Makes every acknowledged write durable now (useful in `Batched` mode; a no-op in
    /// `Strict`).
    ///
    /// # Errors
    /// [`WriteError::Poisoned`], [`WriteError::Io`], [`WriteError::Closed`].
    pub fn flush(&self) -> Result<(), WriteError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.tx
            .send(Request::Flush(reply))
            .map_err(|_| WriteError::Closed)?;
        answer.recv().map_err(|_| WriteError::Closed)?
    }

    /// Freezes everything written so far into a segment, publishes it with a new manifest,
    /// removes the WAL it covers, and merges a run of adjacent segments when the
    /// [`MergePolicy`] picks one (or there are more than [`StoreBuilder::max_segments`]).
    /// Writes and reads go on meanwhile.
    ///
    /// # Errors
    /// [`CheckpointError`]; the store keeps serving and the WAL still holds everything.
    pub fn checkpoint(&self) -> Result<CheckpointReport, CheckpointError> {
        checkpoint::checkpoint(&self.shared, &self.tx)
    }

    /// Answers a query: the tenant's claims ranked by relevance and evidence, with citations,
    /// evidence on both sides and conflicts, at the query's valid and recorded time.
    ///
    /// Right after open, the first queries wait while the background indexer builds the sealed
    /// segments' indexes (about 3 s per 100,000 claims on the reference machine, see
    /// `docs/benchmarks.md`); writes and reads by key do not wait.
    ///
    /// Every committed write is visible to the query (lexical and dense) as soon as its
    /// `ingest` returned. See `docs/retrieval.md` for the pipeline and the score.
    ///
    /// # Errors
    /// [`QueryError`] for a query that breaks a limit; nothing is read then.
    ///
    /// ```
    /// use dash_core::{Claim, Edge, Evidence, IngestItem, Query, Relation, Stance, Store};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::builder(dir.path()).open()?;
    /// let mut e = Evidence::new("e1", "c1", "wiki/Paris", Stance::Supports);
    /// (e.chunk_id, e.span_start, e.span_end) = (Some("p3".into()), Some(0), Some(38));
    /// store.ingest(IngestItem::new(Claim::new("acme", "c1", "Paris is the capital of France"))
    ///     .with_evidence(e))?;
    /// store.ingest(IngestItem::new(Claim::new("acme", "c2", "Lyon is the capital of France"))
    ///     .with_edge(Edge::new("c2", "c1", Relation::Contradicts)))?;
    ///
    /// let answer = store.retrieve(&Query::new("acme").text("capital of France").top_k(5))?;
    /// let top = &answer.results[0];
    /// assert_eq!(top.claim_id.as_str(), "c1"); // better evidence ranks first
    /// assert_eq!(top.citations[0].span_end, Some(38));
    /// assert_eq!(top.conflicts[0].claim_id.as_str(), "c2");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn retrieve(&self, query: &Query) -> Result<RetrieveResponse, QueryError> {
        self.shared.wait_index_ready()?;
        query.validate(self.shared.read_state().dims.of(query.tenant()))?;
        // Detection first: the stage also embeds, and the tenant's first store-made vector is
        // what lets the query be embedded.
        let wait = query
            .wait_for_detection
            .unwrap_or(self.shared.config.detection.query_wait);
        let detection = self.wait_detection(query.tenant(), wait);
        let embedded = self.embed_query(query)?;
        let query = embedded.as_ref().unwrap_or(query);
        // The query holds its tenant's indexes only, not the store's state lock: the writer
        // applies other tenants' commits meanwhile.
        let threads = crate::retrieve::Threads {
            concurrent_from: self.shared.config.concurrent_search_min_docs,
            split_lexical_from: self.shared.config.split_lexical_min_docs,
        };
        let mut answer = self.shared.with_tenant(query.tenant(), |index| {
            crate::retrieve::run(index, query, threads)
        });
        // A tenant of the catalog image decodes when first read; should it fail to (a defect),
        // its index is empty and the store unready: the answer is refused, not served.
        self.shared.wait_index_ready()?;
        answer.detection = detection;
        Ok(answer)
    }

    /// The query with a vector made by the store's embedder, when it has text but no vector
    /// and the tenant's vectors are the embedder's.
    fn embed_query(&self, query: &Query) -> Result<Option<Query>, QueryError> {
        let Some(embedder) = &self.shared.config.embedder else {
            return Ok(None);
        };
        let Some(text) = query.text.as_deref().filter(|t| !t.trim().is_empty()) else {
            return Ok(None);
        };
        if query.embedding.is_some() {
            return Ok(None);
        }
        let ours = {
            let st = self.shared.read_state();
            st.dims.model(query.tenant()) == Some(embedder.model())
                && st.dims.of(query.tenant()) == u32::try_from(embedder.dimension()).ok()
        };
        if !ours {
            return Ok(None);
        }
        let mut vectors = embedder
            .embed(&[text])
            .map_err(|e| QueryError::Embedding(e.to_string()))?;
        match vectors.pop() {
            Some(v) if v.len() == embedder.dimension() => Ok(Some(query.clone().embedding(v))),
            _ => Err(QueryError::Embedding(
                "the embedder returned no vector of its dimension".into(),
            )),
        }
    }

    /// Waits up to `wait` for the detection stage to process every version `tenant` has
    /// committed; says how far it got.
    fn wait_detection(&self, tenant: &TenantId, wait: Duration) -> DetectionStatus {
        let started = std::time::Instant::now();
        let deadline = started + wait;
        let (count, cv) = &self.shared.detection_progress;
        loop {
            let seen = *lock(count);
            let (pending, watermark) = {
                let st = self.shared.read_state();
                (st.catalog.undetected(tenant), st.catalog.detected_through)
            };
            let now = std::time::Instant::now();
            let stage_running = lock(&self.shared.stage).is_some();
            if pending == 0 || now >= deadline || !stage_running {
                return DetectionStatus {
                    caught_up: pending == 0,
                    pending,
                    watermark_lsn: watermark.0,
                    waited_ms: started.elapsed().as_secs_f64() * 1000.0,
                };
            }
            let guard = lock(count);
            if *guard == seen {
                // Woken by the next derived record, or at the deadline.
                drop(
                    cv.wait_timeout(guard, deadline - now)
                        .unwrap_or_else(std::sync::PoisonError::into_inner),
                );
            }
        }
    }

    /// Subscribes to `tenant`'s change feed ([`crate::feed`]): new claim versions, forgets, and
    /// the contradictions and supersessions detection finds, in commit order, from `from`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use dash_core::feed::{Change, FeedStart};
    /// use dash_core::{Claim, IngestItem, Store, TenantId};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::builder(dir.path()).open()?;
    /// store.ingest(IngestItem::new(Claim::new("t", "a", "The bridge opened in 1932")))?;
    /// let mut feed = store.subscribe(&TenantId::new("t"), FeedStart::Oldest)?;
    /// store.ingest(IngestItem::new(Claim::new("t", "b", "The bridge did not open in 1932")))?;
    /// let first = feed.next_timeout(Duration::from_secs(5))?.expect("history");
    /// assert!(matches!(first.change, Change::ClaimVersion { ref claim_id, .. } if claim_id.as_str() == "a"));
    /// let second = feed.next_timeout(Duration::from_secs(5))?.expect("live");
    /// assert!(second.cursor > first.cursor);
    /// // Detection's verdict arrives as its own event, after the claims it joins (detection
    /// // runs in the background: wait for it, however loaded the machine).
    /// assert!(store.wait_for_detection());
    /// let edge = feed.next_timeout(Duration::from_secs(10))?.expect("detected");
    /// assert!(matches!(edge.change, Change::EdgeDetected { .. }));
    /// // A client that stopped resumes after the last cursor it saw.
    /// let mut resumed = store.subscribe(&TenantId::new("t"), FeedStart::After(first.cursor))?;
    /// assert_eq!(resumed.next_timeout(Duration::from_secs(5))?.map(|e| e.cursor), Some(second.cursor));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`FeedError::InvalidTenant`](crate::feed::FeedError::InvalidTenant);
    /// [`FeedError::HistoryLost`](crate::feed::FeedError::HistoryLost) when `from` is older
    /// than the WAL the store still holds
    /// ([`StoreBuilder::feed_retention_bytes`](crate::StoreBuilder::feed_retention_bytes)).
    pub fn subscribe(
        &self,
        tenant: &TenantId,
        from: crate::feed::FeedStart,
    ) -> Result<crate::feed::Subscription, crate::feed::FeedError> {
        validate_tenant_id(tenant)
            .map_err(|e| crate::feed::FeedError::InvalidTenant(e.to_string()))?;
        crate::feed::Subscription::start(Arc::clone(&self.shared), tenant.clone(), from)
    }

    /// Blocks until the detection stage has processed every claim version committed before
    /// the call (with the embedder, embedded them too), or the stage has stopped. Returns true
    /// when it caught up. Tests and benchmarks use it; a query waits by itself, briefly
    /// ([`Query::wait_for_detection`]).
    ///
    /// ```
    /// use dash_core::{Claim, IngestItem, Store, TenantId};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::builder(dir.path()).open()?;
    /// store.ingest(IngestItem::new(Claim::new("t", "a", "The bridge opened in 1932")))?;
    /// store.ingest(IngestItem::new(Claim::new("t", "b", "The bridge collapsed in 1932")))?;
    /// assert!(store.wait_for_detection());
    /// let edges = store.detected_edges(&TenantId::new("t"))?;
    /// assert_eq!(edges.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_for_detection(&self) -> bool {
        if self.shared.wait_index_ready().is_err() {
            return false;
        }
        let target = self.shared.read_state().last_lsn;
        let (count, cv) = &self.shared.detection_progress;
        loop {
            let seen = *lock(count);
            let done = {
                let st = self.shared.read_state();
                st.catalog.queue.front().is_none_or(|p| p.lsn > target)
            };
            if done {
                return true;
            }
            if lock(&self.shared.stage).is_none() {
                return false;
            }
            let guard = lock(count);
            if *guard == seen {
                drop(
                    cv.wait_timeout(guard, Duration::from_millis(50))
                        .unwrap_or_else(std::sync::PoisonError::into_inner),
                );
            }
        }
    }

    /// Recomputes the detected edges (contradictions, successions) of `tenant` from its stored
    /// claims, in commit order, replaces them durably and atomically, and returns how many it
    /// built. Deterministic: what a version is compared with depends only on the versions
    /// recorded before it, so with the same judge a second call builds the same edges (dense
    /// candidates from HNSW graphs excepted: they are approximate). Use it after changing the
    /// [`DetectionConfig`](crate::detect::DetectionConfig) (a new judge or threshold): edges are
    /// persisted, and an open does not recompute them.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// use dash_core::{Claim, IngestItem, Store, TenantId};
    ///
    /// let store = Store::builder(dir.path()).open()?;
    /// let fact = |id: &str, object: &str| {
    ///     let mut c = Claim::new("t", id, format!("Paris is the capital of {object}"));
    ///     (c.subject, c.predicate, c.object) =
    ///         (Some("Paris".into()), Some("capital of".into()), Some(object.into()));
    ///     IngestItem::new(c)
    /// };
    /// store.ingest(fact("a", "France"))?;
    /// store.ingest(fact("b", "Italy"))?;
    /// assert_eq!(store.rebuild_edges(&TenantId::new("t"))?, 1); // one contradiction
    /// assert_eq!(store.rebuild_edges(&TenantId::new("t"))?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`QueryError::Tenant`] for an invalid tenant id, [`QueryError::IndexUnavailable`] if the
    /// indexes could not be built, [`QueryError::DetectionUnavailable`] if the stage stopped.
    pub fn rebuild_edges(&self, tenant: &TenantId) -> Result<u64, QueryError> {
        validate_tenant_id(tenant).map_err(QueryError::Tenant)?;
        self.shared.wait_index_ready()?;
        let (reply, answer) = mpsc::sync_channel(1);
        let sent = lock(&self.shared.stage)
            .as_ref()
            .is_some_and(|tx| tx.send(StageMsg::Rebuild(tenant.clone(), reply)).is_ok());
        if !sent {
            return Err(QueryError::DetectionUnavailable(
                "the detection stage is not running".into(),
            ));
        }
        answer
            .recv()
            .map_err(|_| QueryError::DetectionUnavailable("the detection stage stopped".into()))?
            .map_err(QueryError::DetectionUnavailable)
    }

    /// The detected edges (contradictions, successions) between the current versions of
    /// `tenant`'s claims, in the order they were built; each has `detected: true`, the
    /// judge's confidence as `strength`, and a `reason` naming the differing spans. Waits
    /// briefly for detection, as [`Store::detected_edge_details`] does.
    ///
    /// # Errors
    /// [`QueryError::Tenant`] for an invalid tenant id, [`QueryError::IndexUnavailable`] if the
    /// indexes could not be built.
    pub fn detected_edges(&self, tenant: &TenantId) -> Result<Vec<Edge>, QueryError> {
        Ok(self
            .detected_edge_details(tenant)?
            .into_iter()
            .map(|d| d.edge)
            .collect())
    }

    /// [`Store::detected_edges`] with provenance: the versions each edge joins and the judge
    /// (with its lexicon version) that made it. Like a query, it first waits briefly
    /// ([`DetectionConfig::query_wait`](crate::detect::DetectionConfig::query_wait)) for the
    /// detection stage to reach what the tenant has committed.
    ///
    /// # Errors
    /// As [`Store::detected_edges`].
    pub fn detected_edge_details(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<crate::detect::DetectedEdge>, QueryError> {
        validate_tenant_id(tenant).map_err(QueryError::Tenant)?;
        self.shared.wait_index_ready()?;
        self.wait_detection(tenant, self.shared.config.detection.query_wait);
        Ok(self.shared.with_tenant(tenant, |index| {
            index.map_or_else(Vec::new, |t| t.detected_edges())
        }))
    }

    /// Blocks until every write so far is in the indexes (not queued for them) and the background
    /// indexer has sealed every dense part that is due (benches and tests use it to measure or
    /// check the graph path and index statistics; queries never need it). The detection and
    /// embedding stages keep committing in the background after it returns: call
    /// [`Store::wait_for_detection`] first for a store at rest. Returns early,
    /// with [`StoreStats::last_index_error`] set, if the indexer has stopped.
    pub fn wait_for_indexes(&self) {
        if self.shared.wait_index_ready().is_err() {
            return; // nothing more will be built; `stats().last_index_error` says why
        }
        loop {
            // Commits waiting in a tenant's inbox count: apply them before looking.
            self.shared.apply_inboxes();
            {
                let st = self.shared.read_state();
                let due = !st.catalog.seal_candidates(st.seal_threshold).is_empty();
                let saving = self.shared.graphs_saving.load(Ordering::Acquire);
                if !due && !st.catalog.building() && !saving {
                    return;
                }
                if due && !st.catalog.building() {
                    drop(st);
                    if !self.shared.wake_indexer() {
                        // Nothing will seal what is due: say so rather than wait forever.
                        let mut error = lock(&self.shared.last_index_error);
                        error.get_or_insert_with(|| "the background indexer has stopped".into());
                        return;
                    }
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// Merges all segments into one now, applying the [`Retention`] policy.
    ///
    /// # Errors
    /// As [`Store::checkpoint`].
    pub fn compact(&self) -> Result<CheckpointReport, CheckpointError> {
        checkpoint::compact(&self.shared)
    }

    /// The dimension `tenant`'s embeddings (claims and queries) must have: the store's when it
    /// was opened with one, else fixed by the tenant's first embedding; `None` until then.
    /// Tenants are independent: one tenant's first embedding never constrains another's.
    ///
    /// ```
    /// use dash_core::{Claim, IngestItem, Store, TenantId};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::builder(dir.path()).open()?;
    /// for (tenant, embedding) in [("a", vec![1.0, 0.0]), ("b", vec![0.0, 1.0, 0.0])] {
    ///     let mut claim = Claim::new(tenant, "c1", "Text");
    ///     claim.embedding = Some(embedding);
    ///     store.ingest(IngestItem::new(claim))?;
    /// }
    /// assert_eq!(store.embedding_dimension(&TenantId::new("a")), Some(2));
    /// assert_eq!(store.embedding_dimension(&TenantId::new("b")), Some(3));
    /// assert_eq!(store.embedding_dimension(&TenantId::new("c")), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn embedding_dimension(&self, tenant: &TenantId) -> Option<u32> {
        self.shared.read_state().dims.of(tenant)
    }

    /// What open found and repaired.
    #[must_use]
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.shared.recovery
    }

    /// Stops the background threads, makes every acknowledged write durable and releases the
    /// directory. Dropping a `Store` does the same but cannot report a failure.
    ///
    /// # Errors
    /// [`CloseError::Io`] if the final sync failed (in `Batched` mode, acknowledged writes of the
    /// last window may then be lost); [`CloseError::ThreadPanicked`].
    pub fn close(self) -> Result<(), CloseError> {
        self.shutdown()
    }

    fn shutdown(&self) -> Result<(), CloseError> {
        // Waits for a graph file being written; none is written afterwards.
        *lock(&self.shared.graph_files_closed) = true;
        let stopped = lock(&self.workers).stop(&self.shared, &self.tx);
        self.shared.feed.close();
        if stopped? {
            self.write_image();
        }
        Ok(())
    }

    /// Writes the catalog image the next open starts from (a cache: a failure only means that
    /// open indexes the segments again). Only after the final WAL sync succeeded, so every
    /// record the image holds is durable; not while the catalog is still being built.
    fn write_image(&self) {
        if self.shared.poisoned.get().is_some() {
            return;
        }
        let st = self.shared.read_state();
        if !st.catalog.is_ready() {
            return;
        }
        let written = image::write(
            self.shared.storage.as_ref(),
            &st.catalog,
            st.last_lsn,
            &st.segments,
        );
        drop(st);
        // A tenant of the last image that failed to decode (now, or before) left an empty index:
        // no image, so the next open indexes the segments.
        if written.is_err() || self.shared.index_failed() {
            // A half-written image never replaces a whole one (temporary file, rename); an
            // older image cannot fit the segments and WAL this close leaves: remove both.
            let _ = image::remove(self.shared.storage.as_ref());
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // Errors cannot be reported from drop; `close` reports them.
        let _ = self.shutdown();
    }
}
