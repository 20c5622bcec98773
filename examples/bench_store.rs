//! The DASH performance check: measures each write/open target directly and prints a table.
//!
//! ```text
//! cargo run --release --example bench_store -- [--quick] [--cold] [--dir BASE]
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
//!   [`Storage`]), for information: how group commit scales when the device, not the CPU,
//!   dominates.
//! - `open`: a store of 1,000,000 claims after a checkpoint (target: at most 3 s) and one of
//!   100,000 claims held only in the WAL, written with `auto_checkpoint(false)` (target: at most
//!   2 s); the median of three opens with a warm page cache, plus one cold open with `--cold`
//!   (drops the page cache: needs root). Bytes on disk per claim are reported for both.
//!
//! Claims are synthetic and deterministic: ~200 bytes of text from a word list, 8 entities, a
//! validity year, and 2 evidence records with chunk ids, spans and source ids.
//!
//! `--quick` shrinks everything (20,000 batched claims, 1 s runs, 100,000 checkpointed claims,
//! 20,000 WAL claims) for a smoke run; its open rows are still judged against the full-size
//! targets. The command always exits 0: the table is the result.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

#[path = "../benches/support/mod.rs"]
mod support;

use support::{batch, claim, target_dir, TENANT};

use dash::{Durability, FileStorage, IngestItem, Storage, StorageFile, Store, TenantId};

const BATCH: usize = 1000;
const BATCHED: Durability = Durability::Batched {
    max_records: 1000,
    max_delay: Duration::from_millis(10),
};

struct Args {
    quick: bool,
    cold: bool,
    base: PathBuf,
    /// Run only these phases (`batched`, `strict`, `strict16`, `emulated`, `open`); empty: all.
    only: Vec<String>,
    /// Writer threads of the concurrent Strict run.
    writers: usize,
}

impl Args {
    fn runs(&self, phase: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|p| p == phase)
    }
}

fn parse_args() -> Args {
    let mut args = Args {
        quick: false,
        cold: false,
        base: target_dir("bench_store"),
        only: Vec::new(),
        writers: 16,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => args.quick = true,
            "--cold" => args.cold = true,
            "--dir" => args.base = PathBuf::from(it.next().expect("--dir needs a path")),
            "--only" => args.only.extend(
                it.next()
                    .expect("--only needs batched,strict,strict16,emulated,open")
                    .split(',')
                    .map(str::to_string),
            ),
            "--writers" => {
                args.writers = it
                    .next()
                    .and_then(|w| w.parse().ok())
                    .expect("--writers needs a number")
            }
            "-h" | "--help" => {
                println!(
                    "usage: bench_store [--quick] [--cold] [--dir BASE] \
                     [--only batched,strict,strict16,emulated,open] [--writers N]"
                );
                std::process::exit(0);
            }
            other => {
                eprintln!("unknown argument {other:?} (try --help)");
                std::process::exit(2);
            }
        }
    }
    args
}

struct Sizes {
    batched_claims: u64,
    run: Duration,
    open_ckpt_claims: u64,
    open_wal_claims: u64,
    open_wal_single_claims: u64,
}

struct Row {
    name: String,
    figure: String,
    target: String,
    pass: Option<bool>,
}

fn row(name: impl Into<String>, figure: impl Into<String>) -> Row {
    Row {
        name: name.into(),
        figure: figure.into(),
        target: "-".into(),
        pass: None,
    }
}

fn judged(name: impl Into<String>, figure: String, target: &str, pass: bool) -> Row {
    Row {
        name: name.into(),
        figure,
        target: target.into(),
        pass: Some(pass),
    }
}

/// Thousands separators for the table.
fn n(x: f64) -> String {
    let s = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn first_line_with(path: &str, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

/// The mount (device, mount point, type) that holds `path`: the longest matching mount point.
fn mount_of(path: &Path) -> Option<(String, String, String)> {
    let path = path.canonicalize().ok()?;
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3).then(|| (f[0].to_string(), f[1].to_string(), f[2].to_string()))
        })
        .filter(|(_, mnt, _)| path.starts_with(mnt))
        .max_by_key(|(_, mnt, _)| mnt.len())
}

/// Apparent bytes and allocated bytes (st_blocks * 512) of every file under `dir`.
fn du(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let mut apparent = 0;
    let mut allocated = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            let (a, b) = du(&entry.path());
            apparent += a;
            allocated += b;
        } else {
            apparent += meta.len();
            allocated += meta.blocks() * 512;
        }
    }
    (apparent, allocated)
}

struct BatchedRun {
    rate: f64,
    elapsed: Duration,
    checkpoints: u64,
    /// How fast the generator made the claims (not part of `rate`).
    generated_per_s: f64,
}

/// `ingest_batch` of 1,000 claims in `Batched` mode by `producers` threads; claims/s including
/// the final flush.
fn batched_ingest(base: &Path, claims: u64, producers: usize) -> BatchedRun {
    let dir = tempfile::tempdir_in(base).unwrap();
    let store = Arc::new(
        Store::builder(dir.path())
            .durability(BATCHED)
            .open()
            .unwrap(),
    );
    let batches = claims / BATCH as u64;
    // Claims are generated before the clock starts: the figure is the store's, not the generator's.
    let generating = Instant::now();
    let work: Vec<Vec<(u64, Vec<IngestItem>)>> = (0..producers)
        .map(|p| {
            (0..batches)
                .filter(|b| *b as usize % producers == p)
                .map(|b| (b, batch("b", b, BATCH)))
                .collect()
        })
        .collect();
    let generated = generating.elapsed();
    let start_line = Arc::new(Barrier::new(producers + 1));
    let handles: Vec<_> = work
        .into_iter()
        .map(|mine| {
            let store = Arc::clone(&store);
            let start_line = Arc::clone(&start_line);
            thread::spawn(move || {
                start_line.wait();
                for (b, items) in mine {
                    store.ingest_batch(format!("batch-{b}"), items).unwrap();
                }
            })
        })
        .collect();
    start_line.wait();
    let t = Instant::now();
    for h in handles {
        h.join().unwrap();
    }
    store.flush().unwrap();
    let elapsed = t.elapsed();
    let stats = store.stats();
    assert_eq!(stats.claims, batches * BATCH as u64);
    drop(store);
    let total = (batches * BATCH as u64) as f64;
    BatchedRun {
        rate: total / elapsed.as_secs_f64(),
        elapsed,
        checkpoints: stats.checkpoints,
        generated_per_s: total / generated.as_secs_f64(),
    }
}

/// Bytes one Strict single-claim ingest adds to the WAL (the framed record).
fn record_len(base: &Path) -> usize {
    let dir = tempfile::tempdir_in(base).unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    let before = store.stats().wal_bytes;
    let k = 32;
    for i in 0..k {
        store.ingest(claim("cal", i)).unwrap();
    }
    let after = store.stats().wal_bytes;
    ((after - before) / k) as usize
}

/// A bare `write + fdatasync` loop of `len`-byte appends to a new file in a fresh directory under
/// `base` (the same file system as the store); appends/s.
fn bare_fsync(base: &Path, len: usize, run: Duration) -> f64 {
    let dir = tempfile::tempdir_in(base).unwrap();
    let mut file: File = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("bare.log"))
        .unwrap();
    let mut record = vec![0u8; len];
    let t = Instant::now();
    let mut count = 0u64;
    while t.elapsed() < run {
        record[..8].copy_from_slice(&count.to_le_bytes());
        file.write_all(&record).unwrap();
        file.sync_data().unwrap();
        count += 1;
    }
    count as f64 / t.elapsed().as_secs_f64()
}

/// A real directory whose `sync_data` takes `extra` longer than the disk's: emulates a slower
/// device, to see how group commit behaves when the fsync (not the CPU) dominates.
#[derive(Debug)]
struct SlowSync {
    inner: FileStorage,
    extra: Duration,
}

#[derive(Debug)]
struct SlowFile {
    inner: Box<dyn StorageFile>,
    extra: Duration,
}

impl StorageFile for SlowFile {
    fn append(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.inner.append(buf)
    }

    fn sync_data(&mut self) -> std::io::Result<()> {
        self.inner.sync_data()?;
        thread::sleep(self.extra);
        Ok(())
    }
}

impl Storage for SlowSync {
    fn create_dir_all(&self, dir: &Path) -> std::io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn create(&self, path: &Path) -> std::io::Result<Box<dyn StorageFile>> {
        Ok(Box::new(SlowFile {
            inner: self.inner.create(path)?,
            extra: self.extra,
        }))
    }
    fn open_append(&self, path: &Path) -> std::io::Result<Box<dyn StorageFile>> {
        Ok(Box::new(SlowFile {
            inner: self.inner.open_append(path)?,
            extra: self.extra,
        }))
    }
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        self.inner.read(path)
    }
    fn list(&self, dir: &Path) -> std::io::Result<Vec<String>> {
        self.inner.list(dir)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        self.inner.rename(from, to)
    }
    fn remove(&self, path: &Path) -> std::io::Result<()> {
        self.inner.remove(path)
    }
    fn truncate(&self, path: &Path, len: u64) -> std::io::Result<()> {
        self.inner.truncate(path, len)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        self.inner.sync_dir(dir)
    }
    fn lock(&self) -> std::io::Result<Option<Box<dyn std::fmt::Debug + Send + Sync>>> {
        self.inner.lock()
    }
}

struct StrictRun {
    rate: f64,
    p50: Duration,
    p99: Duration,
    records_per_sync: f64,
}

/// Single-claim `ingest` in `Strict` mode from `threads` threads for `run`. Each thread's claims
/// are generated before the clock starts (enough for twice the rate seen on the reference
/// machine; beyond that they are generated inline).
fn strict_ingest(base: &Path, threads: usize, run: Duration, extra_sync: Duration) -> StrictRun {
    let dir = tempfile::tempdir_in(base).unwrap();
    let store = if extra_sync.is_zero() {
        Store::builder(dir.path()).open().unwrap()
    } else {
        Store::builder_with_storage(Arc::new(SlowSync {
            inner: FileStorage::new(dir.path()),
            extra: extra_sync,
        }))
        .open()
        .unwrap()
    };
    let store = Arc::new(store);
    let start_line = Arc::new(Barrier::new(threads + 1));
    let per_thread = (run.as_secs_f64() * 64_000.0 / threads as f64).ceil() as u64;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let store = Arc::clone(&store);
            let start_line = Arc::clone(&start_line);
            thread::spawn(move || {
                let prefix = format!("s{threads}-t{t}");
                let mut pool = (0..per_thread)
                    .map(|i| claim(&prefix, i))
                    .collect::<Vec<_>>();
                pool.reverse();
                let mut latencies = Vec::with_capacity(per_thread as usize);
                start_line.wait();
                let begin = Instant::now();
                let mut i = 0;
                while begin.elapsed() < run {
                    let item = pool.pop().unwrap_or_else(|| claim(&prefix, i));
                    let t0 = Instant::now();
                    store.ingest(item).unwrap();
                    latencies.push(t0.elapsed());
                    i += 1;
                }
                latencies
            })
        })
        .collect();
    start_line.wait();
    let t = Instant::now();
    let mut latencies: Vec<Duration> = Vec::new();
    for h in handles {
        latencies.extend(h.join().unwrap());
    }
    let elapsed = t.elapsed();
    latencies.sort_unstable();
    let stats = store.stats();
    assert_eq!(stats.records_written, latencies.len() as u64);
    StrictRun {
        rate: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        records_per_sync: stats.records_written as f64 / stats.wal_syncs.max(1) as f64,
    }
}

/// Writes `claims` claims with `ingest_batch` of 1,000 (or single `ingest`s when `single`),
/// Batched mode, then checkpoints (`checkpointed`) or leaves them all in the WAL.
fn build_store(dir: &Path, claims: u64, checkpointed: bool, single: bool) -> Duration {
    let t = Instant::now();
    let store = Store::builder(dir)
        .durability(BATCHED)
        .auto_checkpoint(checkpointed)
        .open()
        .unwrap();
    if single {
        for i in 0..claims {
            store.ingest(claim("w", i)).unwrap();
        }
    } else {
        for b in 0..claims / BATCH as u64 {
            store
                .ingest_batch(format!("batch-{b}"), batch("o", b, BATCH))
                .unwrap();
        }
    }
    if checkpointed {
        store.checkpoint().unwrap();
    }
    store.close().unwrap();
    t.elapsed()
}

struct OpenRun {
    median: Duration,
    cold: Option<Duration>,
    claims: u64,
    segments: usize,
    segment_bytes: u64,
    wal_bytes: u64,
    replayed: u64,
}

fn drop_page_cache() -> bool {
    // Only the page cache (1); needs root. Dirty pages are written back first.
    let _ = std::process::Command::new("sync").status();
    std::fs::write("/proc/sys/vm/drop_caches", "1\n").is_ok()
}

/// Opens the store three times (median) and once after dropping the page cache if `cold`.
fn time_open(dir: &Path, expected: u64, cold: bool, prefix: &str) -> OpenRun {
    let open = || {
        let t = Instant::now();
        let store = Store::builder(dir).auto_checkpoint(false).open().unwrap();
        (t.elapsed(), store)
    };
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..3 {
        let (elapsed, store) = open();
        times.push(elapsed);
        let stats = store.stats();
        assert_eq!(stats.claims, expected, "claims after open");
        let probe = format!("{prefix}-{:09}", expected / 2);
        assert!(store
            .get_claim(&TenantId::new(TENANT), &probe.as_str().into())
            .unwrap()
            .is_some());
        last = Some((stats, store.recovery_report().records_replayed));
        store.close().unwrap();
    }
    times.sort_unstable();
    let cold = (cold && drop_page_cache()).then(|| {
        let (elapsed, store) = open();
        store.close().unwrap();
        elapsed
    });
    let (stats, replayed) = last.unwrap();
    OpenRun {
        median: times[1],
        cold,
        claims: stats.claims,
        segments: stats.segments,
        segment_bytes: stats.segment_bytes,
        wal_bytes: stats.wal_bytes,
        replayed,
    }
}

fn main() {
    let args = parse_args();
    let sizes = if args.quick {
        Sizes {
            batched_claims: 20_000,
            run: Duration::from_secs(1),
            open_ckpt_claims: 100_000,
            open_wal_claims: 20_000,
            open_wal_single_claims: 5_000,
        }
    } else {
        Sizes {
            batched_claims: 1_000_000,
            run: Duration::from_secs(5),
            open_ckpt_claims: 1_000_000,
            open_wal_claims: 100_000,
            open_wal_single_claims: 100_000,
        }
    };
    std::fs::create_dir_all(&args.base).unwrap();

    let cpu = first_line_with("/proc/cpuinfo", "model name").unwrap_or_else(|| "?".into());
    let mem = first_line_with("/proc/meminfo", "MemTotal").unwrap_or_else(|| "?".into());
    let cores = thread::available_parallelism().map_or(0, std::num::NonZero::get);
    println!(
        "DASH bench_store{}",
        if args.quick { " --quick" } else { "" }
    );
    println!("machine: {cores} cores, {cpu}, {mem} RAM");
    match mount_of(&args.base) {
        Some((dev, mnt, fs)) => {
            println!(
                "dir:     {} ({fs} on {dev}, mounted at {mnt})",
                args.base.display()
            );
            if fs == "tmpfs" || fs == "ramfs" {
                println!(
                    "WARNING: {fs} has no real fsync; pass --dir on a disk-backed file system"
                );
            }
        }
        None => println!("dir:     {}", args.base.display()),
    }
    let sample = claim("x", 0);
    println!(
        "claims:  {}-byte text, {} entities, {} evidence each",
        sample.claim.canonical_text.len(),
        sample.claim.entities.len(),
        sample.evidence.len()
    );
    println!();

    let mut rows = Vec::new();
    let base = args.base.as_path();
    if args.runs("batched") {
        batched_rows(base, &sizes, &mut rows);
    }
    let single = args
        .runs("strict")
        .then(|| strict_rows(base, &sizes, &mut rows));
    if args.runs("strict16") {
        strict16_rows(base, &sizes, args.writers, single, &mut rows);
    }
    if args.runs("emulated") {
        emulated_rows(base, &sizes, args.writers, &mut rows);
    }
    if args.runs("open") {
        open_rows(base, &sizes, args.cold, &mut rows);
    }
    print_table(&rows);
    if args.quick {
        println!();
        println!(
            "--quick: sizes and run times are reduced; the open rows are judged against the \
             full-size targets."
        );
    }
}

fn batched_rows(base: &Path, sizes: &Sizes, rows: &mut Vec<Row>) {
    eprintln!("batched ingest: {} claims ...", sizes.batched_claims);
    let one = batched_ingest(base, sizes.batched_claims, 1);
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
    let two = batched_ingest(base, sizes.batched_claims, 2);
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
}

/// The bare loop (before and after) and the single Strict writer; returns the writer's rate.
fn strict_rows(base: &Path, sizes: &Sizes, rows: &mut Vec<Row>) -> f64 {
    let len = record_len(base);
    eprintln!("bare write+fdatasync of {len} bytes ...");
    let bare_before = bare_fsync(base, len, sizes.run);
    eprintln!("strict ingest, 1 thread ...");
    let single = strict_ingest(base, 1, sizes.run, Duration::ZERO);
    eprintln!("bare write+fdatasync again ...");
    let bare_after = bare_fsync(base, len, sizes.run);
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
            ms(single.p50),
            ms(single.p99)
        ),
        "within 2x of bare",
        single.rate * 2.0 >= bare,
    ));
    single.rate
}

fn strict16_rows(
    base: &Path,
    sizes: &Sizes,
    writers: usize,
    single: Option<f64>,
    rows: &mut Vec<Row>,
) {
    eprintln!("strict ingest, {writers} threads ...");
    let sixteen = strict_ingest(base, writers, sizes.run, Duration::ZERO);
    let name = format!("strict ingest, {writers} writers");
    let detail = format!(
        "{:.1} records/fsync, p50 {}, p99 {}",
        sixteen.records_per_sync,
        ms(sixteen.p50),
        ms(sixteen.p99)
    );
    match single {
        Some(single) => rows.push(judged(
            name,
            format!(
                "{} claims/s = {:.1}x single ({detail})",
                n(sixteen.rate),
                sixteen.rate / single
            ),
            ">= 10x single writer",
            sixteen.rate >= 10.0 * single,
        )),
        None => rows.push(row(
            name,
            format!("{} claims/s ({detail})", n(sixteen.rate)),
        )),
    }
}

/// Single and concurrent Strict ingest with every WAL fsync made 2 ms slower (informational).
fn emulated_rows(base: &Path, sizes: &Sizes, writers: usize, rows: &mut Vec<Row>) {
    let extra = Duration::from_millis(2);
    eprintln!("strict ingest with fsync + 2 ms, 1 and {writers} threads ...");
    let one = strict_ingest(base, 1, sizes.run, extra);
    let many = strict_ingest(base, writers, sizes.run, extra);
    rows.push(row(
        "  emulated slow disk (fsync + 2 ms), 1 writer",
        format!("{} claims/s (p50 {})", n(one.rate), ms(one.p50)),
    ));
    rows.push(row(
        format!("  emulated slow disk (fsync + 2 ms), {writers} writers"),
        format!(
            "{} claims/s = {:.1}x single ({:.1} records/fsync, p50 {})",
            n(many.rate),
            many.rate / one.rate,
            many.records_per_sync,
            ms(many.p50)
        ),
    ));
}

fn open_rows(base: &Path, sizes: &Sizes, cold: bool, rows: &mut Vec<Row>) {
    // Open after a checkpoint.
    let ck_dir = tempfile::tempdir_in(base).unwrap();
    eprintln!(
        "building a checkpointed store of {} claims ...",
        sizes.open_ckpt_claims
    );
    let built = build_store(ck_dir.path(), sizes.open_ckpt_claims, true, false);
    let ck = time_open(ck_dir.path(), sizes.open_ckpt_claims, cold, "o");
    let (ck_apparent, ck_alloc) = du(ck_dir.path());
    drop(ck_dir);
    rows.push(judged(
        format!("open, {} claims checkpointed", n(ck.claims as f64)),
        format!(
            "{:.3} s median of 3{} ({} segments)",
            ck.median.as_secs_f64(),
            ck.cold
                .map(|c| format!(", cold cache {:.3} s", c.as_secs_f64()))
                .unwrap_or_default(),
            ck.segments,
        ),
        "<= 3 s (1,000,000 claims)",
        ck.median <= Duration::from_secs(3) && ck.cold.is_none_or(|c| c <= Duration::from_secs(3)),
    ));
    rows.push(row(
        format!(
            "  build: ingest_batch(1000) of {} claims, generated inline",
            n(ck.claims as f64)
        ),
        format!(
            "{} claims/s ({:.1} s, with auto checkpoints and a final one)",
            n(ck.claims as f64 / built.as_secs_f64()),
            built.as_secs_f64()
        ),
    ));
    rows.push(row(
        "  bytes on disk per claim (checkpointed)",
        format!(
            "{:.0} B (du {} MB apparent, {} MB allocated; live segments {} MB, WAL {} B)",
            ck_alloc as f64 / ck.claims as f64,
            n(ck_apparent as f64 / 1e6),
            n(ck_alloc as f64 / 1e6),
            n(ck.segment_bytes as f64 / 1e6),
            ck.wal_bytes
        ),
    ));

    // Open with everything in the WAL.
    let wal_dir = tempfile::tempdir_in(base).unwrap();
    eprintln!(
        "building a WAL-only store of {} claims ...",
        sizes.open_wal_claims
    );
    build_store(wal_dir.path(), sizes.open_wal_claims, false, false);
    let wal = time_open(wal_dir.path(), sizes.open_wal_claims, cold, "o");
    let (wal_apparent, wal_alloc) = du(wal_dir.path());
    drop(wal_dir);
    rows.push(judged(
        format!(
            "open, {} claims WAL-only ({} batch records)",
            n(wal.claims as f64),
            wal.replayed
        ),
        format!(
            "{:.3} s median of 3{}",
            wal.median.as_secs_f64(),
            wal.cold
                .map(|c| format!(", cold cache {:.3} s", c.as_secs_f64()))
                .unwrap_or_default()
        ),
        "<= 2 s (100,000 claims)",
        wal.median <= Duration::from_secs(2)
            && wal.cold.is_none_or(|c| c <= Duration::from_secs(2)),
    ));
    rows.push(row(
        "  bytes on disk per claim (WAL-only)",
        format!(
            "{:.0} B (du {} MB apparent, {} MB allocated)",
            wal_alloc as f64 / wal.claims as f64,
            n(wal_apparent as f64 / 1e6),
            n(wal_alloc as f64 / 1e6)
        ),
    ));

    let single_dir = tempfile::tempdir_in(base).unwrap();
    eprintln!(
        "building a WAL-only store of {} single-claim records ...",
        sizes.open_wal_single_claims
    );
    build_store(single_dir.path(), sizes.open_wal_single_claims, false, true);
    let one = time_open(single_dir.path(), sizes.open_wal_single_claims, false, "w");
    drop(single_dir);
    rows.push(row(
        format!(
            "  open, {} claims WAL-only as {} single-claim records",
            n(one.claims as f64),
            n(one.replayed as f64)
        ),
        format!("{:.3} s median of 3", one.median.as_secs_f64()),
    ));
}

fn print_table(rows: &[Row]) {
    let w0 = rows.iter().map(|r| r.name.len()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r.figure.len()).max().unwrap_or(0);
    let w2 = rows.iter().map(|r| r.target.len()).max().unwrap_or(0);
    println!(
        "{:w0$} | {:w1$} | {:w2$} | result",
        "measure", "figure", "target"
    );
    println!("{}", "-".repeat(w0 + w1 + w2 + 16));
    for r in rows {
        let verdict = match r.pass {
            Some(true) => "PASS",
            Some(false) => "FAIL",
            None => "",
        };
        println!(
            "{:w0$} | {:w1$} | {:w2$} | {verdict}",
            r.name, r.figure, r.target
        );
    }
}
