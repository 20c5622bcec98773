//! The phases of `dash-bench store`: each runs its measures and adds its rows to the table.

use std::path::Path;
use std::time::Duration;

use dash_bench::Res;

use super::disk::du;
use super::ingest::{bare_fsync, batched_ingest, record_len, strict_ingest};
use super::open::{build_store, time_open, OpenRun, Records};
use super::table::{judged, ms, row, thousands as n, Row};
use super::Sizes;

/// The extra delay of every WAL fsync in the `emulated` phase.
const EMULATED_SYNC: Duration = Duration::from_millis(2);

/// `batched`: `ingest_batch(1000)` with one producer (judged) and two (informational).
pub fn batched(base: &Path, sizes: &Sizes, rows: &mut Vec<Row>) -> Res<()> {
    eprintln!("batched ingest: {} claims ...", sizes.batched_claims);
    let one = batched_ingest(base, sizes.batched_claims, 1)?;
    rows.push(judged(
        format!(
            "batched ingest_batch(1000), {} claims, 1 producer",
            n(sizes.batched_claims as f64)
        ),
        format!(
            "{} claims/s ({:.2} s, {} auto checkpoints)",
            n(one.rate),
            one.elapsed.as_secs_f64(),
            one.checkpoints
        ),
        ">= 50,000 claims/s",
        one.rate >= 50_000.0,
    ));
    eprintln!("batched ingest, 2 producers ...");
    let two = batched_ingest(base, sizes.batched_claims, 2)?;
    rows.push(row(
        "  same, 2 producer threads",
        format!(
            "{} claims/s ({:.2} s)",
            n(two.rate),
            two.elapsed.as_secs_f64()
        ),
    ));
    rows.push(row(
        "  (claim generator alone, not in the figures above)",
        format!("{} claims/s", n(one.generated_per_s)),
    ));
    Ok(())
}

/// `strict`: the bare loop (before and after) and the single Strict writer; returns the writer's
/// rate.
pub fn strict(base: &Path, sizes: &Sizes, rows: &mut Vec<Row>) -> Res<f64> {
    let len = record_len(base)?;
    eprintln!("bare write+fdatasync of {len} bytes ...");
    let bare_before = bare_fsync(base, len, sizes.run)?;
    eprintln!("strict ingest, 1 thread ...");
    let single = strict_ingest(base, 1, sizes.run, Duration::ZERO)?;
    eprintln!("bare write+fdatasync again ...");
    let bare_after = bare_fsync(base, len, sizes.run)?;
    let bare = (bare_before + bare_after) / 2.0;
    rows.push(row(
        format!("bare write({len} B)+fdatasync loop"),
        format!(
            "{} appends/s (before {}, after {})",
            n(bare),
            n(bare_before),
            n(bare_after)
        ),
    ));
    rows.push(judged(
        "strict ingest, 1 writer",
        format!(
            "{} claims/s = bare / {:.2} (p50 {}, p99 {})",
            n(single.rate),
            bare / single.rate,
            ms(single.latency.p50_ms),
            ms(single.latency.p99_ms)
        ),
        "within 2x of bare",
        single.rate * 2.0 >= bare,
    ));
    Ok(single.rate)
}

/// `strict16`: Strict ingest from `writers` threads, judged against the single writer's rate
/// when the `strict` phase ran.
pub fn strict_concurrent(
    base: &Path,
    sizes: &Sizes,
    writers: usize,
    single: Option<f64>,
    rows: &mut Vec<Row>,
) -> Res<()> {
    eprintln!("strict ingest, {writers} threads ...");
    let many = strict_ingest(base, writers, sizes.run, Duration::ZERO)?;
    let name = format!("strict ingest, {writers} writers");
    let detail = format!(
        "{:.1} records/fsync, p50 {}, p99 {}",
        many.records_per_sync,
        ms(many.latency.p50_ms),
        ms(many.latency.p99_ms)
    );
    rows.push(match single {
        Some(single) => judged(
            name,
            format!(
                "{} claims/s = {:.1}x single ({detail})",
                n(many.rate),
                many.rate / single
            ),
            ">= 10x single writer",
            many.rate >= 10.0 * single,
        ),
        None => row(name, format!("{} claims/s ({detail})", n(many.rate))),
    });
    Ok(())
}

/// `emulated`: single and concurrent Strict ingest with every WAL fsync made 2 ms slower
/// (informational).
pub fn emulated(base: &Path, sizes: &Sizes, writers: usize, rows: &mut Vec<Row>) -> Res<()> {
    eprintln!("strict ingest with fsync + 2 ms, 1 and {writers} threads ...");
    let one = strict_ingest(base, 1, sizes.run, EMULATED_SYNC)?;
    let many = strict_ingest(base, writers, sizes.run, EMULATED_SYNC)?;
    rows.push(row(
        "  emulated slow disk (fsync + 2 ms), 1 writer",
        format!("{} claims/s (p50 {})", n(one.rate), ms(one.latency.p50_ms)),
    ));
    rows.push(row(
        format!("  emulated slow disk (fsync + 2 ms), {writers} writers"),
        format!(
            "{} claims/s = {:.1}x single ({:.1} records/fsync, p50 {})",
            n(many.rate),
            many.rate / one.rate,
            many.records_per_sync,
            ms(many.latency.p50_ms)
        ),
    ));
    Ok(())
}

/// `, cold cache 1.234 s` when a cold open was timed.
fn cold_note(run: &OpenRun) -> String {
    run.cold
        .map(|c| format!(", cold cache {:.3} s", c.as_secs_f64()))
        .unwrap_or_default()
}

/// Whether the warm median and the cold open (if any) are within `limit`.
fn within(run: &OpenRun, limit: Duration) -> bool {
    run.median <= limit && run.cold.is_none_or(|c| c <= limit)
}

/// `open`: a checkpointed store, a WAL-only store of batches and one of single-claim records;
/// open times and bytes on disk per claim.
pub fn open(base: &Path, sizes: &Sizes, cold: bool, rows: &mut Vec<Row>) -> Res<()> {
    // Open after a checkpoint.
    let ck_dir = tempfile::tempdir_in(base)?;
    eprintln!(
        "building a checkpointed store of {} claims ...",
        sizes.open_ckpt_claims
    );
    let built = build_store(
        ck_dir.path(),
        sizes.open_ckpt_claims,
        true,
        Records::Batches,
    )?;
    let ck = time_open(
        ck_dir.path(),
        sizes.open_ckpt_claims,
        cold,
        Records::Batches,
    )?;
    let (ck_apparent, ck_alloc) = du(ck_dir.path());
    drop(ck_dir);
    let ck_claims = ck.stats.claims as f64;
    rows.push(judged(
        format!("open, {} claims checkpointed", n(ck_claims)),
        format!(
            "{:.3} s median of 3{} ({} segments)",
            ck.median.as_secs_f64(),
            cold_note(&ck),
            ck.stats.segments,
        ),
        "<= 3 s (1,000,000 claims)",
        within(&ck, Duration::from_secs(3)),
    ));
    rows.push(row(
        format!(
            "  build: ingest_batch(1000) of {} claims, generated inline",
            n(ck_claims)
        ),
        format!(
            "{} claims/s ({:.1} s, with auto checkpoints and a final one)",
            n(ck_claims / built.as_secs_f64()),
            built.as_secs_f64()
        ),
    ));
    rows.push(row(
        "  bytes on disk per claim (checkpointed)",
        format!(
            "{:.0} B (du {} MB apparent, {} MB allocated; live segments {} MB, WAL {} B)",
            ck_alloc as f64 / ck_claims,
            n(ck_apparent as f64 / 1e6),
            n(ck_alloc as f64 / 1e6),
            n(ck.stats.segment_bytes as f64 / 1e6),
            ck.stats.wal_bytes
        ),
    ));

    // Open with everything in the WAL.
    let wal_dir = tempfile::tempdir_in(base)?;
    eprintln!(
        "building a WAL-only store of {} claims ...",
        sizes.open_wal_claims
    );
    build_store(
        wal_dir.path(),
        sizes.open_wal_claims,
        false,
        Records::Batches,
    )?;
    let wal = time_open(
        wal_dir.path(),
        sizes.open_wal_claims,
        cold,
        Records::Batches,
    )?;
    let (wal_apparent, wal_alloc) = du(wal_dir.path());
    drop(wal_dir);
    let wal_claims = wal.stats.claims as f64;
    rows.push(judged(
        format!(
            "open, {} claims WAL-only ({} batch records)",
            n(wal_claims),
            wal.replayed
        ),
        format!(
            "{:.3} s median of 3{}",
            wal.median.as_secs_f64(),
            cold_note(&wal)
        ),
        "<= 2 s (100,000 claims)",
        within(&wal, Duration::from_secs(2)),
    ));
    rows.push(row(
        "  bytes on disk per claim (WAL-only)",
        format!(
            "{:.0} B (du {} MB apparent, {} MB allocated)",
            wal_alloc as f64 / wal_claims,
            n(wal_apparent as f64 / 1e6),
            n(wal_alloc as f64 / 1e6)
        ),
    ));

    let single_dir = tempfile::tempdir_in(base)?;
    eprintln!(
        "building a WAL-only store of {} single-claim records ...",
        sizes.open_wal_single_claims
    );
    build_store(
        single_dir.path(),
        sizes.open_wal_single_claims,
        false,
        Records::Single,
    )?;
    let one = time_open(
        single_dir.path(),
        sizes.open_wal_single_claims,
        false,
        Records::Single,
    )?;
    drop(single_dir);
    rows.push(row(
        format!(
            "  open, {} claims WAL-only as {} single-claim records",
            n(one.stats.claims as f64),
            n(one.replayed as f64)
        ),
        format!("{:.3} s median of 3", one.median.as_secs_f64()),
    ));
    Ok(())
}
