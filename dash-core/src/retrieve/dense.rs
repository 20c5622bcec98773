//! One tenant's dense index: an exact part that takes every new vector at once, and sealed HNSW
//! graphs built from it in the background.
//!
//! A write is visible to dense search as soon as it is applied (it lands in the exact part).
//! When the exact part reaches the seal threshold, the indexer thread builds a graph over its
//! documents (plus the smaller graphs, size-tiered, so a tenant keeps O(log n) graphs; the
//! largest folded graph is copied and extended rather than rebuilt, D33) and installs it,
//! removing those documents from the exact part in the same step. Published graphs never
//! change, so superseded, forgotten and retention-dropped documents stay in them and are
//! excluded by the search's `accept` filter, inside the graph walk.

use std::borrow::Cow;
use std::sync::Arc;

use roaring::RoaringBitmap;

use crate::codec::{DecodeResult, Decoder, Encoder};
use crate::error::CorruptionKind;
use crate::index::{dot, unit, DocId, ExactIndex, Hit, HnswIndex, HnswParams, TopK, VectorError};

/// Filters admitting fewer than this fraction of a tenant's dense documents are answered by
/// scoring the admitted documents directly: 2 %, the graphs' own exact-scan threshold.
const DIRECT_SCAN_FRACTION: f64 = HnswIndex::EXACT_SCAN_FRACTION;

/// The dense index of one tenant.
#[derive(Debug)]
pub(crate) struct DenseIndex {
    fresh: ExactIndex,
    graphs: Vec<Arc<HnswIndex>>,
    building: bool,
    /// After a failed build: do not retry before the exact part has this many documents.
    retry_at: usize,
    /// After a failed build: no merge until a build succeeds.
    merge_blocked: bool,
}

/// Which graphs a build folds in with the exact part's documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fold {
    /// Size-tiered: every graph no larger than what is already included (a seal).
    Tiered,
    /// Every graph (a merge while writes pause), leaving one.
    All,
}

/// What a background build takes: the exact part's documents (with a copy of their unit
/// vectors) at planning time and the graphs to fold in.
#[derive(Debug)]
pub(crate) struct SealPlan {
    pub(crate) dim: usize,
    /// The exact part's live rows when the seal was planned (a packed copy: the exact part
    /// keeps answering for them until the graph is installed).
    pub(crate) fresh: ExactIndex,
    pub(crate) graphs: Vec<Arc<HnswIndex>>,
    /// Documents dropped by retention: left out of the new graph.
    pub(crate) removed: RoaringBitmap,
}

/// A folded graph is extended in place of a rebuild while at most this fraction of its
/// documents were dropped by retention (a rebuild leaves them out; an extension keeps them,
/// searched past by the filter).
const EXTEND_MAX_REMOVED: f64 = 0.125;

impl SealPlan {
    /// Builds the graph (slow: run it off every lock); gives up when `cancelled` turns true.
    ///
    /// The largest folded graph is *extended* — copied, and the other documents inserted into
    /// the copy — when it was built with `params` and few of its documents were dropped by
    /// retention; otherwise every document is inserted into a new graph. Extending makes a
    /// growing tenant insert each vector about twice in all (once into a seal, once into the
    /// large graph) where rebuilding inserted it again at every merge (D33). Returns the graph
    /// and how many vectors were inserted into it.
    pub(crate) fn build(
        &self,
        params: HnswParams,
        cancelled: &(dyn Fn() -> bool + Sync),
    ) -> Result<(HnswIndex, u64), VectorError> {
        let base = self
            .graphs
            .iter()
            .max_by_key(|g| g.len())
            .filter(|g| self.extends(g, params));
        // The folded graphs' rows but the base's, read out of usearch into one packed part.
        let mut from_graphs = ExactIndex::new(self.dim);
        for g in &self.graphs {
            if base.is_some_and(|b| Arc::ptr_eq(g, b)) {
                continue;
            }
            for &doc in g.doc_ids() {
                if let (false, Some(row)) = (self.removed.contains(doc), g.row(doc)) {
                    from_graphs.insert_unit(doc, &row)?;
                }
            }
        }
        let parts = [&self.fresh, &from_graphs];
        let graph = match base {
            Some(base) => base.extend_from_parts(&parts, cancelled)?,
            None => HnswIndex::build_from_parts(self.dim, &parts, params, cancelled)?,
        };
        Ok((
            graph,
            u64::from(self.fresh.len()) + u64::from(from_graphs.len()),
        ))
    }

    /// True when `graph` may be extended rather than rebuilt: built with `params` (the search
    /// width aside) and with few of its documents dropped by retention.
    fn extends(&self, graph: &HnswIndex, params: HnswParams) -> bool {
        let built = graph.params();
        let same = built.max_nb_connection == params.max_nb_connection
            && built.ef_construction == params.ef_construction
            && built.quantization == params.quantization;
        let dropped = graph
            .doc_ids()
            .iter()
            .filter(|d| self.removed.contains(**d))
            .count();
        same && !graph.is_empty() && (dropped as f64) <= EXTEND_MAX_REMOVED * f64::from(graph.len())
    }
}

/// At an open that indexes the segments (no catalog image): the documents whose vectors the
/// graph files read at this open hold. Copying each of their vectors into the exact part, only
/// for the graph to take them out again when it is adopted, held every vector of the store in
/// the heap at once (5 GB at 10M 128-d claims); their vectors are left where they are instead,
/// and the documents wait here for their graph. A graph that does not fit this open's documents
/// is not adopted: its documents' vectors are then read back from the segments — as soon as the
/// segments are indexed for a graph whose documents were numbered otherwise
/// ([`super::graph_files::discard_misfits`], off every lock), or when the catalog is installed
/// for one that only the WAL's documents fail ([`super::catalog::Catalog::restore_awaited_vectors`]).
#[derive(Debug, Default)]
pub(crate) struct GraphVectors {
    /// Documents a graph file holds, while the segments are being indexed.
    held: RoaringBitmap,
    /// Of those, the documents whose vector came (and was not copied).
    awaited: RoaringBitmap,
}

impl GraphVectors {
    /// Graph files hold these documents' vectors.
    pub(crate) fn new(held: RoaringBitmap) -> Self {
        Self {
            held,
            awaited: RoaringBitmap::new(),
        }
    }

    /// True when `doc`'s vector comes with a graph file: it is then awaited, not copied.
    pub(crate) fn defer(&mut self, doc: DocId) -> bool {
        let held = self.held.contains(doc);
        if held {
            self.awaited.insert(doc);
        }
        held
    }

    /// True when `doc`'s vector came and waits for its graph.
    pub(crate) fn awaits(&self, doc: DocId) -> bool {
        self.awaited.contains(doc)
    }

    /// The segments are indexed: later vectors (the WAL's) go to the exact part as usual.
    pub(crate) fn stop_deferring(&mut self) {
        self.held = RoaringBitmap::new();
    }

    /// `docs` came with their adopted graph.
    pub(crate) fn adopted(&mut self, docs: &[DocId]) {
        for &doc in docs {
            self.awaited.remove(doc);
        }
    }

    /// Of `docs`, those still waiting (their graph will not be adopted), taken out.
    pub(crate) fn take_awaited_of(&mut self, docs: &[DocId]) -> RoaringBitmap {
        let mut out = RoaringBitmap::new();
        for &doc in docs {
            if self.awaited.remove(doc) {
                out.insert(doc);
            }
        }
        out
    }

    /// The documents still waiting (their graph was not adopted), leaving none.
    pub(crate) fn take_awaited(&mut self) -> RoaringBitmap {
        self.held = RoaringBitmap::new();
        std::mem::take(&mut self.awaited)
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> u64 {
        crate::heap::bitmap(&self.held) + crate::heap::bitmap(&self.awaited)
    }
}

impl DenseIndex {
    /// Heap bytes held: (the exact part, the graphs).
    pub(crate) fn heap_bytes(&self) -> (u64, u64) {
        let graphs = self.graphs.iter().map(|g| g.heap_bytes()).sum();
        (self.fresh.heap_bytes(), graphs)
    }

    pub(crate) fn new(dim: usize) -> Self {
        Self {
            fresh: ExactIndex::new(dim),
            graphs: Vec::new(),
            building: false,
            retry_at: 0,
            merge_blocked: false,
        }
    }

    pub(crate) fn dim(&self) -> usize {
        self.fresh.dim()
    }

    /// Adds `doc` to the exact part; a vector the index cannot use (zero length) is refused.
    pub(crate) fn insert(&mut self, doc: DocId, vector: &[f32]) -> Result<(), VectorError> {
        self.fresh.insert(doc, vector)
    }

    /// The sealed graphs.
    pub(crate) fn graphs(&self) -> &[Arc<HnswIndex>] {
        &self.graphs
    }

    /// Takes in a graph loaded from its file: its documents leave the exact part. The caller
    /// has checked that they are this tenant's documents with these vectors.
    pub(crate) fn adopt(&mut self, graph: HnswIndex) {
        for &doc in graph.doc_ids() {
            self.fresh.remove(doc);
        }
        if !graph.is_empty() {
            self.graphs.push(Arc::new(graph));
        }
    }

    /// Puts `view` in the place of `built` (the same documents and vectors, read from the
    /// graph's file); nothing if `built` is no longer one of the graphs.
    pub(crate) fn replace(&mut self, built: &Arc<HnswIndex>, view: HnswIndex) {
        if let Some(g) = self.graphs.iter_mut().find(|g| Arc::ptr_eq(g, built)) {
            if g.doc_ids() == view.doc_ids() {
                *g = Arc::new(view);
            }
        }
    }

    /// True when `doc` waits in the exact part (not sealed into a graph).
    pub(crate) fn holds_fresh(&self, doc: DocId) -> bool {
        self.fresh.contains(doc)
    }

    /// True when `doc` has a vector here (in the exact part or a graph).
    pub(crate) fn contains(&self, doc: DocId) -> bool {
        self.fresh.contains(doc) || self.graphs.iter().any(|g| g.contains(doc))
    }

    /// `doc`'s unit vector: the exact part's row, or read from the graph that holds it.
    pub(crate) fn vector(&self, doc: DocId) -> Option<Cow<'_, [f32]>> {
        match self.fresh.row(doc) {
            Some(row) => Some(Cow::Borrowed(row)),
            None => self.graphs.iter().find_map(|g| g.row(doc)).map(Cow::Owned),
        }
    }

    /// Drops `doc` from the exact part (graphs keep it; searches filter it out).
    pub(crate) fn remove(&mut self, doc: DocId) {
        self.fresh.remove(doc);
    }

    /// True when the exact part is due for sealing and no build is running.
    pub(crate) fn wants_seal(&self, threshold: usize) -> bool {
        let len = self.fresh.len() as usize;
        !self.building && len >= threshold.max(1) && len >= self.retry_at
    }

    /// True when the graphs are worth merging into one: two or more, the smaller ones holding at
    /// least a quarter of the largest one's documents (so a growing tenant re-inserts each vector
    /// a bounded number of times, as with size-tiered seals), and no build running.
    pub(crate) fn wants_merge(&self) -> bool {
        if self.building || self.merge_blocked || self.graphs.len() < 2 {
            return false;
        }
        let sizes = self.graphs.iter().map(|g| u64::from(g.len()));
        let largest = sizes.clone().max().unwrap_or(0);
        let rest: u64 = sizes.sum::<u64>() - largest;
        rest * 4 >= largest
    }

    /// Sealed graphs.
    pub(crate) fn graph_count(&self) -> usize {
        self.graphs.len()
    }

    /// True while a background build runs.
    pub(crate) fn is_building(&self) -> bool {
        self.building
    }

    /// Documents in graphs / in the exact part.
    pub(crate) fn sizes(&self) -> (u64, u64) {
        let graphs = self.graphs.iter().map(|g| u64::from(g.len())).sum();
        (graphs, u64::from(self.fresh.len()))
    }

    /// Documents in graphs viewed from their files.
    pub(crate) fn mapped_docs(&self) -> u64 {
        self.graphs
            .iter()
            .filter(|g| g.is_viewed())
            .map(|g| u64::from(g.len()))
            .sum()
    }

    /// Plans a build over the exact part's documents and the graphs `fold` picks; marks the
    /// index as building.
    pub(crate) fn plan_seal(&mut self, removed: &RoaringBitmap, fold: Fold) -> SealPlan {
        let fresh = self.fresh.compacted();
        let mut by_size: Vec<&Arc<HnswIndex>> = self.graphs.iter().collect();
        by_size.sort_by_key(|g| g.len());
        let mut total = u64::from(fresh.len());
        let mut graphs = Vec::new();
        for g in by_size {
            if fold == Fold::All || u64::from(g.len()) <= total {
                total += u64::from(g.len());
                graphs.push(Arc::clone(g));
            }
        }
        self.building = true;
        SealPlan {
            dim: self.dim(),
            fresh,
            graphs,
            removed: removed.clone(),
        }
    }

    /// Installs a finished build: its graph replaces the graphs it folded in, and its fresh
    /// documents leave the exact part.
    pub(crate) fn install(&mut self, plan: &SealPlan, graph: HnswIndex) {
        for doc in plan.fresh.live_docs() {
            self.fresh.remove(doc);
        }
        self.graphs
            .retain(|g| !plan.graphs.iter().any(|p| Arc::ptr_eq(g, p)));
        if !graph.is_empty() {
            self.graphs.push(Arc::new(graph));
        }
        self.building = false;
        self.merge_blocked = false;
    }

    /// A build failed: everything stays in the exact part (searched exactly, so answers stay
    /// right); sealing is tried again once the exact part has doubled.
    pub(crate) fn abandon(&mut self) {
        self.building = false;
        self.merge_blocked = true;
        self.retry_at = (self.fresh.len() as usize).saturating_mul(2);
    }

    /// The best `k` documents that `accept` lets through, over the exact part and every graph.
    /// `accepted` is how many documents `accept` admits, when known (it picks a graph's path).
    ///
    /// `allowed` is the filter bitmap, when the query has filters: when it admits fewer than
    /// [`DIRECT_SCAN_FRACTION`] of the tenant's dense documents, just those documents are scored
    /// (exact, and cheaper than walking graphs or scanning every row).
    pub(crate) fn search(
        &self,
        query: &[f32],
        k: usize,
        accept: &dyn Fn(DocId) -> bool,
        allowed: Option<&RoaringBitmap>,
    ) -> Result<Vec<(DocId, f32)>, VectorError> {
        let (graph_docs, exact_docs) = self.sizes();
        let total = (graph_docs + exact_docs) as f64;
        if let Some(b) = allowed {
            if (b.len() as f64) < DIRECT_SCAN_FRACTION * total {
                return self.scan_allowed(query, k, accept, b);
            }
        }
        let accepted = allowed.map(|b| usize::try_from(b.len()).unwrap_or(usize::MAX));
        let parts = std::iter::once(self.fresh.search(query, k, accept)).chain(
            self.graphs
                .iter()
                .map(|g| g.search_filtered(query, k, accept, accepted)),
        );
        best_of(k, parts)
    }

    /// The best `k` documents below `bound` that `accept` lets through, over the exact part and
    /// every graph (walked with a candidate list of `max(ef, k)`); each graph picks its path by
    /// how many of its documents lie below `bound` ([`HnswIndex::search_below`]): the detection
    /// stage's search for the versions recorded before the one it judges, which walked most of
    /// a large graph when few lay below.
    pub(crate) fn search_below(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        bound: DocId,
        accept: &dyn Fn(DocId) -> bool,
    ) -> Result<Vec<(DocId, f32)>, VectorError> {
        let below = |d: DocId| d < bound && accept(d);
        let parts = std::iter::once(self.fresh.search(query, k, below)).chain(
            self.graphs
                .iter()
                .map(|g| g.search_below(query, k, ef, bound, accept)),
        );
        best_of(k, parts)
    }

    /// Scores exactly the documents of `allowed` that `accept` admits.
    fn scan_allowed(
        &self,
        query: &[f32],
        k: usize,
        accept: &dyn Fn(DocId) -> bool,
        allowed: &RoaringBitmap,
    ) -> Result<Vec<(DocId, f32)>, VectorError> {
        let query = unit(query, self.dim())?;
        let mut top = TopK::new(k);
        for doc in allowed.iter().filter(|&doc| accept(doc)) {
            if let Some(row) = self.vector(doc) {
                top.push(Hit::new(doc, dot(&query, &row)));
            }
        }
        Ok(top.into_sorted())
    }
}

/// The best `k` hits of `parts` (each best first), or the first part's error.
fn best_of(
    k: usize,
    parts: impl Iterator<Item = Result<Vec<(DocId, f32)>, VectorError>>,
) -> Result<Vec<(DocId, f32)>, VectorError> {
    let mut top = TopK::new(k);
    for part in parts {
        for (doc, score) in part? {
            top.push(Hit::new(doc, score));
        }
    }
    Ok(top.into_sorted())
}

/// The catalog image's part (`retrieve/image.rs`; format in `docs/design.md` §4b):
///
/// ```text
/// dense := dim u32 | row_count u32 | (doc u32 | f32 * dim) * row_count
///        | graph_count u32 | graph_file str * graph_count
/// ```
///
/// The rows are the exact part's, plus those of any graph not saved to a file yet (they are
/// sealed again after the open); saved graphs are named by file and viewed from it at open.
impl DenseIndex {
    pub(crate) fn encode(&self, e: &mut Encoder, removed: &RoaringBitmap) {
        let dim = self.dim();
        e.len(dim);
        let mut rows: Vec<(DocId, Cow<'_, [f32]>)> = self
            .fresh
            .live_docs()
            .filter_map(|d| Some((d, Cow::Borrowed(self.fresh.row(d)?))))
            .collect();
        let mut files = Vec::new();
        for g in &self.graphs {
            match g.file() {
                Some(name) => files.push(name),
                None => rows.extend(
                    g.doc_ids()
                        .iter()
                        .filter(|d| !removed.contains(**d))
                        .filter_map(|&d| Some((d, Cow::Owned(g.row(d)?)))),
                ),
            }
        }
        e.len(rows.len());
        for (doc, row) in rows {
            e.u32(doc);
            for x in row.iter() {
                e.f32(*x);
            }
        }
        e.len(files.len());
        for f in files {
            e.str(f);
        }
    }

    /// An index as [`DenseIndex::encode`] wrote it, without its graphs, and the names of the
    /// graph files that hold the rest of its documents ([`DenseIndex::attach`] them).
    /// Documents are numbered below `doc_count`.
    pub(crate) fn decode(
        d: &mut Decoder<'_>,
        doc_count: usize,
    ) -> DecodeResult<(Self, Vec<String>)> {
        let dim = d.u32()? as usize;
        let rows = d.count(4 + 4 * dim)?;
        let mut index = Self::new(dim);
        let mut row = vec![0f32; dim];
        for _ in 0..rows {
            let at = d.position();
            let doc = d.u32()?;
            for x in &mut row {
                *x = d.f32()?;
            }
            if doc as usize >= doc_count || index.fresh.insert_unit(doc, &row).is_err() {
                return Err((at, CorruptionKind::Malformed("bad vector row")));
            }
        }
        let graphs = d.count(4)?;
        let names = (0..graphs)
            .map(|_| d.string())
            .collect::<DecodeResult<Vec<_>>>()?;
        Ok((index, names))
    }

    /// Takes in a graph of this index's image (its documents were never in the exact part).
    pub(crate) fn attach(&mut self, graph: HnswIndex) {
        if !graph.is_empty() {
            self.graphs.push(Arc::new(graph));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(docs: std::ops::Range<u32>) -> Arc<HnswIndex> {
        let vectors = docs.map(|d| (d, [1.0, d as f32]));
        Arc::new(HnswIndex::build(2, vectors, HnswParams::default()).unwrap())
    }

    #[test]
    fn graphs_are_merged_only_when_the_smaller_ones_are_a_quarter_of_the_largest() {
        let mut dense = DenseIndex::new(2);
        assert!(!dense.wants_merge(), "no graph");
        dense.graphs.push(graph(0..400));
        assert!(!dense.wants_merge(), "one graph");
        dense.graphs.push(graph(400..499));
        assert!(!dense.wants_merge(), "99 beside 400: below a quarter");
        dense.graphs.push(graph(499..500));
        assert!(dense.wants_merge(), "100 beside 400: a quarter");
        dense.building = true;
        assert!(!dense.wants_merge(), "a build is running");
        dense.building = false;
        dense.abandon();
        assert!(!dense.wants_merge(), "after a failed build");
    }

    /// A merge copies the largest graph and inserts the rest into the copy (its documents
    /// dropped by retention stay, searched past); when many of them were dropped it builds a
    /// new graph without them instead.
    #[test]
    fn a_merge_extends_the_largest_graph_unless_retention_dropped_much_of_it() {
        let vector = |d: u32| [1.0, d as f32];
        let plan = |removed: &RoaringBitmap| {
            let mut dense = DenseIndex::new(2);
            dense.graphs.push(graph(0..300));
            dense.graphs.push(graph(300..400));
            for d in 400..450 {
                dense.insert(d, &vector(d)).unwrap();
            }
            dense.plan_seal(removed, Fold::All)
        };
        let few: RoaringBitmap = [5u32, 320].into_iter().collect();
        let (built, inserted) = plan(&few).build(HnswParams::default(), &|| false).unwrap();
        assert_eq!(
            inserted, 149,
            "the exact part's 50 and the small graph's 99 kept"
        );
        assert!(
            built.contains(5),
            "extended: the large graph's dropped document stays"
        );
        assert!(
            !built.contains(320),
            "the folded small graph's dropped document goes"
        );
        assert_eq!(built.len(), 449);
        let many: RoaringBitmap = (0u32..100).collect();
        let (built, inserted) = plan(&many).build(HnswParams::default(), &|| false).unwrap();
        assert!(!built.contains(50), "rebuilt without the dropped documents");
        assert_eq!((built.len(), inserted), (350, 350));
        let other = HnswParams {
            max_nb_connection: 8,
            ..HnswParams::default()
        };
        let (built, inserted) = plan(&few).build(other, &|| false).unwrap();
        assert!(!built.contains(5), "other parameters: rebuilt");
        assert_eq!(inserted, 448);
        assert_eq!(built.params().max_nb_connection, 8);
    }

    /// The detection stage's search: below a bound, over the exact part and graphs that lie
    /// wholly below it, straddle it and lie above it, equal to an exact search of the same set.
    #[test]
    fn search_below_answers_from_the_documents_below_the_bound_only() {
        let vector = |d: u32| [(d as f32 * 0.37).cos(), (d as f32 * 0.37).sin(), 0.3];
        let graph_of = |docs: std::ops::Range<u32>| {
            let vectors = docs.map(|d| (d, vector(d)));
            Arc::new(HnswIndex::build(3, vectors, HnswParams::default()).unwrap())
        };
        let mut dense = DenseIndex::new(3);
        dense.graphs.push(graph_of(0..600));
        dense.graphs.push(graph_of(600..900));
        for d in 900..1000 {
            dense.insert(d, &vector(d)).unwrap();
        }
        let mut all = ExactIndex::new(3);
        for d in 0..1000 {
            all.insert(d, &vector(d)).unwrap();
        }
        let accept = |d: DocId| !d.is_multiple_of(5);
        for bound in [0, 1, 7, 300, 599, 600, 750, 900, 950, 1000, 5000] {
            for q in [3u32, 450, 777, 990] {
                let query = vector(q);
                let hits = dense.search_below(&query, 5, 200, bound, &accept).unwrap();
                assert!(
                    hits.iter().all(|&(d, _)| d < bound && accept(d)),
                    "bound {bound}: {hits:?}"
                );
                let truth = all.search(&query, 5, |d| d < bound && accept(d)).unwrap();
                // The vectors repeat around the circle: equal scores may name other documents.
                let scores = |h: &[(DocId, f32)]| h.iter().map(|x| x.1).collect::<Vec<_>>();
                let (got, want) = (scores(&hits), scores(&truth));
                assert_eq!(got.len(), want.len(), "bound {bound}, query {q}");
                for (g, w) in got.iter().zip(&want) {
                    assert!(
                        (g - w).abs() < 1e-5,
                        "bound {bound}, query {q}: {got:?} {want:?}"
                    );
                }
            }
        }
    }
}
