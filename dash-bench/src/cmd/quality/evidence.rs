//! Climate-FEVER evidence retrieval: lexical, dense and hybrid rankings of the 5,240 evidence
//! sentences for each claim with gold evidence; fusion chosen on dev, reported on test.

use std::collections::BTreeSet;
use std::path::Path;

use dash_bench::data::{climate_claims, climate_evidence_corpus, embedding_map};
use dash_bench::stats::IrScores;
use dash_bench::{ingest, Res};
use dash_core::{Claim, Fusion, IngestItem, Query};

use super::open_store;

/// The tenant of the evidence sentences.
const TENANT: &str = "cf";

/// The cut-off of the scores.
const K: usize = 10;

/// One retrieval method of the table.
#[derive(Clone, Copy)]
enum Method {
    /// BM25 over the text.
    Lexical,
    /// Cosine over the MiniLM embedding.
    Dense,
    /// Both, fused.
    Hybrid(Fusion),
}

impl Method {
    /// The row name.
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

    /// The query of this method for a claim's text and vector.
    fn query(self, text: &str, vector: &[f32]) -> Query {
        let q = Query::new(TENANT).top_k(K);
        match self {
            Method::Lexical => q.text(text),
            Method::Dense => q.embedding(vector.to_vec()),
            Method::Hybrid(f) => q.text(text).embedding(vector.to_vec()).fusion(f),
        }
    }
}

/// The scores of one method on the dev (even), test (odd) and all queries.
#[derive(Default)]
struct Splits {
    /// Even-numbered queries.
    dev: Vec<IrScores>,
    /// Odd-numbered queries.
    test: Vec<IrScores>,
    /// Every query.
    all: Vec<IrScores>,
}

/// Ingests the evidence sentences, scores every method and prints the table.
pub fn run(data: &Path, scratch: &Path) -> Res<()> {
    let dir = data.join("climate-fever");
    let evidence_vectors = embedding_map(&dir.join("evidence.minilm384"))?;
    let claim_vectors = embedding_map(&dir.join("claims.minilm384"))?;
    let store = open_store(&scratch.join("evidence"))?;
    let mut items = Vec::new();
    for sentence in climate_evidence_corpus(data)? {
        let vector = evidence_vectors
            .get(&sentence.evidence_id)
            .ok_or_else(|| format!("evidence {} without embedding", sentence.evidence_id))?;
        let mut claim = Claim::new(TENANT, sentence.evidence_id.as_str(), sentence.text);
        claim.embedding = Some(vector.clone());
        items.push(IngestItem::new(claim));
    }
    ingest::in_batches(&store, items, "load", ingest::BATCH)?;

    let mut methods = vec![
        Method::Lexical,
        Method::Dense,
        Method::Hybrid(Fusion::Rrf { k: 60.0 }),
    ];
    for w in [0.2f32, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8] {
        methods.push(Method::Hybrid(Fusion::Weighted { lexical: w }));
    }
    let mut scores: Vec<Splits> = methods.iter().map(|_| Splits::default()).collect();
    let mut n = 0usize;
    for claim in climate_claims(data)? {
        let gold: Vec<&str> = claim
            .evidence
            .iter()
            .filter(|e| matches!(e.stance.as_str(), "supports" | "contradicts"))
            .map(|e| e.evidence_id.as_str())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if gold.is_empty() {
            continue;
        }
        let vector = claim_vectors
            .get(&claim.claim_id)
            .ok_or_else(|| format!("claim {} without embedding", claim.claim_id))?;
        for (m, split) in methods.iter().zip(scores.iter_mut()) {
            let answer = store.retrieve(&m.query(&claim.text, vector))?;
            let ranked: Vec<&str> = answer.results.iter().map(|r| r.claim_id.as_str()).collect();
            let s = IrScores::of(&ranked, &gold, K);
            if n.is_multiple_of(2) {
                split.dev.push(s);
            } else {
                split.test.push(s);
            }
            split.all.push(s);
        }
        n += 1;
    }
    print(&methods, &scores, n);
    Ok(())
}

/// The Markdown table, the fusion best on dev marked.
fn print(methods: &[Method], scores: &[Splits], n: usize) {
    let ndcg = |s: &[IrScores]| IrScores::mean(s).ndcg;
    let best_dev = (2..methods.len())
        .max_by(|a, b| ndcg(&scores[*a].dev).total_cmp(&ndcg(&scores[*b].dev)))
        .unwrap_or(2);
    let (test_n, dev_n) = scores
        .first()
        .map_or((0, 0), |s| (s.test.len(), s.dev.len()));
    println!(
        "## Climate-FEVER evidence retrieval ({n} claims with gold evidence; 5,240 sentences)"
    );
    println!();
    println!(
        "Test split = odd-numbered queries ({test_n}); dev = even-numbered ({dev_n}), used only \
         to pick the fusion."
    );
    println!();
    println!(
        "| method | test hit@10 | test recall@10 | test nDCG@10 | dev nDCG@10 | all nDCG@10 |"
    );
    println!("|---|---|---|---|---|---|");
    for (i, (m, split)) in methods.iter().zip(scores).enumerate() {
        let mark = if i == best_dev {
            " **(best on dev)**"
        } else {
            ""
        };
        let test = IrScores::mean(&split.test);
        println!(
            "| {}{mark} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
            m.name(),
            test.hit,
            test.recall,
            test.ndcg,
            ndcg(&split.dev),
            ndcg(&split.all)
        );
    }
    println!();
}
