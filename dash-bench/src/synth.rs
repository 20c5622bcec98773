//! Deterministic synthetic claims for the write-path benches (`dash-bench store` and the criterion
//! benches `wal_append`, `ingest`, `retrieve` of the workspace), and their scratch directories on
//! the real disk.
//!
//! Claim `n` is always the same: ~200 bytes of text drawn from a word list, 8 entities, a
//! validity year and 2 evidence records with chunk ids, spans and source ids.
//!
//! ```
//! let a = dash_bench::synth::claim("c", 7);
//! assert_eq!(a.claim.claim_id.as_str(), "c-000000007");
//! assert_eq!(a.evidence.len(), 2);
//! assert_eq!(a, dash_bench::synth::claim("c", 7));
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use dash_core::{Claim, Evidence, IngestItem, Stance, Timestamp};

use crate::rng::SplitMix;
use crate::Res;

/// The tenant every synthetic claim belongs to.
pub const TENANT: &str = "bench";

/// Criterion samples per bench for a 2-core machine (the criterion benches' setting).
pub const CRITERION_SAMPLES: usize = 10;

/// Criterion warm-up per bench (the criterion benches' setting).
pub const CRITERION_WARM_UP: Duration = Duration::from_millis(500);

/// The words the claim texts are made of.
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

/// The generator of claim `seed` (and of the benches' other synthetic values): the seed is mixed
/// with a constant so that claim 0 does not start from SplitMix's zero state.
pub fn rng(seed: u64) -> SplitMix {
    SplitMix::new(seed ^ 0x5DEE_CE66_D1CE_4E5B)
}

/// A word of the claim vocabulary.
pub fn word(rng: &mut SplitMix) -> &'static str {
    // The index is below `WORDS.len()`, so it fits a usize.
    WORDS[rng.below(WORDS.len() as u64) as usize]
}

/// Synthetic claim `n` (deterministic): id `{prefix}-{n:09}`, ~200 bytes of text, 8 entities,
/// 2 evidence with chunk, span and source ids.
pub fn claim(prefix: &str, n: u64) -> IngestItem {
    let mut rng = rng(n);
    let id = format!("{prefix}-{n:09}");
    let mut text = String::with_capacity(224);
    while text.len() < 195 {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(word(&mut rng));
    }
    let mut c = Claim::new(TENANT, id.as_str(), text);
    c.confidence = (rng.below(1000) as f32) / 1000.0;
    c.entities = (0..8)
        .map(|_| format!("{}-{}", word(&mut rng), rng.below(10_000)))
        .collect();
    // Below 35, so the year fits an i32.
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

/// Claims `[index * size, (index + 1) * size)` with ids `{prefix}-{n:09}`.
pub fn batch(prefix: &str, index: u64, size: usize) -> Vec<IngestItem> {
    let first = index * size as u64;
    (first..first + size as u64)
        .map(|n| claim(prefix, n))
        .collect()
}

/// `sub` under the workspace's target directory (`CARGO_TARGET_DIR` when set): on the real disk
/// (never a tmpfs), so fsync figures are the disk's.
pub fn target_dir(sub: &str) -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")));
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace.join("target"), PathBuf::from)
        .join(sub)
}

/// A fresh scratch directory under [`target_dir`]`("bench_dirs")`, removed when dropped.
pub fn bench_dir() -> Res<tempfile::TempDir> {
    let base = target_dir("bench_dirs");
    std::fs::create_dir_all(&base).map_err(|e| format!("cannot create {}: {e}", base.display()))?;
    Ok(tempfile::tempdir_in(base)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_deterministic_and_about_200_bytes() {
        let a = claim("x", 3);
        assert_eq!(a, claim("x", 3));
        assert_ne!(a.claim.canonical_text, claim("x", 4).claim.canonical_text);
        assert!((195..260).contains(&a.claim.canonical_text.len()));
        assert_eq!(a.claim.entities.len(), 8);
        let b = batch("y", 2, 10);
        assert_eq!(b.len(), 10);
        assert_eq!(b[0].claim.claim_id.as_str(), "y-000000020");
    }
}
