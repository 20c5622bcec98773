//! Contradiction detection measured on real data (run on demand, not in CI):
//!
//! ```text
//! cargo run --release [--features embed] --example eval_detection [-- --data ../shared/data]
//!     [--synthetic DIR --n 100000 [--cost-only]] [--only timeqa|sick|climate]
//!     [--embedder target/models/all-MiniLM-L6-v2]
//! ```
//!
//! 1. **TimeQA**: the facts with an object, ingested twice — as structured claims (subject,
//!    relation as predicate, object, validity) and as **plain sentences**
//!    `"{subject} {relation_label} {object}."` with their validity and nothing else (no
//!    triple, no entities). Ground truth from the data itself: within a subject + relation
//!    group, two facts with different objects conflict iff their year intervals overlap, and
//!    otherwise the later one supersedes the earlier. Precision / recall / F1 of the detected
//!    `contradicts` and `supersedes` edges, misses and false edges explained.
//! 2. **SICK trial**: each sentence pair in its own tenant, text only, through the store. The
//!    share of CONTRADICTION pairs linked (target ≥ 80 %) and of ENTAILMENT pairs linked
//!    (target ≤ 5 %), on the odd pair ids (where the rules were tuned) and on the even ones
//!    (reported); NEUTRAL reported, not scored.
//! 3. **Climate-FEVER**: the built-in judge as a claim–evidence `contradicts` classifier (a
//!    baseline: its contradictions are paraphrase and world knowledge, the place for a model).
//! 4. **Cost** (with `--synthetic DIR`, the common corpus of `shared/bench/synthetic.py`, one
//!    tenant, text only): acknowledged ingest with detection off and on (batches of 1,000), the
//!    stage's throughput on the last 10 % of the corpus (claims per second of wall time and per
//!    CPU-second of the stage's thread), and its lag while ingesting at a fixed 2,000 claims/s
//!    in batches of 100 (p50/p95/max of the lag, sampled every 50 ms).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

use dash::detect::{normalize, ContradictionDetector, DetectionConfig, RuleDetector};
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
    /// The claim text as ingested.
    text: String,
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

fn timeqa(data: &Path, scratch: &Path, plain: bool) -> Res<()> {
    let store = Store::builder(scratch.join(if plain { "timeqa-plain" } else { "timeqa" }))
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
        let mut claim = if plain {
            let text = format!("{} {} {object}.", s(&v, "subject"), s(&v, "relation_label"));
            Claim::new("tq", id.as_str(), text)
        } else {
            let mut c = Claim::new("tq", id.as_str(), s(&v, "text"));
            c.subject = Some(s(&v, "subject"));
            c.predicate = Some(s(&v, "relation"));
            c.object = Some(object.to_owned());
            c
        };
        (claim.valid_from, claim.valid_to) = (from, to);
        let claim_text = claim.canonical_text.clone();
        if !refused {
            items.push(IngestItem::new(claim));
        }
        facts.push(Fact {
            text: claim_text.clone(),
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
    let started = Instant::now();
    store.wait_for_detection();
    let detect_secs = started.elapsed().as_secs_f64();
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
        "## TimeQA {} detection ({} facts with an object, {} ingested; stage caught up {:.2} s \
         after the last batch)\n",
        if plain { "plain-text" } else { "structured" },
        facts.len(),
        items.len(),
        detect_secs
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
                    .map(|x| format!("{:?} {:?}", x.text, x.years))
                    .unwrap_or_default()
            };
            let judged = match (by_id.get(p.0.as_str()), by_id.get(p.1.as_str())) {
                (Some(a), Some(b)) => {
                    format!("{:?}", RuleDetector::default().judge(&a.text, &b.text))
                }
                _ => String::new(),
            };
            format!("{} || {} => {judged}", f(&p.0), f(&p.1))
        };
        let n: usize = std::env::var("DASH_EVAL_DEBUG")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(5);
        for p in truth_c.difference(&found_c).take(n) {
            eprintln!("FN contradicts: {}", show(p));
        }
        for p in found_c.difference(&truth_c).take(n) {
            eprintln!("FP contradicts: {}", show(p));
        }
        for p in found_s.difference(&truth_s).take(n) {
            eprintln!("FP supersedes: {}", show(p));
        }
        for p in truth_s.difference(&found_s).take(n) {
            eprintln!("FN supersedes: {}", show(p));
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
    let all: Vec<&Pair> = pairs.iter().collect();
    let detector = RuleDetector::default();
    println!(
        "## Climate-FEVER: the rule judge as a claim–evidence `contradicts` classifier\n\n\
         {} pairs ({} contradicts).\n",
        pairs.len(),
        pairs.iter().filter(|p| p.3).count(),
    );
    println!("| floor | TP | FP | FN | precision | recall | F1 |\n|---|---|---|---|---|---|---|");
    for floor in [0.6_f32, 0.7, 0.8] {
        println!(
            "{}",
            classify(&all, &detector, floor).row(&format!("{floor}"))
        );
    }
    let always = Prf {
        tp: pairs.iter().filter(|p| p.3).count(),
        fp: pairs.iter().filter(|p| !p.3).count(),
        fn_: 0,
    };
    println!(
        "\nFor scale: answering `contradicts` for every pair gives precision {:.3}.\n",
        always.p()
    );
    Ok(())
}

/// The store's embedder and the judge for it, with `--embedder DIR` (feature `embed`).
#[derive(Clone, Default)]
struct Model(Option<std::sync::Arc<dyn dash::embed::Embedder>>);

impl Model {
    #[cfg(feature = "embed")]
    fn load(dir: &Path) -> Res<Self> {
        Ok(Self(Some(std::sync::Arc::new(
            dash::embed::MiniLmEmbedder::load(dir)?,
        ))))
    }

    #[cfg(not(feature = "embed"))]
    fn load(_dir: &Path) -> Res<Self> {
        Err("--embedder needs the `embed` feature: cargo run --release --features embed ...".into())
    }

    /// A store builder with the embedder and its span guard, when there is one.
    fn builder(&self, dir: &Path) -> dash::StoreBuilder {
        let builder = Store::builder(dir);
        match &self.0 {
            None => builder,
            Some(e) => builder
                .embedder(e.clone())
                .detection(DetectionConfig::default().detector(std::sync::Arc::new(
                    RuleDetector::with_embedder(dash::detect::RuleConfig::default(), e.clone()),
                ))),
        }
    }
}

/// SICK trial pairs: (pair id, sentence A, sentence B, judgement).
fn sick(data: &Path, scratch: &Path, model: &Model) -> Res<()> {
    let mut rows = Vec::new();
    for line in lines(&data.join("sick/SICK_trial.txt"))?
        .into_iter()
        .skip(1)
    {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 5 {
            continue;
        }
        let id: u32 = cols[0].trim().parse()?;
        rows.push((
            id,
            cols[1].to_owned(),
            cols[2].to_owned(),
            cols[4].trim().to_owned(),
        ));
    }
    let store = model.builder(&scratch.join("sick")).open()?;
    for (id, a, b, _) in &rows {
        let tenant = format!("sick-{id}");
        store.ingest(IngestItem::new(Claim::new(
            tenant.as_str(),
            "a",
            a.as_str(),
        )))?;
        store.ingest(IngestItem::new(Claim::new(
            tenant.as_str(),
            "b",
            b.as_str(),
        )))?;
    }
    store.wait_for_detection();
    // (label, odd ids?) → (pairs, linked)
    let mut counts: HashMap<(String, bool), (usize, usize)> = HashMap::new();
    let debug = std::env::var_os("DASH_EVAL_DEBUG").is_some();
    for (id, a, b, label) in &rows {
        let edges = store.detected_edges(&TenantId::new(format!("sick-{id}")))?;
        let odd = id % 2 == 1;
        let entry = counts.entry((label.clone(), odd)).or_default();
        entry.0 += 1;
        if !edges.is_empty() {
            entry.1 += 1;
        }
        let linked = !edges.is_empty();
        let wrong = (label == "CONTRADICTION" && !linked) || (label == "ENTAILMENT" && linked);
        if debug && odd && wrong {
            let reason = edges
                .first()
                .and_then(|e| e.reason.clone())
                .unwrap_or_default();
            eprintln!("{label} {id} linked={linked} {reason:?}: {a} || {b}");
        }
    }
    println!(
        "## SICK trial: pairs linked by a detected edge (text only, one tenant per pair{})\n",
        if model.0.is_some() {
            "; store embedder and span guard"
        } else {
            ""
        }
    );
    println!("| judgement | odd ids (tuned on): linked / pairs | even ids (reported): linked / pairs |\n|---|---|---|");
    for label in ["CONTRADICTION", "ENTAILMENT", "NEUTRAL"] {
        let cell = |odd: bool| {
            let (n, linked) = counts
                .get(&(label.to_owned(), odd))
                .copied()
                .unwrap_or_default();
            format!(
                "{linked} / {n} = {:.1} %",
                100.0 * linked as f64 / n.max(1) as f64
            )
        };
        println!("| {label} | {} | {} |", cell(true), cell(false));
    }
    println!("\nTargets: CONTRADICTION ≥ 80 %, ENTAILMENT ≤ 5 % (even ids); NEUTRAL not scored.\n");
    Ok(())
}

/// The synthetic corpus's first `n` claims, in one tenant.
fn synthetic_items(synthetic: &Path, n: usize) -> Res<Vec<IngestItem>> {
    let mut items = Vec::with_capacity(n);
    for line in lines(&synthetic.join("claims.jsonl"))?.into_iter().take(n) {
        let mut item: IngestItem = serde_json::from_str(&line)?;
        item.claim.tenant_id = TenantId::new("bench");
        items.push(item);
    }
    Ok(items)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// CPU seconds the detection stage's thread has used (Linux: `/proc/self/task/*/stat`).
fn stage_cpu_seconds() -> Option<f64> {
    for entry in std::fs::read_dir("/proc/self/task").ok()? {
        let path = entry.ok()?.path();
        if std::fs::read_to_string(path.join("comm")).ok()?.trim() != "dash-detect" {
            continue;
        }
        let stat = std::fs::read_to_string(path.join("stat")).ok()?;
        let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
        let ticks: f64 =
            fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        return Some(ticks / 100.0); // USER_HZ
    }
    None
}

fn cost(synthetic: &Path, n: usize, scratch: &Path) -> Res<()> {
    let items = synthetic_items(synthetic, n)?;
    println!(
        "## Cost: {} synthetic claims (one tenant, text only), Strict\n",
        items.len()
    );
    println!(
        "| detection | acknowledged claims/s | stage caught up after (s) | edges | pairs judged |\n|---|---|---|---|---|"
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
        let ingest_secs = start.elapsed().as_secs_f64();
        let rate = items.len() as f64 / ingest_secs;
        store.wait_for_detection();
        let total = start.elapsed().as_secs_f64();
        let st = store.stats();
        println!(
            "| {name} | {rate:.0} | {:.1} | {} | {} |",
            total - ingest_secs,
            st.detected_edges,
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
        "\nAcknowledged ingest with detection on: {:.1} % of the rate with it off (mean of two \
         runs each; target ≥ 95 %).\n",
        100.0 * mean("on") / mean("off")
    );
    throughput(&items, scratch)?;
    lag(&items, scratch)
}

/// The stage's throughput on the last 10 % of the corpus, in a tenant holding the rest.
fn throughput(items: &[IngestItem], scratch: &Path) -> Res<()> {
    let tail = items.len() / 10;
    let (preload, last) = items.split_at(items.len() - tail);
    let dir = scratch.join("throughput");
    let store = Store::builder(&dir).durability(Durability::Strict).open()?;
    for (i, chunk) in preload.chunks(1000).enumerate() {
        store.ingest_batch(format!("pre{i}"), chunk.to_vec())?;
    }
    store.wait_for_detection();
    let (cpu0, before) = (stage_cpu_seconds(), store.stats());
    let start = Instant::now();
    for (i, chunk) in last.chunks(1000).enumerate() {
        store.ingest_batch(format!("last{i}"), chunk.to_vec())?;
    }
    store.wait_for_detection();
    let wall = start.elapsed().as_secs_f64();
    let after = store.stats();
    let cpu = stage_cpu_seconds().zip(cpu0).map(|(b, a)| b - a);
    println!(
        "## Stage throughput: the last {tail} claims into a tenant of {} claims\n\n\
         | claims/s (wall, ingest included) | claims per stage CPU-second | pairs judged / claim | postings read / claim |\n|---|---|---|---|\n\
         | {:.0} | {} | {:.2} | {:.0} |\n\nTarget: ≥ 5,000 claims/s.\n",
        preload.len(),
        tail as f64 / wall,
        cpu.map_or("n/a".into(), |c| format!("{:.0}", tail as f64 / c.max(1e-9))),
        (after.detection_pairs_judged - before.detection_pairs_judged) as f64 / tail as f64,
        (after.detection_postings_read - before.detection_postings_read) as f64 / tail as f64,
    );
    store.close()?;
    Ok(())
}

/// The stage's lag while ingesting at 2,000 claims/s into a tenant that already holds most of
/// the corpus.
fn lag(items: &[IngestItem], scratch: &Path) -> Res<()> {
    const RATE: f64 = 2000.0;
    const BATCH: usize = 100;
    let paced = items.len().min(40_000);
    let (preload, tail) = items.split_at(items.len() - paced);
    let dir = scratch.join("lag");
    let store = std::sync::Arc::new(Store::builder(&dir).durability(Durability::Strict).open()?);
    for (i, chunk) in preload.chunks(1000).enumerate() {
        store.ingest_batch(format!("pre{i}"), chunk.to_vec())?;
    }
    store.wait_for_detection();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (store, done) = (store.clone(), done.clone());
        std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                samples.push(store.stats().detection_lag_ms as f64);
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            samples
        })
    };
    let start = Instant::now();
    for (i, chunk) in tail.chunks(BATCH).enumerate() {
        let due = std::time::Duration::from_secs_f64((i * BATCH) as f64 / RATE);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        store.ingest_batch(format!("tail{i}"), chunk.to_vec())?;
    }
    let achieved = tail.len() as f64 / start.elapsed().as_secs_f64();
    store.wait_for_detection();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut samples = sampler.join().map_err(|_| "sampler panicked")?;
    samples.sort_by(f64::total_cmp);
    println!(
        "## Stage lag while ingesting {} claims at {achieved:.0} claims/s (batches of {BATCH}) \
         into a tenant of {} claims\n\n| lag p50 | lag p95 | lag max |\n|---|---|---|\n\
         | {:.0} ms | {:.0} ms | {:.0} ms |\n\nTarget: p95 ≤ 1,000 ms.\n",
        tail.len(),
        preload.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.95),
        samples.last().copied().unwrap_or(0.0)
    );
    Ok(())
}

fn main() -> Res<()> {
    let mut data = PathBuf::from("../shared/data");
    let mut synthetic = None;
    let mut n = 100_000;
    let mut cost_only = false;
    let mut only: Option<String> = None;
    let mut model = Model::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--data" => data = args.next().ok_or("--data needs a directory")?.into(),
            "--synthetic" => synthetic = Some(PathBuf::from(args.next().ok_or("--synthetic DIR")?)),
            "--n" => n = args.next().ok_or("--n N")?.parse()?,
            "--cost-only" => cost_only = true,
            "--only" => only = Some(args.next().ok_or("--only timeqa|sick|climate")?),
            "--embedder" => {
                model = Model::load(Path::new(&args.next().ok_or("--embedder DIR")?))?;
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let scratch = tempfile::tempdir()?;
    let run = |what: &str| !cost_only && only.as_deref().is_none_or(|o| o == what);
    if run("timeqa") {
        timeqa(&data, scratch.path(), false)?;
        timeqa(&data, scratch.path(), true)?;
    }
    if run("sick") {
        sick(&data, scratch.path(), &model)?;
    }
    if run("climate") {
        climate_fever(&data)?;
    }
    if let Some(dir) = synthetic {
        cost(&dir, n, scratch.path())?;
    }
    Ok(())
}
