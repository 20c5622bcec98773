//! Retrieval-quality baseline on Climate-FEVER, from DASH's index building blocks.
//!
//! ```text
//! cargo run --release --example eval_climate_fever [-- --data ../shared/data]
//! ```
//!
//! The 5,240 evidence sentences are the corpus (BM25 over their text with the English analyzer;
//! exact cosine over their MiniLM embeddings); each of the 1,535 claims is a query (its text and
//! its embedding). The gold set of a claim is its evidence annotated `supports` or `contradicts`
//! (1,061 claims have one). Reported: hit@10 (at least one gold sentence in the top 10),
//! recall@10 and nDCG@10 (binary relevance), for lexical only, dense only, and two fusions the
//! retrieval planner has to choose between: reciprocal-rank fusion (k = 60) and a weighted sum of
//! min-max normalised scores (weight swept). Candidates per side: the top 100.
//!
//! This measures the building blocks; the planner that will use them is the retrieval issue.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::error::Error;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use dash::index::{Analyzer, Bm25Index, DocId, ExactIndex};
use serde_json::Value;

const DIM: usize = 384;
const K: usize = 10;
const CANDIDATES: usize = 100;

fn lines(path: &Path) -> Result<Vec<String>, Box<dyn Error>> {
    let file = std::fs::File::open(path)
        .map_err(|e| format!("cannot open {}: {e} (pass --data DIR)", path.display()))?;
    Ok(std::io::BufReader::new(file)
        .lines()
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|l| !l.trim().is_empty())
        .collect())
}

/// Rows of little-endian f32, `DIM` per row, keyed by the matching `.ids` line.
fn embeddings(stem: &Path) -> Result<HashMap<String, Vec<f32>>, Box<dyn Error>> {
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

#[derive(Default)]
struct Score {
    queries: usize,
    hits: f64,
    recall: f64,
    ndcg: f64,
}

impl Score {
    fn add(&mut self, ranked: &[DocId], gold: &HashSet<DocId>) {
        let top = &ranked[..ranked.len().min(K)];
        let found = top.iter().filter(|d| gold.contains(d)).count();
        let dcg: f64 = top
            .iter()
            .enumerate()
            .filter(|(_, d)| gold.contains(d))
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

    fn row(&self, name: &str) -> String {
        let n = self.queries as f64;
        format!(
            "| {name} | {:.3} | {:.3} | {:.3} |",
            self.hits / n,
            self.recall / n,
            self.ndcg / n
        )
    }
}

fn ranked(hits: &[(DocId, f32)]) -> Vec<DocId> {
    hits.iter().map(|(d, _)| *d).collect()
}

fn rrf(lists: &[&[(DocId, f32)]]) -> Vec<DocId> {
    let mut score: HashMap<DocId, f64> = HashMap::new();
    for list in lists {
        for (rank, (doc, _)) in list.iter().enumerate() {
            *score.entry(*doc).or_default() += 1.0 / (60.0 + rank as f64 + 1.0);
        }
    }
    sort_scores(score)
}

/// `w * lexical + (1 - w) * dense`, each min-max normalised over its candidates.
fn weighted(lexical: &[(DocId, f32)], dense: &[(DocId, f32)], w: f64) -> Vec<DocId> {
    let mut score: HashMap<DocId, f64> = HashMap::new();
    for (list, weight) in [(lexical, w), (dense, 1.0 - w)] {
        let (lo, hi) = list.iter().fold((f32::MAX, f32::MIN), |(lo, hi), (_, s)| {
            (lo.min(*s), hi.max(*s))
        });
        let span = f64::from((hi - lo).max(f32::EPSILON));
        for (doc, s) in list {
            *score.entry(*doc).or_default() += weight * f64::from(s - lo) / span;
        }
    }
    sort_scores(score)
}

fn sort_scores(score: HashMap<DocId, f64>) -> Vec<DocId> {
    let mut v: Vec<(DocId, f64)> = score.into_iter().collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter().map(|(d, _)| d).collect()
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut data = PathBuf::from("../shared/data");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--data" => data = args.next().ok_or("--data needs a directory")?.into(),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let dir = data.join("climate-fever");
    let evidence_vectors = embeddings(&dir.join("evidence.minilm384"))?;
    let claim_vectors = embeddings(&dir.join("claims.minilm384"))?;

    let mut lexical = Bm25Index::new(Analyzer::english());
    let mut dense = ExactIndex::new(DIM);
    let mut doc_of: HashMap<String, DocId> = HashMap::new();
    for (doc, line) in lines(&dir.join("evidence_corpus.jsonl"))?
        .iter()
        .enumerate()
    {
        let v: Value = serde_json::from_str(line)?;
        let id = v["evidence_id"].as_str().ok_or("evidence_id")?.to_owned();
        let doc = DocId::try_from(doc)?;
        lexical.insert(doc, v["text"].as_str().unwrap_or(""));
        let vector = evidence_vectors
            .get(&id)
            .ok_or("evidence without embedding")?;
        dense.insert(doc, vector)?;
        doc_of.insert(id, doc);
    }

    let weights = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
    let (mut lex, mut den, mut fused_rrf) = (Score::default(), Score::default(), Score::default());
    let mut fused_w: Vec<Score> = weights.iter().map(|_| Score::default()).collect();
    for line in lines(&dir.join("claims.jsonl"))? {
        let v: Value = serde_json::from_str(&line)?;
        let gold: HashSet<DocId> = v["evidence"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| matches!(e["stance"].as_str(), Some("supports" | "contradicts")))
            .filter_map(|e| doc_of.get(e["evidence_id"].as_str()?).copied())
            .collect();
        if gold.is_empty() {
            continue;
        }
        let id = v["claim_id"].as_str().ok_or("claim_id")?;
        let text = v["text"].as_str().unwrap_or("");
        let query_vector = claim_vectors.get(id).ok_or("claim without embedding")?;
        let l = lexical.search(text, CANDIDATES, |_| true);
        let d = dense.search(query_vector, CANDIDATES, |_| true)?;
        lex.add(&ranked(&l), &gold);
        den.add(&ranked(&d), &gold);
        fused_rrf.add(&rrf(&[&l, &d]), &gold);
        for (score, w) in fused_w.iter_mut().zip(weights) {
            score.add(&weighted(&l, &d, w), &gold);
        }
    }

    println!(
        "Climate-FEVER evidence retrieval, {} claims with gold evidence",
        lex.queries
    );
    println!("| method | hit@10 | recall@10 | nDCG@10 |");
    println!("|---|---|---|---|");
    println!("{}", lex.row("lexical (BM25, English analyzer)"));
    println!("{}", den.row("dense (exact cosine, MiniLM)"));
    println!(
        "{}",
        fused_rrf.row("hybrid: reciprocal-rank fusion (k = 60)")
    );
    for (score, w) in fused_w.iter().zip(weights) {
        println!(
            "{}",
            score.row(&format!(
                "hybrid: {w:.1} · lexical + {:.1} · dense (min-max)",
                1.0 - w
            ))
        );
    }
    Ok(())
}
