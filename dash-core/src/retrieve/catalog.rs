//! The retrieval catalog: for every tenant, its own document table and indexes (lexical, filter,
//! dense) over every kept version of its claims, plus what the time filters need.
//!
//! A *document* is one live version of a claim (tombstones are not documents). Documents are
//! never renumbered: a new version adds a document and closes the previous one's recorded
//! interval; a tombstone only closes it; retention (merges) removes documents from every index.
//! Each tenant has separate instances of everything, so no statistic or candidate list can mix
//! tenants.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{RwLockReadGuard, RwLockWriteGuard};
use roaring::RoaringBitmap;

use super::claims::ClaimTable;
use super::deferred::Deferred;
use super::dense::{DenseIndex, Fold, GraphVectors, SealPlan};
use super::rank::{evidence_weight, EvidenceWeight};
pub(crate) use super::tenant_cell::read_tenant;
use super::tenant_cell::{InboxStats, TenantCell, TenantOp};
use crate::detect::edges::{DetectedGraph, DocEdge};
use crate::detect::record::TenantDerived;
use crate::error::Corruption;
use crate::index::{Analyzer, Bm25Index, DocId, Facets, FilterIndex, HnswIndex};
use crate::model::{ClaimId, Edge, IngestItem, Lsn, Relation, TenantId, Timestamp, VersionBody};
use crate::segment::Segment;

/// Every tenant's retrieval indexes, and the queue of commits the detection stage has still
/// to process.
///
/// At open the catalog starts *deferred*: the store is usable at once, changes are queued, and
/// the indexer thread builds the indexes of the sealed segments off the lock, then replays the
/// queue into them ([`Catalog::absorb`]) and swaps them in.
///
/// Documents are numbered in commit order (LSN, then claim id, then version), live and at open
/// alike, so "recorded before" is "a smaller document number" and the detection stage's
/// as-of statistics are the same whenever it runs.
///
/// **Locks.** Each tenant's indexes sit behind a lock of their own ([`SharedTenant`]), so a query
/// holds its tenant only: it takes the handle under the store's state lock, lets that go, and
/// reads the tenant. Whoever changes the catalog holds the state lock; the writer's changes
/// never wait for a tenant's readers (they go to the tenant's inbox when it is being read,
/// [`super::tenant_cell`]); the few changes that must wait (a seal's plan, a graph swap) take
/// the tenant's write lock *after* the state lock, never the other way (a query holding its
/// tenant never asks for the state lock).
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    pub(super) tenants: HashMap<TenantId, SharedTenant>,
    /// Time spent waiting for tenants' write locks (behind queries) since last taken.
    tenant_wait: Duration,
    /// `Some` while the segments' indexes are being built: the changes to apply afterwards.
    deferred: Option<Vec<Change>>,
    /// Commits the detection stage has not processed yet, in LSN order (only kept when a
    /// stage runs).
    pub(crate) queue: VecDeque<Pending>,
    queueing: bool,
    /// Every commit up to here has been through the stage (its derived record applied).
    pub(crate) detected_through: Lsn,
    /// Loaded from a catalog image holding every record up to here: replayed changes at or
    /// below it are already in (a commit's only resolves its documents' content).
    pub(super) image_through: Lsn,
    /// While [`Catalog::from_segments`] runs: per tenant, the documents whose vectors the
    /// graph files read at this open hold (handed to each tenant as it is first seen).
    graph_held: HashMap<TenantId, RoaringBitmap>,
}

/// One tenant's indexes behind their own lock, with their inbox (see [`Catalog`] for the lock
/// order and [`super::tenant_cell`] for the inbox).
pub(crate) type SharedTenant = Arc<TenantCell>;

/// A commit's documents in one tenant, waiting for the detection stage.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub(crate) lsn: Lsn,
    pub(crate) tenant: TenantId,
    pub(crate) recorded_at: Timestamp,
    /// Its documents: `first..first + count`, in detection order.
    pub(crate) first: DocId,
    pub(crate) count: u32,
}

/// A change queued while the catalog is deferred.
#[derive(Debug)]
enum Change {
    Commit(TenantId, Lsn, Timestamp, Vec<(Arc<IngestItem>, u32)>),
    Tombstone(TenantId, Lsn, ClaimId, Timestamp),
    Drop(TenantId, ClaimId, Vec<u32>),
    /// The record's LSN, the watermark it carries, its tenants' parts.
    Derived(Lsn, Lsn, Vec<TenantDerived>),
    Relocate(Arc<Segment>),
}

/// Where one version of the segments is, and its commit: the open's sort key (commit order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Place {
    lsn: Lsn,
    segment: u32,
    entry: u32,
    /// The version's position in its entry.
    nth: u32,
}

/// The versions of one commit read so far at open ([`Catalog::from_segments`]).
#[derive(Default)]
struct Commit {
    /// Its record's LSN, tenant and time, once it has a version.
    head: Option<(Lsn, TenantId, Timestamp)>,
    items: Vec<(Arc<IngestItem>, u32)>,
    places: Vec<Place>,
}

impl Commit {
    /// Indexes the commit (if it has versions) and points its documents at their segment
    /// entries, which lets their items go.
    fn index(&mut self, catalog: &mut Catalog, segments: &[Arc<Segment>]) {
        let Some((lsn, tenant, recorded_at)) = self.head.take() else {
            return;
        };
        catalog.add_commit(&tenant, lsn, recorded_at, std::mem::take(&mut self.items));
        let Some(cell) = catalog.tenants.get(&tenant) else {
            return;
        };
        // A commit lies in one segment (a checkpoint takes whole records); its entries are
        // sorted, so runs of neighbours go as one change.
        let mut places = self.places.drain(..).peekable();
        while let Some(first) = places.next() {
            let mut end = first.entry + 1;
            while let Some(p) = places.next_if(|p| p.segment == first.segment && p.entry <= end) {
                end = end.max(p.entry + 1);
            }
            if let Some(segment) = segments.get(first.segment as usize) {
                cell.change(TenantOp::Relocate {
                    segment: Arc::clone(segment),
                    entries: first.entry as usize..end as usize,
                });
            }
        }
    }
}

/// One indexed version of a claim: what ranking and the time filters read for every
/// candidate, and where its content is.
#[derive(Debug)]
pub(crate) struct Doc {
    /// The claim (index into [`TenantIndex::claims`]).
    pub(crate) claim: u32,
    /// The version number.
    pub(crate) version: u32,
    /// The commit that wrote it.
    pub(crate) lsn: Lsn,
    /// When it was committed.
    pub(crate) recorded_at: Timestamp,
    /// When a later version or tombstone replaced it ([`Timestamp::MAX`] while current).
    pub(crate) superseded_at: Timestamp,
    /// Valid time: `[from, to)`, open ends unbounded.
    pub(crate) valid: ValidTime,
    /// What its evidence says (the composite score's inputs).
    pub(crate) weight: EvidenceWeight,
    /// The claim's confidence.
    pub(crate) confidence: f32,
    /// Its content.
    pub(super) content: Content,
}

/// Where a document's content (claim text, evidence, edges) is.
#[derive(Debug)]
pub(super) enum Content {
    /// In memory: written since the last checkpoint (the memtable holds the same item).
    Held(Arc<IngestItem>),
    /// In a mapped segment, decoded when a reader asks: entry `entry` holds the claim's
    /// versions of the segment's LSN range.
    Stored { segment: Arc<Segment>, entry: u32 },
    /// Dropped by retention.
    Dropped,
    /// In a WAL record (a catalog image's document written after the last checkpoint): the
    /// open's replay of that record resolves it to `Held`.
    Logged,
}

impl Doc {
    /// False once retention dropped the version.
    pub(crate) fn has_content(&self) -> bool {
        !matches!(self.content, Content::Dropped)
    }

    /// True when `t` lies in the version's valid time.
    pub(crate) fn valid_at(&self, t: Timestamp) -> bool {
        self.valid.contains(t)
    }
}

/// A version's valid time `[from, to)` in microseconds, an open end as `i64::MIN` / `i64::MAX`:
/// 16 bytes where two `Option<Timestamp>` took 32 (a tenth of a document's entry, 160 MB at
/// 10M claims). The one instant this cannot tell apart — an end at exactly `i64::MAX` µs, year
/// 294,247 — reads as open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ValidTime {
    from: i64,
    to: i64,
}

impl ValidTime {
    pub(crate) fn new(from: Option<Timestamp>, to: Option<Timestamp>) -> Self {
        Self {
            from: from.map_or(i64::MIN, Timestamp::as_unix_micros),
            to: to.map_or(i64::MAX, Timestamp::as_unix_micros),
        }
    }

    /// The start, `None` when open.
    pub(crate) fn from(self) -> Option<Timestamp> {
        (self.from != i64::MIN).then(|| Timestamp::from_unix_micros(self.from))
    }

    /// The end, `None` when open.
    pub(crate) fn to(self) -> Option<Timestamp> {
        (self.to != i64::MAX).then(|| Timestamp::from_unix_micros(self.to))
    }

    fn contains(self, t: Timestamp) -> bool {
        let t = t.as_unix_micros();
        self.from <= t && (t < self.to || self.to == i64::MAX)
    }
}

/// The time a query looks at.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TimeView {
    /// Valid time: only versions valid at this instant.
    pub(crate) as_of: Option<Timestamp>,
    /// Recorded time: only versions the store knew then (`None`: now).
    pub(crate) recorded_as_of: Option<Timestamp>,
}

/// One tenant's documents and indexes.
#[derive(Debug)]
pub(crate) struct TenantIndex {
    pub(crate) docs: Vec<Doc>,
    pub(crate) claims: ClaimTable,
    /// Documents that are their claim's current version (not replaced, not forgotten).
    pub(crate) current: RoaringBitmap,
    /// Documents dropped by retention.
    pub(crate) removed: RoaringBitmap,
    /// Documents whose contradicting evidence outweighs their supporting evidence (excluded
    /// inside the index searches of `SupportOnly` queries).
    pub(crate) net_contradicting: RoaringBitmap,
    pub(crate) lexical: Bm25Index,
    pub(crate) filters: Deferred<FilterIndex>,
    pub(crate) dense: Option<DenseIndex>,
    /// For each claim, the documents that have an edge pointing at it.
    pub(super) incoming: HashMap<u32, Vec<DocId>, foldhash::fast::RandomState>,
    /// Claims some document says it supersedes.
    pub(super) superseded_targets: RoaringBitmap,
    /// Edges the engine detected (between documents).
    pub(crate) detected: DetectedGraph,
    /// Documents whose vector the store's embedder made.
    pub(crate) store_vectors: u64,
    /// At an open that indexes the segments: vectors left for the graph files to bring.
    pub(crate) graph_vectors: GraphVectors,
}

/// Versions in one commit from which its lexical and facet postings are built on two cores
/// (below it, handing a pass to another thread costs more than it saves).
const PARALLEL_POSTINGS_MIN: usize = 64;

/// Entries a relocation walks before it lets go of their pages (~15 MB of a segment).
const RELOCATE_STEP: usize = 1 << 16;

/// The text the lexical index holds for a version: the claim's text and its evidence excerpts.
fn indexed_text(item: &IngestItem) -> std::borrow::Cow<'_, str> {
    let excerpts: Vec<&str> = item
        .evidence
        .iter()
        .filter_map(|e| e.excerpt.as_deref())
        .collect();
    if excerpts.is_empty() {
        return std::borrow::Cow::Borrowed(&item.claim.canonical_text);
    }
    let mut text = item.claim.canonical_text.clone();
    for e in excerpts {
        text.push('\n');
        text.push_str(e);
    }
    std::borrow::Cow::Owned(text)
}

impl Default for TenantIndex {
    fn default() -> Self {
        Self::new()
    }
}

impl TenantIndex {
    pub(super) fn new() -> Self {
        Self {
            docs: Vec::new(),
            claims: ClaimTable::default(),
            current: RoaringBitmap::new(),
            removed: RoaringBitmap::new(),
            net_contradicting: RoaringBitmap::new(),
            lexical: Bm25Index::new(Analyzer::english()),
            filters: Deferred::default(),
            dense: None,
            incoming: HashMap::default(),
            superseded_targets: RoaringBitmap::new(),
            detected: DetectedGraph::default(),
            store_vectors: 0,
            graph_vectors: GraphVectors::default(),
        }
    }

    /// The detected edges whose two ends are current versions, with the versions they join
    /// and the judge that made them.
    pub(crate) fn detected_edges(&self) -> Vec<crate::detect::DetectedEdge> {
        let version = |d: DocId| self.docs.get(d as usize).map_or(0, |x| x.version);
        self.detected
            .all()
            .filter(|e| self.current.contains(e.from) && self.current.contains(e.to))
            .map(|e| crate::detect::DetectedEdge {
                edge: e.edge.clone(),
                from_version: version(e.from),
                to_version: version(e.to),
                judge: e.judge.to_string(),
            })
            .collect()
    }

    /// The sealed graphs, with the stamps of those not saved to a file yet.
    pub(crate) fn graphs_to_save(&self) -> Vec<super::graph_files::ToSave> {
        let Some(dense) = &self.dense else {
            return Vec::new();
        };
        dense
            .graphs()
            .iter()
            .map(|g| {
                let stamps = match g.file() {
                    Some(_) => None,
                    None => super::graph_files::stamps(self, g.doc_ids()),
                };
                (Arc::clone(g), stamps)
            })
            .collect()
    }

    /// Applies one change (from the writer, or from the tenant's inbox).
    pub(super) fn apply(&mut self, op: TenantOp) {
        match op {
            TenantOp::Commit {
                lsn,
                recorded_at,
                items,
            } => self.add_versions(&items, lsn, recorded_at),
            TenantOp::Tombstone { claim, at } => self.add_tombstone(&claim, at),
            TenantOp::Drop { claim, versions } => self.drop_versions(&claim, &versions),
            TenantOp::Derived(d) => self.apply_derived(&d),
            TenantOp::Relocate { segment, entries } => {
                // The walk reads every entry's key: its pages go as it passes them (a merged
                // segment of a 10M-claim store, 2.3 GB, otherwise stayed resident whole).
                let mut from = entries.start;
                while from < entries.end {
                    let to = entries.end.min(from.saturating_add(RELOCATE_STEP));
                    for i in from..to {
                        // A key that fails to decode was caught by the segment's checksum.
                        if let (Ok((_, claim)), Ok(entry)) = (segment.key(i), u32::try_from(i)) {
                            self.relocate(&segment, entry, claim);
                        }
                    }
                    segment.release_entries(from..to);
                    from = to;
                }
            }
        }
    }

    /// The claim's current document, if it has one.
    fn current_doc(&self, claim: u32) -> Option<DocId> {
        let last = *self.claims.get(claim)?.docs.last()?;
        self.current.contains(last).then_some(last)
    }

    /// Closes the claim's current document's recorded interval at `at`.
    fn close_current(&mut self, claim: u32, at: Timestamp) {
        if let Some(doc) = self.current_doc(claim) {
            self.current.remove(doc);
            if let Some(d) = self.docs.get_mut(doc as usize) {
                d.superseded_at = at;
            }
        }
    }

    /// Indexes one commit's versions: documents, claims, edges and vectors one version after
    /// another, then the lexical and the facet postings, each a pass of its own — on two cores
    /// for a large commit, as the two share nothing (one producer's batched ingest: +26 %).
    fn add_versions(&mut self, items: &[(Arc<IngestItem>, u32)], lsn: Lsn, recorded_at: Timestamp) {
        let added: Vec<(DocId, &IngestItem)> = items
            .iter()
            .filter_map(|(item, version)| {
                let doc = self.add_version(item, *version, lsn, recorded_at)?;
                Some((doc, item.as_ref()))
            })
            .collect();
        let lexical = |lexical: &mut Bm25Index| {
            for (doc, item) in &added {
                lexical.insert(*doc, &indexed_text(item));
            }
        };
        let facets = |filters: &mut Deferred<FilterIndex>| {
            filters.with_mut(|filters| {
                for (doc, item) in &added {
                    let sources: Vec<&str> =
                        item.evidence.iter().map(|e| e.source_id.as_str()).collect();
                    filters.insert(
                        *doc,
                        Facets {
                            entities: &item.claim.entities,
                            metadata: &item.claim.metadata,
                            sources: &sources,
                        },
                    );
                }
            });
        };
        if added.len() >= PARALLEL_POSTINGS_MIN {
            rayon::join(|| lexical(&mut self.lexical), || facets(&mut self.filters));
        } else {
            lexical(&mut self.lexical);
            facets(&mut self.filters);
        }
    }

    /// Adds a version's document, its claim's bookkeeping, its edges and its vector (not its
    /// postings: [`TenantIndex::add_versions`]); returns the document.
    fn add_version(
        &mut self,
        item: &Arc<IngestItem>,
        version: u32,
        lsn: Lsn,
        recorded_at: Timestamp,
    ) -> Option<DocId> {
        let claim = self.claims.find_or_add(&item.claim.claim_id)?;
        let doc = DocId::try_from(self.docs.len()).ok()?;
        self.close_current(claim, recorded_at);
        let weight = evidence_weight(item);
        crate::heap::reserve_gently(&mut self.docs, 1);
        self.docs.push(Doc {
            claim,
            version,
            lsn,
            recorded_at,
            superseded_at: Timestamp::MAX,
            valid: ValidTime::new(item.claim.valid_from, item.claim.valid_to),
            weight,
            confidence: item.claim.confidence,
            content: Content::Held(Arc::clone(item)),
        });
        if let Some(slot) = self.claims.get_mut(claim) {
            slot.docs.push(doc);
        }
        self.current.insert(doc);
        if weight.net_contradicting {
            self.net_contradicting.insert(doc);
        }
        if let Some(v) = &item.claim.embedding {
            let dense = self.dense.get_or_insert_with(|| DenseIndex::new(v.len()));
            // A vector the index cannot normalise (all zeros) leaves the claim lexical-only.
            if dense.dim() == v.len() && !self.graph_vectors.defer(doc) {
                let _ = dense.insert(doc, v);
            }
        }
        for edge in &item.edges {
            if let Some(target) = self.claims.find_or_add(&edge.to_claim_id) {
                self.incoming.entry(target).or_default().push(doc);
                if edge.relation == Relation::Supersedes {
                    self.superseded_targets.insert(target);
                }
            }
        }
        Some(doc)
    }

    fn add_tombstone(&mut self, claim: &ClaimId, recorded_at: Timestamp) {
        if let Some(ix) = self.claims.find(claim.as_str()) {
            self.close_current(ix, recorded_at);
        }
    }

    /// Removes the given versions' documents from every index (retention dropped them).
    fn drop_versions(&mut self, claim: &ClaimId, versions: &[u32]) {
        let Some(ix) = self.claims.find(claim.as_str()) else {
            return;
        };
        let Some(slot) = self.claims.get(ix) else {
            return;
        };
        let docs: Vec<DocId> = slot
            .docs
            .iter()
            .copied()
            .filter(|d| {
                self.docs
                    .get(*d as usize)
                    .is_some_and(|doc| versions.contains(&doc.version))
            })
            .collect();
        for doc in docs {
            self.removed.insert(doc);
            self.current.remove(doc);
            self.lexical.remove(doc);
            self.filters.with_mut(|filters| filters.remove(doc));
            if let Some(dense) = &mut self.dense {
                dense.remove(doc);
            }
            self.detected.remove_doc(doc);
            if let Some(d) = self.docs.get_mut(doc as usize) {
                d.content = Content::Dropped;
            }
        }
        if let Some(slot) = self.claims.get_mut(ix) {
            let removed = &self.removed;
            slot.docs.retain(|d| !removed.contains(*d));
        }
    }

    /// The document's content, unless retention dropped it: the held item, or the version
    /// decoded from its mapped segment. (A segment was verified whole when it was loaded; should
    /// it fail to decode now — its file changed under the mapping — the document is treated as
    /// gone.)
    pub(crate) fn item(&self, doc: DocId) -> Option<Arc<IngestItem>> {
        let d = self.docs.get(doc as usize)?;
        match &d.content {
            Content::Held(item) => Some(Arc::clone(item)),
            Content::Stored { segment, entry } => segment
                .versions(*entry as usize)
                .ok()?
                .into_iter()
                .find(|v| v.version == d.version)
                .and_then(|v| match v.body {
                    VersionBody::Live(item) => Some(item),
                    VersionBody::Tombstone => None,
                }),
            Content::Dropped | Content::Logged => None,
        }
    }

    /// Starts reading the content of `docs` from their segments, all at once and without
    /// waiting, before they are read one by one ([`TenantIndex::item`]).
    pub(crate) fn prefetch(&self, docs: impl IntoIterator<Item = DocId>) {
        for doc in docs {
            if let Some(Doc {
                content: Content::Stored { segment, entry },
                ..
            }) = self.docs.get(doc as usize)
            {
                segment.prefetch(*entry as usize);
            }
        }
    }

    /// Points the documents whose versions `segment` holds at it, releasing the items held in
    /// memory (or the older segments) for them: a segment holds every version of its LSN range,
    /// so a document of one of its keys with an LSN in that range is in it.
    fn relocate(&mut self, segment: &Arc<Segment>, entry: u32, claim: &str) {
        let Some(ix) = self.claims.find(claim) else {
            return;
        };
        let Some(slot) = self.claims.get(ix) else {
            return;
        };
        for &doc in &slot.docs {
            if let Some(d) = self.docs.get_mut(doc as usize) {
                if d.has_content() && (segment.min_lsn..=segment.max_lsn).contains(&d.lsn) {
                    d.content = Content::Stored {
                        segment: Arc::clone(segment),
                        entry,
                    };
                }
            }
        }
    }

    /// The document of a claim version, if it is indexed and holds content.
    pub(crate) fn doc_of(&self, claim: &ClaimId, version: u32) -> Option<DocId> {
        let slot = self.claims.get(self.claims.find(claim.as_str())?)?;
        slot.docs.iter().copied().find(|&d| {
            self.docs
                .get(d as usize)
                .is_some_and(|x| x.version == version && x.has_content())
        })
    }

    /// Reads the vectors of `docs` (this tenant's, `tenant`) back from the segments into the
    /// exact part: a caller's from the claim's item, the store's embedder's from the segments'
    /// derived sections.
    fn restore_vectors(
        &mut self,
        tenant: &TenantId,
        docs: &RoaringBitmap,
        segments: &[Arc<Segment>],
    ) {
        let mut made_here = RoaringBitmap::new();
        for doc in docs {
            // A dropped version's document has no item, and no vector to restore.
            if let Some(item) = self.item(doc) {
                match &item.claim.embedding {
                    Some(v) => self.restore_vector(doc, v),
                    None => {
                        made_here.insert(doc);
                    }
                }
            }
        }
        if made_here.is_empty() {
            return;
        }
        for seg in segments {
            // A derived section that fails to decode was caught by the checksum at load.
            for d in seg.derived().unwrap_or_default() {
                if &d.tenant != tenant {
                    continue;
                }
                for v in &d.vectors {
                    if let Some(doc) = self.doc_of(&v.claim, v.version) {
                        if made_here.remove(doc) {
                            self.restore_vector(doc, &v.vector);
                        }
                    }
                }
            }
        }
    }

    /// Puts `doc`'s vector into the exact part (read back after its graph was not adopted).
    fn restore_vector(&mut self, doc: DocId, vector: &[f32]) {
        if let Some(dense) = &mut self.dense {
            if dense.dim() == vector.len() {
                let _ = dense.insert(doc, vector);
            }
        }
    }

    /// True when some of the tenant's vectors came from callers (not the store's embedder).
    pub(crate) fn has_caller_vectors(&self) -> bool {
        self.dense.as_ref().is_some_and(|d| {
            let (graph, exact) = d.sizes();
            graph + exact > self.store_vectors
        })
    }

    /// The claim id of a document.
    pub(crate) fn claim_id(&self, doc: DocId) -> Option<&str> {
        let d = self.docs.get(doc as usize)?;
        Some(&self.claims.get(d.claim)?.id)
    }

    /// Applies what the detection stage derived for this tenant: store-made vectors (into the
    /// dense index, which seals and dense candidates read), then edges, then an epoch
    /// activation. Entries naming versions retention dropped are skipped.
    fn apply_derived(&mut self, d: &TenantDerived) {
        for v in &d.vectors {
            let Some(doc) = self.doc_of(&v.claim, v.version) else {
                continue;
            };
            let dense = self
                .dense
                .get_or_insert_with(|| DenseIndex::new(v.vector.len()));
            if dense.dim() != v.vector.len()
                || dense.contains(doc)
                || self.graph_vectors.awaits(doc)
            {
                continue; // a caller's vector, or the same vector applied twice
            }
            if self.graph_vectors.defer(doc) || dense.insert(doc, &v.vector).is_ok() {
                self.store_vectors += 1;
            }
        }
        for e in &d.edges {
            let (Some(from), Some(to)) = (
                self.doc_of(&e.from, e.from_version),
                self.doc_of(&e.to, e.to_version),
            ) else {
                continue;
            };
            let mut edge = Edge::new(e.from.clone(), e.to.clone(), e.relation);
            edge.strength = e.strength;
            edge.detected = true;
            edge.reason = Some(e.reason.clone());
            self.detected.add(
                DocEdge {
                    from,
                    to,
                    edge,
                    judge: Arc::clone(&e.judge),
                    live: true,
                },
                e.epoch,
            );
        }
        if let Some(epoch) = d.activate {
            self.detected.activate(epoch);
        }
    }

    /// Visible in recorded time and valid time, ignoring `supersedes` edges.
    fn visible_in_time(&self, doc: DocId, view: &TimeView) -> bool {
        let Some(d) = self.docs.get(doc as usize) else {
            return false;
        };
        if !d.has_content() {
            return false;
        }
        let known = match view.recorded_as_of {
            None => d.superseded_at == Timestamp::MAX,
            Some(r) => d.recorded_at <= r && r < d.superseded_at,
        };
        known && view.as_of.is_none_or(|t| d.valid_at(t))
    }

    /// True when the document answers a query at `view`: its version is the one known at
    /// `recorded_as_of`, it is valid at `as_of`, and — for a query with `as_of` — no successor
    /// valid at that instant supersedes it. (Without `as_of`, superseded claims stay visible and
    /// rank below their successor.)
    pub(crate) fn visible(&self, doc: DocId, view: &TimeView) -> bool {
        if view.as_of.is_none() && view.recorded_as_of.is_none() {
            // Now, at every time: the current versions. The bitmap (~1 bit a document) stays in
            // cache where the document table (80 bytes a document) does not: a graph walk asks
            // for thousands of documents per query.
            let current = self.current.contains(doc);
            debug_assert_eq!(current, self.visible_in_time(doc, view), "doc {doc}");
            return current;
        }
        self.visible_in_time(doc, view)
            && (view.as_of.is_none() || self.successor(doc, view).is_none())
    }

    /// A document visible in time at `view` that supersedes `doc`: by a caller's `supersedes`
    /// edge to its claim, or by a detected succession.
    pub(crate) fn successor(&self, doc: DocId, view: &TimeView) -> Option<DocId> {
        let claim = self.docs.get(doc as usize)?.claim;
        if self.superseded_targets.contains(claim) {
            if let Some(s) = self.superseded_by(claim, view) {
                return Some(s);
            }
        }
        if self.detected.superseded.contains(doc) {
            return self
                .detected
                .edges_of(doc)
                .find(|e| {
                    e.edge.relation == Relation::Supersedes
                        && e.to == doc
                        && self.visible_in_time(e.from, view)
                })
                .map(|e| e.from);
        }
        None
    }

    /// A visible document of another claim with a `supersedes` edge to `claim`.
    fn superseded_by(&self, claim: u32, view: &TimeView) -> Option<DocId> {
        let target = &self.claims.get(claim)?.id;
        self.incoming.get(&claim)?.iter().copied().find(|&s| {
            self.docs.get(s as usize).is_some_and(|d| d.claim != claim)
                && self.visible_in_time(s, view)
                && self.item(s).is_some_and(|item| {
                    item.edges.iter().any(|e| {
                        e.relation == Relation::Supersedes && e.to_claim_id.as_str() == &**target
                    })
                })
        })
    }

    /// The claim's document visible at `view` ([`Self::visible`]), if any.
    pub(crate) fn visible_doc_of_claim(&self, claim: u32, view: &TimeView) -> Option<DocId> {
        let slot = self.claims.get(claim)?;
        slot.docs
            .iter()
            .rev()
            .copied()
            .find(|&d| self.visible(d, view))
    }

    /// The index of a claim id, if the tenant has seen it.
    pub(crate) fn claim_index(&self, id: &ClaimId) -> Option<u32> {
        self.claims.find(id.as_str())
    }

    /// Documents with an edge pointing at `claim`.
    pub(crate) fn incoming(&self, claim: u32) -> &[DocId] {
        self.incoming.get(&claim).map_or(&[], Vec::as_slice)
    }
}

impl Catalog {
    /// A catalog that queues changes until [`Catalog::absorb`] hands them to a built one.
    /// `queueing`: a detection stage runs, so commits wait in [`Catalog::queue`] for it.
    pub(crate) fn deferred(queueing: bool, detected_through: Lsn) -> Self {
        Self {
            deferred: Some(Vec::new()),
            queueing,
            detected_through,
            ..Self::default()
        }
    }

    /// An empty, ready catalog.
    pub(super) fn ready(queueing: bool, detected_through: Lsn) -> Self {
        Self {
            queueing,
            detected_through,
            ..Self::default()
        }
    }

    /// True when commits are queued for a detection stage.
    pub(crate) fn queueing(&self) -> bool {
        self.queueing
    }

    /// Changes queued while deferred.
    pub(crate) fn pending(&self) -> usize {
        self.deferred.as_ref().map_or(0, Vec::len)
    }

    /// False while the segments' indexes are being built.
    pub(crate) fn is_ready(&self) -> bool {
        self.deferred.is_none()
    }

    /// Indexes every version held in `segments`, in commit order, with the segments' derived
    /// data (edges, store-made vectors), into a new, ready catalog; `None` when `cancelled`
    /// turned true on the way. Commits after `detected_through` are queued for the stage.
    /// `graph_held`: per tenant, the documents the graph files read at this open hold (their
    /// vectors are not copied into the exact part: see [`GraphVectors`]).
    ///
    /// Memory stays bounded by a chunk of items, whatever the store's size: first every
    /// version's place and LSN (an entry's head is enough for one version) are read and sorted
    /// into commit order, 24 bytes a version; then the versions are decoded a chunk at a time in
    /// that order, indexed, and their documents pointed at the segment at once, so each decoded
    /// item goes with its chunk. (Decoding every version first, then sorting, held all of them:
    /// many GB at 10M claims, more than the open store.)
    pub(crate) fn from_segments(
        segments: &[Arc<Segment>],
        cancelled: &dyn Fn() -> bool,
        queueing: bool,
        detected_through: Lsn,
        graph_held: HashMap<TenantId, RoaringBitmap>,
    ) -> Result<Option<Self>, Corruption> {
        use rayon::prelude::*;
        /// Entries read, or versions decoded, per parallel chunk.
        const CHUNK: usize = 4096;
        /// Chunks decoded between two releases of the segments' mapped pages (~1M versions).
        const CHUNKS_PER_RELEASE: usize = 256;
        let mut order: Vec<Place> = Vec::new();
        for (s, seg) in segments.iter().enumerate() {
            let segment = u32::try_from(s).unwrap_or(u32::MAX);
            // Entry heads are read in file order: the pages behind go as the pass moves on.
            let pass = seg.read_through();
            let mut from = 0;
            while from < seg.entry_count() {
                if cancelled() {
                    return Ok(None);
                }
                let to = (from + CHUNK).min(seg.entry_count());
                let places: Result<Vec<Vec<Place>>, Corruption> = (from..to)
                    .into_par_iter()
                    .map(|i| {
                        let entry = u32::try_from(i).unwrap_or(u32::MAX);
                        Ok(seg
                            .version_lsns(i)?
                            .into_iter()
                            .enumerate()
                            .map(|(nth, lsn)| Place {
                                lsn,
                                segment,
                                entry,
                                nth: u32::try_from(nth).unwrap_or(u32::MAX),
                            })
                            .collect())
                    })
                    .collect();
                order.extend(places?.into_iter().flatten());
                pass.passed(seg.entry_start(to));
                from = to;
            }
        }
        // Commit order, as the live path numbers documents (a commit's versions are numbered
        // in claim-id order by `add_commit`; a forget is a record of its own).
        order.par_sort_unstable();
        let mut catalog = Catalog {
            queueing,
            detected_through,
            graph_held,
            ..Catalog::default()
        };
        let mut commit = Commit::default();
        for (n, chunk) in order.chunks(CHUNK).enumerate() {
            if cancelled() {
                return Ok(None);
            }
            // Commit order reads the segments in no file order: their pages are let go now and
            // then (at 10M claims the pass otherwise left 11 GB of them in the resident set).
            if n % CHUNKS_PER_RELEASE == CHUNKS_PER_RELEASE - 1 {
                segments.iter().for_each(|s| s.release_pages());
            }
            let read: Result<Vec<_>, Corruption> = chunk
                .par_iter()
                .map(|p| {
                    let seg = &segments[p.segment as usize];
                    let (tenant, claim) = seg.key(p.entry as usize)?;
                    let version = seg
                        .versions(p.entry as usize)?
                        .into_iter()
                        .nth(p.nth as usize);
                    Ok(version.map(|v| (*p, TenantId::new(tenant), ClaimId::new(claim), v)))
                })
                .collect();
            for (place, tenant, claim, v) in read?.into_iter().flatten() {
                if commit.head.as_ref().is_some_and(|h| h.0 != v.lsn) {
                    commit.index(&mut catalog, segments);
                }
                match v.body {
                    VersionBody::Live(item) => {
                        commit.items.push((item, v.version));
                        commit.places.push(place);
                        commit.head = Some((v.lsn, tenant, v.recorded_at));
                    }
                    VersionBody::Tombstone => {
                        commit.index(&mut catalog, segments);
                        catalog.add_tombstone(&tenant, v.lsn, &claim, v.recorded_at);
                    }
                }
            }
        }
        commit.index(&mut catalog, segments);
        drop(order);
        segments.iter().for_each(|s| s.release_pages());
        for seg in segments {
            if cancelled() {
                return Ok(None);
            }
            for d in seg.derived()? {
                catalog.apply_tenant_derived(d);
            }
        }
        // The WAL's vectors, indexed next, go to the exact part as usual.
        catalog.graph_held = HashMap::new();
        for cell in catalog.tenants.values() {
            cell.write(&mut catalog.tenant_wait)
                .graph_vectors
                .stop_deferring();
        }
        Ok(Some(catalog))
    }

    /// Applies the changes `queued` has deferred so far, in order, leaving it deferred (and
    /// empty); returns how many there were. Call it off the state lock while the count is large,
    /// then [`Catalog::absorb`] under the lock for the rest.
    pub(crate) fn absorb_some(&mut self, queued: &mut Catalog) -> usize {
        let changes = match &mut queued.deferred {
            Some(q) => std::mem::take(q),
            None => Vec::new(),
        };
        let n = changes.len();
        self.apply_changes(changes);
        n
    }

    /// Applies every change `queued` deferred, in order; `queued` becomes empty and ready.
    pub(crate) fn absorb(&mut self, queued: &mut Catalog) {
        let changes = queued.deferred.take().unwrap_or_default();
        self.apply_changes(changes);
    }

    fn apply_changes(&mut self, changes: Vec<Change>) {
        for change in changes {
            let imaged = |lsn: Lsn| lsn <= self.image_through;
            match change {
                Change::Commit(t, lsn, _, items) if imaged(lsn) => self.resolve_logged(&t, &items),
                Change::Commit(t, lsn, at, items) => self.add_commit(&t, lsn, at, items),
                Change::Tombstone(_, lsn, _, _) | Change::Derived(lsn, _, _) if imaged(lsn) => {}
                Change::Tombstone(t, lsn, claim, at) => self.add_tombstone(&t, lsn, &claim, at),
                Change::Drop(t, claim, versions) => self.drop_versions(&t, &claim, &versions),
                Change::Derived(lsn, through, derived) => self.apply_derived(lsn, through, derived),
                Change::Relocate(segment) => self.relocate(&segment),
            }
        }
    }

    /// Indexes the versions one commit wrote in `tenant` (in claim-id order, so documents are
    /// numbered as at open), and queues them for the detection stage.
    pub(crate) fn add_commit(
        &mut self,
        tenant: &TenantId,
        lsn: Lsn,
        recorded_at: Timestamp,
        mut items: Vec<(Arc<IngestItem>, u32)>,
    ) {
        if let Some(queue) = &mut self.deferred {
            queue.push(Change::Commit(tenant.clone(), lsn, recorded_at, items));
            return;
        }
        items.sort_by(|a, b| (&a.0.claim.claim_id, a.1).cmp(&(&b.0.claim.claim_id, b.1)));
        let cell = self.cell(tenant);
        // Documents are numbered here, before they are indexed (the change may wait in the
        // inbox): each version takes the next number (claim numbers, which could refuse one,
        // run out only past 2^32 claims in a tenant, after document numbers).
        if items.is_empty() {
            return;
        }
        let Ok(count) = u32::try_from(items.len()) else {
            return;
        };
        let Some(first) = cell.number(count) else {
            return; // the tenant's document numbers ran out: the versions stay unindexed
        };
        if self.queueing && lsn > self.detected_through {
            cell.count_undetected(u64::from(count), 0);
            self.queue.push_back(Pending {
                lsn,
                tenant: tenant.clone(),
                recorded_at,
                first,
                count,
            });
        }
        cell.change(TenantOp::Commit {
            lsn,
            recorded_at,
            items,
        });
    }

    /// Applies a derived record: every tenant's part, then the watermark (the commits it
    /// completes leave the queue).
    pub(crate) fn apply_derived(
        &mut self,
        lsn: Lsn,
        detected_through: Lsn,
        derived: Vec<TenantDerived>,
    ) {
        if let Some(queue) = &mut self.deferred {
            queue.push(Change::Derived(lsn, detected_through, derived));
            return;
        }
        for d in derived {
            self.apply_tenant_derived(d);
        }
        if detected_through > self.detected_through {
            self.detected_through = detected_through;
        }
        while self
            .queue
            .front()
            .is_some_and(|p| p.lsn <= self.detected_through)
        {
            if let Some(p) = self.queue.pop_front() {
                if let Some(cell) = self.tenants.get(&p.tenant) {
                    cell.count_undetected(0, u64::from(p.count));
                }
            }
        }
    }

    /// Gives the image's documents of a replayed commit (already indexed) their content.
    fn resolve_logged(&mut self, tenant: &TenantId, items: &[(Arc<IngestItem>, u32)]) {
        let Some(cell) = self.tenants.get(tenant) else {
            return;
        };
        let mut index = cell.write(&mut self.tenant_wait);
        let index = &mut *index;
        for (item, version) in items {
            let Some(slot) = index
                .claims
                .find(item.claim.claim_id.as_str())
                .and_then(|ix| index.claims.get(ix))
            else {
                continue;
            };
            for &doc in &slot.docs {
                if let Some(d) = index.docs.get_mut(doc as usize) {
                    if d.version == *version && matches!(d.content, Content::Logged) {
                        d.content = Content::Held(Arc::clone(item));
                    }
                }
            }
        }
    }

    /// Documents still waiting for their content from the WAL (none once the replay of an
    /// image's records is absorbed), in the decoded tenants: the replay decoded every tenant it
    /// wrote to, and one it did not write to holds no document that waits for it.
    pub(crate) fn unresolved(&self) -> u64 {
        self.tenants
            .values()
            .filter(|t| t.is_decoded())
            .map(|t| {
                let t = read_tenant(t);
                t.docs
                    .iter()
                    .filter(|d| matches!(d.content, Content::Logged))
                    .count() as u64
            })
            .sum()
    }

    fn apply_tenant_derived(&mut self, d: TenantDerived) {
        self.cell(&d.tenant).change(TenantOp::Derived(d));
    }

    /// Documents still waiting for the detection stage in `tenant`.
    pub(crate) fn undetected(&self, tenant: &TenantId) -> u64 {
        self.tenants.get(tenant).map_or(0, |t| t.undetected())
    }

    /// Every tenant, with its cell and its indexes read-locked (every change applied).
    pub(crate) fn tenants(
        &self,
    ) -> impl Iterator<Item = (&TenantId, &TenantCell, RwLockReadGuard<'_, TenantIndex>)> + '_ {
        self.tenants
            .iter()
            .map(|(id, t)| (id, &**t, read_tenant(t)))
    }

    /// Every tenant's id.
    pub(crate) fn tenant_ids(&self) -> impl Iterator<Item = &TenantId> + '_ {
        self.tenants.keys()
    }

    /// `tenant`'s indexes, created empty when new.
    fn cell(&mut self, tenant: &TenantId) -> SharedTenant {
        match self.tenants.get(tenant) {
            Some(cell) => Arc::clone(cell),
            None => {
                let mut index = TenantIndex::new();
                if let Some(held) = self.graph_held.remove(tenant) {
                    index.graph_vectors = GraphVectors::new(held);
                }
                let cell = Arc::new(TenantCell::new(index, 0));
                self.tenants.insert(tenant.clone(), Arc::clone(&cell));
                cell
            }
        }
    }

    /// `tenant`'s indexes, write-locked (waiting for its queries to finish), inbox applied.
    fn tenant_mut(&mut self, tenant: &TenantId) -> Option<RwLockWriteGuard<'_, TenantIndex>> {
        let cell = self.tenants.get(tenant)?;
        Some(cell.write(&mut self.tenant_wait))
    }

    /// The time spent waiting for tenants' write locks since the last call.
    pub(crate) fn take_tenant_wait(&mut self) -> Duration {
        std::mem::take(&mut self.tenant_wait)
    }

    /// Applies a tombstone (written by the record at `lsn`).
    pub(crate) fn add_tombstone(
        &mut self,
        tenant: &TenantId,
        lsn: Lsn,
        claim: &ClaimId,
        at: Timestamp,
    ) {
        if let Some(queue) = &mut self.deferred {
            queue.push(Change::Tombstone(tenant.clone(), lsn, claim.clone(), at));
            return;
        }
        if let Some(cell) = self.tenants.get(tenant) {
            cell.change(TenantOp::Tombstone {
                claim: claim.clone(),
                at,
            });
        }
    }

    /// Removes versions that retention dropped.
    pub(crate) fn drop_versions(&mut self, tenant: &TenantId, claim: &ClaimId, versions: &[u32]) {
        if let Some(queue) = &mut self.deferred {
            queue.push(Change::Drop(
                tenant.clone(),
                claim.clone(),
                versions.to_vec(),
            ));
            return;
        }
        if let Some(cell) = self.tenants.get(tenant) {
            cell.change(TenantOp::Drop {
                claim: claim.clone(),
                versions: versions.to_vec(),
            });
        }
    }

    /// Points every document whose version `segment` holds at it (a checkpoint or merge has
    /// just published it), so the catalog reads their content from the mapped file and the
    /// memtable's items (or the merged segments' mappings) can go.
    pub(crate) fn relocate(&mut self, segment: &Arc<Segment>) {
        if let Some(queue) = &mut self.deferred {
            queue.push(Change::Relocate(Arc::clone(segment)));
            return;
        }
        // Keys are sorted by tenant: one change per tenant, its run of entries.
        let n = segment.entry_count();
        let mut start = 0;
        while start < n {
            // A key that fails to decode was caught by the segment's checksum at load; skip.
            let Ok((tenant, _)) = segment.key(start) else {
                start += 1;
                continue;
            };
            // The run's end, by binary search (a key that fails to decode ends a run early:
            // the next run starts there, and the tenant may get two changes, which is fine).
            let (mut end, mut hi) = (start + 1, n);
            while end < hi {
                let mid = end + (hi - end) / 2;
                if segment.key(mid).is_ok_and(|(t, _)| t == tenant) {
                    end = mid + 1;
                } else {
                    hi = mid;
                }
            }
            if let Some(cell) = self.tenants.get(tenant) {
                cell.change(TenantOp::Relocate {
                    segment: Arc::clone(segment),
                    entries: start..end,
                });
            }
            start = end;
        }
    }

    /// Hands a graph loaded from its file to `tenant`'s dense index
    /// ([`super::graph_files::adopt`] checked it against this catalog).
    pub(crate) fn adopt_graph(&mut self, tenant: &TenantId, graph: HnswIndex) {
        if let Some(mut t) = self.tenant_mut(tenant) {
            t.graph_vectors.adopted(graph.doc_ids());
            if let Some(dense) = &mut t.dense {
                dense.adopt(graph);
            }
        }
    }

    /// After the graphs read at open were adopted: the vectors of documents whose graph was
    /// not (it did not fit this open's numbering) are read back from their segments into the
    /// exact part, as if they had been copied there while the segments were indexed.
    pub(crate) fn restore_awaited_vectors(&mut self, segments: &[Arc<Segment>]) {
        let cells: Vec<_> = self
            .tenants
            .iter()
            .map(|(id, c)| (id.clone(), Arc::clone(c)))
            .collect();
        for (tenant, cell) in cells {
            let mut t = cell.write(&mut self.tenant_wait);
            let awaited = t.graph_vectors.take_awaited();
            t.restore_vectors(&tenant, &awaited, segments);
        }
    }

    /// The vectors `docs` of `tenant` left to a graph that will not be adopted, read back from
    /// their segments now.
    pub(crate) fn restore_graph_vectors(
        &mut self,
        tenant: &TenantId,
        docs: &[DocId],
        segments: &[Arc<Segment>],
    ) {
        if let Some(mut t) = self.tenant_mut(tenant) {
            let awaited = t.graph_vectors.take_awaited_of(docs);
            t.restore_vectors(tenant, &awaited, segments);
        }
    }

    /// Hands a graph a catalog image names to `tenant`'s dense index
    /// ([`super::graph_files::attach`] checked it).
    pub(crate) fn attach_graph(&mut self, tenant: &TenantId, graph: HnswIndex) {
        self.with_dense(tenant, |dense| dense.attach(graph));
    }

    /// Runs `f` on `tenant`'s dense index, if it has one.
    fn with_dense(&mut self, tenant: &TenantId, f: impl FnOnce(&mut DenseIndex)) {
        if let Some(dense) = self
            .tenant_mut(tenant)
            .as_mut()
            .and_then(|t| t.dense.as_mut())
        {
            f(dense);
        }
    }

    /// Puts `view` (the same graph, viewed from its file) in the place of `built` in `tenant`'s
    /// dense index; nothing if a merge replaced `built` meanwhile.
    pub(crate) fn replace_graph(
        &mut self,
        tenant: &TenantId,
        built: &Arc<HnswIndex>,
        view: HnswIndex,
    ) {
        self.with_dense(tenant, |dense| dense.replace(built, view));
    }

    /// One tenant's indexes, read-locked.
    pub(crate) fn tenant(&self, tenant: &TenantId) -> Option<RwLockReadGuard<'_, TenantIndex>> {
        self.tenants.get(tenant).map(|t| read_tenant(t))
    }

    /// One tenant's indexes, to read after letting the store's state lock go (a query).
    pub(crate) fn shared_tenant(&self, tenant: &TenantId) -> Option<SharedTenant> {
        self.tenants.get(tenant).map(Arc::clone)
    }

    /// True when `tenant`'s exact dense part may be due for sealing: a hint the writer asks
    /// after each change, neither waiting for the tenant's readers nor applying its inbox. When
    /// changes wait in the inbox (or the tenant is being written) it cannot tell and says yes:
    /// the indexer applies the inboxes before it looks (`Shared::apply_inboxes`) and decides.
    pub(crate) fn wants_seal(&self, tenant: &TenantId, threshold: usize) -> bool {
        let Some(cell) = self.tenants.get(tenant) else {
            return false;
        };
        if cell.has_changes() {
            return true;
        }
        cell.peek()
            .is_none_or(|t| t.dense.as_ref().is_some_and(|d| d.wants_seal(threshold)))
    }

    /// The cells of the tenants whose inboxes hold changes.
    pub(crate) fn cells_with_changes(&self) -> Vec<SharedTenant> {
        self.tenants
            .values()
            .filter(|c| c.has_changes())
            .map(Arc::clone)
            .collect()
    }

    /// Tenants whose exact dense part is due for sealing.
    pub(crate) fn seal_candidates(&self, threshold: usize) -> Vec<TenantId> {
        self.tenants
            .iter()
            .filter(|(_, t)| {
                t.read_if_decoded()
                    .is_some_and(|t| t.dense.as_ref().is_some_and(|d| d.wants_seal(threshold)))
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Tenants whose graphs are worth merging into one ([`DenseIndex::wants_merge`]).
    pub(crate) fn merge_candidates(&self) -> Vec<TenantId> {
        self.tenants
            .iter()
            .filter(|(_, t)| {
                t.read_if_decoded()
                    .is_some_and(|t| t.dense.as_ref().is_some_and(DenseIndex::wants_merge))
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Every tenant's cell, to read after letting the store's state lock go (statistics: a
    /// tenant's inbox may make its reader wait for the tenant's queries, and the writer must not
    /// wait behind that).
    pub(crate) fn cells(&self) -> Vec<SharedTenant> {
        self.tenants.values().map(Arc::clone).collect()
    }

    /// True while any background build runs.
    pub(crate) fn building(&self) -> bool {
        self.tenants.values().any(|t| {
            t.read_if_decoded()
                .is_some_and(|t| t.dense.as_ref().is_some_and(DenseIndex::is_building))
        })
    }

    /// Plans a background build for `tenant` and marks it building.
    pub(crate) fn plan_seal(&mut self, tenant: &TenantId, fold: Fold) -> Option<SealPlan> {
        let mut t = self.tenant_mut(tenant)?;
        let TenantIndex { dense, removed, .. } = &mut *t;
        Some(dense.as_mut()?.plan_seal(removed, fold))
    }

    /// Installs a finished build (or, on `None`, gives up on it).
    pub(crate) fn install(&mut self, tenant: &TenantId, plan: &SealPlan, graph: Option<HnswIndex>) {
        self.with_dense(tenant, |dense| match graph {
            Some(g) => dense.install(plan, g),
            None => dense.abandon(),
        });
    }
}

/// Sums over tenants, for the store's statistics ([`totals`]).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct TenantTotals {
    /// Documents in sealed graphs.
    pub(crate) graph_docs: u64,
    /// Documents in exact dense parts.
    pub(crate) exact_docs: u64,
    /// Sealed graphs.
    pub(crate) graphs: usize,
    /// Documents in graphs viewed from their files.
    pub(crate) mapped_docs: u64,
    /// True while a background graph build runs.
    pub(crate) building: bool,
    /// Live detected edges.
    pub(crate) detected_edges: u64,
    /// The inboxes' counters.
    pub(crate) inbox: InboxStats,
}

/// Reads each of `cells` once, as it is (changes waiting in an inbox counted as waiting), and
/// sums what the statistics show.
pub(crate) fn totals(cells: &[SharedTenant]) -> TenantTotals {
    let mut sum = TenantTotals::default();
    for cell in cells {
        // A tenant not decoded yet is counted from its header: statistics never decode.
        let Some(t) = cell.read_if_decoded() else {
            let summary = cell.summary();
            sum.exact_docs += summary.exact_docs;
            sum.detected_edges += summary.live_edges;
            sum.inbox = sum.inbox.add(cell.inbox_stats());
            continue;
        };
        if let Some(dense) = &t.dense {
            let (graph, exact) = dense.sizes();
            sum.graph_docs += graph;
            sum.exact_docs += exact;
            sum.graphs += dense.graph_count();
            sum.mapped_docs += dense.mapped_docs();
            sum.building |= dense.is_building();
        }
        sum.detected_edges += t.detected.live_edges();
        drop(t);
        sum.inbox = sum.inbox.add(cell.inbox_stats());
    }
    sum
}

#[cfg(test)]
mod valid_time_tests {
    use super::ValidTime;
    use crate::model::Timestamp;

    #[test]
    fn valid_time_reads_back_and_answers_as_the_options_it_holds() {
        let ts = Timestamp::from_unix_micros;
        let ends = [
            None,
            Some(ts(-5)),
            Some(ts(0)),
            Some(ts(7)),
            Some(ts(i64::MIN)),
        ];
        let instants = [i64::MIN, -6, -5, 0, 6, 7, 8, i64::MAX - 1];
        for from in ends {
            for to in ends.iter().copied().chain([Some(ts(i64::MAX))]) {
                let v = ValidTime::new(from, to);
                // An end at i64::MIN reads as open: the same instants pass.
                let open_from = from.filter(|f| f.as_unix_micros() != i64::MIN);
                assert_eq!(v.from(), open_from);
                for t in instants.map(ts) {
                    let by_options = from.is_none_or(|f| f <= t) && to.is_none_or(|e| t < e);
                    assert_eq!(v.contains(t), by_options, "{from:?}..{to:?} at {t:?}");
                }
            }
        }
        let v = ValidTime::new(Some(ts(3)), Some(ts(9)));
        assert_eq!((v.from(), v.to()), (Some(ts(3)), Some(ts(9))));
        assert_eq!(ValidTime::new(None, None).to(), None);
    }
}

#[cfg(test)]
mod commit_tests {
    use super::*;
    use crate::codec::Encoder;
    use crate::model::{Claim, Evidence, Stance};

    /// `n` versions with varied words, entities, metadata, sources and excerpts; every fifth
    /// claim id repeats an earlier one (a second version in the same commit).
    fn items(n: usize) -> Vec<(Arc<IngestItem>, u32)> {
        let words = [
            "river", "flood", "glacier", "melt", "sea", "rise", "heat", "record",
        ];
        (0..n)
            .map(|i| {
                let id = if i % 5 == 4 { i - 1 } else { i };
                let text = format!(
                    "{} {} {} number {i}",
                    words[i % 8],
                    words[(i / 8) % 8],
                    words[(i * 3) % 8]
                );
                let mut claim = Claim::new("t", format!("c{id:04}"), text);
                claim.entities = vec![format!("e{}", i % 7), format!("e{}", i % 11)];
                claim
                    .metadata
                    .insert("bucket".into(), format!("{}", i % 13));
                let mut evidence = Evidence::new(
                    format!("ev{i}"),
                    claim.claim_id.as_str(),
                    format!("s{}", i % 17),
                    Stance::Supports,
                );
                evidence.excerpt = (i % 2 == 0).then(|| format!("excerpt {}", words[(i + 5) % 8]));
                let version = if i % 5 == 4 { 2 } else { 1 };
                (
                    Arc::new(IngestItem::new(claim).with_evidence(evidence)),
                    version,
                )
            })
            .collect()
    }

    fn postings(t: &TenantIndex) -> (Vec<u8>, Vec<u8>) {
        let (mut lexical, mut filters) = (Encoder::default(), Encoder::default());
        t.lexical.encode(&mut lexical);
        t.filters.get().encode(&mut filters);
        (lexical.buf, filters.buf)
    }

    #[test]
    fn a_large_commit_indexes_its_postings_as_one_version_at_a_time_does() {
        let items = items(3 * PARALLEL_POSTINGS_MIN);
        let (lsn, at) = (Lsn(9), Timestamp::from_unix_micros(1_000));
        let mut whole = TenantIndex::new();
        whole.apply(TenantOp::Commit {
            lsn,
            recorded_at: at,
            items: items.clone(),
        });
        let mut one_by_one = TenantIndex::new();
        for item in items.iter().cloned() {
            one_by_one.apply(TenantOp::Commit {
                lsn,
                recorded_at: at,
                items: vec![item],
            });
        }
        assert_eq!(whole.docs.len(), items.len());
        assert_eq!(whole.lexical.len(), one_by_one.lexical.len());
        assert!(postings(&whole) == postings(&one_by_one), "postings differ");
        // And they hold what was written: a word and a facet find their documents.
        let hits = whole.lexical.search("glacier", 1_000, |_| true);
        let with_word = items
            .iter()
            .filter(|(it, _)| it.claim.canonical_text.contains("glacier"));
        assert_eq!(hits.len(), with_word.count());
        let filter = crate::index::Filter {
            entities: vec!["e3".into()],
            ..Default::default()
        };
        let with_entity = items
            .iter()
            .filter(|(it, _)| it.claim.entities.iter().any(|e| e == "e3"));
        assert_eq!(
            whole.filters.get().matching(&filter).len(),
            with_entity.count() as u64
        );
    }
}

#[cfg(test)]
mod relocation_tests {
    use super::*;
    use crate::model::{Claim, ClaimVersion};
    use crate::segment::SegmentBuilder;
    use crate::storage::smaps::resident;
    use crate::storage::{FileStorage, Storage};
    use std::path::Path;

    #[test]
    fn a_relocation_lets_go_of_the_segment_pages_its_walk_read() {
        let dir = tempfile::tempdir().unwrap();
        let storage = FileStorage::new(dir.path());
        let path = Path::new("relocated.seg");
        // 12,000 entries of about 1.2 KB: a key on every page of ~14 MB.
        let mut b = SegmentBuilder::new(storage.create(path).unwrap());
        let tenant = TenantId::new("t");
        for i in 0..12_000u64 {
            let claim = ClaimId::new(format!("c{i:06}"));
            let text = format!("claim {i} {}", "padding ".repeat(150));
            let version = ClaimVersion {
                version: 1,
                lsn: Lsn(i + 1),
                recorded_at: Timestamp::from_unix_micros(1),
                body: VersionBody::Live(Arc::new(IngestItem::new(Claim::new(
                    "t",
                    claim.as_str(),
                    text,
                )))),
            };
            b.add_claim(&tenant, &claim, [version].iter()).unwrap();
        }
        b.finish().unwrap().sync_data().unwrap();
        let segment = Arc::new(Segment::from_bytes(1, storage.map(path).unwrap()).unwrap());
        let len = std::fs::metadata(dir.path().join(path)).unwrap().len();
        // What the load left mapped: its hash pass let go of what it read, but the header,
        // footer and key index read after it may each map a large folio (a few MB).
        let loaded = resident("relocated.seg");
        assert!(loaded < len / 4, "the load left {loaded} of {len} bytes");
        // The walk itself reads a key on every page: without letting go, all of it stays.
        let walked: usize = (0..segment.entry_count())
            .filter(|&i| segment.key(i).is_ok())
            .count();
        assert_eq!(walked, 12_000);
        let kept = resident("relocated.seg");
        assert!(kept > loaded + len / 2, "a walk keeps its pages: {kept}");
        segment.release_pages();
        TenantIndex::new().apply(TenantOp::Relocate {
            segment: Arc::clone(&segment),
            entries: 0..segment.entry_count(),
        });
        let relocated = resident("relocated.seg");
        assert!(
            relocated < loaded + len / 8,
            "a relocation walk left {relocated} of {len} bytes ({loaded} before)"
        );
    }
}
