//! TimeQA: the facts with an object, ingested as structured claims (subject, relation as
//! predicate, object, validity) or as plain sentences `"{subject} {relation_label} {object}."`
//! with their validity and nothing else. Ground truth from the data itself: within a subject +
//! relation group, two facts with different objects conflict iff their year intervals overlap,
//! and otherwise the later one supersedes the earlier.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::Instant;

use dash_bench::data::temporal_facts;
use dash_bench::{ingest, Res};
use dash_core::detect::{normalize, ContradictionDetector, RuleDetector};
use dash_core::{Claim, Durability, IngestItem, Relation, Store, TenantId, Timestamp};

use super::debug_limit;
use super::prf::Prf;

/// The tenant of the facts.
const TENANT: &str = "tq";

/// A pair of claim ids: ordered (later → earlier) for `supersedes`, sorted for `contradicts`.
type Pair = (String, String);

/// A fact and what the ground truth needs of it.
struct Fact {
    /// The claim id.
    id: String,
    /// The claim text as ingested.
    text: String,
    /// Subject and relation: facts conflict only within a group.
    group: (String, String),
    /// The answer.
    object: String,
    /// Inclusive year interval of the data, when both ends parse.
    years: Option<(i32, i32)>,
    /// The same at the data's own granularity (month or day when given): `[from, to)`.
    fine: Option<(Timestamp, Timestamp)>,
    /// The dataset's `interval_suspect` flag.
    suspect: bool,
    /// Whether the store accepted it (a reversed interval is refused).
    ingested: bool,
}

/// The unordered pair `{a, b}` in a canonical order.
fn pair(a: &str, b: &str) -> Pair {
    if a < b {
        (a.to_owned(), b.to_owned())
    } else {
        (b.to_owned(), a.to_owned())
    }
}

/// The facts with an object, and the claims made of them (`plain`: text only).
fn facts(data: &Path, plain: bool) -> Res<(Vec<Fact>, Vec<IngestItem>)> {
    let mut facts = Vec::new();
    let mut items = Vec::new();
    for f in temporal_facts(data)? {
        let Some(object) = f.object.clone() else {
            continue; // NOT_ENOUGH_INFO: no object
        };
        let (from, to) = f.interval();
        let mut claim = if plain {
            let text = format!("{} {} {object}.", f.subject, f.relation_label);
            Claim::new(TENANT, f.claim_id.as_str(), text)
        } else {
            let mut c = Claim::new(TENANT, f.claim_id.as_str(), f.text.as_str());
            c.subject = Some(f.subject.clone());
            c.predicate = Some(f.relation.clone());
            c.object = Some(object.clone());
            c
        };
        (claim.valid_from, claim.valid_to) = (from, to);
        let text = claim.canonical_text.clone();
        let refused = f.reversed();
        if !refused {
            items.push(IngestItem::new(claim));
        }
        facts.push(Fact {
            years: f.years(),
            fine: from.zip(to),
            id: f.claim_id,
            text,
            group: (f.subject, f.relation),
            object,
            suspect: f.interval_suspect,
            ingested: !refused,
        });
    }
    Ok((facts, items))
}

/// The true edges, and why some of them may be missed.
#[derive(Default)]
struct Truth {
    /// Pairs whose intervals overlap (sorted pairs).
    contradicts: HashSet<Pair>,
    /// Later → earlier pairs of disjoint intervals.
    supersedes: HashSet<Pair>,
    /// Why a pair may be missed or wrongly found, keyed by sorted pair.
    explained: HashMap<Pair, &'static str>,
}

/// The ground truth over every pair of a group with different objects.
fn truth(facts: &[Fact]) -> Truth {
    let mut groups: HashMap<&(String, String), Vec<&Fact>> = HashMap::new();
    for f in facts {
        groups.entry(&f.group).or_default().push(f);
    }
    let mut t = Truth::default();
    for members in groups.values() {
        for (i, a) in members.iter().enumerate() {
            for b in &members[i + 1..] {
                if a.object == b.object {
                    continue;
                }
                let (Some((af, at)), Some((bf, bt))) = (a.years, b.years) else {
                    t.explained.insert(pair(&a.id, &b.id), "unparsed interval");
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
                    t.contradicts.insert(pair(&a.id, &b.id));
                } else if af > bt {
                    t.supersedes.insert((a.id.clone(), b.id.clone()));
                } else {
                    t.supersedes.insert((b.id.clone(), a.id.clone()));
                }
                if let Some(why) = why {
                    t.explained.insert(pair(&a.id, &b.id), why);
                }
            }
        }
    }
    t
}

/// The scores of the found edges against the truth.
fn score(truth: &HashSet<Pair>, found: &HashSet<Pair>) -> Prf {
    Prf {
        tp: truth.intersection(found).count(),
        fp: found.difference(truth).count(),
        fn_: truth.difference(found).count(),
    }
}

/// Ingests the facts (structured or `plain`), waits for the detection stage and prints its
/// precision and recall with the causes of its errors.
pub fn run(data: &Path, scratch: &Path, plain: bool) -> Res<()> {
    let store = Store::builder(scratch.join(if plain { "timeqa-plain" } else { "timeqa" }))
        .durability(Durability::Strict)
        .open()?;
    let (facts, items) = facts(data, plain)?;
    let ingested = items.len();
    ingest::in_batches(&store, items, "tq", ingest::BATCH)?;
    let truth = truth(&facts);
    let started = Instant::now();
    store.wait_for_detection();
    let detect_secs = started.elapsed().as_secs_f64();
    let mut found_c = HashSet::new();
    let mut found_s = HashSet::new();
    for e in &store.detected_edges(&TenantId::new(TENANT))? {
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
    let c = score(&truth.contradicts, &found_c);
    let sup = score(&truth.supersedes, &found_s);
    let stats = store.stats();
    println!(
        "## TimeQA {} detection ({} facts with an object, {ingested} ingested; stage caught up \
         {detect_secs:.2} s after the last batch)\n",
        if plain { "plain-text" } else { "structured" },
        facts.len(),
    );
    println!("| edges | TP | FP | FN | precision | recall | F1 |\n|---|---|---|---|---|---|---|");
    println!("{}", c.row("contradicts"));
    println!("{}", sup.row("supersedes"));
    println!("{}", c.plus(sup).row("both"));
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    let cause = |p: &Pair, unexplained| {
        truth
            .explained
            .get(&pair(&p.0, &p.1))
            .copied()
            .unwrap_or(unexplained)
    };
    let misses = truth
        .contradicts
        .difference(&found_c)
        .chain(truth.supersedes.difference(&found_s));
    for p in misses {
        *reasons.entry(cause(p, "UNEXPLAINED")).or_default() += 1;
    }
    let false_edges = found_c
        .difference(&truth.contradicts)
        .chain(found_s.difference(&truth.supersedes));
    for p in false_edges {
        *reasons
            .entry(cause(p, "UNEXPLAINED false edge"))
            .or_default() += 1;
    }
    if let Some(n) = debug_limit() {
        show_errors(&facts, &truth, &found_c, &found_s, n);
    }
    println!("\nMisses and false edges by cause: {reasons:?}");
    println!(
        "Edges: {} live, {} built, {} dropped at the degree cap.\n",
        stats.detected_edges, stats.detected_edges_built, stats.detected_edges_dropped_degree
    );
    Ok(())
}

/// Prints up to `n` examples of each kind of error to stderr, with the judge's verdict
/// (`DASH_EVAL_DEBUG`).
fn show_errors(
    facts: &[Fact],
    truth: &Truth,
    found_c: &HashSet<Pair>,
    found_s: &HashSet<Pair>,
    n: usize,
) {
    let by_id: HashMap<&str, &Fact> = facts.iter().map(|f| (f.id.as_str(), f)).collect();
    let judge = RuleDetector::default();
    let show = |p: &Pair| {
        let f = |id: &str| {
            by_id
                .get(id)
                .map(|x| format!("{:?} {:?}", x.text, x.years))
                .unwrap_or_default()
        };
        let judged = match (by_id.get(p.0.as_str()), by_id.get(p.1.as_str())) {
            (Some(a), Some(b)) => format!("{:?}", judge.judge(&a.text, &b.text)),
            _ => String::new(),
        };
        format!("{} || {} => {judged}", f(&p.0), f(&p.1))
    };
    for p in truth.contradicts.difference(found_c).take(n) {
        eprintln!("FN contradicts: {}", show(p));
    }
    for p in found_c.difference(&truth.contradicts).take(n) {
        eprintln!("FP contradicts: {}", show(p));
    }
    for p in found_s.difference(&truth.supersedes).take(n) {
        eprintln!("FP supersedes: {}", show(p));
    }
    for p in truth.supersedes.difference(found_s).take(n) {
        eprintln!("FN supersedes: {}", show(p));
    }
}
