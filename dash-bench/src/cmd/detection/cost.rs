//! The detection stage's cost, on the common synthetic corpus (one tenant, text only or with
//! the corpus vectors): acknowledged ingest with detection off and on, the stage's throughput
//! on the last 10 % of the corpus, and its lag while ingesting at a fixed rate.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dash_bench::corpus::Synthetic;
use dash_bench::stats::percentile;
use dash_bench::{ingest, machine, Res};
use dash_core::detect::DetectionConfig;
use dash_core::{Durability, IngestItem, Store, TenantId};

/// The one tenant of the corpus' claims.
const TENANT: &str = "bench";

/// The pace of the lag run, in claims per second.
const LAG_RATE: f64 = 2000.0;

/// Claims per batch of the lag run.
const LAG_BATCH: usize = 100;

/// The claims of the paced part of the lag run, at most.
const LAG_CLAIMS: usize = 40_000;

/// How often the lag is sampled.
const LAG_SAMPLE: Duration = Duration::from_millis(50);

/// The corpus' first `n` claims (fewer if it is smaller) in one tenant: text only, or with their
/// corpus vectors when `vectors` is set.
fn items(synthetic: &Path, n: usize, vectors: bool) -> Res<Vec<IngestItem>> {
    let corpus = Synthetic::open(synthetic)?;
    let n = n.min(corpus.len()?);
    let mut items = if vectors {
        corpus.items(0, n)?
    } else {
        let mut items = Vec::with_capacity(n);
        corpus.for_each_line(0, n, |i, line| {
            let item: IngestItem = serde_json::from_str(line)
                .map_err(|e| format!("claims.jsonl line {}: {e}", i + 1))?;
            items.push(item);
            Ok(())
        })?;
        items
    };
    for item in &mut items {
        item.claim.tenant_id = TenantId::new(TENANT);
    }
    Ok(items)
}

/// What the claims carry, for the tables' titles.
fn carried(items: &[IngestItem]) -> &'static str {
    if items.iter().any(|i| i.claim.embedding.is_some()) {
        "text and 128-d vectors"
    } else {
        "text only"
    }
}

/// CPU seconds the detection stage's thread (`dash-detect`) has used, if it is found.
fn stage_cpu_seconds() -> Option<f64> {
    for entry in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if comm.trim() == "dash-detect" {
            let task = format!("self/task/{}", entry.file_name().to_string_lossy());
            return Some(machine::cpu_secs(&task));
        }
    }
    None
}

/// A Strict store in `dir`.
fn strict_store(dir: &Path) -> Res<Store> {
    Ok(Store::builder(dir).durability(Durability::Strict).open()?)
}

/// Prints the three cost tables for the first `n` claims of the corpus in `synthetic` (with
/// their vectors when `vectors` is set).
pub fn run(synthetic: &Path, n: usize, vectors: bool, scratch: &Path) -> Res<()> {
    let items = items(synthetic, n, vectors)?;
    ingest_rate(&items, scratch)?;
    throughput(&items, scratch)?;
    lag(&items, scratch)
}

/// Acknowledged ingest with detection off and on, twice each.
fn ingest_rate(items: &[IngestItem], scratch: &Path) -> Res<()> {
    println!(
        "## Cost: {} synthetic claims (one tenant, {}), Strict\n",
        items.len(),
        carried(items)
    );
    println!(
        "| detection | acknowledged claims/s | stage caught up after (s) | edges | pairs judged \
         |\n|---|---|---|---|---|"
    );
    let mut rates = Vec::new();
    for (name, config) in [
        ("off", DetectionConfig::disabled()),
        ("on", DetectionConfig::default()),
        ("off", DetectionConfig::disabled()),
        ("on", DetectionConfig::default()),
    ] {
        let dir = scratch.join(format!("cost-{name}-{}", rates.len()));
        let store = Store::builder(&dir)
            .durability(Durability::Strict)
            .detection(config)
            .open()?;
        let start = Instant::now();
        ingest::in_batches(&store, items.iter().cloned(), "b", ingest::BATCH)?;
        let ingest_secs = start.elapsed().as_secs_f64();
        let rate = items.len() as f64 / ingest_secs;
        store.wait_for_detection();
        let total = start.elapsed().as_secs_f64();
        let st = store.stats();
        println!(
            "| {name} | {rate:.0} | {:.1} | {} | {} |",
            total - ingest_secs,
            st.detected_edges,
            st.detection_pairs_judged
        );
        rates.push((name, rate));
        store.close()?;
        std::fs::remove_dir_all(&dir)?;
    }
    let mean = |which: &str| {
        let v: Vec<f64> = rates.iter().filter(|r| r.0 == which).map(|r| r.1).collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    println!(
        "\nAcknowledged ingest with detection on: {:.1} % of the rate with it off (mean of two \
         runs each; target ≥ 95 %).\n",
        100.0 * mean("on") / mean("off")
    );
    Ok(())
}

/// The stage's throughput on the last 10 % of the corpus, in a tenant holding the rest.
fn throughput(items: &[IngestItem], scratch: &Path) -> Res<()> {
    let tail = items.len() / 10;
    let (preload, last) = items.split_at(items.len() - tail);
    let store = strict_store(&scratch.join("throughput"))?;
    ingest::in_batches(&store, preload.iter().cloned(), "pre", ingest::BATCH)?;
    store.wait_for_detection();
    let (cpu0, before) = (stage_cpu_seconds(), store.stats());
    let start = Instant::now();
    ingest::in_batches(&store, last.iter().cloned(), "last", ingest::BATCH)?;
    store.wait_for_detection();
    let wall = start.elapsed().as_secs_f64();
    let after = store.stats();
    let cpu = stage_cpu_seconds().zip(cpu0).map(|(b, a)| b - a);
    let per_claim = |a: u64, b: u64| a.saturating_sub(b) as f64 / tail.max(1) as f64;
    println!(
        "## Stage throughput: the last {tail} claims into a tenant of {} claims\n\n\
         | claims/s (wall, ingest included) | claims per stage CPU-second | pairs judged / claim \
         | postings read / claim |\n|---|---|---|---|\n\
         | {:.0} | {} | {:.2} | {:.0} |\n\nTarget: ≥ 5,000 claims/s.\n",
        preload.len(),
        tail as f64 / wall,
        cpu.map_or("n/a".into(), |c| format!(
            "{:.0}",
            tail as f64 / c.max(1e-9)
        )),
        per_claim(after.detection_pairs_judged, before.detection_pairs_judged),
        per_claim(
            after.detection_postings_read,
            before.detection_postings_read
        ),
    );
    store.close()?;
    Ok(())
}

/// The stage's lag while ingesting at 2,000 claims/s in batches of 100 into a tenant that
/// already holds most of the corpus (sampled every 50 ms).
fn lag(items: &[IngestItem], scratch: &Path) -> Res<()> {
    let paced = items.len().min(LAG_CLAIMS);
    let (preload, tail) = items.split_at(items.len() - paced);
    let store = Arc::new(strict_store(&scratch.join("lag"))?);
    ingest::in_batches(&store, preload.iter().cloned(), "pre", ingest::BATCH)?;
    store.wait_for_detection();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (store, done) = (Arc::clone(&store), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !done.load(Ordering::Relaxed) {
                samples.push(store.stats().detection_lag_ms as f64);
                std::thread::sleep(LAG_SAMPLE);
            }
            samples
        })
    };
    let start = Instant::now();
    let paced_ingest = || -> Res<()> {
        for (i, chunk) in tail.chunks(LAG_BATCH).enumerate() {
            let due = Duration::from_secs_f64((i * LAG_BATCH) as f64 / LAG_RATE);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
            store.ingest_batch(format!("tail-{i}"), chunk.to_vec())?;
        }
        Ok(())
    };
    let ingested = paced_ingest();
    let achieved = tail.len() as f64 / start.elapsed().as_secs_f64();
    store.wait_for_detection();
    // Stop the sampler before reporting an ingest error, so that it does not run on.
    done.store(true, Ordering::Relaxed);
    let mut samples = sampler.join().map_err(|_| "the lag sampler panicked")?;
    ingested?;
    samples.sort_by(f64::total_cmp);
    println!(
        "## Stage lag while ingesting {} claims at {achieved:.0} claims/s (batches of \
         {LAG_BATCH}) into a tenant of {} claims\n\n| lag p50 | lag p95 | lag max |\n\
         |---|---|---|\n| {:.0} ms | {:.0} ms | {:.0} ms |\n\nTarget: p95 ≤ 1,000 ms.\n",
        tail.len(),
        preload.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.95),
        samples.last().copied().unwrap_or(0.0)
    );
    Ok(())
}
