//! HTTP load generator for `dash serve`: the server issue's performance figures, measured on
//! the common synthetic corpus (`shared/bench/synthetic.py`) with client and server sharing
//! one machine.
//!
//! ```text
//! cargo build --release -p dash-server --bins --examples
//! cargo run --release -p dash-server --example loadgen -- \
//!     --server target/release/dash --data /work/data/synth1010k --n 100000 --out /tmp/http.json
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

use std::collections::BTreeMap;
use std::error::Error;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

type BoxError = Box<dyn Error + Send + Sync>;
type Res<T> = Result<T, BoxError>;

/// The API key every server of the run accepts.
const API_KEY: &str = "loadgen-key-0123456789abcdef";
/// The corpus' vector dimension.
const DIM: usize = 128;
/// A request still unanswered after this is an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest wait for the background index builds after a load or a restart.
const INDEX_WAIT: Duration = Duration::from_secs(1800);
/// A lag sample not visible after this counts as a timeout.
const LAG_TIMEOUT: Duration = Duration::from_secs(10);
/// Kernel clock ticks per second (`/proc/<pid>/stat` times).
const CLK_TCK: f64 = 100.0;

#[derive(Parser, Serialize, Debug)]
#[command(about = "HTTP load generator for `dash serve` (see the module docs)")]
struct Args {
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

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    let work = tempfile::Builder::new()
        .prefix("dash-loadgen-")
        .tempdir_in(&args.work_dir)?;
    let mut report = Report::new(args.out.clone());
    let outcome = run(&args, work.path(), &mut report).await;
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
async fn run(args: &Args, work: &Path, report: &mut Report) -> Res<()> {
    report.set("machine", machine());
    report.set("settings", serde_json::to_value(args)?);
    let corpus = Arc::new(read_corpus(args).await?);
    report.set("corpus", corpus.describe());
    let main_dir = work.join("main");

    // 1-4 on the freshly loaded store.
    report.phase("load", None, args).await;
    let server = Server::start(&args.server, &main_dir, work, "strict", &[]).await?;
    let load = load_phase(&server, &corpus, args).await?;
    report.section("load", load);
    let (baseline, loaded) = retrieve_phases(&server, &corpus, args, report, "").await?;
    let (base_p99, rate) = (baseline.ok_lat.p99_ms, loaded.ok_rps * args.overload_factor);
    report.set("retrieve_baseline_c1", baseline.json);
    report.set("retrieve_concurrent", loaded.json);
    report.phase("overload", Some(&server), args).await;
    let overload =
        overload_phase(&server, &corpus, rate, args.overload_secs, args, base_p99).await?;
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
        let rows = sweep(args, &corpus, &main_dir, work, rate, base_p99, report).await?;
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
    let mut strict = write_phases(&server, &corpus, args, "s", report).await?;
    strict["stop"] = server.stop().await?;
    report.set("strict", strict);
    report.save()?;
    let batched = batched_phases(args, &corpus, work, report).await?;
    report.set("batched", batched);
    report.save()
}

/// Phases 2 and 3: retrieve at concurrency 1, then at `--concurrency`.
async fn retrieve_phases(
    server: &Server,
    corpus: &Corpus,
    args: &Args,
    report: &mut Report,
    label: &str,
) -> Res<(Closed, Closed)> {
    let retrieve = corpus.retrieve_gen();
    let (warmup, c) = (args.warmup_secs, args.concurrency);
    report
        .phase(&format!("retrieve c1{label}"), Some(server), args)
        .await;
    let baseline = closed_phase(server, 1, &retrieve, warmup, args.baseline_secs).await?;
    report.note(baseline.line(&format!("retrieve c1{label}")));
    report
        .phase(&format!("retrieve c{c}{label}"), Some(server), args)
        .await;
    let loaded = closed_phase(server, c, &retrieve, warmup, args.retrieve_secs).await?;
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
    let first = first_query(&server, &corpus.queries).await?;
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
        overload_phase(&server, corpus, rate, args.overload_secs, args, base_p99).await?;
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
    let preload = preload_phase(&server, corpus, args).await?;
    report.note(preload["summary"].as_str().unwrap_or_default().to_owned());
    server.wait_indexed().await?;
    let mut out = write_phases(&server, corpus, args, "b", report).await?;
    out["preload"] = preload;
    out["stop"] = server.stop().await?;
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Phases

/// Phase 1: the corpus in batches, then the wait for the index builds.
async fn load_phase(server: &Server, corpus: &Corpus, args: &Args) -> Res<Value> {
    let bodies = Arc::new(corpus.load_batches.clone());
    let (mut out, rate) = send_batches(server, bodies, corpus.loaded, args).await?;
    let wait = server.wait_indexed().await?;
    let health = server.health().await?;
    if health["claims"].as_u64() != Some(corpus.loaded as u64) {
        return Err(format!("after the load /health says {health}").into());
    }
    out["index_wait_s"] = json!(wait);
    out["health"] = health;
    out["storage"] = server.storage().await?;
    out["summary"] = json!(format!(
        "load: {} claims in {}-item batches at {rate:.0} claims/s; indexes ready {wait:.1} s later",
        corpus.loaded, args.batch_size
    ));
    Ok(out)
}

/// The batched server's preload (from empty, like the first 10k of phase 1).
async fn preload_phase(server: &Server, corpus: &Corpus, args: &Args) -> Res<Value> {
    let batches = args.batched_preload.div_ceil(args.batch_size.max(1));
    let pool = Arc::clone(&corpus.pool);
    let size = args.batch_size;
    let bodies = tokio::task::spawn_blocking(move || pool.batches("pre", batches, size)).await??;
    let claims = batches * size;
    let (mut out, rate) = send_batches(server, Arc::new(bodies), claims, args).await?;
    out["summary"] = json!(format!(
        "batched preload: {claims} claims in {size}-item batches at {rate:.0} claims/s"
    ));
    Ok(out)
}

/// Sends `bodies` to `POST /v1/ingest/batch`, `--load-concurrency` at a time; every answer must
/// be 200. Returns the figures and the claims/s.
async fn send_batches(
    server: &Server,
    bodies: Arc<Vec<Bytes>>,
    claims: usize,
    args: &Args,
) -> Res<(Value, f64)> {
    let meter = CpuMeter::start(server);
    let next = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.load_concurrency.max(1) {
        let (bodies, next, addr) = (Arc::clone(&bodies), Arc::clone(&next), server.addr);
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await?;
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else {
                    return Ok::<_, BoxError>(done);
                };
                let sent = Instant::now();
                let (status, answer) = conn
                    .send(&Req::post("/v1/ingest/batch", body.clone()))
                    .await?;
                if status != StatusCode::OK {
                    return Err(format!("batch {i}: {status} {}", snippet(&answer)).into());
                }
                done.push((micros(sent.elapsed()), t0.elapsed()));
            }
        }));
    }
    let mut done = Vec::new();
    for task in tasks {
        done.extend(task.await??);
    }
    let secs = t0.elapsed().as_secs_f64();
    let rate = claims as f64 / secs;
    let mut finished: Vec<Duration> = done.iter().map(|d| d.1).collect();
    finished.sort();
    let per_batch = claims.div_ceil(bodies.len().max(1)).max(1);
    let first_10k = finished
        .get(10_000usize.div_ceil(per_batch).saturating_sub(1))
        .map(|t| (10_000usize.div_ceil(per_batch) * per_batch) as f64 / t.as_secs_f64());
    let out = json!({
        "claims": claims,
        "batches": bodies.len(),
        "batch_size": per_batch,
        "concurrency": args.load_concurrency,
        "seconds": secs,
        "claims_per_s": rate,
        "first_10k_claims_per_s": first_10k,
        "batch_latency": Lat::of(done.iter().map(|d| d.0).collect()),
        "cpu": meter.finish(),
    });
    Ok((out, rate))
}

/// A closed-loop measurement's figures.
struct Closed {
    ok_rps: f64,
    ok_lat: Lat,
    json: Value,
}

impl Closed {
    fn line(&self, label: &str) -> String {
        format!(
            "{label}: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, statuses {}{}",
            self.ok_rps,
            self.ok_lat.p50_ms,
            self.ok_lat.p99_ms,
            self.json["statuses"],
            noise(&self.json)
        )
    }
}

/// `concurrency` connections, each sending `gen`'s next request as soon as the previous one is
/// answered; measured for `secs` after `warmup`.
async fn closed_phase(
    server: &Server,
    concurrency: usize,
    gen: &Gen,
    warmup: f64,
    secs: f64,
) -> Res<Closed> {
    let meter = CpuMeter::start(server);
    let window = measure_closed(server.addr, concurrency, gen, warmup, secs).await?;
    let ok_lat = window.latency(|s| (200..300).contains(&s));
    let ok_rps = ok_lat.count as f64 / window.secs;
    let mut json = window.report();
    json["concurrency"] = json!(concurrency);
    json["cpu"] = meter.finish();
    Ok(Closed {
        ok_rps,
        ok_lat,
        json,
    })
}

/// An overload measurement's figures.
struct Overload {
    offered: f64,
    admitted_rps: f64,
    counts: BTreeMap<String, u64>,
    ok_p99: f64,
    ratio: f64,
    rejected_p99: f64,
    alive: bool,
    json: Value,
}

impl Overload {
    fn line(&self, label: &str) -> String {
        format!(
            "{label}: offered {:.0}/s, admitted {:.0}/s, statuses {:?}, admitted p99 {:.1} ms \
             ({:.1}x unloaded), 429 p99 {:.2} ms, alive+healthy {}{}",
            self.offered,
            self.admitted_rps,
            self.counts,
            self.ok_p99,
            self.ratio,
            self.rejected_p99,
            self.alive,
            noise(&self.json)
        )
    }
}

/// Phase 4: open loop at `rate`, then: is the server alive, healthy, and fast again?
async fn overload_phase(
    server: &Server,
    corpus: &Corpus,
    rate: f64,
    secs: f64,
    args: &Args,
    base_p99: f64,
) -> Res<Overload> {
    let meter = CpuMeter::start(server);
    let open = open_loop(server.addr, &corpus.queries, rate, secs, args.max_conns).await?;
    let cpu = meter.finish();
    let alive = server.alive();
    let health = match server.health_status().await {
        Ok(status) => json!(status.as_u16()),
        Err(err) => json!(err.to_string()),
    };
    let healthy = alive && health == json!(200);
    let after = if healthy {
        let c = closed_phase(server, 1, &corpus.retrieve_gen(), 0.5, 3.0).await?;
        json!({"c1_p50_ms": c.ok_lat.p50_ms, "c1_p99_ms": c.ok_lat.p99_ms})
    } else {
        Value::Null
    };
    let ok_p99 = open.ok.p99_ms;
    let ratio = ok_p99 / base_p99;
    let mut json = open.json;
    json["cpu"] = cpu;
    json["server_alive"] = json!(alive);
    json["health_status_after"] = health;
    json["after_overload"] = after;
    json["unloaded_p99_ms"] = json!(base_p99);
    json["admitted_p99_over_unloaded_p99"] = json!(ratio);
    json["within_3x"] = json!(ratio <= 3.0);
    Ok(Overload {
        offered: open.offered,
        admitted_rps: open.ok.count as f64 / secs,
        counts: open.counts,
        ok_p99,
        ratio,
        rejected_p99: open.rejected.p99_ms,
        alive: healthy,
        json,
    })
}

/// Phase 6: the overload again, for every workers × queue pair (the server restarted on the
/// same store each time); also each point's own unloaded p99 and closed-loop capacity.
async fn sweep(
    args: &Args,
    corpus: &Corpus,
    dir: &Path,
    work: &Path,
    rate: f64,
    base_p99: f64,
    report: &mut Report,
) -> Res<Vec<Value>> {
    let retrieve = corpus.retrieve_gen();
    let mut rows = Vec::new();
    for &workers in &args.sweep_workers {
        for &queue in &args.sweep_queue {
            let label = format!("sweep-w{workers}-q{queue}");
            let env = [
                ("DASH_WORKERS", workers.to_string()),
                ("DASH_QUEUE_CAPACITY", queue.to_string()),
            ];
            report.phase(&label, None, args).await;
            let server = Server::start(&args.server, dir, work, &label, &env).await?;
            let first = first_query(&server, &corpus.queries).await?;
            let ready = server.wait_indexed().await?;
            let own = closed_phase(&server, 1, &retrieve, 0.5, 3.0).await?;
            let cap = closed_phase(&server, args.concurrency, &retrieve, 1.0, 5.0).await?;
            let over =
                overload_phase(&server, corpus, rate, args.sweep_secs, args, base_p99).await?;
            report.note(format!(
                "{} | own c1 p99 {:.2} ms, c{} {:.0} q/s",
                over.line(&format!("  w{workers:>2} q{queue:>4}")),
                own.ok_lat.p99_ms,
                args.concurrency,
                cap.ok_rps
            ));
            let stop = server.stop().await?;
            rows.push(json!({
                "workers": workers,
                "queue": queue,
                "first_query_after_restart": first,
                "restart_index_wait_s": ready,
                "own_c1_p50_ms": own.ok_lat.p50_ms,
                "own_c1_p99_ms": own.ok_lat.p99_ms,
                "closed_loop_qps": cap.ok_rps,
                "closed_loop_p99_ms": cap.ok_lat.p99_ms,
                "closed_loop_statuses": cap.json["statuses"],
                "offered_rps": over.offered,
                "admitted_rps": over.admitted_rps,
                "statuses": over.counts,
                "admitted_p99_ms": over.ok_p99,
                "admitted_p99_over_unloaded_p99": over.ratio,
                "admitted_p99_over_own_c1_p99": over.ok_p99 / own.ok_lat.p99_ms,
                "rejected_p99_ms": over.rejected_p99,
                "alive_and_healthy": over.alive,
                "overload": over.json,
                "stop": stop,
            }));
        }
    }
    Ok(rows)
}

/// Phases 7 and 8 on one server: lag idle and under load, single-claim and batch ingest.
async fn write_phases(
    server: &Server,
    corpus: &Arc<Corpus>,
    args: &Args,
    mode: &str,
    report: &mut Report,
) -> Res<Value> {
    let summary = |lag: &Value| {
        let line = lag["summary"].as_str().unwrap_or_default();
        format!("{line}{}", noise(lag))
    };
    report
        .phase(&format!("{mode}: lag idle"), Some(server), args)
        .await;
    let idle = lag_phase(server, corpus, args, &format!("{mode}-idle"), 0).await?;
    report.note(format!("lag {mode} idle: {}", summary(&idle)));
    report
        .phase(&format!("{mode}: lag under load"), Some(server), args)
        .await;
    let background = args.lag_background;
    let loaded = lag_phase(server, corpus, args, &format!("{mode}-load"), background).await?;
    report.note(format!(
        "lag {mode} under c{background} retrieve: {}",
        summary(&loaded)
    ));

    report
        .phase(&format!("{mode}: single ingest"), Some(server), args)
        .await;
    let gen = corpus.ingest_gen(&format!("{mode}-single"));
    let (c, warmup, secs) = (args.concurrency, args.warmup_secs, args.ingest_secs);
    let single = closed_phase(server, c, &gen, warmup, secs).await?;
    report.note(single.line(&format!("ingest {mode} single claims (c{c})")));

    let pool = Arc::clone(&corpus.pool);
    let (count, size) = (args.ingest_batches, args.batch_size);
    let tag = format!("{mode}-batch");
    let bodies = tokio::task::spawn_blocking(move || pool.batches(&tag, count, size)).await??;
    report
        .phase(&format!("{mode}: batch ingest"), Some(server), args)
        .await;
    let (batch, rate) = send_batches(server, Arc::new(bodies), count * size, args).await?;
    report.note(format!(
        "ingest {mode} batch endpoint ({size}-item batches, c{}): {rate:.0} claims/s{}",
        args.load_concurrency,
        noise(&batch)
    ));
    Ok(json!({
        "lag_idle": idle,
        "lag_under_retrieve_load": loaded,
        "ingest_single": single.json,
        "ingest_batch_endpoint": batch,
        "health_after": server.health().await?,
    }))
}

/// Phase 7: `--lag-samples` writes, each polled for until visible; with `background`
/// retrieve connections running meanwhile (0 for none).
async fn lag_phase(
    server: &Server,
    corpus: &Arc<Corpus>,
    args: &Args,
    tag: &str,
    background: usize,
) -> Res<Value> {
    let meter = CpuMeter::start(server);
    let bg = if background > 0 {
        let stop = Arc::new(AtomicBool::new(false));
        let load = closed_loop(
            server.addr,
            background,
            corpus.retrieve_gen(),
            Arc::clone(&stop),
        );
        let handle = tokio::spawn(load);
        tokio::time::sleep(Duration::from_millis(500)).await;
        Some((stop, handle, Instant::now()))
    } else {
        None
    };
    let mut rng = SplitMix::seeded();
    let mut write = Conn::open(server.addr).await?;
    let mut poll = Conn::open(server.addr).await?;
    let mut samples = Vec::with_capacity(args.lag_samples);
    for i in 0..args.lag_samples {
        let token = format!("zq{}", rng.word(12));
        let claim_id = format!("lag-{tag}-{i}");
        let body = corpus.pool.item(&claim_id, i, Some(&token))?;
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("tenant_id", &corpus.tenant)
            .append_pair("query", &token)
            .append_pair("top_k", "1")
            .finish();
        let requests = (
            Req::post("/v1/ingest", body.into()),
            Req::get(&format!("/v1/retrieve?{query}")),
        );
        let (conn, sample) = lag_once(write, &mut poll, requests, &claim_id).await?;
        write = conn;
        samples.push(sample);
    }
    let background_json = match bg {
        Some((stop, handle, from)) => {
            let to = Instant::now();
            stop.store(true, Ordering::Relaxed);
            Window::new(handle.await??, from, to).report()
        }
        None => Value::Null,
    };
    Ok(lag_report(
        &samples,
        background,
        background_json,
        meter.finish(),
    ))
}

/// One lag sample.
struct LagSample {
    write_status: u16,
    ack: Duration,
    /// From sending the write to receiving the first poll answer that shows the claim.
    visible: Option<Duration>,
    /// From sending the write to sending that poll (a lower bound).
    visible_sent: Option<Duration>,
    polls: u32,
}

/// Sends the write on its own connection (moved into a task) and polls on `poll` meanwhile.
async fn lag_once(
    mut write: Conn,
    poll: &mut Conn,
    (ingest, query): (Req, Req),
    claim_id: &str,
) -> Res<(Conn, LagSample)> {
    let t0 = Instant::now();
    let writer = tokio::spawn(async move {
        let answer = write.send(&ingest).await;
        (write, answer, t0.elapsed())
    });
    let mut polls = 0;
    let (mut visible, mut visible_sent) = (None, None);
    while t0.elapsed() < LAG_TIMEOUT {
        let sent = t0.elapsed();
        let (status, body) = poll.send(&query).await?;
        polls += 1;
        if status == StatusCode::OK && top_claim(&body)?.as_deref() == Some(claim_id) {
            visible = Some(t0.elapsed());
            visible_sent = Some(sent);
            break;
        }
        if writer.is_finished() && polls > 1000 {
            break; // written (or refused) and still not visible after many polls
        }
    }
    let (write, answer, ack) = writer.await?;
    let (status, _) = answer?;
    Ok((
        write,
        LagSample {
            write_status: status.as_u16(),
            ack,
            visible,
            visible_sent,
            polls,
        },
    ))
}

fn lag_report(samples: &[LagSample], background: usize, bg: Value, cpu: Value) -> Value {
    let seen: Vec<&LagSample> = samples.iter().filter(|s| s.visible.is_some()).collect();
    let lag = Lat::of(seen.iter().filter_map(|s| s.visible).map(micros).collect());
    let lower = Lat::of(
        seen.iter()
            .filter_map(|s| s.visible_sent)
            .map(micros)
            .collect(),
    );
    let ack = Lat::of(samples.iter().map(|s| micros(s.ack)).collect());
    let before_ack = seen
        .iter()
        .filter(|s| s.visible.is_some_and(|v| v < s.ack))
        .count();
    let failed_writes = samples.iter().filter(|s| s.write_status != 200).count();
    let polls: u64 = samples.iter().map(|s| u64::from(s.polls)).sum();
    json!({
        "samples": samples.len(),
        "visible": seen.len(),
        "not_visible": samples.len() - seen.len(),
        "failed_writes": failed_writes,
        "lag_ms": lag,
        "lag_lower_bound_ms": lower,
        "write_ack_ms": ack,
        "visible_before_ack": before_ack,
        "mean_polls": polls as f64 / samples.len().max(1) as f64,
        "p95_within_50ms": lag.p95_ms <= 50.0 && seen.len() == samples.len(),
        "background_concurrency": background,
        "background": bg,
        "cpu": cpu,
        "summary": format!(
            "lag p50 {:.2} / p95 {:.2} / max {:.2} ms (ack p50 {:.2} ms; {} of {} visible, \
             {} before the ack)",
            lag.p50_ms, lag.p95_ms, lag.max_ms, ack.p50_ms, seen.len(), samples.len(), before_ack
        ),
    })
}

/// One retrieve sent as soon as a (re)started server listens: the store rebuilds its indexes at
/// open, and queries wait for them.
async fn first_query(server: &Server, queries: &[Req]) -> Res<Value> {
    let query = queries.first().ok_or("no queries")?;
    let started = Instant::now();
    let (status, body) = Conn::open(server.addr).await?.send(query).await?;
    let ok = status == StatusCode::OK;
    Ok(json!({
        "status": status.as_u16(),
        "ms": ms(started.elapsed()),
        "error": (!ok).then(|| snippet(&body)),
    }))
}

/// The `claim_id` of the first result of a retrieve answer.
fn top_claim(body: &[u8]) -> Res<Option<String>> {
    let answer: Value = serde_json::from_slice(body)?;
    Ok(answer["results"][0]["claim_id"].as_str().map(str::to_owned))
}

// ---------------------------------------------------------------------------------------------
// Load shapes

/// Makes the `i`-th request of a closed loop.
type Gen = Arc<dyn Fn(u64) -> Res<Req> + Send + Sync>;

/// A request: method, path and query, JSON body (empty for none).
#[derive(Clone)]
struct Req {
    method: Method,
    path: String,
    body: Bytes,
}

impl Req {
    fn get(path: &str) -> Self {
        Self {
            method: Method::GET,
            path: path.to_owned(),
            body: Bytes::new(),
        }
    }

    fn post(path: &str, body: Bytes) -> Self {
        Self {
            method: Method::POST,
            path: path.to_owned(),
            body,
        }
    }
}

/// One answered (or failed: status 0) request.
#[derive(Clone, Copy)]
struct Sample {
    status: u16,
    micros: u32,
    done: Instant,
}

impl Sample {
    fn since(status: u16, sent: Instant) -> Self {
        let done = Instant::now();
        Self {
            status,
            micros: micros(done - sent),
            done,
        }
    }
}

/// The samples of a closed loop that completed within a measurement window.
struct Window {
    samples: Vec<Sample>,
    secs: f64,
}

impl Window {
    fn new(samples: Vec<Sample>, from: Instant, to: Instant) -> Self {
        let samples = samples
            .into_iter()
            .filter(|s| s.done >= from && s.done <= to)
            .collect();
        Self {
            samples,
            secs: (to - from).as_secs_f64(),
        }
    }

    fn latency(&self, status: impl Fn(u16) -> bool) -> Lat {
        Lat::of(
            self.samples
                .iter()
                .filter(|s| status(s.status))
                .map(|s| s.micros)
                .collect(),
        )
    }

    fn report(&self) -> Value {
        let ok = self.latency(|s| (200..300).contains(&s));
        let rejected = self.latency(|s| s == 429);
        json!({
            "window_s": self.secs,
            "completed": self.samples.len(),
            "throughput_rps": self.samples.len() as f64 / self.secs,
            "ok_rps": ok.count as f64 / self.secs,
            "statuses": status_counts(self.samples.iter().map(|s| s.status)),
            "latency_ok_ms": ok,
            "latency_429_ms": (rejected.count > 0).then_some(rejected),
        })
    }
}

/// Runs a closed loop for `warmup + secs` and keeps what completed in the last `secs`.
async fn measure_closed(
    addr: SocketAddr,
    concurrency: usize,
    gen: &Gen,
    warmup: f64,
    secs: f64,
) -> Res<Window> {
    let stop = Arc::new(AtomicBool::new(false));
    let handle = tokio::spawn(closed_loop(
        addr,
        concurrency,
        Arc::clone(gen),
        Arc::clone(&stop),
    ));
    tokio::time::sleep(Duration::from_secs_f64(warmup)).await;
    let from = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    let to = Instant::now();
    stop.store(true, Ordering::Relaxed);
    Ok(Window::new(handle.await??, from, to))
}

/// `concurrency` connections in a closed loop until `stop`.
async fn closed_loop(
    addr: SocketAddr,
    concurrency: usize,
    gen: Gen,
    stop: Arc<AtomicBool>,
) -> Res<Vec<Sample>> {
    let seq = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (gen, stop, seq) = (Arc::clone(&gen), Arc::clone(&stop), Arc::clone(&seq));
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await?;
            let mut samples = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let req = gen(seq.fetch_add(1, Ordering::Relaxed))?;
                let sent = Instant::now();
                let status = match conn.send(&req).await {
                    Ok((status, _)) => status.as_u16(),
                    Err(_) => {
                        conn = Conn::reopen(addr).await?;
                        0
                    }
                };
                samples.push(Sample::since(status, sent));
            }
            Ok::<_, BoxError>(samples)
        }));
    }
    let mut samples = Vec::new();
    for task in tasks {
        samples.extend(task.await??);
    }
    Ok(samples)
}

/// What an open loop measured.
struct OpenLoop {
    offered: f64,
    counts: BTreeMap<String, u64>,
    ok: Lat,
    rejected: Lat,
    json: Value,
}

/// Shared state of the open loop's request tasks.
struct OpenShared {
    addr: SocketAddr,
    idle: Mutex<Vec<Conn>>,
    results: Mutex<Vec<(Sample, u32)>>,
    in_flight: AtomicUsize,
    lost_conns: AtomicUsize,
}

/// Sends `reqs` round-robin on a fixed schedule of `rate` per second for `secs`, whatever the
/// answers: each due request takes an idle connection (of `max_conns` opened beforehand), or is
/// counted as skipped when all are busy.
async fn open_loop(
    addr: SocketAddr,
    reqs: &[Req],
    rate: f64,
    secs: f64,
    max_conns: usize,
) -> Res<OpenLoop> {
    if reqs.is_empty() || rate <= 0.0 {
        return Err("open loop: no requests or no rate".into());
    }
    let shared = Arc::new(OpenShared {
        addr,
        idle: Mutex::new(open_many(addr, max_conns).await?),
        results: Mutex::new(Vec::new()),
        in_flight: AtomicUsize::new(0),
        lost_conns: AtomicUsize::new(0),
    });
    let total = Duration::from_secs_f64(secs);
    let (mut sent, mut skipped) = (0u64, 0u64);
    let t0 = Instant::now();
    while t0.elapsed() < total {
        let due = (t0.elapsed().as_secs_f64() * rate) as u64;
        while sent < due {
            let scheduled = t0 + Duration::from_secs_f64(sent as f64 / rate);
            let req = reqs[sent as usize % reqs.len()].clone();
            sent += 1;
            let conn = shared.idle.lock().map_err(|_| "poisoned")?.pop();
            match conn {
                Some(conn) => {
                    shared.in_flight.fetch_add(1, Ordering::AcqRel);
                    tokio::spawn(open_request(Arc::clone(&shared), conn, req, scheduled));
                }
                None => skipped += 1,
            }
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    let drain_start = Instant::now();
    while shared.in_flight.load(Ordering::Acquire) > 0 && drain_start.elapsed() < REQUEST_TIMEOUT {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let drain_ms = ms(drain_start.elapsed());
    let results = std::mem::take(&mut *shared.results.lock().map_err(|_| "poisoned")?);
    let lat = |want: &dyn Fn(u16) -> bool| {
        Lat::of(
            results
                .iter()
                .filter(|(s, _)| want(s.status))
                .map(|(s, _)| s.micros)
                .collect(),
        )
    };
    let ok = lat(&|s| (200..300).contains(&s));
    let rejected = lat(&|s| s == 429);
    let other = lat(&|s| !(200..300).contains(&s) && s != 429);
    let counts = status_counts(results.iter().map(|(s, _)| s.status));
    let offered = sent as f64 / secs;
    let json = json!({
        "target_rps": rate,
        "seconds": secs,
        "scheduled": sent,
        "sent": results.len(),
        "skipped_no_idle_connection": skipped,
        "offered_rps": offered,
        "admitted_rps": ok.count as f64 / secs,
        "statuses": counts,
        "latency_ok_ms": ok,
        "latency_429_ms": rejected,
        "latency_other_ms": other,
        "dispatch_lateness_ms": Lat::of(results.iter().map(|r| r.1).collect()),
        "connections": max_conns,
        "connections_lost": shared.lost_conns.load(Ordering::Acquire),
        "unfinished_after_drain": shared.in_flight.load(Ordering::Acquire),
        "drain_ms": drain_ms,
    });
    Ok(OpenLoop {
        offered,
        counts,
        ok,
        rejected,
        json,
    })
}

/// One open-loop request; the connection goes back to the idle pool (reopened after an error).
async fn open_request(shared: Arc<OpenShared>, mut conn: Conn, req: Req, scheduled: Instant) {
    let sent = Instant::now();
    let late = micros(sent.saturating_duration_since(scheduled));
    let status = conn.send(&req).await.map(|(s, _)| s.as_u16()).ok();
    let sample = Sample::since(status.unwrap_or(0), sent);
    if let Ok(mut results) = shared.results.lock() {
        results.push((sample, late));
    }
    let conn = match status {
        Some(_) => Some(conn),
        None => Conn::open(shared.addr).await.ok(),
    };
    match (conn, shared.idle.lock()) {
        (Some(conn), Ok(mut idle)) => idle.push(conn),
        _ => {
            shared.lost_conns.fetch_add(1, Ordering::AcqRel);
        }
    }
    shared.in_flight.fetch_sub(1, Ordering::AcqRel);
}

// ---------------------------------------------------------------------------------------------
// HTTP

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    tx: SendRequest<Full<Bytes>>,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Res<Self> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (tx, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Self { tx })
    }

    /// Opens a connection, retrying for a few seconds (after a connection failed).
    async fn reopen(addr: SocketAddr) -> Res<Self> {
        let mut last = None;
        for _ in 0..100 {
            match Self::open(addr).await {
                Ok(conn) => return Ok(conn),
                Err(err) => last = Some(err),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(last.unwrap_or_else(|| "cannot reconnect".into()))
    }

    /// Sends `req` and reads the whole answer.
    async fn send(&mut self, req: &Req) -> Res<(StatusCode, Bytes)> {
        let exchange = async {
            self.tx.ready().await?;
            let mut builder = hyper::Request::builder()
                .method(req.method.clone())
                .uri(req.path.as_str())
                .header(HOST, "127.0.0.1")
                .header("x-api-key", API_KEY);
            if !req.body.is_empty() {
                builder = builder.header(CONTENT_TYPE, "application/json");
            }
            let answer = self
                .tx
                .send_request(builder.body(Full::new(req.body.clone()))?)
                .await?;
            let status = answer.status();
            let body = answer.into_body().collect().await?.to_bytes();
            Ok::<_, BoxError>((status, body))
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| BoxError::from("request timed out"))?
    }
}

/// `n` connections, opened concurrently.
async fn open_many(addr: SocketAddr, n: usize) -> Res<Vec<Conn>> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        set.spawn(Conn::open(addr));
    }
    let mut conns = Vec::with_capacity(n);
    while let Some(conn) = set.join_next().await {
        conns.push(conn??);
    }
    Ok(conns)
}

// ---------------------------------------------------------------------------------------------
// The server process

/// A running `dash serve`; killed if dropped while still running.
struct Server {
    child: Child,
    stdout: BufReader<ChildStdout>,
    addr: SocketAddr,
    label: String,
}

impl Server {
    /// Starts `dash serve` on `data_dir` with the run's settings plus `env`, and waits for its
    /// `dash listening on ADDR` line. Its stderr goes to `<logs>/<label>.stderr`.
    async fn start(
        bin: &Path,
        data_dir: &Path,
        logs: &Path,
        label: &str,
        env: &[(&str, String)],
    ) -> Res<Self> {
        std::fs::create_dir_all(data_dir)?;
        let stderr_path = logs.join(format!("{label}.stderr"));
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&stderr_path)?);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("DASH_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("DASH_BIND", "127.0.0.1:0")
            .env("DASH_API_KEYS", API_KEY)
            .env("DASH_ADMIN_API_KEYS", API_KEY)
            .env("DASH_RATE_LIMIT_RPS", "0")
            .env("DASH_LOG", "warn");
        for (key, value) in env {
            cmd.env(key, value);
        }
        let started = Instant::now();
        let label = label.to_owned();
        let server =
            tokio::task::spawn_blocking(move || Self::spawn(cmd, label, &stderr_path)).await??;
        eprintln!(
            "[{}] listening on {} after {:.1} s (pid {})",
            server.label,
            server.addr,
            started.elapsed().as_secs_f64(),
            server.child.id()
        );
        Ok(server)
    }

    fn spawn(mut cmd: Command, label: String, stderr_path: &Path) -> Res<Self> {
        let mut child = cmd.spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout pipe")?;
        let mut server = Self {
            child,
            stdout: BufReader::new(stdout),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            label,
        };
        let mut line = String::new();
        server.stdout.read_line(&mut line)?;
        match line.trim().strip_prefix("dash listening on ") {
            Some(addr) => {
                server.addr = addr.parse()?;
                Ok(server)
            }
            None => {
                let log = std::fs::read_to_string(stderr_path).unwrap_or_default();
                Err(format!("{} did not start: {line}{log}", server.label).into())
            }
        }
    }

    fn alive(&self) -> bool {
        // try_wait needs &mut; /proc says whether the process is still there and not a zombie.
        std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .map(|stat| {
                stat.rsplit_once(')')
                    .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
            })
            .unwrap_or(false)
    }

    async fn health_status(&self) -> Res<StatusCode> {
        let mut conn = Conn::open(self.addr).await?;
        Ok(conn.send(&Req::get("/health")).await?.0)
    }

    /// `GET /debug/storage` (memtable, segments, dense index state).
    async fn storage(&self) -> Res<Value> {
        let mut conn = Conn::open(self.addr).await?;
        let (_, body) = conn.send(&Req::get("/debug/storage")).await?;
        Ok(serde_json::from_slice(&body)?)
    }

    async fn health(&self) -> Res<Value> {
        let mut conn = Conn::open(self.addr).await?;
        let (_, body) = conn.send(&Req::get("/health")).await?;
        Ok(serde_json::from_slice(&body)?)
    }

    /// Waits until `/health` says `"indexing": false` three times in a row; returns the wait.
    async fn wait_indexed(&self) -> Res<f64> {
        let started = Instant::now();
        let mut conn = Conn::open(self.addr).await?;
        let mut clear = 0;
        while clear < 3 {
            if started.elapsed() > INDEX_WAIT {
                return Err(format!("[{}] still indexing after {INDEX_WAIT:?}", self.label).into());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            let (status, body) = conn.send(&Req::get("/health")).await?;
            let health: Value = serde_json::from_slice(&body)?;
            let done = status == StatusCode::OK && health["indexing"] == json!(false);
            clear = if done { clear + 1 } else { 0 };
        }
        let waited = started.elapsed().as_secs_f64();
        eprintln!("[{}] indexes ready after {waited:.1} s", self.label);
        Ok(waited)
    }

    /// SIGTERM, then waits for the exit (SIGKILL after a minute).
    async fn stop(mut self) -> Res<Value> {
        let started = Instant::now();
        let rss = rss_mb(self.child.id());
        let cpu = cpu_secs(&self.child.id().to_string());
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()?;
        loop {
            if let Some(status) = self.child.try_wait()? {
                eprintln!("[{}] stopped: {status}", self.label);
                return Ok(json!({
                    "exit_code": status.code(),
                    "shutdown_ms": ms(started.elapsed()),
                    "rss_mb_before_stop": rss,
                    "server_cpu_s_total": cpu,
                }));
            }
            if started.elapsed() > Duration::from_secs(60) {
                self.child.kill()?;
                self.child.wait()?;
                return Ok(json!({"exit_code": null, "killed_after_ms": ms(started.elapsed())}));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// CPU seconds used by the server, by this process and by the whole machine over a phase:
/// `other_cores` is what the rest of the machine took (another build, say), `steal_cores` what
/// the hypervisor did not give this VM; either makes the figures of that phase suspect.
struct CpuMeter {
    pid: String,
    started: Instant,
    server: f64,
    client: f64,
    machine: MachineCpu,
}

impl CpuMeter {
    fn start(server: &Server) -> Self {
        let pid = server.child.id().to_string();
        Self {
            server: cpu_secs(&pid),
            client: cpu_secs("self"),
            machine: MachineCpu::now(),
            pid,
            started: Instant::now(),
        }
    }

    fn finish(&self) -> Value {
        let wall = self.started.elapsed().as_secs_f64();
        let server = cpu_secs(&self.pid) - self.server;
        let client = cpu_secs("self") - self.client;
        let machine = MachineCpu::now();
        let busy = machine.busy - self.machine.busy;
        json!({
            "wall_s": wall,
            "server_cpu_s": server,
            "client_cpu_s": client,
            "server_cores": server / wall,
            "client_cores": client / wall,
            "machine_busy_cores": busy / wall,
            "other_cores": (busy - server - client).max(0.0) / wall,
            "steal_cores": (machine.steal - self.machine.steal) / wall,
        })
    }
}

/// The first line of `/proc/stat`, in seconds: busy (user, nice, system, irq, softirq) and
/// stolen time.
#[derive(Default)]
struct MachineCpu {
    busy: f64,
    steal: f64,
}

impl MachineCpu {
    fn now() -> Self {
        let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
            return Self::default();
        };
        let Some(line) = stat.lines().next() else {
            return Self::default();
        };
        let ticks: Vec<f64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|f| f.parse().ok())
            .collect();
        let at = |i: usize| ticks.get(i).copied().unwrap_or(0.0) / CLK_TCK;
        Self {
            busy: at(0) + at(1) + at(2) + at(5) + at(6),
            steal: at(7),
        }
    }
}

/// Other processes above this many cores make a phase's figures suspect.
const NOISE_CORES: f64 = 0.2;

/// A warning when other processes took CPU during the phase whose figures are `figures`.
fn noise(figures: &Value) -> String {
    match figures["cpu"]["other_cores"].as_f64() {
        Some(other) if other > NOISE_CORES => {
            format!(" [NOISY: other processes used {other:.2} cores]")
        }
        _ => String::new(),
    }
}

/// Waits up to `limit` seconds until, over one second, processes other than this one and the
/// server used less than [`NOISE_CORES`]. Returns the wait and the last measurement.
async fn wait_quiet(server: Option<&Server>, limit: f64) -> (f64, f64) {
    let pid = server.map(|s| s.child.id().to_string());
    let started = Instant::now();
    loop {
        let own = |pid: &Option<String>| pid.as_deref().map_or(0.0, cpu_secs) + cpu_secs("self");
        let (before, own_before, t0) = (MachineCpu::now(), own(&pid), Instant::now());
        tokio::time::sleep(Duration::from_secs(1)).await;
        let wall = t0.elapsed().as_secs_f64();
        let other = (MachineCpu::now().busy - before.busy - (own(&pid) - own_before)) / wall;
        let waited = started.elapsed().as_secs_f64();
        if other < NOISE_CORES || waited >= limit {
            return (waited, other);
        }
    }
}

/// utime + stime of `/proc/<pid>/stat`, in seconds (0 when unreadable).
fn cpu_secs(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    // After the command: state (field 3) ... utime (14), stime (15).
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / CLK_TCK
}

/// Resident memory of a process (MB).
fn rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Warnings and errors in the servers' logs (`DASH_LOG=warn`: every line is one).
fn server_logs(dir: &Path) -> Value {
    let mut out = Map::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Value::Object(out);
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.extension().is_none_or(|e| e != "stderr") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        out.insert(
            name.unwrap_or_default(),
            json!({
                "lines": lines.len(),
                "first": lines.iter().take(10).collect::<Vec<_>>(),
            }),
        );
    }
    Value::Object(out)
}

/// `nproc`, the CPU model, memory, kernel, and the commit measured.
fn machine() -> Value {
    let run = |cmd: &str, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let model = run("lscpu", &[]).and_then(|out| {
        out.lines()
            .find(|l| l.starts_with("Model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
    });
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().map(str::to_owned));
    json!({
        "nproc": run("nproc", &[]),
        "cpu_model": model,
        "memory": mem,
        "kernel": run("uname", &["-r"]),
        "git_commit": run("git", &["rev-parse", "HEAD"]),
        "git_modified_files": run("git", &["status", "--porcelain", "--untracked-files=no"]),
        "note": "client and server share these cores",
    })
}

// ---------------------------------------------------------------------------------------------
// The corpus

/// One line of claims.jsonl.
#[derive(Deserialize)]
struct Line {
    claim: Map<String, Value>,
    #[serde(default)]
    evidence: Vec<Value>,
    #[serde(default)]
    edges: Vec<Value>,
}

/// An ingest item as sent: the claim's fields plus its vector as `embedding`.
#[derive(Serialize)]
struct WireItem<'a> {
    claim: WireClaim<'a>,
    evidence: &'a [Value],
    edges: &'a [Value],
}

#[derive(Serialize)]
struct WireClaim<'a> {
    #[serde(flatten)]
    fields: &'a Map<String, Value>,
    embedding: &'a [f32],
}

/// `POST /v1/retrieve`'s body.
#[derive(Serialize)]
struct RetrieveBody<'a> {
    tenant_id: &'a str,
    query: &'a str,
    query_embedding: &'a [f32],
    top_k: usize,
}

/// Corpus lines that fresh claims are made from.
struct Pool {
    lines: Vec<(Line, Vec<f32>)>,
}

impl Pool {
    /// The item `claim_id` made from line `seq % len`: ids renamed (claim, evidence, edge
    /// sources), the text prefixed with `token` if given.
    fn item(&self, claim_id: &str, seq: usize, token: Option<&str>) -> Res<Vec<u8>> {
        let (line, embedding) = self
            .lines
            .get(seq % self.lines.len().max(1))
            .ok_or("empty pool")?;
        let mut claim = line.claim.clone();
        claim.insert("claim_id".into(), json!(claim_id));
        if let Some(token) = token {
            let text = claim.get("canonical_text").and_then(Value::as_str);
            let text = text.unwrap_or_default();
            claim.insert("canonical_text".into(), json!(format!("{token} {text}")));
        }
        let rename = |values: &[Value], key: &str| -> Vec<Value> {
            let mut values = values.to_vec();
            for (j, value) in values.iter_mut().enumerate() {
                if let Some(object) = value.as_object_mut() {
                    object.insert(key.into(), json!(claim_id));
                    if object.contains_key("evidence_id") {
                        object.insert("evidence_id".into(), json!(format!("{claim_id}-e{j}")));
                    }
                }
            }
            values
        };
        let item = WireItem {
            claim: WireClaim {
                fields: &claim,
                embedding,
            },
            evidence: &rename(&line.evidence, "claim_id"),
            edges: &rename(&line.edges, "from_claim_id"),
        };
        Ok(serde_json::to_vec(&item)?)
    }

    /// `count` batch bodies of `size` fresh items, `commit_id`s `<tag>-<n>`.
    fn batches(&self, tag: &str, count: usize, size: usize) -> Res<Vec<Bytes>> {
        (0..count)
            .map(|b| {
                let items = (b * size..(b + 1) * size)
                    .map(|i| self.item(&format!("{tag}-{i}"), i, None))
                    .collect::<Res<Vec<_>>>()?;
                batch_body(&format!("{tag}-{b}"), &items)
            })
            .collect()
    }
}

/// `{"commit_id": ..., "items": [...]}` from serialised items.
fn batch_body(commit_id: &str, items: &[Vec<u8>]) -> Res<Bytes> {
    let len = items.iter().map(|i| i.len() + 1).sum::<usize>() + commit_id.len() + 32;
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(b"{\"commit_id\":");
    serde_json::to_writer(&mut out, commit_id)?;
    out.extend_from_slice(b",\"items\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item);
    }
    out.extend_from_slice(b"]}");
    Ok(out.into())
}

/// What the run sends.
struct Corpus {
    tenant: String,
    loaded: usize,
    load_batches: Vec<Bytes>,
    pool: Arc<Pool>,
    queries: Vec<Req>,
    body_bytes: usize,
}

impl Corpus {
    fn describe(&self) -> Value {
        json!({
            "tenant": self.tenant,
            "claims_loaded": self.loaded,
            "load_batches": self.load_batches.len(),
            "load_body_mb": self.body_bytes as f64 / 1e6,
            "fresh_claim_templates": self.pool.lines.len(),
            "queries": self.queries.len(),
            "query": "POST /v1/retrieve {tenant_id, query, query_embedding (128-d), top_k: 10}",
        })
    }

    /// The queries, round-robin.
    fn retrieve_gen(&self) -> Gen {
        let queries = Arc::new(self.queries.clone());
        Arc::new(move |i| {
            queries
                .get(i as usize % queries.len().max(1))
                .cloned()
                .ok_or_else(|| "no queries".into())
        })
    }

    /// Fresh single claims `<tag>-<i>` for `POST /v1/ingest`.
    fn ingest_gen(&self, tag: &str) -> Gen {
        let (pool, tag) = (Arc::clone(&self.pool), tag.to_owned());
        Arc::new(move |i| {
            let body = pool.item(&format!("{tag}-{i}"), i as usize, None)?;
            Ok(Req::post("/v1/ingest", body.into()))
        })
    }
}

async fn read_corpus(args: &Args) -> Res<Corpus> {
    let (dir, n, pool, size) = (args.data.clone(), args.n, args.pool, args.batch_size);
    let started = Instant::now();
    eprintln!(
        "reading {} claims (+{pool} fresh) from {}",
        n,
        dir.display()
    );
    let corpus =
        tokio::task::spawn_blocking(move || read_corpus_blocking(&dir, n, pool, size)).await??;
    eprintln!(
        "corpus ready in {:.1} s: {} batches, {:.0} MB",
        started.elapsed().as_secs_f64(),
        corpus.load_batches.len(),
        corpus.body_bytes as f64 / 1e6
    );
    Ok(corpus)
}

fn read_corpus_blocking(dir: &Path, n: usize, pool: usize, size: usize) -> Res<Corpus> {
    let rows = n + pool.max(1);
    let vectors = read_vectors(&dir.join("vectors.f32"), rows)?;
    let file = File::open(dir.join("claims.jsonl"))?;
    let mut tenant: Option<String> = None;
    let (mut batches, mut current, mut templates) = (Vec::new(), Vec::new(), Vec::new());
    for (i, text) in BufReader::with_capacity(1 << 20, file)
        .lines()
        .take(rows)
        .enumerate()
    {
        let mut line: Line = serde_json::from_str(&text?)
            .map_err(|e| format!("claims.jsonl line {}: {e}", i + 1))?;
        line.claim.remove("embedding");
        // Every claim goes to the first claim's tenant (a batch is one tenant).
        let first = line
            .claim
            .get("tenant_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let tenant = match &tenant {
            Some(t) => t.clone(),
            None => tenant
                .insert(first.ok_or("the first claim has no tenant_id")?)
                .clone(),
        };
        line.claim.insert("tenant_id".into(), json!(tenant));
        let embedding = vectors
            .get(i * DIM..(i + 1) * DIM)
            .ok_or("vectors.f32 is short")?;
        if i >= n {
            templates.push((line, embedding.to_vec()));
            continue;
        }
        current.push(serde_json::to_vec(&WireItem {
            claim: WireClaim {
                fields: &line.claim,
                embedding,
            },
            evidence: &line.evidence,
            edges: &line.edges,
        })?);
        if current.len() == size || i + 1 == n {
            batches.push(batch_body(&format!("load-{}", batches.len()), &current)?);
            current.clear();
        }
    }
    if templates.len() < pool.max(1) {
        return Err(format!("claims.jsonl has fewer than {rows} lines (n + pool)").into());
    }
    let tenant = tenant.ok_or("no claims")?;
    let queries = read_queries(dir, &tenant)?;
    Ok(Corpus {
        body_bytes: batches.iter().map(Bytes::len).sum(),
        loaded: n,
        load_batches: batches,
        pool: Arc::new(Pool { lines: templates }),
        queries,
        tenant,
    })
}

/// queries.jsonl + queries.f32 as `POST /v1/retrieve` requests.
fn read_queries(dir: &Path, tenant: &str) -> Res<Vec<Req>> {
    let file = File::open(dir.join("queries.jsonl"))?;
    let mut texts = Vec::new();
    for line in BufReader::new(file).lines() {
        let query: Value = serde_json::from_str(&line?)?;
        texts.push(
            query["text"]
                .as_str()
                .ok_or("a query without text")?
                .to_owned(),
        );
    }
    let vectors = read_vectors(&dir.join("queries.f32"), texts.len())?;
    let queries = texts
        .iter()
        .zip(vectors.chunks_exact(DIM))
        .map(|(text, vector)| {
            let body = RetrieveBody {
                tenant_id: tenant,
                query: text,
                query_embedding: vector,
                top_k: 10,
            };
            Ok(Req::post("/v1/retrieve", serde_json::to_vec(&body)?.into()))
        })
        .collect::<Res<Vec<_>>>()?;
    if queries.is_empty() {
        return Err("no queries".into());
    }
    Ok(queries)
}

/// The first `rows` rows of a little-endian f32 matrix of `DIM` columns.
fn read_vectors(path: &Path, rows: usize) -> Res<Vec<f32>> {
    let mut bytes = vec![0u8; rows * DIM * 4];
    File::open(path)?
        .read_exact(&mut bytes)
        .map_err(|e| format!("{}: {e} (need {rows} rows)", path.display()))?;
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Figures

/// Latency percentiles (milliseconds; nearest rank).
#[derive(Serialize, Clone, Copy, Default, Debug)]
struct Lat {
    count: usize,
    mean_ms: f64,
    p50_ms: f64,
    p90_ms: f64,
    p95_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

impl Lat {
    fn of(mut micros: Vec<u32>) -> Self {
        if micros.is_empty() {
            return Self::default();
        }
        micros.sort_unstable();
        let at = |p: f64| {
            let rank = ((p / 100.0) * micros.len() as f64).ceil() as usize;
            f64::from(micros[rank.clamp(1, micros.len()) - 1]) / 1e3
        };
        let sum: u64 = micros.iter().map(|&m| u64::from(m)).sum();
        Self {
            count: micros.len(),
            mean_ms: sum as f64 / micros.len() as f64 / 1e3,
            p50_ms: at(50.0),
            p90_ms: at(90.0),
            p95_ms: at(95.0),
            p99_ms: at(99.0),
            max_ms: at(100.0),
        }
    }
}

fn status_counts(statuses: impl Iterator<Item = u16>) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for status in statuses {
        let key = if status == 0 {
            "transport_error".to_owned()
        } else {
            status.to_string()
        };
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned()
}

/// The figures so far (rewritten to `--out` after every phase) and the summary lines.
struct Report {
    path: PathBuf,
    figures: Map<String, Value>,
    lines: Vec<String>,
    phases: Vec<Value>,
}

impl Report {
    fn new(path: PathBuf) -> Self {
        Self {
            path,
            figures: Map::new(),
            lines: Vec::new(),
            phases: Vec::new(),
        }
    }

    fn set(&mut self, key: &str, value: Value) {
        self.figures.insert(key.to_owned(), value);
    }

    /// Sets a section whose `summary` is also a summary line.
    fn section(&mut self, key: &str, value: Value) {
        if let Some(line) = value["summary"].as_str() {
            self.note(line.to_owned());
        }
        self.set(key, value);
    }

    /// Waits for a quiet machine (see [`wait_quiet`]), then marks the start of a phase (UTC, to
    /// match the servers' log lines).
    async fn phase(&mut self, name: &str, server: Option<&Server>, args: &Args) {
        let (waited, other) = wait_quiet(server, args.quiet_wait_secs).await;
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        eprintln!("== {name} ({now}; waited {waited:.0} s for a quiet machine)");
        self.phases.push(json!({
            "phase": name,
            "started_utc": now,
            "quiet_wait_s": waited,
            "other_cores_at_start": other,
        }));
    }

    fn note(&mut self, line: String) {
        println!("{line}");
        self.lines.push(line);
    }

    fn save(&mut self) -> Res<()> {
        self.figures.insert("summary".into(), json!(self.lines));
        self.figures.insert("phases".into(), json!(self.phases));
        std::fs::write(
            &self.path,
            serde_json::to_vec_pretty(&Value::Object(self.figures.clone()))?,
        )?;
        Ok(())
    }

    fn print_summary(&self) {
        println!("\n==== summary ====");
        if let Some(machine) = self.figures.get("machine") {
            println!(
                "machine: {} cores, {}",
                machine["nproc"].as_str().unwrap_or("?"),
                machine["cpu_model"].as_str().unwrap_or("?")
            );
        }
        for line in &self.lines {
            println!("{line}");
        }
    }
}

/// SplitMix64, for the lag phase's random words.
struct SplitMix(u64);

impl SplitMix {
    fn seeded() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Self(nanos)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `len` random lowercase letters.
    fn word(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from(b'a' + (self.next() % 26) as u8))
            .collect()
    }
}
