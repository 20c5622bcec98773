//! Model-based property test of the `Store` API.
//!
//! Random sequences of `ingest`, `ingest_batch` (commit ids from a small pool, so replays and
//! conflicts happen; sometimes with an invalid item, which must make the whole batch fail with
//! nothing written), `forget`, `checkpoint`, `compact` and reopen (clean, or after a simulated
//! power cut on `MemStorage`) run against the real store — on `MemStorage` or on a temporary
//! directory — and against a small reference model: a map from `(tenant, claim)` to its list of
//! versions and a map from `(tenant, commit_id)` to the batch it committed.
//!
//! After every step the test proves that the store and the model agree on
//! - the outcome of the operation: the receipt's LSN and versions, `Replayed` with the original
//!   receipt, `CommitConflict`, `NotFound`, or `Invalid` naming the first bad item;
//! - for every key of the id space, every kept version (number, LSN, recorded time, content or
//!   tombstone) and what `get_claim` returns (content, version, LSN, history);
//! - `stats()`: live claims, last and checkpoint LSN, segments and memtable versions;
//! - recorded times strictly increasing across writes and reopens.
//!
//! Retention is the default: every version is kept, except that a merge drops, per claim, the
//! merged versions up to the last tombstone among them — and that tombstone too when the merge
//! starts at the oldest segment (forgotten content never outlives a merge of all its segments; a
//! claim left with nothing starts again at version 1). `max_segments` (1..=8) and the merge
//! policy's width (2..=4, no size floor) are drawn, so checkpoints merge now and then, and not
//! always from the oldest segment. Which adjacent run a checkpoint merges is the size-tiered
//! policy's choice (its own unit tests cover it): the model takes the run the store reports,
//! checks that it is adjacent and keeps the count within `max_segments`, and predicts the rest:
//! every segment id, and every version kept.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use dash::{
    BatchReceipt, Claim, ClaimId, ClaimRecord, CommitStatus, Edge, Evidence, IngestItem, Lsn,
    MemStorage, MergePolicy, Relation, Stance, Store, TenantId, Timestamp, ValidationError,
    VersionInfo, WriteError,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

const TENANTS: [&str; 2] = ["a", "b"];
const CLAIMS: usize = 6;
const COMMITS: usize = 4;

fn claim_id(n: usize) -> ClaimId {
    ClaimId::new(format!("c{n}"))
}

fn commit_id(n: usize) -> String {
    format!("k{n}")
}

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

/// A way to make an item invalid; each must be refused with nothing written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Defect {
    SpanReversed,
    ConfidenceTooHigh,
    EmptyText,
}

#[derive(Debug, Clone)]
struct EvidenceSpec {
    source: u8,
    stance: u8,
    quality: u8,
    /// `(start, len)` of the cited span.
    span: Option<(u64, u64)>,
}

#[derive(Debug, Clone)]
struct ItemSpec {
    claim: usize,
    text: String,
    /// Percent, so that every value round-trips exactly.
    confidence: u8,
    evidence: Vec<EvidenceSpec>,
    edge_to: Option<usize>,
    defect: Option<Defect>,
}

#[derive(Debug, Clone)]
enum Op {
    Ingest {
        tenant: usize,
        item: ItemSpec,
    },
    Batch {
        tenant: usize,
        commit: usize,
        items: Vec<ItemSpec>,
    },
    /// Sends again the `nth % len` batch sent so far (same tenant, commit id and content).
    ReplayBatch {
        nth: usize,
    },
    Forget {
        tenant: usize,
        claim: usize,
    },
    Checkpoint,
    Compact,
    /// Drop the store and open it again; with `crash`, cut the power first (`MemStorage`
    /// only; on a directory it is a clean reopen).
    Reopen {
        crash: bool,
    },
}

fn build_item(tenant: usize, spec: &ItemSpec) -> IngestItem {
    let id = claim_id(spec.claim);
    let mut claim = Claim::new(TENANTS[tenant], id.clone(), spec.text.clone());
    claim.confidence = f32::from(spec.confidence) / 100.0;
    let mut item = IngestItem::new(claim);
    for (n, ev) in spec.evidence.iter().enumerate() {
        let stance = [Stance::Supports, Stance::Contradicts, Stance::Neutral][ev.stance as usize];
        let mut e = Evidence::new(
            format!("e{n}"),
            id.clone(),
            format!("src{}", ev.source),
            stance,
        );
        e.source_quality = f32::from(ev.quality) / 100.0;
        if let Some((start, len)) = ev.span {
            e.chunk_id = Some(format!("chunk{}", ev.source));
            e.span_start = Some(start);
            e.span_end = Some(start + len);
        }
        item.evidence.push(e);
    }
    if let Some(to) = spec.edge_to.filter(|&to| to != spec.claim) {
        item.edges
            .push(Edge::new(id.clone(), claim_id(to), Relation::Supports));
    }
    match spec.defect {
        None => {}
        Some(Defect::SpanReversed) => {
            if item.evidence.is_empty() {
                item.evidence
                    .push(Evidence::new("e-bad", id, "src-bad", Stance::Neutral));
            }
            item.evidence[0].span_start = Some(10);
            item.evidence[0].span_end = Some(3);
        }
        Some(Defect::ConfidenceTooHigh) => item.claim.confidence = 1.5,
        Some(Defect::EmptyText) => item.claim.canonical_text.clear(),
    }
    item
}

/// Which generated defect a validation error reports (`None`: not one the test makes).
fn classify(err: &ValidationError) -> Option<Defect> {
    match err {
        ValidationError::SpanReversed {
            start: 10, end: 3, ..
        } => Some(Defect::SpanReversed),
        ValidationError::OutOfUnitRange {
            field: "confidence",
            ..
        } => Some(Defect::ConfidenceTooHigh),
        ValidationError::Empty {
            field: "canonical_text",
        } => Some(Defect::EmptyText),
        _ => None,
    }
}

/// What an operation did, in a form both the store and the model can produce.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Ingested {
        lsn: u64,
        version: u32,
    },
    Committed {
        lsn: u64,
        versions: Vec<(String, u32)>,
    },
    Replayed {
        lsn: u64,
        recorded_at: Timestamp,
        versions: Vec<(String, u32)>,
    },
    Forgotten {
        lsn: u64,
        version: u32,
    },
    Invalid {
        index: usize,
        defect: Option<Defect>,
    },
    Conflict,
    NotFound,
    Checkpointed {
        checkpoint_lsn: u64,
        /// The id of the segment written.
        written: Option<u64>,
        segments: usize,
        merged: bool,
    },
    Compacted {
        checkpoint_lsn: u64,
        segments: usize,
    },
    Reopened,
    Skipped,
    /// Anything else (an error the model never predicts).
    Other(String),
}

fn outcome_of_error(e: &WriteError) -> Outcome {
    match e {
        WriteError::Invalid { index, source } => Outcome::Invalid {
            index: *index,
            defect: classify(source),
        },
        WriteError::CommitConflict { .. } => Outcome::Conflict,
        WriteError::NotFound { .. } => Outcome::NotFound,
        other => Outcome::Other(other.to_string()),
    }
}

/// What the store told that the model cannot predict.
#[derive(Debug, Default)]
struct Seen {
    /// The recorded time a new write got.
    stamp: Option<Timestamp>,
    /// The segments a checkpoint merged (the size-tiered policy's choice).
    merged_from: Vec<u64>,
}

impl Seen {
    fn at(stamp: Timestamp) -> Self {
        Self {
            stamp: Some(stamp),
            ..Self::default()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The reference model
// ---------------------------------------------------------------------------------------------

/// `(tenant index, claim index)`.
type Key = (usize, usize);

#[derive(Debug, Clone)]
struct Version {
    version: u32,
    lsn: u64,
    recorded_at: Timestamp,
    /// `None` for the tombstone of a forget.
    item: Option<IngestItem>,
    /// The segment holding it (written by a checkpoint or a merge), if it left the memtable.
    segment: Option<u64>,
}

#[derive(Debug, Clone)]
struct Commit {
    items: Vec<IngestItem>,
    lsn: u64,
    recorded_at: Timestamp,
    versions: Vec<(String, u32)>,
}

#[derive(Debug)]
struct Model {
    claims: BTreeMap<Key, Vec<Version>>,
    commits: BTreeMap<(usize, String), Commit>,
    last_lsn: u64,
    last_recorded: Option<Timestamp>,
    checkpoint_lsn: u64,
    /// Segment ids, oldest first.
    segments: Vec<u64>,
    /// The id the store gives its next segment.
    next_segment: u64,
    /// Something was written since the last checkpoint (so a checkpoint writes a segment).
    dirty: bool,
    max_segments: usize,
}

impl Model {
    fn new(max_segments: usize) -> Self {
        Self {
            claims: BTreeMap::new(),
            commits: BTreeMap::new(),
            last_lsn: 0,
            last_recorded: None,
            checkpoint_lsn: 0,
            segments: Vec::new(),
            next_segment: 1,
            dirty: false,
            max_segments,
        }
    }

    /// Takes the next LSN and the recorded time the store reported for this write, which must
    /// be later than every earlier one.
    fn next_write(&mut self, stamp: Option<Timestamp>) -> Result<(u64, Timestamp), TestCaseError> {
        self.last_lsn += 1;
        self.dirty = true;
        let at = stamp.unwrap_or(Timestamp::MIN);
        if let (Some(stamp), Some(last)) = (stamp, self.last_recorded) {
            prop_assert!(
                stamp > last,
                "recorded time {stamp} not after the previous {last}"
            );
        }
        self.last_recorded = stamp.or(self.last_recorded);
        Ok((self.last_lsn, at))
    }

    fn push(&mut self, key: Key, item: Option<IngestItem>, lsn: u64, at: Timestamp) -> u32 {
        let versions = self.claims.entry(key).or_default();
        let version = versions.last().map_or(1, |v| v.version + 1);
        versions.push(Version {
            version,
            lsn,
            recorded_at: at,
            item,
            segment: None,
        });
        version
    }

    fn is_live(&self, key: Key) -> bool {
        self.claims
            .get(&key)
            .and_then(|v| v.last())
            .is_some_and(|v| v.item.is_some())
    }

    /// Merges the segments at `run` into a new one (`Retention::default()`): per claim, the
    /// merged versions before the last merged tombstone go, and the tombstone too when the run
    /// starts at the oldest segment.
    fn merge(&mut self, run: std::ops::Range<usize>) {
        if run.is_empty() {
            return;
        }
        let merged: Vec<u64> = self.segments[run.clone()].to_vec();
        let id = self.next_segment;
        self.next_segment += 1;
        for versions in self.claims.values_mut() {
            let in_run = |v: &Version| v.segment.is_some_and(|s| merged.contains(&s));
            if let Some(last) = versions.iter().rposition(|v| v.item.is_none() && in_run(v)) {
                let first = versions.iter().position(in_run).unwrap_or(last);
                let end = if run.start == 0 { last + 1 } else { last };
                versions.drain(first..end);
            }
            for v in versions.iter_mut().filter(|v| in_run(v)) {
                v.segment = Some(id);
            }
        }
        self.claims.retain(|_, versions| !versions.is_empty());
        self.segments.splice(run, [id]);
    }

    /// Where the ids `merged_from` (as the store reported them) sit in the segment list: they
    /// must be adjacent, at least two, and leave at most `max_segments`.
    fn run_of(&self, merged_from: &[u64]) -> Result<std::ops::Range<usize>, TestCaseError> {
        let over = self.segments.len() > self.max_segments;
        if merged_from.is_empty() {
            prop_assert!(!over, "{:?} over the cap, nothing merged", self.segments);
            return Ok(0..0);
        }
        let start = self.segments.iter().position(|&s| s == merged_from[0]);
        let run = start.map_or(0..0, |s| s..s + merged_from.len());
        prop_assert!(
            merged_from.len() >= 2 && self.segments.get(run.clone()) == Some(merged_from),
            "merged {:?}, not an adjacent run of {:?}",
            merged_from,
            self.segments
        );
        prop_assert!(
            self.segments.len() - run.len() < self.max_segments,
            "{:?} merged {:?}: still over {}",
            self.segments,
            merged_from,
            self.max_segments
        );
        Ok(run)
    }

    fn apply(&mut self, op: &Op, seen: &Seen) -> Result<Outcome, TestCaseError> {
        let stamp = seen.stamp;
        Ok(match op {
            Op::Ingest { tenant, item } => {
                if let Some(defect) = item.defect {
                    return Ok(Outcome::Invalid {
                        index: 0,
                        defect: Some(defect),
                    });
                }
                let (lsn, at) = self.next_write(stamp)?;
                let version = self.push(
                    (*tenant, item.claim),
                    Some(build_item(*tenant, item)),
                    lsn,
                    at,
                );
                Outcome::Ingested { lsn, version }
            }
            Op::Batch {
                tenant,
                commit,
                items,
            } => {
                if let Some((index, defect)) = items
                    .iter()
                    .enumerate()
                    .find_map(|(i, s)| s.defect.map(|d| (i, d)))
                {
                    return Ok(Outcome::Invalid {
                        index,
                        defect: Some(defect),
                    });
                }
                let built: Vec<IngestItem> = items.iter().map(|s| build_item(*tenant, s)).collect();
                let key = (*tenant, commit_id(*commit));
                if let Some(earlier) = self.commits.get(&key) {
                    return Ok(if earlier.items == built {
                        Outcome::Replayed {
                            lsn: earlier.lsn,
                            recorded_at: earlier.recorded_at,
                            versions: earlier.versions.clone(),
                        }
                    } else {
                        Outcome::Conflict
                    });
                }
                let (lsn, at) = self.next_write(stamp)?;
                let versions: Vec<(String, u32)> = items
                    .iter()
                    .zip(&built)
                    .map(|(s, item)| {
                        let v = self.push((*tenant, s.claim), Some(item.clone()), lsn, at);
                        (claim_id(s.claim).to_string(), v)
                    })
                    .collect();
                self.commits.insert(
                    key,
                    Commit {
                        items: built,
                        lsn,
                        recorded_at: at,
                        versions: versions.clone(),
                    },
                );
                Outcome::Committed { lsn, versions }
            }
            Op::ReplayBatch { .. } => Outcome::Skipped,
            Op::Forget { tenant, claim } => {
                if !self.is_live((*tenant, *claim)) {
                    return Ok(Outcome::NotFound);
                }
                let (lsn, at) = self.next_write(stamp)?;
                let version = self.push((*tenant, *claim), None, lsn, at);
                Outcome::Forgotten { lsn, version }
            }
            Op::Checkpoint => {
                let written = if self.dirty {
                    let id = self.next_segment;
                    self.next_segment += 1;
                    self.segments.push(id);
                    self.dirty = false;
                    for v in self.claims.values_mut().flatten() {
                        v.segment.get_or_insert(id);
                    }
                    Some(id)
                } else {
                    None
                };
                self.checkpoint_lsn = self.last_lsn;
                let run = self.run_of(&seen.merged_from)?;
                self.merge(run);
                Outcome::Checkpointed {
                    checkpoint_lsn: self.checkpoint_lsn,
                    written,
                    segments: self.segments.len(),
                    merged: !seen.merged_from.is_empty(),
                }
            }
            Op::Compact => {
                self.merge(0..self.segments.len());
                Outcome::Compacted {
                    checkpoint_lsn: self.checkpoint_lsn,
                    segments: self.segments.len(),
                }
            }
            Op::Reopen { .. } => Outcome::Reopened,
        })
    }

    fn versions(&self, key: Key) -> &[Version] {
        self.claims.get(&key).map_or(&[], Vec::as_slice)
    }

    fn record(&self, key: Key) -> Option<ClaimRecord> {
        let versions = self.versions(key);
        let current = versions.last()?;
        Some(ClaimRecord {
            item: Arc::new(current.item.clone()?),
            version: current.version,
            lsn: Lsn(current.lsn),
            recorded_at: current.recorded_at,
            history: versions
                .iter()
                .map(|v| VersionInfo {
                    version: v.version,
                    lsn: Lsn(v.lsn),
                    recorded_at: v.recorded_at,
                    forgotten: v.item.is_none(),
                })
                .collect(),
        })
    }

    fn live_claims(&self) -> u64 {
        self.claims.keys().filter(|&&k| self.is_live(k)).count() as u64
    }

    fn memtable_versions(&self) -> usize {
        self.claims
            .values()
            .flatten()
            .filter(|v| v.segment.is_none())
            .count()
    }
}

// ---------------------------------------------------------------------------------------------
// The system under test
// ---------------------------------------------------------------------------------------------

enum Backend {
    Mem(MemStorage),
    Dir(tempfile::TempDir),
}

/// How the store under test merges.
#[derive(Debug, Clone, Copy)]
struct Merges {
    max_segments: usize,
    /// The size-tiered policy's width (its size floor is off, so real sizes decide).
    width: usize,
}

impl Merges {
    /// Only the count cap merges (the tiered width is never reached below it).
    fn capped(max_segments: usize) -> Self {
        Self {
            max_segments,
            width: max_segments + 1,
        }
    }
}

struct Sut {
    backend: Backend,
    merges: Merges,
    store: Option<Store>,
}

impl Sut {
    fn new(on_disk: bool, merges: Merges) -> Result<Self, TestCaseError> {
        let backend = if on_disk {
            Backend::Dir(tempfile::tempdir().unwrap())
        } else {
            Backend::Mem(MemStorage::new())
        };
        let mut sut = Self {
            backend,
            merges,
            store: None,
        };
        sut.store = Some(sut.open()?);
        Ok(sut)
    }

    fn open(&self) -> Result<Store, TestCaseError> {
        let builder = match &self.backend {
            Backend::Mem(mem) => Store::builder_with_storage(Arc::new(mem.clone())),
            Backend::Dir(dir) => Store::builder(dir.path()),
        }
        // The model predicts LSNs; detection's derived records take LSNs when they come.
        .detection(dash::detect::DetectionConfig::disabled());
        let store = builder
            .auto_checkpoint(false)
            .max_segments(self.merges.max_segments)
            .merge_policy(MergePolicy {
                width: self.merges.width,
                size_ratio: self.merges.width as u64 - 1,
                floor_bytes: 1,
            })
            .open()
            .map_err(|e| TestCaseError::fail(format!("open failed: {e}")))?;
        // Every acknowledged write was fsynced (Strict), so nothing may be torn.
        prop_assert!(
            store.recovery_report().truncations.is_empty(),
            "{:?}",
            store.recovery_report()
        );
        Ok(store)
    }

    fn store(&self) -> &Store {
        self.store.as_ref().expect("open")
    }

    fn batch_outcome(
        tenant: usize,
        commit: &str,
        r: &BatchReceipt,
    ) -> Result<(Outcome, Seen), TestCaseError> {
        prop_assert_eq!(&r.commit_id, commit);
        for item in &r.items {
            prop_assert_eq!(item.tenant_id.as_str(), TENANTS[tenant]);
            prop_assert_eq!(item.lsn, r.lsn);
            prop_assert_eq!(item.recorded_at, r.recorded_at);
        }
        let versions = r
            .items
            .iter()
            .map(|i| (i.claim_id.to_string(), i.version))
            .collect();
        Ok(match r.status {
            CommitStatus::Committed => (
                Outcome::Committed {
                    lsn: r.lsn.0,
                    versions,
                },
                Seen::at(r.recorded_at),
            ),
            CommitStatus::Replayed => (
                Outcome::Replayed {
                    lsn: r.lsn.0,
                    recorded_at: r.recorded_at,
                    versions,
                },
                Seen::default(),
            ),
        })
    }

    /// Runs `op`; returns its outcome and, for a new write, the recorded time it got.
    fn apply(&mut self, op: &Op) -> Result<(Outcome, Seen), TestCaseError> {
        let store = self.store();
        Ok(match op {
            Op::Ingest { tenant, item } => match store.ingest(build_item(*tenant, item)) {
                Ok(r) => {
                    prop_assert_eq!(r.tenant_id.as_str(), TENANTS[*tenant]);
                    prop_assert_eq!(&r.claim_id, &claim_id(item.claim));
                    (
                        Outcome::Ingested {
                            lsn: r.lsn.0,
                            version: r.version,
                        },
                        Seen::at(r.recorded_at),
                    )
                }
                Err(e) => (outcome_of_error(&e), Seen::default()),
            },
            Op::Batch {
                tenant,
                commit,
                items,
            } => {
                let built = items.iter().map(|s| build_item(*tenant, s)).collect();
                match store.ingest_batch(commit_id(*commit), built) {
                    Ok(r) => Self::batch_outcome(*tenant, &commit_id(*commit), &r)?,
                    Err(e) => (outcome_of_error(&e), Seen::default()),
                }
            }
            Op::ReplayBatch { .. } => (Outcome::Skipped, Seen::default()),
            Op::Forget { tenant, claim } => {
                match store.forget(&TenantId::new(TENANTS[*tenant]), &claim_id(*claim)) {
                    Ok(r) => (
                        Outcome::Forgotten {
                            lsn: r.lsn.0,
                            version: r.version,
                        },
                        Seen::at(r.recorded_at),
                    ),
                    Err(e) => (outcome_of_error(&e), Seen::default()),
                }
            }
            Op::Checkpoint => match store.checkpoint() {
                Ok(r) => (
                    Outcome::Checkpointed {
                        checkpoint_lsn: r.checkpoint_lsn.0,
                        written: r.segment_written,
                        segments: r.segments,
                        merged: r.merged,
                    },
                    Seen {
                        stamp: None,
                        merged_from: r.merged_from,
                    },
                ),
                Err(e) => (Outcome::Other(e.to_string()), Seen::default()),
            },
            Op::Compact => match store.compact() {
                Ok(r) => (
                    Outcome::Compacted {
                        checkpoint_lsn: r.checkpoint_lsn.0,
                        segments: r.segments,
                    },
                    Seen::default(),
                ),
                Err(e) => (Outcome::Other(e.to_string()), Seen::default()),
            },
            Op::Reopen { crash } => {
                let store = self.store.take().expect("open");
                match (&self.backend, crash) {
                    (Backend::Mem(mem), true) => {
                        // A power cut: nothing more reaches the disk, then a reboot keeps only
                        // what was synced.
                        mem.power_off();
                        drop(store);
                        mem.crash();
                    }
                    _ => store
                        .close()
                        .map_err(|e| TestCaseError::fail(e.to_string()))?,
                }
                self.store = Some(self.open()?);
                (Outcome::Reopened, Seen::default())
            }
        })
    }
}

/// Everything observable about the id space agrees with the model.
fn check_state(store: &Store, model: &Model, context: &dyn Debug) -> Result<(), TestCaseError> {
    for (tenant, name) in TENANTS.iter().enumerate() {
        let tenant_id = TenantId::new(*name);
        for claim in 0..CLAIMS {
            let key = (tenant, claim);
            let actual: Vec<_> = store
                .versions(&tenant_id, &claim_id(claim))
                .map_err(|e| TestCaseError::fail(e.to_string()))?
                .into_iter()
                .map(|v| {
                    let item = v.item().map(|i| (**i).clone());
                    (v.version, v.lsn.0, v.recorded_at, item)
                })
                .collect();
            let expected: Vec<_> = model
                .versions(key)
                .iter()
                .map(|v| (v.version, v.lsn, v.recorded_at, v.item.clone()))
                .collect();
            prop_assert_eq!(
                actual,
                expected,
                "versions of {}/c{} after {:?}",
                name,
                claim,
                context
            );
            let record = store
                .get_claim(&tenant_id, &claim_id(claim))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(
                record,
                model.record(key),
                "get_claim {}/c{} after {:?}",
                name,
                claim,
                context
            );
        }
    }
    let stats = store.stats();
    let actual = (
        stats.claims,
        stats.last_lsn.0,
        stats.checkpoint_lsn.0,
        stats.segments,
        stats.memtable_versions,
        stats.poisoned,
    );
    let expected = (
        model.live_claims(),
        model.last_lsn,
        model.checkpoint_lsn,
        model.segments.len(),
        model.memtable_versions(),
        None,
    );
    prop_assert_eq!(
        actual,
        expected,
        "(claims, last_lsn, checkpoint_lsn, segments, memtable_versions, poisoned) after {:?}",
        context
    );
    Ok(())
}

/// Runs `ops` against the store and the model, comparing after every step.
fn run(on_disk: bool, merges: Merges, ops: &[Op]) -> Result<(), TestCaseError> {
    let max_segments = merges.max_segments;
    let mut sut = Sut::new(on_disk, merges)?;
    let mut model = Model::new(max_segments);
    let mut sent: Vec<Op> = Vec::new();
    check_state(sut.store(), &model, &"open")?;
    for (step, op) in ops.iter().enumerate() {
        let op = match op {
            Op::ReplayBatch { nth } if !sent.is_empty() => sent[nth % sent.len()].clone(),
            Op::Batch { .. } => {
                sent.push(op.clone());
                op.clone()
            }
            other => other.clone(),
        };
        let (actual, seen) = sut.apply(&op)?;
        let expected = model.apply(&op, &seen)?;
        prop_assert_eq!(&actual, &expected, "outcome of step {}: {:?}", step, op);
        check_state(sut.store(), &model, &(step, &op))?;
    }
    sut.store
        .take()
        .expect("open")
        .close()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

fn evidence_spec() -> impl Strategy<Value = EvidenceSpec> {
    (
        0u8..3,
        0u8..3,
        0u8..=100,
        prop::option::of((0u64..50, 0u64..20)),
    )
        .prop_map(|(source, stance, quality, span)| EvidenceSpec {
            source,
            stance,
            quality,
            span,
        })
}

fn defect() -> impl Strategy<Value = Defect> {
    prop_oneof![
        Just(Defect::SpanReversed),
        Just(Defect::ConfidenceTooHigh),
        Just(Defect::EmptyText),
    ]
}

fn item_spec() -> impl Strategy<Value = ItemSpec> {
    (
        0..CLAIMS,
        "[a-z]{1,6}( [a-z]{1,6}){0,2}",
        0u8..=100,
        prop::collection::vec(evidence_spec(), 0..=2),
        prop::option::of(0..CLAIMS),
        prop::option::weighted(0.1, defect()),
    )
        .prop_map(
            |(claim, text, confidence, evidence, edge_to, defect)| ItemSpec {
                claim,
                text,
                confidence,
                evidence,
                edge_to,
                defect,
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    let tenant = 0..TENANTS.len();
    prop_oneof![
        6 => (tenant.clone(), item_spec()).prop_map(|(tenant, item)| Op::Ingest { tenant, item }),
        3 => (tenant.clone(), 0..COMMITS, prop::collection::vec(item_spec(), 1..=3))
            .prop_map(|(tenant, commit, items)| Op::Batch { tenant, commit, items }),
        2 => (0usize..64).prop_map(|nth| Op::ReplayBatch { nth }),
        3 => (tenant, 0..CLAIMS).prop_map(|(tenant, claim)| Op::Forget { tenant, claim }),
        2 => Just(Op::Checkpoint),
        1 => Just(Op::Compact),
        1 => any::<bool>().prop_map(|crash| Op::Reopen { crash }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 128,
        // Failures are kept below as plain tests, not in a regressions file.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn store_agrees_with_the_model(
        on_disk in any::<bool>(),
        max_segments in 1usize..=8,
        width in 2usize..=4,
        ops in prop::collection::vec(op(), 1..40),
    ) {
        run(on_disk, Merges { max_segments, width }, &ops)?;
    }
}

fn plain_item(claim: usize, text: &str) -> ItemSpec {
    ItemSpec {
        claim,
        text: text.into(),
        confidence: 0,
        evidence: Vec::new(),
        edge_to: None,
        defect: None,
    }
}

/// Regression (found by the property): a claim is forgotten, the tombstone is checkpointed, the
/// claim is ingested again and, before the next checkpoint, segments are merged. The merge used
/// to decide "forgotten" by the segments' newest version only, so whether versions 1 and 2
/// survived depended on whether a checkpoint ran first. Now both orders purge what came up to
/// the tombstone and keep the new life (version 3).
#[test]
fn merge_purges_up_to_the_tombstone_even_if_the_claim_lives_again() {
    for on_disk in [false, true] {
        let ops = [
            Op::Ingest {
                tenant: 1,
                item: plain_item(1, "a"),
            },
            Op::Forget {
                tenant: 1,
                claim: 1,
            },
            Op::Checkpoint,
            Op::Ingest {
                tenant: 1,
                item: plain_item(1, "a"),
            },
            Op::Compact,
        ];
        run(on_disk, Merges::capped(3), &ops).unwrap();
    }
}

/// The same operations with a checkpoint before the merge: the same outcome.
#[test]
fn merge_after_checkpoint_purges_the_same_history() {
    let ops = [
        Op::Ingest {
            tenant: 1,
            item: plain_item(1, "a"),
        },
        Op::Forget {
            tenant: 1,
            claim: 1,
        },
        Op::Checkpoint,
        Op::Ingest {
            tenant: 1,
            item: plain_item(1, "b"),
        },
        Op::Checkpoint,
        Op::Compact,
    ];
    run(false, Merges::capped(3), &ops).unwrap();
}
