//! [`StoreStats`]: a snapshot of the store's size, state and counters, and how it is read.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{lock, Store};
use crate::model::{Lsn, Timestamp};

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
    /// Segment bytes checkpoints wrote since open (new data leaving the WAL).
    pub checkpoint_bytes: u64,
    /// Segment bytes merges wrote since open (data rewritten). The merge write amplification
    /// is `(checkpoint_bytes + merge_bytes) / checkpoint_bytes`.
    pub merge_bytes: u64,
    /// Why the store refuses writes, if it is poisoned.
    pub poisoned: Option<crate::PoisonCause>,
    /// The last background checkpoint failure, if any.
    pub last_checkpoint_error: Option<String>,
    /// HNSW graphs built by the background indexer since open.
    pub index_builds: u64,
    /// Vectors inserted into graphs by those builds: a seal's new vectors, plus the vectors of
    /// the smaller graphs it folds in (the largest is extended, D33) or of every folded graph
    /// when it is rebuilt. Over the dense documents sealed, the graphs' insert amplification.
    pub graph_inserts: u64,
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
    /// True while a checkpoint the writer asked for (its WAL passed
    /// [`StoreBuilder::checkpoint_wal_bytes`](crate::StoreBuilder::checkpoint_wal_bytes))
    /// waits or runs, its merge included.
    pub checkpoint_pending: bool,
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
    /// Of `writer_busy_micros`, the time it waited for locks others held: the state's write
    /// lock (background work, the brief holds of queries). It never waits for the queries of
    /// the tenants it writes: a change to a tenant being read waits in that tenant's inbox
    /// (`tenant_changes_deferred`) for the tenant's next reader or change to apply.
    pub writer_lock_wait_micros: u64,
    /// Changes the writer left in a tenant's inbox because the tenant was being read, since
    /// open.
    pub tenant_changes_deferred: u64,
    /// Changes waiting in tenants' inboxes now.
    pub tenant_changes_waiting: u64,
    /// Microseconds readers waited for a tenant's running readers so as to apply its inbox
    /// before reading (the cost the writer no longer pays), since open.
    pub reader_apply_wait_micros: u64,
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

impl Store {
    /// The heap the retrieval indexes hold, by component, summed over tenants. It walks every
    /// tenant's term dictionary and facet keys (milliseconds at a million claims), so it is
    /// read on demand rather than with [`Store::stats`]. It counts what the indexes hold now:
    /// right after an open the indexes are still being readied and writes wait in a queue
    /// (and later in a tenant's inbox) that it does not count; [`Store::wait_for_indexes`]
    /// applies them first.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::sync::Arc;
    /// use dash_core::{Claim, IngestItem, MemStorage, Store};
    ///
    /// let store = Store::builder_with_storage(Arc::new(MemStorage::new())).open()?;
    /// store.ingest(IngestItem::new(Claim::new("acme", "c1", "The Eiffel tower is in Paris")))?;
    /// store.wait_for_indexes(); // the write is in the indexes, not queued for them
    /// let memory = store.index_memory();
    /// assert_eq!((memory.tenants, memory.documents), (1, 1));
    /// assert!(memory.lexical_postings > 0 && memory.total() >= memory.claims);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn index_memory(&self) -> crate::IndexMemory {
        let cells = self.shared.read_state().catalog.cells();
        // Each tenant is read after the state lock is let go (see `Catalog::cells`).
        crate::retrieve::index_memory(&cells)
    }

    /// Sizes, LSNs and counters.
    #[must_use]
    pub fn stats(&self) -> StoreStats {
        let st = self.shared.read_state();
        let cells = st.catalog.cells();
        let index_building = st.seal_wanted || !st.catalog.is_ready();
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
        // Each tenant is read after the state lock is let go (see `Catalog::cells`).
        let totals = crate::retrieve::catalog::totals(&cells);
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
            checkpoint_bytes: load(&m.checkpoint_bytes),
            merge_bytes: load(&m.merge_bytes),
            index_builds: m.index_builds.load(Ordering::Relaxed),
            graph_inserts: m.graph_inserts.load(Ordering::Relaxed),
            dense_graph_docs: totals.graph_docs,
            dense_mapped_docs: totals.mapped_docs,
            dense_exact_docs: totals.exact_docs,
            dense_graphs: totals.graphs,
            index_building: index_building || totals.building,
            checkpoint_pending: self.shared.checkpoint_requested.load(Ordering::Acquire),
            last_index_error: lock(&self.shared.last_index_error).clone(),
            graphs_loaded: m.graphs_loaded.load(Ordering::Relaxed),
            graphs_discarded: m.graphs_discarded.load(Ordering::Relaxed),
            catalog_image_loaded: self.shared.catalog_image_loaded.load(Ordering::Relaxed),
            catalog_image_unused: lock(&self.shared.catalog_image_unused).clone(),
            writer_busy_micros: m.writer_busy_micros.load(Ordering::Relaxed),
            writer_lock_wait_micros: m.writer_lock_wait_micros.load(Ordering::Relaxed),
            tenant_changes_deferred: totals.inbox.deferred,
            tenant_changes_waiting: totals.inbox.waiting,
            reader_apply_wait_micros: totals.inbox.reader_wait_micros,
            detected_edges: totals.detected_edges,
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
}
