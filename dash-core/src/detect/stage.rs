//! The detection stage: a background thread that takes committed claim versions in commit
//! order, embeds those without a vector (when the store has an embedder), finds their
//! candidates, judges them, and hands the writer one derived record per round: the edges (and
//! vectors) it found and the LSN up to which every commit is now processed.
//!
//! It never runs under the store's write lock and never holds back an acknowledgement: it
//! reads the catalog under short read locks, judges with no lock held, and waits for its record
//! to be applied before the next round (so degree caps see every edge before it). Work per
//! round is bounded ([`ROUND_DOCS`]); per claim by the candidate limits and the posting budget.
//!
//! Determinism: what a claim version is compared with depends only on the versions recorded
//! before it (`candidates.rs`), so a stage that lags, a reopen that resumes from the watermark
//! and [`rebuild`](Stage::rebuild) find the same pairs (dense candidates from HNSW graphs
//! excepted: they are approximate).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Weak};

use parking_lot::RwLockReadGuard;
use std::time::Duration;

use super::candidates::{self, Scratch, SearchCost};
use super::normalize;
use super::record::{StoredEdge, StoredVector, TenantDerived};
use super::DetectionConfig;
use crate::error::WriteError;
use crate::index::DocId;
use crate::model::{Claim, IngestItem, Lsn, Relation, TenantId, Timestamp};
use crate::retrieve::catalog::{read_tenant, Pending, SharedTenant, TenantIndex};
use crate::retrieve::tenant_cell::TenantCell;
use crate::store::writer::Request;
use crate::store::{lock, Shared};

/// Claim versions one round takes at most (whole commits: a larger batch is one round).
pub(crate) const ROUND_DOCS: u64 = 512;
/// Versions gathered under one read lock (a few milliseconds: the writer's apply waits for it).
const GATHER_SLICE: u32 = 32;
/// Texts per embedder call.
const EMBED_BATCH: usize = 32;
/// Edges per derived record of a rebuild.
const REBUILD_RECORD_EDGES: usize = 100_000;
/// Confidence of a structured contradiction or succession: the rule is exact, but object
/// aliases ("NYC" / "New York City") can still make a false one.
const STRUCTURED_CONFIDENCE: f32 = 0.9;
/// Version of the structured rule, recorded on its edges.
const STRUCTURED_RULE: &str = "structured/1";
/// Documents whose content is decoded under one read lock while the stage primes at open (a
/// few milliseconds: the writer may be waiting for the lock).
const PRIME_CHUNK: usize = 512;

/// A message to the stage.
#[derive(Debug)]
pub(crate) enum StageMsg {
    /// New commits were applied.
    Wake,
    /// Recompute a tenant's edges; answers the number of live edges after.
    Rebuild(TenantId, SyncSender<Result<u64, String>>),
}

/// What the stage did since open (read by `StoreStats`).
#[derive(Debug, Default)]
pub(crate) struct DetectionCounters {
    pub(crate) built: AtomicU64,
    pub(crate) dropped_degree: AtomicU64,
    pub(crate) dropped_floor: AtomicU64,
    pub(crate) judged: AtomicU64,
    pub(crate) candidates_lexical: AtomicU64,
    pub(crate) candidates_dense: AtomicU64,
    pub(crate) candidates_entity: AtomicU64,
    pub(crate) candidates_structured: AtomicU64,
    pub(crate) postings_read: AtomicU64,
    pub(crate) budget_hits: AtomicU64,
    pub(crate) claims_processed: AtomicU64,
    pub(crate) rounds: AtomicU64,
    pub(crate) embedded: AtomicU64,
    pub(crate) embed_skipped: AtomicU64,
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// The structured form, when all three parts are given.
pub(crate) fn triple(claim: &Claim) -> Option<(&str, &str, &str)> {
    let (s, p, o) = (
        claim.subject.as_deref()?,
        claim.predicate.as_deref()?,
        claim.object.as_deref()?,
    );
    (!s.trim().is_empty() && !p.trim().is_empty() && !o.trim().is_empty()).then_some((s, p, o))
}

/// True when `[from, to)` intervals (open ends unbounded) share an instant.
pub(crate) fn overlaps(a: &Claim, b: &Claim) -> bool {
    let starts_before_end = |from: Option<Timestamp>, to: Option<Timestamp>| match (from, to) {
        (Some(f), Some(t)) => f < t,
        _ => true,
    };
    starts_before_end(a.valid_from, b.valid_to) && starts_before_end(b.valid_from, a.valid_to)
}

/// True when `a` is valid wholly after `b` (disjoint intervals, `a` later).
fn later(a: &Claim, b: &Claim) -> bool {
    matches!((a.valid_from, b.valid_to), (Some(f), Some(t)) if f >= t)
}

/// The relation two conflicting versions get, and its direction: `(relation, new is the
/// source)`. Overlapping validity → the new one contradicts the old; disjoint → the one valid
/// later supersedes the other; neither with validity and latest-wins chosen → the new one
/// supersedes the old.
fn relation_for(new: &Claim, old: &Claim, newer_supersedes: bool) -> (Relation, bool) {
    let timeless = |c: &Claim| c.valid_from.is_none() && c.valid_to.is_none();
    if overlaps(new, old) {
        if newer_supersedes && timeless(new) && timeless(old) {
            (Relation::Supersedes, true)
        } else {
            (Relation::Contradicts, true)
        }
    } else {
        (Relation::Supersedes, later(new, old))
    }
}

/// What the stage remembers per tenant to find candidates the index cannot: structured groups
/// and per-entity recent lists. Rebuilt at open from the documents up to the watermark (no
/// judging), and afresh by a rebuild.
#[derive(Debug, Default)]
struct TenantState {
    /// Normalised (subject, predicate) → documents, in processing order.
    groups: HashMap<(Box<str>, Box<str>), Vec<DocId>>,
    /// Normalised object of each structured document.
    objects: HashMap<DocId, Box<str>>,
    /// Per entity, the documents processed most recently (bounded).
    recent: HashMap<Box<str>, VecDeque<DocId>>,
}

impl TenantState {
    /// Registers `n` as processed: later documents find it through its group and entities.
    fn register(&mut self, index: &TenantIndex, n: DocId, item: &IngestItem, keep: usize) {
        if let Some((s, p, o)) = triple(&item.claim) {
            let key = (normalize(s).into_boxed_str(), normalize(p).into_boxed_str());
            self.groups.entry(key).or_default().push(n);
            self.objects.insert(n, normalize(o).into_boxed_str());
        }
        let at = candidates::recorded_at(index, n);
        for entity in &item.claim.entities {
            let list = match self.recent.get_mut(entity.as_str()) {
                Some(l) => l,
                None => self.recent.entry(entity.as_str().into()).or_default(),
            };
            list.push_back(n);
            if list.len() > keep {
                // Versions retired by now never pair again (later documents are later).
                list.retain(|&p| {
                    index
                        .docs
                        .get(p as usize)
                        .is_some_and(|d| d.has_content() && at < d.superseded_at)
                });
            }
            while list.len() > keep {
                list.pop_front();
            }
        }
    }
}

/// A pair for the judge.
struct TextPair {
    tenant: usize,
    n: DocId,
    p: DocId,
    a: Arc<IngestItem>,
    b: Arc<IngestItem>,
}

/// An edge proposed for document `n` (before the degree cap).
struct Proposal {
    tenant: usize,
    n: DocId,
    from: DocId,
    to: DocId,
    relation: Relation,
    strength: f32,
    reason: String,
    judge: Arc<str>,
}

/// The stage's thread state.
pub(crate) struct Stage {
    shared: Weak<Shared>,
    writer: Sender<Request>,
    tenants: HashMap<TenantId, TenantState>,
    scratch: Scratch,
}

/// Why a round stopped.
enum Stop {
    /// The store closed (or its writer did).
    Closed,
}

impl Stage {
    pub(crate) fn new(shared: Weak<Shared>, writer: Sender<Request>) -> Self {
        Self {
            shared,
            writer,
            tenants: HashMap::new(),
            scratch: Scratch::default(),
        }
    }

    fn shared(&self) -> Result<Arc<Shared>, Stop> {
        self.shared.upgrade().ok_or(Stop::Closed)
    }

    /// The thread's body: waits for the catalog, primes its state, then processes rounds
    /// whenever woken, until the store closes.
    pub(crate) fn run(mut self, rx: &Receiver<StageMsg>) {
        // Background work: writes and queries go first; where the priority cannot be lowered
        // (a platform without it), the stage simply competes as any thread.
        let _ = thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min);
        {
            let Ok(s) = self.shared() else { return };
            if let Some(e) = crate::lexicon::load_error() {
                // The judge still runs (names, numbers, negation), without WordNet.
                *lock(&s.last_detection_error) = Some(format!("the WordNet table: {e}"));
            }
            if s.wait_index_ready().is_err() {
                return;
            }
        }
        if self.prime().is_err() {
            return;
        }
        loop {
            match self.drain() {
                Ok(()) => {}
                Err(Stop::Closed) => return,
            }
            let msg = match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(m) => Some(m),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            };
            if self.shared.strong_count() == 0 {
                return;
            }
            if let Some(StageMsg::Rebuild(tenant, reply)) = msg {
                let outcome = self.drain().and_then(|()| self.rebuild(&tenant));
                match outcome {
                    Ok(n) => drop(reply.send(Ok(n))),
                    Err(Stop::Closed) => {
                        drop(reply.send(Err("the store is closing".into())));
                        return;
                    }
                }
            }
        }
    }

    /// Rounds until the queue is empty.
    fn drain(&mut self) -> Result<(), Stop> {
        while self.round()? {}
        Ok(())
    }

    /// Rebuilds the per-tenant lookup state from the documents already processed (up to the
    /// watermark), without judging anything.
    fn prime(&mut self) -> Result<(), Stop> {
        let s = self.shared()?;
        let config = Arc::clone(&s.config.detection);
        let keep = config.max_candidates.saturating_mul(4);
        let (through, tenants) = {
            let st = s.read_state();
            let tenants: Vec<TenantId> = st.catalog.tenant_ids().cloned().collect();
            (st.catalog.detected_through, tenants)
        };
        // Contents are decoded from the segments: in chunks, each under its tenant's read lock
        // only (handed to a waiting writer at the end), so the writer is never held up for
        // more than a chunk.
        for tenant in tenants {
            let state = self.tenants.entry(tenant.clone()).or_default();
            let mut from: DocId = 0;
            loop {
                let Some(cell) = s.read_state().catalog.shared_tenant(&tenant) else {
                    break;
                };
                let index = read_tenant(&cell);
                let end = (from as usize)
                    .saturating_add(PRIME_CHUNK)
                    .min(index.docs.len());
                let mut reached = end == index.docs.len();
                for n in from..DocId::try_from(end).unwrap_or(DocId::MAX) {
                    if index.docs.get(n as usize).is_none_or(|d| d.lsn > through) {
                        reached = true; // documents are in commit order
                        break;
                    }
                    if let Some(item) = index.item(n) {
                        state.register(&index, n, &item, keep);
                    }
                }
                RwLockReadGuard::unlock_fair(index);
                if reached {
                    break;
                }
                from = DocId::try_from(end).unwrap_or(DocId::MAX);
            }
        }
        Ok(())
    }

    /// One round: takes the next commits off the queue, embeds, detects, writes the derived
    /// record. False when there was nothing to do.
    fn round(&mut self) -> Result<bool, Stop> {
        let s = self.shared()?;
        let work: Vec<Pending> = {
            let st = s.read_state();
            let mut docs = 0u64;
            let mut out = Vec::new();
            for p in &st.catalog.queue {
                if docs >= ROUND_DOCS && out.last().is_some_and(|l: &Pending| l.lsn != p.lsn) {
                    break;
                }
                docs += u64::from(p.count);
                out.push(p.clone());
            }
            out
        };
        let Some(through) = work.last().map(|p| p.lsn) else {
            return Ok(false);
        };
        if s.config.embedder.is_some() {
            self.embed(&s, &work)?;
        }
        let derived = if s.config.detection.is_enabled() {
            // A panicking judge must not stop detection for good: the round is recorded as
            // processed with no edges, and the failure is reported.
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.detect(&s, &work)))
                .unwrap_or_else(|_| {
                    *lock(&s.last_detection_error) = Some(format!(
                        "the judge panicked on the commits up to LSN {through}"
                    ));
                    Vec::new()
                })
        } else {
            Vec::new()
        };
        add(&s.detection.rounds, 1);
        add(
            &s.detection.claims_processed,
            work.iter().map(|p| u64::from(p.count)).sum(),
        );
        drop(s);
        self.send(through, derived, None)?;
        Ok(true)
    }

    /// Hands a derived record to the writer and waits until it is applied.
    fn send(
        &self,
        detected_through: Lsn,
        tenants: Vec<TenantDerived>,
        model: Option<(String, usize)>,
    ) -> Result<(), Stop> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.writer
            .send(Request::Derived {
                detected_through,
                tenants,
                model,
                reply,
            })
            .map_err(|_| Stop::Closed)?;
        match answer.recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                // A poisoned or failing WAL: nothing more can be made durable.
                if let Ok(s) = self.shared() {
                    *lock(&s.last_detection_error) = Some(format!("writing derived data: {e}"));
                }
                match e {
                    WriteError::TooLarge { .. } => Ok(()),
                    _ => Err(Stop::Closed),
                }
            }
            Err(_) => Err(Stop::Closed),
        }
    }

    /// Embeds the round's versions that have no vector, for tenants that take the store
    /// embedder's vectors, and writes them (before detection, which uses them).
    fn embed(&mut self, s: &Shared, work: &[Pending]) -> Result<(), Stop> {
        let Some(embedder) = s.config.embedder.clone() else {
            return Ok(());
        };
        let (model, dim) = (embedder.model().to_owned(), embedder.dimension());
        // (tenant, claim, version, text) of each version to embed.
        let mut todo: Vec<(TenantId, crate::model::ClaimId, u32, String)> = Vec::new();
        let mut skipped = 0u64;
        // Each commit's tenant and what its vectors are, under the state lock; the tenants'
        // indexes are read after it is let go (reading may wait for a tenant's queries).
        let looked_up: Vec<_> = {
            let st = s.read_state();
            work.iter()
                .map(|p| {
                    let model_of = st.dims.model(&p.tenant).map(|m| m == model);
                    let dim_fits = st.dims.of(&p.tenant).is_none_or(|d| d as usize == dim);
                    (st.catalog.shared_tenant(&p.tenant), model_of, dim_fits)
                })
                .collect()
        };
        for (p, (cell, model_of, dim_fits)) in work.iter().zip(looked_up) {
            let Some(cell) = cell else {
                continue;
            };
            let index = read_tenant(&cell);
            let takes = match model_of {
                Some(same) => same,
                None => dim_fits && !index.has_caller_vectors(),
            };
            for n in p.first..p.first + p.count {
                let Some(item) = index.item(n) else { continue };
                // Already has a vector: the caller's, or one embedded before a restart.
                let embedded = index.dense.as_ref().is_some_and(|d| d.contains(n));
                if item.claim.embedding.is_some() || embedded {
                    continue;
                }
                if !takes {
                    skipped += 1;
                    continue;
                }
                let Some(doc) = index.docs.get(n as usize) else {
                    continue;
                };
                todo.push((
                    p.tenant.clone(),
                    item.claim.claim_id.clone(),
                    doc.version,
                    item.claim.canonical_text.clone(),
                ));
            }
        }
        add(&s.detection.embed_skipped, skipped);
        if todo.is_empty() {
            return Ok(());
        }
        let mut by_tenant: Vec<TenantDerived> = Vec::new();
        for chunk in todo.chunks(EMBED_BATCH) {
            let texts: Vec<&str> = chunk.iter().map(|t| t.3.as_str()).collect();
            let vectors = match embedder.embed(&texts) {
                Ok(v) if v.len() == texts.len() && v.iter().all(|x| x.len() == dim) => v,
                Ok(_) => {
                    *lock(&s.last_detection_error) =
                        Some("the embedder returned vectors of the wrong count or size".into());
                    break;
                }
                Err(e) => {
                    *lock(&s.last_detection_error) = Some(format!("embedding: {e}"));
                    break;
                }
            };
            for ((tenant, claim, version, _), vector) in chunk.iter().zip(vectors) {
                if by_tenant.last().is_none_or(|d| &d.tenant != tenant) {
                    by_tenant.push(TenantDerived::new(tenant.clone()));
                }
                if let Some(d) = by_tenant.last_mut() {
                    d.vectors.push(StoredVector {
                        claim: claim.clone(),
                        version: *version,
                        vector,
                    });
                }
            }
        }
        let n: usize = by_tenant.iter().map(|d| d.vectors.len()).sum();
        add(&s.detection.embedded, n as u64);
        if n == 0 {
            return Ok(());
        }
        // Vectors only: the watermark does not move until detection has run.
        self.send(Lsn(0), by_tenant, Some((model, dim)))
    }

    /// Finds the edges of the round's versions.
    fn detect(&mut self, s: &Shared, work: &[Pending]) -> Vec<TenantDerived> {
        let config = Arc::clone(&s.config.detection);
        let mut tenants: Vec<TenantId> = Vec::new();
        let mut proposals = Vec::new();
        // Slices of at most GATHER_SLICE versions, each under its own short read lock (a large
        // batch is one commit, but never one long lock), judged with no lock held.
        for p in work {
            let t = match tenants.iter().position(|x| x == &p.tenant) {
                Some(t) => t,
                None => {
                    tenants.push(p.tenant.clone());
                    tenants.len() - 1
                }
            };
            let end = p.first.saturating_add(p.count);
            let mut from = p.first;
            while from < end {
                let to = end.min(from.saturating_add(GATHER_SLICE));
                let (mut structured, mut pairs) = (Vec::new(), Vec::new());
                {
                    // The tenant only: the writer may apply other tenants' commits meanwhile.
                    let Some(cell) = s.read_state().catalog.shared_tenant(&p.tenant) else {
                        break;
                    };
                    let state = self.tenants.entry(p.tenant.clone()).or_default();
                    gather(
                        &cell,
                        (state, &mut self.scratch),
                        &p.tenant,
                        t,
                        from..to,
                        &config,
                        s,
                        &mut structured,
                        &mut pairs,
                    );
                }
                proposals.extend(judge(&config, s, &tenants, structured, pairs));
                from = to;
            }
        }
        cap_and_store(&config, s, &tenants, proposals, None)
    }

    /// Recomputes `tenant`'s edges from its processed versions, in order, with a fresh state,
    /// and replaces them atomically (a new epoch, activated by the last record).
    fn rebuild(&mut self, tenant: &TenantId) -> Result<u64, Stop> {
        let s = self.shared()?;
        let config = Arc::clone(&s.config.detection);
        let (through, cell) = {
            let st = s.read_state();
            (
                st.catalog.detected_through,
                st.catalog.shared_tenant(tenant),
            )
        };
        let (docs, epoch) = {
            // Read after the state lock is let go (reading may wait for the tenant's queries).
            let Some(cell) = cell else {
                return Ok(0);
            };
            let index = read_tenant(&cell);
            (
                index.docs.iter().take_while(|d| d.lsn <= through).count(),
                index.detected.epoch(),
            )
        };
        let next = epoch.saturating_add(1);
        let mut state = TenantState::default();
        let mut edges: Vec<StoredEdge> = Vec::new();
        let tenants = vec![tenant.clone()];
        // Degrees count only the rebuilt edges (the old epoch's are being replaced).
        let mut local: HashMap<DocId, Vec<(DocId, DocId)>> = HashMap::new();
        let mut from = 0usize;
        while from < docs {
            let to = (from + GATHER_SLICE as usize).min(docs);
            let (mut structured, mut pairs) = (Vec::new(), Vec::new());
            if config.is_enabled() {
                let Some(cell) = s.read_state().catalog.shared_tenant(tenant) else {
                    break;
                };
                let range = DocId::try_from(from).unwrap_or(DocId::MAX)
                    ..DocId::try_from(to).unwrap_or(DocId::MAX);
                gather(
                    &cell,
                    (&mut state, &mut self.scratch),
                    tenant,
                    0,
                    range,
                    &config,
                    &s,
                    &mut structured,
                    &mut pairs,
                );
            }
            let proposals = judge(&config, &s, &tenants, structured, pairs);
            for d in cap_and_store(&config, &s, &tenants, proposals, Some(&mut local)) {
                edges.extend(d.edges);
            }
            from = to;
        }
        for e in &mut edges {
            e.epoch = next;
        }
        let count = edges.len() as u64;
        let mut chunks: Vec<Vec<StoredEdge>> = Vec::new();
        while edges.len() > REBUILD_RECORD_EDGES {
            let rest = edges.split_off(REBUILD_RECORD_EDGES);
            chunks.push(std::mem::replace(&mut edges, rest));
        }
        chunks.push(edges);
        let last = chunks.len() - 1;
        drop(s);
        for (i, chunk) in chunks.into_iter().enumerate() {
            let mut d = TenantDerived::new(tenant.clone());
            d.edges = chunk;
            d.activate = (i == last).then_some(next);
            self.send(through, vec![d], None)?;
        }
        self.tenants.insert(tenant.clone(), state);
        Ok(count)
    }
}

/// Gathers, for each document of `docs` in order, its structured proposals and its text pairs
/// for the judge, registering each as processed before the next.
#[allow(clippy::too_many_arguments)]
fn gather(
    cell: &TenantCell,
    (state, scratch): (&mut TenantState, &mut Scratch),
    tenant: &TenantId,
    t: usize,
    docs: std::ops::Range<DocId>,
    config: &DetectionConfig,
    s: &Shared,
    structured: &mut Vec<Proposal>,
    pairs: &mut Vec<TextPair>,
) {
    let keep = config.max_candidates.saturating_mul(4);
    for n in docs {
        // One document per read lock: in a large tenant a document's candidate walk takes
        // milliseconds, and the writer applying this tenant's commits waits behind the lock.
        let index = read_tenant(cell);
        gather_doc(
            &index,
            (state, scratch),
            (tenant, t, n),
            (config, keep),
            &s.detection,
            structured,
            pairs,
        );
        // Handed to a writer waiting for it: the next document would otherwise take it again
        // first, and again (measured: 300 ms waits per commit in a 1M-claim tenant).
        RwLockReadGuard::unlock_fair(index);
    }
}

/// [`gather`] for document `n`.
fn gather_doc(
    index: &TenantIndex,
    (state, scratch): (&mut TenantState, &mut Scratch),
    (tenant, t, n): (&TenantId, usize, DocId),
    (config, keep): (&DetectionConfig, usize),
    c: &DetectionCounters,
    structured: &mut Vec<Proposal>,
    pairs: &mut Vec<TextPair>,
) {
    let Some(item) = index.item(n) else {
        return;
    };
    let is_structured = triple(&item.claim).is_some();
    if let Some((subject, predicate, object)) = triple(&item.claim) {
        let predicate_n = normalize(predicate);
        if !config.is_multi_valued(tenant, &predicate_n) {
            let key = (
                normalize(subject).into_boxed_str(),
                predicate_n.into_boxed_str(),
            );
            let object_n = normalize(object);
            let group = state.groups.get(&key).map_or(&[][..], Vec::as_slice);
            for &p in group.iter().rev().take(config.max_group_scan) {
                if !candidates::eligible(index, n, p) {
                    continue;
                }
                let (Some(other), Some(other_object)) = (index.item(p), state.objects.get(&p))
                else {
                    continue;
                };
                add(&c.candidates_structured, 1);
                if **other_object == *object_n {
                    continue;
                }
                let (a, b) = (&item.claim, &other.claim);
                let shown = |c: &Claim| c.object.clone().unwrap_or_default();
                let (relation, new_first) = relation_for(a, b, false);
                let reason = if relation == Relation::Contradicts {
                    format!(
                        "same subject and predicate ({subject} / {predicate}), different \
                         objects ({} / {}), overlapping validity",
                        shown(a),
                        shown(b)
                    )
                } else {
                    let (newer, older) = if new_first { (a, b) } else { (b, a) };
                    format!(
                        "succession: {} follows {} for {subject} / {predicate}",
                        shown(newer),
                        shown(older)
                    )
                };
                let (from, to) = if new_first { (n, p) } else { (p, n) };
                structured.push(Proposal {
                    tenant: t,
                    n,
                    from,
                    to,
                    relation,
                    strength: STRUCTURED_CONFIDENCE,
                    reason,
                    judge: Arc::from(STRUCTURED_RULE),
                });
            }
        }
    }
    // Text candidates: lexical, dense, shared entities.
    let mut cost = SearchCost::default();
    let lexical = candidates::lexical(
        index,
        n,
        (
            config.max_candidates,
            config.min_shared,
            config.posting_budget,
        ),
        scratch,
        &mut cost,
    );
    add(&c.postings_read, cost.postings);
    add(&c.budget_hits, u64::from(cost.budget_hit));
    add(&c.candidates_lexical, lexical.len() as u64);
    let dense = candidates::dense(index, n, config.max_dense_candidates);
    add(&c.candidates_dense, dense.len() as u64);
    let mut entity: Vec<DocId> = Vec::new();
    for e in &item.claim.entities {
        if let Some(list) = state.recent.get(e.as_str()) {
            for &p in list.iter().rev() {
                if entity.len() >= config.max_candidates {
                    break;
                }
                if !entity.contains(&p) && candidates::eligible(index, n, p) {
                    entity.push(p);
                }
            }
        }
    }
    add(&c.candidates_entity, entity.len() as u64);
    let mut scored: Vec<(f32, DocId)> = lexical;
    for (sim, p) in dense {
        match scored.iter_mut().find(|(_, d)| *d == p) {
            Some(x) => x.0 = x.0.max(sim),
            None => scored.push((sim, p)),
        }
    }
    // Entity candidates pass the same lexical gate as the index's (dense ones are close by
    // meaning already).
    let new_entities: Vec<DocId> = entity
        .into_iter()
        .filter(|p| scored.iter().all(|(_, d)| d != p))
        .collect();
    let scores = candidates::score_others(index, n, &new_entities, scratch);
    scored.extend(
        scores
            .into_iter()
            .zip(new_entities)
            .filter(|((_, overlap), _)| *overlap >= config.min_shared)
            .map(|((share, _), p)| (share, p)),
    );
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
    scored.truncate(config.max_judged);
    for (_, p) in scored {
        let Some(other) = index.item(p) else { continue };
        // Two structured claims are the structured rule's alone.
        if is_structured && triple(&other.claim).is_some() {
            continue;
        }
        pairs.push(TextPair {
            tenant: t,
            n,
            p,
            a: Arc::clone(&item),
            b: other,
        });
    }
    state.register(index, n, &item, keep);
}

/// Runs the judge over `pairs` (one batch, no lock held) and turns its conflicts into
/// proposals, with the structured ones, grouped by document in processing order.
fn judge(
    config: &DetectionConfig,
    s: &Shared,
    tenants: &[TenantId],
    structured: Vec<Proposal>,
    pairs: Vec<TextPair>,
) -> Vec<Proposal> {
    let texts: Vec<(&str, &str)> = pairs
        .iter()
        .map(|p| {
            (
                p.a.claim.canonical_text.as_str(),
                p.b.claim.canonical_text.as_str(),
            )
        })
        .collect();
    let verdicts = if texts.is_empty() {
        Vec::new()
    } else {
        config.detector.judge_batch(&texts)
    };
    add(&s.detection.judged, texts.len() as u64);
    let judge: Arc<str> = Arc::from(config.detector.version());
    let mut out = structured;
    let mut below_floor = 0u64;
    for (pair, verdict) in pairs.iter().zip(verdicts) {
        let Some(j) = verdict else { continue };
        // A NaN confidence is below every floor.
        if j.confidence.is_nan() || j.confidence < config.confidence_floor {
            below_floor += 1;
            continue;
        }
        let newer = tenants
            .get(pair.tenant)
            .is_some_and(|t| config.newer_supersedes_in(t));
        let (relation, new_first) = relation_for(&pair.a.claim, &pair.b.claim, newer);
        let (from, to) = if new_first {
            (pair.n, pair.p)
        } else {
            (pair.p, pair.n)
        };
        out.push(Proposal {
            tenant: pair.tenant,
            n: pair.n,
            from,
            to,
            relation,
            strength: j.confidence.clamp(0.0, 1.0),
            reason: j.reason,
            judge: Arc::clone(&judge),
        });
    }
    add(&s.detection.dropped_floor, below_floor);
    // Processing order: by tenant slot, then document (stable: structured first per document).
    out.sort_by_key(|p| (p.tenant, p.n));
    out
}

/// Applies the degree cap (strongest first per document, in processing order) and turns the
/// kept proposals into stored edges. `local`: the edges of a rebuild so far, which then count
/// instead of the catalog's.
fn cap_and_store(
    config: &DetectionConfig,
    s: &Shared,
    tenants: &[TenantId],
    mut proposals: Vec<Proposal>,
    local: Option<&mut HashMap<DocId, Vec<(DocId, DocId)>>>,
) -> Vec<TenantDerived> {
    // The tenants' indexes, read without the state lock (the writer applies meanwhile).
    let cells: Vec<Option<SharedTenant>> = {
        let st = s.read_state();
        tenants
            .iter()
            .map(|t| st.catalog.shared_tenant(t))
            .collect()
    };
    let mut out: Vec<TenantDerived> = tenants
        .iter()
        .map(|t| TenantDerived::new(t.clone()))
        .collect();
    // Per tenant slot: edges added in this call, by document.
    let mut added: HashMap<(usize, DocId), Vec<DocId>> = HashMap::new();
    proposals.sort_by(|a, b| {
        (a.tenant, a.n)
            .cmp(&(b.tenant, b.n))
            .then(b.strength.total_cmp(&a.strength))
            .then((a.from, a.to).cmp(&(b.from, b.to)))
    });
    let (mut built, mut dropped) = (0u64, 0u64);
    let mut kept: Vec<(DocId, DocId)> = Vec::new();
    for p in proposals {
        let (Some(Some(cell)), Some(slot)) = (cells.get(p.tenant), out.get_mut(p.tenant)) else {
            continue;
        };
        let index = read_tenant(cell);
        // Degrees count edges to versions still current when `n` was recorded.
        let at = candidates::recorded_at(&index, p.n);
        let alive = |d: DocId| {
            index
                .docs
                .get(d as usize)
                .is_some_and(|x| at < x.superseded_at)
        };
        let degree = |d: DocId, added: &HashMap<(usize, DocId), Vec<DocId>>| {
            let existing = match &local {
                Some(l) => l.get(&d).map_or(0, |v| {
                    v.iter()
                        .filter(|(a, b)| alive(if *a == d { *b } else { *a }))
                        .count()
                }),
                None => index
                    .detected
                    .edges_of(d)
                    .filter(|e| alive(if e.from == d { e.to } else { e.from }))
                    .count(),
            };
            existing
                + added
                    .get(&(p.tenant, d))
                    .map_or(0, |v| v.iter().filter(|&&o| alive(o)).count())
        };
        if degree(p.from, &added) >= config.max_degree || degree(p.to, &added) >= config.max_degree
        {
            dropped += 1;
            continue;
        }
        let (Some(from_doc), Some(to_doc)) = (
            index.docs.get(p.from as usize),
            index.docs.get(p.to as usize),
        ) else {
            continue;
        };
        let (Some(from_id), Some(to_id)) = (index.claim_id(p.from), index.claim_id(p.to)) else {
            continue;
        };
        added.entry((p.tenant, p.from)).or_default().push(p.to);
        added.entry((p.tenant, p.to)).or_default().push(p.from);
        kept.push((p.from, p.to));
        built += 1;
        slot.edges.push(StoredEdge {
            from: crate::model::ClaimId::new(from_id),
            from_version: from_doc.version,
            to: crate::model::ClaimId::new(to_id),
            to_version: to_doc.version,
            relation: p.relation,
            strength: p.strength,
            reason: p.reason,
            judge: p.judge,
            epoch: index.detected.epoch(),
        });
    }
    // A rebuild's edges count from its next call on (`added` counted them in this one).
    if let Some(l) = local {
        for (from, to) in kept {
            l.entry(from).or_default().push((from, to));
            l.entry(to).or_default().push((from, to));
        }
    }
    add(&s.detection.built, built);
    add(&s.detection.dropped_degree, dropped);
    out.retain(|d| !d.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(from: Option<i32>, to: Option<i32>) -> Claim {
        let mut c = Claim::new("t", "c", "x");
        c.valid_from = from.and_then(Timestamp::from_year);
        c.valid_to = to.and_then(Timestamp::from_year);
        c
    }

    #[test]
    fn interval_overlap_treats_open_ends_as_unbounded_and_ends_as_exclusive() {
        assert!(overlaps(
            &claim(Some(2000), Some(2005)),
            &claim(Some(2004), None)
        ));
        assert!(!overlaps(
            &claim(Some(2000), Some(2005)),
            &claim(Some(2005), None)
        ));
        assert!(overlaps(&claim(None, None), &claim(Some(1990), Some(1991))));
        assert!(!overlaps(
            &claim(None, Some(1990)),
            &claim(Some(1990), None)
        ));
    }

    #[test]
    fn time_decides_the_relation() {
        let (none, early, late) = (
            claim(None, None),
            claim(Some(1990), Some(2000)),
            claim(Some(2000), None),
        );
        assert_eq!(
            relation_for(&none, &none, false),
            (Relation::Contradicts, true)
        );
        assert_eq!(
            relation_for(&none, &none, true),
            (Relation::Supersedes, true)
        );
        // Validity on one side keeps the conflict even with latest-wins.
        assert_eq!(
            relation_for(&none, &early, true),
            (Relation::Contradicts, true)
        );
        assert_eq!(
            relation_for(&late, &early, false),
            (Relation::Supersedes, true)
        );
        assert_eq!(
            relation_for(&early, &late, false),
            (Relation::Supersedes, false)
        );
    }
}
