//! ANN recall@100 on the real MiniLM embeddings of the evaluation data: Climate-FEVER evidence
//! and TimeQA facts as the corpus, Climate-FEVER claims and TimeQA questions as the queries.

use std::path::Path;

use dash_bench::data::embeddings;
use dash_bench::vectors::Matrix;
use dash_bench::{ingest, synth, Res};
use dash_core::{Claim, IngestItem, Store};

use super::ground_truth::{exact_tops_of, mean_recall};
use super::{dense_ids, BATCHED};

/// The tenant of the real vectors.
const TENANT: &str = "real";

/// The rows of every `stem` (`stem.ids` + `stem.f32` under `data`), in order.
fn stacked(data: &Path, stems: &[&str]) -> Res<Matrix> {
    let mut all = Matrix::default();
    for stem in stems {
        let (_, m) = embeddings(&data.join(stem))?;
        all.dim = m.dim;
        all.data.extend(m.data);
    }
    Ok(all)
}

/// Ingests the corpus vectors (claims `r{row}`), then prints the recall@100 of dense-only
/// queries against exact search.
pub fn recall_at_100(data: &Path) -> Res<()> {
    let corpus = stacked(
        data,
        &["climate-fever/evidence.minilm384", "timeqa/facts.minilm384"],
    )?;
    let queries = stacked(
        data,
        &[
            "climate-fever/claims.minilm384",
            "timeqa/questions.minilm384",
        ],
    )?;
    let dir = synth::bench_dir()?;
    // A small seal threshold so nearly every vector is in HNSW graphs, as at scale.
    let store = Store::builder(dir.path())
        .durability(BATCHED)
        .dense_seal_threshold(1024)
        .open()?;
    let items = corpus.iter().enumerate().map(|(i, v)| {
        let mut c = Claim::new(TENANT, format!("r{i}"), format!("vector {i}"));
        c.embedding = Some(v.to_vec());
        IngestItem::new(c)
    });
    ingest::in_batches(&store, items, "real", ingest::BATCH)?;
    store.flush()?;
    store.wait_for_indexes();
    let stats = store.stats();
    let truth = exact_tops_of(&corpus, &queries, 100, |_| true)?;
    let found: Vec<Vec<String>> = queries
        .iter()
        .map(|q| dense_ids(&store, TENANT, q, 100, None))
        .collect::<Res<_>>()?;
    println!(
        "real MiniLM embeddings: {} vectors ({} in graphs, {} exact), {} queries: recall@100 = {:.4}",
        corpus.rows(),
        stats.dense_graph_docs,
        stats.dense_exact_docs,
        queries.rows(),
        mean_recall(&found, &truth, |r| format!("r{r}"))
    );
    Ok(())
}
