//! The query planner: filter bitmap → lexical and dense candidates (visibility checked inside
//! each index's search) → fusion → composite ranking → answer assembly.

use std::time::Instant;

use roaring::RoaringBitmap;

use super::answer::{Explain, RetrieveResponse, ScoreBreakdown, Stage};
use super::assemble::{assemble, build_graph};
use super::catalog::{TenantIndex, TimeView};
use super::query::{Query, Ranking, StanceMode};
use super::rank::{composite, fuse};
use crate::index::{DocId, Hit, TopK};
use crate::model::Timestamp;

/// Temporal factor of a claim that is not valid at the current instant, for queries without
/// `as_of` (such claims are history: kept, ranked a little lower).
const NOT_VALID_NOW: f32 = 0.8;

/// Temporal factor of a claim superseded by a visible successor, for queries without `as_of`
/// (with `as_of` such claims are not returned at all once the successor took over).
const SUPERSEDED: f32 = 0.5;

/// Candidates each index contributes for `top_k` results: enough that ranking by evidence can
/// reorder the head, bounded so a large `top_k` stays affordable.
fn pool_size(top_k: usize) -> usize {
    (top_k * 2).clamp(100, 2000)
}

/// Times stages for `explain`.
struct Trace {
    on: bool,
    stages: Vec<Stage>,
    last: Instant,
}

impl Trace {
    fn new(on: bool) -> Self {
        Self {
            on,
            stages: Vec::new(),
            last: Instant::now(),
        }
    }

    fn stage(&mut self, name: &'static str, candidates: usize) {
        if self.on {
            let now = Instant::now();
            let micros = crate::model::micros(now.duration_since(self.last));
            self.stages.push(Stage {
                name,
                candidates,
                micros,
            });
            self.last = now;
        }
    }
}

/// When a query's searches take threads of their own, by the tenant's live documents.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Threads {
    /// From here the lexical and dense searches run at once
    /// (`StoreBuilder::concurrent_search_min_docs`).
    pub(crate) concurrent_from: u32,
    /// From here the lexical search runs as two, over the halves of the tenant's ids
    /// (`StoreBuilder::split_lexical_min_docs`).
    pub(crate) split_lexical_from: u32,
}

/// A search started on a scoped thread of its own, or run on the caller's when no thread was
/// to be had.
enum Search<'scope, T> {
    Running(std::thread::ScopedJoinHandle<'scope, T>),
    Done(T),
}

impl<T> Search<'_, T> {
    /// The search's answer (a panic in it is the caller's, as if it had run there).
    fn join(self) -> T {
        match self {
            Search::Running(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Search::Done(answer) => answer,
        }
    }
}

/// Runs `f` on a scoped thread named `name`, or here and now when no thread can be had.
fn spawn<'scope, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    name: &str,
    f: impl FnOnce() -> T + Send + Clone + 'scope,
) -> Search<'scope, T> {
    match std::thread::Builder::new()
        .name(name.into())
        .spawn_scoped(scope, f.clone())
    {
        Ok(handle) => Search::Running(handle),
        Err(_) => Search::Done(f()),
    }
}

/// The best `k` of two answers (each best first; ties to the lower id).
fn best_of(k: usize, a: Vec<(DocId, f32)>, b: Vec<(DocId, f32)>) -> Vec<(DocId, f32)> {
    let mut top = TopK::new(k);
    for (doc, score) in a.into_iter().chain(b) {
        top.push(Hit::new(doc, score));
    }
    top.into_sorted()
}

/// Answers `q` from one tenant's indexes (`None`: the tenant has no data).
pub(crate) fn run(index: Option<&TenantIndex>, q: &Query, threads: Threads) -> RetrieveResponse {
    let started = Instant::now();
    let mut trace = Trace::new(q.explain);
    let mut explain = Explain::default();
    let mut results = Vec::new();
    let mut graph = None;
    if let Some(index) = index {
        let view = TimeView {
            as_of: q.as_of,
            recorded_as_of: q.recorded_as_of,
        };
        // Filters first, as one bitmap: entity/metadata/source conditions, and (for queries at
        // the current recorded time) the current-version bitmap.
        let allowed: Option<RoaringBitmap> = (!q.filter.is_empty()).then(|| {
            let mut b = index.filters.get().matching(&q.filter);
            if q.recorded_as_of.is_none() {
                b &= &index.current;
            }
            b
        });
        if let Some(b) = &allowed {
            explain.prefiltered = true;
            explain.filter_matches = Some(b.len());
            trace.stage("filter", usize::try_from(b.len()).unwrap_or(usize::MAX));
        }
        // Everything that decides whether a document may be returned is checked inside the
        // index searches, so a selective condition never starves the candidate pool.
        let support_only = q.stance_mode == StanceMode::SupportOnly;
        let accept = |d: DocId| {
            allowed.as_ref().is_none_or(|b| b.contains(d))
                && !(support_only && index.net_contradicting.contains(d))
                && index.visible(d, &view)
        };
        let pool = pool_size(q.top_k);

        let search_lexical = |docs: std::ops::Range<DocId>| match q.search_text() {
            Some(text) => index.lexical.search_in(text, pool, accept, docs),
            None => Vec::new(),
        };
        let search_dense = || match (&q.embedding, &index.dense) {
            // The query was validated against the store's dimension; a tenant whose index has
            // another (impossible by construction) simply has no dense candidates.
            (Some(e), Some(d)) => d
                .search(e, pool, &accept, allowed.as_ref())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        if let (Some(_), Some(d)) = (&q.embedding, &index.dense) {
            let (graph_docs, exact_docs) = d.sizes();
            explain.dense_graph_docs = graph_docs;
            explain.dense_exact_docs = exact_docs;
        }
        // A large tenant's two searches run at once, the dense one on a thread of its own (a
        // spawn costs tens of microseconds; the searches milliseconds each at a million
        // claims), and a very large tenant's lexical search runs as two over the halves of its
        // ids, the upper one on a thread too. A small tenant's run here in turn.
        let live = index.lexical.len();
        let both = q.search_text().is_some()
            && q.embedding.is_some()
            && index.dense.is_some()
            && live >= threads.concurrent_from;
        let split = q.search_text().is_some() && live >= threads.split_lexical_from;
        let (lexical, dense) = std::thread::scope(|scope| {
            let dense = both.then(|| spawn(scope, "dash-dense-search", search_dense));
            let lexical = if split {
                let mid = index.lexical.id_bound() / 2;
                let upper = spawn(scope, "dash-lexical-search", move || {
                    search_lexical(mid..DocId::MAX)
                });
                let lower = search_lexical(0..mid);
                best_of(pool, lower, upper.join())
            } else {
                search_lexical(0..DocId::MAX)
            };
            let dense = dense.map_or_else(search_dense, Search::join);
            (lexical, dense)
        });
        // (Run at once, the lexical stage's time covers both.)
        trace.stage("lexical", lexical.len());
        trace.stage("dense", dense.len());

        let fused = fuse(&lexical, &dense, q.fusion);
        trace.stage("fuse", fused.len());

        let now = Timestamp::now();
        let mut ranked = Vec::with_capacity(fused.len());
        let mut superseded: Vec<(DocId, DocId)> = Vec::new();
        for f in fused {
            let Some(d) = index.docs.get(f.doc as usize) else {
                continue;
            };
            let w = d.weight;
            let successor = match q.as_of {
                Some(_) => None,
                None => index.successor(f.doc, &view),
            };
            let temporal = match q.as_of {
                Some(_) => 1.0,
                None if d.valid_at(now) => 1.0,
                None => NOT_VALID_NOW,
            } * if successor.is_some() { SUPERSEDED } else { 1.0 };
            let confidence = d.confidence;
            let breakdown = ScoreBreakdown {
                relevance: f.relevance,
                lexical: f.lexical,
                dense: f.dense,
                support: w.support,
                contradiction: w.contradiction,
                confidence,
                temporal,
            };
            let score = match q.ranking {
                Ranking::Composite => composite(f.relevance, w, confidence, temporal),
                Ranking::Relevance => f.relevance,
            };
            ranked.push((f.doc, score, breakdown));
            if let Some(s) = successor {
                superseded.push((f.doc, s));
            }
        }
        // Ties go to the earlier-recorded version, then the smaller claim id: both are stored,
        // so the order survives a reopen (document ids are assigned in load order).
        let key = |d: DocId| {
            let doc = index.docs.get(d as usize);
            let claim = doc.and_then(|x| index.claims.get(x.claim));
            (doc.map(|x| x.recorded_at), claim.map(|c| &*c.id))
        };
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| key(a.0).cmp(&key(b.0))));
        if below_successors(&mut ranked, &superseded) {
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| key(a.0).cmp(&key(b.0))));
        }
        ranked.truncate(q.top_k);
        trace.stage("rank", ranked.len());

        index.prefetch(ranked.iter().map(|r| r.0));
        results = ranked
            .iter()
            .filter_map(|&(doc, score, breakdown)| {
                assemble(index, doc, score, breakdown, q.stance_mode, &view)
            })
            .collect();
        if let Some(depth) = q.graph_depth {
            let seeds: Vec<DocId> = ranked.iter().map(|r| r.0).collect();
            graph = Some(build_graph(index, &seeds, depth, &view));
        }
        trace.stage("assemble", results.len());
    }
    let took_ms = started.elapsed().as_secs_f64() * 1e3;
    RetrieveResponse {
        tenant_id: q.tenant.clone(),
        query: q.text.clone(),
        took_ms,
        results,
        graph: graph.or_else(|| q.graph_depth.map(|_| Default::default())),
        explain: q.explain.then_some(Explain {
            stages: trace.stages,
            ..explain
        }),
        detection: super::DetectionStatus::default(),
    }
}

/// Puts each superseded document below its successor when both are ranked (a chain of
/// successions is followed a few links deep); true when a score changed.
fn below_successors(
    ranked: &mut [(DocId, f32, ScoreBreakdown)],
    superseded: &[(DocId, DocId)],
) -> bool {
    if superseded.is_empty() {
        return false;
    }
    let mut changed = false;
    for _ in 0..4 {
        let mut again = false;
        for &(old, new) in superseded {
            let score_of = |d: DocId| ranked.iter().find(|r| r.0 == d).map(|r| r.1);
            let (Some(o), Some(n)) = (score_of(old), score_of(new)) else {
                continue;
            };
            if o >= n {
                if let Some(r) = ranked.iter_mut().find(|r| r.0 == old) {
                    r.1 = n * 0.999;
                    again = true;
                }
            }
        }
        changed |= again;
        if !again {
            break;
        }
    }
    changed
}
