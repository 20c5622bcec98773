//! The `dash serve` processes of the run: started with the run's settings, watched, stopped, and
//! their logs summarised.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use dash_bench::machine::{cpu_secs, rss_bytes};
use dash_bench::Res;
use hyper::StatusCode;
use serde_json::{json, Map, Value};

use super::client::{Conn, Req, API_KEY};
use super::report::ms;

/// Longest wait for the background index builds after a load or a restart.
const INDEX_WAIT: Duration = Duration::from_secs(1800);

/// Longest wait for a stopped server to exit before it is killed.
const STOP_WAIT: Duration = Duration::from_secs(60);

/// A running `dash serve`; killed if dropped while still running.
pub(super) struct Server {
    /// The process.
    child: Child,
    /// Its stdout, kept open so that the server never writes to a closed pipe.
    stdout: BufReader<ChildStdout>,
    /// Where it listens.
    pub(super) addr: SocketAddr,
    /// Its name in the run's messages and the name of its log (`<label>.stderr`).
    label: String,
}

impl Server {
    /// Starts `dash serve` on `data_dir` with the run's settings (`127.0.0.1:0`, one API key that
    /// is also an admin key, rate limit off, `DASH_LOG=warn`, no other `DASH_*` variable of this
    /// process) plus `env`, and waits for its `dash listening on ADDR` line. Its stderr goes to
    /// `<logs>/<label>.stderr`.
    pub(super) async fn start(
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
            server.pid()
        );
        Ok(server)
    }

    /// Spawns `cmd` and reads its first stdout line, the listening address (blocking).
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

    /// The process id.
    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still there and not a zombie.
    pub(super) fn alive(&self) -> bool {
        // try_wait needs &mut; /proc says whether the process is still there and not a zombie.
        std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).is_ok_and(|stat| {
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
        })
    }

    /// The status of `GET /health`, on a new connection.
    pub(super) async fn health_status(&self) -> Res<StatusCode> {
        let mut conn = Conn::open(self.addr).await?;
        Ok(conn.send(&Req::get("/health")).await?.0)
    }

    /// `GET /debug/storage` (memtable, segments, dense index state).
    pub(super) async fn storage(&self) -> Res<Value> {
        let mut conn = Conn::open(self.addr).await?;
        let (_, body) = conn.send(&Req::get("/debug/storage")).await?;
        Ok(serde_json::from_slice(&body)?)
    }

    /// The body of `GET /health`.
    pub(super) async fn health(&self) -> Res<Value> {
        let mut conn = Conn::open(self.addr).await?;
        let (_, body) = conn.send(&Req::get("/health")).await?;
        Ok(serde_json::from_slice(&body)?)
    }

    /// Waits until `/health` says `"indexing": false` three times in a row; returns the wait in
    /// seconds (an error after [`INDEX_WAIT`]).
    pub(super) async fn wait_indexed(&self) -> Res<f64> {
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

    /// SIGTERM, then waits for the exit (SIGKILL after [`STOP_WAIT`]); returns the exit code,
    /// the shutdown time, and the memory and CPU time the server had used.
    pub(super) async fn stop(mut self) -> Res<Value> {
        let started = Instant::now();
        let pid = self.pid().to_string();
        let rss_mb = rss_bytes(&pid).map(|bytes| bytes as f64 / (1024.0 * 1024.0));
        let cpu = cpu_secs(&pid);
        Command::new("kill").arg("-TERM").arg(&pid).status()?;
        loop {
            if let Some(status) = self.child.try_wait()? {
                eprintln!("[{}] stopped: {status}", self.label);
                return Ok(json!({
                    "exit_code": status.code(),
                    "shutdown_ms": ms(started.elapsed()),
                    "rss_mb_before_stop": rss_mb,
                    "server_cpu_s_total": cpu,
                }));
            }
            if started.elapsed() > STOP_WAIT {
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

/// Warnings and errors in the servers' logs (`DASH_LOG=warn`: every line is one): per
/// `<label>.stderr` in `dir`, the number of lines and the first ten.
pub(super) fn server_logs(dir: &Path) -> Value {
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
