//! Dense-vector search by cosine similarity: [`ExactIndex`] (a flat scan, mutable, exact) and
//! [`HnswIndex`] (an HNSW graph from `usearch`, built once, approximate).
//!
//! Both store every vector L2-normalised, so the cosine similarity of a query and a document is
//! the dot product of their unit vectors, and both return that same number: scores of the two
//! indexes are directly comparable (an `HnswIndex` rescores its graph hits from its own copy of
//! the unit vectors, with the same dot product `ExactIndex` uses). Results come best first, ties
//! to the lower doc id, like [`Bm25Index`](super::Bm25Index).
//!
//! Vectors (documents and queries alike) must have the index's dimension, finite components and a
//! non-zero norm; anything else is a typed [`VectorError`], never a panic or a NaN score.

use std::collections::HashMap;
use std::fmt;

use super::topk::{Hit, TopK};
use super::DocId;
use crate::storage::FileBytes;

/// Why a vector (or a set of HNSW parameters) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VectorError {
    /// The vector does not have the index's dimension.
    #[error("vector has dimension {got}, the index has dimension {expected}")]
    Dimension {
        /// The index's dimension.
        expected: usize,
        /// The vector's length.
        got: usize,
    },
    /// A component is NaN or infinite.
    #[error("vector component {index} is not finite")]
    NonFinite {
        /// Position of the first offending component.
        index: usize,
    },
    /// Every component is zero: the vector has no direction, so no cosine.
    #[error("vector is zero")]
    Zero,
    /// The same doc id was given twice to [`HnswIndex::build`].
    #[error("doc {0} given twice")]
    DuplicateDoc(DocId),
    /// An [`HnswParams`] value is out of range.
    #[error("invalid HNSW parameters: {0}")]
    InvalidParams(&'static str),
    /// A background build was given up (its store closed).
    #[error("build cancelled")]
    Cancelled,
    /// The HNSW library refused an operation (out of memory, for instance).
    #[error("HNSW backend: {0}")]
    Backend(String),
}

/// Checks `v` against `dim` and returns `1 / ‖v‖` (computed in f64: no overflow for any finite
/// f32 input, no underflow for subnormal ones).
fn inverse_norm(v: &[f32], dim: usize) -> Result<f64, VectorError> {
    if v.len() != dim {
        return Err(VectorError::Dimension {
            expected: dim,
            got: v.len(),
        });
    }
    if let Some(index) = v.iter().position(|x| !x.is_finite()) {
        return Err(VectorError::NonFinite { index });
    }
    let norm = v
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt();
    if norm > 0.0 {
        Ok(norm.recip())
    } else {
        Err(VectorError::Zero)
    }
}

/// `v / ‖v‖`, after the checks of [`inverse_norm`].
pub(crate) fn unit(v: &[f32], dim: usize) -> Result<Vec<f32>, VectorError> {
    let inv = inverse_norm(v, dim)?;
    Ok(v.iter().map(|&x| (f64::from(x) * inv) as f32).collect())
}

/// Lanes of the dot product's accumulator: eight independent sums let the compiler vectorise the
/// loop (a single running sum would force sequential float additions).
const LANES: usize = 8;

/// The dot product of two equally long slices.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let (a_chunks, a_rest) = a.as_chunks::<LANES>();
    let (b_chunks, b_rest) = b.as_chunks::<LANES>();
    let mut acc = [0.0f32; LANES];
    for (x, y) in a_chunks.iter().zip(b_chunks) {
        for ((s, x), y) in acc.iter_mut().zip(x).zip(y) {
            *s += x * y;
        }
    }
    let rest: f32 = a_rest.iter().zip(b_rest).map(|(x, y)| x * y).sum();
    let [s0, s1, s2, s3, s4, s5, s6, s7] = acc;
    ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)) + rest
}

/// Exact cosine search over a mutable set of vectors: a scan of every live row.
///
/// Rows are the unit vectors, stored back to back in one flat `Vec<f32>` in insertion order,
/// with a map from doc id to row: memory follows the documents held, not the largest id (an
/// exact part holding the newest thousand documents of a million-document tenant keeps a
/// thousand rows). A removed document's row is skipped by the scan until removed rows
/// outnumber live ones, when the rows are compacted. The scan is a dot product per accepted
/// live row, so it costs `O(live · dim)`: the right tool for a memtable, a small segment, or a
/// filter that leaves few documents (see [`HnswIndex::search_filtered`]).
///
/// ```
/// use dash_core::index::ExactIndex;
///
/// let mut index = ExactIndex::new(3);
/// index.insert(0, &[1.0, 0.0, 0.0])?;
/// index.insert(1, &[0.0, 2.0, 0.0])?;
/// index.insert(2, &[1.0, 1.0, 0.0])?;
/// let hits = index.search(&[3.0, 0.1, 0.0], 2, |_| true)?;
/// assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), [0, 2]);
/// assert!((hits[0].1 - 0.99944).abs() < 1e-4); // cosine similarity
/// # Ok::<(), dash_core::index::VectorError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ExactIndex {
    dim: usize,
    /// Row `r` (a unit vector) is `rows[r * dim..(r + 1) * dim]`, of document `docs[r]`.
    rows: Vec<f32>,
    docs: Vec<DocId>,
    /// `live[r]`: row `r` is its document's current row.
    live: Vec<bool>,
    /// Each live document's row.
    row_of: HashMap<DocId, u32, foldhash::fast::RandomState>,
}

impl ExactIndex {
    /// Heap bytes held: rows, their documents and the document → row table.
    pub(crate) fn heap_bytes(&self) -> u64 {
        use crate::heap;
        heap::vec(&self.rows)
            + heap::vec(&self.docs)
            + heap::vec(&self.live)
            + heap::map(&self.row_of)
    }

    /// An empty index of vectors with `dim` components. (With `dim == 0` every insert fails:
    /// an empty vector has no direction.)
    ///
    /// ```
    /// let index = dash_core::index::ExactIndex::new(384);
    /// assert_eq!((index.dim(), index.len()), (384, 0));
    /// ```
    #[must_use]
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            rows: Vec::new(),
            docs: Vec::new(),
            live: Vec::new(),
            row_of: HashMap::default(),
        }
    }

    /// The dimension of every vector in the index.
    ///
    /// ```
    /// assert_eq!(dash_core::index::ExactIndex::new(8).dim(), 8);
    /// ```
    #[must_use]
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Live documents.
    ///
    /// ```
    /// let mut index = dash_core::index::ExactIndex::new(2);
    /// index.insert(4, &[1.0, 1.0])?;
    /// assert_eq!(index.len(), 1);
    /// # Ok::<(), dash_core::index::VectorError>(())
    /// ```
    #[must_use]
    pub fn len(&self) -> u32 {
        // At most `u32::MAX` rows (a row number is a `u32`).
        self.row_of.len() as u32
    }

    /// True when no document is live.
    ///
    /// ```
    /// assert!(dash_core::index::ExactIndex::new(2).is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.row_of.is_empty()
    }

    /// True when `doc` is indexed and not removed.
    ///
    /// ```
    /// let mut index = dash_core::index::ExactIndex::new(2);
    /// index.insert(1, &[0.5, 0.0])?;
    /// assert!(index.contains(1) && !index.contains(0));
    /// # Ok::<(), dash_core::index::VectorError>(())
    /// ```
    #[must_use]
    pub fn contains(&self, doc: DocId) -> bool {
        self.row_of.contains_key(&doc)
    }

    /// Indexes `vector` (normalised to unit length) as `doc`, replacing what `doc` held before.
    ///
    /// # Errors
    /// [`VectorError::Dimension`], [`VectorError::NonFinite`] or [`VectorError::Zero`]; the index
    /// is then unchanged (a previous vector of `doc` stays).
    ///
    /// ```
    /// use dash_core::index::{ExactIndex, VectorError};
    ///
    /// let mut index = ExactIndex::new(2);
    /// index.insert(0, &[3.0, 4.0])?;
    /// assert_eq!(index.insert(0, &[0.0, 0.0]), Err(VectorError::Zero));
    /// assert_eq!(index.insert(1, &[1.0]), Err(VectorError::Dimension { expected: 2, got: 1 }));
    /// assert_eq!(index.insert(1, &[f32::NAN, 1.0]), Err(VectorError::NonFinite { index: 0 }));
    /// assert_eq!(index.len(), 1);
    /// # Ok::<(), VectorError>(())
    /// ```
    pub fn insert(&mut self, doc: DocId, vector: &[f32]) -> Result<(), VectorError> {
        let inv = inverse_norm(vector, self.dim)?;
        self.put(doc, vector.iter().map(|&x| (f64::from(x) * inv) as f32));
        Ok(())
    }

    /// A copy holding the live rows only (ascending by document), packed.
    pub(crate) fn compacted(&self) -> ExactIndex {
        let mut out = ExactIndex::new(self.dim);
        let docs: Vec<DocId> = self.live_docs().collect();
        out.rows.reserve_exact(docs.len() * self.dim);
        for doc in docs {
            if let Some(row) = self.row(doc) {
                out.put(doc, row.iter().copied());
            }
        }
        out
    }

    /// Stores `row`, already a unit vector (read back from a catalog image), as `doc`.
    pub(crate) fn insert_unit(&mut self, doc: DocId, row: &[f32]) -> Result<(), VectorError> {
        if row.len() != self.dim {
            return Err(VectorError::Dimension {
                expected: self.dim,
                got: row.len(),
            });
        }
        self.put(doc, row.iter().copied());
        Ok(())
    }

    fn put(&mut self, doc: DocId, row: impl Iterator<Item = f32>) {
        let dim = self.dim;
        let r = match self.row_of.get(&doc) {
            Some(&r) => r as usize,
            None => {
                let Ok(r) = u32::try_from(self.docs.len()) else {
                    return; // 4 billion rows: not reachable (the catalog caps documents first)
                };
                self.row_of.insert(doc, r);
                self.docs.push(doc);
                self.live.push(true);
                self.rows.resize(self.rows.len() + dim, 0.0);
                r as usize
            }
        };
        for (x, v) in self.rows[r * dim..(r + 1) * dim].iter_mut().zip(row) {
            *x = v;
        }
    }

    /// Removes `doc` (a no-op if it is not live). Its id can be inserted again.
    ///
    /// ```
    /// let mut index = dash_core::index::ExactIndex::new(2);
    /// index.insert(0, &[1.0, 0.0])?;
    /// index.remove(0);
    /// assert!(index.search(&[1.0, 0.0], 5, |_| true)?.is_empty());
    /// index.insert(0, &[0.0, 1.0])?;
    /// assert_eq!(index.search(&[0.0, 1.0], 5, |_| true)?, [(0, 1.0)]);
    /// # Ok::<(), dash_core::index::VectorError>(())
    /// ```
    pub fn remove(&mut self, doc: DocId) {
        let Some(r) = self.row_of.remove(&doc) else {
            return;
        };
        if let Some(live) = self.live.get_mut(r as usize) {
            *live = false;
        }
        let dead = self.docs.len() - self.row_of.len();
        if dead > self.row_of.len() && dead >= 64 {
            self.compact();
        }
    }

    /// Drops the removed rows.
    fn compact(&mut self) {
        let dim = self.dim;
        let mut kept = 0usize;
        for r in 0..self.docs.len() {
            if !self.live[r] {
                continue;
            }
            if kept != r {
                self.rows.copy_within(r * dim..(r + 1) * dim, kept * dim);
                self.docs[kept] = self.docs[r];
            }
            // `kept` < the old row count ≤ u32::MAX.
            self.row_of.insert(self.docs[kept], kept as u32);
            kept += 1;
        }
        self.rows.truncate(kept * dim);
        self.rows.shrink_to_fit();
        self.docs.truncate(kept);
        self.docs.shrink_to_fit();
        self.live.clear();
        self.live.resize(kept, true);
        self.live.shrink_to_fit();
    }

    /// The stored (unit) vector of a live `doc`.
    pub(crate) fn row(&self, doc: DocId) -> Option<&[f32]> {
        let r = *self.row_of.get(&doc)? as usize;
        self.rows.get(r * self.dim..(r + 1) * self.dim)
    }

    /// The live documents, ascending.
    pub(crate) fn live_docs(&self) -> impl Iterator<Item = DocId> + '_ {
        let mut docs: Vec<DocId> = self.row_of.keys().copied().collect();
        docs.sort_unstable();
        docs.into_iter()
    }

    /// The cosine similarity of `query` with every live document that `accept` lets through,
    /// best first, at most `k`; ties go to the lower doc id.
    ///
    /// # Errors
    /// The query is checked like a document: [`VectorError::Dimension`],
    /// [`VectorError::NonFinite`] or [`VectorError::Zero`].
    ///
    /// ```
    /// let mut index = dash_core::index::ExactIndex::new(2);
    /// for d in 0..4 {
    ///     index.insert(d, &[1.0, d as f32])?;
    /// }
    /// let hits = index.search(&[1.0, 0.0], 2, |d| d != 0)?;
    /// assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), [1, 2]);
    /// assert!(index.search(&[1.0, 0.0], 0, |_| true)?.is_empty());
    /// # Ok::<(), dash_core::index::VectorError>(())
    /// ```
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        accept: impl Fn(DocId) -> bool,
    ) -> Result<Vec<(DocId, f32)>, VectorError> {
        let query = unit(query, self.dim)?;
        Ok(self.search_unit(&query, k, accept))
    }

    /// [`Self::search`] for an already normalised (and checked) query.
    fn search_unit(
        &self,
        query: &[f32],
        k: usize,
        accept: impl Fn(DocId) -> bool,
    ) -> Vec<(DocId, f32)> {
        // Also covers `dim == 0`, where no row can be live (and `chunks_exact(0)` would panic).
        if k == 0 || self.row_of.is_empty() {
            return Vec::new();
        }
        let mut top = TopK::new(k);
        let rows = self.rows.chunks_exact(self.dim);
        for ((&doc, &live), row) in self.docs.iter().zip(&self.live).zip(rows) {
            if live && accept(doc) {
                top.push(Hit::new(doc, dot(query, row)));
            }
        }
        top.into_sorted()
    }
}

/// The HNSW graph's parameters.
///
/// The defaults (M = 16, ef_construction = 200, ef_search = 200) give recall@10 0.993 against
/// [`ExactIndex`] on this module's clustered 64-dimensional test set of 20,000 vectors (the
/// release-only test asserts ≥ 0.98; `ef_search = 100` gives 0.969 there). Raise `ef_search`
/// for more recall at more cost per query, `max_nb_connection` for harder data.
///
/// ```
/// let p = dash_core::index::HnswParams::default();
/// assert_eq!((p.max_nb_connection, p.ef_construction, p.ef_search), (16, 200, 200));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HnswParams {
    /// Links per node and layer ("M"; layer 0 keeps twice as many). 2..=255. Default: 16.
    pub max_nb_connection: usize,
    /// Candidate list size while building. At least 1. Default: 200.
    pub ef_construction: usize,
    /// Candidate list size while searching a graph of up to
    /// [`HnswIndex::EF_SCALE_FROM`] documents (`max(ef_search, k)` is used); a larger graph
    /// searches with `ef_search · √(len / EF_SCALE_FROM)` ([`HnswIndex::search_ef`]). At least
    /// 1. Default: 200.
    pub ef_search: usize,
    /// How a graph built with these parameters stores its vectors. Default:
    /// [`Quantization::F32`].
    pub quantization: Quantization,
}

impl Default for HnswParams {
    fn default() -> Self {
        Self {
            max_nb_connection: 16,
            ef_construction: 200,
            ef_search: 200,
            quantization: Quantization::F32,
        }
    }
}

/// The scalar type a graph stores its vectors in (usearch's scalar kinds). A graph's hits are
/// scored from its own copy of the vectors, so with `F16` or `I8` their scores are those of the
/// quantised vectors: within about 10⁻³ (`F16`) or 10⁻² (`I8`) of the exact cosine, and no
/// longer equal to what [`ExactIndex`] gives for the same vector (exact re-ranking from the
/// segments' vectors is not done). What a smaller type buys is memory and build time: 256
/// (`F16`) or 128 (`I8`) bytes a 128-d vector instead of 512, and cheaper distances. A graph
/// keeps the type it was built with (its file says it); a store whose setting changes keeps
/// reading its old graphs as they are.
///
/// ```
/// use dash_core::index::{HnswIndex, HnswParams, Quantization};
/// let params = HnswParams { quantization: Quantization::F16, ..HnswParams::default() };
/// let index = HnswIndex::build(2, [(0u32, [1.0f32, 0.0]), (1, [0.0, 1.0])], params)?;
/// let hits = index.search(&[0.9, 0.1], 1, |_| true)?;
/// assert_eq!(hits[0].0, 0);
/// assert!((hits[0].1 - 0.9939).abs() < 2e-3);
/// # Ok::<(), dash_core::index::VectorError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Quantization {
    /// 32-bit floats: scores equal the exact scan's.
    #[default]
    F32,
    /// 16-bit floats.
    F16,
    /// 8-bit integers (usearch's scaling of unit vectors).
    I8,
}

impl std::str::FromStr for Quantization {
    type Err = VectorError;

    /// `f32`, `f16` or `i8`.
    ///
    /// ```
    /// use dash_core::index::Quantization;
    /// assert_eq!("f16".parse::<Quantization>()?, Quantization::F16);
    /// assert!("f64".parse::<Quantization>().is_err());
    /// # Ok::<(), dash_core::index::VectorError>(())
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "f32" => Ok(Self::F32),
            "f16" => Ok(Self::F16),
            "i8" => Ok(Self::I8),
            _ => Err(VectorError::InvalidParams(
                "quantization must be f32, f16 or i8",
            )),
        }
    }
}

impl HnswParams {
    fn check(&self) -> Result<(), VectorError> {
        // A bound that keeps a graph's memory predictable (layer 0 keeps 2·M links per node).
        if !(2..=255).contains(&self.max_nb_connection) {
            return Err(VectorError::InvalidParams(
                "max_nb_connection must be in 2..=255",
            ));
        }
        if self.ef_construction == 0 || self.ef_search == 0 {
            return Err(VectorError::InvalidParams(
                "ef_construction and ef_search must be at least 1",
            ));
        }
        Ok(())
    }
}

/// Concurrent searches one graph serves (usearch keeps a search context per slot). A search that
/// finds every slot busy falls back to the exact scan, so this bounds memory, never correctness.
const SEARCH_SLOTS: usize = 64;

/// Graphs with fewer documents are built by one thread. usearch's concurrent `add` can leave a
/// node stored but unreachable by any search (unum-cloud/USearch#735, unfixed in 2.26): measured
/// with 2 threads, 0.13–0.15 % of the nodes of 300–2,000-node graphs and 0.01–0.02 % of
/// 5,000–50,000-node graphs could not find themselves; one thread left none (200,000 queries).
/// Sequential builds take twice as long, so only small graphs, where the rate is highest and
/// the build is short (20,000 128-d vectors: ~7 s), pay it (`docs/decisions.md` D22).
const PARALLEL_BUILD_MIN_DOCS: usize = 20_000;

/// The graphs' own search expansion in usearch: 1, so that the number of results asked for
/// sets each search's candidate list (`ef`) — usearch has no per-search expansion.
const USEARCH_EXPANSION: usize = 1;

/// Docs tested against `accept` to estimate its selectivity when the caller gives no count.
const SELECTIVITY_SAMPLE: usize = 1024;

/// Approximate cosine search over an immutable set of vectors: an HNSW graph (`usearch`), built
/// once with a parallel insert on rayon's pool.
///
/// Filters are applied *during* the graph search (usearch's filtered search only admits accepted
/// docs into the result list while still walking through rejected ones), and a filter that keeps
/// few documents switches to an exact scan of the accepted set, see [`Self::search_filtered`].
///
/// The graph is never changed after the build. A document deleted afterwards stays in it (and
/// keeps routing searches); callers exclude it through `accept`, and rebuild the index when
/// deletions pile up.
///
/// Scores are cosine similarities, recomputed from the index's own unit vectors with the dot
/// product [`ExactIndex`] uses, so they equal an `ExactIndex`'s scores for the same vectors.
/// Memory: one copy of the vectors, the graph's own (the exact-scan path and the rescoring read
/// them from it).
///
/// Cost (measured, release build, 2 cores, 1,000,000 clustered 128-d vectors, see
/// `docs/decisions.md` D13): build 239 s on 2 threads; a top-10 query at `ef_search` 200 takes
/// 0.36 ms (p50) with recall@10 0.992.
///
/// ```
/// use dash_core::index::{HnswIndex, HnswParams};
///
/// let docs: Vec<(u32, Vec<f32>)> =
///     (0..100).map(|d| (d, vec![1.0, d as f32 / 10.0, 0.5])).collect();
/// let index = HnswIndex::build(3, docs, HnswParams::default())?;
/// let hits = index.search(&[1.0, 0.0, 0.5], 3, |_| true)?;
/// assert_eq!(hits[0].0, 0);
/// # Ok::<(), dash_core::index::VectorError>(())
/// ```
pub struct HnswIndex {
    params: HnswParams,
    dim: usize,
    /// `None` for an empty index (usearch needs a non-zero dimension and capacity). It holds
    /// the only copy of the unit vectors, keyed by doc id: in its own memory when built here,
    /// in `backing` when viewed from a graph file.
    graph: Option<usearch::Index>,
    /// Every doc, ascending (membership, the selectivity sample, exact scans).
    docs: Vec<DocId>,
    /// The name of the graph file holding it, once saved (or loaded from one).
    file: std::sync::OnceLock<Box<str>>,
    /// The file bytes a viewed graph points into, and where in them the graph lies. Declared
    /// after `graph` so that it is dropped after it: the view must never outlive the bytes.
    backing: Option<(std::sync::Arc<FileBytes>, std::ops::Range<usize>)>,
}

impl fmt::Debug for HnswIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HnswIndex")
            .field("dim", &self.dim)
            .field("len", &self.docs.len())
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl HnswIndex {
    /// Below this fraction of accepted documents, [`Self::search_filtered`] scans the accepted
    /// set exactly instead of searching the graph: 2 %.
    pub const EXACT_SCAN_FRACTION: f64 = 0.02;

    /// Graphs up to this many documents search with [`HnswParams::ef_search`]; a larger one
    /// with `ef_search · √(len / EF_SCALE_FROM)` ([`Self::search_ef`]): at a fixed candidate
    /// list, recall falls as a graph grows (measured on the common corpus, f16, M 16: recall@10
    /// 0.995 at 1M and 0.966 at 9.5M with `ef` 200; 0.9785 at 400, 0.985 at 800;
    /// `docs/benchmarks.md`).
    pub const EF_SCALE_FROM: usize = 1_000_000;

    /// [`Self::search_below`] scans exactly while `admitted² < EXACT_BELOW_FACTOR · ef · len`
    /// (the scan's cost grows with the admitted documents, the graph walk's with their inverse).
    pub const EXACT_BELOW_FACTOR: f64 = 5.0;

    /// Builds the index over `docs` (vectors normalised to unit length), inserting in parallel on
    /// rayon's pool.
    ///
    /// # Errors
    /// [`VectorError::InvalidParams`]; [`VectorError::DuplicateDoc`]; or the first vector's
    /// [`VectorError::Dimension`], [`VectorError::NonFinite`] or [`VectorError::Zero`].
    ///
    /// ```
    /// use dash_core::index::{HnswIndex, HnswParams, VectorError};
    ///
    /// let bad = vec![(0, vec![1.0, 0.0]), (0, vec![0.0, 1.0])];
    /// assert_eq!(
    ///     HnswIndex::build(2, bad, HnswParams::default()).err(),
    ///     Some(VectorError::DuplicateDoc(0))
    /// );
    /// let empty = HnswIndex::build(2, Vec::<(u32, Vec<f32>)>::new(), HnswParams::default())?;
    /// assert!(empty.is_empty());
    /// # Ok::<(), VectorError>(())
    /// ```
    pub fn build<V: AsRef<[f32]>>(
        dim: usize,
        docs: impl IntoIterator<Item = (DocId, V)>,
        params: HnswParams,
    ) -> Result<Self, VectorError> {
        Self::build_cancellable(dim, docs, params, &|| false)
    }

    /// [`Self::build`], giving up with [`VectorError::Cancelled`] soon after `cancelled`
    /// returns true (it is polled between inserts).
    pub(crate) fn build_cancellable<V: AsRef<[f32]>>(
        dim: usize,
        docs: impl IntoIterator<Item = (DocId, V)>,
        params: HnswParams,
        cancelled: &(dyn Fn() -> bool + Sync),
    ) -> Result<Self, VectorError> {
        params.check()?;
        let (exact, _) = collect_rows(dim, docs, |_| false)?;
        Self::build_from_parts(dim, &[&exact], params, cancelled)
    }

    /// [`Self::build_cancellable`] over the live rows of `parts` (unit vectors already, each
    /// document in one part only), inserted part by part in document order without a copy of
    /// their own: a seal hands over its snapshot of the exact part as it is.
    pub(crate) fn build_from_parts(
        dim: usize,
        parts: &[&ExactIndex],
        params: HnswParams,
        cancelled: &(dyn Fn() -> bool + Sync),
    ) -> Result<Self, VectorError> {
        params.check()?;
        let (part_ids, mut ids) = part_docs(dim, parts, |_| false)?;
        let graph = if ids.is_empty() {
            None
        } else {
            let graph = new_graph(dim, params, ids.len())?;
            for (part, part_ids) in parts.iter().zip(&part_ids) {
                insert_rows(&graph, part, part_ids, ids.len(), cancelled)?;
            }
            Some(graph)
        };
        ids.sort_unstable();
        Ok(Self {
            params,
            dim,
            graph,
            docs: ids,
            file: std::sync::OnceLock::new(),
            backing: None,
        })
    }

    /// A new index holding this one's documents and `more` (vectors normalised to unit
    /// length): a copy of this graph, from its mapped file when viewed, with `more` inserted
    /// into it. A build from scratch inserts every vector again; this inserts only `more`, so
    /// a tenant's graphs growing by merges insert each vector about twice in all instead of
    /// once per merge (`docs/decisions.md` D33). The copy keeps this graph's parameters and its
    /// documents, stale ones included. Gives up with [`VectorError::Cancelled`] soon after
    /// `cancelled` returns true.
    ///
    /// # Errors
    /// As [`Self::build`] for `more` (a document already held is
    /// [`VectorError::DuplicateDoc`]); [`VectorError::Backend`] if usearch cannot copy the
    /// graph.
    #[cfg(test)] // the store extends from parts (`extend_from_parts`); tests use this form
    pub(crate) fn extend_cancellable<V: AsRef<[f32]>>(
        &self,
        more: impl IntoIterator<Item = (DocId, V)>,
        cancelled: &(dyn Fn() -> bool + Sync),
    ) -> Result<Self, VectorError> {
        let (exact, _) = collect_rows(self.dim, more, |d| self.contains(d))?;
        self.extend_from_parts(&[&exact], cancelled)
    }

    /// [`Self::extend_cancellable`] with the live rows of `parts` (unit vectors already, each
    /// document in one part only and not in this graph), inserted part by part without a copy
    /// of their own.
    pub(crate) fn extend_from_parts(
        &self,
        parts: &[&ExactIndex],
        cancelled: &(dyn Fn() -> bool + Sync),
    ) -> Result<Self, VectorError> {
        let Some(base) = &self.graph else {
            return Self::build_from_parts(self.dim, parts, self.params, cancelled);
        };
        let (part_ids, mut ids) = part_docs(self.dim, parts, |d| self.contains(d))?;
        // The copy: usearch reads the serialized graph into memory of its own.
        let graph = new_graph(self.dim, self.params, 0)?;
        match &self.backing {
            Some((file, range)) => {
                graph.load_from_buffer(file.get(range.clone()).ok_or_else(|| {
                    VectorError::Backend("the graph lies outside its file".into())
                })?)
            }
            None => graph.load_from_buffer(&self.graph_bytes()?),
        }
        .map_err(backend)?;
        graph.change_expansion_search(USEARCH_EXPANSION);
        graph.change_expansion_add(self.params.ef_construction);
        if graph.size() != base.size() {
            return Err(VectorError::Backend(
                "the graph's copy lost documents".into(),
            ));
        }
        let threads = rayon::current_num_threads().max(SEARCH_SLOTS);
        graph
            .reserve_capacity_and_threads(self.docs.len() + ids.len(), threads)
            .map_err(backend)?;
        for (part, part_ids) in parts.iter().zip(&part_ids) {
            insert_rows(
                &graph,
                part,
                part_ids,
                self.docs.len() + ids.len(),
                cancelled,
            )?;
        }
        ids.extend_from_slice(&self.docs);
        ids.sort_unstable();
        Ok(Self {
            params: self.params,
            dim: self.dim,
            graph: Some(graph),
            docs: ids,
            file: std::sync::OnceLock::new(),
            backing: None,
        })
    }

    /// The dimension of every vector in the index.
    ///
    /// ```
    /// use dash_core::index::{HnswIndex, HnswParams};
    /// let index = HnswIndex::build(4, [(0, [1.0, 0.0, 0.0, 0.0])], HnswParams::default())?;
    /// assert_eq!(index.dim(), 4);
    /// # Ok::<(), dash_core::index::VectorError>(())
    /// ```
    #[must_use]
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The parameters the index was built with.
    ///
    /// ```
    /// use dash_core::index::{HnswIndex, HnswParams};
    /// let p = HnswParams { ef_search: 50, ..HnswParams::default() };
    /// let index = HnswIndex::build(2, [(0, [1.0, 0.0])], p)?;
    /// assert_eq!(index.params().ef_search, 50);
    /// # Ok::<(), dash_core::index::VectorError>(())
    /// ```
    #[must_use]
    pub fn params(&self) -> HnswParams {
        self.params
    }

    /// Indexed documents (deleted ones included: see the type's documentation).
    ///
    /// ```
    /// use dash_core::index::{HnswIndex, HnswParams};
    /// let index = HnswIndex::build(2, [(0, [1.0, 0.0]), (7, [0.0, 1.0])], HnswParams::default())?;
    /// assert_eq!(index.len(), 2);
    /// # Ok::<(), dash_core::index::VectorError>(())
    /// ```
    #[must_use]
    pub fn len(&self) -> u32 {
        u32::try_from(self.docs.len()).unwrap_or(u32::MAX)
    }

    /// True when the index holds no document.
    ///
    /// ```
    /// use dash_core::index::{HnswIndex, HnswParams};
    /// let index = HnswIndex::build(2, Vec::<(u32, [f32; 2])>::new(), HnswParams::default())?;
    /// assert!(index.is_empty());
    /// # Ok::<(), dash_core::index::VectorError>(())
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// True when `doc` was indexed.
    ///
    /// ```
    /// use dash_core::index::{HnswIndex, HnswParams};
    /// let index = HnswIndex::build(2, [(3, [1.0, 0.0])], HnswParams::default())?;
    /// assert!(index.contains(3) && !index.contains(0));
    /// # Ok::<(), dash_core::index::VectorError>(())
    /// ```
    #[must_use]
    pub fn contains(&self, doc: DocId) -> bool {
        self.docs.binary_search(&doc).is_ok()
    }

    /// [`Self::search_filtered`] without a count of accepted documents (the selectivity of
    /// `accept` is then estimated by sampling).
    ///
    /// # Errors
    /// The query's [`VectorError::Dimension`], [`VectorError::NonFinite`] or
    /// [`VectorError::Zero`].
    ///
    /// ```
    /// use dash_core::index::{HnswIndex, HnswParams};
    ///
    /// let docs = (0..500u32).map(|d| (d, [(d as f32).cos(), (d as f32).sin()]));
    /// let index = HnswIndex::build(2, docs, HnswParams::default())?;
    /// let deleted = [0u32];
    /// let hits = index.search(&[1.0, 0.0], 1, |d| !deleted.contains(&d))?;
    /// assert_ne!(hits[0].0, 0);
    /// # Ok::<(), dash_core::index::VectorError>(())
    /// ```
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        accept: impl Fn(DocId) -> bool,
    ) -> Result<Vec<(DocId, f32)>, VectorError> {
        self.search_filtered(query, k, accept, None)
    }

    /// The (approximate) cosine similarity of `query` with the documents that `accept` lets
    /// through, best first, at most `k`; ties go to the lower doc id.
    ///
    /// `accepted_count` is how many indexed documents `accept` lets through, when the caller
    /// knows it (e.g. the length of the filter's bitmap); `None` estimates it by testing `accept`
    /// on an even sample of up to 1,024 documents. The search then takes one of two paths:
    ///
    /// - **exact scan** of the accepted documents when fewer than
    ///   `max(EXACT_SCAN_FRACTION · len, ef)` are accepted (`ef = max(search_ef(), k)`, [`Self::search_ef`]), i.e. below
    ///   2 % of the index or below the candidate list size: such a filter would make the graph
    ///   search walk most of the graph to fill its candidate list, and a scan is exact and cheaper;
    /// - otherwise the **graph search**, with `accept` applied inside usearch's search (only
    ///   accepted docs enter the candidate list; rejected ones are still walked through). Its
    ///   cost grows as the filter tightens: the search walks on until `ef` accepted docs are found.
    ///
    /// A wrong `accepted_count` only changes the path taken, never which documents may be
    /// returned.
    ///
    /// # Errors
    /// The query's [`VectorError::Dimension`], [`VectorError::NonFinite`] or
    /// [`VectorError::Zero`].
    ///
    /// ```
    /// use dash_core::index::{HnswIndex, HnswParams};
    ///
    /// let docs = (0..1000u32).map(|d| (d, [(d as f32).cos(), (d as f32).sin(), 0.2]));
    /// let index = HnswIndex::build(3, docs, HnswParams::default())?;
    /// let allowed: Vec<u32> = (0..1000).step_by(100).collect(); // 1 %: an exact scan
    /// let hits = index.search_filtered(
    ///     &[1.0, 0.0, 0.2], 3, |d| allowed.binary_search(&d).is_ok(), Some(allowed.len()))?;
    /// assert_eq!(hits.len(), 3);
    /// assert!(hits.iter().all(|h| h.0 % 100 == 0));
    /// # Ok::<(), dash_core::index::VectorError>(())
    /// ```
    pub fn search_filtered(
        &self,
        query: &[f32],
        k: usize,
        accept: impl Fn(DocId) -> bool,
        accepted_count: Option<usize>,
    ) -> Result<Vec<(DocId, f32)>, VectorError> {
        let query = unit(query, self.dim())?;
        if k == 0 || self.is_empty() {
            return Ok(Vec::new());
        }
        let accepted = accepted_count.unwrap_or_else(|| self.estimate_accepted(&accept));
        if self.prefers_exact(accepted, k) {
            Ok(self.scan(&query, k, accept))
        } else {
            Ok(self.graph_search(&query, k, self.search_ef(), accept))
        }
    }

    /// The exact cosine similarity of `query` with the documents `accept` lets through, best
    /// first, at most `k` (ties to the lower id): a scan of the index's own unit vectors, the
    /// path [`Self::search_filtered`] takes for selective filters, for callers that plan the
    /// path themselves.
    ///
    /// # Errors
    /// The query's [`VectorError::Dimension`], [`VectorError::NonFinite`] or
    /// [`VectorError::Zero`].
    ///
    /// ```
    /// use dash_core::index::{HnswIndex, HnswParams};
    ///
    /// let docs = (0..200u32).map(|d| (d, [(d as f32).cos(), (d as f32).sin()]));
    /// let index = HnswIndex::build(2, docs, HnswParams::default())?;
    /// let hits = index.search_exact(&[1.0, 0.0], 1, |d| d != 0)?;
    /// assert_eq!(hits.len(), 1);
    /// assert!(hits[0].1 > 0.99);
    /// # Ok::<(), dash_core::index::VectorError>(())
    /// ```
    pub fn search_exact(
        &self,
        query: &[f32],
        k: usize,
        accept: impl Fn(DocId) -> bool,
    ) -> Result<Vec<(DocId, f32)>, VectorError> {
        let query = unit(query, self.dim)?;
        Ok(self.scan(&query, k, accept))
    }

    /// [`Self::search_filtered`] restricted to the documents below `bound`: the best `k` of
    /// those `accept` lets through, best first, the graph walked with a candidate list of
    /// `max(ef, k)` ([`Self::search_ef`] is what [`Self::search_filtered`] uses; a caller
    /// wanting a few near neighbours cheaply passes less). What a caller asks that walks a tenant's
    /// documents in order (the detection stage judges each new version against the ones before
    /// it) and what a filter cannot say cheaply: the documents below `bound` are a prefix of the
    /// sorted doc list, so their count is known exactly and the exact path scans that prefix
    /// alone.
    ///
    /// The path is chosen by cost: a filter admitting a fraction `s` of the graph makes the
    /// graph walk about `1/s` times longer (rejected nodes are still walked through), while the
    /// scan costs one dot product per admitted document; the scan is taken while
    /// `admitted² < EXACT_BELOW_FACTOR · ef · len` (measured, `docs/benchmarks.md`,
    /// `dash-bench filtered`). A bound above every document is [`Self::search_filtered`].
    ///
    /// # Errors
    /// The query's [`VectorError::Dimension`], [`VectorError::NonFinite`] or
    /// [`VectorError::Zero`].
    ///
    /// ```
    /// use dash_core::index::{HnswIndex, HnswParams};
    ///
    /// let docs = (0..1000u32).map(|d| (d, [(d as f32).cos(), (d as f32).sin(), 0.2]));
    /// let index = HnswIndex::build(3, docs, HnswParams::default())?;
    /// let ef = index.params().ef_search;
    /// let hits = index.search_below(&[1.0, 0.0, 0.2], 3, ef, 40, |d| d != 0)?;
    /// assert_eq!(hits.len(), 3);
    /// assert!(hits.iter().all(|h| h.0 > 0 && h.0 < 40));
    /// # Ok::<(), dash_core::index::VectorError>(())
    /// ```
    pub fn search_below(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        bound: DocId,
        accept: impl Fn(DocId) -> bool,
    ) -> Result<Vec<(DocId, f32)>, VectorError> {
        let query = unit(query, self.dim())?;
        let admitted = self.docs.partition_point(|&d| d < bound);
        if k == 0 || admitted == 0 {
            return Ok(Vec::new());
        }
        let below = |d: DocId| d < bound && accept(d);
        let walk = Self::EXACT_BELOW_FACTOR * (ef.max(k) * self.docs.len()) as f64;
        if admitted < self.docs.len() && (admitted as f64).powi(2) < walk {
            return Ok(self.scan_docs(&query, k, &self.docs[..admitted], below));
        }
        // Every document below the bound: `accept` alone decides, as in `search_filtered`.
        let accepted = if admitted == self.docs.len() {
            self.estimate_accepted(&accept)
        } else {
            admitted
        };
        if self.prefers_exact(accepted, k) {
            Ok(self.scan_docs(&query, k, &self.docs[..admitted], below))
        } else {
            Ok(self.graph_search(&query, k, ef, below))
        }
    }

    /// The exact path of [`Self::search_below`], always: a scan of the documents below `bound`
    /// (for benchmarks and for callers that plan the path themselves).
    ///
    /// # Errors
    /// The query's [`VectorError::Dimension`], [`VectorError::NonFinite`] or
    /// [`VectorError::Zero`].
    ///
    /// ```
    /// use dash_core::index::{HnswIndex, HnswParams};
    ///
    /// let docs = (0..300u32).map(|d| (d, [(d as f32).cos(), (d as f32).sin()]));
    /// let index = HnswIndex::build(2, docs, HnswParams::default())?;
    /// let hits = index.search_exact_below(&[1.0, 0.0], 2, 10, |_| true)?;
    /// assert_eq!(hits[0].0, 0);
    /// assert!(hits.iter().all(|h| h.0 < 10));
    /// # Ok::<(), dash_core::index::VectorError>(())
    /// ```
    pub fn search_exact_below(
        &self,
        query: &[f32],
        k: usize,
        bound: DocId,
        accept: impl Fn(DocId) -> bool,
    ) -> Result<Vec<(DocId, f32)>, VectorError> {
        let query = unit(query, self.dim)?;
        let admitted = self.docs.partition_point(|&d| d < bound);
        Ok(self.scan_docs(&query, k, &self.docs[..admitted], accept))
    }

    /// Every indexed doc, ascending.
    pub(crate) fn doc_ids(&self) -> &[DocId] {
        &self.docs
    }

    /// The stored (unit) vector of `doc`, read from the graph.
    pub(crate) fn row(&self, doc: DocId) -> Option<Vec<f32>> {
        let mut row = vec![0.0; self.dim];
        self.read_row(doc, &mut row).then_some(row)
    }

    /// Reads `doc`'s unit vector into `row` (`dim` long); false when `doc` is not indexed.
    fn read_row(&self, doc: DocId, row: &mut [f32]) -> bool {
        let Some(graph) = &self.graph else {
            return false;
        };
        self.contains(doc) && matches!(graph.get(u64::from(doc), row), Ok(1))
    }

    /// The exact path: the dot product of `query` (a checked unit vector) with every accepted
    /// document's vector, best first, at most `k`.
    fn scan(&self, query: &[f32], k: usize, accept: impl Fn(DocId) -> bool) -> Vec<(DocId, f32)> {
        self.scan_docs(query, k, &self.docs, accept)
    }

    /// [`Self::scan`] over `docs` (a part of the index's own list).
    fn scan_docs(
        &self,
        query: &[f32],
        k: usize,
        docs: &[DocId],
        accept: impl Fn(DocId) -> bool,
    ) -> Vec<(DocId, f32)> {
        if k == 0 {
            return Vec::new();
        }
        let mut top = TopK::new(k);
        let mut row = vec![0.0; self.dim];
        for &doc in docs.iter().filter(|&&d| accept(d)) {
            if self.read_row(doc, &mut row) {
                top.push(Hit::new(doc, dot(query, &row)));
            }
        }
        top.into_sorted()
    }

    /// The graph in usearch's serialized form (empty for an empty index), for a graph file.
    ///
    /// # Errors
    /// [`VectorError::Backend`] if usearch cannot serialize it.
    pub(crate) fn graph_bytes(&self) -> Result<Vec<u8>, VectorError> {
        let Some(graph) = &self.graph else {
            return Ok(Vec::new());
        };
        let mut buf = vec![0u8; graph.serialized_length()];
        graph.save_to_buffer(&mut buf).map_err(backend)?;
        Ok(buf)
    }

    /// Saves the graph in usearch's serialized form (the bytes [`Self::graph_bytes`] returns) to
    /// the file `path`, through usearch's own buffered writes: no copy of the graph in the heap.
    /// Returns the bytes written.
    ///
    /// # Errors
    /// [`VectorError::Backend`] for an empty index (nothing to save), a path that is not
    /// UTF-8, or an I/O error of usearch's.
    pub(crate) fn save_graph(&self, path: &std::path::Path) -> Result<usize, VectorError> {
        let graph = self
            .graph
            .as_ref()
            .ok_or_else(|| VectorError::Backend("an empty index has no graph to save".into()))?;
        let path = path
            .to_str()
            .ok_or_else(|| VectorError::Backend("the graph's path is not UTF-8".into()))?;
        let len = graph.serialized_length();
        graph.save(path).map_err(backend)?;
        Ok(len)
    }

    /// An index over a graph saved by [`Self::graph_bytes`], *viewed* where it lies:
    /// `bytes[range]` is the serialized graph (its start should be 64-byte aligned in the
    /// file, as graph files place it), `docs` its documents (ascending), `built` the parameters
    /// it was built with; searches use `params.ef_search`. The index keeps `bytes` alive and
    /// reads vectors and links from them (a mapped graph file costs page cache, not heap); only
    /// usearch's per-node lookup tables (about 40 bytes a document) are allocated. The graph is
    /// checked against `docs` (count, dimension, every key present).
    ///
    /// # Errors
    /// [`VectorError::InvalidParams`]; [`VectorError::Backend`] when usearch refuses the bytes
    /// (bounds are checked: a short or damaged graph is refused) or they do not hold exactly
    /// `docs`.
    #[allow(unsafe_code)]
    pub(crate) fn view_graph(
        dim: usize,
        built: HnswParams,
        params: HnswParams,
        docs: Vec<DocId>,
        bytes: std::sync::Arc<FileBytes>,
        range: std::ops::Range<usize>,
    ) -> Result<Self, VectorError> {
        built.check()?;
        params.check()?;
        let params = HnswParams {
            ef_search: params.ef_search,
            ..built
        };
        if docs.is_empty() {
            return Ok(Self {
                params,
                dim,
                graph: None,
                docs,
                file: std::sync::OnceLock::new(),
                backing: None,
            });
        }
        if !docs.windows(2).all(|w| w[0] < w[1]) {
            return Err(VectorError::Backend(
                "graph documents are not ascending".into(),
            ));
        }
        let blob = bytes
            .get(range.clone())
            .ok_or_else(|| VectorError::Backend("the graph lies outside its file".into()))?;
        let graph = usearch::Index::new(&graph_options(dim, params)).map_err(backend)?;
        // Search contexts first: a view keeps the thread limits set before it.
        let threads = rayon::current_num_threads().max(SEARCH_SLOTS);
        graph
            .reserve_capacity_and_threads(0, threads)
            .map_err(backend)?;
        // SAFETY: usearch keeps pointers into `blob` for as long as `graph` lives. `blob` borrows
        // from `bytes`, an `Arc` this index holds in `backing`, declared after `graph` so it is
        // dropped after it; `FileBytes` is immutable (a heap copy, or a read-only mapping of a
        // graph file, which DASH writes once under a fresh name and never changes; a file cut by
        // another process under the mapping faults with SIGBUS, as segments do: docs/design.md
        // §4). usearch checks every offset it reads against `blob.len()` while viewing.
        unsafe { graph.view_from_buffer(blob) }.map_err(backend)?;
        graph.change_expansion_search(USEARCH_EXPANSION);
        let holds_docs = graph.dimensions() == dim
            && graph.size() == docs.len()
            && docs.iter().all(|&d| graph.contains(u64::from(d)));
        if !holds_docs {
            return Err(VectorError::Backend(
                "the saved graph does not hold its listed documents".into(),
            ));
        }
        Ok(Self {
            params,
            dim,
            graph: Some(graph),
            docs,
            file: std::sync::OnceLock::new(),
            backing: Some((bytes, range)),
        })
    }

    /// Heap bytes held: the doc list, and what usearch allocates (the whole graph and its
    /// vectors when built here; per-node tables alone when viewed from file bytes, which are
    /// mapped, not heap).
    pub(crate) fn heap_bytes(&self) -> u64 {
        let graph = self.graph.as_ref().map_or(0, |g| g.memory_usage() as u64);
        crate::heap::vec(&self.docs) + graph
    }

    /// True when the graph is viewed from file bytes rather than held in its own memory.
    pub(crate) fn is_viewed(&self) -> bool {
        self.backing.is_some()
    }

    /// The name of the graph file that holds this graph, once it was saved or loaded.
    pub(crate) fn file(&self) -> Option<&str> {
        self.file.get().map(AsRef::as_ref)
    }

    /// Records the graph file that holds this graph (the first name given sticks).
    pub(crate) fn set_file(&self, name: &str) {
        let _ = self.file.set(name.into());
    }

    /// The candidate list [`Self::search_filtered`] walks this graph with (before `max(ef, k)`):
    /// [`HnswParams::ef_search`], scaled by `√(len / EF_SCALE_FROM)` above
    /// [`Self::EF_SCALE_FROM`] documents, so that a graph grown tenfold keeps its recall.
    ///
    /// ```
    /// use dash_core::index::{HnswIndex, HnswParams};
    ///
    /// let docs = (0..100u32).map(|d| (d, [(d as f32).cos(), (d as f32).sin()]));
    /// let index = HnswIndex::build(2, docs, HnswParams::default())?;
    /// assert_eq!(index.search_ef(), 200); // a small graph: ef_search as given
    /// # Ok::<(), dash_core::index::VectorError>(())
    /// ```
    #[must_use]
    pub fn search_ef(&self) -> usize {
        scaled_ef(self.params.ef_search, self.docs.len())
    }

    /// The exact-scan rule of [`Self::search_filtered`].
    fn prefers_exact(&self, accepted: usize, k: usize) -> bool {
        let fraction_floor = Self::EXACT_SCAN_FRACTION * self.docs.len() as f64;
        (accepted as f64) < fraction_floor || accepted < self.search_ef().max(k)
    }

    /// How many documents `accept` lets through, extrapolated from an even sample.
    fn estimate_accepted(&self, accept: impl Fn(DocId) -> bool) -> usize {
        let n = self.docs.len();
        let sample = n.min(SELECTIVITY_SAMPLE);
        if sample == 0 {
            return 0;
        }
        let hits = (0..sample)
            .filter(|i| accept(self.docs[i * n / sample]))
            .count();
        hits * n / sample
    }

    /// The graph path: usearch's filtered search with a candidate list of `max(ef, k)`, its best
    /// `k` rescored from the unit vectors. Should the graph refuse the search (every search
    /// slot busy), the exact scan answers instead.
    fn graph_search(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        accept: impl Fn(DocId) -> bool,
    ) -> Vec<(DocId, f32)> {
        let Some(graph) = &self.graph else {
            return Vec::new();
        };
        // usearch walks with a candidate list of `max(expansion_search, wanted)`, and the
        // graph's `expansion_search` is [`USEARCH_EXPANSION`] (1): asking for `max(ef, k)`
        // results sets the list per search. They come best first; the first `k` are kept.
        let filter = |key: u64| DocId::try_from(key).is_ok_and(&accept);
        let Ok(found) = graph.filtered_search(query, ef.max(k), filter) else {
            return self.scan(query, k, accept);
        };
        let mut top = TopK::new(k);
        let mut row = vec![0.0; self.dim];
        for &key in found.keys.iter().take(k) {
            let Ok(doc) = DocId::try_from(key) else {
                continue;
            };
            if accept(doc) && self.read_row(doc, &mut row) {
                top.push(Hit::new(doc, dot(query, &row)));
            }
        }
        top.into_sorted()
    }
}

/// `ef` for a graph of `len` documents: as given up to [`HnswIndex::EF_SCALE_FROM`], times
/// `√(len / EF_SCALE_FROM)` above.
fn scaled_ef(ef: usize, len: usize) -> usize {
    if len <= HnswIndex::EF_SCALE_FROM {
        return ef;
    }
    let factor = (len as f64 / HnswIndex::EF_SCALE_FROM as f64).sqrt();
    // Saturating: `as` clamps a float above usize::MAX.
    (ef as f64 * factor).ceil() as usize
}

fn backend(e: impl fmt::Display) -> VectorError {
    VectorError::Backend(e.to_string())
}

/// The usearch options of a graph: inner product over unit f32 vectors, one vector per key.
fn graph_options(dim: usize, params: HnswParams) -> usearch::IndexOptions {
    usearch::IndexOptions {
        dimensions: dim,
        metric: usearch::MetricKind::IP,
        quantization: match params.quantization {
            Quantization::F32 => usearch::ScalarKind::F32,
            Quantization::F16 => usearch::ScalarKind::F16,
            Quantization::I8 => usearch::ScalarKind::I8,
        },
        connectivity: params.max_nb_connection,
        expansion_add: params.ef_construction,
        expansion_search: USEARCH_EXPANSION,
        multi: false,
    }
}

/// `docs` as unit rows and their ids (in the order given), refusing a document given twice or
/// one `held` says is held already.
fn collect_rows<V: AsRef<[f32]>>(
    dim: usize,
    docs: impl IntoIterator<Item = (DocId, V)>,
    held: impl Fn(DocId) -> bool,
) -> Result<(ExactIndex, Vec<DocId>), VectorError> {
    let mut exact = ExactIndex::new(dim);
    let mut ids = Vec::new();
    for (doc, vector) in docs {
        if exact.contains(doc) || held(doc) {
            return Err(VectorError::DuplicateDoc(doc));
        }
        exact.insert(doc, vector.as_ref())?;
        ids.push(doc);
    }
    Ok((exact, ids))
}

/// An empty usearch graph for `capacity` vectors, with a search context per slot.
fn new_graph(
    dim: usize,
    params: HnswParams,
    capacity: usize,
) -> Result<usearch::Index, VectorError> {
    let graph = usearch::Index::new(&graph_options(dim, params)).map_err(backend)?;
    let threads = rayon::current_num_threads().max(SEARCH_SLOTS);
    graph
        .reserve_capacity_and_threads(capacity, threads)
        .map_err(backend)?;
    Ok(graph)
}

/// The live documents of each part (ascending) and of all parts together, refusing a part
/// of another dimension, a document in two parts, or one `held` says is held already.
fn part_docs(
    dim: usize,
    parts: &[&ExactIndex],
    held: impl Fn(DocId) -> bool,
) -> Result<(Vec<Vec<DocId>>, Vec<DocId>), VectorError> {
    let mut per_part = Vec::with_capacity(parts.len());
    let mut all = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        if part.dim() != dim {
            return Err(VectorError::Dimension {
                expected: dim,
                got: part.dim(),
            });
        }
        let docs: Vec<DocId> = part.live_docs().collect();
        if let Some(&doc) = docs
            .iter()
            .find(|&&d| held(d) || parts[..i].iter().any(|p| p.contains(d)))
        {
            return Err(VectorError::DuplicateDoc(doc));
        }
        all.extend_from_slice(&docs);
        per_part.push(docs);
    }
    Ok((per_part, all))
}

/// Inserts `ids` (their unit vectors in `exact`) into `graph`, in parallel when the graph will
/// hold `total` ≥ [`PARALLEL_BUILD_MIN_DOCS`] documents.
fn insert_rows(
    graph: &usearch::Index,
    exact: &ExactIndex,
    ids: &[DocId],
    total: usize,
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Result<(), VectorError> {
    use rayon::prelude::*;
    let add = |&doc: &DocId| {
        if cancelled() {
            return Err(VectorError::Cancelled);
        }
        match exact.row(doc) {
            Some(row) => graph.add(u64::from(doc), row).map_err(backend),
            None => Ok(()),
        }
    };
    if total < PARALLEL_BUILD_MIN_DOCS {
        ids.iter().try_for_each(add)
    } else {
        ids.par_iter().try_for_each(add)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, HashSet};
    use std::time::Instant;

    #[test]
    fn a_graph_above_a_million_documents_searches_with_a_longer_candidate_list() {
        assert_eq!(scaled_ef(200, 0), 200);
        assert_eq!(scaled_ef(200, HnswIndex::EF_SCALE_FROM), 200);
        assert_eq!(scaled_ef(200, 4 * HnswIndex::EF_SCALE_FROM), 400);
        assert_eq!(scaled_ef(200, 9_500_000), 617); // √9.5 = 3.082
        assert_eq!(scaled_ef(1, 100 * HnswIndex::EF_SCALE_FROM), 10);
        assert!(
            scaled_ef(usize::MAX, usize::MAX) >= usize::MAX / 2,
            "saturates, no panic"
        );
    }

    #[test]
    fn the_exact_part_keeps_rows_for_held_documents_only_and_compacts_removed_ones() {
        let mut index = ExactIndex::new(2);
        let vector = |d: u32| [1.0 + d as f32, (d % 7) as f32];
        // Ids far from zero: rows follow the documents, not the largest id.
        for d in 1_000_000..1_000_200 {
            index.insert(d, &vector(d)).unwrap();
        }
        assert_eq!(index.rows.len(), 200 * 2);
        for d in (1_000_000..1_000_200).filter(|d| d % 4 != 0) {
            index.remove(d);
        }
        assert_eq!(index.len(), 50);
        assert!(
            index.rows.len() < 200 * 2,
            "removed rows were compacted away"
        );
        assert_eq!(index.live_docs().count(), 50);
        for d in 1_000_000..1_000_200 {
            assert_eq!(index.contains(d), d % 4 == 0, "{d}");
            if d % 4 == 0 {
                let row = index.row(d).unwrap();
                let expected = unit(&vector(d), 2).unwrap();
                assert!((row[0] - expected[0]).abs() < 1e-6 && (row[1] - expected[1]).abs() < 1e-6);
            }
        }
        // The scan sees exactly the live documents, and a removed id can come back.
        let all = index.search(&[1.0, 0.0], 1000, |_| true).unwrap();
        assert_eq!(all.len(), 50);
        assert!(all.iter().all(|(d, _)| d % 4 == 0));
        index.insert(1_000_001, &[0.0, 1.0]).unwrap();
        assert_eq!(
            index.search(&[0.0, 1.0], 1, |_| true).unwrap()[0].0,
            1_000_001
        );
    }

    /// Cosine similarity in f64, straight from the definition: the reference.
    fn cosine(a: &[f32], b: &[f32]) -> f64 {
        let d: f64 = a
            .iter()
            .zip(b)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum();
        let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
        let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
        d / (na * nb)
    }

    fn brute_force(
        live: &BTreeMap<DocId, Vec<f32>>,
        query: &[f32],
        accept: impl Fn(DocId) -> bool,
    ) -> Vec<(DocId, f64)> {
        let mut out: Vec<(DocId, f64)> = live
            .iter()
            .filter(|(d, _)| accept(**d))
            .map(|(d, v)| (*d, cosine(query, v)))
            .collect();
        out.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
        out
    }

    const DIM: usize = 5;

    fn vector() -> impl Strategy<Value = Vec<f32>> {
        prop_oneof![
            8 => prop::collection::vec(-2.0f32..2.0, DIM),
            1 => Just(vec![0.0; DIM]),
            1 => Just(vec![1.0, f32::INFINITY, 0.0, 0.0, 0.0]),
            1 => prop::collection::vec(-2.0f32..2.0, DIM - 1),
            // Exact duplicates of a few directions, so that ties happen.
            2 => prop::sample::select(vec![
                vec![1.0, 0.0, 0.0, 0.0, 0.0],
                vec![0.0, 3.0, 0.0, 0.0, 0.0],
                vec![1e-30, 1e-30, 0.0, 0.0, 0.0],
            ]),
        ]
    }

    proptest! {
        /// After any sequence of inserts (valid or not), replacements and removals, the index
        /// returns what the definition of cosine similarity gives over the live documents.
        #[test]
        fn exact_index_matches_brute_force(
            ops in prop::collection::vec((0u32..16, prop::option::of(vector())), 1..80),
            query in vector(),
            k in 0usize..20,
            mask in any::<u16>(),
        ) {
            let mut index = ExactIndex::new(DIM);
            let mut live: BTreeMap<DocId, Vec<f32>> = BTreeMap::new();
            for (doc, op) in ops {
                match op {
                    Some(v) => {
                        let valid = v.len() == DIM
                            && v.iter().all(|x| x.is_finite())
                            && v.iter().any(|x| *x != 0.0);
                        let result = index.insert(doc, &v);
                        prop_assert_eq!(result.is_ok(), valid, "{:?}", result);
                        if valid {
                            live.insert(doc, v);
                        }
                    }
                    None => {
                        index.remove(doc);
                        live.remove(&doc);
                    }
                }
                prop_assert_eq!(index.len() as usize, live.len());
            }
            for doc in 0..16 {
                prop_assert_eq!(index.contains(doc), live.contains_key(&doc));
            }
            let accept = |d: DocId| mask & (1 << d) != 0;
            let got = index.search(&query, k, accept);
            let query_valid = query.len() == DIM
                && query.iter().all(|x| x.is_finite())
                && query.iter().any(|x| *x != 0.0);
            prop_assert_eq!(got.is_ok(), query_valid);
            let Ok(got) = got else { return Ok(()) };
            let expected = brute_force(&live, &query, accept);
            prop_assert_eq!(got.len(), expected.len().min(k));
            let mut seen = HashSet::new();
            for ((gd, gs), (_, es)) in got.iter().zip(&expected) {
                // Same score at each rank, and each returned doc carries its own score.
                prop_assert!((f64::from(*gs) - es).abs() < 1e-5, "{gd}:{gs} vs {es}");
                prop_assert!(seen.insert(*gd));
                prop_assert!(accept(*gd));
                prop_assert!((f64::from(*gs) - cosine(&query, &live[gd])).abs() < 1e-5);
            }
            prop_assert!(got.windows(2).all(|w| Hit::new(w[0].0, w[0].1) < Hit::new(w[1].0, w[1].1)));
        }
    }

    #[test]
    fn exact_ties_go_to_the_lower_id_and_ids_are_reusable() {
        let mut index = ExactIndex::new(2);
        for d in [5, 1, 3] {
            index.insert(d, &[2.0, 0.0]).unwrap();
        }
        index.insert(2, &[0.0, 1.0]).unwrap();
        assert_eq!(
            index.search(&[1.0, 0.0], 2, |_| true).unwrap(),
            [(1, 1.0), (3, 1.0)]
        );
        index.remove(1);
        index.remove(1);
        assert_eq!(index.len(), 3);
        index.insert(1, &[0.0, -1.0]).unwrap();
        let hits = index.search(&[1.0, 0.0], 10, |_| true).unwrap();
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), [3, 5, 1, 2]);
        assert_eq!(hits[2].1, 0.0);
    }

    #[test]
    fn empty_indexes_and_k_zero() {
        let exact = ExactIndex::new(3);
        assert!(exact
            .search(&[1.0, 0.0, 0.0], 10, |_| true)
            .unwrap()
            .is_empty());
        assert_eq!(
            exact.search(&[1.0, 0.0], 10, |_| true),
            Err(VectorError::Dimension {
                expected: 3,
                got: 2
            })
        );
        let hnsw =
            HnswIndex::build(3, Vec::<(DocId, Vec<f32>)>::new(), HnswParams::default()).unwrap();
        assert!(hnsw.is_empty());
        assert!(hnsw
            .search(&[1.0, 0.0, 0.0], 10, |_| true)
            .unwrap()
            .is_empty());
        assert_eq!(
            hnsw.search(&[0.0, 0.0, 0.0], 10, |_| true),
            Err(VectorError::Zero)
        );

        let data = clustered(300, 8, 10, 1.0, 7);
        let mut exact = ExactIndex::new(8);
        for (d, v) in data.iter().enumerate() {
            exact.insert(d as DocId, v).unwrap();
        }
        let hnsw = HnswIndex::build(8, ids(&data), HnswParams::default()).unwrap();
        for k in [0, 1, 5] {
            assert_eq!(exact.search(&data[0], k, |_| true).unwrap().len(), k);
            assert_eq!(hnsw.search(&data[0], k, |_| true).unwrap().len(), k);
            assert_eq!(hnsw.graph_search(&data[0], k, 200, |_| true).len(), k);
        }
        // Nothing accepted: empty, on either path.
        assert!(hnsw.search(&data[0], 5, |_| false).unwrap().is_empty());
        assert!(hnsw.graph_search(&data[0], 5, 200, |_| false).is_empty());
    }

    #[test]
    fn hnsw_rejects_bad_input_and_params() {
        let p = HnswParams::default();
        let bad = |m| HnswParams {
            max_nb_connection: m,
            ..p
        };
        for m in [0, 1, 256, 1000] {
            assert!(matches!(
                HnswIndex::build(2, [(0, [1.0, 0.0])], bad(m)),
                Err(VectorError::InvalidParams(_))
            ));
        }
        let no_ef = HnswParams { ef_search: 0, ..p };
        assert!(HnswIndex::build(2, [(0, [1.0, 0.0])], no_ef).is_err());
        assert_eq!(
            HnswIndex::build(2, [(0, vec![1.0, 0.0]), (1, vec![0.0])], p).err(),
            Some(VectorError::Dimension {
                expected: 2,
                got: 1
            })
        );
    }

    #[test]
    fn hnsw_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<HnswIndex>();
        check::<ExactIndex>();
    }

    /// SplitMix64: a tiny deterministic PRNG (no data files, no `rand`).
    struct Rng(u64);

    impl Rng {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// Uniform in (0, 1].
        fn uniform(&mut self) -> f64 {
            ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
        }

        /// Standard normal (Box–Muller).
        fn normal(&mut self) -> f32 {
            let (u, v) = (self.uniform(), self.uniform());
            ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
        }
    }

    /// `n` vectors of `dim` components around `clusters` random centres (standard normal
    /// components); each point is its centre plus normal noise of standard deviation `noise`.
    /// At `noise = 1.5` in 64 dimensions clusters overlap enough that recall is not trivial.
    fn clustered(n: usize, dim: usize, clusters: usize, noise: f32, seed: u64) -> Vec<Vec<f32>> {
        let mut rng = Rng(seed);
        let centres: Vec<Vec<f32>> = (0..clusters)
            .map(|_| (0..dim).map(|_| rng.normal()).collect())
            .collect();
        (0..n)
            .map(|_| {
                let c = &centres[(rng.next_u64() % clusters as u64) as usize];
                c.iter().map(|x| x + noise * rng.normal()).collect()
            })
            .collect()
    }

    fn ids(data: &[Vec<f32>]) -> impl Iterator<Item = (DocId, &Vec<f32>)> {
        (0..).zip(data)
    }

    /// Mean recall@k of `approx` against `exact` over `queries`.
    fn recall(
        queries: &[Vec<f32>],
        k: usize,
        exact: impl Fn(&[f32]) -> Vec<(DocId, f32)>,
        approx: impl Fn(&[f32]) -> Vec<(DocId, f32)>,
    ) -> f64 {
        let mut found = 0usize;
        let mut wanted = 0usize;
        for q in queries {
            let truth: HashSet<DocId> = exact(q).into_iter().map(|h| h.0).collect();
            let got = approx(q);
            assert!(got.len() <= k);
            assert!(got.windows(2).all(|w| w[0].1 >= w[1].1));
            wanted += truth.len();
            found += got.iter().filter(|h| truth.contains(&h.0)).count();
        }
        found as f64 / wanted as f64
    }

    /// Builds both indexes over a clustered set and checks recall@10 unfiltered (≥ 0.98), with a
    /// 1 % filter through the public API (the exact-scan path) and forced through the graph, and
    /// with a 10 % filter through the graph (each ≥ 0.95). Release builds also print timings.
    fn recall_run(n: usize, dim: usize, clusters: usize, noise: f32, queries: usize) {
        let k = 10;
        let data = clustered(n + queries, dim, clusters, noise, 42);
        let (docs, queries) = data.split_at(n);
        let started = Instant::now();
        let hnsw = HnswIndex::build(dim, ids(docs), HnswParams::default()).unwrap();
        let built = started.elapsed();
        let mut exact = ExactIndex::new(dim);
        for (d, v) in ids(docs) {
            exact.insert(d, v).unwrap();
        }

        // Mean time per query (release builds give meaningful figures).
        let per_query = |search: &dyn Fn(&[f32])| {
            let started = Instant::now();
            for q in queries {
                search(q);
            }
            started.elapsed() / queries.len() as u32
        };
        let r_all = recall(
            queries,
            k,
            |q| exact.search(q, k, |_| true).unwrap(),
            |q| hnsw.search(q, k, |_| true).unwrap(),
        );
        // Scores are comparable: the graph's hits carry the exact index's scores.
        let q = &queries[0];
        let from_exact: BTreeMap<DocId, f32> =
            exact.search(q, n, |_| true).unwrap().into_iter().collect();
        for (d, s) in hnsw.search(q, k, |_| true).unwrap() {
            assert_eq!(from_exact[&d], s);
        }

        let one_pct = |d: DocId| d % 100 == 37;
        let accepted = (0..n as DocId).filter(|d| one_pct(*d)).count();
        assert!(hnsw.prefers_exact(accepted, k));
        assert!(hnsw.prefers_exact(hnsw.estimate_accepted(one_pct), k));
        let r_1pct = recall(
            queries,
            k,
            |q| exact.search(q, k, one_pct).unwrap(),
            |q| hnsw.search_filtered(q, k, one_pct, Some(accepted)).unwrap(),
        );
        let r_1pct_graph = recall(
            queries,
            k,
            |q| exact.search(q, k, one_pct).unwrap(),
            |q| hnsw.graph_search(&unit(q, dim).unwrap(), k, 200, one_pct),
        );
        let ten_pct = |d: DocId| d % 10 == 3;
        assert!(!hnsw.prefers_exact(hnsw.estimate_accepted(ten_pct), k));
        let r_10pct = recall(
            queries,
            k,
            |q| exact.search(q, k, ten_pct).unwrap(),
            |q| hnsw.search(q, k, ten_pct).unwrap(),
        );
        eprintln!(
            "{n} x {dim}-d, {clusters} clusters, noise {noise}: build {built:?}; recall@10: \
             no filter {r_all:.4}, 1% filter (exact-scan path) {r_1pct:.4}, \
             1% filter (forced graph path) {r_1pct_graph:.4}, 10% filter (graph path) {r_10pct:.4}"
        );
        if !cfg!(debug_assertions) {
            let t_exact = per_query(&|q| drop(exact.search(q, k, |_| true)));
            let t_all = per_query(&|q| drop(hnsw.search(q, k, |_| true)));
            let t_1pct = per_query(&|q| drop(hnsw.search_filtered(q, k, one_pct, Some(accepted))));
            let t_1pct_graph =
                per_query(&|q| drop(hnsw.graph_search(&unit(q, dim).unwrap(), k, 200, one_pct)));
            let t_10pct = per_query(&|q| drop(hnsw.search(q, k, ten_pct)));
            eprintln!(
                "  per query: exact scan {t_exact:?}; hnsw: no filter {t_all:?}, \
                 1% filter (exact-scan path) {t_1pct:?}, 1% (forced graph path) {t_1pct_graph:?}, \
                 10% (graph path) {t_10pct:?}"
            );
        }
        assert!(r_all >= 0.98, "recall@10 {r_all}");
        assert!(r_1pct >= 0.95, "filtered (1 %) recall@10 {r_1pct}");
        // The forced graph walk under a 1 % filter is the path production avoids (it scans
        // instead, above). It is checked for filtering *inside* the walk — nothing rejected comes
        // back, and most of the true top 10 is found — with a loose bar: usearch's parallel build
        // is not deterministic, and one CI run built a graph giving 0.948 here (1.000 usually).
        for q in queries.iter().take(20) {
            let hits = hnsw.graph_search(&unit(q, dim).unwrap(), k, 200, one_pct);
            assert!(
                hits.iter().all(|(d, _)| one_pct(*d)),
                "a rejected doc came back"
            );
        }
        assert!(
            r_1pct_graph >= 0.85,
            "filtered (1 %, graph) recall@10 {r_1pct_graph}"
        );
        assert!(r_10pct >= 0.95, "filtered (10 %) recall@10 {r_10pct}");
    }

    /// Below a bound: never a document at or above it or one `accept` rejects; the exact path
    /// (few below) equals the exact scan, the graph path (most below) finds the exact top.
    #[test]
    fn search_below_keeps_below_the_bound_on_either_path() {
        let data = clustered(3_000, 16, 20, 0.3, 5);
        let hnsw = HnswIndex::build(16, ids(&data), HnswParams::default()).unwrap();
        let mut exact = ExactIndex::new(16);
        for (d, v) in ids(&data) {
            exact.insert(d, v).unwrap();
        }
        let accept = |d: DocId| d % 7 != 3;
        let k = 10;
        // At 3,000 documents and ef 200 the scan is taken below sqrt(5 · 200 · 3,000) ≈ 1,732.
        for bound in [
            0u32, 1, 50, 1_000, 1_700, 2_000, 2_600, 2_999, 3_000, 10_000,
        ] {
            let (mut found, mut wanted) = (0, 0);
            for q in data.iter().step_by(97) {
                let hits = hnsw.search_below(q, k, 200, bound, accept).unwrap();
                assert!(hits.iter().all(|&(d, _)| d < bound && accept(d)), "{bound}");
                let truth = exact.search(q, k, |d| d < bound && accept(d)).unwrap();
                if bound <= 1_700 {
                    assert_eq!(hits, truth, "exact path, bound {bound}");
                    let scanned = hnsw.search_exact_below(q, k, bound, accept).unwrap();
                    assert_eq!(scanned, truth, "search_exact_below, bound {bound}");
                }
                wanted += truth.len();
                found += hits.iter().filter(|h| truth.contains(h)).count();
            }
            let recall = found as f64 / wanted.max(1) as f64;
            assert!(
                bound == 0 || recall >= 0.95,
                "bound {bound}: recall {recall}"
            );
        }
    }

    /// An extended graph (a copy of a held or a viewed graph, more documents inserted) holds
    /// both sets, answers as well as a graph built over all of them, and leaves the original
    /// as it was; a document it holds already is refused.
    #[test]
    fn an_extended_graph_holds_old_and_new_documents_and_finds_both() {
        let data = clustered(4_000, 16, 20, 0.3, 21);
        let (old, new) = data.split_at(2_500);
        let base = HnswIndex::build(16, ids(old), HnswParams::default()).unwrap();
        let blob = base.graph_bytes().unwrap();
        let mut file = vec![0u8; 64];
        file.extend_from_slice(&blob);
        let viewed = HnswIndex::view_graph(
            16,
            base.params(),
            base.params(),
            base.doc_ids().to_vec(),
            std::sync::Arc::new(FileBytes::from(file)),
            64..64 + blob.len(),
        )
        .unwrap();
        let more = || new.iter().enumerate().map(|(i, v)| (2_500 + i as DocId, v));
        let mut exact = ExactIndex::new(16);
        for (d, v) in ids(&data) {
            exact.insert(d, v).unwrap();
        }
        for from in [&base, &viewed] {
            let grown = from.extend_cancellable(more(), &|| false).unwrap();
            assert!(!grown.is_viewed());
            assert_eq!(grown.len(), 4_000);
            assert_eq!(grown.doc_ids(), (0..4_000).collect::<Vec<DocId>>());
            assert_eq!(from.len(), 2_500, "the original is unchanged");
            let r = recall(
                &data[..200],
                10,
                |q| exact.search(q, 10, |_| true).unwrap(),
                |q| grown.search(q, 10, |_| true).unwrap(),
            );
            assert!(r >= 0.98, "recall@10 {r}");
            // Old and new documents alike find themselves.
            for d in [0u32, 1_234, 2_499, 2_500, 3_999] {
                let hit = grown.search(&data[d as usize], 1, |_| true).unwrap();
                assert_eq!(hit[0].0, d);
            }
            let again = from.extend_cancellable([(7u32, &data[7])], &|| false);
            assert_eq!(again.err(), Some(VectorError::DuplicateDoc(7)));
            let cancelled = from.extend_cancellable(more(), &|| true);
            assert_eq!(cancelled.err(), Some(VectorError::Cancelled));
        }
    }

    /// A saved graph viewed from its bytes (the `unsafe` view): same answers and vectors as the
    /// graph it was saved from, from several threads at once, after the original is dropped.
    #[test]
    fn a_saved_graph_is_viewed_with_the_same_answers() {
        let data = clustered(3_000, 16, 20, 0.3, 11);
        let index = HnswIndex::build(16, ids(&data), HnswParams::default()).unwrap();
        let blob = index.graph_bytes().unwrap();
        // As in a graph file: the graph after a header, at a 64-byte aligned offset.
        let mut file = vec![7u8; 64];
        file.extend_from_slice(&blob);
        let bytes = std::sync::Arc::new(FileBytes::from(file));
        let range = 64..64 + blob.len();
        let docs = index.doc_ids().to_vec();
        let tuned = HnswParams {
            ef_search: 64,
            ..HnswParams::default()
        };
        let viewed = HnswIndex::view_graph(
            16,
            index.params(),
            tuned,
            docs.clone(),
            std::sync::Arc::clone(&bytes),
            range.clone(),
        )
        .unwrap();
        assert!(viewed.is_viewed() && !index.is_viewed());
        assert_eq!(viewed.params().ef_search, 64);
        assert_eq!(viewed.len(), index.len());
        let expected: Vec<_> = data
            .iter()
            .step_by(97)
            .map(|q| index.search(q, 10, |d| d % 3 != 0).unwrap())
            .collect();
        let rows: Vec<_> = expected.iter().map(|a| index.row(a[0].0)).collect();
        drop(index);
        drop(blob);
        std::thread::scope(|s| {
            for t in 0..4 {
                let (viewed, data, expected, rows) = (&viewed, &data, &expected, &rows);
                s.spawn(move || {
                    for (i, q) in data.iter().step_by(97).enumerate() {
                        let b = viewed.search(q, 10, |d| d % 3 != 0).unwrap();
                        assert_eq!(expected[i][0], b[0], "thread {t}: the nearest neighbour");
                        assert_eq!(viewed.row(b[0].0), rows[i]);
                    }
                });
            }
        });
        // A graph that does not hold the listed documents, bytes usearch refuses (cut short,
        // or a range beyond the file), or another dimension, is refused.
        let params = HnswParams::default();
        let view = |dim, docs: Vec<DocId>, range: std::ops::Range<usize>| {
            HnswIndex::view_graph(
                dim,
                params,
                params,
                docs,
                std::sync::Arc::clone(&bytes),
                range,
            )
        };
        assert!(view(16, docs[..docs.len() - 1].to_vec(), range.clone()).is_err());
        assert!(view(16, docs.iter().map(|d| d + 1).collect(), range.clone()).is_err());
        assert!(view(16, docs.clone(), 64..164).is_err());
        assert!(view(16, docs.clone(), 64..range.end + 1).is_err());
        assert!(view(8, docs, range).is_err());
    }

    /// Every node of a small graph is reachable: each document's own vector finds it first.
    /// (Built with concurrent inserts, about 1 query in 800 missed here: usearch#735.)
    #[test]
    fn every_node_of_a_small_graph_finds_itself() {
        let params = HnswParams {
            max_nb_connection: 16,
            ef_construction: 100,
            ef_search: 100,
            ..HnswParams::default()
        };
        let mut rng = Rng(11);
        for round in 0..6 {
            let data: Vec<Vec<f32>> = (0..300)
                .map(|_| (0..16).map(|_| rng.normal()).collect())
                .collect();
            let index = HnswIndex::build(16, ids(&data), params).unwrap();
            for (doc, v) in ids(&data) {
                let hits = index.search_filtered(v, 3, |_| true, Some(300)).unwrap();
                assert_eq!(hits[0].0, doc, "round {round}: doc {doc} unreachable");
            }
        }
    }

    /// Sized for debug builds (a few seconds on two cores).
    #[test]
    fn hnsw_recall_against_exact() {
        recall_run(2_000, 32, 20, 1.5, 100);
    }

    /// The full-size variant: `cargo test --release -p dash-core hnsw_recall`.
    #[test]
    #[cfg_attr(debug_assertions, ignore = "slow in debug builds; run with --release")]
    fn hnsw_recall_against_exact_20k_64d() {
        recall_run(20_000, 64, 200, 1.5, 500);
    }

    #[test]
    fn builds_from_parts_refuse_a_document_twice_and_insert_every_part() {
        let mut a = ExactIndex::new(2);
        let mut b = ExactIndex::new(2);
        a.insert(1, &[1.0, 0.0]).unwrap();
        a.insert(3, &[0.0, 1.0]).unwrap();
        b.insert(2, &[0.6, 0.8]).unwrap();
        let built =
            HnswIndex::build_from_parts(2, &[&a, &b], HnswParams::default(), &|| false).unwrap();
        assert_eq!(built.doc_ids(), &[1, 2, 3]);
        assert_eq!(built.search(&[0.6, 0.8], 1, |_| true).unwrap()[0].0, 2);
        b.insert(3, &[1.0, 1.0]).unwrap();
        assert_eq!(
            HnswIndex::build_from_parts(2, &[&a, &b], HnswParams::default(), &|| false).err(),
            Some(VectorError::DuplicateDoc(3))
        );
        let mut c = ExactIndex::new(2);
        c.insert(3, &[1.0, 1.0]).unwrap();
        assert_eq!(
            built.extend_from_parts(&[&c], &|| false).err(),
            Some(VectorError::DuplicateDoc(3))
        );
        let mut d = ExactIndex::new(2);
        d.insert(9, &[-1.0, 0.0]).unwrap();
        let grown = built.extend_from_parts(&[&d], &|| false).unwrap();
        assert_eq!(grown.doc_ids(), &[1, 2, 3, 9]);
        assert_eq!(
            HnswIndex::build_from_parts(3, &[&a], HnswParams::default(), &|| false).err(),
            Some(VectorError::Dimension {
                expected: 3,
                got: 2
            })
        );
        let compact = a.compacted();
        assert_eq!((compact.len(), compact.row(3)), (2, a.row(3)));
    }

    /// F16 and I8 graphs find what the exact scan finds, score within their precision, and a
    /// saved one is viewed as the type it was built with whatever the reader's setting says.
    #[test]
    fn quantised_graphs_answer_within_their_precision_and_keep_their_type() {
        let data = clustered(3_000, 16, 20, 0.3, 5);
        let mut exact = ExactIndex::new(16);
        for (i, v) in data.iter().enumerate() {
            exact.insert(i as DocId, v).unwrap();
        }
        // (type, score tolerance, recall floor: I8 measured 0.876 on these tight clusters)
        for (quantization, tolerance, floor) in [
            (Quantization::F16, 2e-3, 0.95),
            (Quantization::I8, 3e-2, 0.8),
        ] {
            let params = HnswParams {
                quantization,
                ..HnswParams::default()
            };
            let index = HnswIndex::build(16, ids(&data), params).unwrap();
            assert_eq!(index.params().quantization, quantization);
            let (mut found, mut wanted) = (0, 0);
            for q in data.iter().step_by(31) {
                let truth = exact.search(q, 10, |_| true).unwrap();
                let hits = index.search(q, 10, |_| true).unwrap();
                found += hits
                    .iter()
                    .filter(|h| truth.iter().any(|t| t.0 == h.0))
                    .count();
                wanted += truth.len();
                for (doc, score) in &hits {
                    let right = dot(exact.row(*doc).unwrap(), &unit(q, 16).unwrap());
                    assert!(
                        (score - right).abs() < tolerance,
                        "{quantization:?}: {score} vs {right}"
                    );
                }
            }
            assert!(
                found as f64 >= floor * wanted as f64,
                "{quantization:?}: {found}/{wanted}"
            );
            // Viewed with the default (f32) setting: usearch follows the graph's own header.
            let blob = index.graph_bytes().unwrap();
            let mut file = vec![0u8; 64];
            file.extend_from_slice(&blob);
            let range = 64..64 + blob.len();
            let viewed = HnswIndex::view_graph(
                16,
                HnswParams::default(),
                HnswParams::default(),
                index.doc_ids().to_vec(),
                std::sync::Arc::new(FileBytes::from(file)),
                range,
            )
            .unwrap();
            let q = &data[7];
            assert_eq!(
                viewed.search(q, 5, |_| true).unwrap(),
                index.search(q, 5, |_| true).unwrap()
            );
        }
    }
}
