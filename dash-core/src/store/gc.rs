//! Garbage collection: the segment files and manifests no manifest generation still needs.
//! Run after each publish (checkpoint, merge) and at open; a failed removal leaves garbage, not
//! damage, and the next run retries it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::manifest::{self, Manifest};
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
