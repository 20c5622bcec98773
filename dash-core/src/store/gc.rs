//! Garbage collection: the segment files and manifests no manifest generation still needs.
//! Run after each publish (checkpoint, merge) and at open; a failed removal leaves garbage, not
//! damage, and the next run retries it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::manifest::{self, Manifest};
use crate::model::Lsn;
use crate::segment::{self, SEGMENT_DIR};
use crate::storage::Storage;

/// Lists `dir` and keeps the names `parse` understands, sorted by the parsed key.
pub(crate) fn list_sorted<K: Ord>(
    storage: &dyn Storage,
    dir: &Path,
    parse: impl Fn(&str) -> Option<K>,
) -> std::io::Result<Vec<(K, String)>> {
    let mut out: Vec<(K, String)> = storage
        .list(dir)?
        .into_iter()
        .filter_map(|name| parse(&name).map(|k| (k, name)))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Removes segment files and manifests that neither the current nor the previous manifest
/// generation references, and a leftover temporary manifest.
pub(crate) fn remove_garbage(
    storage: &dyn Storage,
    current: &Manifest,
    previous: Option<&Manifest>,
) -> std::io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let keep_gen = current.generation.saturating_sub(1);
    for (generation, name) in list_sorted(storage, Path::new(""), manifest::parse_file_name)? {
        if generation < keep_gen {
            storage.remove(Path::new(&name))?;
            removed.push(PathBuf::from(name));
        }
    }
    if storage
        .list(Path::new(""))?
        .iter()
        .any(|n| n == manifest::TEMP_NAME)
    {
        storage.remove(Path::new(manifest::TEMP_NAME))?;
        removed.push(PathBuf::from(manifest::TEMP_NAME));
    }
    let referenced: HashSet<u64> = current
        .segments
        .iter()
        .chain(previous.into_iter().flat_map(|m| m.segments.iter()))
        .map(|s| s.id)
        .collect();
    for (id, name) in list_sorted(storage, Path::new(SEGMENT_DIR), segment::parse_file_name)? {
        if !referenced.contains(&id) {
            let path = Path::new(SEGMENT_DIR).join(name);
            storage.remove(&path)?;
            removed.push(path);
        }
    }
    Ok(removed)
}

/// How many of the oldest WAL files (`(first LSN, bytes)`, sorted) to remove: those whose every
/// record is at or below `watermark` (file i is when file i+1 starts at or below
/// `watermark + 1`), except the newest of them whose sizes add up to at most `retain_bytes`,
/// kept for the change feed's history.
pub(crate) fn covered_wal_to_remove(
    files: &[(Lsn, u64)],
    watermark: Lsn,
    retain_bytes: u64,
) -> usize {
    let covered = files
        .windows(2)
        .take_while(|pair| pair[1].0 .0 <= watermark.0 + 1)
        .count();
    let mut kept_bytes = 0u64;
    let mut keep = 0;
    for (_, len) in files[..covered].iter().rev() {
        kept_bytes = kept_bytes.saturating_add(*len);
        if kept_bytes > retain_bytes {
            break;
        }
        keep += 1;
    }
    covered - keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covered_wal_files_go_except_the_retained_newest() {
        // Files start at 1, 11, 21, 31: the first three are covered by watermark 30.
        let files = [
            (Lsn(1), 100),
            (Lsn(11), 100),
            (Lsn(21), 100),
            (Lsn(31), 100),
        ];
        assert_eq!(covered_wal_to_remove(&files, Lsn(30), 0), 3);
        assert_eq!(covered_wal_to_remove(&files, Lsn(30), 150), 2);
        assert_eq!(covered_wal_to_remove(&files, Lsn(30), 200), 1);
        assert_eq!(covered_wal_to_remove(&files, Lsn(30), u64::MAX), 0);
        assert_eq!(covered_wal_to_remove(&files, Lsn(29), 0), 2);
        assert_eq!(covered_wal_to_remove(&files[..1], Lsn(30), 0), 0);
    }
}
