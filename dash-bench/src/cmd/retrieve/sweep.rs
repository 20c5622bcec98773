//! `--ef-sweep`: the reused store reopened once per graph candidate-list size (`ef_search`),
//! each time measuring dense-only recall@10 against an exact scan, and the latency (a warming
//! pass, then `--passes`) of dense-only, lexical-only and hybrid queries one at a time — what
//! the graphs' search effort buys and costs on this store, and which search holds a hybrid
//! query's time.

use std::time::Instant;

use dash_bench::corpus::{Queries, Synthetic};
use dash_bench::stats::Lat;
use dash_bench::Res;
use dash_core::{Query, Store};

use super::ground_truth::{exact_tops, mean_recall};
use super::{builder_ef, dense_ids, hybrid, Args, TENANT};

/// Runs the sweep over the store in `dir` (loaded by an earlier run).
pub fn run(a: &Args, dir: &std::path::Path, corpus: &Synthetic, total: usize) -> Res<()> {
    let queries = corpus.queries()?;
    let truth = truth(dir, corpus, total, &queries)?;
    for &ef in &a.ef_sweep {
        let store = builder_ef(dir, a, ef)?.open()?;
        store.retrieve(&Query::new(TENANT).text("first"))?; // the catalog image read
                                                            // Two passes each: the first warms the page cache, the second is measured.
        let mut dense = Vec::new();
        let mut found = Vec::new();
        for pass in 0..2 {
            for i in 0..queries.vectors.rows() {
                let start = Instant::now();
                let ids = dense_ids(&store, TENANT, queries.vectors.row(i), 10, None)?;
                if pass == 1 {
                    dense.push(start.elapsed());
                    found.push(ids);
                }
            }
        }
        let hybrid_lat = timed(&store, &queries, a.passes, |i| hybrid(&queries, i))?;
        let lexical_lat = timed(&store, &queries, a.passes, |i| {
            Query::new(TENANT)
                .text(queries.texts[i].as_str())
                .top_k(50)
                .wait_for_detection(std::time::Duration::ZERO)
        })?;
        let dense_lat = Lat::of(dense);
        println!(
            "ef_search {ef}: recall@10 {:.4}; dense-only top 10 p50 {:.2} / p95 {:.2} ms; lexical-only top 50 p50 {:.2} / p95 {:.2} ms; hybrid top 50 p50 {:.2} / p95 {:.2} / p99 {:.2} ms, mean {:.2} ms",
            mean_recall(&found, &truth, |row| format!("c{row}")),
            dense_lat.p50_ms,
            dense_lat.p95_ms,
            lexical_lat.p50_ms,
            lexical_lat.p95_ms,
            hybrid_lat.p50_ms,
            hybrid_lat.p95_ms,
            hybrid_lat.p99_ms,
            hybrid_lat.mean_ms
        );
    }
    Ok(())
}

/// The latency of `query(i)` over every query, one at a time: a warming pass, then `passes`
/// measured.
fn timed(
    store: &Store,
    queries: &Queries,
    passes: usize,
    query: impl Fn(usize) -> Query,
) -> Res<Lat> {
    let n = queries.texts.len();
    let mut times = Vec::with_capacity(n * passes);
    for pass in 0..=passes.max(1) {
        for i in 0..n {
            let start = Instant::now();
            store.retrieve(&query(i))?;
            if pass > 0 {
                times.push(start.elapsed());
            }
        }
    }
    Ok(Lat::of(times))
}

/// The exact top 10 of every query over the first `total` vectors: computed once (two minutes
/// at 10M) and kept beside the store (`<dir>.truth-<total>`, a line of row numbers a query).
fn truth(
    dir: &std::path::Path,
    corpus: &Synthetic,
    total: usize,
    queries: &Queries,
) -> Res<Vec<Vec<usize>>> {
    let path = dir.with_extension(format!("truth-{total}"));
    if let Ok(text) = std::fs::read_to_string(&path) {
        let rows: Result<Vec<Vec<usize>>, _> = text
            .lines()
            .map(|l| l.split(' ').map(str::parse).collect())
            .collect();
        if let Ok(rows) = rows {
            if rows.len() == queries.vectors.rows() {
                return Ok(rows);
            }
        }
    }
    let started = Instant::now();
    let rows = exact_tops(
        &corpus.dir().join("vectors.f32"),
        total,
        &queries.vectors,
        10,
        |_| true,
    )?;
    println!(
        "ground truth (exact top 10 of {total} vectors, {} queries): {:.1} s",
        queries.vectors.rows(),
        started.elapsed().as_secs_f64()
    );
    let text: Vec<String> = rows
        .iter()
        .map(|r| r.iter().map(usize::to_string).collect::<Vec<_>>().join(" "))
        .collect();
    std::fs::write(&path, text.join("\n"))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(rows)
}
