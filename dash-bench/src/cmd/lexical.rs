//! `dash-bench lexical`: the lexical stage alone at scale — one tenant's BM25 index over the
//! common synthetic corpus's texts, its 200 queries at the candidate pool of a top-50 answer
//! (100), by the pruned search (MaxScore, what queries use) and the exhaustive reference, with
//! the two answers checked against each other.
//!
//! ```text
//! python3 ../shared/bench/synthetic.py 1000000 target/scorecard/synthetic-1000000
//! cargo run --release -p dash-bench -- lexical target/scorecard/synthetic-1000000
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use dash_bench::corpus::Synthetic;
use dash_bench::stats::Lat;
use dash_bench::{machine, Res};
use dash_core::index::{Analyzer, Bm25Index};

/// Arguments of `dash-bench lexical`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The corpus directory (claims.jsonl, queries.jsonl, queries.f32).
    pub dir: PathBuf,
    /// How many claims to index (default: all of the corpus).
    #[arg(long)]
    pub n: Option<usize>,
    /// Documents asked for: the planner's pool for a top-50 answer is 100.
    #[arg(long, default_value_t = 100)]
    pub k: usize,
    /// Passes over the queries (the first is a warm-up and is not counted).
    #[arg(long, default_value_t = 4)]
    pub passes: usize,
}

/// Indexes the texts, runs the queries both ways, prints the latencies and the speed-up.
pub fn run(args: Args) -> Res<()> {
    let corpus = Synthetic::open(&args.dir)?;
    let n = match args.n {
        Some(n) => n,
        None => corpus.len()?,
    };
    let texts = corpus.texts(n)?;
    let queries = corpus.queries()?.texts;
    let started = Instant::now();
    let mut index = Bm25Index::new(Analyzer::english());
    for (doc, text) in texts.iter().enumerate() {
        index.insert(u32::try_from(doc)?, text);
    }
    drop(texts);
    println!(
        "indexed {n} texts in {:.1} s ({})",
        started.elapsed().as_secs_f64(),
        machine::one_line()
    );
    for q in &queries {
        let pruned = index.search(q, args.k, |_| true);
        let exhaustive = index.search_exhaustive(q, args.k, |_| true);
        let close = pruned.len() == exhaustive.len()
            && pruned
                .iter()
                .zip(&exhaustive)
                .all(|(a, b)| (a.1 - b.1).abs() <= 1e-5 * b.1.abs().max(1.0));
        if !close {
            return Err(
                format!("query {q:?}: the pruned answer differs from the exhaustive one").into(),
            );
        }
    }
    let time = |search: &dyn Fn(&str) -> usize| {
        let mut samples: Vec<Duration> = Vec::new();
        for pass in 0..args.passes.max(2) {
            for q in &queries {
                let t = Instant::now();
                std::hint::black_box(search(q));
                if pass > 0 {
                    samples.push(t.elapsed());
                }
            }
        }
        Lat::of(samples)
    };
    let pruned = time(&|q| index.search(q, args.k, |_| true).len());
    let exhaustive = time(&|q| index.search_exhaustive(q, args.k, |_| true).len());
    for (name, lat) in [("pruned (MaxScore)", pruned), ("exhaustive", exhaustive)] {
        println!(
            "{name:<18} top-{}: mean {:.3} ms  p50 {:.3} ms  p95 {:.3} ms  p99 {:.3} ms",
            args.k, lat.mean_ms, lat.p50_ms, lat.p95_ms, lat.p99_ms
        );
    }
    println!(
        "speed-up: {:.1}x at the mean, {:.1}x at p95 (answers identical on all {} queries)",
        exhaustive.mean_ms / pruned.mean_ms,
        exhaustive.p95_ms / pruned.p95_ms,
        queries.len()
    );
    Ok(())
}
