//! `dash-bench ir DIR`: DASH on an IR set in the peers' layout (`dash_bench::irset`), with the
//! peers' metrics — hit@10, recall@10, nDCG@10, single-query p50/p95/p99 — dense, lexical and
//! hybrid at the defaults, and hybrid with reciprocal-rank fusion (the peers' hybrid method) as
//! the tuned setting. One JSON line per configuration.
//!
//! ```sh
//! python3 ../shared/bench/peers/make_ir_set.py /tmp/ir-cf
//! cargo run --release -p dash-bench -- ir /tmp/ir-cf --out /tmp/dash-ir.jsonl
//! ```

use std::path::PathBuf;
use std::time::Instant;

use dash_bench::irset::IrSet;
use dash_bench::side::{dash_version, timed_passes, SideResult};
use dash_bench::stats::IrScores;
use dash_bench::Res;
use dash_core::{Claim, Fusion, IngestItem, Query, Store};

/// The tenant the set is loaded into.
const TENANT: &str = "ir";
/// Items per ingest batch.
const BATCH: usize = 1_000;

/// Arguments of `dash-bench ir`.
#[derive(clap::Args)]
pub struct Args {
    /// The IR set (corpus.jsonl, corpus.f32/.ids, queries.jsonl, queries.f32/.ids).
    dir: PathBuf,
    /// Appends one JSON line per configuration here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The vectors' dimension.
    #[arg(long, default_value_t = 384)]
    dim: usize,
    /// The set's name in the results.
    #[arg(long, default_value = "climate-fever")]
    set: String,
    /// The answers' cut-off.
    #[arg(long, default_value_t = 10)]
    k: usize,
}

/// Loads the set into a fresh store (a temporary directory), waits until it is fully indexed
/// and judged, then runs every query in each mode and setting.
pub fn run(args: Args) -> Res<()> {
    let set = IrSet::read(&args.dir, args.dim)?;
    let scratch = tempfile::tempdir()?;
    let started = Instant::now();
    let store = Store::builder(scratch.path()).open()?;
    let mut items = Vec::with_capacity(BATCH);
    for (i, (doc, vector)) in set.docs.iter().zip(set.doc_vectors.iter()).enumerate() {
        let mut claim = Claim::new(TENANT, doc.id.as_str(), doc.text.as_str());
        claim.embedding = Some(vector.to_vec());
        items.push(IngestItem::new(claim));
        if items.len() == BATCH || i + 1 == set.docs.len() {
            store.ingest_batch(format!("ir-{i}"), std::mem::take(&mut items))?;
        }
    }
    store.flush()?;
    store.wait_for_indexes();
    store.wait_for_detection();
    let build_s = started.elapsed().as_secs_f64();
    eprintln!(
        "DASH: {} documents loaded and indexed in {build_s:.1} s; {} queries",
        set.docs.len(),
        set.queries.len()
    );

    let rrf = Fusion::Rrf { k: 60.0 };
    for (mode, setting, text, vector, fusion) in [
        ("dense", "default", false, true, Fusion::default()),
        ("lexical", "default", true, false, Fusion::default()),
        ("hybrid", "default", true, true, Fusion::default()),
        ("hybrid", "tuned: rrf k=60", true, true, rrf),
    ] {
        let query = |i: usize| -> Res<Vec<String>> {
            let mut q = Query::new(TENANT).top_k(args.k).fusion(fusion);
            if text {
                q = q.text(set.queries[i].text.as_str());
            }
            if vector {
                q = q.embedding(set.query_vectors.row(i).to_vec());
            }
            let answer = store.retrieve(&q)?;
            Ok(answer
                .results
                .into_iter()
                .map(|r| r.claim_id.as_str().to_owned())
                .collect())
        };
        let (answers, lat) = timed_passes(set.queries.len(), query)?;
        let scores: Vec<IrScores> = answers
            .iter()
            .zip(&set.queries)
            .map(|(ids, q)| IrScores::of(ids, &q.gold, args.k))
            .collect();
        let mean = IrScores::mean(&scores);
        let result = SideResult {
            set: args.set.clone(),
            engine: "dash".into(),
            mode: mode.into(),
            setting: setting.into(),
            k: args.k,
            docs: set.docs.len(),
            queries: set.queries.len(),
            hit: Some(mean.hit),
            recall: Some(mean.recall),
            ndcg: Some(mean.ndcg),
            recall_vs_exact: None,
            p50_ms: lat.p50_ms,
            p95_ms: lat.p95_ms,
            p99_ms: lat.p99_ms,
            build_s,
            version: dash_version(),
        };
        println!("{}", result.human());
        if let Some(out) = &args.out {
            result.append_to(out)?;
        }
    }
    store.close()?;
    Ok(())
}
