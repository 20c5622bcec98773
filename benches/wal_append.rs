//! Criterion bench of the WAL append path: one single-claim `ingest` per iteration in `Strict`
//! mode (one WAL record and one fdatasync each), the same in `Batched` mode (no fsync on the
//! path), and the floor both are compared against: a bare `write + fdatasync` of a record of the
//! same size on a `std::fs::File` in the same file system.
//!
//! ```text
//! cargo bench --bench wal_append
//! ```
//!
//! Sample counts and times are small (the reference machine has 2 cores); the sustained figures
//! and their targets come from `cargo run --release -p dash-bench -- store`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::OpenOptions;
use std::hint::black_box;
use std::io::Write;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use dash::{Durability, Store};
use dash_bench::synth::{bench_dir, claim, CRITERION_SAMPLES, CRITERION_WARM_UP};

fn single_ingest(c: &mut Criterion, name: &str, durability: Durability) {
    let dir = bench_dir().unwrap();
    let store = Store::builder(dir.path())
        .durability(durability)
        .open()
        .unwrap();
    let mut next = 0u64;
    let mut group = c.benchmark_group("wal_append");
    group.throughput(Throughput::Elements(1));
    group.bench_function(name, |b| {
        b.iter_batched(
            || {
                next += 1;
                claim("c", next)
            },
            |item| black_box(store.ingest(item).unwrap()),
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

fn strict(c: &mut Criterion) {
    single_ingest(c, "strict_ingest_1_claim", Durability::Strict);
}

fn batched(c: &mut Criterion) {
    single_ingest(
        c,
        "batched_ingest_1_claim",
        Durability::Batched {
            max_records: 1000,
            max_delay: Duration::from_millis(10),
        },
    );
}

fn bare_fdatasync(c: &mut Criterion) {
    // The size of one single-claim WAL record, measured on a small store.
    let len = {
        let dir = bench_dir().unwrap();
        let store = Store::builder(dir.path()).open().unwrap();
        let before = store.stats().wal_bytes;
        for i in 0..16 {
            store.ingest(claim("c", i)).unwrap();
        }
        ((store.stats().wal_bytes - before) / 16) as usize
    };
    let dir = bench_dir().unwrap();
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("bare.log"))
        .unwrap();
    let record = vec![0x5Au8; len];
    let mut group = c.benchmark_group("wal_append");
    group.throughput(Throughput::Elements(1));
    group.bench_function(format!("bare_write_{len}B_fdatasync"), |b| {
        b.iter(|| {
            file.write_all(&record).unwrap();
            file.sync_data().unwrap();
        });
    });
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
            .measurement_time(Duration::from_secs(2));
        targets = bare_fdatasync, strict, batched
    }
}
criterion_main!(group::benches);
