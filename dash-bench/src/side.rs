//! Side by side with the peer engines: one JSON line per (set, engine, mode, setting), written by
//! `dash-bench ir` / `dash-bench scale` for DASH and by `scripts/peers/run_peers.py` for the
//! peers, read by `dash-bench scorecard`. Both sides time queries alike (an untimed warm-up pass,
//! then each query timed alone) and compute the metrics with [`crate::stats`].

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::stats::Lat;
use crate::Res;

/// One measured configuration of one engine on one set.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SideResult {
    /// The data set: `climate-fever`, `synthetic-100000`, ...
    pub set: String,
    /// `dash`, `numpy`, `tantivy`, `chroma`, `lancedb`.
    pub engine: String,
    /// `dense`, `lexical` or `hybrid`.
    pub mode: String,
    /// `default`, `tuned: <what>` or `matched: <what>`.
    pub setting: String,
    /// The cut-off of the answers (10 on IR sets, 50 at scale).
    pub k: usize,
    /// Documents in the index.
    pub docs: usize,
    /// Queries run.
    pub queries: usize,
    /// hit@k against the gold documents (IR sets).
    pub hit: Option<f64>,
    /// recall@k against the gold documents (IR sets).
    pub recall: Option<f64>,
    /// nDCG@k against the gold documents (IR sets).
    pub ndcg: Option<f64>,
    /// recall@k against exact search (dense modes at scale).
    pub recall_vs_exact: Option<f64>,
    /// Median single-query latency.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Ingest and index build until the engine answers at full speed, seconds.
    pub build_s: f64,
    /// The engine's version.
    pub version: String,
}

impl SideResult {
    /// The line the runs print as they go.
    pub fn human(&self) -> String {
        let quality = match (self.hit, self.recall, self.ndcg, self.recall_vs_exact) {
            (Some(h), Some(r), Some(n), _) => {
                format!(
                    "hit@{k} {h:.3}  recall@{k} {r:.3}  nDCG@{k} {n:.3}",
                    k = self.k
                )
            }
            (_, _, _, Some(r)) => format!("recall@{} vs exact {r:.3}", self.k),
            _ => String::new(),
        };
        format!(
            "{:8} {:7} {:28} {quality}  p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms  build {:.1} s",
            self.engine,
            self.mode,
            self.setting,
            self.p50_ms,
            self.p95_ms,
            self.p99_ms,
            self.build_s
        )
    }

    /// Appends the result to a JSON-lines file.
    pub fn append_to(&self, path: &Path) -> Res<()> {
        let mut file = OpenOptions::new().create(true).append(true).open(path)?;
        writeln!(file, "{}", serde_json::to_string(self)?)?;
        Ok(())
    }
}

/// Reads every result of a JSON-lines file (blank lines skipped).
pub fn read_results(path: &Path) -> Res<Vec<SideResult>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| format!("{} line {}: {e}", path.display(), i + 1).into())
        })
        .collect()
}

/// Runs `query(i)` for every query index once untimed (warm-up), then once timed each alone;
/// returns the answers of the timed pass and their latencies.
pub fn timed_passes<T>(
    queries: usize,
    mut query: impl FnMut(usize) -> Res<T>,
) -> Res<(Vec<T>, Lat)> {
    for i in 0..queries {
        query(i)?;
    }
    let mut answers = Vec::with_capacity(queries);
    let mut times: Vec<Duration> = Vec::with_capacity(queries);
    for i in 0..queries {
        let started = Instant::now();
        let answer = query(i)?;
        times.push(started.elapsed());
        answers.push(answer);
    }
    Ok((answers, Lat::of(times)))
}

/// This build's version for the results: the crate version and the commit.
pub fn dash_version() -> String {
    format!(
        "{} ({})",
        env!("CARGO_PKG_VERSION"),
        crate::machine::git_commit().unwrap_or_else(|| "unknown commit".into())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_round_trip_through_json_lines() -> Res<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("r.jsonl");
        let r = SideResult {
            set: "s".into(),
            engine: "dash".into(),
            mode: "dense".into(),
            setting: "default".into(),
            k: 10,
            docs: 3,
            queries: 2,
            hit: Some(1.0),
            recall: Some(0.5),
            ndcg: Some(0.25),
            recall_vs_exact: None,
            p50_ms: 1.0,
            p95_ms: 2.0,
            p99_ms: 3.0,
            build_s: 0.5,
            version: "x".into(),
        };
        r.append_to(&path)?;
        r.append_to(&path)?;
        assert_eq!(read_results(&path)?, vec![r.clone(), r]);
        std::fs::write(&path, "{\"set\": 1}\n")?;
        assert!(read_results(&path).is_err());
        Ok(())
    }

    #[test]
    fn timed_passes_run_every_query_twice_and_time_the_second() -> Res<()> {
        let mut calls = 0;
        let (answers, lat) = timed_passes(3, |i| {
            calls += 1;
            Ok(i * 2)
        })?;
        assert_eq!((answers, calls, lat.count), (vec![0, 2, 4], 6, 3));
        Ok(())
    }
}
