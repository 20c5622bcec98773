//! Criterion bench of retrieval on a small store: 20,000 claims (`dash_bench::synth::claim`,
//! plus a 64-d clustered vector and a `bucket` metadata pair) of which 16,384 are sealed into an
//! HNSW graph and the rest stay in the exact part; hybrid, lexical-only and dense-only
//! `top_k(50)` queries, a filtered one (1 % bucket) and a `recorded_as_of` one.
//!
//! ```text
//! cargo bench --bench retrieve
//! ```
//!
//! Sample counts are small (2 cores); the 1,000,000-claim figures and their targets come from
//! `cargo run --release -p dash-bench -- retrieve`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use dash::{Durability, IngestItem, Query, Store, Timestamp};
use dash_bench::rng::SplitMix;
use dash_bench::synth::{self, bench_dir, claim, CRITERION_SAMPLES, CRITERION_WARM_UP, TENANT};

const CLAIMS: u64 = 20_000;
const DIM: usize = 64;
const CLUSTERS: u64 = 64;

/// A unit-free vector near one of `CLUSTERS` fixed centres (deterministic).
fn vector(rng: &mut SplitMix, centres: &[Vec<f32>]) -> Vec<f32> {
    let centre = &centres[rng.below(CLUSTERS) as usize];
    centre
        .iter()
        .map(|c| c + (rng.below(1000) as f32 / 1000.0 - 0.5) * 0.6)
        .collect()
}

fn item(n: u64, rng: &mut SplitMix, centres: &[Vec<f32>]) -> IngestItem {
    let mut item = claim("c", n);
    item.claim.embedding = Some(vector(rng, centres));
    item.claim
        .metadata
        .insert("bucket".into(), (n % 100).to_string());
    item
}

fn retrieve(c: &mut Criterion) {
    let dir = bench_dir().unwrap();
    let store = Store::builder(dir.path())
        .durability(Durability::Batched {
            max_records: 1000,
            max_delay: Duration::from_millis(10),
        })
        .dense_seal_threshold(16_384)
        .open()
        .unwrap();
    let mut rng = synth::rng(7);
    let centres: Vec<Vec<f32>> = (0..CLUSTERS)
        .map(|_| {
            (0..DIM)
                .map(|_| rng.below(2000) as f32 / 1000.0 - 1.0)
                .collect()
        })
        .collect();
    let mut middle = None;
    for b in 0..CLAIMS / 1000 {
        let items = (b * 1000..(b + 1) * 1000)
            .map(|n| item(n, &mut rng, &centres))
            .collect();
        let receipt = store.ingest_batch(format!("b{b}"), items).unwrap();
        if b == CLAIMS / 2000 {
            middle = Some(receipt.recorded_at);
        }
    }
    store.wait_for_indexes();
    let text = "annual revenue growth reported by the regional company";
    let q = vector(&mut rng, &centres);
    let base = || Query::new(TENANT).top_k(50);
    let cases: Vec<(&str, Query)> = vec![
        ("hybrid", base().text(text).embedding(q.clone())),
        ("lexical", base().text(text)),
        ("dense", base().embedding(q.clone())),
        (
            "hybrid_filter_1pct",
            base()
                .text(text)
                .embedding(q.clone())
                .metadata("bucket", "7"),
        ),
        (
            "hybrid_recorded_as_of",
            base()
                .text(text)
                .embedding(q.clone())
                .recorded_as_of(middle.unwrap_or(Timestamp::MAX)),
        ),
    ];
    let mut group = c.benchmark_group("retrieve_top50_20k");
    for (name, query) in &cases {
        assert!(!store.retrieve(query).unwrap().results.is_empty(), "{name}");
        group.bench_function(*name, |b| {
            b.iter(|| black_box(store.retrieve(query).unwrap()))
        });
    }
    group.finish();
    store.close().unwrap();
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
        targets = retrieve
    }
}
criterion_main!(group::benches);
