//! [`Bm25Index`]: an in-memory inverted index with exact, incrementally maintained BM25
//! statistics.
//!
//! Scoring is Lucene's BM25 (Robertson–Zaragoza, with Lucene's non-negative IDF):
//!
//! ```text
//! idf(t)      = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))
//! score(d, q) = Σ_{t in q} idf(t) · tf(t,d) · (k1 + 1) / (tf(t,d) + k1 · (1 - b + b · |d| / avgdl))
//! ```
//!
//! where `N` is the number of live documents, `df(t)` the live documents containing `t`, `|d|` the
//! document's term count and `avgdl` the mean over live documents. Removing a document updates
//! `N`, `df` and `avgdl` at once, so scores are always those of the live set alone. A query term
//! given twice counts twice (as in a Lucene boolean query).

use std::collections::HashMap;
use std::sync::Arc;

use compact_str::CompactString;
use smallvec::SmallVec;

use super::lists::{Base, List};
use super::term_lists::{TermLists, Terms};
use super::topk::{Hit, TopK};
use super::Analyzer;
use crate::codec::{pair, DecodeResult, Decoder, Encoder};
use crate::error::CorruptionKind;
use crate::storage::FileBytes;

/// A document's number within one index (dense, assigned by the caller).
pub type DocId = u32;

/// The BM25 parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bm25Params {
    /// Term-frequency saturation. Default: 1.2.
    pub k1: f32,
    /// Length normalisation (0 = none, 1 = full). Default: 0.75.
    pub b: f32,
}

impl Default for Bm25Params {
    fn default() -> Self {
        Self { k1: 1.2, b: 0.75 }
    }
}

/// Postings lists this long grow by a sixteenth instead of doubling (the long lists of common
/// terms hold most postings; short ones keep the usual growth, which wastes little).
const GENTLE_FROM: usize = 1024;

/// Distinct words the word → term cache holds at most (about 40 MB at 1M words); words beyond
/// it are stemmed every time, so hostile input cannot grow it without bound.
const WORD_CACHE_MAX: usize = 1 << 20;

/// A document's length in terms and whether it is live. Its distinct terms are in
/// [`Bm25Index::terms`], kept after removal until the dead postings are compacted away, so that
/// re-inserting the id can purge them first.
#[derive(Debug, Default, Clone, Copy)]
struct Doc {
    len: u32,
    live: bool,
}

/// An inverted index over analysed text, with BM25 ranking. One instance per tenant (and per
/// segment or memtable): statistics never cross instances.
///
/// ```
/// use dash_core::index::{Analyzer, Bm25Index};
///
/// let mut index = Bm25Index::new(Analyzer::english());
/// index.insert(0, "Arctic sea ice is declining");
/// index.insert(1, "Antarctic sea ice is growing");
/// let hits = index.search("arctic ice decline", 10, |_| true);
/// assert_eq!(hits[0].0, 0);
/// ```
#[derive(Debug)]
pub struct Bm25Index {
    analyzer: Analyzer,
    params: Bm25Params,
    /// Term → id; terms are inline strings (no heap block for a term under 24 bytes).
    term_ids: HashMap<CompactString, u32, foldhash::fast::RandomState>,
    /// Word (lower-cased, before stemming) → term id, for words seen before; bounded.
    word_terms: HashMap<Box<str>, u32, foldhash::fast::RandomState>,
    /// Per term id: (doc, [impact](pack)) in increasing doc order; entries of removed docs are
    /// scored but never answered, and compacted away lazily.
    postings: Vec<List<Vec<(DocId, u32)>>>,
    /// The postings of terms read back from a catalog image ([`List::Base`]), until changed.
    post_base: Base,
    /// Postings of `post_base` copied out into their own lists since (changed terms).
    post_base_copied: usize,
    /// Per term id: what bounds its BM25 contribution (for dynamic pruning).
    bounds: Vec<TermBound>,
    /// Per term id: live documents containing it.
    df: Vec<u32>,
    docs: Vec<Doc>,
    /// Per document: (term id, term frequency) of each distinct term, packed.
    terms: TermLists,
    live_docs: u32,
    live_len: u64,
    dead_postings: usize,
    total_postings: usize,
}

impl Bm25Index {
    /// An empty index with default parameters.
    #[must_use]
    pub fn new(analyzer: Analyzer) -> Self {
        Self::with_params(analyzer, Bm25Params::default())
    }

    /// An empty index.
    #[must_use]
    pub fn with_params(analyzer: Analyzer, params: Bm25Params) -> Self {
        Self {
            analyzer,
            params,
            term_ids: HashMap::default(),
            word_terms: HashMap::default(),
            postings: Vec::new(),
            post_base: Base::default(),
            post_base_copied: 0,
            bounds: Vec::new(),
            df: Vec::new(),
            docs: Vec::new(),
            terms: TermLists::default(),
            live_docs: 0,
            live_len: 0,
            dead_postings: 0,
            total_postings: 0,
        }
    }

    /// Heap bytes held: (postings, per-document term lists and lengths, term dictionary with
    /// the word cache and the terms' bounds and frequencies).
    pub(crate) fn heap_bytes(&self) -> (u64, u64, u64) {
        use crate::heap;
        let own = |l: &List<Vec<(DocId, u32)>>| match l {
            List::Own(v) => heap::vec(v),
            List::Base { .. } => 0,
        };
        let postings = heap::vec(&self.postings)
            + self.postings.iter().map(own).sum::<u64>()
            + self.post_base.heap_bytes();
        let documents = heap::vec(&self.docs) + self.terms.heap_bytes();
        let terms = heap::map(&self.term_ids)
            + self
                .term_ids
                .keys()
                .filter(|t| t.is_heap_allocated())
                .map(|t| t.capacity() as u64)
                .sum::<u64>()
            + heap::map(&self.word_terms)
            + self.word_terms.keys().map(|w| w.len() as u64).sum::<u64>()
            + heap::vec(&self.bounds)
            + self
                .bounds
                .iter()
                .map(|b| heap::small(&b.frontier))
                .sum::<u64>()
            + heap::vec(&self.df);
        (postings, documents, terms)
    }

    /// The analyzer queries and documents go through.
    #[must_use]
    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    /// Live documents.
    #[must_use]
    pub fn len(&self) -> u32 {
        self.live_docs
    }

    /// True when no document is live.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.live_docs == 0
    }

    /// True when `doc` is indexed and not removed.
    #[must_use]
    pub fn contains(&self, doc: DocId) -> bool {
        self.docs.get(doc as usize).is_some_and(|d| d.live)
    }

    /// Indexes `text` as `doc`, replacing what `doc` held before.
    pub fn insert(&mut self, doc: DocId, text: &str) {
        self.remove(doc);
        self.purge_dead(doc);
        let mut ids: Vec<u32> = Vec::new();
        let (term_ids, postings, df) = (&mut self.term_ids, &mut self.postings, &mut self.df);
        let bounds = &mut self.bounds;
        let (analyzer, word_terms) = (&self.analyzer, &mut self.word_terms);
        analyzer.for_each_word(text, |word| {
            // Stemming costs more than a lookup: words seen before map straight to their term.
            if let Some(&id) = word_terms.get(word) {
                ids.push(id);
                return;
            }
            let term = analyzer.stem(word);
            // Look up before inserting: allocating the key only for new terms.
            let id = match term_ids.get(term.as_ref()) {
                Some(&id) => id,
                None => {
                    let id = u32::try_from(postings.len()).unwrap_or(u32::MAX);
                    term_ids.insert(CompactString::from(term.as_ref()), id);
                    postings.push(List::default());
                    bounds.push(TermBound::default());
                    df.push(0);
                    id
                }
            };
            if word_terms.len() < WORD_CACHE_MAX {
                word_terms.insert(word.into(), id);
            }
            ids.push(id);
        });
        let len = u32::try_from(ids.len()).unwrap_or(u32::MAX);
        ids.sort_unstable();
        let mut terms: Vec<(u32, u32)> = Vec::with_capacity(ids.len());
        for id in ids {
            match terms.last_mut() {
                Some((last, tf)) if *last == id => *tf += 1,
                _ => terms.push((id, 1)),
            }
        }
        for &(term, tf) in &terms {
            let posting = &mut self.postings[term as usize];
            if let List::Base { len, .. } = posting {
                self.post_base_copied += *len as usize;
            }
            let list = posting.own_mut(self.post_base.as_slice());
            if list.len() >= GENTLE_FROM {
                crate::heap::reserve_gently(list, 1);
            }
            // Callers number documents in increasing order, so this is an append; an older id
            // (reused after removal) goes to its place, keeping the list sorted.
            match list.last() {
                Some(&(last, _)) if last > doc => {
                    let at = list.partition_point(|&(d, _)| d < doc);
                    list.insert(at, (doc, pack(tf, len)));
                }
                _ => list.push((doc, pack(tf, len))),
            }
            self.bounds[term as usize].widen(tf, len);
            self.df[term as usize] += 1;
        }
        self.total_postings += terms.len();
        self.drop_base_if_mostly_copied();
        let slot = doc as usize;
        if self.docs.len() <= slot {
            let more = slot + 1 - self.docs.len();
            crate::heap::reserve_gently(&mut self.docs, more);
            self.docs.resize_with(slot + 1, Doc::default);
        }
        self.docs[slot] = Doc { len, live: true };
        self.terms.set(slot, &terms);
        self.live_docs += 1;
        self.live_len += u64::from(len);
    }

    /// The distinct terms of a live document with their frequencies, by increasing term id
    /// (for cheap set overlaps); none for a document not live.
    pub(crate) fn doc_terms(&self, doc: DocId) -> Terms<'_> {
        let live = self.contains(doc);
        self.terms.get(if live { doc as usize } else { usize::MAX })
    }

    /// The postings of a term id (from [`Bm25Index::doc_terms`]): `(doc, impact)` in increasing
    /// document order, entries of removed documents included until they are compacted away.
    pub(crate) fn postings(&self, term: u32) -> &[(DocId, u32)] {
        self.postings
            .get(term as usize)
            .map_or(&[][..], |l| l.get(self.post_base.as_slice()))
    }

    /// Removes `doc` (a no-op if it is not live).
    pub fn remove(&mut self, doc: DocId) {
        let Some(d) = self.docs.get_mut(doc as usize) else {
            return;
        };
        if !d.live {
            return;
        }
        d.live = false;
        self.live_docs -= 1;
        self.live_len -= u64::from(d.len);
        let terms = self.terms.get(doc as usize);
        self.dead_postings += terms.len();
        for (term, _) in terms {
            self.df[term as usize] -= 1;
        }
        // Keep postings lists mostly live: compact once half of all entries are dead.
        if self.dead_postings * 2 > self.total_postings {
            self.compact();
        }
    }

    /// Once most of the image's shared postings array was copied out (the terms new documents
    /// touched: at 10M claims, a few thousand documents touch every common term), copies out
    /// the rest and frees it, instead of holding every posting twice.
    fn drop_base_if_mostly_copied(&mut self) {
        if self.post_base_copied * 2 <= self.post_base.as_slice().len() {
            return;
        }
        for list in &mut self.postings {
            list.own_mut(self.post_base.as_slice());
        }
        self.post_base = Base::default();
        self.post_base_copied = 0;
    }

    fn compact(&mut self) {
        let (docs, terms) = (&self.docs, &self.terms);
        for (term, (list, bound)) in self.postings.iter_mut().zip(&mut self.bounds).enumerate() {
            let list = list.own_mut(self.post_base.as_slice());
            list.retain(|&(doc, _)| docs[doc as usize].live);
            // Removed documents may have held the extremes: tighten the bound.
            *bound = TermBound::default();
            for &(doc, impact) in list.iter() {
                let (tf, len) = unpack(docs, terms, term as u32, doc, impact);
                bound.widen(tf, len);
            }
        }
        // Every list is its own now: the image's shared array can go.
        self.post_base = Base::default();
        self.post_base_copied = 0;
        for (doc, d) in self.docs.iter().enumerate() {
            if !d.live {
                self.terms.clear(doc);
            }
        }
        self.terms.compact_if_wasteful();
        self.total_postings -= self.dead_postings;
        self.dead_postings = 0;
    }

    /// Drops the postings a removed `doc` left behind, before its id is reused (otherwise they
    /// would count for the new content).
    fn purge_dead(&mut self, doc: DocId) {
        let terms: Vec<(u32, u32)> = self.terms.get(doc as usize).collect();
        self.terms.clear(doc as usize);
        for &(term, _) in &terms {
            self.postings[term as usize]
                .own_mut(self.post_base.as_slice())
                .retain(|&(other, _)| other != doc);
        }
        self.dead_postings -= terms.len();
        self.total_postings -= terms.len();
    }

    /// The best `k` live documents matching at least one term of `query` that `accept` lets
    /// through, by BM25 score, best first; ties go to the lower doc id.
    ///
    /// Dynamic pruning (MaxScore: Turtle and Flood, 1995; Lucene and tantivy prune the same
    /// way): the query's postings are walked document at a time; once the top `k` is full,
    /// the terms whose score bounds together cannot lift a document above the `k`-th score
    /// no longer propose documents, and are only probed (by galloping) for the documents the
    /// other terms propose. The answer is [`Bm25Index::search_exhaustive`]'s (scores may
    /// differ in the last bits: terms are summed in another order).
    ///
    /// `accept` is asked only about documents that would enter the top `k`, so a filter costs a
    /// few hundred checks, not one per posting.
    ///
    /// ```
    /// use dash_core::index::{Analyzer, Bm25Index};
    ///
    /// let mut index = Bm25Index::new(Analyzer::english());
    /// for d in 0..100 {
    ///     index.insert(d, if d == 42 { "glacier retreat in the alps" } else { "glacier mass" });
    /// }
    /// let hits = index.search("alpine glacier retreat", 1, |_| true);
    /// assert_eq!(hits[0].0, 42);
    /// assert_eq!(hits, index.search_exhaustive("alpine glacier retreat", 1, |_| true));
    /// ```
    pub fn search(
        &self,
        query: &str,
        k: usize,
        accept: impl Fn(DocId) -> bool,
    ) -> Vec<(DocId, f32)> {
        self.search_in(query, k, accept, 0..DocId::MAX)
    }

    /// [`Bm25Index::search`] over the documents whose ids lie in `docs` alone (scored against
    /// the whole index's statistics), so that one search can run as several over disjoint id
    /// ranges, on several threads: the best `k` of the parts' answers together are the whole
    /// search's (up to the last bits of a score, as with [`Bm25Index::search_exhaustive`]).
    /// [`Bm25Index::id_bound`] bounds the ids to split.
    ///
    /// ```
    /// use dash_core::index::{Analyzer, Bm25Index};
    ///
    /// let mut index = Bm25Index::new(Analyzer::english());
    /// for d in 0..100 {
    ///     index.insert(d, if d % 10 == 0 { "glacier retreat" } else { "glacier mass" });
    /// }
    /// let mid = index.id_bound() / 2;
    /// let low = index.search_in("glacier retreat", 3, |_| true, 0..mid);
    /// let high = index.search_in("glacier retreat", 3, |_| true, mid..index.id_bound());
    /// assert!(low.iter().all(|h| h.0 < mid) && high.iter().all(|h| h.0 >= mid));
    /// assert_eq!(low, index.search("glacier retreat", 3, |_| true)); // ties: lower ids first
    /// ```
    pub fn search_in(
        &self,
        query: &str,
        k: usize,
        accept: impl Fn(DocId) -> bool,
        docs: std::ops::Range<DocId>,
    ) -> Vec<(DocId, f32)> {
        let Some(model) = self.model(k) else {
            return Vec::new();
        };
        let mut cursors: Vec<Cursor<'_>> = self
            .weighted_terms(query, &model)
            .filter_map(|(id, weight)| {
                let bound = self.bounds.get(id as usize)?;
                let mut cursor = Cursor {
                    list: self
                        .postings
                        .get(id as usize)?
                        .get(self.post_base.as_slice()),
                    term: id,
                    pos: 0,
                    weight,
                    bound: weight * model.bound(bound) * BOUND_SLACK,
                };
                cursor.seek(docs.start);
                Some(cursor)
            })
            .collect();
        self.max_score(&mut cursors, k, &accept, &model, docs.end)
    }

    /// One past the largest document id the index has held: [`Bm25Index::search_in`]'s ranges
    /// split `0..id_bound()`.
    #[must_use]
    pub fn id_bound(&self) -> DocId {
        DocId::try_from(self.docs.len()).unwrap_or(DocId::MAX)
    }

    /// The same answer as [`Bm25Index::search`], by scoring every posting of every query term
    /// (term at a time, into a dense accumulator): the reference the pruned search is tested
    /// and measured against.
    pub fn search_exhaustive(
        &self,
        query: &str,
        k: usize,
        accept: impl Fn(DocId) -> bool,
    ) -> Vec<(DocId, f32)> {
        let Some(model) = self.model(k) else {
            return Vec::new();
        };
        SCRATCH.with(|cell| {
            let Ok(mut scratch) = cell.try_borrow_mut() else {
                // Re-entered from `accept` (no caller does that): use a fresh accumulator.
                return self.score_all(query, k, &accept, &mut Scratch::default(), &model);
            };
            self.score_all(query, k, &accept, &mut scratch, &model)
        })
    }

    /// What a posting of `term` (weight 1) adds to `doc`'s score.
    #[inline]
    fn contribution(&self, model: &Model, term: u32, doc: DocId, impact: u32) -> f32 {
        let (tf, len) = unpack(&self.docs, &self.terms, term, doc, impact);
        model.saturate(tf, model.norm(len))
    }

    /// The scoring constants of a search for `k` documents; `None` when nothing can match.
    fn model(&self, k: usize) -> Option<Model> {
        if k == 0 || self.live_docs == 0 {
            return None;
        }
        let n = self.live_docs as f32;
        Some(Model {
            n,
            avgdl: self.live_len as f32 / n,
            params: self.params,
        })
    }

    /// The live terms of `query` (by id) with their weight: IDF times how often the query
    /// holds the term (a term given twice counts twice, as in a Lucene boolean query).
    fn weighted_terms<'a>(
        &'a self,
        query: &str,
        model: &'a Model,
    ) -> impl Iterator<Item = (u32, f32)> + 'a {
        self.query_terms(query)
            .into_iter()
            .filter_map(move |(id, times)| {
                let df = *self.df.get(id as usize)?;
                (df > 0).then(|| (id, model.idf(df) * times as f32))
            })
    }

    /// The indexed terms of `query` with how often each occurs, by term id.
    fn query_terms(&self, query: &str) -> Vec<(u32, u32)> {
        let mut ids = Vec::new();
        self.analyzer.for_each_word(query, |word| {
            let id = match self.word_terms.get(word) {
                Some(&id) => Some(id),
                None => self
                    .term_ids
                    .get(self.analyzer.stem(word).as_ref())
                    .copied(),
            };
            ids.extend(id);
        });
        ids.sort_unstable();
        let mut terms: Vec<(u32, u32)> = Vec::with_capacity(ids.len());
        for id in ids {
            match terms.last_mut() {
                Some((last, times)) if *last == id => *times += 1,
                _ => terms.push((id, 1)),
            }
        }
        terms
    }

    /// MaxScore over `cursors` up to (not including) document `until`: document at a time, the
    /// terms sorted by bound; the first `essential` ones (whose bounds sum to at most the
    /// `k`-th score) only probe.
    fn max_score(
        &self,
        cursors: &mut [Cursor<'_>],
        k: usize,
        accept: &impl Fn(DocId) -> bool,
        model: &Model,
        until: DocId,
    ) -> Vec<(DocId, f32)> {
        cursors.sort_by(|a, b| a.bound.total_cmp(&b.bound));
        // prefix[i]: the most terms 0..=i can add to a document's score together.
        let prefix: Vec<f32> = cursors
            .iter()
            .scan(0.0f32, |sum, c| {
                *sum += c.bound;
                Some(*sum)
            })
            .collect();
        let mut top = TopK::new(k);
        // A document scoring below this cannot enter the top `k`.
        let mut threshold = f32::NEG_INFINITY;
        let mut essential = 0;
        // Windows of document ids: the essential terms are scored term at a time into a small
        // accumulator, then each document they touched is completed from the other terms, in
        // increasing id order (Lucene's MaxScore bulk scorer works the same way).
        let mut scores = [0.0f32; WINDOW];
        let mut touched = [0u64; WINDOW / 64];
        while let Some(base) = cursors[essential..]
            .iter()
            .filter_map(Cursor::doc)
            .min()
            .filter(|&base| base < until)
        {
            let end = base.saturating_add(WINDOW as DocId).min(until);
            for c in &mut cursors[essential..] {
                while let Some(&(doc, impact)) = c.list.get(c.pos) {
                    if doc >= end {
                        break;
                    }
                    c.pos += 1;
                    // A removed document's postings (not compacted yet) are scored too: cheaper
                    // than a lookup per posting; it is never answered.
                    let slot = (doc - base) as usize;
                    scores[slot] += c.weight * self.contribution(model, c.term, doc, impact);
                    touched[slot / 64] |= 1 << (slot % 64);
                }
            }
            for (word_ix, word) in touched.iter_mut().enumerate() {
                let mut bits = std::mem::take(word);
                while bits != 0 {
                    let slot = word_ix * 64 + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    let doc = base + slot as DocId;
                    let mut score = std::mem::take(&mut scores[slot]);
                    let mut hopeless = false;
                    for i in (0..essential).rev() {
                        if score + prefix[i] <= threshold {
                            hopeless = true;
                            break;
                        }
                        let c = &mut cursors[i];
                        c.seek(doc);
                        if let Some(&(at, impact)) = c.list.get(c.pos) {
                            if at == doc {
                                score += c.weight * self.contribution(model, c.term, doc, impact);
                            }
                        }
                    }
                    // At or below the floor it cannot enter: ties go to the lower id, and every
                    // id in the top `k` is lower than this one (windows go in id order). Ties are
                    // common (short texts, small frequencies): this spares the heap's compare.
                    if hopeless || score <= threshold {
                        continue;
                    }
                    let hit = Hit::new(doc, score);
                    if top.admits(&hit) && self.contains(doc) && accept(doc) {
                        top.push(hit);
                        if let Some(floor) = top.floor() {
                            threshold = floor;
                        }
                    }
                }
            }
            // Terms whose bounds together fall below the threshold stop proposing documents.
            while essential < cursors.len() && prefix[essential] < threshold {
                essential += 1;
            }
        }
        top.into_sorted()
    }

    /// Term-at-a-time scoring into a dense accumulator, then a bounded top-`k` selection that
    /// asks `accept` only about documents that would enter the top `k`.
    fn score_all(
        &self,
        query: &str,
        k: usize,
        accept: &impl Fn(DocId) -> bool,
        scratch: &mut Scratch,
        model: &Model,
    ) -> Vec<(DocId, f32)> {
        let Scratch { scores, touched } = scratch;
        if scores.len() < self.docs.len() {
            scores.resize(self.docs.len(), 0.0);
        }
        for (id, weight) in self.weighted_terms(query, model) {
            for &(doc, impact) in self.postings[id as usize].get(self.post_base.as_slice()) {
                let slot = &mut scores[doc as usize];
                // Every term's contribution is > 0, so 0 marks an untouched document.
                if *slot == 0.0 {
                    touched.push(doc);
                }
                *slot += weight * self.contribution(model, id, doc, impact);
            }
        }
        let mut top = TopK::new(k);
        for &doc in touched.iter() {
            let hit = Hit::new(doc, scores[doc as usize]);
            if top.admits(&hit) && self.contains(doc) && accept(doc) {
                top.push(hit);
            }
        }
        for &doc in touched.iter() {
            scores[doc as usize] = 0.0;
        }
        touched.clear();
        top.into_sorted()
    }
}

/// The catalog image's part (`retrieve/image.rs`; format in `docs/design.md` §4b). Image
/// format 2:
///
/// ```text
/// lexical := k1 f32 | b f32 | term_count u32 | term * term_count
///          | doc_count u32 | (len u32 | live u8 | term_count u32) * doc_count
///          | list<(term u32, tf u32)> (every document's terms, one after another)
///          | live_docs u32 | live_len u64 | dead_postings u64
///          | zeros to a multiple of 8 bytes from the part's start
///          | (doc u32 | impact u32) * Σ postings (every term's postings, term by term)
/// term    := text str | postings u32 | frontier list<(tf u32, len u32)> | df u32
/// ```
///
/// The postings come last, aligned, as the index holds them (impacts packed), so an index read
/// from a mapped image reads them in place (`Base::InPlace`): no copy, no fresh pages. Image
/// format 1 held each term's postings inline as `list<(doc u32, tf u32)>`
/// ([`Bm25Index::decode_v1`]). The documents' term lists come back as one array: one
/// allocation, not one per document. The word cache starts empty.
impl Bm25Index {
    pub(crate) fn encode(&self, e: &mut Encoder) {
        let origin = e.position();
        e.f32(self.params.k1);
        e.f32(self.params.b);
        let mut terms = vec![""; self.postings.len()];
        for (term, &id) in &self.term_ids {
            if let Some(slot) = terms.get_mut(id as usize) {
                *slot = term;
            }
        }
        e.len(terms.len());
        for (id, term) in terms.iter().enumerate() {
            e.str(term);
            e.len(self.postings[id].get(self.post_base.as_slice()).len());
            e.pairs(&self.bounds[id].frontier);
            e.u32(self.df[id]);
        }
        e.len(self.docs.len());
        let mut total = 0usize;
        for (doc, d) in self.docs.iter().enumerate() {
            e.u32(d.len);
            e.u8(u8::from(d.live));
            let count = self.terms.get(doc).len();
            e.len(count);
            total += count;
        }
        // `list<(u32, u32)>`, written pair by pair (a copy of every list would double them).
        e.len(total);
        for doc in 0..self.docs.len() {
            for (term, tf) in self.terms.get(doc) {
                e.u32(term);
                e.u32(tf);
            }
        }
        e.u32(self.live_docs);
        e.u64(self.live_len);
        e.u64(self.dead_postings as u64);
        e.align(origin, 8);
        for list in &self.postings {
            for &(doc, impact) in list.get(self.post_base.as_slice()) {
                e.u32(doc);
                e.u32(impact);
            }
        }
    }

    /// An index as [`Bm25Index::encode`] wrote it, checked: postings sorted and naming known
    /// documents, term lists naming known terms. `d` starts at the part's first byte; when its
    /// bytes are a part of `file` (the mapped image) and aligned, the postings are read from
    /// there in place, else copied.
    pub(crate) fn decode(
        d: &mut Decoder<'_>,
        analyzer: Analyzer,
        file: Option<&Arc<FileBytes>>,
    ) -> DecodeResult<Self> {
        let origin = d.position();
        let (mut index, terms) = Self::decode_params(d, analyzer)?;
        let mut total = 0usize;
        for id in 0..terms {
            let term = CompactString::from(d.str()?);
            let len = d.u32()?;
            index.postings.push(List::Base { start: total, len });
            total = total.saturating_add(len as usize);
            index.decode_term(d, term, id)?;
        }
        let heads = index.decode_documents(d, terms)?;
        index.total_postings = total;
        index.check_dead_postings(d)?;
        d.align(origin, 8)?;
        let at = d.position();
        let bytes = d.take(total.saturating_mul(8))?;
        index.post_base = file
            .and_then(|file| Base::in_place(file, bytes))
            .unwrap_or_else(|| Base::Heap(bytes.chunks_exact(8).map(pair).collect()));
        let base = index.post_base.as_slice();
        for list in &index.postings {
            let list = list.get(base);
            if !list.windows(2).all(|w| w[0].0 < w[1].0) {
                return Err((at, CorruptionKind::Malformed("postings out of order")));
            }
            if list.last().is_some_and(|p| p.0 as usize >= heads) {
                return Err((at, CorruptionKind::Malformed("unknown document")));
            }
        }
        Ok(index)
    }

    /// An index as image format 1 wrote it: each term's postings inline, with term
    /// frequencies (packed into impacts here), copied into one array.
    pub(crate) fn decode_v1(d: &mut Decoder<'_>, analyzer: Analyzer) -> DecodeResult<Self> {
        let (mut index, terms) = Self::decode_params(d, analyzer)?;
        let mut max_doc = None;
        // Every term's postings go into one array (one allocation, not one per term), sized
        // by a first pass over the terms' lengths: grown by doubling, the 20M postings of a 1M
        // tenant were copied and faulted into fresh pages five times over.
        let mut base: Vec<(DocId, u32)> = Vec::with_capacity(postings_total_v1(d.clone(), terms)?);
        for id in 0..terms {
            let at = d.position();
            let term = CompactString::from(d.str()?);
            let start = base.len();
            let len = d.pairs_into(&mut base)?;
            let list = &base[start..];
            if !list.windows(2).all(|w| w[0].0 < w[1].0) {
                return Err((at, CorruptionKind::Malformed("postings out of order")));
            }
            max_doc = max_doc.max(list.last().map(|p| p.0));
            index.total_postings += len as usize;
            index.postings.push(List::Base { start, len });
            index.decode_term(d, term, id)?;
        }
        let at = d.position();
        let lengths: Vec<u32> = {
            let mut scan = d.clone();
            let docs = scan.count(9)?;
            (0..docs)
                .map(|_| {
                    let len = scan.u32()?;
                    scan.take(5)?;
                    Ok(len)
                })
                .collect::<DecodeResult<_>>()?
        };
        if max_doc.is_some_and(|m| m as usize >= lengths.len()) {
            return Err((at, CorruptionKind::Malformed("unknown document")));
        }
        for (doc, tf) in &mut base {
            *tf = pack(*tf, lengths[*doc as usize]);
        }
        index.post_base = Base::Heap(base.into_boxed_slice());
        index.decode_documents(d, terms)?;
        index.check_dead_postings(d)?;
        Ok(index)
    }

    /// `k1 f32 | b f32 | term_count u32`: an empty index with those parameters, and the count.
    fn decode_params(d: &mut Decoder<'_>, analyzer: Analyzer) -> DecodeResult<(Self, usize)> {
        let params = Bm25Params {
            k1: d.f32()?,
            b: d.f32()?,
        };
        let terms = d.count(4 + 4 + 4 + 4)?;
        let mut index = Self::with_params(analyzer, params);
        index.term_ids.reserve(terms);
        index.postings.reserve(terms);
        Ok((index, terms))
    }

    /// The rest of a term's entry after its postings (`frontier | df`), and the term itself.
    fn decode_term(
        &mut self,
        d: &mut Decoder<'_>,
        term: CompactString,
        id: usize,
    ) -> DecodeResult<()> {
        let frontier = d.pairs_iter()?.collect();
        let df = d.u32()?;
        // `id` < the term count ≤ u32::MAX (a count).
        self.term_ids.insert(term, id as u32);
        self.bounds.push(TermBound { frontier });
        self.df.push(df);
        Ok(())
    }

    /// The documents, their term lists and the live counts; returns the document count.
    fn decode_documents(&mut self, d: &mut Decoder<'_>, terms: usize) -> DecodeResult<usize> {
        let docs = d.count(9)?;
        let mut heads = Vec::with_capacity(docs);
        for _ in 0..docs {
            heads.push((d.u32()?, d.flag()?, d.u32()?));
        }
        let at = d.position();
        let mut pairs = d.pairs_iter()?;
        let bad = || (at, CorruptionKind::Malformed("bad term lists"));
        let mut list = Vec::new();
        for (doc, &(_, _, count)) in heads.iter().enumerate() {
            list.clear();
            list.extend(pairs.by_ref().take(count as usize));
            let sorted = list.windows(2).all(|w| w[0].0 < w[1].0);
            let known = list.last().is_none_or(|&(t, _)| (t as usize) < terms);
            if list.len() != count as usize || !sorted || !known {
                return Err(bad());
            }
            if !list.is_empty() {
                self.terms.set(doc, &list);
            }
        }
        if pairs.next().is_some() {
            return Err(bad());
        }
        self.docs = heads
            .into_iter()
            .map(|(len, live, _)| Doc { len, live })
            .collect();
        self.live_docs = d.u32()?;
        self.live_len = d.u64()?;
        Ok(docs)
    }

    /// `dead_postings u64`, checked against the postings read.
    fn check_dead_postings(&mut self, d: &mut Decoder<'_>) -> DecodeResult<()> {
        self.dead_postings = usize::try_from(d.u64()?).unwrap_or(usize::MAX);
        if self.dead_postings > self.total_postings {
            return Err((d.position(), CorruptionKind::Malformed("dead postings")));
        }
        Ok(())
    }
}

/// The number of postings of the `terms` term entries of an image format 1 part that `d`
/// starts at, read without decoding them.
fn postings_total_v1(mut d: Decoder<'_>, terms: usize) -> DecodeResult<usize> {
    let mut total = 0usize;
    for _ in 0..terms {
        d.str()?;
        let postings = d.count(8)?;
        d.take(postings * 8)?;
        let frontier = d.count(8)?;
        d.take(frontier * 8)?;
        d.u32()?;
        total += postings;
    }
    Ok(total)
}

/// A posting's impact: its term frequency (low 16 bits) and its document's length in terms (high
/// 16 bits), or [`ESCAPE`] when either does not fit (then both are read from the document). The
/// length rides in the posting so that scoring a long list reads the list alone — a lookup in a
/// per-document array is a cache miss per posting once the array outgrows the cache (4× the
/// documents cost 10× the time before; Lucene reaches the same goal with its impacts).
fn pack(tf: u32, len: u32) -> u32 {
    if tf < 0xFFFF && len < 0xFFFF {
        len << 16 | tf
    } else {
        ESCAPE
    }
}

/// The impact of a document too long for 16 bits (no claim is).
const ESCAPE: u32 = u32::MAX;

/// `(tf, len)` of the posting of `term` in `doc` with `impact`.
#[inline]
fn unpack(docs: &[Doc], terms: &TermLists, term: u32, doc: DocId, impact: u32) -> (u32, u32) {
    if impact != ESCAPE {
        return (impact & 0xFFFF, impact >> 16);
    }
    let Some(d) = docs.get(doc as usize) else {
        return (1, 1); // unreachable: postings name known documents
    };
    let tf = terms
        .get(doc as usize)
        .find(|&(t, _)| t == term)
        .map_or(1, |(_, tf)| tf);
    (tf, d.len)
}

/// Document ids per MaxScore window (a 16 KiB accumulator on the stack).
const WINDOW: usize = 4096;

/// Score bounds are widened by this factor, so that rounding (terms summed in another order
/// than the bounds) can never prune a document that belongs in the answer.
const BOUND_SLACK: f32 = 1.0 + 1e-4;

/// What bounds a term's contribution to any document's score: the Pareto frontier of its
/// postings' (term frequency, document length) pairs — the contribution grows with the one and
/// falls with the other, so its largest value, for any mean length, is at one of these pairs
/// (Lucene keeps the same "impacts"). Few pairs: frequencies above a handful are rare.
/// Removals leave it wider than needed (still a bound) until the next compaction.
#[derive(Debug, Clone, Default)]
struct TermBound {
    /// Pairs no other pair beats on both counts, by increasing frequency (so by increasing
    /// length too).
    frontier: SmallVec<[(u32, u32); 3]>,
}

/// A frontier longer than this is cut to its extremes, a looser bound ([`TermBound::widen`]).
const FRONTIER_MAX: usize = 16;

impl TermBound {
    fn widen(&mut self, tf: u32, len: u32) {
        let f = &mut self.frontier;
        if f.iter().any(|&(t, l)| t >= tf && l <= len) {
            return; // dominated
        }
        f.retain(|&mut (t, l)| !(tf >= t && len <= l));
        let at = f.partition_point(|&(t, _)| t < tf);
        f.insert(at, (tf, len));
        if f.len() > FRONTIER_MAX {
            // The largest frequency with the smallest length bounds every pair.
            let (max_tf, min_len) = (f[f.len() - 1].0, f[0].1);
            f.clear();
            f.push((max_tf, min_len));
        }
    }
}

/// The constants of one search: live documents, mean length, parameters.
#[derive(Debug, Clone, Copy)]
struct Model {
    n: f32,
    avgdl: f32,
    params: Bm25Params,
}

impl Model {
    /// Lucene's non-negative IDF of a term in `df` live documents.
    fn idf(&self, df: u32) -> f32 {
        let df = df as f32;
        (1.0 + (self.n - df + 0.5) / (df + 0.5)).ln()
    }

    /// The length normalisation of a document of `len` terms.
    fn norm(&self, len: u32) -> f32 {
        let Bm25Params { k1, b } = self.params;
        k1 * (1.0 - b + b * len as f32 / self.avgdl)
    }

    /// The saturated term frequency, given the document's [`Model::norm`].
    fn saturate(&self, tf: u32, norm: f32) -> f32 {
        let tf = tf as f32;
        tf * (self.params.k1 + 1.0) / (tf + norm)
    }

    /// The largest [`Model::saturate`] a term with this bound can give.
    fn bound(&self, bound: &TermBound) -> f32 {
        bound
            .frontier
            .iter()
            .map(|&(tf, len)| self.saturate(tf, self.norm(len)))
            .fold(0.0, f32::max)
    }
}

/// A position in one query term's postings.
struct Cursor<'a> {
    list: &'a [(DocId, u32)],
    /// The term id (to unpack an escaped impact).
    term: u32,
    pos: usize,
    /// The term's IDF times how often the query holds it.
    weight: f32,
    /// The most the term adds to any document's score.
    bound: f32,
}

impl Cursor<'_> {
    /// The document the cursor is on; `None` once exhausted.
    fn doc(&self) -> Option<DocId> {
        self.list.get(self.pos).map(|&(d, _)| d)
    }

    /// Moves to the first posting at or after `target`: galloping (doubling steps), then a
    /// binary search within the last step, so a long list is probed in O(log gap).
    fn seek(&mut self, target: DocId) {
        let rest = &self.list[self.pos.min(self.list.len())..];
        if rest.first().is_none_or(|&(d, _)| d >= target) {
            return;
        }
        let mut step = 1;
        while step < rest.len() && rest[step].0 < target {
            step *= 2;
        }
        let window = &rest[step / 2..step.min(rest.len())];
        self.pos += step / 2 + window.partition_point(|&(d, _)| d < target);
    }
}

/// Per-thread score accumulator, as long as the largest index searched on the thread (4 bytes a
/// document), reused so a query allocates nothing of the index's size.
#[derive(Debug, Default)]
struct Scratch {
    scores: Vec<f32>,
    touched: Vec<DocId>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn documents_too_long_for_a_packed_impact_score_exactly() {
        // 70,000 repetitions overflow both 16-bit halves of an impact: the posting escapes and
        // its frequency and length are read from the document.
        let long = "storm ".repeat(70_000) + "coast";
        let docs: Vec<(DocId, String)> = vec![
            (0, "storm coast river".into()),
            (1, long),
            (2, "storm storm heat".into()),
            (3, "coast heat".into()),
        ];
        let mut index = Bm25Index::new(Analyzer::english());
        for (d, t) in &docs {
            index.insert(*d, t);
        }
        let check = |index: &Bm25Index| {
            for q in ["storm", "coast heat", "storm coast"] {
                let expected = brute_force(&docs, q, Bm25Params::default());
                for got in [
                    index.search(q, 10, |_| true),
                    index.search_exhaustive(q, 10, |_| true),
                ] {
                    assert_eq!(got.len(), expected.len(), "{q}");
                    for ((gd, gs), (ed, es)) in got.iter().zip(&expected) {
                        assert_eq!(gd, ed, "{q}");
                        assert!(
                            (gs - es).abs() <= 1e-4 * es.abs().max(1.0),
                            "{q}: {gs} vs {es}"
                        );
                    }
                }
            }
        };
        check(&index);
        let mut e = Encoder::default();
        index.encode(&mut e);
        let copy = Bm25Index::decode(&mut Decoder::new(&e.buf), Analyzer::english(), None).unwrap();
        check(&copy);
    }

    /// An index read back from its image behaves as the one it was written from, through
    /// inserts, removals, an id reused, and the compaction that retires the shared arrays.
    #[test]
    fn an_index_read_back_from_its_image_keeps_answering_as_the_original() {
        const WORDS: &[&str] = &["ice", "sea", "heat", "storm", "river", "coast", "carbon"];
        let text = |d: u32| {
            (0..(3 + d % 4))
                .map(|i| WORDS[((d * 7 + i * 3) % 7) as usize])
                .collect::<Vec<_>>()
                .join(" ")
        };
        // Read back copied (no file), and in place from the "mapped" image.
        for in_place in [false, true] {
            read_back_and_changed(in_place, text);
        }
    }

    fn read_back_and_changed(in_place: bool, text: impl Fn(u32) -> String) {
        let mut original = Bm25Index::new(Analyzer::english());
        for d in 0..60 {
            original.insert(d, &text(d));
        }
        original.remove(5);
        let mut e = Encoder::default();
        original.encode(&mut e);
        let file = Arc::new(FileBytes::from(e.buf));
        assert_eq!(
            file.as_ptr().align_offset(8),
            0,
            "the heap aligns a buffer this size"
        );
        let d = &mut Decoder::new(&file);
        let mut copy =
            Bm25Index::decode(d, Analyzer::english(), in_place.then_some(&file)).unwrap();
        assert_eq!(copy.post_base.is_in_place(), in_place);
        assert!(d.is_empty());
        let queries = ["ice storm", "carbon coast river", "heat"];
        let same = |a: &Bm25Index, b: &Bm25Index| {
            for q in queries {
                assert_eq!(a.search(q, 10, |_| true), b.search(q, 10, |_| true), "{q}");
            }
            for d in 0..80 {
                assert!(a.doc_terms(d).eq(b.doc_terms(d)), "{d}");
            }
        };
        same(&original, &copy);
        // The first insert copies out the lists of the terms it touches; the rest stay shared.
        copy.insert(80, "ice sea");
        assert!(!copy.post_base.as_slice().is_empty() && copy.post_base_copied > 0);
        original.insert(80, "ice sea");
        same(&original, &copy);
        for index in [&mut original, &mut copy] {
            for d in 60..80 {
                index.insert(d, &text(d + 1));
            }
        }
        assert!(
            copy.post_base.as_slice().is_empty(),
            "most of the shared postings were copied out: the rest followed, the array is freed"
        );
        same(&original, &copy);
        for index in [&mut original, &mut copy] {
            index.insert(5, "river river ice"); // a removed id reused
            for d in (0..80).filter(|d| d % 5 != 0) {
                index.remove(d); // past half of the postings: a compaction
            }
        }
        assert!(
            copy.post_base.as_slice().is_empty(),
            "the compaction made every list its own"
        );
        same(&original, &copy);
    }

    /// BM25 straight from the formula, over the live documents: the reference.
    fn brute_force(docs: &[(DocId, String)], query: &str, p: Bm25Params) -> Vec<(DocId, f32)> {
        let a = Analyzer::english();
        let docs: Vec<(DocId, Vec<String>)> =
            docs.iter().map(|(id, t)| (*id, a.terms(t))).collect();
        let n = docs.len() as f32;
        let avgdl = docs.iter().map(|(_, t)| t.len()).sum::<usize>() as f32 / n;
        let mut out = Vec::new();
        for (id, terms) in &docs {
            let mut score = 0.0f32;
            let mut matched = false;
            for q in a.terms(query) {
                let df = docs.iter().filter(|(_, t)| t.contains(&q)).count() as f32;
                let tf = terms.iter().filter(|t| **t == q).count() as f32;
                if tf > 0.0 {
                    matched = true;
                    let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
                    let norm = p.k1 * (1.0 - p.b + p.b * terms.len() as f32 / avgdl);
                    score += idf * tf * (p.k1 + 1.0) / (tf + norm);
                }
            }
            if matched {
                out.push((*id, score));
            }
        }
        out.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
        out
    }

    const WORDS: &[&str] = &[
        "ice", "sea", "arctic", "warming", "not", "rising", "levels", "the", "carbon", "melting",
    ];

    fn text() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(WORDS), 1..12).prop_map(|w| w.join(" "))
    }

    proptest! {
        /// After any sequence of inserts, replacements and removals the index scores exactly
        /// like the formula over the live documents.
        #[test]
        fn matches_the_formula_over_live_documents(
            ops in prop::collection::vec((0u32..12, prop::option::of(text())), 1..60),
            query in text(),
        ) {
            let mut index = Bm25Index::new(Analyzer::english());
            let mut live: std::collections::BTreeMap<DocId, String> = Default::default();
            for (doc, op) in ops {
                match op {
                    Some(t) => { index.insert(doc, &t); live.insert(doc, t); }
                    None => { index.remove(doc); live.remove(&doc); }
                }
            }
            prop_assert_eq!(index.len() as usize, live.len());
            let expected = brute_force(
                &live.into_iter().collect::<Vec<_>>(), &query, Bm25Params::default());
            let got = index.search(&query, 1000, |_| true);
            prop_assert_eq!(got.len(), expected.len());
            for ((gd, gs), (ed, es)) in got.iter().zip(&expected) {
                prop_assert!((gs - es).abs() <= 1e-4 * es.abs().max(1.0), "{gd}:{gs} vs {ed}:{es}");
            }
        }
    }

    /// Words with skewed frequencies, so pruning has long lists to skip.
    fn skewed_text() -> impl Strategy<Value = String> {
        prop::collection::vec((0u32..64).prop_map(|r| r * r / 64), 1..16).prop_map(|ranks| {
            ranks
                .iter()
                .map(|r| format!("w{r}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
    }

    proptest! {
        /// The pruned search returns the exhaustive search's documents (up to ties within
        /// rounding), with a filter, over any mix of inserts, re-inserts and removals, for any
        /// `k`, with repeated query terms.
        #[test]
        fn pruning_returns_the_exhaustive_answer(
            docs in prop::collection::vec(skewed_text(), 1..300),
            removed in prop::collection::vec(0usize..300, 0..60),
            reinserted in prop::collection::vec((0usize..300, skewed_text()), 0..10),
            query in skewed_text(),
            k in 1usize..40,
            modulus in 1u32..4,
            stride in 1usize..60,
            split in 0.0f64..=1.0,
        ) {
            // Ids spread by `stride` so that a corpus spans several scoring windows.
            let id = |i: usize| ((i % docs.len()) * stride) as DocId;
            let mut index = Bm25Index::new(Analyzer::english());
            for (d, t) in docs.iter().enumerate() {
                index.insert(id(d), t);
            }
            for r in removed {
                index.remove(id(r));
            }
            for (d, t) in reinserted {
                index.insert(id(d), &t);
            }
            let accept = |d: DocId| d.is_multiple_of(modulus);
            let pruned = index.search(&query, k, accept);
            let exhaustive = index.search_exhaustive(&query, k, accept);
            prop_assert_eq!(pruned.len(), exhaustive.len());
            let close = |a: f32, b: f32| (a - b).abs() <= 1e-5 * a.abs().max(1.0);
            for ((pd, ps), (ed, es)) in pruned.iter().zip(&exhaustive) {
                prop_assert!(close(*ps, *es), "rank scores {pd}:{ps} vs {ed}:{es}");
                prop_assert!(accept(*pd));
            }
            // A document the pruned search returned has its exhaustive score.
            let all = index.search_exhaustive(&query, docs.len() * stride, |_| true);
            for (pd, ps) in &pruned {
                let truth = all.iter().find(|(d, _)| d == pd).map(|(_, s)| *s);
                prop_assert!(truth.is_some_and(|t| close(t, *ps)), "{pd}:{ps} vs {truth:?}");
            }
            // Split at any id, the two parts' best `k` together are the whole answer.
            let mid = (f64::from(index.id_bound()) * split) as DocId;
            let low = index.search_in(&query, k, accept, 0..mid);
            let high = index.search_in(&query, k, accept, mid..index.id_bound());
            prop_assert!(low.iter().all(|h| h.0 < mid) && high.iter().all(|h| h.0 >= mid));
            let mut merged = TopK::new(k);
            for (d, score) in low.into_iter().chain(high) {
                merged.push(Hit::new(d, score));
            }
            let merged = merged.into_sorted();
            prop_assert_eq!(merged.len(), exhaustive.len());
            for ((md, ms), (ed, es)) in merged.iter().zip(&exhaustive) {
                prop_assert!(close(*ms, *es), "rank scores {md}:{ms} vs {ed}:{es}");
            }
        }
    }

    #[test]
    fn a_rare_term_beside_one_in_every_document() {
        // Once the top k is full of rare-term documents the common term only probes (the
        // pruned path); the answer is still the exhaustive one.
        let mut index = Bm25Index::new(Analyzer::english());
        for d in 0..10_000 {
            let text = if d % 1000 == 7 {
                "rare common"
            } else {
                "common filler words"
            };
            index.insert(d, text);
        }
        let pruned = index.search("rare common", 5, |_| true);
        assert_eq!(pruned, index.search_exhaustive("rare common", 5, |_| true));
        assert_eq!(
            pruned.iter().map(|h| h.0).collect::<Vec<_>>(),
            vec![7, 1007, 2007, 3007, 4007]
        );
    }

    #[test]
    fn filter_and_top_k_apply() {
        let mut index = Bm25Index::new(Analyzer::english());
        for d in 0..10 {
            index.insert(d, &"ice ".repeat(d as usize + 1));
        }
        let hits = index.search("ice", 3, |d| d % 2 == 0);
        assert_eq!(hits.len(), 3);
        assert!(hits.iter().all(|(d, _)| d % 2 == 0));
        assert!(hits.windows(2).all(|w| w[0].1 >= w[1].1));
        assert!(index.search("ice", 0, |_| true).is_empty());
        assert!(index.search("volcano", 5, |_| true).is_empty());
    }

    #[test]
    fn removal_changes_statistics_not_just_results() {
        let mut a = Bm25Index::new(Analyzer::english());
        a.insert(0, "arctic ice");
        a.insert(1, "arctic sea");
        a.insert(2, "ice ice ice");
        a.remove(2);
        let mut b = Bm25Index::new(Analyzer::english());
        b.insert(0, "arctic ice");
        b.insert(1, "arctic sea");
        assert_eq!(a.search("ice", 5, |_| true), b.search("ice", 5, |_| true));
    }
}
