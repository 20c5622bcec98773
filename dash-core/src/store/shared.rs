//! What the store's threads share ([`Shared`]): storage, configuration, the state behind its
//! lock, the manifests, counters and the channels that wake the background workers.

use std::collections::BTreeMap;

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::mpsc::Sender;
use std::sync::{
    Arc, Condvar, Mutex, MutexGuard, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard,
};

use super::builder::Config;
use super::checkpoint::CheckpointState;
use super::state::State;
use super::RecoveryReport;
use crate::detect::stage::{DetectionCounters, StageMsg};
use crate::error::{PoisonCause, QueryError, WriteError};
use crate::model::Lsn;
use crate::storage::Storage;

#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub(crate) records_written: AtomicU64,
    pub(crate) wal_syncs: AtomicU64,
    pub(crate) checkpoints: AtomicU64,
    pub(crate) merges: AtomicU64,
    pub(crate) checkpoint_bytes: AtomicU64,
    pub(crate) merge_bytes: AtomicU64,
    pub(crate) index_builds: AtomicU64,
    pub(crate) graph_inserts: AtomicU64,
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
    pub(super) state: RwLock<State>,
    /// Set once on the first WAL I/O failure; never cleared.
    pub(crate) poisoned: OnceLock<PoisonCause>,
    /// Live WAL files: first LSN → size in bytes.
    pub(super) wal_files: Mutex<BTreeMap<Lsn, u64>>,
    pub(crate) checkpoint: Mutex<CheckpointState>,
    pub(crate) checkpoint_requested: AtomicBool,
    pub(crate) last_checkpoint_error: Mutex<Option<String>>,
    pub(crate) metrics: Metrics,
    pub(crate) recovery: RecoveryReport,
    /// The change feed's subscribers (the writer publishes to them).
    pub(crate) feed: crate::feed::Hub,
    /// Wakes the background dense indexer (set once it runs).
    pub(crate) indexer: Mutex<Option<Sender<()>>>,
    /// The last background index build failure, if any.
    pub(crate) last_index_error: Mutex<Option<String>>,
    /// Set when the store closes; held while graph files are written (so `close` waits for a
    /// save in progress and nothing is written afterwards).
    pub(crate) graph_files_closed: Mutex<bool>,
    /// True from a graph's install until its file is written and its view swapped in, so
    /// [`Store::wait_for_indexes`](super::Store::wait_for_indexes) also waits for the graph files.
    pub(crate) graphs_saving: AtomicBool,
    /// The catalog came from the store's image ([`StoreStats::catalog_image_loaded`](super::StoreStats::catalog_image_loaded)).
    pub(crate) catalog_image_loaded: AtomicBool,
    /// [`StoreStats::catalog_image_unused`](super::StoreStats::catalog_image_unused).
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

    pub(crate) fn poison(&self, cause: PoisonCause) {
        // Only the first cause is kept: later errors are consequences.
        let _ = self.poisoned.set(cause);
    }

    /// Refuses writes once poisoned.
    pub(crate) fn check_poison(&self) -> Result<(), WriteError> {
        match self.poisoned.get() {
            Some(cause) => Err(WriteError::Poisoned {
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    pub(crate) fn note_wal_len(&self, first_lsn: Lsn, len: u64) {
        lock(&self.wal_files).insert(first_lsn, len);
    }

    pub(crate) fn wal_files(&self) -> MutexGuard<'_, BTreeMap<Lsn, u64>> {
        lock(&self.wal_files)
    }

    /// Records whether the segments' retrieval indexes are built, and wakes waiting queries.
    pub(super) fn set_index_readiness(&self, readiness: Result<(), String>) {
        let (state, ready) = &self.index_ready;
        let mut state = lock(state);
        // A failure stays: a tenant of the catalog image may fail to decode (in the detection
        // stage, say) before the indexer has said the catalog is in.
        if !matches!(*state, Some(Err(_))) {
            *state = Some(readiness);
        }
        ready.notify_all();
    }

    /// True once the retrieval indexes are known to be unavailable (never built, or a tenant of
    /// the catalog image failed to decode); does not wait.
    pub(crate) fn index_failed(&self) -> bool {
        matches!(&*lock(&self.index_ready.0), Some(Err(_)))
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

    /// Runs `f` on `tenant`'s indexes (every change applied; `None` for an unknown tenant),
    /// holding that tenant's read lock only: its handle is taken under the state lock, which is
    /// let go before the tenant is read (reading may wait for the tenant's queries, and a thread
    /// holding the state lock must not).
    pub(crate) fn with_tenant<R>(
        &self,
        tenant: &crate::model::TenantId,
        f: impl FnOnce(Option<&crate::retrieve::catalog::TenantIndex>) -> R,
    ) -> R {
        let cell = self.read_state().catalog.shared_tenant(tenant);
        let index = cell.as_deref().map(crate::retrieve::read_tenant);
        f(index.as_deref())
    }

    /// Applies the changes waiting in tenants' inboxes (each such tenant read once, after the
    /// state lock is let go: it may wait for the tenant's queries), so that what is asked under
    /// the state lock next — is a seal due? — sees them.
    pub(crate) fn apply_inboxes(&self) {
        let cells = self.read_state().catalog.cells_with_changes();
        for cell in cells {
            drop(crate::retrieve::read_tenant(&cell));
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
