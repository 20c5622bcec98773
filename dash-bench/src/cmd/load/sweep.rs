//! Phase 6: the overload again for every `DASH_WORKERS` × `DASH_QUEUE_CAPACITY` pair, the server
//! restarted on the same store for each.

use std::path::Path;

use dash_bench::Res;
use serde_json::{json, Value};

use super::corpus::Corpus;
use super::phases::{closed, first_query, overload};
use super::report::Report;
use super::server::Server;
use super::Args;

/// Every `--sweep-workers` × `--sweep-queue` point: the server restarted on the store in `dir`
/// (logs in `work`), the first query and index wait, the point's own unloaded p99 and
/// closed-loop capacity, then the overload at `rate` (compared with `base_p99`, ms). One JSON
/// row a point.
pub(super) async fn sweep(
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
            let own = closed(&server, 1, &retrieve, 0.5, 3.0).await?;
            let cap = closed(&server, args.concurrency, &retrieve, 1.0, 5.0).await?;
            let over = overload(&server, corpus, rate, args.sweep_secs, args, base_p99).await?;
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
