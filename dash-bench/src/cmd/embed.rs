//! `dash-bench embed`: how fast the local embedder (`MiniLmEmbedder`, feature `embed`) is on
//! this machine: model load time, throughput on ~2,000 Climate-FEVER sentences (claims and
//! evidence) in batches of 32, and single-query latency (p50/p95/p99) over 500 TimeQA questions
//! after a warm-up.
//!
//! ```text
//! scripts/fetch-model.sh
//! cargo run --release -p dash-bench --features embed -- embed [--model DIR] [--data DIR]
//! ```
//!
//! The model comes from `--model`, else `DASH_MODEL_DIR`, else `target/models/all-MiniLM-L6-v2`
//! of the workspace. Threads: `RAYON_NUM_THREADS`, which this command sets to the number of
//! CPUs when it is unset (see "Threads" on `MiniLmEmbedder`).

use std::path::PathBuf;

use dash_bench::{data, Res};

/// Arguments of `dash-bench embed`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model folder (`config.json`, `tokenizer.json`, `model.safetensors`) [default:
    /// $DASH_MODEL_DIR, else target/models/all-MiniLM-L6-v2].
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// The evaluation data (Climate-FEVER sentences, TimeQA questions).
    #[arg(long, default_value = data::DEFAULT_DIR)]
    pub data: PathBuf,
}

/// Without the `embed` feature there is no embedder to measure.
#[cfg(not(feature = "embed"))]
pub fn run(_args: Args) -> Res<()> {
    Err(
        "`dash-bench embed` needs the local embedder: build with `--features embed` \
         (cargo run --release -p dash-bench --features embed -- embed)"
            .into(),
    )
}

/// Loads the model and prints its load time, throughput and single-query latency.
#[cfg(feature = "embed")]
pub fn run(args: Args) -> Res<()> {
    measure::run(args)
}

/// The measures (feature `embed`).
#[cfg(feature = "embed")]
mod measure {
    use std::time::{Duration, Instant};

    use dash_bench::data::{climate_claims, climate_evidence_corpus, temporal_facts};
    use dash_bench::stats::Lat;
    use dash_bench::{machine, synth, Res};
    use dash_core::embed::{Embedder, MiniLmEmbedder};

    use super::Args;

    /// Sentences taken from each Climate-FEVER file for the throughput.
    const SENTENCES_PER_SOURCE: usize = 1_000;
    /// TimeQA questions timed one at a time.
    const QUERIES: usize = 500;
    /// Questions embedded before the timing starts.
    const WARM_UP: usize = 50;
    /// Sentences per `embed` call of the throughput run.
    const BATCH: usize = 32;

    /// Milliseconds of a duration.
    fn ms(d: Duration) -> f64 {
        d.as_secs_f64() * 1e3
    }

    /// See the module.
    pub fn run(args: Args) -> Res<()> {
        // NOTE: before any thread starts (setting the environment is sound only then; clap
        // starts none): without it candle re-reads /proc/cpuinfo at every matrix product.
        if std::env::var_os("RAYON_NUM_THREADS").is_none() {
            std::env::set_var("RAYON_NUM_THREADS", machine::cores().to_string());
        }
        println!(
            "RAYON_NUM_THREADS={}",
            std::env::var("RAYON_NUM_THREADS").unwrap_or_default()
        );
        let model_dir = args
            .model
            .or_else(|| std::env::var_os("DASH_MODEL_DIR").map(Into::into))
            .unwrap_or_else(|| synth::target_dir("models/all-MiniLM-L6-v2"));

        let start = Instant::now();
        let embedder = MiniLmEmbedder::load(&model_dir)
            .map_err(|e| format!("{}: {e} (scripts/fetch-model.sh)", model_dir.display()))?;
        println!(
            "model load: {:.0} ms ({})",
            ms(start.elapsed()),
            model_dir.display()
        );

        // Throughput: 1,000 claims and 1,000 evidence sentences.
        let mut sentences: Vec<String> = climate_claims(&args.data)?
            .into_iter()
            .take(SENTENCES_PER_SOURCE)
            .map(|c| c.text)
            .collect();
        sentences.extend(
            climate_evidence_corpus(&args.data)?
                .into_iter()
                .take(SENTENCES_PER_SOURCE)
                .map(|e| e.text),
        );
        let texts: Vec<&str> = sentences.iter().map(String::as_str).collect();
        embedder.embed(&texts[..BATCH.min(texts.len())])?; // warm-up: thread pool, allocator

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
        let questions: Vec<String> = temporal_facts(&args.data)?
            .into_iter()
            .take(QUERIES)
            .map(|f| f.question)
            .collect();
        for q in questions.iter().take(WARM_UP) {
            embedder.embed(&[q.as_str()])?;
        }
        let mut latencies = Vec::with_capacity(questions.len());
        for q in &questions {
            let start = Instant::now();
            embedder.embed(&[q.as_str()])?;
            latencies.push(start.elapsed());
        }
        let lat = Lat::of(latencies);
        println!(
            "single query ({} TimeQA questions): p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            lat.count, lat.p50_ms, lat.p95_ms, lat.p99_ms, lat.max_ms,
        );
        Ok(())
    }
}
