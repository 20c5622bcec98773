//! The two load shapes: a closed loop (a fixed number of connections, each sending its next
//! request when the previous one is answered) and an open loop (a fixed schedule, whatever the
//! answers), with the samples they collect.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dash_bench::stats::Lat;
use dash_bench::{BoxError, Res};
use serde_json::{json, Value};

use super::client::{open_many, Conn, Req, REQUEST_TIMEOUT};
use super::report::ms;

/// Makes the `i`-th request of a closed loop.
pub(super) type Gen = Arc<dyn Fn(u64) -> Res<Req> + Send + Sync>;

/// One answered (or failed: status 0) request.
#[derive(Clone, Copy)]
pub(super) struct Sample {
    /// The HTTP status, 0 for a transport error.
    status: u16,
    /// From sending to the whole answer read.
    latency: Duration,
    /// When the answer was read.
    done: Instant,
}

impl Sample {
    /// A request sent at `sent` and answered now with `status`.
    fn since(status: u16, sent: Instant) -> Self {
        let done = Instant::now();
        Self {
            status,
            latency: done - sent,
            done,
        }
    }
}

/// Counts of each status (`transport_error` for status 0), keyed by the status as text.
pub(super) fn status_counts(statuses: impl Iterator<Item = u16>) -> BTreeMap<String, u64> {
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

/// The samples of a closed loop that completed within a measurement window.
pub(super) struct Window {
    /// Those samples.
    samples: Vec<Sample>,
    /// The window's length in seconds.
    pub(super) secs: f64,
}

impl Window {
    /// Keeps the samples answered between `from` and `to`.
    pub(super) fn new(samples: Vec<Sample>, from: Instant, to: Instant) -> Self {
        let samples = samples
            .into_iter()
            .filter(|s| s.done >= from && s.done <= to)
            .collect();
        Self {
            samples,
            secs: (to - from).as_secs_f64(),
        }
    }

    /// The latency of the samples whose status passes `status`.
    pub(super) fn latency(&self, status: impl Fn(u16) -> bool) -> Lat {
        Lat::of(
            self.samples
                .iter()
                .filter(|s| status(s.status))
                .map(|s| s.latency),
        )
    }

    /// Throughput, statuses and latencies (2xx, and 429 when any) as JSON.
    pub(super) fn report(&self) -> Value {
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

/// Runs a closed loop for `warmup + secs` seconds and keeps what completed in the last `secs`.
pub(super) async fn measure_closed(
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

/// `concurrency` connections in a closed loop until `stop`; a connection that fails is reopened
/// and its request counted as a transport error.
pub(super) async fn closed_loop(
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
pub(super) struct OpenLoop {
    /// Requests scheduled per second (sent or skipped).
    pub(super) offered: f64,
    /// Counts of each status.
    pub(super) counts: BTreeMap<String, u64>,
    /// Latency of the 2xx answers.
    pub(super) ok: Lat,
    /// Latency of the 429 answers.
    pub(super) rejected: Lat,
    /// Every figure, as JSON.
    pub(super) json: Value,
}

/// Shared state of the open loop's request tasks.
struct OpenShared {
    /// The server.
    addr: SocketAddr,
    /// Connections not carrying a request.
    idle: Mutex<Vec<Conn>>,
    /// Each request's sample and how late it was sent after its scheduled time.
    results: Mutex<Vec<(Sample, Duration)>>,
    /// Requests sent and not yet answered.
    in_flight: AtomicUsize,
    /// Connections that failed and could not be reopened.
    lost_conns: AtomicUsize,
}

/// Sends `reqs` round-robin on a fixed schedule of `rate` per second for `secs`, whatever the
/// answers: each due request takes an idle connection (of `max_conns` opened beforehand), or is
/// counted as skipped when all are busy.
pub(super) async fn open_loop(
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
                .map(|(s, _)| s.latency),
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
        "dispatch_lateness_ms": Lat::of(results.iter().map(|r| r.1)),
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
    let late = sent.saturating_duration_since(scheduled);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_keeps_what_completed_inside_it() {
        let t0 = Instant::now();
        let at = |ms: u64, status: u16| Sample {
            status,
            latency: Duration::from_millis(1),
            done: t0 + Duration::from_millis(ms),
        };
        let from = t0 + Duration::from_millis(10);
        let to = t0 + Duration::from_millis(1010);
        let window = Window::new(
            vec![at(5, 200), at(20, 200), at(30, 429), at(2000, 200)],
            from,
            to,
        );
        assert_eq!(window.samples.len(), 2);
        assert_eq!(window.latency(|s| s == 200).count, 1);
        let json = window.report();
        assert_eq!(json["statuses"], json!({"200": 1, "429": 1}));
        assert_eq!(json["latency_429_ms"]["count"], json!(1));
    }

    #[test]
    fn transport_errors_are_counted_by_name() {
        let counts = status_counts([0, 200, 0].into_iter());
        assert_eq!(counts.get("transport_error"), Some(&2));
        assert_eq!(counts.get("200"), Some(&1));
    }
}
