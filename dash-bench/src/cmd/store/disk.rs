//! What the store's directory is on: its mount, and the bytes its files take.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// A mounted file system (a line of `/proc/mounts`).
pub struct Mount {
    /// The device (or `tmpfs`, `overlay`, ...).
    pub device: String,
    /// Where it is mounted.
    pub mount_point: String,
    /// The file system type.
    pub fs_type: String,
}

/// The mount that holds `path`: the longest mount point that is a prefix of it.
pub fn mount_of(path: &Path) -> Option<Mount> {
    let path = path.canonicalize().ok()?;
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some(Mount {
                device: f.next()?.to_owned(),
                mount_point: f.next()?.to_owned(),
                fs_type: f.next()?.to_owned(),
            })
        })
        .filter(|m| path.starts_with(&m.mount_point))
        .max_by_key(|m| m.mount_point.len())
}

/// Apparent bytes and allocated bytes (`st_blocks * 512`) of every file under `dir`
/// (unreadable entries are skipped).
pub fn du(dir: &Path) -> (u64, u64) {
    let mut apparent = 0;
    let mut allocated = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            let (a, b) = du(&entry.path());
            apparent += a;
            allocated += b;
        } else {
            apparent += meta.len();
            allocated += meta.blocks() * 512;
        }
    }
    (apparent, allocated)
}

/// Drops the page cache (only it: `1`), after writing dirty pages back; false unless root.
pub fn drop_page_cache() -> bool {
    // The exit status does not matter: the write below fails without root anyway.
    let _ = std::process::Command::new("sync").status();
    std::fs::write("/proc/sys/vm/drop_caches", "1\n").is_ok()
}
