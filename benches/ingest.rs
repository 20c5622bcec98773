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
//! and their targets come from `cargo run --release --example bench_store`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use dash::{Claim, Durability, Evidence, IngestItem, Stance, Store, Timestamp};

const BATCH: u64 = 1000;
const OPEN_CLAIMS: u64 = 10_000;
const BATCHED: Durability = Durability::Batched {
    max_records: 1000,
    max_delay: Duration::from_millis(10),
};

const WORDS: &[&str] = &[
    "the",
    "river",
    "company",
    "reported",
    "annual",
    "revenue",
    "growth",
    "of",
    "percent",
    "in",
    "during",
    "quarter",
    "while",
    "analysts",
    "expected",
    "lower",
    "figures",
    "after",
    "merger",
    "with",
    "regional",
    "partner",
    "board",
    "approved",
    "new",
    "chief",
    "executive",
    "officer",
    "climate",
    "temperature",
    "rose",
    "above",
    "average",
    "across",
    "northern",
    "europe",
    "study",
    "found",
    "that",
    "vaccine",
    "reduced",
    "hospital",
    "admissions",
    "by",
    "half",
    "among",
];

/// SplitMix64 step: deterministic claims without a dependency.
fn mix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Synthetic claim `n`: ~200 bytes of text, 8 entities, 2 evidence with spans and source ids.
fn claim(n: u64) -> IngestItem {
    let mut s = n ^ 0x5DEE_CE66_D1CE_4E5B;
    let id = format!("c-{n:09}");
    let mut text = String::with_capacity(224);
    while text.len() < 195 {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(WORDS[(mix(&mut s) % WORDS.len() as u64) as usize]);
    }
    let mut c = Claim::new("bench", id.as_str(), text);
    c.entities = (0..8)
        .map(|_| format!("entity-{}", mix(&mut s) % 10_000))
        .collect();
    c.valid_from = Timestamp::from_year(1990 + (mix(&mut s) % 35) as i32);
    let mut item = IngestItem::new(c);
    for (k, stance) in [(1, Stance::Supports), (2, Stance::Contradicts)] {
        let mut ev = Evidence::new(
            format!("e{k}"),
            id.as_str(),
            format!("doc-{:07}", mix(&mut s) % 1_000_000),
            stance,
        );
        ev.chunk_id = Some(format!("chunk-{}", mix(&mut s) % 256));
        let start = mix(&mut s) % 4000;
        ev.span_start = Some(start);
        ev.span_end = Some(start + 40 + mix(&mut s) % 200);
        item = item.with_evidence(ev);
    }
    item
}

/// Claims `[b * 1000, (b + 1) * 1000)`.
fn batch(b: u64) -> Vec<IngestItem> {
    (b * BATCH..(b + 1) * BATCH).map(claim).collect()
}

/// A fresh directory under the cargo target directory (a real disk, not a tmpfs).
fn bench_dir() -> tempfile::TempDir {
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"),
            PathBuf::from,
        )
        .join("bench_dirs");
    std::fs::create_dir_all(&base).unwrap();
    tempfile::tempdir_in(base).unwrap()
}

fn ingest_batch(c: &mut Criterion) {
    let mut group = c.benchmark_group("ingest_batch_1000");
    group.throughput(Throughput::Elements(BATCH));
    for (name, durability) in [("batched", BATCHED), ("strict", Durability::Strict)] {
        let dir = bench_dir();
        let store = Store::builder(dir.path())
            .durability(durability)
            .open()
            .unwrap();
        let mut next = 0u64;
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    next += 1;
                    (format!("batch-{next}"), batch(next))
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
        store.ingest_batch(format!("batch-{b}"), batch(b)).unwrap();
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
        let dir = bench_dir();
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
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3));
        targets = ingest_batch, open
    }
}
criterion_main!(group::benches);
