//! `dash-bench load`: HTTP load on `dash serve` — the server issue's performance figures,
//! measured on the common synthetic corpus (`shared/bench/synthetic.py`) with client and server
//! sharing one machine.
//!
//! ```text
//! cargo build --release -p dash-server --bins
//! cargo run --release -p dash-bench -- load \
//!     --server target/release/dash --data /tmp/synth110k --n 100000 --out /tmp/http.json
//! ```
//!
//! (`scripts/bench_http.sh` does the same and creates the corpus if it is missing.)
//!
//! The generator starts the servers itself (`dash serve` on `127.0.0.1:0`, a temp data dir, one
//! API key — also an admin key, for `/debug/storage` — rate limit off, `DASH_LOG=warn`) and talks
//! to them over keep-alive HTTP/1.1 connections (one hyper `client::conn::http1` per connection).
//! Claims get their corpus vector as `embedding`, queries their vector as `query_embedding`, so
//! retrieval is hybrid. Phases:
//!
//! 1. **load**: `POST /v1/ingest/batch`, `--batch-size` items a batch, until `--n` claims are
//!    in; then wait for `GET /health` to say `"indexing": false`.
//! 2. **baseline**: `POST /v1/retrieve` (text + vector, top 10), concurrency 1: p50/p99.
//! 3. **retrieve**: the same at `--concurrency` (closed loop): throughput, p50/p99, statuses.
//! 4. **overload**: an open-loop generator (fixed schedule, up to `--max-conns` connections) at
//!    `--overload-factor` × phase 3's throughput: statuses, 429 latency, p99 of the admitted
//!    requests against phase 2's p99, and whether the server is still alive and healthy.
//! 5. **reopen**: the store reopened with the defaults: the first query, the index rebuild, then
//!    phases 2-4 again (a freshly loaded store's dense index is several size-tiered graphs built
//!    during the load; a reopened one builds its graphs from scratch).
//! 6. **sweep**: phase 4 again at the reopened store's rate, the server restarted on the same
//!    store for every `DASH_WORKERS` × `DASH_QUEUE_CAPACITY` pair of `--sweep-workers` ×
//!    `--sweep-queue`, with each point's own c1 p99 and closed-loop throughput.
//! 7. **lag** (ingest-to-visible): a claim with a unique random word is written while another
//!    connection polls `GET /v1/retrieve?query=<word>&top_k=1` until the claim is the answer;
//!    idle and under a background retrieve load.
//! 8. **ingest**: single-claim `POST /v1/ingest` at `--concurrency`, then `--ingest-batches`
//!    batches; phases 7-8 run in `strict` (the loaded store, reopened) and then in `batched` (a
//!    fresh store preloaded with `--batched-preload` claims).
//!
//! Fresh claims (phases 7 and 8) are the corpus lines after the first `--n`, renamed so that
//! every write is a new claim. Before each phase the generator waits (up to `--quiet-wait-secs`)
//! for the rest of the machine to be idle, and every phase records the CPU the server, the client
//! and other processes used (they share the cores; a phase where others used more than 0.2 of a
//! core is flagged NOISY). Every figure is printed and written to `--out` (JSON, rewritten after
//! every phase), with the machine (`nproc`, CPU model).
//!
//! Latency percentiles are [`dash_bench::stats::Lat`]'s: the sample at index `⌊p·n⌋` of the
//! sorted series.
//!
//! Modules: `client` (connections, requests), `loops` (closed and open loops), `server` (the
//! `dash serve` processes), `cpu` (CPU accounting, quiet-machine wait), `corpus` and `wire` (what
//! is sent), `phases`, `sweep` and `writes` (the measurements), `report` (the figures).

mod client;
mod corpus;
mod cpu;
mod loops;
mod phases;
mod report;
mod server;
mod sweep;
mod wire;
mod writes;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dash_bench::Res;
use serde::Serialize;
use serde_json::{json, Value};

use self::corpus::Corpus;
use self::report::Report;
use self::server::{server_logs, Server};

/// `dash-bench load`'s arguments (written to the report as `settings`).
#[derive(clap::Args, Serialize, Debug)]
pub struct Args {
    /// The `dash` binary.
    #[arg(long)]
    server: PathBuf,
    /// Corpus directory: claims.jsonl, vectors.f32, queries.jsonl, queries.f32.
    #[arg(long)]
    data: PathBuf,
    /// Claims to load.
    #[arg(long, default_value_t = 100_000)]
    n: usize,
    /// Where to write the figures (JSON).
    #[arg(long)]
    out: PathBuf,
    /// Where the servers' temporary data directories go.
    #[arg(long, default_value = "/tmp")]
    work_dir: PathBuf,
    /// Keep the servers' data directories and logs.
    #[arg(long)]
    keep: bool,
    /// Items per `POST /v1/ingest/batch`.
    #[arg(long, default_value_t = 1000)]
    batch_size: usize,
    /// Batches in flight during loads.
    #[arg(long, default_value_t = 1)]
    load_concurrency: usize,
    /// Distinct corpus lines (after the first `--n`) the fresh claims are made from.
    #[arg(long, default_value_t = 2000)]
    pool: usize,
    /// Phase 2 duration (seconds).
    #[arg(long, default_value_t = 10.0)]
    baseline_secs: f64,
    /// Phase 3 duration (seconds).
    #[arg(long, default_value_t = 20.0)]
    retrieve_secs: f64,
    /// Closed-loop concurrency of phases 3 and 7.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Warm-up before every closed-loop measurement (seconds).
    #[arg(long, default_value_t = 1.0)]
    warmup_secs: f64,
    /// Overload rate as a multiple of phase 3's throughput.
    #[arg(long, default_value_t = 2.0)]
    overload_factor: f64,
    /// Phase 4 duration (seconds).
    #[arg(long, default_value_t = 15.0)]
    overload_secs: f64,
    /// Most connections the open-loop generator uses.
    #[arg(long, default_value_t = 512)]
    max_conns: usize,
    /// `DASH_WORKERS` values of the sweep.
    #[arg(long, value_delimiter = ',', default_values_t = [2, 4, 8])]
    sweep_workers: Vec<usize>,
    /// `DASH_QUEUE_CAPACITY` values of the sweep.
    #[arg(long, value_delimiter = ',', default_values_t = [4, 16, 64, 256])]
    sweep_queue: Vec<usize>,
    /// Overload duration of each sweep point (seconds).
    #[arg(long, default_value_t = 15.0)]
    sweep_secs: f64,
    /// Skip the sweep.
    #[arg(long)]
    no_sweep: bool,
    /// Skip the write phases (lag, ingest) after the sweep.
    #[arg(long)]
    no_writes: bool,
    /// Lag samples per lag measurement.
    #[arg(long, default_value_t = 200)]
    lag_samples: usize,
    /// Background retrieve concurrency during the loaded lag measurement.
    #[arg(long, default_value_t = 4)]
    lag_background: usize,
    /// Single-claim ingest duration (seconds).
    #[arg(long, default_value_t = 10.0)]
    ingest_secs: f64,
    /// Before each phase, wait up to this long (seconds) for the rest of the machine to be idle
    /// (a build, another benchmark); phases run anyway after it, flagged as noisy.
    #[arg(long, default_value_t = 300.0)]
    quiet_wait_secs: f64,
    /// Batches sent in the batch-endpoint ingest measurement.
    #[arg(long, default_value_t = 20)]
    ingest_batches: usize,
    /// Claims preloaded into the `batched` server.
    #[arg(long, default_value_t = 10_000)]
    batched_preload: usize,
}

/// Runs every phase on a multi-threaded tokio runtime of its own, writes the figures to `--out`
/// (also when a phase fails) and prints the summary.
pub fn run(args: Args) -> Res<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run_async(args))
}

/// [`run`] on the runtime: the servers' work directory, the phases, the report.
async fn run_async(args: Args) -> Res<()> {
    let work = tempfile::Builder::new()
        .prefix("dash-loadgen-")
        .tempdir_in(&args.work_dir)?;
    let mut report = Report::new(args.out.clone());
    let outcome = all_phases(&args, work.path(), &mut report).await;
    report.set("server_logs", server_logs(work.path()));
    report.save()?;
    if args.keep {
        let kept = work.keep();
        eprintln!("kept the servers' data and logs in {}", kept.display());
    }
    outcome?;
    report.print_summary();
    println!("figures written to {}", args.out.display());
    Ok(())
}

/// Every phase, in order.
async fn all_phases(args: &Args, work: &Path, report: &mut Report) -> Res<()> {
    report.set("machine", cpu::machine());
    report.set("settings", serde_json::to_value(args)?);
    let corpus = Arc::new(Corpus::read(args).await?);
    report.set("corpus", corpus.describe());
    let main_dir = work.join("main");

    // 1-4 on the freshly loaded store.
    report.phase("load", None, args).await;
    let server = Server::start(&args.server, &main_dir, work, "strict", &[]).await?;
    let load = phases::load(&server, &corpus, args).await?;
    report.section("load", load);
    let (baseline, loaded) = retrieve_phases(&server, &corpus, args, report, "").await?;
    let (base_p99, rate) = (baseline.ok_lat.p99_ms, loaded.ok_rps * args.overload_factor);
    report.set("retrieve_baseline_c1", baseline.json);
    report.set("retrieve_concurrent", loaded.json);
    report.phase("overload", Some(&server), args).await;
    let overload =
        phases::overload(&server, &corpus, rate, args.overload_secs, args, base_p99).await?;
    report.note(overload.line("overload (server defaults)"));
    report.set("overload", overload.json);
    report.set("stop_strict_load", server.stop().await?);
    report.save()?;

    // 5-6: the same store reopened (defaults), then the sweep at the reopened store's 2x rate.
    let (reopened, base_p99, rate) =
        reopened_phases(args, &corpus, &main_dir, work, report).await?;
    report.set("reopened", reopened);
    report.save()?;
    if !args.no_sweep {
        let rows = sweep::sweep(args, &corpus, &main_dir, work, rate, base_p99, report).await?;
        report.set("sweep", Value::Array(rows));
        report.save()?;
    }
    if args.no_writes {
        return Ok(());
    }

    // 7-8 in strict (the same store, reopened again), then in batched (a fresh store).
    report.phase("strict restart for writes", None, args).await;
    let server = Server::start(&args.server, &main_dir, work, "strict-writes", &[]).await?;
    server.wait_indexed().await?;
    let mut strict = writes::write_phases(&server, &corpus, args, "s", report).await?;
    strict["stop"] = server.stop().await?;
    report.set("strict", strict);
    report.save()?;
    let batched = batched_phases(args, &corpus, work, report).await?;
    report.set("batched", batched);
    report.save()
}

/// Phases 2 and 3: retrieve at concurrency 1, then at `--concurrency`; `label` ends the phase
/// names.
async fn retrieve_phases(
    server: &Server,
    corpus: &Corpus,
    args: &Args,
    report: &mut Report,
    label: &str,
) -> Res<(phases::Closed, phases::Closed)> {
    let retrieve = corpus.retrieve_gen();
    let (warmup, c) = (args.warmup_secs, args.concurrency);
    report
        .phase(&format!("retrieve c1{label}"), Some(server), args)
        .await;
    let baseline = phases::closed(server, 1, &retrieve, warmup, args.baseline_secs).await?;
    report.note(baseline.line(&format!("retrieve c1{label}")));
    report
        .phase(&format!("retrieve c{c}{label}"), Some(server), args)
        .await;
    let loaded = phases::closed(server, c, &retrieve, warmup, args.retrieve_secs).await?;
    report.note(loaded.line(&format!("retrieve c{c}{label}")));
    report.save()?;
    Ok((baseline, loaded))
}

/// The loaded store reopened with the defaults: the first query, the index rebuild, phases 2-4
/// again. Returns the figures, the c1 p99 and the overload rate (for the sweep).
async fn reopened_phases(
    args: &Args,
    corpus: &Corpus,
    dir: &Path,
    work: &Path,
    report: &mut Report,
) -> Res<(Value, f64, f64)> {
    report.phase("reopen", None, args).await;
    let server = Server::start(&args.server, dir, work, "reopened", &[]).await?;
    let first = phases::first_query(&server, &corpus.queries).await?;
    report.note(format!("reopen: first query {first}"));
    let index_wait = server.wait_indexed().await?;
    let storage = server.storage().await?;
    let label = " (reopened)";
    let (baseline, loaded) = retrieve_phases(&server, corpus, args, report, label).await?;
    let (base_p99, rate) = (baseline.ok_lat.p99_ms, loaded.ok_rps * args.overload_factor);
    report
        .phase("overload (reopened)", Some(&server), args)
        .await;
    let overload =
        phases::overload(&server, corpus, rate, args.overload_secs, args, base_p99).await?;
    report.note(overload.line("overload (reopened, server defaults)"));
    let out = json!({
        "first_query": first,
        "index_wait_s": index_wait,
        "storage": storage,
        "retrieve_baseline_c1": baseline.json,
        "retrieve_concurrent": loaded.json,
        "overload": overload.json,
        "stop": server.stop().await?,
    });
    Ok((out, base_p99, rate))
}

/// Phases 7-8 in `batched`, on a fresh store preloaded with `--batched-preload` claims.
async fn batched_phases(
    args: &Args,
    corpus: &Arc<Corpus>,
    work: &Path,
    report: &mut Report,
) -> Res<Value> {
    report.phase("batched preload", None, args).await;
    let env = [("DASH_DURABILITY", "batched".to_owned())];
    let server = Server::start(&args.server, &work.join("batched"), work, "batched", &env).await?;
    let preload = phases::preload(&server, corpus, args).await?;
    report.note(preload["summary"].as_str().unwrap_or_default().to_owned());
    server.wait_indexed().await?;
    let mut out = writes::write_phases(&server, corpus, args, "b", report).await?;
    out["preload"] = preload;
    out["stop"] = server.stop().await?;
    Ok(out)
}
