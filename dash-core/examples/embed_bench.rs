//! How fast `MiniLmEmbedder` is on this machine: model load time, throughput on ~2,000
//! Climate-FEVER sentences (claims and evidence) in batches of 32, and single-query latency
//! (p50/p95/p99) over 500 TimeQA questions after a warm-up.
//!
//! ```text
//! scripts/fetch-model.sh
//! cargo run --release -p dash-core --features embed --example embed_bench
//! ```
//!
//! The model comes from `DASH_MODEL_DIR`, else `target/models/all-MiniLM-L6-v2`; the data from
//! `../shared/data` beside the workspace. Threads: `RAYON_NUM_THREADS`, which this program sets to
//! the number of CPUs when it is unset (see "Threads" on `MiniLmEmbedder`).

use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dash_core::embed::{Embedder, MiniLmEmbedder};

const SENTENCES_PER_SOURCE: usize = 1_000;
const QUERIES: usize = 500;
const WARM_UP: usize = 50;
const BATCH: usize = 32;

fn main() -> Result<(), Box<dyn Error>> {
    // NOTE: before any thread starts (setting the environment is sound only then): without it
    // candle re-reads /proc/cpuinfo at every matrix product.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        std::env::set_var("RAYON_NUM_THREADS", cpus.to_string());
    }
    println!(
        "RAYON_NUM_THREADS={}",
        std::env::var("RAYON_NUM_THREADS").unwrap_or_default()
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let model_dir = std::env::var_os("DASH_MODEL_DIR").map_or_else(
        || root.join("target/models/all-MiniLM-L6-v2"),
        PathBuf::from,
    );
    let data = root.join("../shared/data");

    let start = Instant::now();
    let embedder = MiniLmEmbedder::load(&model_dir)?;
    println!(
        "model load: {:.0} ms ({})",
        ms(start.elapsed()),
        model_dir.display()
    );

    // Throughput: 1,000 claims and 1,000 evidence sentences.
    let mut sentences = field(
        &data.join("climate-fever/claims.jsonl"),
        "text",
        SENTENCES_PER_SOURCE,
    )?;
    sentences.extend(field(
        &data.join("climate-fever/evidence_corpus.jsonl"),
        "text",
        SENTENCES_PER_SOURCE,
    )?);
    let texts: Vec<&str> = sentences.iter().map(String::as_str).collect();
    embedder.embed(&texts[..BATCH])?; // warm-up: thread pool, allocator

    let start = Instant::now();
    for chunk in texts.chunks(BATCH) {
        embedder.embed(chunk)?;
    }
    let elapsed = start.elapsed();
    println!(
        "throughput, calls of {BATCH} in file order: {:.0} sentences/s ({} sentences in {:.2} s)",
        texts.len() as f64 / elapsed.as_secs_f64(),
        texts.len(),
        elapsed.as_secs_f64()
    );
    let start = Instant::now();
    embedder.embed(&texts)?;
    let elapsed = start.elapsed();
    println!(
        "throughput, one call of {} (batches of {BATCH} inside): {:.0} sentences/s",
        texts.len(),
        texts.len() as f64 / elapsed.as_secs_f64()
    );

    // Latency: one short query per call.
    let questions = field(
        &data.join("timeqa/temporal_facts.jsonl"),
        "question",
        QUERIES,
    )?;
    for q in questions.iter().take(WARM_UP) {
        embedder.embed(&[q.as_str()])?;
    }
    let mut latencies = Vec::with_capacity(questions.len());
    for q in &questions {
        let start = Instant::now();
        embedder.embed(&[q.as_str()])?;
        latencies.push(start.elapsed());
    }
    latencies.sort_unstable();
    println!(
        "single query ({} TimeQA questions): p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.95)),
        ms(percentile(&latencies, 0.99)),
        ms(latencies.last().copied().unwrap_or_default()),
    );
    Ok(())
}

/// The string `name` of the first `limit` lines of a JSON-lines file.
fn field(path: &Path, name: &str, limit: usize) -> Result<Vec<String>, Box<dyn Error>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::with_capacity(limit);
    for line in text.lines().take(limit) {
        let value: serde_json::Value = serde_json::from_str(line)?;
        let field = value[name]
            .as_str()
            .ok_or_else(|| format!("{}: a line without a string `{name}`", path.display()))?;
        out.push(field.to_owned());
    }
    Ok(out)
}

/// The nearest-rank percentile of sorted durations.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.saturating_sub(1).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
