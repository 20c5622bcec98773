//! Retrieval quality on real data, through `Store::retrieve` (run on demand, not in CI):
//!
//! ```text
//! cargo run --release --example eval_retrieval [-- --data ../shared/data]
//! ```
//!
//! 1. **Climate-FEVER evidence retrieval**: the 5,240 evidence sentences (with their MiniLM
//!    embeddings) are ingested as claims; each claim with gold evidence is a query (text and/or
//!    embedding). hit@10, recall@10 and nDCG@10 of the gold supports + contradicts sentences, for
//!    lexical only, dense only and hybrid. Fusion settings are chosen on the even-numbered
//!    queries (dev) and reported on the odd-numbered ones (test).
//! 2. **Climate-FEVER contradiction surfacing**: each claim is ingested with its five annotated
//!    evidence sentences. For the DISPUTED claims, a `Balanced` query with the claim's text must
//!    return it in the top 3 with supporting *and* contradicting evidence; `SupportOnly` must
//!    never return contradicting evidence; citation coverage of returned claims with evidence.
//! 3. **TimeQA as-of**: facts are ingested with their validity years; for each question, `as_of`
//!    a year inside the fact's interval must rank that fact's object above the same subject's
//!    facts of other intervals.
//!
//! The data is read from `../shared/data` (see its README); nothing is copied into the repo.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::error::Error;
use std::path::{Path, PathBuf};

use dash::{
    Claim, Durability, Evidence, Fusion, IngestItem, Query, Stance, StanceMode, Store, Timestamp,
};
use serde_json::Value;

#[path = "support/data.rs"]
mod data;
use data::{lines, period, s};

const DIM: usize = 384;
const K: usize = 10;

type Res<T> = Result<T, Box<dyn Error>>;

/// `stem.ids` + `stem.f32`: id → 384-d vector.
fn embeddings(stem: &Path) -> Res<HashMap<String, Vec<f32>>> {
    let with = |ext: &str| PathBuf::from(format!("{}.{ext}", stem.display()));
    let ids = lines(&with("ids"))?;
    let raw = std::fs::read(with("f32"))?;
    if raw.len() != ids.len() * DIM * 4 {
        return Err(format!(
            "{}: {} bytes for {} ids",
            stem.display(),
            raw.len(),
            ids.len()
        )
        .into());
    }
    Ok(ids
        .into_iter()
        .zip(raw.chunks_exact(DIM * 4))
        .map(|(id, row)| {
            let v = row
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (id, v)
        })
        .collect())
}

fn open_store(dir: &Path) -> Res<Store> {
    Ok(Store::builder(dir)
        .durability(Durability::Strict)
        .auto_checkpoint(false)
        .open()?)
}

fn ingest_all(store: &Store, items: Vec<IngestItem>) -> Res<()> {
    for (i, chunk) in items.chunks(1000).enumerate() {
        store.ingest_batch(format!("load-{i}"), chunk.to_vec())?;
    }
    Ok(())
}

/// Mean hit@10, recall@10 and nDCG@10 over queries.
#[derive(Default, Clone)]
struct Score {
    queries: usize,
    hits: f64,
    recall: f64,
    ndcg: f64,
}

impl Score {
    fn add(&mut self, ranked: &[String], gold: &HashSet<String>) {
        let top = &ranked[..ranked.len().min(K)];
        let found = top.iter().filter(|d| gold.contains(*d)).count();
        let dcg: f64 = top
            .iter()
            .enumerate()
            .filter(|(_, d)| gold.contains(*d))
            .map(|(i, _)| 1.0 / ((i + 2) as f64).log2())
            .sum();
        let ideal: f64 = (0..gold.len().min(K))
            .map(|i| 1.0 / ((i + 2) as f64).log2())
            .sum();
        self.queries += 1;
        self.hits += f64::from(u8::from(found > 0));
        self.recall += found as f64 / gold.len() as f64;
        self.ndcg += dcg / ideal;
    }

    fn ndcg(&self) -> f64 {
        self.ndcg / self.queries.max(1) as f64
    }

    fn row(&self, name: &str) -> String {
        let n = self.queries.max(1) as f64;
        format!(
            "| {name} | {:.3} | {:.3} | {:.3} |",
            self.hits / n,
            self.recall / n,
            self.ndcg / n
        )
    }
}

/// One retrieval method of the evidence-retrieval table.
#[derive(Clone, Copy)]
enum Method {
    Lexical,
    Dense,
    Hybrid(Fusion),
}

impl Method {
    fn name(self) -> String {
        match self {
            Method::Lexical => "lexical (BM25)".into(),
            Method::Dense => "dense (MiniLM cosine)".into(),
            Method::Hybrid(Fusion::Rrf { k }) => format!("hybrid, RRF k = {k}"),
            Method::Hybrid(Fusion::Weighted { lexical }) => {
                format!(
                    "hybrid, weighted {lexical:.1} lexical / {:.1} dense",
                    1.0 - lexical
                )
            }
        }
    }

    fn query(self, tenant: &str, text: &str, vector: &[f32]) -> Query {
        let q = Query::new(tenant).top_k(K);
        match self {
            Method::Lexical => q.text(text),
            Method::Dense => q.embedding(vector.to_vec()),
            Method::Hybrid(f) => q.text(text).embedding(vector.to_vec()).fusion(f),
        }
    }
}

fn evidence_retrieval(data: &Path, scratch: &Path) -> Res<()> {
    let dir = data.join("climate-fever");
    let evidence_vectors = embeddings(&dir.join("evidence.minilm384"))?;
    let claim_vectors = embeddings(&dir.join("claims.minilm384"))?;
    let store = open_store(&scratch.join("evidence"))?;
    let mut items = Vec::new();
    for line in lines(&dir.join("evidence_corpus.jsonl"))? {
        let v: Value = serde_json::from_str(&line)?;
        let id = s(&v, "evidence_id");
        let mut claim = Claim::new("cf", id.as_str(), s(&v, "text"));
        claim.embedding = Some(
            evidence_vectors
                .get(&id)
                .ok_or("evidence without embedding")?
                .clone(),
        );
        items.push(IngestItem::new(claim));
    }
    ingest_all(&store, items)?;

    let mut methods = vec![
        Method::Lexical,
        Method::Dense,
        Method::Hybrid(Fusion::Rrf { k: 60.0 }),
    ];
    for w in [0.2f32, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8] {
        methods.push(Method::Hybrid(Fusion::Weighted { lexical: w }));
    }
    // (dev, test, all) per method.
    let mut scores = vec![(Score::default(), Score::default(), Score::default()); methods.len()];
    let mut n = 0usize;
    for line in lines(&dir.join("claims.jsonl"))? {
        let v: Value = serde_json::from_str(&line)?;
        let gold: HashSet<String> = v["evidence"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| matches!(e["stance"].as_str(), Some("supports" | "contradicts")))
            .map(|e| s(e, "evidence_id"))
            .collect();
        if gold.is_empty() {
            continue;
        }
        let vector = claim_vectors
            .get(&s(&v, "claim_id"))
            .ok_or("claim without embedding")?;
        for (m, score) in methods.iter().zip(scores.iter_mut()) {
            let answer = store.retrieve(&m.query("cf", &s(&v, "text"), vector))?;
            let ranked: Vec<String> = answer
                .results
                .iter()
                .map(|r| r.claim_id.to_string())
                .collect();
            if n.is_multiple_of(2) {
                score.0.add(&ranked, &gold);
            } else {
                score.1.add(&ranked, &gold);
            }
            score.2.add(&ranked, &gold);
        }
        n += 1;
    }
    let best_dev = (2..methods.len())
        .max_by(|a, b| scores[*a].0.ndcg().total_cmp(&scores[*b].0.ndcg()))
        .unwrap_or(2);
    println!(
        "## Climate-FEVER evidence retrieval ({n} claims with gold evidence; 5,240 sentences)"
    );
    println!();
    println!("Test split = odd-numbered queries ({}); dev = even-numbered ({}), used only to pick the fusion.", scores[0].1.queries, scores[0].0.queries);
    println!();
    println!(
        "| method | test hit@10 | test recall@10 | test nDCG@10 | dev nDCG@10 | all nDCG@10 |"
    );
    println!("|---|---|---|---|---|---|");
    for (i, (m, sc)) in methods.iter().zip(&scores).enumerate() {
        let mark = if i == best_dev {
            " **(best on dev)**"
        } else {
            ""
        };
        let test = sc.1.row(&format!("{}{mark}", m.name()));
        println!("{test} {:.3} | {:.3} |", sc.0.ndcg(), sc.2.ndcg());
    }
    println!();
    Ok(())
}

fn contradiction_surfacing(data: &Path, scratch: &Path) -> Res<()> {
    let dir = data.join("climate-fever");
    let claim_vectors = embeddings(&dir.join("claims.minilm384"))?;
    let store = open_store(&scratch.join("claims"))?;
    let mut items = Vec::new();
    let mut disputed = Vec::new();
    for line in lines(&dir.join("claims.jsonl"))? {
        let v: Value = serde_json::from_str(&line)?;
        let id = s(&v, "claim_id");
        let text = s(&v, "text");
        let mut claim = Claim::new("cf", id.as_str(), text.as_str());
        claim.embedding = claim_vectors.get(&id).cloned();
        let mut item = IngestItem::new(claim);
        for e in v["evidence"].as_array().into_iter().flatten() {
            let stance: Stance = s(e, "stance").parse()?;
            let ev_text = s(e, "text");
            let mut ev = Evidence::new(s(e, "evidence_id"), id.as_str(), s(e, "source_id"), stance);
            // Annotator agreement as source quality: unanimous votes give 1.
            let entropy = e["entropy"].as_f64().unwrap_or(0.0) as f32;
            ev.source_quality = (1.0 - entropy / 2.0).clamp(0.1, 1.0);
            // The evidence sentence is the cited chunk; the span covers it.
            ev.chunk_id = Some(s(e, "evidence_id"));
            ev.span_start = Some(0);
            ev.span_end = Some(ev_text.len() as u64);
            ev.excerpt = Some(ev_text);
            item.evidence.push(ev);
        }
        if s(&v, "label") == "DISPUTED" {
            disputed.push((id, text));
        }
        items.push(item);
    }
    ingest_all(&store, items)?;

    let (mut top3, mut both_sides) = (0, 0);
    let (mut with_evidence, mut cited) = (0usize, 0usize);
    let mut support_only_leaks = 0;
    for (id, text) in &disputed {
        let vector = claim_vectors
            .get(id)
            .cloned()
            .ok_or("claim without embedding")?;
        let balanced = store.retrieve(
            &Query::new("cf")
                .text(text.as_str())
                .embedding(vector.clone())
                .top_k(10),
        )?;
        let pos = balanced
            .results
            .iter()
            .position(|r| r.claim_id.as_str() == id);
        if let Some(p) = pos.filter(|p| *p < 3) {
            top3 += 1;
            let r = &balanced.results[p];
            if !r.supporting_evidence.is_empty() && !r.contradicting_evidence.is_empty() {
                both_sides += 1;
            }
        }
        let support_only = store.retrieve(
            &Query::new("cf")
                .text(text.as_str())
                .embedding(vector)
                .top_k(10)
                .stance_mode(StanceMode::SupportOnly),
        )?;
        for answer in [&balanced, &support_only] {
            for r in &answer.results {
                let has_evidence =
                    !(r.supporting_evidence.is_empty() && r.contradicting_evidence.is_empty());
                let record = store
                    .get_claim(&"cf".into(), &r.claim_id)?
                    .ok_or("returned claim missing")?;
                if has_evidence || !record.item.evidence.is_empty() {
                    with_evidence += 1;
                    if r.citations
                        .iter()
                        .any(|c| c.chunk_id.is_some() && c.span_end.is_some())
                    {
                        cited += 1;
                    }
                }
            }
        }
        support_only_leaks += support_only
            .results
            .iter()
            .filter(|r| !r.contradicting_evidence.is_empty() || !r.conflicts.is_empty())
            .count();
    }
    let n = disputed.len();
    println!("## Climate-FEVER contradiction surfacing ({n} DISPUTED claims, 1,535 claims with 5 evidence each)");
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| DISPUTED claim in the top 3 (`Balanced`, text + embedding) | {top3}/{n} = {:.3} |",
        top3 as f64 / n as f64
    );
    println!("| ... and returned with supporting *and* contradicting evidence | {both_sides}/{n} = {:.3} |", both_sides as f64 / n as f64);
    println!("| `SupportOnly` results carrying contradicting evidence or conflicts | {support_only_leaks} |");
    println!("| citation coverage (returned claims with evidence that carry a citation with chunk and span) | {cited}/{with_evidence} = {:.3} |", cited as f64 / with_evidence.max(1) as f64);
    println!();
    Ok(())
}

/// What the TimeQA judge needs of a fact.
struct Fact {
    subject: String,
    objects: Vec<String>,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
}

impl Fact {
    fn valid_at(&self, t: Timestamp) -> bool {
        self.from.is_none_or(|f| f <= t) && self.to.is_none_or(|e| t < e)
    }
}

fn timeqa(data: &Path, scratch: &Path) -> Res<()> {
    let dir = data.join("timeqa");
    let fact_vectors = embeddings(&dir.join("facts.minilm384"))?;
    let question_vectors = embeddings(&dir.join("questions.minilm384"))?;
    let store = open_store(&scratch.join("timeqa"))?;
    let mut items = Vec::new();
    // (fact id, an instant inside its interval, the question)
    let mut questions = Vec::new();
    let mut facts: HashMap<String, Fact> = HashMap::new();
    let mut reversed = 0;
    for line in lines(&dir.join("temporal_facts.jsonl"))? {
        let v: Value = serde_json::from_str(&line)?;
        let id = s(&v, "claim_id");
        let Some(object) = v["object"].as_str() else {
            continue; // NOT_ENOUGH_INFO: no object to ask for
        };
        let from = period(&v["valid_from"]).map(|p| p.0);
        let to = period(&v["valid_to"]).map(|p| p.1);
        if matches!((from, to), (Some(f), Some(t)) if f >= t) {
            reversed += 1; // an `interval_suspect` fact the store rightly refuses
            continue;
        }
        let mut claim = Claim::new("tq", id.as_str(), s(&v, "text"));
        (claim.valid_from, claim.valid_to) = (from, to);
        claim.subject = Some(s(&v, "subject"));
        claim.predicate = Some(s(&v, "relation_label"));
        claim.object = Some(object.to_owned());
        claim.entities = vec![s(&v, "subject")];
        claim.embedding = fact_vectors.get(&id).cloned();
        let mut item = IngestItem::new(claim);
        for e in v["evidence"].as_array().into_iter().flatten() {
            let mut ev = Evidence::new(
                s(e, "evidence_id"),
                id.as_str(),
                s(e, "source_id"),
                Stance::Supports,
            );
            ev.chunk_id = Some(format!(
                "{}#p{}",
                s(e, "source_id"),
                e["paragraph_index"].as_u64().unwrap_or(0)
            ));
            ev.span_start = e["span"]["start"].as_u64();
            ev.span_end = e["span"]["end"].as_u64();
            if ev.span_start.is_none() || ev.span_end.is_none() {
                (ev.span_start, ev.span_end) = (None, None);
            }
            item.evidence.push(ev);
        }
        items.push(item);
        let objects = v["objects"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| o.as_str().map(str::to_owned))
            .collect();
        let inside = match (from, to) {
            (Some(f), Some(t)) => Some(Timestamp::from_unix_micros(
                f.as_unix_micros() / 2 + t.as_unix_micros() / 2,
            )),
            (Some(f), None) => Some(f),
            (None, Some(t)) => Some(Timestamp::from_unix_micros(t.as_unix_micros() - 1)),
            (None, None) => None,
        };
        if let Some(t) = inside {
            questions.push((id.clone(), t, s(&v, "question")));
        }
        facts.insert(
            id,
            Fact {
                subject: s(&v, "subject"),
                objects,
                from,
                to,
            },
        );
    }
    ingest_all(&store, items)?;

    // [with as_of, without] × [above other-interval facts, first same-subject result]
    let mut correct = [[0usize; 2]; 2];
    let mut total = 0;
    for (id, at, question) in &questions {
        let (Some(qv), Some(fact)) = (question_vectors.get(id), facts.get(id)) else {
            continue;
        };
        total += 1;
        for (mode, as_of) in [Some(*at), None].into_iter().enumerate() {
            let mut q = Query::new("tq")
                .text(question.as_str())
                .embedding(qv.clone())
                .top_k(20);
            if let Some(t) = as_of {
                q = q.as_of(t);
            }
            let answer = store.retrieve(&q)?;
            let same_subject: Vec<&Fact> = answer
                .results
                .iter()
                .filter_map(|r| facts.get(r.claim_id.as_str()))
                .filter(|f| f.subject == fact.subject)
                .collect();
            let right = |f: &Fact| f.objects.iter().any(|o| fact.objects.contains(o));
            let Some(pos) = same_subject.iter().position(|f| right(f)) else {
                continue;
            };
            // Above every same-subject fact of another interval (one not valid at the instant).
            if same_subject[..pos].iter().all(|f| f.valid_at(*at)) {
                correct[mode][0] += 1;
            }
            if pos == 0 {
                correct[mode][1] += 1;
            }
        }
    }
    let pct = |n: usize| format!("{n}/{total} = {:.3}", n as f64 / total.max(1) as f64);
    println!("## TimeQA as-of ({total} questions whose fact has an object and an interval; {reversed} facts with a reversed interval skipped)");
    println!();
    println!("| query | asked object above the subject's other-interval facts | first same-subject result has the asked object |");
    println!("|---|---|---|");
    println!(
        "| `as_of` an instant inside the fact's interval | {} | {} |",
        pct(correct[0][0]),
        pct(correct[0][1])
    );
    println!(
        "| no `as_of` (baseline: relevance alone) | {} | {} |",
        pct(correct[1][0]),
        pct(correct[1][1])
    );
    println!();
    Ok(())
}

fn main() -> Res<()> {
    let mut data = PathBuf::from("../shared/data");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--data" => data = args.next().ok_or("--data needs a directory")?.into(),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let scratch = tempfile::tempdir()?;
    evidence_retrieval(&data, scratch.path())?;
    contradiction_surfacing(&data, scratch.path())?;
    timeqa(&data, scratch.path())?;
    Ok(())
}
