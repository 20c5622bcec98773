//! The detection stage: off the acknowledgement path, in commit order, persisted. Ingest never
//! waits for it; its watermark and lag are visible; queries wait for it briefly and say whether
//! it had caught up; edges survive a reopen without being judged again; a crash in the middle
//! of a backlog, then a reopen, gives exactly the edges an uninterrupted run gives, judging only
//! what was not persisted; a rebuild is deterministic and replaces edges atomically; dense
//! candidates come from the versions before each one, wherever the sealed graphs cut.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use dash::detect::{ContradictionDetector, DetectionConfig, Judgement, RuleDetector};
use dash::{Claim, IngestItem, MemStorage, Query, Store, TenantId};

/// The built-in judge behind a gate: it counts the claim pairs it judges, and once `open_calls`
/// batches have been judged it blocks until the gate is opened again.
#[derive(Debug)]
struct Gated {
    inner: RuleDetector,
    pairs: AtomicUsize,
    batches: AtomicUsize,
    /// Batches allowed before blocking (`usize::MAX`: never blocks).
    allowed: Mutex<usize>,
    opened: Condvar,
}

impl Gated {
    fn new(allowed: usize) -> Arc<Self> {
        Arc::new(Self {
            inner: RuleDetector::default(),
            pairs: AtomicUsize::new(0),
            batches: AtomicUsize::new(0),
            allowed: Mutex::new(allowed),
            opened: Condvar::new(),
        })
    }

    fn open(&self) {
        *self.allowed.lock().unwrap() = usize::MAX;
        self.opened.notify_all();
    }

    /// Waits until the stage is blocked at the gate.
    fn wait_blocked(&self) {
        let allowed = *self.allowed.lock().unwrap();
        while self.batches.load(Ordering::SeqCst) <= allowed {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Opens the gate when dropped, so a failing assertion cannot leave the stage blocked while the
/// store's drop waits for it (declare it after the store: locals drop in reverse order).
struct OpenOnDrop(Arc<Gated>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.open();
    }
}

impl ContradictionDetector for Gated {
    fn judge(&self, a: &str, b: &str) -> Option<Judgement> {
        self.inner.judge(a, b)
    }

    fn judge_batch(&self, pairs: &[(&str, &str)]) -> Vec<Option<Judgement>> {
        let n = self.batches.fetch_add(1, Ordering::SeqCst);
        let mut allowed = self.allowed.lock().unwrap();
        while n >= *allowed {
            allowed = self.opened.wait(allowed).unwrap();
        }
        drop(allowed);
        self.pairs.fetch_add(pairs.len(), Ordering::SeqCst);
        self.inner.judge_batch(pairs)
    }

    fn version(&self) -> &str {
        self.inner.version()
    }
}

const NAMES: [&str; 6] = ["Alice", "Bob", "Carol", "Dmitri", "Erin", "Farah"];
const PLACES: [&str; 5] = ["Lyon", "Porto", "Turin", "Ghent", "Bergen"];

/// Claim `i` of a plain-text corpus: who leads project `i % 26` and where it is based, so
/// later claims about the same project conflict with earlier ones (another leader or city).
fn text(i: usize) -> String {
    let project = i % 26;
    if i.is_multiple_of(2) {
        format!(
            "Project Kestrel-{project} is led by {}",
            NAMES[(i / 26) % NAMES.len()]
        )
    } else {
        format!(
            "Project Kestrel-{project} is based in {}",
            PLACES[(i / 26) % PLACES.len()]
        )
    }
}

fn item(tenant: &str, i: usize) -> IngestItem {
    IngestItem::new(Claim::new(tenant, format!("c{i}"), text(i)))
}

/// Every detected edge of `tenant` as comparable tuples.
fn edges(store: &Store, tenant: &str) -> BTreeSet<(String, u32, String, u32, String, String)> {
    store
        .detected_edge_details(&TenantId::new(tenant))
        .unwrap()
        .into_iter()
        .map(|d| {
            (
                d.edge.from_claim_id.to_string(),
                d.from_version,
                d.edge.to_claim_id.to_string(),
                d.to_version,
                d.edge.relation.as_str().to_owned(),
                d.edge.reason.clone().unwrap_or_default(),
            )
        })
        .collect()
}

/// Ingests claims `0..n` of tenant `t` in batches of `per` (one commit each).
fn ingest(store: &Store, n: usize, per: usize) {
    for start in (0..n).step_by(per) {
        let items = (start..(start + per).min(n))
            .map(|i| item("t", i))
            .collect();
        store.ingest_batch(format!("b{start}"), items).unwrap();
    }
}

fn open(storage: &MemStorage, judge: Arc<dyn ContradictionDetector>) -> Store {
    Store::builder_with_storage(Arc::new(storage.clone()))
        .detection(DetectionConfig::default().detector(judge))
        .open()
        .unwrap()
}

/// What an uninterrupted run detects on the corpus.
fn reference(n: usize, per: usize) -> BTreeSet<(String, u32, String, u32, String, String)> {
    let storage = MemStorage::new();
    let store = open(&storage, Arc::new(RuleDetector::default()));
    ingest(&store, n, per);
    assert!(store.wait_for_detection());
    edges(&store, "t")
}

#[test]
fn ingest_never_waits_for_detection_and_queries_say_whether_it_caught_up() {
    let gate = Gated::new(0);
    let storage = MemStorage::new();
    let store = open(&storage, gate.clone());
    let _open = OpenOnDrop(gate.clone());
    // The judge is blocked: every ingest still returns (acknowledged, visible lexically).
    for i in 0..40 {
        store.ingest(item("t", i)).unwrap();
    }
    gate.wait_blocked();
    let stats = store.stats();
    assert!(stats.detection_lag_claims > 0, "{stats:?}");
    assert!(stats.detection_lag_commits > 0, "{stats:?}");
    let q = Query::new("t").text("Project Kestrel-3").top_k(50);
    let answer = store
        .retrieve(&q.clone().wait_for_detection(Duration::from_millis(20)))
        .unwrap();
    assert!(!answer.results.is_empty());
    assert!(!answer.detection.caught_up, "{:?}", answer.detection);
    assert!(answer.detection.pending > 0);
    assert!(answer.detection.waited_ms >= 15.0, "{:?}", answer.detection);
    gate.open();
    assert!(store.wait_for_detection());
    let stats = store.stats();
    assert_eq!(stats.detection_lag_claims, 0);
    assert_eq!(stats.detection_lag_commits, 0);
    assert!(stats.detection_watermark.0 > 0);
    let answer = store.retrieve(&q).unwrap();
    assert!(answer.detection.caught_up, "{:?}", answer.detection);
    assert_eq!(answer.detection.pending, 0);
    assert!(stats.detected_edges > 0, "{stats:?}");
}

#[test]
fn edges_survive_a_reopen_without_being_judged_again() {
    let storage = MemStorage::new();
    let store = open(&storage, Arc::new(RuleDetector::default()));
    ingest(&store, 300, 30);
    assert!(store.wait_for_detection());
    let before = edges(&store, "t");
    assert!(before.len() > 50, "{}", before.len());
    // Half the WAL into a segment, half left to replay.
    store.checkpoint().unwrap();
    ingest_more(&store, 300..400);
    assert!(store.wait_for_detection());
    let before = edges(&store, "t");
    store.close().unwrap();

    let gate = Gated::new(usize::MAX);
    let store = open(&storage, gate.clone());
    assert!(store.wait_for_detection());
    assert_eq!(edges(&store, "t"), before);
    assert_eq!(gate.pairs.load(Ordering::SeqCst), 0, "reopen judged again");
    assert_eq!(store.stats().detection_claims_processed, 0);
}

fn ingest_more(store: &Store, range: std::ops::Range<usize>) {
    let items = range.clone().map(|i| item("t", i)).collect();
    store
        .ingest_batch(format!("more{}", range.start), items)
        .unwrap();
}

#[test]
fn a_crash_in_the_middle_of_a_backlog_resumes_from_the_watermark_with_identical_edges() {
    let (n, per) = (1_500, 100);
    let expected = reference(n, per);
    assert!(expected.len() > 200, "{}", expected.len());

    let storage = MemStorage::new();
    // The stage judges in slices of a few versions; after enough of them for two rounds it
    // blocks in the middle of the backlog.
    let gate = Gated::new(40);
    let store = open(&storage, gate.clone());
    let _open = OpenOnDrop(gate.clone());
    ingest(&store, n, per);
    gate.wait_blocked();
    // What the stage wrote so far becomes durable; then the power fails.
    store.flush().unwrap();
    let persisted = store.stats().detection_watermark;
    assert!(persisted.0 > 0);
    storage.power_off();
    gate.open();
    drop(store);
    storage.crash();

    let counting = Gated::new(usize::MAX);
    let store = open(&storage, counting.clone());
    assert!(store.wait_for_detection());
    assert_eq!(edges(&store, "t"), expected);
    // Only the commits after the durable watermark were processed again.
    let processed = store.stats().detection_claims_processed;
    assert!(
        processed > 0 && processed < n as u64,
        "processed {processed} of {n}"
    );
}

#[test]
fn rebuild_is_deterministic_and_replaces_the_edges() {
    let storage = MemStorage::new();
    let store = open(&storage, Arc::new(RuleDetector::default()));
    ingest(&store, 600, 50);
    assert!(store.wait_for_detection());
    let ingested = edges(&store, "t");
    let t = TenantId::new("t");
    let built = store.rebuild_edges(&t).unwrap();
    assert_eq!(edges(&store, "t"), ingested);
    assert_eq!(built as usize, ingested.len());
    assert_eq!(store.rebuild_edges(&t).unwrap(), built);
    // The rebuilt epoch is what a reopen loads (after a checkpoint and a merge as well).
    store.checkpoint().unwrap();
    store.compact().unwrap();
    store.close().unwrap();
    let store = open(&storage, Arc::new(RuleDetector::default()));
    assert!(store.wait_for_detection());
    assert_eq!(edges(&store, "t"), ingested);

    // A rebuild with detection off clears the tenant's edges, durably.
    drop(store);
    let store = Store::builder_with_storage(Arc::new(storage.clone()))
        .detection(DetectionConfig::disabled())
        .open()
        .unwrap();
    assert_eq!(store.rebuild_edges(&t).unwrap(), 0);
    assert!(edges(&store, "t").is_empty());
    store.close().unwrap();
    let store = open(&storage, Arc::new(RuleDetector::default()));
    assert!(edges(&store, "t").is_empty());
}

/// Power fails at every sync of a workload with detection on (batches, a checkpoint, a merge);
/// after each crash the store opens, holds every acknowledged claim, and once the stage has
/// caught up its edges — the persisted ones plus those derived again — are exactly what a
/// rebuild from the recovered claims gives.
#[test]
fn power_cuts_at_every_sync_keep_edges_equal_to_a_rebuild() {
    let run = |storage: &MemStorage| -> Vec<usize> {
        let Ok(store) = Store::builder_with_storage(Arc::new(storage.clone()))
            .auto_checkpoint(false)
            .max_segments(2)
            .open()
        else {
            return Vec::new(); // the power failed while creating the store
        };
        let mut acked = Vec::new();
        for (k, start) in (0..240).step_by(20).enumerate() {
            let items = (start..start + 20).map(|i| item("t", i)).collect();
            if store.ingest_batch(format!("b{start}"), items).is_err() {
                break;
            }
            acked.push(start);
            // Let the stage write some of its records before the next commit syncs them.
            store.wait_for_detection();
            let maintenance = match k {
                4 | 8 => store.checkpoint().map(|_| ()),
                10 => store.compact().map(|_| ()),
                _ => Ok(()),
            };
            if maintenance.is_err() {
                break;
            }
        }
        acked
    };
    let clean = MemStorage::new();
    let all = run(&clean);
    assert_eq!(all.len(), 12);
    let syncs = clean.sync_count();
    for cut in 1..=syncs {
        let storage = MemStorage::new();
        storage.cut_power_at_sync(Some(cut));
        let acked = run(&storage);
        storage.crash();
        let store = open(&storage, Arc::new(RuleDetector::default()));
        for start in &acked {
            let id = format!("c{start}");
            assert!(
                store
                    .get_claim(&TenantId::new("t"), &id.as_str().into())
                    .unwrap()
                    .is_some(),
                "cut at sync {cut}: acknowledged {id} lost"
            );
        }
        assert!(store.wait_for_detection(), "cut at sync {cut}");
        let resumed = edges(&store, "t");
        store.rebuild_edges(&TenantId::new("t")).unwrap();
        assert_eq!(edges(&store, "t"), resumed, "cut at sync {cut}");
    }
}

/// Calls a pair a contradiction only when it is `alpha{k}` against `omega{k}`: texts that share
/// no word, so only the dense candidates (the two carry nearly the same vector) can bring them
/// together.
#[derive(Debug)]
struct Tagged;

impl ContradictionDetector for Tagged {
    fn judge(&self, a: &str, b: &str) -> Option<Judgement> {
        let tag = |t: &str, prefix: &str| t.strip_prefix(prefix).map(str::to_owned);
        let pair = |x: &str, y: &str| {
            tag(x, "alpha")
                .zip(tag(y, "omega"))
                .is_some_and(|(i, j)| i == j)
        };
        (pair(a, b) || pair(b, a)).then(|| Judgement {
            confidence: 0.9,
            reason: "tagged pair".into(),
        })
    }

    fn version(&self) -> &str {
        "tagged-1"
    }
}

/// The dense candidates of each version come from the versions recorded before it, whichever
/// part holds them: an earlier version deep in a sealed graph, at its start or its end, or
/// in the same graph as the later one (the search below a bound scans a graph's prefix when
/// few of its documents lie below, and walks it otherwise) — as the stage runs, and again after
/// a rebuild over the sealed graphs.
#[test]
fn dense_candidates_find_earlier_versions_wherever_the_graphs_cut() {
    const DIM: usize = 16;
    // (earlier, later) positions of the tagged pairs among 400 claims.
    let pairs = [
        (2, 40),
        (5, 300),
        (100, 350),
        (250, 390),
        (10, 11),
        (380, 399),
    ];
    let storage = MemStorage::new();
    let store = Store::builder_with_storage(Arc::new(storage.clone()))
        .dense_seal_threshold(32)
        .detection(DetectionConfig::default().detector(Arc::new(Tagged)))
        .open()
        .unwrap();
    let items: Vec<IngestItem> = (0..400)
        .map(|i| {
            let mut v = vec![0.0f32; DIM];
            let (text, tagged) = match pairs.iter().position(|p| p.0 == i || p.1 == i) {
                Some(k) if pairs[k].0 == i => (format!("alpha{k}"), Some(k)),
                Some(k) => (format!("omega{k}"), Some(k)),
                None => (format!("filler{i}"), None),
            };
            match tagged {
                // Pairs in the first 8 dimensions, one direction each (the later one a hair off).
                Some(k) => {
                    v[k] = 1.0;
                    v[15] = if pairs[k].1 == i { 0.01 } else { 0.0 };
                }
                // Fillers in the last 8, orthogonal to every pair.
                None => {
                    v[8 + i % 8] = 1.0;
                    v[8 + (i / 8) % 8] += 0.5 + (i % 13) as f32 / 13.0;
                }
            }
            let mut claim = Claim::new("t", format!("c{i}"), text);
            claim.embedding = Some(v);
            IngestItem::new(claim)
        })
        .collect();
    for (n, chunk) in items.chunks(50).enumerate() {
        store.ingest_batch(format!("b{n}"), chunk.to_vec()).unwrap();
    }
    let expected: BTreeSet<(String, String)> = pairs
        .iter()
        .map(|&(a, b)| (format!("c{b}"), format!("c{a}")))
        .collect();
    let found = |store: &Store| -> BTreeSet<(String, String)> {
        let mut got = BTreeSet::new();
        for (from, _, to, _, relation, reason) in edges(store, "t") {
            assert_eq!(
                (relation.as_str(), reason.as_str()),
                ("contradicts", "tagged pair")
            );
            // Either direction names the pair; keep (later, earlier).
            let key = |c: &str| c[1..].parse::<usize>().unwrap();
            got.insert(if key(&from) > key(&to) {
                (from, to)
            } else {
                (to, from)
            });
        }
        got
    };
    assert!(store.wait_for_detection());
    assert_eq!(found(&store), expected, "as the stage ran");
    store.wait_for_indexes();
    assert!(store.stats().dense_graphs > 0, "the vectors are in graphs");
    store.rebuild_edges(&TenantId::new("t")).unwrap();
    assert_eq!(found(&store), expected, "rebuilt over the sealed graphs");
}
