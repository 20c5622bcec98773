//! `dash-bench quantization DIR`: one HNSW graph over the common synthetic corpus's vectors per
//! scalar type (`HnswParams::quantization`: f32, f16, i8), each built from the same vectors:
//! build time, the graph's heap, search latency and recall@10 of the corpus' 200 queries
//! against an exact scan, and how far the graph's scores are from the exact cosines.
//!
//! ```text
//! cargo run --release -p dash-bench -- quantization target/scorecard/synthetic-1000000 --n 200000
//! ```

use std::path::PathBuf;
use std::time::Instant;

use dash_bench::corpus::Synthetic;
use dash_bench::stats::Lat;
use dash_bench::vectors::{dot, exact_top};
use dash_bench::{machine, Res};
use dash_core::index::{HnswIndex, HnswParams, Quantization};

/// Arguments of `dash-bench quantization`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The corpus directory (vectors.f32, queries.f32).
    pub dir: PathBuf,
    /// How many vectors each graph holds.
    #[arg(long, default_value_t = 200_000)]
    pub n: usize,
    /// The types measured, in order (f32, f16, i8).
    #[arg(long, value_delimiter = ',', default_value = "f32,f16,i8")]
    pub kinds: Vec<String>,
}

/// Builds one graph per type and prints a table row for each.
pub fn run(args: Args) -> Res<()> {
    const K: usize = 10;
    let corpus = Synthetic::open(&args.dir)?;
    let n = args.n.min(corpus.len()?);
    let vectors = corpus.vectors(n)?;
    let queries = corpus.queries()?;
    let truth: Vec<Vec<usize>> = queries
        .vectors
        .iter()
        .map(|q| exact_top(&vectors, q, K))
        .collect();
    println!(
        "{n} vectors of {} dimensions, {} queries, top {K}, ef_search 200 ({})\n",
        vectors.dim,
        queries.texts.len(),
        machine::one_line()
    );
    println!(
        "| type | build s | graph heap MiB | search p50 / p95 ms | recall@{K} | mean abs score error |\n\
         |---|---|---|---|---|---|"
    );
    for kind in &args.kinds {
        let quantization: Quantization =
            kind.parse().map_err(|e| format!("--kinds {kind}: {e}"))?;
        let params = HnswParams {
            quantization,
            ..HnswParams::default()
        };
        let (anon_before, _) = machine::rss_split("self").unwrap_or_default();
        let started = Instant::now();
        let docs = (0..n).map(|i| (u32::try_from(i).unwrap_or(u32::MAX), vectors.row(i)));
        let index = HnswIndex::build(vectors.dim, docs, params)?;
        let build_s = started.elapsed().as_secs_f64();
        let (anon_after, _) = machine::rss_split("self").unwrap_or_default();
        let (mut times, mut found, mut error, mut scored) = (Vec::new(), 0usize, 0f64, 0usize);
        for (q, want) in queries.vectors.iter().zip(&truth) {
            let t = Instant::now();
            let hits = index.search(q, K, |_| true)?;
            times.push(t.elapsed());
            found += hits
                .iter()
                .filter(|h| want.contains(&(h.0 as usize)))
                .count();
            for (doc, score) in &hits {
                error += f64::from((score - dot(vectors.row(*doc as usize), q)).abs());
                scored += 1;
            }
        }
        let lat = Lat::of(times);
        println!(
            "| {kind} | {build_s:.1} | {:.0} | {:.3} / {:.3} | {:.4} | {:.2e} |",
            anon_after.saturating_sub(anon_before) as f64 / 1048576.0,
            lat.p50_ms,
            lat.p95_ms,
            found as f64 / (K * truth.len()).max(1) as f64,
            error / scored.max(1) as f64
        );
        drop(index);
    }
    Ok(())
}
