//! What the figures were measured on, and the CPU and memory a process used (Linux `/proc`).

use std::process::Command;

use serde_json::{json, Value};

/// Kernel clock ticks per second (`/proc/<pid>/stat` and `/proc/stat` times).
const CLK_TCK: f64 = 100.0;

fn run(cmd: &str, args: &[&str]) -> Option<String> {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
}

/// The CPU model (`lscpu`'s "Model name"), if known.
pub fn cpu_model() -> Option<String> {
    run("lscpu", &[]).and_then(|out| {
        out.lines()
            .find(|l| l.starts_with("Model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
    })
}

/// Logical CPUs this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// The commit measured (with `+dirty` when tracked files are modified), if in a git checkout.
pub fn git_commit() -> Option<String> {
    let head = run("git", &["rev-parse", "--short=12", "HEAD"])?;
    let dirty = run("git", &["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|s| !s.is_empty());
    Some(if dirty { format!("{head}+dirty") } else { head })
}

/// `nproc`, the CPU model, memory, kernel and commit, as JSON.
pub fn describe() -> Value {
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().map(str::to_owned));
    json!({
        "nproc": cores(),
        "cpu_model": cpu_model(),
        "memory": mem,
        "kernel": run("uname", &["-r"]),
        "git_commit": git_commit(),
    })
}

/// One line for a report: "2 × AMD EPYC …, commit abc".
pub fn one_line() -> String {
    format!(
        "{} × {}, commit {}",
        cores(),
        cpu_model().unwrap_or_else(|| "unknown CPU".into()),
        git_commit().unwrap_or_else(|| "unknown".into())
    )
}

/// utime + stime of `/proc/<pid>/stat` in seconds (`pid` may be `"self"`; 0 when unreadable).
pub fn cpu_secs(pid: &str) -> f64 {
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

/// Resident memory of a process in bytes (`pid` may be `"self"`).
pub fn rss_bytes(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Resident memory of a process split by kind, in bytes: anonymous (heap, stacks) and
/// file-backed (mapped files, such as the store's segments, and the program's own code).
pub fn rss_split(pid: &str) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    };
    Some((field("RssAnon:")?, field("RssFile:")?))
}

/// The machine's busy and stolen CPU seconds so far (the first line of `/proc/stat`).
#[derive(Debug, Clone, Copy, Default)]
pub struct MachineCpu {
    /// user + nice + system + irq + softirq.
    pub busy: f64,
    /// Time the hypervisor gave to others.
    pub steal: f64,
}

impl MachineCpu {
    /// The counters now (zeros where `/proc/stat` cannot be read).
    pub fn now() -> Self {
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

/// The peaks of this process' anonymous, file-backed and total resident memory, sampled every
/// 200 ms by a thread of its own (`VmHWM` alone does not split the two kinds, and resets only
/// with the process). The thread stops when the sampler is dropped.
pub struct PeakSampler {
    /// (anonymous, file-backed, total) peaks in bytes since the start or the last reset.
    peaks: std::sync::Arc<[std::sync::atomic::AtomicU64; 3]>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl PeakSampler {
    /// Starts sampling.
    pub fn start() -> Self {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let peaks = std::sync::Arc::new([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]);
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let (p, s) = (std::sync::Arc::clone(&peaks), std::sync::Arc::clone(&stop));
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some((anon, file)) = rss_split("self") {
                    for (slot, value) in p.iter().zip([anon, file, anon + file]) {
                        slot.fetch_max(value, Ordering::Relaxed);
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        });
        Self { peaks, stop }
    }

    /// (anonymous, file-backed, total) peaks in bytes.
    pub fn peaks(&self) -> (u64, u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let [a, f, t] = &*self.peaks;
        (a.load(Relaxed), f.load(Relaxed), t.load(Relaxed))
    }

    /// Starts the peaks again from now.
    pub fn reset(&self) {
        for p in self.peaks.iter() {
            p.store(0, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// One line: `label: total X GiB (anonymous Y GiB, file-backed Z GiB)`; the total is the
    /// peak of their sum, not the sum of the peaks.
    pub fn line(&self, label: &str) -> String {
        const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
        let (anon, file, total) = self.peaks();
        format!(
            "{label}: {:.2} GiB (peaks of anonymous {:.2} GiB, file-backed {:.2} GiB)",
            total as f64 / GIB,
            anon as f64 / GIB,
            file as f64 / GIB
        )
    }
}

impl Drop for PeakSampler {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_cpu_time_and_memory() {
        let spin: u64 = (0..2_000_000u64).fold(0, |a, x| a.wrapping_add(x * x));
        assert!(spin > 0);
        assert!(cpu_secs("self") >= 0.0);
        assert!(rss_bytes("self").is_some_and(|b| b > 0));
        assert!(cores() >= 1);
        assert_eq!(cpu_secs("no-such-pid"), 0.0);
    }

    #[test]
    fn the_sampler_sees_this_process() {
        let sampler = PeakSampler::start();
        let seen = || sampler.peaks().2 > 0;
        for _ in 0..100 {
            if seen() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let (anon, file, total) = sampler.peaks();
        assert!(anon > 0 && total >= anon && total >= file);
        assert!(sampler.line("x").starts_with("x: "));
    }
}
