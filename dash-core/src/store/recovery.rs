//! Open: lock, read the newest manifest, load and verify its segments, replay the WAL after the
//! manifest's watermark (cutting a torn tail), and remove what no manifest needs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use rayon::prelude::*;

use crate::error::{ConfigError, Corruption, CorruptionKind, OpenError};
use crate::manifest::{self, Manifest};
use crate::model::Lsn;
use crate::segment::{self, Segment, SEGMENT_DIR};
use crate::storage::Storage;
use crate::wal::{self, RecoveryMode, Truncation, WalWriter, WAL_DIR};

use super::builder::Config;
use super::checkpoint::CheckpointState;
use super::dims::Dimensions;
use super::gc::{covered_wal_to_remove, list_sorted, remove_garbage};
use super::state::State;
use super::{Metrics, RecoveryReport, Shared};

pub(crate) struct Recovered {
    pub(crate) shared: Shared,
    pub(crate) wal: WalWriter,
    /// The directory lock: held by the `Store`, not by `Shared`, so that a background thread
    /// still holding `Shared` for a moment never keeps the directory locked after close.
    pub(crate) lock: Box<dyn std::fmt::Debug + Send + Sync>,
    /// The graph files and catalog image, read while the WAL replayed (for the indexer).
    pub(crate) prefetch: Option<super::indexer::Prefetch>,
}

fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> OpenError {
    let path = path.into();
    move |source| OpenError::Io { path, source }
}

/// Reads the newest manifest and, if present, the one before it.
fn read_manifests(storage: &dyn Storage) -> Result<(Manifest, Option<Manifest>), OpenError> {
    let found =
        list_sorted(storage, Path::new(""), manifest::parse_file_name).map_err(io_err(""))?;
    let Some((_, newest)) = found.last() else {
        return Ok((Manifest::default(), None));
    };
    let bytes = storage.read(Path::new(newest)).map_err(io_err(newest))?;
    let current = Manifest::decode(Path::new(newest), &bytes)?;
    // The previous generation only matters for deciding which files are garbage; if it does not
    // decode, nothing is kept on its account.
    let previous = found.iter().rev().nth(1).and_then(|(_, name)| {
        let bytes = storage.read(Path::new(name)).ok()?;
        Manifest::decode(Path::new(name), &bytes).ok()
    });
    Ok((current, previous))
}

fn load_segments(storage: &dyn Storage, m: &Manifest) -> Result<Vec<Arc<Segment>>, OpenError> {
    m.segments
        .par_iter()
        .map(|meta| {
            let path = segment::file_path(meta.id);
            let bytes = match storage.map(&path) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(OpenError::Corruption(Corruption {
                        file: path,
                        offset: 0,
                        kind: CorruptionKind::Missing,
                    }))
                }
                Err(e) => return Err(io_err(path)(e)),
            };
            if bytes.len() as u64 != meta.file_len {
                return Err(OpenError::Corruption(Corruption {
                    file: path,
                    offset: bytes.len() as u64,
                    kind: CorruptionKind::BadLength(bytes.len() as u64),
                }));
            }
            let seg = Segment::from_bytes(meta.id, bytes)?;
            // The manifest pins the exact file: a stale or swapped segment is caught here.
            if seg.hash != meta.hash {
                return Err(OpenError::Corruption(Corruption {
                    file: path,
                    offset: 0,
                    kind: CorruptionKind::ChecksumMismatch,
                }));
            }
            Ok(Arc::new(seg))
        })
        .collect()
}

/// Replays the WAL into `state`; returns the writer to continue with.
fn replay(
    storage: &Arc<dyn Storage>,
    mode: RecoveryMode,
    watermark: Lsn,
    retain_bytes: u64,
    state: &mut State,
    report: &mut RecoveryReport,
) -> Result<(WalWriter, Vec<(Lsn, u64)>), OpenError> {
    let files = list_sorted(storage.as_ref(), Path::new(WAL_DIR), wal::parse_file_name)
        .map_err(io_err(WAL_DIR))?;
    // Files wholly at or below the watermark are in segments already: skip them, and remove
    // all but the newest that the change feed keeps (`feed_retention_bytes`). File i is wholly
    // covered when file i+1 starts at or below watermark + 1.
    let first_needed = files
        .iter()
        .rposition(|(first, _)| first.0 <= watermark.0 + 1)
        .unwrap_or(0);
    let mut sized = Vec::with_capacity(files.len());
    for (first, name) in &files {
        let path = Path::new(WAL_DIR).join(name);
        let len = if sized.len() < first_needed {
            storage.map(&path).map_err(io_err(&path))?.len() as u64
        } else {
            0
        };
        sized.push((*first, len));
    }
    let remove = covered_wal_to_remove(&sized, watermark, retain_bytes).min(first_needed);
    for (_, name) in &files[..remove] {
        let path = Path::new(WAL_DIR).join(name);
        storage.remove(&path).map_err(io_err(&path))?;
        report.removed_files.push(path);
    }
    // The retained ones are listed as live WAL files (the next checkpoint's removal sees them)
    // but not read: their records are in segments.
    let mut kept: Vec<(Lsn, u64)> = sized[remove..first_needed].to_vec();
    let files = &files[first_needed..];
    let mut expected: Option<Lsn> = None;
    let mut cut_at: Option<usize> = None;
    for (i, (first, name)) in files.iter().enumerate() {
        let path = Path::new(WAL_DIR).join(name);
        let bytes = storage.read(&path).map_err(io_err(&path))?;
        let is_last = i + 1 == files.len();
        report.wal_files_read += 1;
        if is_last && bytes.len() < wal::HEADER_LEN && mode != RecoveryMode::AbsoluteConsistency {
            // Created but its header never became durable: it holds no record.
            storage.remove(&path).map_err(io_err(&path))?;
            report.removed_files.push(path);
            break;
        }
        if *first > Lsn(watermark.0 + 1) && expected.is_none() {
            return Err(OpenError::Corruption(Corruption {
                file: path,
                offset: 0,
                kind: CorruptionKind::LsnGap {
                    expected: Lsn(watermark.0 + 1),
                    found: *first,
                },
            }));
        }
        let scanned = wal::scan_file(&path, &bytes, expected, is_last, mode)?;
        let count = scanned.records.len() as u64;
        for record in scanned.records.iter().filter(|r| r.lsn > watermark) {
            state.apply(record)?;
            report.records_replayed += 1;
        }
        expected = Some(Lsn(first.0 + count));
        if scanned.cut {
            storage
                .truncate(&path, scanned.valid_len)
                .map_err(io_err(&path))?;
            report.truncations.push(Truncation {
                file: path.clone(),
                offset: scanned.valid_len,
                dropped_bytes: bytes.len() as u64 - scanned.valid_len,
            });
            kept.push((*first, scanned.valid_len));
            cut_at = Some(i);
            break;
        }
        kept.push((*first, bytes.len() as u64));
    }
    if let Some(i) = cut_at {
        // Only reached in TruncateAtCorruption mode for a file that is not the last.
        for (_, name) in &files[i + 1..] {
            let path = Path::new(WAL_DIR).join(name);
            storage.remove(&path).map_err(io_err(&path))?;
            report.removed_files.push(path);
        }
    }
    let next_lsn = Lsn(state.last_lsn.0.max(watermark.0) + 1);
    if state.last_lsn < watermark {
        state.last_lsn = watermark;
    }
    let writer = match kept.last() {
        Some(&(first, len)) => WalWriter::reopen(Arc::clone(storage), first, len)
            .map_err(io_err(wal::file_path(first)))?,
        None => {
            let w = WalWriter::create(Arc::clone(storage), next_lsn)
                .map_err(io_err(wal::file_path(next_lsn)))?;
            kept.push((next_lsn, w.len()));
            w
        }
    };
    Ok((writer, kept))
}

pub(crate) fn recover(storage: Arc<dyn Storage>, config: Config) -> Result<Recovered, OpenError> {
    let guard = storage
        .lock()
        .map_err(io_err("LOCK"))?
        .ok_or(OpenError::Locked)?;
    storage
        .create_dir_all(Path::new(WAL_DIR))
        .map_err(io_err(WAL_DIR))?;
    storage
        .create_dir_all(Path::new(SEGMENT_DIR))
        .map_err(io_err(SEGMENT_DIR))?;

    let (current, previous) = read_manifests(storage.as_ref())?;
    let mut report = RecoveryReport {
        manifest_generation: current.generation,
        ..RecoveryReport::default()
    };
    let segments = load_segments(storage.as_ref(), &current)?;
    report.segments_loaded = segments.len();
    // The indexer's first reads need nothing the replay finds: they start now, beside it.
    let prefetch = super::indexer::Prefetch::start(Arc::clone(&storage), config.hnsw);

    let mut state = State {
        dims: current.dims.clone(),
        live_claims: current.live_claims,
        last_lsn: current.watermark,
        last_recorded: current.last_recorded_at,
        seal_threshold: config.dense_seal_threshold,
        detected_through: current.detected_through,
        ..State::default()
    };
    for seg in &segments {
        for (tenant, commit_id, meta) in seg.commits()? {
            state
                .commits
                .entry(tenant)
                .or_default()
                .insert(commit_id, meta);
        }
    }
    state.segments = segments;
    // The segments' retrieval indexes are built in the background once the store is open.
    state.catalog =
        crate::retrieve::Catalog::deferred(config.stage_queues(), current.detected_through);

    let (wal, wal_files) = replay(
        &storage,
        config.recovery,
        current.watermark,
        config.feed_retention_bytes,
        &mut state,
        &mut report,
    )?;
    if let Some(requested) = config.embedding_dim {
        // The store's dimension, or any tenant's, must be the requested one.
        let dims = &state.dims;
        let mut stored = dims.store.iter().chain(dims.tenants.values());
        if let Some(&stored) = stored.find(|&&d| d != requested) {
            return Err(ConfigError::DimensionMismatch { stored, requested }.into());
        }
        state.dims = Dimensions {
            store: Some(requested),
            tenants: BTreeMap::new(),
            models: std::mem::take(&mut state.dims.models),
        };
    }
    report
        .removed_files
        .extend(remove_garbage(storage.as_ref(), &current, previous.as_ref()).map_err(io_err(""))?);

    let shared = Shared {
        storage,
        config,
        state: RwLock::new(state),
        poisoned: OnceLock::new(),
        wal_files: Mutex::new(wal_files.into_iter().collect()),
        checkpoint: Mutex::new(CheckpointState {
            manifest: current,
            previous,
        }),
        checkpoint_requested: AtomicBool::new(false),
        last_checkpoint_error: Mutex::new(None),
        metrics: Metrics::default(),
        indexer: Mutex::new(None),
        last_index_error: Mutex::new(None),
        graph_files_closed: Mutex::new(false),
        graphs_saving: AtomicBool::new(false),
        catalog_image_loaded: AtomicBool::new(false),
        catalog_image_unused: Mutex::new(None),
        index_ready: (Mutex::new(None), std::sync::Condvar::new()),
        stage: Mutex::new(None),
        detection: crate::detect::stage::DetectionCounters::default(),
        last_detection_error: Mutex::new(None),
        detection_progress: (Mutex::new(0), std::sync::Condvar::new()),
        recovery: report,
        feed: crate::feed::Hub::default(),
    };
    Ok(Recovered {
        shared,
        wal,
        lock: guard,
        prefetch,
    })
}
