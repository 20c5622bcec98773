//! Retrieval at scale (the retrieval issue's performance targets), on the common synthetic corpus
//! of `shared/bench/synthetic.py`:
//!
//! ```text
//! python3 ../shared/bench/synthetic.py 1010000 /tmp/synth   # needs numpy; ~1 minute
//! cargo run --release --example bench_retrieve -- --data /tmp/synth --sealed 1000000 --mutable 10000
//! ```
//!
//! 1. loads `--sealed` claims (text, 2-5 evidence, entities, 128-d vector; plus a `bucket`
//!    metadata pair, `line % 100`, for a 1 % filter), checkpoints them into segments, closes;
//! 2. reopens (timed), times the first query (it waits for the background indexing of the
//!    segments) and the background HNSW build;
//! 3. ingests `--mutable` more claims into the mutable part (not checkpointed);
//! 4. runs the 200 queries (text + vector), hybrid top-50 `Balanced` with evidence and
//!    citations: latency percentiles one query at a time, then throughput with 2 threads;
//! 5. ANN recall@10 against an exact scan (dense-only queries ranked by relevance), unfiltered and
//!    with a filter that keeps 1 % of the claims;
//! 6. recall@100 on the real MiniLM embeddings of `--real` (default `../shared/data`);
//! 7. resident memory per claim.
//!
//! `--reuse` keeps the store of the previous run (same sizes) and skips step 1, so that the
//! memory figure is not inflated by what the load phase left in the allocator.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::error::Error;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dash::{Claim, Durability, IngestItem, Query, Ranking, Store};

#[path = "../benches/support/mod.rs"]
mod support;

/// With `--features mimalloc` the bench runs on mimalloc (glibc's malloc/free are a third of the
/// write path's profile); the default is the system allocator, as an embedding application gets.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Res<T> = Result<T, Box<dyn Error>>;

const SYNTH_DIM: usize = 128;
const REAL_DIM: usize = 384;

struct Args {
    data: PathBuf,
    real: PathBuf,
    sealed: usize,
    mutable: usize,
    passes: usize,
    reuse: bool,
}

fn args() -> Res<Args> {
    let mut a = Args {
        data: PathBuf::from("/tmp/synth"),
        real: PathBuf::from("../shared/data"),
        sealed: 1_000_000,
        mutable: 10_000,
        passes: 3,
        reuse: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--data" => a.data = value()?.into(),
            "--real" => a.real = value()?.into(),
            "--sealed" => a.sealed = value()?.parse()?,
            "--mutable" => a.mutable = value()?.parse()?,
            "--passes" => a.passes = value()?.parse()?,
            "--reuse" => a.reuse = true,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(a)
}

fn read_f32(path: &Path, dim: usize, rows: usize) -> Res<Vec<Vec<f32>>> {
    let raw = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if raw.len() < rows * dim * 4 {
        return Err(format!("{}: fewer than {rows} rows", path.display()).into());
    }
    Ok(raw[..rows * dim * 4]
        .chunks_exact(dim * 4)
        .map(|row| {
            row.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        })
        .collect())
}

/// Reads claims `[from, to)` of `claims.jsonl` with their vectors and a `bucket` pair.
fn load(data: &Path, vectors: &[Vec<f32>], from: usize, to: usize) -> Res<Vec<IngestItem>> {
    let file = std::fs::File::open(data.join("claims.jsonl"))?;
    let mut out = Vec::with_capacity(to - from);
    for (i, line) in std::io::BufReader::new(file)
        .lines()
        .enumerate()
        .skip(from)
        .take(to - from)
    {
        let mut item: IngestItem = serde_json::from_str(&line?)?;
        item.claim.embedding = Some(vectors[i].clone());
        item.claim
            .metadata
            .insert("bucket".into(), (i % 100).to_string());
        out.push(item);
    }
    if out.len() != to - from {
        return Err(format!("claims.jsonl has fewer than {to} lines").into());
    }
    Ok(out)
}

fn ingest(store: &Store, items: Vec<IngestItem>, tag: &str) -> Res<Duration> {
    let start = Instant::now();
    let mut items = items.into_iter().peekable();
    let mut n = 0;
    while items.peek().is_some() {
        let chunk: Vec<IngestItem> = items.by_ref().take(1000).collect();
        store.ingest_batch(format!("{tag}-{n}"), chunk)?;
        n += 1;
    }
    store.flush()?;
    Ok(start.elapsed())
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?.to_owned();
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kb| kb * 1024)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(f64::NAN)
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Exact top-`k` rows by dot product (vectors are unit length) among rows `keep` admits, for
/// every query, on 2 threads.
fn exact_top(
    rows: &[Vec<f32>],
    queries: &[Vec<f32>],
    k: usize,
    keep: &(dyn Fn(usize) -> bool + Sync),
) -> Vec<Vec<usize>> {
    let half = queries.len().div_ceil(2);
    std::thread::scope(|s| {
        let parts: Vec<_> = queries
            .chunks(half.max(1))
            .map(|qs| {
                s.spawn(move || {
                    qs.iter()
                        .map(|q| {
                            let mut scored: Vec<(f32, usize)> = rows
                                .iter()
                                .enumerate()
                                .filter(|(i, _)| keep(*i))
                                .map(|(i, r)| (dot(q, r), i))
                                .collect();
                            let k = k.min(scored.len());
                            if k == 0 {
                                return Vec::new();
                            }
                            scored.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
                            scored.truncate(k);
                            scored.sort_by(|a, b| b.0.total_cmp(&a.0));
                            scored.into_iter().map(|(_, i)| i).collect()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts.into_iter().flat_map(|p| p.join().unwrap()).collect()
    })
}

/// Mean recall of `found` (claim ids) against `truth` (row numbers named `id_of(row)`).
fn recall(found: &[Vec<String>], truth: &[Vec<usize>], id_of: impl Fn(usize) -> String) -> f64 {
    let mut sum = 0.0;
    for (f, t) in found.iter().zip(truth) {
        let hits = t.iter().filter(|row| f.contains(&id_of(**row))).count();
        sum += hits as f64 / t.len().max(1) as f64;
    }
    sum / found.len().max(1) as f64
}

fn dense_ids(
    store: &Store,
    tenant: &str,
    q: &[f32],
    k: usize,
    bucket: Option<&str>,
) -> Res<Vec<String>> {
    let mut query = Query::new(tenant)
        .embedding(q.to_vec())
        .top_k(k)
        .ranking(Ranking::Relevance);
    if let Some(b) = bucket {
        query = query.metadata("bucket", b);
    }
    Ok(store
        .retrieve(&query)?
        .results
        .into_iter()
        .map(|r| r.claim_id.to_string())
        .collect())
}

fn real_embeddings(real: &Path) -> Res<()> {
    let read = |stem: &str| -> Res<Vec<Vec<f32>>> {
        let ids = std::fs::read_to_string(real.join(format!("{stem}.ids")))?;
        let rows = ids.lines().filter(|l| !l.is_empty()).count();
        read_f32(&real.join(format!("{stem}.f32")), REAL_DIM, rows)
    };
    let mut corpus = read("climate-fever/evidence.minilm384")?;
    corpus.extend(read("timeqa/facts.minilm384")?);
    let mut queries = read("climate-fever/claims.minilm384")?;
    queries.extend(read("timeqa/questions.minilm384")?);
    let dir = support::bench_dir();
    // A small seal threshold so nearly every vector is in HNSW graphs, as at scale.
    let store = Store::builder(dir.path())
        .durability(Durability::Batched {
            max_records: dash::SAFE_BATCH_RECORDS,
            max_delay: dash::SAFE_BATCH_DELAY,
        })
        .dense_seal_threshold(1024)
        .open()?;
    let items: Vec<IngestItem> = corpus
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut c = Claim::new("real", format!("r{i}"), format!("vector {i}"));
            c.embedding = Some(v.clone());
            IngestItem::new(c)
        })
        .collect();
    ingest(&store, items, "real")?;
    store.wait_for_indexes();
    let stats = store.stats();
    let truth = exact_top(&corpus, &queries, 100, &|_| true);
    let found: Vec<Vec<String>> = queries
        .iter()
        .map(|q| dense_ids(&store, "real", q, 100, None))
        .collect::<Res<_>>()?;
    println!(
        "real MiniLM embeddings: {} vectors ({} in graphs, {} exact), {} queries: recall@100 = {:.4}",
        corpus.len(),
        stats.dense_graph_docs,
        stats.dense_exact_docs,
        queries.len(),
        recall(&found, &truth, |r| format!("r{r}"))
    );
    Ok(())
}

fn main() -> Res<()> {
    let a = args()?;
    let total = a.sealed + a.mutable;
    println!(
        "bench_retrieve: {} sealed + {} mutable claims from {}",
        a.sealed,
        a.mutable,
        a.data.display()
    );
    let vectors = read_f32(&a.data.join("vectors.f32"), SYNTH_DIM, total)?;
    let n_queries = std::fs::read_to_string(a.data.join("queries.jsonl"))?
        .lines()
        .count();
    let query_vectors = read_f32(&a.data.join("queries.f32"), SYNTH_DIM, n_queries)?;
    let query_texts: Vec<String> = std::fs::read_to_string(a.data.join("queries.jsonl"))?
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .map(|v| v["text"].as_str().unwrap_or("").to_owned())
        })
        .collect::<Result<_, _>>()?;

    let dir = support::target_dir("bench_retrieve");
    let reuse = a.reuse && dir.exists();
    if !reuse {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let batched = Durability::Batched {
        max_records: dash::SAFE_BATCH_RECORDS,
        max_delay: dash::SAFE_BATCH_DELAY,
    };
    if !reuse {
        let store = Store::builder(&dir)
            .durability(batched)
            .dense_seal_threshold(usize::MAX) // bulk load: one graph build at reopen
            .open()?;
        let items = load(&a.data, &vectors, 0, a.sealed)?;
        let took = ingest(&store, items, "sealed")?;
        store.checkpoint()?;
        println!(
            "load: {} claims in {:.1} s ({:.0}/s, indexing included)",
            a.sealed,
            took.as_secs_f64(),
            a.sealed as f64 / took.as_secs_f64()
        );
        store.close()?;
    }
    let rss_before = rss_bytes();
    let start = Instant::now();
    let store = Store::builder(&dir).durability(batched).open()?;
    println!(
        "reopen (manifest, verify segments, WAL): {:.2} s",
        start.elapsed().as_secs_f64()
    );
    let claims = store.stats().claims;
    if reuse && claims < a.sealed as u64 {
        return Err(format!("--reuse: the store holds {claims} claims, not {}", a.sealed).into());
    }
    store.retrieve(&Query::new(support::TENANT).text("first"))?;
    println!(
        "first query answered (it waits for the background indexing of {} claims): {:.2} s after open",
        a.sealed,
        start.elapsed().as_secs_f64()
    );
    let start = Instant::now();
    store.wait_for_indexes();
    let stats = store.stats();
    println!(
        "background HNSW build: {:.1} s ({} docs in graphs; error: {:?})",
        start.elapsed().as_secs_f64(),
        stats.dense_graph_docs,
        stats.last_index_error
    );
    let items = load(&a.data, &vectors, a.sealed, total)?;
    ingest(&store, items, "mutable")?;
    let stats = store.stats();
    println!(
        "mutable part: {} versions in memtables, {} dense docs searched exactly",
        stats.memtable_versions, stats.dense_exact_docs
    );
    // The bench itself holds every vector once (for the exact ground truth): not the store's.
    let own = (vectors.len() * SYNTH_DIM * 4) as u64;
    let store_rss = rss_bytes().saturating_sub(own);
    println!(
        "RSS of the open store: {:.0} MiB = {:.0} B/claim (process RSS {:.0} MiB before reopen, minus the bench's own vectors)",
        store_rss as f64 / 1048576.0,
        store_rss as f64 / total as f64,
        rss_before as f64 / 1048576.0
    );

    let query = |i: usize| {
        Query::new(support::TENANT)
            .text(query_texts[i].as_str())
            .embedding(query_vectors[i].clone())
            .top_k(50)
    };
    for i in 0..query_texts.len().min(20) {
        store.retrieve(&query(i))?; // warm-up
    }
    let mut lat = Vec::new();
    let mut stage_us: std::collections::BTreeMap<&'static str, u64> = Default::default();
    let mut cited = (0usize, 0usize);
    for _ in 0..a.passes {
        for i in 0..query_texts.len() {
            let start = Instant::now();
            let answer = store.retrieve(&query(i))?;
            lat.push(start.elapsed().as_secs_f64() * 1e3);
            for r in &answer.results {
                if !(r.supporting_evidence.is_empty() && r.contradicting_evidence.is_empty()) {
                    cited.0 += 1;
                    cited.1 += usize::from(!r.citations.is_empty());
                }
            }
        }
    }
    for i in 0..query_texts.len() {
        if let Some(e) = store.retrieve(&query(i).explain(true))?.explain {
            for s in e.stages {
                *stage_us.entry(s.name).or_default() += s.micros;
            }
        }
    }
    lat.sort_by(f64::total_cmp);
    println!(
        "hybrid top-50 Balanced, 1 thread, {} queries: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, mean {:.2} ms; citations on {}/{} results with evidence",
        lat.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.95),
        percentile(&lat, 0.99),
        lat.iter().sum::<f64>() / lat.len() as f64,
        cited.1,
        cited.0
    );
    let stages: Vec<String> = stage_us
        .iter()
        .map(|(k, v)| format!("{k} {:.2} ms", *v as f64 / 1e3 / query_texts.len() as f64))
        .collect();
    println!("mean per stage: {}", stages.join(", "));

    let start = Instant::now();
    let per_thread = query_texts.len() * a.passes;
    std::thread::scope(|s| {
        for t in 0..2 {
            let store = &store;
            let query = &query;
            let n = query_texts.len();
            s.spawn(move || {
                for j in 0..per_thread {
                    let _ = store.retrieve(&query((j + t * 7) % n));
                }
            });
        }
    });
    let secs = start.elapsed().as_secs_f64();
    println!(
        "throughput, 2 threads: {:.0} queries/s",
        (2 * per_thread) as f64 / secs
    );

    let id_of = |row: usize| format!("c{row}");
    let truth = exact_top(&vectors, &query_vectors, 10, &|_| true);
    let found: Vec<Vec<String>> = query_vectors
        .iter()
        .map(|q| dense_ids(&store, support::TENANT, q, 10, None))
        .collect::<Res<_>>()?;
    println!(
        "ANN recall@10 vs exact over {total} vectors: {:.4}",
        recall(&found, &truth, id_of)
    );
    let truth = exact_top(&vectors, &query_vectors, 10, &|row| row % 100 == 7);
    let found: Vec<Vec<String>> = query_vectors
        .iter()
        .map(|q| dense_ids(&store, support::TENANT, q, 10, Some("7")))
        .collect::<Res<_>>()?;
    println!(
        "filtered (1 %) recall@10: {:.4}",
        recall(&found, &truth, id_of)
    );
    drop(store);
    real_embeddings(&a.real)?;
    Ok(())
}
