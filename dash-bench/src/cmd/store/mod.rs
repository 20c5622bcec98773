//! `dash-bench store`: the store's performance check. Measures each write/open target directly
//! and prints a table.
//!
//! ```text
//! cargo run --release -p dash-bench -- store [--quick] [--cold] [--dir BASE]
//!     [--only batched,strict,strict16,emulated,open] [--writers N]
//! ```
//!
//! Every figure is wall-clock over a sustained run on a real directory (by default temporary
//! directories under `<target dir>/bench_store`; `--dir` picks another base; a tmpfs base is
//! flagged, since its fsync figures would mean nothing):
//!
//! - `batched`: `ingest_batch` of 1,000 claims with
//!   `Durability::Batched { max_records: 1000, max_delay: 10ms }`, 1,000,000 claims generated
//!   before the clock starts, automatic checkpoints on (target: at least 50,000 claims/s with one
//!   producer thread); the same with two producers, for information.
//! - `strict`: single-claim `ingest` with `Durability::Strict` from one thread for 5 s, against a
//!   bare `write + fdatasync` loop on a `std::fs::File` in the same file system with records of
//!   the same size as the store's WAL record, run before and after it (target: the store within
//!   2x of the bare loop).
//! - `strict16`: the same with 16 writer threads (`--writers` changes the count); target: at
//!   least 10x the single writer, which only group commit can give.
//! - `emulated`: both Strict runs again with every WAL fsync made 2 ms slower (a wrapper
//!   [`dash_core::Storage`]), for information: how group commit scales when the device, not the
//!   CPU, dominates.
//! - `open`: a store of 1,000,000 claims after a checkpoint (target: at most 3 s) and one of
//!   100,000 claims held only in the WAL, written with `auto_checkpoint(false)` (target: at most
//!   2 s); the median of three opens with a warm page cache, plus one cold open with `--cold`
//!   (drops the page cache: needs root). Bytes on disk per claim are reported for both.
//!
//! Claims are synthetic and deterministic ([`dash_bench::synth::claim`]): ~200 bytes of text
//! from a word list, 8 entities, a validity year, and 2 evidence records with chunk ids, spans
//! and source ids.
//!
//! `--quick` shrinks everything (20,000 batched claims, 1 s runs, 100,000 checkpointed claims,
//! 20,000 WAL claims) for a smoke run; its open rows are still judged against the full-size
//! targets. A failed target is a row marked FAIL, not an error: the table is the result.

mod disk;
mod ingest;
mod open;
mod phases;
mod slow_sync;
mod table;

use std::path::{Path, PathBuf};
use std::time::Duration;

use dash_bench::{machine, synth, Res};

/// The phases `--only` can pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Phase {
    /// `ingest_batch(1000)` in Batched mode, 1 and 2 producers.
    Batched,
    /// Single-claim Strict ingest from one thread, against a bare `write + fdatasync` loop.
    Strict,
    /// Single-claim Strict ingest from `--writers` threads (group commit).
    Strict16,
    /// Both Strict runs with every WAL fsync made 2 ms slower.
    Emulated,
    /// Open times after a checkpoint and from the WAL alone, and bytes on disk per claim.
    Open,
}

/// Arguments of `dash-bench store`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Shrink everything for a smoke run (20,000 batched claims, 1 s runs, 100,000 checkpointed
    /// and 20,000 WAL claims); the open rows are still judged against the full-size targets.
    #[arg(long)]
    pub quick: bool,
    /// Also time one open after dropping the page cache (needs root).
    #[arg(long)]
    pub cold: bool,
    /// The directory the stores are created in, on the disk to measure [default:
    /// <target dir>/bench_store].
    #[arg(long = "dir", value_name = "BASE")]
    pub base: Option<PathBuf>,
    /// Run only these phases (comma-separated) [default: all].
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Phase>,
    /// Writer threads of the concurrent Strict runs (`strict16`, `emulated`).
    #[arg(long, default_value_t = 16)]
    pub writers: usize,
}

impl Args {
    /// Whether `phase` is to run.
    fn runs(&self, phase: Phase) -> bool {
        self.only.is_empty() || self.only.contains(&phase)
    }
}

/// How much each phase writes and for how long.
struct Sizes {
    /// Claims of the Batched ingest runs.
    batched_claims: u64,
    /// Duration of each Strict run and bare fsync loop.
    run: Duration,
    /// Claims of the checkpointed store opened.
    open_ckpt_claims: u64,
    /// Claims of the WAL-only store opened (batches of 1,000).
    open_wal_claims: u64,
    /// Claims of the WAL-only store of single-claim records.
    open_wal_single_claims: u64,
}

impl Sizes {
    /// The full-size run, or the `--quick` one.
    fn new(quick: bool) -> Self {
        if quick {
            Self {
                batched_claims: 20_000,
                run: Duration::from_secs(1),
                open_ckpt_claims: 100_000,
                open_wal_claims: 20_000,
                open_wal_single_claims: 5_000,
            }
        } else {
            Self {
                batched_claims: 1_000_000,
                run: Duration::from_secs(5),
                open_ckpt_claims: 1_000_000,
                open_wal_claims: 100_000,
                open_wal_single_claims: 100_000,
            }
        }
    }
}

/// Runs the chosen phases and prints the table.
pub fn run(args: Args) -> Res<()> {
    let sizes = Sizes::new(args.quick);
    let base = args
        .base
        .clone()
        .unwrap_or_else(|| synth::target_dir("bench_store"));
    std::fs::create_dir_all(&base).map_err(|e| format!("cannot create {}: {e}", base.display()))?;
    print_header(&base, args.quick);

    let mut rows = Vec::new();
    if args.runs(Phase::Batched) {
        phases::batched(&base, &sizes, &mut rows)?;
    }
    let single = if args.runs(Phase::Strict) {
        Some(phases::strict(&base, &sizes, &mut rows)?)
    } else {
        None
    };
    if args.runs(Phase::Strict16) {
        phases::strict_concurrent(&base, &sizes, args.writers, single, &mut rows)?;
    }
    if args.runs(Phase::Emulated) {
        phases::emulated(&base, &sizes, args.writers, &mut rows)?;
    }
    if args.runs(Phase::Open) {
        phases::open(&base, &sizes, args.cold, &mut rows)?;
    }
    table::print(&rows);
    if args.quick {
        println!();
        println!(
            "--quick: sizes and run times are reduced; the open rows are judged against the \
             full-size targets."
        );
    }
    Ok(())
}

/// The machine, the directory (and its file system) and the claims measured.
fn print_header(base: &Path, quick: bool) {
    let cpu = machine::cpu_model().unwrap_or_else(|| "?".into());
    let mem = machine::describe()["memory"]
        .as_str()
        .and_then(|line| line.split_once(':'))
        .map_or_else(|| "?".into(), |(_, v)| v.trim().to_owned());
    println!("dash-bench store{}", if quick { " --quick" } else { "" });
    println!("machine: {} cores, {cpu}, {mem} RAM", machine::cores());
    match disk::mount_of(base) {
        Some(m) => {
            println!(
                "dir:     {} ({} on {}, mounted at {})",
                base.display(),
                m.fs_type,
                m.device,
                m.mount_point
            );
            if m.fs_type == "tmpfs" || m.fs_type == "ramfs" {
                println!(
                    "WARNING: {} has no real fsync; pass --dir on a disk-backed file system",
                    m.fs_type
                );
            }
        }
        None => println!("dir:     {}", base.display()),
    }
    let sample = synth::claim("x", 0);
    println!(
        "claims:  {}-byte text, {} entities, {} evidence each",
        sample.claim.canonical_text.len(),
        sample.claim.entities.len(),
        sample.evidence.len()
    );
    println!();
}
