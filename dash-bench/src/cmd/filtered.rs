//! `dash-bench filtered`: one HNSW graph over the common synthetic corpus's vectors, searched
//! for the nearest documents *below a bound* (what the detection stage asks: each new version
//! against the versions recorded before it), at bounds admitting 0.5 %–100 % of the graph — by
//! the graph walk, by the exact scan of the admitted prefix, and by the path
//! `HnswIndex::search_below` picks. The table is what `EXACT_BELOW_FACTOR` is set from.
//!
//! ```text
//! cargo run --release -p dash-bench -- filtered target/scorecard/synthetic-1000000 --n 200000
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use dash_bench::corpus::Synthetic;
use dash_bench::stats::Lat;
use dash_bench::{machine, Res};
use dash_core::index::{HnswIndex, HnswParams};

/// Arguments of `dash-bench filtered`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The corpus directory (vectors.f32).
    pub dir: PathBuf,
    /// How many vectors the graph holds.
    #[arg(long, default_value_t = 200_000)]
    pub n: usize,
    /// Neighbours asked for (the detection stage's dense candidates: 8).
    #[arg(long, default_value_t = 8)]
    pub k: usize,
    /// The candidate list of `search_below`'s graph walk (the graph walk column always uses the
    /// default, 200; the detection stage uses `dash_core::detect::DENSE_EF`).
    #[arg(long, default_value_t = 200)]
    pub ef: usize,
    /// Searches per bound and path.
    #[arg(long, default_value_t = 200)]
    pub queries: usize,
}

/// The admitted shares measured, in per mille of the graph.
const SHARES_PER_MILLE: [usize; 10] = [5, 10, 20, 40, 80, 160, 320, 500, 750, 1000];

/// The path `HnswIndex::search_below` takes for `admitted` of `len` documents (its rule).
fn scans(admitted: usize, k: usize, ef: usize, len: usize) -> bool {
    (admitted as f64).powi(2) < HnswIndex::EXACT_BELOW_FACTOR * (ef.max(k) * len) as f64
}

/// Builds the graph, then times each path at each bound.
pub fn run(args: Args) -> Res<()> {
    let corpus = Synthetic::open(&args.dir)?;
    let n = args.n.min(corpus.len()?);
    let vectors = corpus.vectors(n)?;
    let started = Instant::now();
    let docs = (0..n).map(|i| (u32::try_from(i).unwrap_or(u32::MAX), vectors.row(i)));
    let index = HnswIndex::build(vectors.row(0).len(), docs, HnswParams::default())?;
    println!(
        "graph of {n} vectors built in {:.1} s ({})\n",
        started.elapsed().as_secs_f64(),
        machine::one_line()
    );
    println!(
        "| admitted | bound | graph walk p50 / p95 ms | exact scan p50 / p95 ms | search_below \
         p50 / p95 ms | path taken | graph walk recall@{k} | search_below recall@{k} (ef {ef}) \
         |\n|---|---|---|---|---|---|---|---|",
        k = args.k,
        ef = args.ef
    );
    for per_mille in SHARES_PER_MILLE {
        let bound = n * per_mille / 1000;
        let bound_id = u32::try_from(bound)?;
        // The documents searched for sit at the bound, as the stage's next document does.
        let queries: Vec<usize> = (0..args.queries).map(|i| (bound + i) % n).collect();
        let below = |d: u32| d < bound_id;
        let (mut graph, mut exact, mut auto) = (Vec::new(), Vec::new(), Vec::new());
        let (mut found, mut found_below, mut wanted) = (0usize, 0usize, 0usize);
        for &q in &queries {
            let query = vectors.row(q);
            let t = Instant::now();
            // A count of every document forces the graph walk.
            let walked = index.search_filtered(query, args.k, below, Some(n))?;
            graph.push(t.elapsed());
            let t = Instant::now();
            let truth = index.search_exact_below(query, args.k, bound_id, |_| true)?;
            exact.push(t.elapsed());
            let t = Instant::now();
            let chosen = index.search_below(query, args.k, args.ef, bound_id, |_| true)?;
            auto.push(t.elapsed());
            found_below += chosen.iter().filter(|h| truth.contains(h)).count();
            wanted += truth.len();
            found += walked.iter().filter(|h| truth.contains(h)).count();
        }
        let ms = |v: Vec<Duration>| {
            let l = Lat::of(v);
            format!("{:.3} / {:.3}", l.p50_ms, l.p95_ms)
        };
        println!(
            "| {:.1} % | {bound} | {} | {} | {} | {} | {:.3} | {:.3} |",
            per_mille as f64 / 10.0,
            ms(graph),
            ms(exact),
            ms(auto),
            if bound < n && scans(bound, args.k, args.ef, n) {
                "exact scan"
            } else {
                "graph walk"
            },
            found as f64 / wanted.max(1) as f64,
            found_below as f64 / wanted.max(1) as f64
        );
    }
    Ok(())
}
