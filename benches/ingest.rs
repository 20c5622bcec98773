//! Criterion bench of ingest and open: `ingest_batch` of 1,000 claims (in `Batched` mode with a
//! 1,000-record / 10 ms window, and in `Strict` mode), and opening a small store — 10,000 claims
//! held only in the WAL (replayed at open) and the same after a checkpoint (segments loaded and
//! verified).
//!
//! ```text
//! cargo bench --bench ingest
//! ```
//!
//! Sample counts and times are small (the reference machine has 2 cores); the sustained figures
//! and their targets come from `cargo run --release -p dash-bench -- store`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use dash::{Durability, Store};
use dash_bench::synth::{batch, bench_dir, CRITERION_SAMPLES, CRITERION_WARM_UP};

const BATCH: u64 = 1000;
const OPEN_CLAIMS: u64 = 10_000;
const BATCHED: Durability = Durability::Batched {
    max_records: 1000,
    max_delay: Duration::from_millis(10),
};

fn ingest_batch(c: &mut Criterion) {
    let mut group = c.benchmark_group("ingest_batch_1000");
    group.throughput(Throughput::Elements(BATCH));
    for (name, durability) in [("batched", BATCHED), ("strict", Durability::Strict)] {
        let dir = bench_dir().unwrap();
        let store = Store::builder(dir.path())
            .durability(durability)
            .open()
            .unwrap();
        let mut next = 0u64;
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    next += 1;
                    (format!("batch-{next}"), batch("c", next, BATCH as usize))
                },
                |(commit_id, items)| black_box(store.ingest_batch(commit_id, items).unwrap()),
                BatchSize::PerIteration,
            );
        });
        store.close().unwrap();
    }
    group.finish();
}

/// A store of `OPEN_CLAIMS` claims written in batches; checkpointed or left in the WAL.
fn small_store(dir: &Path, checkpointed: bool) {
    let store = Store::builder(dir)
        .durability(BATCHED)
        .auto_checkpoint(false)
        .open()
        .unwrap();
    for b in 0..OPEN_CLAIMS / BATCH {
        store
            .ingest_batch(format!("batch-{b}"), batch("c", b, BATCH as usize))
            .unwrap();
    }
    if checkpointed {
        store.checkpoint().unwrap();
    }
    store.close().unwrap();
}

fn open(c: &mut Criterion) {
    let mut group = c.benchmark_group("open_10k_claims");
    group.throughput(Throughput::Elements(OPEN_CLAIMS));
    for (name, checkpointed) in [("wal_replay", false), ("checkpointed", true)] {
        let dir = bench_dir().unwrap();
        small_store(dir.path(), checkpointed);
        group.bench_function(name, |b| {
            b.iter(|| {
                let store = Store::builder(dir.path())
                    .auto_checkpoint(false)
                    .open()
                    .unwrap();
                assert_eq!(black_box(store.stats().claims), OPEN_CLAIMS);
                store.close().unwrap();
            });
        });
    }
    group.finish();
}

/// The criterion group (in a private module: the macro's function has no doc comment).
mod group {
    use super::*;

    criterion_group! {
        name = benches;
        config = Criterion::default()
            .sample_size(CRITERION_SAMPLES)
            .warm_up_time(CRITERION_WARM_UP)
            .measurement_time(Duration::from_secs(3));
        targets = ingest_batch, open
    }
}
criterion_main!(group::benches);
