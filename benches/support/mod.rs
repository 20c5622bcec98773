//! Shared by the criterion benches and `examples/bench_store.rs` (which includes this file by
//! path): the deterministic synthetic claims and the scratch directories on the real disk.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use dash::{Claim, Evidence, IngestItem, Stance, Timestamp};

/// The tenant every synthetic claim belongs to.
pub const TENANT: &str = "bench";

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
    "elderly",
    "patients",
    "bridge",
    "opened",
    "to",
    "traffic",
    "city",
    "council",
    "voted",
    "against",
    "proposal",
    "population",
    "declined",
    "since",
    "census",
    "court",
    "ruled",
    "law",
];

/// The integration tests' helpers: the one SplitMix64 of the project lives there.
#[path = "../../tests/common/mod.rs"]
mod common;

/// A small deterministic generator (SplitMix64), so every run ingests the same claims.
pub struct Rng(common::SplitMix);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(common::SplitMix(seed ^ 0x5DEE_CE66_D1CE_4E5B))
    }

    pub fn next(&mut self) -> u64 {
        self.0.next()
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn word(&mut self) -> &'static str {
        WORDS[self.below(WORDS.len() as u64) as usize]
    }
}

/// Synthetic claim `n` (deterministic): id `{prefix}-{n}`, ~200 bytes of text, 8 entities,
/// 2 evidence with chunk, span and source ids.
pub fn claim(prefix: &str, n: u64) -> IngestItem {
    let mut rng = Rng::new(n);
    let id = format!("{prefix}-{n:09}");
    let mut text = String::with_capacity(224);
    while text.len() < 195 {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(rng.word());
    }
    let mut c = Claim::new(TENANT, id.as_str(), text);
    c.confidence = (rng.below(1000) as f32) / 1000.0;
    c.entities = (0..8)
        .map(|_| format!("{}-{}", rng.word(), rng.below(10_000)))
        .collect();
    c.valid_from = Timestamp::from_year(1990 + rng.below(35) as i32);
    let mut item = IngestItem::new(c);
    for (k, stance) in [(1, Stance::Supports), (2, Stance::Contradicts)] {
        let mut ev = Evidence::new(
            format!("e{k}"),
            id.as_str(),
            format!("doc-{:07}", rng.below(1_000_000)),
            stance,
        );
        ev.source_quality = (rng.below(100) as f32) / 100.0;
        ev.chunk_id = Some(format!("chunk-{}", rng.below(256)));
        let start = rng.below(4000);
        ev.span_start = Some(start);
        ev.span_end = Some(start + 40 + rng.below(200));
        item = item.with_evidence(ev);
    }
    item
}

/// Claims `[index * size, (index + 1) * size)` with ids `{prefix}-{n}`.
pub fn batch(prefix: &str, index: u64, size: usize) -> Vec<IngestItem> {
    let first = index * size as u64;
    (first..first + size as u64)
        .map(|n| claim(prefix, n))
        .collect()
}

/// `sub` under the cargo target directory: on the real disk (never a tmpfs), so fsync figures
/// are the disk's.
pub fn target_dir(sub: &str) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
            PathBuf::from,
        )
        .join(sub)
}

/// A fresh scratch directory under [`target_dir`]`("bench_dirs")`.
pub fn bench_dir() -> tempfile::TempDir {
    let base = target_dir("bench_dirs");
    std::fs::create_dir_all(&base).unwrap();
    tempfile::tempdir_in(base).unwrap()
}

/// Criterion settings for this 2-core machine: 10 samples, a short warm-up, `measure` per bench.
pub fn short_config(measure: std::time::Duration) -> criterion::Criterion {
    criterion::Criterion::default()
        .sample_size(10)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(measure)
}
