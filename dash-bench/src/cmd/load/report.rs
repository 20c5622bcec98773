//! The run's figures: one JSON object rewritten to `--out` after every phase, the summary lines
//! printed as they come and again at the end, and the phase log.

use std::path::PathBuf;
use std::time::Duration;

use dash_bench::Res;
use serde_json::{json, Map, Value};

use super::cpu::wait_quiet;
use super::server::Server;
use super::Args;

/// A duration in milliseconds.
pub(super) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The figures so far (rewritten to `--out` after every phase) and the summary lines.
pub(super) struct Report {
    /// `--out`.
    path: PathBuf,
    /// The top-level sections.
    figures: Map<String, Value>,
    /// The summary lines, in order.
    lines: Vec<String>,
    /// When each phase started, and how quiet the machine was.
    phases: Vec<Value>,
}

impl Report {
    /// An empty report written to `path`.
    pub(super) fn new(path: PathBuf) -> Self {
        Self {
            path,
            figures: Map::new(),
            lines: Vec::new(),
            phases: Vec::new(),
        }
    }

    /// Sets the section `key`.
    pub(super) fn set(&mut self, key: &str, value: Value) {
        self.figures.insert(key.to_owned(), value);
    }

    /// Sets a section whose `summary` is also a summary line.
    pub(super) fn section(&mut self, key: &str, value: Value) {
        if let Some(line) = value["summary"].as_str() {
            self.note(line.to_owned());
        }
        self.set(key, value);
    }

    /// Waits for a quiet machine (see [`wait_quiet`]), then marks the start of a phase (UTC, to
    /// match the servers' log lines).
    pub(super) async fn phase(&mut self, name: &str, server: Option<&Server>, args: &Args) {
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

    /// Prints a summary line and keeps it.
    pub(super) fn note(&mut self, line: String) {
        println!("{line}");
        self.lines.push(line);
    }

    /// Writes the figures, the summary lines and the phase log to `--out`.
    pub(super) fn save(&mut self) -> Res<()> {
        self.figures.insert("summary".into(), json!(self.lines));
        self.figures.insert("phases".into(), json!(self.phases));
        std::fs::write(
            &self.path,
            serde_json::to_vec_pretty(&Value::Object(self.figures.clone()))?,
        )?;
        Ok(())
    }

    /// Prints the machine and every summary line.
    pub(super) fn print_summary(&self) {
        println!("\n==== summary ====");
        if let Some(machine) = self.figures.get("machine") {
            let cores = match &machine["nproc"] {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.clone(),
                _ => "?".to_owned(),
            };
            println!(
                "machine: {cores} cores, {}",
                machine["cpu_model"].as_str().unwrap_or("?")
            );
        }
        for line in &self.lines {
            println!("{line}");
        }
    }
}
