//! The write-path runs: Batched `ingest_batch` from producer threads, single-claim Strict
//! `ingest` from writer threads, and the bare `write + fdatasync` loop they are compared with.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use dash_bench::ingest::BATCH;
use dash_bench::stats::Lat;
use dash_bench::{synth, Res};
use dash_core::{Durability, IngestItem, Store};

use super::slow_sync::SlowSync;

/// The Batched durability of the bench: a 1,000-record / 10 ms window.
pub const BATCHED: Durability = Durability::Batched {
    max_records: 1000,
    max_delay: Duration::from_millis(10),
};

/// The result of a Batched run.
pub struct BatchedRun {
    /// Claims per second, the final flush included.
    pub rate: f64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Automatic checkpoints during the run.
    pub checkpoints: u64,
    /// How fast the generator made the claims (not part of `rate`).
    pub generated_per_s: f64,
}

/// Joins a worker thread, turning a panic into an error.
fn join<T>(handle: thread::JoinHandle<Res<T>>) -> Res<T> {
    handle.join().map_err(|_| "a bench thread panicked")?
}

/// `ingest_batch` of 1,000 claims in `Batched` mode by `producers` threads, in a fresh store
/// under `base`.
pub fn batched_ingest(base: &Path, claims: u64, producers: usize) -> Res<BatchedRun> {
    let dir = tempfile::tempdir_in(base)?;
    let store = Arc::new(Store::builder(dir.path()).durability(BATCHED).open()?);
    let batches = claims / BATCH as u64;
    // Claims are generated before the clock starts: the figure is the store's, not the generator's.
    let generating = Instant::now();
    let work: Vec<Vec<(u64, Vec<IngestItem>)>> = (0..producers as u64)
        .map(|p| {
            (0..batches)
                .filter(|b| b % producers as u64 == p)
                .map(|b| (b, synth::batch("b", b, BATCH)))
                .collect()
        })
        .collect();
    let generated = generating.elapsed();
    let start_line = Arc::new(Barrier::new(producers + 1));
    let handles: Vec<_> = work
        .into_iter()
        .map(|mine| {
            let store = Arc::clone(&store);
            let start_line = Arc::clone(&start_line);
            thread::spawn(move || -> Res<()> {
                start_line.wait();
                for (b, items) in mine {
                    store.ingest_batch(format!("batch-{b}"), items)?;
                }
                Ok(())
            })
        })
        .collect();
    start_line.wait();
    let t = Instant::now();
    for h in handles {
        join(h)?;
    }
    store.flush()?;
    let elapsed = t.elapsed();
    let stats = store.stats();
    let total = batches * BATCH as u64;
    if stats.claims != total {
        return Err(format!("the store holds {} claims, not {total}", stats.claims).into());
    }
    drop(store);
    Ok(BatchedRun {
        rate: total as f64 / elapsed.as_secs_f64(),
        elapsed,
        checkpoints: stats.checkpoints,
        generated_per_s: total as f64 / generated.as_secs_f64(),
    })
}

/// Bytes one Strict single-claim ingest adds to the WAL (the framed record), measured on a small
/// store under `base`.
pub fn record_len(base: &Path) -> Res<usize> {
    let dir = tempfile::tempdir_in(base)?;
    let store = Store::builder(dir.path()).open()?;
    let before = store.stats().wal_bytes;
    let k = 32;
    for i in 0..k {
        store.ingest(synth::claim("cal", i))?;
    }
    let after = store.stats().wal_bytes;
    Ok(usize::try_from((after - before) / k)?)
}

/// A bare `write + fdatasync` loop of `len`-byte appends to a new file in a fresh directory
/// under `base` (the same file system as the store) for `run`; appends/s.
pub fn bare_fsync(base: &Path, len: usize, run: Duration) -> Res<f64> {
    let dir = tempfile::tempdir_in(base)?;
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("bare.log"))?;
    let mut record = vec![0u8; len.max(8)];
    let t = Instant::now();
    let mut count = 0u64;
    while t.elapsed() < run {
        record[..8].copy_from_slice(&count.to_le_bytes());
        file.write_all(&record)?;
        file.sync_data()?;
        count += 1;
    }
    Ok(count as f64 / t.elapsed().as_secs_f64())
}

/// The result of a Strict run.
pub struct StrictRun {
    /// Acknowledged claims per second over all writers.
    pub rate: f64,
    /// Latency percentiles of one `ingest`.
    pub latency: Lat,
    /// WAL records per fsync (the group commit's batching; the detection stage's records count
    /// too).
    pub records_per_sync: f64,
}

/// Single-claim `ingest` in `Strict` mode from `threads` threads for `run`, every WAL fsync made
/// `extra_sync` slower. Each thread's claims are generated before the clock starts (enough for
/// twice the rate seen on the reference machine; beyond that they are generated inline).
pub fn strict_ingest(
    base: &Path,
    threads: usize,
    run: Duration,
    extra_sync: Duration,
) -> Res<StrictRun> {
    let dir = tempfile::tempdir_in(base)?;
    let store = if extra_sync.is_zero() {
        Store::builder(dir.path()).open()?
    } else {
        Store::builder_with_storage(Arc::new(SlowSync::new(dir.path(), extra_sync))).open()?
    };
    let store = Arc::new(store);
    let start_line = Arc::new(Barrier::new(threads + 1));
    let per_thread = (run.as_secs_f64() * 64_000.0 / threads as f64).ceil() as u64;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let store = Arc::clone(&store);
            let start_line = Arc::clone(&start_line);
            thread::spawn(move || -> Res<Vec<Duration>> {
                let prefix = format!("s{threads}-t{t}");
                let mut pool: Vec<IngestItem> =
                    (0..per_thread).map(|i| synth::claim(&prefix, i)).collect();
                pool.reverse();
                let mut latencies = Vec::with_capacity(pool.len());
                start_line.wait();
                let begin = Instant::now();
                let mut i = 0;
                while begin.elapsed() < run {
                    let item = pool.pop().unwrap_or_else(|| synth::claim(&prefix, i));
                    let t0 = Instant::now();
                    store.ingest(item)?;
                    latencies.push(t0.elapsed());
                    i += 1;
                }
                Ok(latencies)
            })
        })
        .collect();
    start_line.wait();
    let t = Instant::now();
    let mut latencies: Vec<Duration> = Vec::new();
    for h in handles {
        latencies.extend(join(h)?);
    }
    let elapsed = t.elapsed();
    let stats = store.stats();
    // One record per acknowledged ingest, plus the detection stage's `Derived` records.
    if stats.records_written < latencies.len() as u64 {
        return Err(format!(
            "{} WAL records for {} acknowledged ingests",
            stats.records_written,
            latencies.len()
        )
        .into());
    }
    Ok(StrictRun {
        rate: latencies.len() as f64 / elapsed.as_secs_f64(),
        latency: Lat::of(latencies),
        records_per_sync: stats.records_written as f64 / stats.wal_syncs.max(1) as f64,
    })
}
