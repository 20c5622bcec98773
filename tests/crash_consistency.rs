//! Crash consistency under power cuts at every sync point, on the simulated disk (`MemStorage`)
//! in `Durability::Strict` mode.
//!
//! A scripted workload (single ingests, batches with commit ids and their retries, forgets,
//! explicit checkpoints — some of which merge — and explicit compactions) is first run without a
//! cut to count its syncs N. Then for every n in 1..=N the workload runs on a fresh disk whose
//! power fails at sync n; it stops at the first call that fails, the store is dropped, the disk
//! "reboots" (`crash`, or `crash_keeping` a pseudo-random part of every unsynced write: torn
//! writes), and the store is reopened. Recovery must succeed and:
//! - every acknowledged write is there, with its content, version, LSN and recorded time;
//! - no batch is half-applied;
//! - nothing that was never attempted appears, and at most the single in-flight call may
//!   additionally have taken effect: the recovered state is exactly the state after the
//!   acknowledged prefix of the workload, or after that prefix plus the in-flight call;
//! - the commit ids of recovered batches are still remembered (a retry is a `Replayed`);
//! - the recovered store is writable, and checkpointing and crashing it again changes nothing.
//!
//! Two more variants: power cuts at every sync of the recovery itself (with torn writes in
//! between), and concurrent writers whose group commits are torn (each writer's acknowledged
//! claims survive, plus at most its one in-flight claim).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use dash::{
    CheckpointError, Claim, ClaimId, CommitStatus, Durability, Edge, Evidence, IngestItem,
    MemStorage, OpenError, Relation, Stance, Store, TenantId, Timestamp, VersionBody, WriteError,
};
use dash_bench::rng::SplitMix;

const TENANT: &str = "t";
/// Low, so that checkpoints of the workload merge segments; at 1 every merge takes all of them
/// (the two there are), which is what the model predicts. Merges of a run that is not the oldest
/// go through the same sync points; `tests/model_proptest.rs` and `tests/tiered_merges.rs`
/// check what they keep.
const MAX_SEGMENTS: usize = 1;
/// A claim written only after recovery, to check the store is writable.
const FRESH_KEY: &str = "fresh";
/// How many pseudo-random torn-write patterns are tried per power cut.
const TORN_SEEDS: u64 = 8;

#[derive(Clone, Debug)]
enum Op {
    Ingest(String, String),
    Batch(String, Vec<(String, String)>),
    Forget(String),
    Checkpoint,
    Compact,
}

fn ingest(key: &str, text: &str) -> Op {
    Op::Ingest(key.into(), text.into())
}

fn batch(id: &str, items: &[(&str, &str)]) -> Op {
    Op::Batch(
        id.into(),
        items
            .iter()
            .map(|(k, t)| ((*k).into(), (*t).into()))
            .collect(),
    )
}

fn forget(key: &str) -> Op {
    Op::Forget(key.into())
}

/// About forty operations over ten keys. Forgotten claims are checkpointed and then purged by a
/// merge (automatic at the third segment, or by `compact`) and ingested again (at version 1);
/// three batches are retried with the same commit id after checkpoints and merges.
fn workload() -> Vec<Op> {
    let b1: &[(&str, &str)] = &[("k2", "k2 a"), ("k3", "k3 a"), ("k0", "k0 b")];
    let b2: &[(&str, &str)] = &[("k5", "k5 a"), ("k6", "k6 a")];
    let b3: &[(&str, &str)] = &[
        ("k8", "k8 a"),
        ("k9", "k9 a"),
        ("k4", "k4 b"),
        ("k1", "k1 d"),
    ];
    vec![
        ingest("k0", "k0 a"),
        ingest("k1", "k1 a"),
        batch("b1", b1),
        ingest("k4", "k4 a"),
        forget("k1"),
        ingest("k2", "k2 b"),
        Op::Checkpoint,
        batch("b2", b2),
        batch("b1", b1),
        ingest("k1", "k1 c"),
        forget("k3"),
        ingest("k7", "k7 a"),
        Op::Checkpoint,
        batch("b3", b3),
        forget("k0"),
        ingest("k5", "k5 b"),
        Op::Checkpoint,
        ingest("k0", "k0 again"),
        batch("b4", &[("k3", "k3 again"), ("k6", "k6 b")]),
        forget("k7"),
        batch("b2", b2),
        ingest("k8", "k8 b"),
        Op::Compact,
        Op::Checkpoint,
        forget("k9"),
        ingest("k2", "k2 c"),
        batch("b5", &[("k7", "k7 again"), ("k0", "k0 c")]),
        Op::Checkpoint,
        ingest("k9", "k9 again"),
        forget("k4"),
        Op::Checkpoint,
        Op::Compact,
        batch("b6", &[("k4", "k4 again"), ("k1", "k1 e"), ("k5", "k5 c")]),
        batch("b3", b3),
        ingest("k6", "k6 c"),
        forget("k8"),
        ingest("k3", "k3 b"),
        Op::Checkpoint,
        batch("b7", &[("k8", "k8 again"), ("k2", "k2 d")]),
        ingest("k0", "k0 d"),
        forget("k5"),
        ingest("k9", "k9 b"),
    ]
}

/// Every key the workload (or the post-recovery check) touches.
fn universe(ops: &[Op]) -> BTreeSet<String> {
    let mut keys = BTreeSet::from([FRESH_KEY.to_string()]);
    for op in ops {
        match op {
            Op::Ingest(k, _) | Op::Forget(k) => {
                keys.insert(k.clone());
            }
            Op::Batch(_, items) => keys.extend(items.iter().map(|(k, _)| k.clone())),
            Op::Checkpoint | Op::Compact => {}
        }
    }
    keys
}

/// The full item the workload writes for `key` with `text`.
fn make_item(key: &str, text: &str) -> IngestItem {
    let mut ev = Evidence::new(
        format!("{key}-ev"),
        key,
        format!("src-{text}"),
        Stance::Supports,
    );
    ev.excerpt = Some(format!("evidence for {text}"));
    let mut claim = Claim::new(TENANT, key, text);
    claim
        .metadata
        .insert("text-len".into(), text.len().to_string());
    IngestItem::new(claim)
        .with_evidence(ev)
        .with_edge(Edge::new(key, "hub", Relation::Supports))
}

fn tenant() -> TenantId {
    TenantId::new(TENANT)
}

// ---------------------------------------------------------------------------------------------
// The model: what the store must hold after a prefix of the workload.

/// One version of a claim: number, LSN and text (`None`: tombstone).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Ver {
    version: u32,
    lsn: u64,
    text: Option<String>,
}

/// What a write must return.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Predicted {
    lsn: u64,
    versions: Vec<u32>,
    replayed: bool,
}

#[derive(Clone, Debug, Default)]
struct Model {
    /// Every kept version per key, oldest first (no entry: no version).
    claims: BTreeMap<String, Vec<Ver>>,
    /// How many of a key's oldest versions are in segments.
    in_segments: BTreeMap<String, usize>,
    segments: usize,
    /// A write since the last checkpoint (the next one writes a segment).
    dirty: bool,
    last_lsn: u64,
    /// Commit id → (LSN, versions).
    commits: BTreeMap<String, (u64, Vec<u32>)>,
}

impl Model {
    fn push(&mut self, key: &str, lsn: u64, text: Option<String>) -> u32 {
        let versions = self.claims.entry(key.to_string()).or_default();
        let version = versions.last().map_or(1, |v| v.version + 1);
        versions.push(Ver { version, lsn, text });
        version
    }

    fn is_live(&self, key: &str) -> bool {
        self.claims
            .get(key)
            .and_then(|v| v.last())
            .is_some_and(|v| v.text.is_some())
    }

    fn live_claims(&self) -> u64 {
        self.claims.keys().filter(|k| self.is_live(k)).count() as u64
    }

    fn holds(&self, key: &str, lsn: u64) -> bool {
        self.claims
            .get(key)
            .is_some_and(|vs| vs.iter().any(|v| v.lsn == lsn))
    }

    /// Applies an operation as the store must; returns what a write must answer.
    fn apply(&mut self, op: &Op) -> Option<Predicted> {
        match op {
            Op::Ingest(key, text) => {
                let lsn = self.last_lsn + 1;
                self.last_lsn = lsn;
                self.dirty = true;
                let version = self.push(key, lsn, Some(text.clone()));
                Some(Predicted {
                    lsn,
                    versions: vec![version],
                    replayed: false,
                })
            }
            Op::Batch(id, items) => {
                if let Some((lsn, versions)) = self.commits.get(id) {
                    return Some(Predicted {
                        lsn: *lsn,
                        versions: versions.clone(),
                        replayed: true,
                    });
                }
                let lsn = self.last_lsn + 1;
                self.last_lsn = lsn;
                self.dirty = true;
                let versions: Vec<u32> = items
                    .iter()
                    .map(|(key, text)| self.push(key, lsn, Some(text.clone())))
                    .collect();
                self.commits.insert(id.clone(), (lsn, versions.clone()));
                Some(Predicted {
                    lsn,
                    versions,
                    replayed: false,
                })
            }
            Op::Forget(key) => {
                assert!(self.is_live(key), "workload bug: {key} is not live");
                let lsn = self.last_lsn + 1;
                self.last_lsn = lsn;
                self.dirty = true;
                let version = self.push(key, lsn, None);
                Some(Predicted {
                    lsn,
                    versions: vec![version],
                    replayed: false,
                })
            }
            Op::Checkpoint => {
                if self.dirty {
                    self.dirty = false;
                    self.segments += 1;
                    for (key, versions) in &self.claims {
                        self.in_segments.insert(key.clone(), versions.len());
                    }
                }
                if self.segments > MAX_SEGMENTS {
                    self.merge();
                }
                None
            }
            Op::Compact => {
                self.merge();
                None
            }
        }
    }

    /// A merge of all segments under the default retention: a key loses its segment versions up
    /// to and including the last tombstone among them.
    fn merge(&mut self) {
        if self.segments == 0 {
            return;
        }
        for (key, versions) in &mut self.claims {
            let n = self.in_segments.get(key).copied().unwrap_or(0);
            if let Some(last) = versions[..n].iter().rposition(|v| v.text.is_none()) {
                versions.drain(..=last);
                self.in_segments.insert(key.clone(), n - (last + 1));
            }
        }
        self.claims.retain(|_, v| !v.is_empty());
        self.segments = 1;
    }

    fn state(&self, universe: &BTreeSet<String>) -> BTreeMap<String, Vec<Ver>> {
        universe
            .iter()
            .map(|k| (k.clone(), self.claims.get(k).cloned().unwrap_or_default()))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Running the workload.

/// What an acknowledged call returned.
#[derive(Clone, Debug)]
enum Done {
    Write {
        lsn: u64,
        versions: Vec<u32>,
        replayed: bool,
        recorded_at: Timestamp,
    },
    Maintenance,
}

#[derive(Debug)]
struct Run {
    /// The outcome of each acknowledged call, in order (a prefix of the workload).
    done: Vec<Done>,
    /// The call that failed (`None` if none did, or if the open failed) and its error.
    failed: Option<(usize, String)>,
    open_error: Option<String>,
}

/// Detection is off here: its derived records take LSNs at times the model cannot predict.
/// `tests/detection_stage.rs` cuts power at every sync with detection on.
fn open(storage: &MemStorage) -> Result<Store, OpenError> {
    Store::builder_with_storage(Arc::new(storage.clone()))
        .durability(Durability::Strict)
        .auto_checkpoint(false)
        .max_segments(MAX_SEGMENTS)
        .detection(dash::detect::DetectionConfig::disabled())
        .open()
}

/// A failed write must fail as a power cut does: with an I/O error or as poisoned.
fn write_failure(e: &WriteError, op: &Op) -> String {
    assert!(
        matches!(e, WriteError::Io(_) | WriteError::Poisoned { .. }),
        "{op:?} failed with an unexpected error: {e:?}"
    );
    e.to_string()
}

fn checkpoint_failure(e: &CheckpointError, op: &Op) -> String {
    assert!(
        matches!(e, CheckpointError::Io { .. } | CheckpointError::Wal(_)),
        "{op:?} failed with an unexpected error: {e:?}"
    );
    e.to_string()
}

fn execute(store: &Store, op: &Op) -> Result<Done, String> {
    match op {
        Op::Ingest(key, text) => store
            .ingest(make_item(key, text))
            .map(|r| Done::Write {
                lsn: r.lsn.0,
                versions: vec![r.version],
                replayed: false,
                recorded_at: r.recorded_at,
            })
            .map_err(|e| write_failure(&e, op)),
        Op::Batch(id, items) => store
            .ingest_batch(
                id.clone(),
                items.iter().map(|(k, t)| make_item(k, t)).collect(),
            )
            .map(|r| Done::Write {
                lsn: r.lsn.0,
                versions: r.items.iter().map(|i| i.version).collect(),
                replayed: r.status == CommitStatus::Replayed,
                recorded_at: r.recorded_at,
            })
            .map_err(|e| write_failure(&e, op)),
        Op::Forget(key) => store
            .forget(&tenant(), &ClaimId::new(key.as_str()))
            .map(|r| Done::Write {
                lsn: r.lsn.0,
                versions: vec![r.version],
                replayed: false,
                recorded_at: r.recorded_at,
            })
            .map_err(|e| write_failure(&e, op)),
        Op::Checkpoint => store
            .checkpoint()
            .map(|_| Done::Maintenance)
            .map_err(|e| checkpoint_failure(&e, op)),
        Op::Compact => store
            .compact()
            .map(|_| Done::Maintenance)
            .map_err(|e| checkpoint_failure(&e, op)),
    }
}

/// Opens the store and runs the workload until a call fails; drops the store.
fn run_workload(storage: &MemStorage, ops: &[Op]) -> Run {
    let mut run = Run {
        done: Vec::new(),
        failed: None,
        open_error: None,
    };
    let store = match open(storage) {
        Ok(store) => store,
        Err(e) => {
            run.open_error = Some(e.to_string());
            return run;
        }
    };
    for (i, op) in ops.iter().enumerate() {
        match execute(&store, op) {
            Ok(done) => run.done.push(done),
            Err(e) => {
                run.failed = Some((i, e));
                break;
            }
        }
    }
    drop(store);
    run
}

// ---------------------------------------------------------------------------------------------
// Checking a recovered store.

/// A version as read back from the store.
#[derive(Clone, Debug)]
struct Got {
    ver: Ver,
    recorded_at: Timestamp,
}

fn read_state(
    store: &Store,
    universe: &BTreeSet<String>,
    context: &str,
) -> BTreeMap<String, Vec<Got>> {
    universe
        .iter()
        .map(|key| {
            let versions = store
                .versions(&tenant(), &ClaimId::new(key.as_str()))
                .unwrap_or_else(|e| panic!("{context}: reading {key} failed: {e}"));
            let got = versions
                .iter()
                .map(|v| {
                    let text = match &v.body {
                        VersionBody::Live(item) => {
                            let text = item.claim.canonical_text.clone();
                            assert_eq!(
                                **item,
                                make_item(key, &text),
                                "{context}: {key} v{} does not hold what was written",
                                v.version
                            );
                            Some(text)
                        }
                        VersionBody::Tombstone => None,
                    };
                    Got {
                        ver: Ver {
                            version: v.version,
                            lsn: v.lsn.0,
                            text,
                        },
                        recorded_at: v.recorded_at,
                    }
                })
                .collect();
            (key.clone(), got)
        })
        .collect()
}

fn plain(state: &BTreeMap<String, Vec<Got>>) -> BTreeMap<String, Vec<Ver>> {
    state
        .iter()
        .map(|(k, v)| (k.clone(), v.iter().map(|g| g.ver.clone()).collect()))
        .collect()
}

/// The keys (with the version text) an acknowledged or in-flight write touched.
fn written(op: &Op) -> Vec<(String, Option<String>)> {
    match op {
        Op::Ingest(k, t) => vec![(k.clone(), Some(t.clone()))],
        Op::Batch(_, items) => items
            .iter()
            .map(|(k, t)| (k.clone(), Some(t.clone())))
            .collect(),
        Op::Forget(k) => vec![(k.clone(), None)],
        Op::Checkpoint | Op::Compact => Vec::new(),
    }
}

fn diff(got: &BTreeMap<String, Vec<Ver>>, want: &BTreeMap<String, Vec<Ver>>) -> String {
    let mut out = String::new();
    for (key, g) in got {
        let w = want.get(key).cloned().unwrap_or_default();
        if *g != w {
            out.push_str(&format!(
                "\n  {key}: recovered {g:?}\n  {key}: expected  {w:?}"
            ));
        }
    }
    out
}

/// Which model the recovered state turned out to match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Matched {
    Acknowledged,
    WithInFlight,
}

/// Checks the reopened store against the run; returns which state it matched and whether
/// recovery cut a torn tail.
fn verify(
    storage: &MemStorage,
    ops: &[Op],
    run: &Run,
    torn: bool,
    context: &str,
) -> (Matched, bool) {
    let keys = universe(ops);
    let store = open(storage).unwrap_or_else(|e| panic!("{context}: recovery failed: {e}"));
    let report = store.recovery_report().clone();
    if torn {
        for cut in &report.truncations {
            assert!(
                cut.file.starts_with("wal") && cut.dropped_bytes > 0 && cut.offset >= 24,
                "{context}: odd truncation {cut:?}"
            );
        }
    } else {
        // Every durable byte was fsynced whole: there is nothing to cut.
        assert!(
            report.truncations.is_empty(),
            "{context}: recovery cut synced data: {:?}",
            report.truncations
        );
    }

    // The model of the acknowledged prefix; the receipts must be what it predicts.
    let mut acked = Model::default();
    for (i, done) in run.done.iter().enumerate() {
        match (acked.apply(&ops[i]), done) {
            (
                Some(p),
                Done::Write {
                    lsn,
                    versions,
                    replayed,
                    ..
                },
            ) => assert_eq!(
                (p.lsn, &p.versions, p.replayed),
                (*lsn, versions, *replayed),
                "{context}: receipt of op {i} {:?}",
                ops[i]
            ),
            (None, Done::Maintenance) => {}
            (p, d) => panic!("{context}: op {i}: predicted {p:?}, got {d:?}"),
        }
    }
    let in_flight = run.failed.as_ref().map(|(i, _)| *i);
    let (with_in_flight, in_flight_write) = match in_flight {
        Some(i) => {
            let mut m = acked.clone();
            let p = m.apply(&ops[i]);
            (Some(m), p)
        }
        None => (None, None),
    };

    let state = read_state(&store, &keys, context);

    // 1. Every acknowledged write is there, with content, version, LSN and recorded time
    //    (unless a merge the model also ran has purged it as forgotten).
    for (i, done) in run.done.iter().enumerate() {
        let Done::Write {
            lsn,
            versions,
            replayed: false,
            recorded_at,
        } = done
        else {
            continue;
        };
        for ((key, text), version) in written(&ops[i]).into_iter().zip(versions) {
            let must_hold = acked.holds(&key, *lsn)
                && with_in_flight.as_ref().is_none_or(|m| m.holds(&key, *lsn));
            let found = state[&key].iter().find(|g| g.ver.lsn == *lsn);
            if must_hold {
                let g = found.unwrap_or_else(|| {
                    panic!("{context}: acknowledged write lost: op {i} {key} v{version}")
                });
                assert_eq!(g.ver.version, *version, "{context}: {key} version");
                assert_eq!(g.ver.text, text, "{context}: {key} content");
                assert_eq!(g.recorded_at, *recorded_at, "{context}: {key} recorded_at");
            } else if !acked.holds(&key, *lsn) {
                assert!(
                    found.is_none(),
                    "{context}: purged version of {key} came back"
                );
            }
        }
    }

    // 2. The in-flight batch is all there or not at all.
    if let (Some(i), Some(p)) = (in_flight, &in_flight_write) {
        if let (Op::Batch(_, items), false) = (&ops[i], p.replayed) {
            let present = items
                .iter()
                .filter(|(k, _)| state[k].iter().any(|g| g.ver.lsn == p.lsn))
                .count();
            assert!(
                present == 0 || present == items.len(),
                "{context}: batch half-applied: {present} of {} items",
                items.len()
            );
        }
    }

    // 3. Nothing that was never attempted.
    let attempted_lsn = with_in_flight.as_ref().unwrap_or(&acked).last_lsn;
    for (key, versions) in &state {
        for g in versions {
            assert!(
                g.ver.lsn <= attempted_lsn,
                "{context}: {key} has a version at LSN {} but only {attempted_lsn} were attempted",
                g.ver.lsn
            );
        }
    }
    assert!(
        store.stats().last_lsn.0 <= attempted_lsn,
        "{context}: last LSN"
    );

    // 4. Exactly the acknowledged state, or that plus the in-flight call.
    let got = plain(&state);
    let (matched, model) = if got == acked.state(&keys) {
        (Matched::Acknowledged, acked)
    } else if let Some(m) = with_in_flight.filter(|m| got == m.state(&keys)) {
        (Matched::WithInFlight, m)
    } else {
        panic!(
            "{context}: recovered state matches neither the acknowledged prefix nor it plus \
             the in-flight call {:?}:{}",
            in_flight.map(|i| &ops[i]),
            diff(&got, &acked.state(&keys))
        );
    };
    let stats = store.stats();
    assert_eq!(
        stats.claims,
        model.live_claims(),
        "{context}: live claim count"
    );
    assert_eq!(stats.last_lsn.0, model.last_lsn, "{context}: last LSN");

    // 5. Recovered commit ids are remembered; an unrecovered in-flight batch commits anew.
    let mut model = model;
    for (id, (lsn, versions)) in model.commits.clone() {
        let Some(Op::Batch(_, items)) = ops
            .iter()
            .find(|op| matches!(op, Op::Batch(b, _) if *b == id))
        else {
            unreachable!()
        };
        let r = store
            .ingest_batch(
                id.clone(),
                items.iter().map(|(k, t)| make_item(k, t)).collect(),
            )
            .unwrap_or_else(|e| panic!("{context}: retry of {id} failed: {e}"));
        assert_eq!(r.status, CommitStatus::Replayed, "{context}: retry of {id}");
        assert_eq!(r.lsn.0, lsn, "{context}: retry of {id}");
        assert_eq!(
            r.items.iter().map(|i| i.version).collect::<Vec<_>>(),
            versions,
            "{context}: retry of {id}"
        );
    }
    if let Some(i) = in_flight {
        if let op @ Op::Batch(..) = &ops[i] {
            let p = model.apply(op).unwrap();
            let Done::Write { lsn, replayed, .. } = execute(&store, op).unwrap() else {
                unreachable!()
            };
            assert_eq!(
                (lsn, replayed),
                (p.lsn, p.replayed),
                "{context}: in-flight retry"
            );
        }
    }

    // 6. Writable; a checkpoint and another crash change nothing.
    let fresh = store
        .ingest(make_item(FRESH_KEY, "after recovery"))
        .unwrap_or_else(|e| panic!("{context}: recovered store refuses writes: {e}"));
    assert_eq!(fresh.lsn.0, model.last_lsn + 1, "{context}: LSNs continue");
    store
        .checkpoint()
        .unwrap_or_else(|e| panic!("{context}: checkpoint after recovery failed: {e}"));
    let before = plain(&read_state(&store, &keys, context));
    drop(store);
    storage.crash();
    let store = open(storage).unwrap_or_else(|e| panic!("{context}: second recovery failed: {e}"));
    let after = plain(&read_state(&store, &keys, context));
    assert!(
        before == after,
        "{context}: checkpoint + crash changed the state:{}",
        diff(&after, &before)
    );
    assert!(store.recovery_report().truncations.is_empty(), "{context}");
    (matched, !report.truncations.is_empty())
}

/// Syncs the whole workload takes, after checking that it runs as the model says.
fn count_syncs(ops: &[Op]) -> u64 {
    let storage = MemStorage::new();
    let run = run_workload(&storage, ops);
    assert!(run.open_error.is_none() && run.failed.is_none(), "{run:?}");
    assert_eq!(run.done.len(), ops.len());
    let n = storage.sync_count();
    // Without a cut the whole workload is acknowledged and survives a crash.
    storage.crash();
    assert_eq!(
        verify(&storage, ops, &run, false, "no power cut"),
        (Matched::Acknowledged, false)
    );
    n
}

#[derive(Debug, Default)]
struct Coverage {
    interrupted_recoveries: usize,
    open_failed: usize,
    failed_at: BTreeMap<&'static str, usize>,
    matched_in_flight: usize,
    truncated: usize,
}

fn op_name(op: &Op) -> &'static str {
    match op {
        Op::Ingest(..) => "ingest",
        Op::Batch(..) => "batch",
        Op::Forget(_) => "forget",
        Op::Checkpoint => "checkpoint",
        Op::Compact => "compact",
    }
}

/// Cuts the power at every sync of the workload in turn and checks each recovery.
/// Opens the store with the power failing at recovery's first sync, then (after a reboot with
/// torn writes) at its second, and so on, until a recovery needs fewer syncs than it is allowed;
/// returns how many recoveries were cut short.
fn interrupted_recoveries(storage: &MemStorage, rng: &mut SplitMix, context: &str) -> usize {
    for k in 1..=16 {
        storage.cut_power_at_sync(Some(storage.sync_count() + k));
        match open(storage) {
            Ok(store) => {
                assert!(
                    !storage.is_powered_off(),
                    "{context}: open ignored a failed sync"
                );
                drop(store);
                // Closing writes the catalog image (syncs of its own): a cut there is a crash
                // at close, which the next open recovers from like any other.
                if storage.is_powered_off() {
                    storage.crash_keeping(|_, unsynced| {
                        (rng.next_u64() % (unsynced as u64 + 1)) as usize
                    });
                }
                storage.cut_power_at_sync(None);
                return k as usize - 1;
            }
            Err(e) => {
                assert!(
                    matches!(e, OpenError::Io { .. }),
                    "{context}: recovery cut at its sync {k} failed with {e:?}, not an I/O error"
                );
                storage
                    .crash_keeping(|_, unsynced| (rng.next_u64() % (unsynced as u64 + 1)) as usize);
            }
        }
    }
    panic!("{context}: recovery never completed")
}

fn power_cut_at_every_sync(torn: bool) -> Coverage {
    power_cuts(torn, false)
}

/// Cuts the power at every sync of the workload in turn (and, if `during_recovery`, also at
/// every sync of the recovery that follows) and checks each recovery.
fn power_cuts(torn: bool, during_recovery: bool) -> Coverage {
    let ops = workload();
    let total = count_syncs(&ops);
    assert!(total > ops.len() as u64, "only {total} syncs");
    eprintln!("the workload takes {total} syncs");
    let mut coverage = Coverage::default();
    for n in 1..=total {
        // A clean crash is one case per cut; torn writes are tried with several seeds.
        let seeds = if torn && !during_recovery {
            TORN_SEEDS
        } else {
            1
        };
        for seed in 0..seeds {
            let storage = MemStorage::new();
            storage.cut_power_at_sync(Some(n));
            let run = run_workload(&storage, &ops);
            assert!(
                storage.is_powered_off(),
                "power cut at sync {n} of {total} never happened: the sync sequence is not \
                 deterministic"
            );
            let mut rng = SplitMix::new(n.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ seed);
            if torn {
                storage.crash_keeping(|_, unsynced| match rng.next_u64() % 4 {
                    0 => 0,
                    1 => unsynced,
                    _ => (rng.next_u64() % (unsynced as u64 + 1)) as usize,
                });
            } else {
                storage.crash();
            }
            let context = format!(
                "power cut at sync {n} of {total} ({}; {} calls acknowledged, failed: {:?}{})",
                if torn {
                    format!("torn writes, seed {seed}")
                } else {
                    "clean crash".to_string()
                },
                run.done.len(),
                run.failed,
                run.open_error
                    .as_ref()
                    .map(|e| format!(", open failed: {e}"))
                    .unwrap_or_default()
            );
            if run.open_error.is_some() {
                coverage.open_failed += 1;
            }
            if let Some((i, _)) = &run.failed {
                *coverage.failed_at.entry(op_name(&ops[*i])).or_default() += 1;
            }
            if during_recovery {
                coverage.interrupted_recoveries +=
                    interrupted_recoveries(&storage, &mut rng, &context);
            }
            let (matched, truncated) = verify(&storage, &ops, &run, torn, &context);
            coverage.matched_in_flight += usize::from(matched == Matched::WithInFlight);
            coverage.truncated += usize::from(truncated);
        }
    }
    coverage
}

#[test]
fn power_cut_at_every_sync_loses_no_acknowledged_write() {
    let coverage = power_cut_at_every_sync(false);
    eprintln!("{coverage:?}");
    // The cuts hit the open, every kind of call, and no recovery needed to cut anything.
    assert!(coverage.open_failed > 0, "{coverage:?}");
    for kind in ["ingest", "batch", "forget", "checkpoint", "compact"] {
        assert!(
            coverage.failed_at.contains_key(kind),
            "{kind}: {coverage:?}"
        );
    }
    assert_eq!(coverage.truncated, 0, "{coverage:?}");
}

#[test]
fn torn_writes_at_every_sync_lose_no_acknowledged_write() {
    let coverage = power_cut_at_every_sync(true);
    eprintln!("{coverage:?}");
    // Some torn tails were cut, and some in-flight writes survived whole.
    assert!(coverage.truncated > 0, "{coverage:?}");
    assert!(coverage.matched_in_flight > 0, "{coverage:?}");
}

#[test]
fn power_cuts_during_recovery_lose_no_acknowledged_write() {
    let coverage = power_cuts(true, true);
    eprintln!("{coverage:?}");
    assert!(coverage.interrupted_recoveries > 0, "{coverage:?}");
}

/// Group commit: several writer threads share fsyncs, so a power cut can tear a group of
/// records. Each thread's acknowledged claims must survive, and each thread has at most one
/// write in flight, so at most one more of its claims may appear.
#[test]
fn concurrent_writers_lose_no_acknowledged_write_at_any_power_cut() {
    const WRITERS: usize = 3;
    const PER_WRITER: usize = 25;
    let mut cut_groups = 0;
    for n in 3..=60u64 {
        let storage = MemStorage::new();
        storage.cut_power_at_sync(Some(n));
        let store = Arc::new(open(&storage).expect("the open needs only two syncs"));
        let acked: Vec<usize> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..WRITERS)
                .map(|w| {
                    let store = Arc::clone(&store);
                    s.spawn(move || {
                        let mut acked = 0;
                        for seq in 0..PER_WRITER {
                            let key = format!("w{w}-{seq}");
                            match store.ingest(make_item(&key, &format!("{key} text"))) {
                                Ok(r) => {
                                    assert_eq!(r.version, 1);
                                    acked += 1;
                                }
                                Err(e) => {
                                    write_failure(&e, &Op::Ingest(key, String::new()));
                                    break;
                                }
                            }
                        }
                        acked
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        drop(store);
        let mut rng = SplitMix::new(n);
        storage.crash_keeping(|_, unsynced| (rng.next_u64() % (unsynced as u64 + 1)) as usize);

        let context = format!("power cut at sync {n}, acknowledged per writer {acked:?}");
        let store = open(&storage).unwrap_or_else(|e| panic!("{context}: recovery failed: {e}"));
        cut_groups += usize::from(!store.recovery_report().truncations.is_empty());
        let mut total = 0;
        for (w, &p) in acked.iter().enumerate() {
            let mut present = 0;
            while present < PER_WRITER {
                let key = format!("w{w}-{present}");
                match store
                    .get_claim(&tenant(), &ClaimId::new(key.as_str()))
                    .unwrap()
                {
                    Some(rec) => assert_eq!(*rec.item, make_item(&key, &format!("{key} text"))),
                    None => break,
                }
                present += 1;
            }
            assert!(
                present >= p,
                "{context}: writer {w} lost acknowledged writes ({present} present)"
            );
            assert!(
                present <= p + 1,
                "{context}: writer {w} has {present} present"
            );
            for seq in present + 1..PER_WRITER {
                let key = format!("w{w}-{seq}");
                assert!(
                    store
                        .get_claim(&tenant(), &ClaimId::new(key.as_str()))
                        .unwrap()
                        .is_none(),
                    "{context}: {key} present after a gap"
                );
            }
            total += present as u64;
        }
        assert_eq!(store.stats().claims, total, "{context}");
        assert_eq!(
            store.stats().last_lsn.0,
            total,
            "{context}: one record per write"
        );
    }
    eprintln!("{cut_groups} recoveries cut a torn group");
}
