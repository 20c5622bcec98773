//! Building a store of synthetic claims and timing its open.

use std::path::Path;
use std::time::{Duration, Instant};

use dash_bench::ingest::BATCH;
use dash_bench::{synth, Res};
use dash_core::{Store, StoreStats, TenantId};

use super::disk::drop_page_cache;
use super::ingest::BATCHED;

/// How the claims of [`build_store`] reach the WAL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Records {
    /// `ingest_batch` of 1,000 claims (ids `o-…`).
    Batches,
    /// One `ingest` per claim (ids `w-…`).
    Single,
}

impl Records {
    /// The id prefix of the claims written this way.
    pub fn prefix(self) -> &'static str {
        match self {
            Records::Batches => "o",
            Records::Single => "w",
        }
    }
}

/// Writes `claims` claims in Batched mode, then checkpoints (`checkpointed`) or leaves them all
/// in the WAL (automatic checkpoints off); the time it took.
pub fn build_store(dir: &Path, claims: u64, checkpointed: bool, records: Records) -> Res<Duration> {
    let t = Instant::now();
    let store = Store::builder(dir)
        .durability(BATCHED)
        .auto_checkpoint(checkpointed)
        .open()?;
    match records {
        Records::Single => {
            for i in 0..claims {
                store.ingest(synth::claim(records.prefix(), i))?;
            }
        }
        Records::Batches => {
            for b in 0..claims / BATCH as u64 {
                store.ingest_batch(
                    format!("batch-{b}"),
                    synth::batch(records.prefix(), b, BATCH),
                )?;
            }
        }
    }
    if checkpointed {
        store.checkpoint()?;
    }
    store.close()?;
    Ok(t.elapsed())
}

/// The timings of [`time_open`] and what the store held.
pub struct OpenRun {
    /// The median of three opens with a warm page cache.
    pub median: Duration,
    /// One open after dropping the page cache, when asked and allowed.
    pub cold: Option<Duration>,
    /// The store's counters after the last warm open.
    pub stats: StoreStats,
    /// WAL records replayed at open.
    pub replayed: u64,
}

/// Opens the store in `dir` three times (median) and once after dropping the page cache if
/// `cold`; each open must find `expected` claims, the middle one among them.
pub fn time_open(dir: &Path, expected: u64, cold: bool, records: Records) -> Res<OpenRun> {
    let open = || -> Res<(Duration, Store)> {
        let t = Instant::now();
        let store = Store::builder(dir).auto_checkpoint(false).open()?;
        Ok((t.elapsed(), store))
    };
    let probe = format!("{}-{:09}", records.prefix(), expected / 2);
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..3 {
        let (elapsed, store) = open()?;
        times.push(elapsed);
        let stats = store.stats();
        if stats.claims != expected {
            return Err(format!("{} claims after open, not {expected}", stats.claims).into());
        }
        if store
            .get_claim(&TenantId::new(synth::TENANT), &probe.as_str().into())?
            .is_none()
        {
            return Err(format!("claim {probe} missing after open").into());
        }
        last = Some((stats, store.recovery_report().records_replayed));
        store.close()?;
    }
    times.sort_unstable();
    let cold = if cold && drop_page_cache() {
        let (elapsed, store) = open()?;
        store.close()?;
        Some(elapsed)
    } else {
        None
    };
    let (stats, replayed) = last.ok_or("no open was timed")?;
    Ok(OpenRun {
        median: times[times.len() / 2],
        cold,
        stats,
        replayed,
    })
}
