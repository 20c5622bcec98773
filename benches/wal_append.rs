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
//! and their targets come from `cargo run --release --example bench_store`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::OpenOptions;
use std::hint::black_box;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use dash::{Claim, Durability, Evidence, IngestItem, Stance, Store, Timestamp};

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

fn single_ingest(c: &mut Criterion, name: &str, durability: Durability) {
    let dir = bench_dir();
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
                claim(next)
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
        let dir = bench_dir();
        let store = Store::builder(dir.path()).open().unwrap();
        let before = store.stats().wal_bytes;
        for i in 0..16 {
            store.ingest(claim(i)).unwrap();
        }
        ((store.stats().wal_bytes - before) / 16) as usize
    };
    let dir = bench_dir();
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
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
        targets = bare_fdatasync, strict, batched
    }
}
criterion_main!(group::benches);
