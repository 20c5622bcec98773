//! The [`Store`] facade: open, write, read, checkpoint, close.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{
    Arc, Condvar, Mutex, MutexGuard, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard,
};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::codec::Encoder;
use crate::detect::stage::{DetectionCounters, Stage, StageMsg};
use crate::error::{
    CheckpointError, CloseError, QueryError, ReadError, ValidationError, WriteError,
};
use crate::model::{
    ClaimId, ClaimRecord, ClaimVersion, Edge, IngestItem, Lsn, TenantId, Timestamp,
};
use crate::retrieve::image;
use crate::retrieve::{DetectionStatus, Query, RetrieveResponse};
use crate::storage::Storage;
use crate::validate::{
    validate_claim_id, validate_commit_id, validate_item, validate_tenant_id, MAX_BATCH_ITEMS,
};
use crate::wal::Truncation;

mod builder;
mod checkpoint;
pub(crate) mod dims;
mod indexer;
mod recovery;
mod state;
pub(crate) mod writer;

pub use builder::{
    Durability, Retention, StoreBuilder, DEFAULT_DENSE_SEAL_THRESHOLD, SAFE_BATCH_DELAY,
    SAFE_BATCH_RECORDS,
};
pub use checkpoint::CheckpointReport;

use builder::Config;
use checkpoint::CheckpointState;
use state::State;
use writer::{CommitRequest, Request};

/// What `ingest` (and each item of `ingest_batch`) committed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IngestReceipt {
    /// The claim's tenant.
    pub tenant_id: TenantId,
    /// The claim.
    pub claim_id: ClaimId,
    /// The WAL record that holds it.
    pub lsn: Lsn,
    /// When the store committed it.
    pub recorded_at: Timestamp,
    /// The version this write made.
    pub version: u32,
}

/// Whether a batch was written now or had been written before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CommitStatus {
    /// Written by this call.
    Committed,
    /// The same `commit_id` with the same content was committed before; nothing was written and
    /// the receipt is the original one.
    Replayed,
}

/// What `ingest_batch` committed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BatchReceipt {
    /// The batch's id.
    pub commit_id: String,
    /// Written now, or replayed.
    pub status: CommitStatus,
    /// The WAL record that holds the whole batch.
    pub lsn: Lsn,
    /// When the store committed it.
    pub recorded_at: Timestamp,
    /// One receipt per item, in order.
    pub items: Vec<IngestReceipt>,
}

/// What `forget` committed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ForgetReceipt {
    /// The claim's tenant.
    pub tenant_id: TenantId,
    /// The claim.
    pub claim_id: ClaimId,
    /// The WAL record of the tombstone.
    pub lsn: Lsn,
    /// When the store committed it.
    pub recorded_at: Timestamp,
    /// The tombstone's version.
    pub version: u32,
}

/// What open found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The manifest generation opened (0 for a store without a checkpoint).
    pub manifest_generation: u64,
    /// Segments loaded and verified.
    pub segments_loaded: usize,
    /// WAL files read.
    pub wal_files_read: usize,
    /// Records replayed from the WAL (those after the manifest's watermark).
    pub records_replayed: u64,
    /// Torn tails (or, in `TruncateAtCorruption` mode, damage) cut from WAL files.
    pub truncations: Vec<Truncation>,
    /// Files removed during recovery: WAL files after a cut, torn empty WAL files, garbage.
    pub removed_files: Vec<PathBuf>,
}

/// A snapshot of the store's size and state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoreStats {
    /// Claims whose current version is live (not forgotten), across tenants.
    pub claims: u64,
    /// The newest committed LSN.
    pub last_lsn: Lsn,
    /// Records up to this LSN are in segments.
    pub checkpoint_lsn: Lsn,
    /// The current manifest generation.
    pub manifest_generation: u64,
    /// WAL files on disk.
    pub wal_files: usize,
    /// Bytes in WAL files.
    pub wal_bytes: u64,
    /// Segments in the current manifest.
    pub segments: usize,
    /// Bytes in those segments.
    pub segment_bytes: u64,
    /// Versions in the memtables (not yet checkpointed).
    pub memtable_versions: usize,
    /// The embedding dimension of every tenant, when the store has one (opened with
    /// [`StoreBuilder::embedding_dimension`]); otherwise each tenant's first embedding fixes
    /// its own ([`Store::embedding_dimension`]).
    pub embedding_dimension: Option<u32>,
    /// WAL records written since open.
    pub records_written: u64,
    /// WAL fsyncs since open (records / syncs is the group-commit factor).
    pub wal_syncs: u64,
    /// Checkpoints completed since open.
    pub checkpoints: u64,
    /// Merges completed since open.
    pub merges: u64,
    /// Why the store refuses writes, if it is poisoned.
    pub poisoned: Option<String>,
    /// The last background checkpoint failure, if any.
    pub last_checkpoint_error: Option<String>,
    /// HNSW graphs built by the background indexer since open.
    pub index_builds: u64,
    /// Dense documents (all tenants, all kept versions) in sealed HNSW graphs; versions dropped
    /// by retention count until the next seal rebuilds their graph.
    pub dense_graph_docs: u64,
    /// Of `dense_graph_docs`, those whose graph is viewed from its mapped graph file (its
    /// vectors and links cost page cache, not heap); the others' graphs are held in the heap
    /// until their file is written.
    pub dense_mapped_docs: u64,
    /// Dense documents searched by exact scan (not sealed yet).
    pub dense_exact_docs: u64,
    /// Sealed HNSW graphs, over all tenants (a dense search visits each of its tenant's).
    pub dense_graphs: usize,
    /// True while the background indexer has work due or running (including the build of the
    /// segments' indexes after open).
    pub index_building: bool,
    /// The last background index build failure, if any.
    pub last_index_error: Option<String>,
    /// Sealed graphs loaded from their files at open (not rebuilt).
    pub graphs_loaded: u64,
    /// Graph files found unusable at open (damaged, or numbered differently after retention
    /// dropped versions) and removed; their documents are sealed again in the background.
    pub graphs_discarded: u64,
    /// True when the retrieval catalog came from the image the last clean close wrote
    /// (`catalog.image`), not from indexing every version in the segments again.
    pub catalog_image_loaded: bool,
    /// Why an image found at open was not used (written over other segments, damaged, a
    /// graph file it names missing, …); the catalog was then built from the segments.
    pub catalog_image_unused: Option<String>,
    /// Microseconds the writer thread spent on request groups since open (validation, WAL
    /// append and sync, applying to the in-memory state, answering).
    pub writer_busy_micros: u64,
    /// Of `writer_busy_micros`, the time it waited for the state's write lock: behind queries
    /// holding the read lock, or background work holding the lock.
    pub writer_lock_wait_micros: u64,
    /// Detected edges (contradictions and successions) live now, across tenants.
    pub detected_edges: u64,
    /// Detected edges built since open (rebuilds included).
    pub detected_edges_built: u64,
    /// Detected edges not built because an endpoint reached the degree cap.
    pub detected_edges_dropped_degree: u64,
    /// Judgements below the confidence floor.
    pub detected_edges_dropped_floor: u64,
    /// Claim pairs handed to the judge since open.
    pub detection_pairs_judged: u64,
    /// Every commit up to this LSN has been through detection (and embedding).
    pub detection_watermark: Lsn,
    /// Commits waiting for the detection stage.
    pub detection_lag_commits: u64,
    /// Claim versions waiting for the detection stage.
    pub detection_lag_claims: u64,
    /// How long the oldest waiting commit has waited, in milliseconds (0 when none waits).
    pub detection_lag_ms: u64,
    /// Claim versions the stage processed since open.
    pub detection_claims_processed: u64,
    /// Candidates found since open, by source: lexical, dense, shared entity, structured group.
    pub detection_candidates: [u64; 4],
    /// Postings the lexical candidate search read since open.
    pub detection_postings_read: u64,
    /// Candidate searches the posting budget cut short.
    pub detection_budget_hits: u64,
    /// Vectors the store's embedder made since open.
    pub embedded_vectors: u64,
    /// Claim versions left without a vector because their tenant's vectors come from another
    /// model (or unnamed caller vectors).
    pub embedding_skipped: u64,
    /// The last failure of the detection stage (a judge or embedder error), if any.
    pub last_detection_error: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub(crate) records_written: AtomicU64,
    pub(crate) wal_syncs: AtomicU64,
    pub(crate) checkpoints: AtomicU64,
    pub(crate) merges: AtomicU64,
    pub(crate) index_builds: AtomicU64,
    pub(crate) graphs_loaded: AtomicU64,
    pub(crate) graphs_discarded: AtomicU64,
    pub(crate) writer_busy_micros: AtomicU64,
    pub(crate) writer_lock_wait_micros: AtomicU64,
}

/// What the store's threads share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) config: Config,
    state: RwLock<State>,
    /// Set once on the first WAL I/O failure; never cleared.
    pub(crate) poisoned: OnceLock<String>,
    /// Live WAL files: first LSN → size in bytes.
    wal_files: Mutex<BTreeMap<Lsn, u64>>,
    pub(crate) checkpoint: Mutex<CheckpointState>,
    pub(crate) checkpoint_requested: AtomicBool,
    pub(crate) last_checkpoint_error: Mutex<Option<String>>,
    pub(crate) metrics: Metrics,
    pub(crate) recovery: RecoveryReport,
    /// Wakes the background dense indexer (set once it runs).
    pub(crate) indexer: Mutex<Option<Sender<()>>>,
    /// The last background index build failure, if any.
    pub(crate) last_index_error: Mutex<Option<String>>,
    /// Set when the store closes; held while graph files are written (so `close` waits for a
    /// save in progress and nothing is written afterwards).
    pub(crate) graph_files_closed: Mutex<bool>,
    /// True from a graph's install until its file is written and its view swapped in, so
    /// [`Store::wait_for_indexes`] also waits for the graph files.
    pub(crate) graphs_saving: AtomicBool,
    /// The catalog came from the store's image ([`StoreStats::catalog_image_loaded`]).
    pub(crate) catalog_image_loaded: AtomicBool,
    /// [`StoreStats::catalog_image_unused`].
    pub(crate) catalog_image_unused: Mutex<Option<String>>,
    /// `None` while the segments' retrieval indexes are built at open, then the outcome.
    pub(crate) index_ready: (Mutex<Option<Result<(), String>>>, Condvar),
    /// Wakes the detection stage (set while it runs).
    pub(crate) stage: Mutex<Option<Sender<StageMsg>>>,
    /// What the detection stage did since open.
    pub(crate) detection: DetectionCounters,
    /// The last failure of the detection stage.
    pub(crate) last_detection_error: Mutex<Option<String>>,
    /// Counts derived records applied; waiters for detection wait on the condvar.
    pub(crate) detection_progress: (Mutex<u64>, Condvar),
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data behind these mutexes is updated in single steps; a panic elsewhere cannot leave it
    // half-written, so a poisoned mutex is taken over rather than propagated.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn read_state(&self) -> RwLockReadGuard<'_, State> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn write_state(&self) -> RwLockWriteGuard<'_, State> {
        self.state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn poison(&self, err: &io::Error) {
        // Only the first cause is kept: later errors are consequences.
        let _ = self.poisoned.set(err.to_string());
    }

    pub(crate) fn note_wal_len(&self, first_lsn: Lsn, len: u64) {
        lock(&self.wal_files).insert(first_lsn, len);
    }

    pub(crate) fn wal_files(&self) -> MutexGuard<'_, BTreeMap<Lsn, u64>> {
        lock(&self.wal_files)
    }

    /// Records whether the segments' retrieval indexes are built, and wakes waiting queries.
    fn set_index_readiness(&self, readiness: Result<(), String>) {
        let (state, ready) = &self.index_ready;
        *lock(state) = Some(readiness);
        ready.notify_all();
    }

    /// Waits until the segments' retrieval indexes are built.
    pub(crate) fn wait_index_ready(&self) -> Result<(), QueryError> {
        let (state, ready) = &self.index_ready;
        let mut guard = lock(state);
        loop {
            match &*guard {
                Some(Ok(())) => return Ok(()),
                Some(Err(e)) => return Err(QueryError::IndexUnavailable(e.clone())),
                None => {
                    guard = ready
                        .wait(guard)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
            }
        }
    }

    /// Called by the writer after applying a group: wakes the detection stage for new commits,
    /// and queries waiting for detection when derived records were applied.
    pub(crate) fn after_apply(&self, commits: bool, derived: bool) {
        if commits {
            if let Some(tx) = lock(&self.stage).as_ref() {
                let _ = tx.send(StageMsg::Wake);
            }
        }
        if derived {
            let (count, cv) = &self.detection_progress;
            *lock(count) += 1;
            cv.notify_all();
        }
    }

    /// Asks the background indexer to seal whatever is due; false when no indexer listens
    /// (the store is closing, or the thread has stopped).
    pub(crate) fn wake_indexer(&self) -> bool {
        lock(&self.indexer)
            .as_ref()
            .is_some_and(|tx| tx.send(()).is_ok())
    }
}

#[derive(Debug, Default)]
struct Threads {
    writer: Option<JoinHandle<()>>,
    checkpointer: Option<JoinHandle<()>>,
    checkpoint_tx: Option<Sender<()>>,
    stage: Option<JoinHandle<()>>,
}

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
    threads: Mutex<Threads>,
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
        let mut threads = Threads::default();
        if shared.config.auto_checkpoint {
            let (ck_tx, ck_rx) = mpsc::channel::<()>();
            let ck_shared = Arc::clone(&shared);
            let ck_writer = tx.clone();
            threads.checkpointer = Some(
                std::thread::Builder::new()
                    .name("dash-checkpoint".into())
                    .spawn(move || {
                        while ck_rx.recv().is_ok() {
                            let result = checkpoint::checkpoint(&ck_shared, &ck_writer);
                            *lock(&ck_shared.last_checkpoint_error) =
                                result.err().map(|e| e.to_string());
                            ck_shared
                                .checkpoint_requested
                                .store(false, Ordering::Release);
                        }
                    })
                    .map_err(|source| crate::error::OpenError::Io {
                        path: PathBuf::new(),
                        source,
                    })?,
            );
            threads.checkpoint_tx = Some(ck_tx);
        }
        let (ix_tx, ix_rx) = mpsc::channel::<()>();
        let weak = Arc::downgrade(&shared);
        let (segments, replayed) = {
            let st = shared.read_state();
            (st.segments.clone(), st.last_lsn)
        };
        // Before any write: an image holding records the WAL no longer has would otherwise fit
        // a later open whose new records reuse their numbers.
        image::discard_if_ahead(shared.storage.as_ref(), replayed).map_err(|source| {
            crate::error::OpenError::Io {
                path: PathBuf::from(image::IMAGE_FILE),
                source,
            }
        })?;
        std::thread::Builder::new()
            .name("dash-indexer".into())
            .spawn(move || indexer::run_indexer(weak, ix_rx, segments, replayed))
            .map_err(|source| crate::error::OpenError::Io {
                path: PathBuf::new(),
                source,
            })?;
        *lock(&shared.indexer) = Some(ix_tx);
        // Segments indexed at open may already be due for sealing.
        shared.wake_indexer();
        let (stage_tx, stage_rx) = mpsc::channel::<StageMsg>();
        let stage = Stage::new(Arc::downgrade(&shared), tx.clone());
        threads.stage = Some(
            std::thread::Builder::new()
                .name("dash-detect".into())
                .spawn(move || stage.run(&stage_rx))
                .map_err(|source| crate::error::OpenError::Io {
                    path: PathBuf::new(),
                    source,
                })?,
        );
        *lock(&shared.stage) = Some(stage_tx);
        let writer = writer::Writer::new(
            Arc::clone(&shared),
            recovered.wal,
            rx,
            threads.checkpoint_tx.clone(),
        );
        threads.writer = Some(
            std::thread::Builder::new()
                .name("dash-wal-writer".into())
                .spawn(move || writer.run())
                .map_err(|source| crate::error::OpenError::Io {
                    path: PathBuf::new(),
                    source,
                })?,
        );
        Ok(Self {
            shared,
            tx,
            threads: Mutex::new(threads),
            _lock: recovered_lock,
        })
    }

    fn check_writable(&self) -> Result<(), WriteError> {
        match self.shared.poisoned.get() {
            Some(cause) => Err(WriteError::Poisoned {
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
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
        self.check_writable()?;
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
    /// [`Store::get_claim`]; its versions are purged by a later merge (see [`Retention`]).
    ///
    /// # Errors
    /// [`WriteError::NotFound`] if the claim does not exist or is already forgotten,
    /// [`WriteError::Invalid`] for a malformed id, and the WAL errors of [`Store::ingest`].
    pub fn forget(
        &self,
        tenant: &TenantId,
        claim_id: &ClaimId,
    ) -> Result<ForgetReceipt, WriteError> {
        self.check_writable()?;
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
    /// removes the WAL it covers, and merges segments when there are more than
    /// [`StoreBuilder::max_segments`]. Writes and reads go on meanwhile.
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
        let st = self.shared.read_state();
        let mut answer = crate::retrieve::run(st.catalog.tenant(query.tenant()), query);
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
        Ok(self.shared.read_state().catalog.detected_edges(tenant))
    }

    /// Blocks until the background indexer has sealed every dense part that is due (benches and
    /// tests use it to measure or check the graph path; queries never need it). Returns early,
    /// with [`StoreStats::last_index_error`] set, if the indexer has stopped.
    pub fn wait_for_indexes(&self) {
        if self.shared.wait_index_ready().is_err() {
            return; // nothing more will be built; `stats().last_index_error` says why
        }
        loop {
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

    /// Sizes, LSNs and counters.
    #[must_use]
    pub fn stats(&self) -> StoreStats {
        let st = self.shared.read_state();
        let (dense_graph_docs, dense_exact_docs) = st.catalog.dense_sizes();
        let dense_graphs = st.catalog.dense_graph_count();
        let dense_mapped_docs = st.catalog.dense_mapped_docs();
        let index_building = st.catalog.building() || st.seal_wanted || !st.catalog.is_ready();
        let detected_edges = st.catalog.detected_edge_count();
        let detection_watermark = st.catalog.detected_through;
        let detection_lag_commits = st.catalog.queue.len() as u64;
        let detection_lag_claims = st.catalog.queue.iter().map(|p| u64::from(p.count)).sum();
        let detection_lag_ms = st.catalog.queue.front().map_or(0, |p| {
            let waited = Timestamp::now().as_unix_micros() - p.recorded_at.as_unix_micros();
            u64::try_from(waited / 1000).unwrap_or(0)
        });
        let (claims, last_lsn, embedding_dimension) = (st.live_claims, st.last_lsn, st.dims.store);
        let memtable_versions =
            st.active.version_count() + st.frozen.iter().map(|m| m.version_count()).sum::<usize>();
        let segment_bytes = st.segments.iter().map(|s| s.len()).sum();
        let segments = st.segments.len();
        drop(st);
        let (checkpoint_lsn, manifest_generation) = {
            let ck = lock(&self.shared.checkpoint);
            (ck.manifest.watermark, ck.manifest.generation)
        };
        let (wal_files, wal_bytes) = {
            let files = self.shared.wal_files();
            (files.len(), files.values().sum())
        };
        let m = &self.shared.metrics;
        let d = &self.shared.detection;
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StoreStats {
            claims,
            last_lsn,
            checkpoint_lsn,
            manifest_generation,
            wal_files,
            wal_bytes,
            segments,
            segment_bytes,
            memtable_versions,
            embedding_dimension,
            records_written: m.records_written.load(Ordering::Relaxed),
            wal_syncs: m.wal_syncs.load(Ordering::Relaxed),
            checkpoints: m.checkpoints.load(Ordering::Relaxed),
            merges: m.merges.load(Ordering::Relaxed),
            index_builds: m.index_builds.load(Ordering::Relaxed),
            dense_graph_docs,
            dense_mapped_docs,
            dense_exact_docs,
            dense_graphs,
            index_building,
            last_index_error: lock(&self.shared.last_index_error).clone(),
            graphs_loaded: m.graphs_loaded.load(Ordering::Relaxed),
            graphs_discarded: m.graphs_discarded.load(Ordering::Relaxed),
            catalog_image_loaded: self.shared.catalog_image_loaded.load(Ordering::Relaxed),
            catalog_image_unused: lock(&self.shared.catalog_image_unused).clone(),
            writer_busy_micros: m.writer_busy_micros.load(Ordering::Relaxed),
            writer_lock_wait_micros: m.writer_lock_wait_micros.load(Ordering::Relaxed),
            detected_edges,
            detected_edges_built: load(&d.built),
            detected_edges_dropped_degree: load(&d.dropped_degree),
            detected_edges_dropped_floor: load(&d.dropped_floor),
            detection_pairs_judged: load(&d.judged),
            detection_watermark,
            detection_lag_commits,
            detection_lag_claims,
            detection_lag_ms,
            detection_claims_processed: load(&d.claims_processed),
            detection_candidates: [
                load(&d.candidates_lexical),
                load(&d.candidates_dense),
                load(&d.candidates_entity),
                load(&d.candidates_structured),
            ],
            detection_postings_read: load(&d.postings_read),
            detection_budget_hits: load(&d.budget_hits),
            embedded_vectors: load(&d.embedded),
            embedding_skipped: load(&d.embed_skipped),
            last_detection_error: lock(&self.shared.last_detection_error).clone(),
            poisoned: self.shared.poisoned.get().cloned(),
            last_checkpoint_error: lock(&self.shared.last_checkpoint_error).clone(),
        }
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
        let mut threads = lock(&self.threads);
        let mut panicked = false;
        let mut result = Ok(());
        // The writer first: a checkpoint waiting on it gets `Closed`, and the writer's handle on
        // the checkpoint channel goes away with it, so the checkpointer can then stop.
        let closing = threads.writer.is_some();
        if let Some(h) = threads.writer.take() {
            let (reply, answer) = mpsc::sync_channel(1);
            if self.tx.send(Request::Shutdown(reply)).is_ok() {
                if let Ok(Err(e)) = answer.recv() {
                    result = Err(CloseError::Io(e));
                }
            }
            panicked |= h.join().is_err();
        }
        threads.checkpoint_tx = None;
        if let Some(h) = threads.checkpointer.take() {
            panicked |= h.join().is_err();
        }
        // The stage stops once its channel closes (work in flight is derived again at open).
        *lock(&self.shared.stage) = None;
        if let Some(h) = threads.stage.take() {
            panicked |= h.join().is_err();
        }
        if panicked {
            return Err(CloseError::ThreadPanicked);
        }
        if closing && result.is_ok() {
            self.write_image();
        }
        result
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
        if written.is_err() {
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
