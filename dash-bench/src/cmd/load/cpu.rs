//! Who used the CPU during a phase (the server, this client, the rest of the machine), the wait
//! for a quiet machine before a phase, and the machine the run measured.
//!
//! Client and server share the machine's cores; a phase where other processes used more than
//! [`NOISE_CORES`] is flagged NOISY.

use std::time::{Duration, Instant};

use dash_bench::machine::{cpu_secs, describe, MachineCpu};
use serde_json::{json, Value};

use super::server::Server;

/// Other processes above this many cores make a phase's figures suspect.
const NOISE_CORES: f64 = 0.2;

/// CPU seconds used by the server, by this process and by the whole machine over a phase:
/// `other_cores` is what the rest of the machine took (another build, say), `steal_cores` what
/// the hypervisor did not give this VM; either makes the figures of that phase suspect.
pub(super) struct CpuMeter {
    /// The server's pid.
    pid: String,
    /// When the phase started.
    started: Instant,
    /// The server's CPU seconds at the start.
    server: f64,
    /// This process' CPU seconds at the start.
    client: f64,
    /// The machine's counters at the start.
    machine: MachineCpu,
}

impl CpuMeter {
    /// Starts measuring a phase against `server`.
    pub(super) fn start(server: &Server) -> Self {
        let pid = server.pid().to_string();
        Self {
            server: cpu_secs(&pid),
            client: cpu_secs("self"),
            machine: MachineCpu::now(),
            pid,
            started: Instant::now(),
        }
    }

    /// The CPU used since [`CpuMeter::start`], in seconds and in cores, as JSON.
    pub(super) fn finish(&self) -> Value {
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

/// A warning when other processes took CPU during the phase whose figures are `figures` (their
/// `cpu` is a [`CpuMeter::finish`]); empty otherwise.
pub(super) fn noise(figures: &Value) -> String {
    match figures["cpu"]["other_cores"].as_f64() {
        Some(other) if other > NOISE_CORES => {
            format!(" [NOISY: other processes used {other:.2} cores]")
        }
        _ => String::new(),
    }
}

/// Waits up to `limit` seconds until, over one second, processes other than this one and the
/// server used less than [`NOISE_CORES`]. Returns the wait and the last measurement (cores).
pub(super) async fn wait_quiet(server: Option<&Server>, limit: f64) -> (f64, f64) {
    let pid = server.map(|s| s.pid().to_string());
    let own = || pid.as_deref().map_or(0.0, cpu_secs) + cpu_secs("self");
    let started = Instant::now();
    loop {
        let (before, own_before, t0) = (MachineCpu::now(), own(), Instant::now());
        tokio::time::sleep(Duration::from_secs(1)).await;
        let wall = t0.elapsed().as_secs_f64();
        let other = (MachineCpu::now().busy - before.busy - (own() - own_before)) / wall;
        let waited = started.elapsed().as_secs_f64();
        if other < NOISE_CORES || waited >= limit {
            return (waited, other);
        }
    }
}

/// The machine ([`describe`]) and a note that client and server share it.
pub(super) fn machine() -> Value {
    let mut machine = describe();
    if let Some(fields) = machine.as_object_mut() {
        fields.insert("note".into(), json!("client and server share these cores"));
    }
    machine
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_busy_machine_is_noisy() {
        assert_eq!(noise(&json!({"cpu": {"other_cores": 0.1}})), "");
        assert!(noise(&json!({"cpu": {"other_cores": 0.5}})).contains("NOISY"));
        assert_eq!(noise(&json!({})), "");
    }
}
