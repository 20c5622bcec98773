//! The measurements the phases are made of: loading batches, a closed-loop measurement, an
//! overload (open loop) and the first query after a start.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dash_bench::stats::Lat;
use dash_bench::{BoxError, Res};
use hyper::StatusCode;
use serde_json::{json, Value};

use super::client::{snippet, Conn, Req};
use super::corpus::Corpus;
use super::cpu::{noise, CpuMeter};
use super::loops::{measure_closed, open_loop, Gen};
use super::report::ms;
use super::server::Server;
use super::Args;

/// Claims after which the load's early rate is taken (`first_10k_claims_per_s`).
const EARLY_CLAIMS: usize = 10_000;

/// Phase 1: the corpus in batches, then the wait for the index builds.
pub(super) async fn load(server: &Server, corpus: &Corpus, args: &Args) -> Res<Value> {
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
pub(super) async fn preload(server: &Server, corpus: &Corpus, args: &Args) -> Res<Value> {
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
pub(super) async fn send_batches(
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
            // (latency, finished since t0) of each batch.
            let mut done: Vec<(Duration, Duration)> = Vec::new();
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
                done.push((sent.elapsed(), t0.elapsed()));
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
    let early_batches = EARLY_CLAIMS.div_ceil(per_batch);
    let first_10k = finished
        .get(early_batches.saturating_sub(1))
        .map(|t| (early_batches * per_batch) as f64 / t.as_secs_f64());
    let out = json!({
        "claims": claims,
        "batches": bodies.len(),
        "batch_size": per_batch,
        "concurrency": args.load_concurrency,
        "seconds": secs,
        "claims_per_s": rate,
        "first_10k_claims_per_s": first_10k,
        "batch_latency": Lat::of(done.iter().map(|d| d.0)),
        "cpu": meter.finish(),
    });
    Ok((out, rate))
}

/// A closed-loop measurement's figures.
pub(super) struct Closed {
    /// 2xx answers per second.
    pub(super) ok_rps: f64,
    /// Latency of the 2xx answers.
    pub(super) ok_lat: Lat,
    /// Every figure, as JSON.
    pub(super) json: Value,
}

impl Closed {
    /// The summary line, `label` first.
    pub(super) fn line(&self, label: &str) -> String {
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
/// answered; measured for `secs` after `warmup` (seconds).
pub(super) async fn closed(
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
pub(super) struct Overload {
    /// Requests scheduled per second.
    pub(super) offered: f64,
    /// 2xx answers per second.
    pub(super) admitted_rps: f64,
    /// Counts of each status.
    pub(super) counts: BTreeMap<String, u64>,
    /// p99 of the 2xx answers (ms).
    pub(super) ok_p99: f64,
    /// `ok_p99` over the unloaded p99.
    pub(super) ratio: f64,
    /// p99 of the 429 answers (ms).
    pub(super) rejected_p99: f64,
    /// Whether the server was alive and `/health` answered 200 afterwards.
    pub(super) alive: bool,
    /// Every figure, as JSON.
    pub(super) json: Value,
}

impl Overload {
    /// The summary line, `label` first.
    pub(super) fn line(&self, label: &str) -> String {
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

/// Phase 4: the queries in an open loop at `rate` for `secs`, then: is the server alive,
/// healthy, and fast again? `base_p99` is the unloaded p99 (ms) the admitted p99 is compared
/// with.
pub(super) async fn overload(
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
        let c = closed(server, 1, &corpus.retrieve_gen(), 0.5, 3.0).await?;
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

/// One retrieve sent as soon as a (re)started server listens: the store rebuilds its indexes at
/// open, and queries wait for them.
pub(super) async fn first_query(server: &Server, queries: &[Req]) -> Res<Value> {
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
