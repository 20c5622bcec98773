//! Contradiction detection measured on real data (run on demand, not in CI):
//!
//! ```text
//! cargo run --release --example eval_detection [-- --data ../shared/data] [--synthetic DIR --n 100000 [--cost-only]]
//! ```
//!
//! 1. **TimeQA, structured path**: the facts with an object are ingested as structured claims
//!    (subject, relation as predicate, object, validity years). Ground truth from the data
//!    itself: within a subject + relation group, two facts with different objects conflict iff
//!    their year intervals overlap, and otherwise the later one supersedes the earlier.
//!    Precision / recall / F1 of the detected `contradicts` and `supersedes` edges, and every
//!    miss or false edge explained (`interval_suspect`, unparsed or refused intervals, objects
//!    equal after normalisation, degree cap).
//! 2. **Climate-FEVER, free-text detector as a stance classifier**: the built-in
//!    [`RuleDetector`] judges each of the 7,675 (claim, evidence sentence) pairs; a judgement at
//!    or above the confidence floor means `contradicts`. Claims are split in two halves by id;
//!    thresholds are chosen on the dev half (best F0.5: precision over recall) and reported on
//!    the test half, beside the defaults.
//! 3. **Cost** (with `--synthetic DIR`, the common corpus of `shared/bench/synthetic.py`):
//!    ingest throughput of `n` claims in batches of 1,000 with detection on and off, and edges
//!    per claim.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

use dash::graph::{normalize, ContradictionDetector, DetectionConfig, RuleConfig, RuleDetector};
use dash::{Claim, Durability, IngestItem, Relation, Store, TenantId};
use serde_json::Value;

#[path = "support/data.rs"]
mod data;
use data::{lines, period, s};

type Res<T> = Result<T, Box<dyn Error>>;

#[derive(Default, Clone, Copy)]
struct Prf {
    tp: usize,
    fp: usize,
    fn_: usize,
}

impl Prf {
    fn p(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fp).max(1) as f64
    }
    fn r(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fn_).max(1) as f64
    }
    fn f(&self, beta: f64) -> f64 {
        let (p, r) = (self.p(), self.r());
        if p + r == 0.0 {
            return 0.0;
        }
        (1.0 + beta * beta) * p * r / (beta * beta * p + r)
    }
    fn row(&self, name: &str) -> String {
        format!(
            "| {name} | {} | {} | {} | {:.3} | {:.3} | {:.3} |",
            self.tp,
            self.fp,
            self.fn_,
            self.p(),
            self.r(),
            self.f(1.0)
        )
    }
}

struct Fact {
    id: String,
    group: (String, String),
    object: String,
    /// Inclusive year interval of the data, when both ends parse.
    years: Option<(i32, i32)>,
    /// The same at the data's own granularity (month or day when given): `[from, to)`.
    fine: Option<(dash::Timestamp, dash::Timestamp)>,
    suspect: bool,
    ingested: bool,
}

fn year_of(v: &Value) -> Option<i32> {
    v.as_str()?.get(..4)?.parse().ok()
}

fn timeqa(data: &Path, scratch: &Path) -> Res<()> {
    let store = Store::builder(scratch.join("timeqa"))
        .durability(Durability::Strict)
        .open()?;
    let mut facts = Vec::new();
    let mut items = Vec::new();
    for line in lines(&data.join("timeqa/temporal_facts.jsonl"))? {
        let v: Value = serde_json::from_str(&line)?;
        let Some(object) = v["object"].as_str() else {
            continue; // NOT_ENOUGH_INFO: no object
        };
        let id = s(&v, "claim_id");
        let from = period(&v["valid_from"]).map(|p| p.0);
        let to = period(&v["valid_to"]).map(|p| p.1);
        let years = year_of(&v["valid_from"]).zip(year_of(&v["valid_to"]));
        let fine = from.zip(to);
        let refused = matches!((from, to), (Some(f), Some(t)) if f >= t);
        let mut claim = Claim::new("tq", id.as_str(), s(&v, "text"));
        (claim.valid_from, claim.valid_to) = (from, to);
        claim.subject = Some(s(&v, "subject"));
        claim.predicate = Some(s(&v, "relation"));
        claim.object = Some(object.to_owned());
        if !refused {
            items.push(IngestItem::new(claim));
        }
        facts.push(Fact {
            id,
            group: (s(&v, "subject"), s(&v, "relation")),
            object: object.to_owned(),
            years,
            fine,
            suspect: v["interval_suspect"].as_bool().unwrap_or(false),
            ingested: !refused,
        });
    }
    for (i, chunk) in items.chunks(1000).enumerate() {
        store.ingest_batch(format!("tq-{i}"), chunk.to_vec())?;
    }
    // Ground truth over every pair of a group (unordered for contradicts, ordered for
    // supersedes: later → earlier).
    let mut groups: HashMap<&(String, String), Vec<&Fact>> = HashMap::new();
    for f in &facts {
        groups.entry(&f.group).or_default().push(f);
    }
    let mut truth_c: HashSet<(String, String)> = HashSet::new();
    let mut truth_s: HashSet<(String, String)> = HashSet::new();
    let pair = |a: &str, b: &str| {
        if a < b {
            (a.to_owned(), b.to_owned())
        } else {
            (b.to_owned(), a.to_owned())
        }
    };
    // Why a truth pair may be missed: keyed by pair.
    let mut explained: HashMap<(String, String), &'static str> = HashMap::new();
    for members in groups.values() {
        for (i, a) in members.iter().enumerate() {
            for b in &members[i + 1..] {
                if a.object == b.object {
                    continue;
                }
                let (Some((af, at)), Some((bf, bt))) = (a.years, b.years) else {
                    explained.insert(pair(&a.id, &b.id), "unparsed interval");
                    continue;
                };
                let fine_overlap = match (a.fine, b.fine) {
                    (Some((af, at)), Some((bf, bt))) => Some(af < bt && bf < at),
                    _ => None,
                };
                let year_overlap = af <= bt && bf <= at;
                let why = if !a.ingested || !b.ingested {
                    Some("interval refused by validation (valid_from after valid_to)")
                } else if a.suspect || b.suspect {
                    Some("interval_suspect")
                } else if normalize(&a.object) == normalize(&b.object) {
                    Some("objects equal after normalisation")
                } else if fine_overlap.is_some_and(|o| o != year_overlap) {
                    Some("shared boundary year, disjoint at month/day granularity")
                } else {
                    None
                };
                if year_overlap {
                    truth_c.insert(pair(&a.id, &b.id));
                } else if af > bt {
                    truth_s.insert((a.id.clone(), b.id.clone()));
                } else {
                    truth_s.insert((b.id.clone(), a.id.clone()));
                }
                if let Some(why) = why {
                    explained.insert(pair(&a.id, &b.id), why);
                }
            }
        }
    }
    let edges = store.detected_edges(&TenantId::new("tq"))?;
    let mut found_c = HashSet::new();
    let mut found_s = HashSet::new();
    for e in &edges {
        let (f, t) = (e.from_claim_id.as_str(), e.to_claim_id.as_str());
        match e.relation {
            Relation::Contradicts => {
                found_c.insert(pair(f, t));
            }
            Relation::Supersedes => {
                found_s.insert((f.to_owned(), t.to_owned()));
            }
            _ => {}
        }
    }
    let score = |truth: &HashSet<(String, String)>, found: &HashSet<(String, String)>| Prf {
        tp: truth.intersection(found).count(),
        fp: found.difference(truth).count(),
        fn_: truth.difference(found).count(),
    };
    let c = score(&truth_c, &found_c);
    let sup = score(&truth_s, &found_s);
    let stats = store.stats();
    println!(
        "## TimeQA structured detection ({} facts with an object, {} ingested)\n",
        facts.len(),
        items.len()
    );
    println!("| edges | TP | FP | FN | precision | recall | F1 |\n|---|---|---|---|---|---|---|");
    println!("{}", c.row("contradicts"));
    println!("{}", sup.row("supersedes"));
    let both = Prf {
        tp: c.tp + sup.tp,
        fp: c.fp + sup.fp,
        fn_: c.fn_ + sup.fn_,
    };
    println!("{}", both.row("both"));
    let mut reasons: HashMap<&str, usize> = HashMap::new();
    let key_of = |p: &(String, String)| pair(&p.0, &p.1);
    for p in truth_c
        .difference(&found_c)
        .chain(truth_s.difference(&found_s))
    {
        *reasons
            .entry(explained.get(&key_of(p)).copied().unwrap_or("UNEXPLAINED"))
            .or_default() += 1;
    }
    for p in found_c
        .difference(&truth_c)
        .chain(found_s.difference(&truth_s))
    {
        *reasons
            .entry(
                explained
                    .get(&key_of(p))
                    .copied()
                    .unwrap_or("UNEXPLAINED false edge"),
            )
            .or_default() += 1;
    }
    if std::env::var_os("DASH_EVAL_DEBUG").is_some() {
        let by_id: HashMap<&str, &Fact> = facts.iter().map(|f| (f.id.as_str(), f)).collect();
        let show = |p: &(String, String)| {
            let f = |id: &str| {
                by_id
                    .get(id)
                    .map(|x| format!("{:?} {:?} {:?}", x.group, x.object, x.years))
                    .unwrap_or_default()
            };
            format!("{} || {}", f(&p.0), f(&p.1))
        };
        for p in truth_c.difference(&found_c).take(5) {
            eprintln!("FN contradicts: {}", show(p));
        }
        for p in found_c.difference(&truth_c).take(5) {
            eprintln!("FP contradicts: {}", show(p));
        }
        for p in found_s.difference(&truth_s).take(5) {
            eprintln!("FP supersedes: {}", show(p));
        }
    }
    println!("\nMisses and false edges by cause: {reasons:?}");
    println!(
        "Edges: {} live, {} built, {} dropped at the degree cap.\n",
        stats.detected_edges, stats.detected_edges_built, stats.detected_edges_dropped_degree
    );
    Ok(())
}

/// (claim id, claim text, evidence text, human stance is `contradicts`)
type Pair = (String, String, String, bool);

fn climate_fever_pairs(data: &Path) -> Res<Vec<Pair>> {
    let mut out = Vec::new();
    for line in lines(&data.join("climate-fever/claims.jsonl"))? {
        let v: Value = serde_json::from_str(&line)?;
        for e in v["evidence"].as_array().into_iter().flatten() {
            out.push((
                s(&v, "claim_id"),
                s(&v, "text"),
                s(e, "text"),
                e["stance"].as_str() == Some("contradicts"),
            ));
        }
    }
    Ok(out)
}

fn classify(pairs: &[&Pair], detector: &dyn ContradictionDetector, floor: f32) -> Prf {
    let mut prf = Prf::default();
    for (_, claim, evidence, gold) in pairs {
        let predicted = detector
            .judge(claim, evidence)
            .is_some_and(|j| j.confidence >= floor);
        match (predicted, *gold) {
            (true, true) => prf.tp += 1,
            (true, false) => prf.fp += 1,
            (false, true) => prf.fn_ += 1,
            (false, false) => {}
        }
    }
    prf
}

fn climate_fever(data: &Path) -> Res<()> {
    let pairs = climate_fever_pairs(data)?;
    // Split by claim: a stable hash of the id decides the half.
    let dev_half = |id: &str| {
        // FNV-1a: stable across runs and Rust versions.
        let h = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        h % 2 == 0
    };
    let dev: Vec<&Pair> = pairs.iter().filter(|p| dev_half(&p.0)).collect();
    let test: Vec<&Pair> = pairs.iter().filter(|p| !dev_half(&p.0)).collect();
    let grid_overlap = [0.4_f32, 0.5, 0.6, 0.8, 1.0];
    let grid_floor = [0.5_f32, 0.6, 0.7, 0.8];
    let mut best: Option<(f64, RuleConfig, f32, Prf)> = None;
    for &neg in &grid_overlap {
        for &ant in &grid_overlap {
            for &num in &grid_overlap {
                let config = RuleConfig {
                    negation_overlap: neg,
                    antonym_overlap: ant,
                    numeric_overlap: num,
                    ..RuleConfig::default()
                };
                let detector = RuleDetector::new(config);
                // Judge once, then score every floor.
                let judged: Vec<(Option<f32>, bool)> = dev
                    .iter()
                    .map(|p| (detector.judge(&p.1, &p.2).map(|j| j.confidence), p.3))
                    .collect();
                for &floor in &grid_floor {
                    let mut prf = Prf::default();
                    for (confidence, gold) in &judged {
                        match (confidence.is_some_and(|c| c >= floor), *gold) {
                            (true, true) => prf.tp += 1,
                            (true, false) => prf.fp += 1,
                            (false, true) => prf.fn_ += 1,
                            (false, false) => {}
                        }
                    }
                    let f05 = prf.f(0.5);
                    if best.as_ref().is_none_or(|b| f05 > b.0) {
                        best = Some((f05, config, floor, prf));
                    }
                }
            }
        }
    }
    let (_, tuned, floor, dev_prf) = best.ok_or("empty grid")?;
    let default_floor = 0.6;
    println!(
        "## Climate-FEVER: the rule detector as a claim–evidence `contradicts` classifier\n\n\
         {} pairs ({} contradicts); dev half {} pairs, test half {} pairs (split by claim).\n",
        pairs.len(),
        pairs.iter().filter(|p| p.3).count(),
        dev.len(),
        test.len()
    );
    println!("| detector | split | TP | FP | FN | precision | recall | F1 |\n|---|---|---|---|---|---|---|---|");
    let row = |name: &str, split: &str, p: Prf| {
        println!(
            "| {name} | {split} | {} | {} | {} | {:.3} | {:.3} | {:.3} |",
            p.tp,
            p.fp,
            p.fn_,
            p.p(),
            p.r(),
            p.f(1.0)
        );
    };
    let defaults = RuleDetector::default();
    row(
        "defaults",
        "test",
        classify(&test, &defaults, default_floor),
    );
    row("tuned on dev", "dev", dev_prf);
    row(
        "tuned on dev",
        "test",
        classify(&test, &RuleDetector::new(tuned), floor),
    );
    println!("\nTuned (max F0.5 on dev): {tuned:?}, floor {floor}.\n");
    let always = Prf {
        tp: test.iter().filter(|p| p.3).count(),
        fp: test.iter().filter(|p| !p.3).count(),
        fn_: 0,
    };
    println!(
        "For scale: answering `contradicts` for every test pair gives precision {:.3}.\n",
        always.p()
    );
    Ok(())
}

fn cost(synthetic: &Path, n: usize, scratch: &Path) -> Res<()> {
    let mut items = Vec::with_capacity(n);
    for line in lines(&synthetic.join("claims.jsonl"))?.into_iter().take(n) {
        let mut item: IngestItem = serde_json::from_str(&line)?;
        item.claim.tenant_id = TenantId::new("bench");
        items.push(item);
    }
    println!(
        "## Cost: ingest of {} synthetic claims, batches of 1,000, Strict\n",
        items.len()
    );
    println!(
        "| detection | claims/s | edges | edges per claim | pairs judged |\n|---|---|---|---|---|"
    );
    let mut rates = Vec::new();
    for (name, config) in [
        ("off", DetectionConfig::disabled()),
        ("on", DetectionConfig::default()),
        ("off", DetectionConfig::disabled()),
        ("on", DetectionConfig::default()),
    ] {
        let dir = scratch.join(format!("cost-{name}-{}", rates.len()));
        let store = Store::builder(&dir)
            .durability(Durability::Strict)
            .detection(config)
            .open()?;
        let start = Instant::now();
        for (i, chunk) in items.chunks(1000).enumerate() {
            store.ingest_batch(format!("b{i}"), chunk.to_vec())?;
        }
        let rate = items.len() as f64 / start.elapsed().as_secs_f64();
        let st = store.stats();
        println!(
            "| {name} | {rate:.0} | {} | {:.4} | {} |",
            st.detected_edges,
            st.detected_edges as f64 / items.len() as f64,
            st.detection_pairs_judged
        );
        rates.push((name, rate));
        store.close()?;
        std::fs::remove_dir_all(&dir)?;
    }
    let mean = |which: &str| {
        let v: Vec<f64> = rates.iter().filter(|r| r.0 == which).map(|r| r.1).collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    println!(
        "\nDetection on is {:.1}% slower (mean of two runs each; target ≤ 30%).\n",
        (1.0 - mean("on") / mean("off")) * 100.0
    );
    Ok(())
}

fn main() -> Res<()> {
    let mut data = PathBuf::from("../shared/data");
    let mut synthetic = None;
    let mut n = 100_000;
    let mut cost_only = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--data" => data = args.next().ok_or("--data needs a directory")?.into(),
            "--synthetic" => synthetic = Some(PathBuf::from(args.next().ok_or("--synthetic DIR")?)),
            "--n" => n = args.next().ok_or("--n N")?.parse()?,
            "--cost-only" => cost_only = true,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let scratch = tempfile::tempdir()?;
    if !cost_only {
        timeqa(&data, scratch.path())?;
        climate_fever(&data)?;
    }
    if let Some(dir) = synthetic {
        cost(&dir, n, scratch.path())?;
    }
    Ok(())
}
