//! Phases 7 and 8: ingest-to-visible lag (idle and under a background retrieve load), then
//! single-claim and batch ingest.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dash_bench::rng::SplitMix;
use dash_bench::stats::Lat;
use dash_bench::Res;
use hyper::StatusCode;
use serde_json::{json, Value};

use super::client::{Conn, Req};
use super::corpus::Corpus;
use super::cpu::{noise, CpuMeter};
use super::loops::{closed_loop, Window};
use super::phases::{closed, send_batches};
use super::report::Report;
use super::server::Server;
use super::Args;

/// A lag sample not visible after this counts as a timeout.
const LAG_TIMEOUT: Duration = Duration::from_secs(10);

/// Phases 7 and 8 on one server: lag idle and under load, single-claim and batch ingest. `mode`
/// (`s` for strict, `b` for batched) names the phases and the fresh claims.
pub(super) async fn write_phases(
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
    let idle = lag(server, corpus, args, &format!("{mode}-idle"), 0).await?;
    report.note(format!("lag {mode} idle: {}", summary(&idle)));
    report
        .phase(&format!("{mode}: lag under load"), Some(server), args)
        .await;
    let background = args.lag_background;
    let loaded = lag(server, corpus, args, &format!("{mode}-load"), background).await?;
    report.note(format!(
        "lag {mode} under c{background} retrieve: {}",
        summary(&loaded)
    ));

    report
        .phase(&format!("{mode}: single ingest"), Some(server), args)
        .await;
    let gen = corpus.ingest_gen(&format!("{mode}-single"));
    let (c, warmup, secs) = (args.concurrency, args.warmup_secs, args.ingest_secs);
    let single = closed(server, c, &gen, warmup, secs).await?;
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

/// Phase 7: `--lag-samples` writes of a claim with a unique random word, each polled for (by
/// that word) until visible; with `background` retrieve connections running meanwhile (0 for
/// none).
async fn lag(
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
    let mut rng = SplitMix::from_clock();
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
    /// The write's status.
    write_status: u16,
    /// From sending the write to its answer.
    ack: Duration,
    /// From sending the write to receiving the first poll answer that shows the claim.
    visible: Option<Duration>,
    /// From sending the write to sending that poll (a lower bound).
    visible_sent: Option<Duration>,
    /// Polls sent.
    polls: u32,
}

/// Sends the write on its own connection (moved into a task) and polls on `poll` meanwhile
/// until the answer's top claim is `claim_id` (or [`LAG_TIMEOUT`]); returns the write's
/// connection and the sample.
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

/// The lag figures of `samples` (with the background load's figures `bg` and the phase's `cpu`)
/// and their summary line.
fn lag_report(samples: &[LagSample], background: usize, bg: Value, cpu: Value) -> Value {
    let seen: Vec<&LagSample> = samples.iter().filter(|s| s.visible.is_some()).collect();
    let lag = Lat::of(seen.iter().filter_map(|s| s.visible));
    let lower = Lat::of(seen.iter().filter_map(|s| s.visible_sent));
    let ack = Lat::of(samples.iter().map(|s| s.ack));
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

/// The `claim_id` of the first result of a retrieve answer.
fn top_claim(body: &[u8]) -> Res<Option<String>> {
    let answer: Value = serde_json::from_slice(body)?;
    Ok(answer["results"][0]["claim_id"].as_str().map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lag_report_counts_what_became_visible() {
        let ms = Duration::from_millis;
        let samples = [
            LagSample {
                write_status: 200,
                ack: ms(2),
                visible: Some(ms(1)),
                visible_sent: Some(ms(0)),
                polls: 2,
            },
            LagSample {
                write_status: 500,
                ack: ms(3),
                visible: None,
                visible_sent: None,
                polls: 4,
            },
        ];
        let report = lag_report(&samples, 0, Value::Null, Value::Null);
        assert_eq!(report["visible"], 1);
        assert_eq!(report["not_visible"], 1);
        assert_eq!(report["failed_writes"], 1);
        assert_eq!(report["visible_before_ack"], 1);
        assert_eq!(report["mean_polls"], 3.0);
        assert_eq!(report["p95_within_50ms"], false);
    }

    #[test]
    fn the_top_claim_is_the_first_result() -> Res<()> {
        let body = br#"{"results": [{"claim_id": "a"}, {"claim_id": "b"}]}"#;
        assert_eq!(top_claim(body)?.as_deref(), Some("a"));
        assert_eq!(top_claim(br#"{"results": []}"#)?, None);
        assert!(top_claim(b"not json").is_err());
        Ok(())
    }
}
