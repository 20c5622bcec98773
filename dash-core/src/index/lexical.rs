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

use super::topk::{Hit, TopK};
use super::Analyzer;

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

/// Distinct words the word → term cache holds at most (about 40 MB at 1M words); words beyond
/// it are stemmed every time, so hostile input cannot grow it without bound.
const WORD_CACHE_MAX: usize = 1 << 20;

#[derive(Debug, Default)]
struct Doc {
    len: u32,
    /// (term id, term frequency) of each distinct term. Kept after removal until the dead
    /// postings are compacted away, so that re-inserting the id can purge them first.
    terms: Box<[(u32, u32)]>,
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
    term_ids: HashMap<String, u32, foldhash::fast::RandomState>,
    /// Word (lower-cased, before stemming) → term id, for words seen before; bounded.
    word_terms: HashMap<Box<str>, u32, foldhash::fast::RandomState>,
    /// Per term id: (doc, tf) in insertion order; entries of removed docs are skipped and
    /// compacted away lazily.
    postings: Vec<Vec<(DocId, u32)>>,
    /// Per term id: live documents containing it.
    df: Vec<u32>,
    docs: Vec<Doc>,
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
            df: Vec::new(),
            docs: Vec::new(),
            live_docs: 0,
            live_len: 0,
            dead_postings: 0,
            total_postings: 0,
        }
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
                    term_ids.insert(term.into_owned(), id);
                    postings.push(Vec::new());
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
            self.postings[term as usize].push((doc, tf));
            self.df[term as usize] += 1;
        }
        self.total_postings += terms.len();
        let slot = doc as usize;
        if self.docs.len() <= slot {
            self.docs.resize_with(slot + 1, Doc::default);
        }
        self.docs[slot] = Doc {
            len,
            terms: terms.into_boxed_slice(),
            live: true,
        };
        self.live_docs += 1;
        self.live_len += u64::from(len);
    }

    /// The distinct terms of a live document with their frequencies, sorted by term id (for
    /// cheap set overlaps).
    #[must_use]
    pub fn doc_terms(&self, doc: DocId) -> &[(u32, u32)] {
        self.docs
            .get(doc as usize)
            .filter(|d| d.live)
            .map_or(&[][..], |d| &d.terms[..])
    }

    /// The postings of a term id (from [`Bm25Index::doc_terms`]): `(doc, tf)` in increasing
    /// document order, entries of removed documents included until they are compacted away.
    pub(crate) fn postings(&self, term: u32) -> &[(DocId, u32)] {
        self.postings
            .get(term as usize)
            .map_or(&[][..], Vec::as_slice)
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
        for &(term, _) in d.terms.iter() {
            self.df[term as usize] -= 1;
        }
        self.dead_postings += d.terms.len();
        // Keep postings lists mostly live: compact once half of all entries are dead.
        if self.dead_postings * 2 > self.total_postings {
            self.compact();
        }
    }

    fn compact(&mut self) {
        let docs = &self.docs;
        for list in &mut self.postings {
            list.retain(|&(doc, _)| docs[doc as usize].live);
        }
        for d in self.docs.iter_mut().filter(|d| !d.live) {
            d.terms = Box::default();
        }
        self.total_postings -= self.dead_postings;
        self.dead_postings = 0;
    }

    /// Drops the postings a removed `doc` left behind, before its id is reused (otherwise they
    /// would count for the new content).
    fn purge_dead(&mut self, doc: DocId) {
        let Some(d) = self.docs.get_mut(doc as usize) else {
            return;
        };
        let terms = std::mem::take(&mut d.terms);
        for &(term, _) in terms.iter() {
            self.postings[term as usize].retain(|&(other, _)| other != doc);
        }
        self.dead_postings -= terms.len();
        self.total_postings -= terms.len();
    }

    /// The BM25 score of every live document matching at least one term of `query` that
    /// `accept` lets through, best first, at most `k`; ties go to the lower doc id.
    pub fn search(
        &self,
        query: &str,
        k: usize,
        accept: impl Fn(DocId) -> bool,
    ) -> Vec<(DocId, f32)> {
        if k == 0 || self.live_docs == 0 {
            return Vec::new();
        }
        let n = self.live_docs as f32;
        let avgdl = self.live_len as f32 / n;
        let Bm25Params { k1, b } = self.params;
        SCRATCH.with(|cell| {
            let Ok(mut scratch) = cell.try_borrow_mut() else {
                // Re-entered from `accept` (no caller does that): use a fresh accumulator.
                return self.score(
                    query,
                    k,
                    &accept,
                    &mut Scratch::default(),
                    (n, avgdl, k1, b),
                );
            };
            self.score(query, k, &accept, &mut scratch, (n, avgdl, k1, b))
        })
    }

    /// Term-at-a-time scoring into a dense accumulator, then a bounded top-`k` selection that
    /// asks `accept` only about documents that would enter the top `k` (a filter is evaluated
    /// for a few hundred documents, not for every posting).
    fn score(
        &self,
        query: &str,
        k: usize,
        accept: &impl Fn(DocId) -> bool,
        scratch: &mut Scratch,
        (n, avgdl, k1, b): (f32, f32, f32, f32),
    ) -> Vec<(DocId, f32)> {
        let Scratch { scores, touched } = scratch;
        if scores.len() < self.docs.len() {
            scores.resize(self.docs.len(), 0.0);
        }
        self.analyzer.for_each_term(query, |term| {
            let Some(&id) = self.term_ids.get(term) else {
                return;
            };
            let df = self.df[id as usize] as f32;
            if df == 0.0 {
                return;
            }
            let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
            for &(doc, tf) in &self.postings[id as usize] {
                let d = &self.docs[doc as usize];
                if !d.live {
                    continue;
                }
                let tf = tf as f32;
                let norm = k1 * (1.0 - b + b * d.len as f32 / avgdl);
                let slot = &mut scores[doc as usize];
                // Every term's contribution is > 0, so 0 marks an untouched document.
                if *slot == 0.0 {
                    touched.push(doc);
                }
                *slot += idf * tf * (k1 + 1.0) / (tf + norm);
            }
        });
        let mut top = TopK::new(k);
        for &doc in touched.iter() {
            let hit = Hit::new(doc, scores[doc as usize]);
            if top.admits(&hit) && accept(doc) {
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
