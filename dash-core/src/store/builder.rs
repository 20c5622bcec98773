//! [`StoreBuilder`]: how a store is opened, and every setting with its default.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::detect::DetectionConfig;
use crate::embed::Embedder;
use crate::error::{ConfigError, OpenError};
use crate::index::HnswParams;
use crate::storage::{FileStorage, Storage};
use crate::wal::RecoveryMode;
use crate::Store;

use super::merge_policy::MergePolicy;

/// When a write is acknowledged, and so what survives a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Acknowledged only after the WAL is fsynced: an acknowledged write survives a process
    /// crash and a power cut. Concurrent writers share one fsync (group commit).
    Strict,
    /// Acknowledged once written to the operating system, before the fsync, which follows after
    /// at most `max_records` records or `max_delay`, whichever comes first. An acknowledged write
    /// survives a process crash; a power cut may lose the writes of that last window.
    Batched {
        /// Records written before an fsync is forced (at least 1).
        max_records: usize,
        /// Longest time a written record waits for its fsync (more than zero).
        max_delay: Duration,
    },
}

/// The largest `Batched` record window accepted without `allow_unsafe_durability(true)`.
pub const SAFE_BATCH_RECORDS: usize = 10_000;
/// The largest `Batched` delay accepted without `allow_unsafe_durability(true)`.
pub const SAFE_BATCH_DELAY: Duration = Duration::from_secs(1);

/// Which old versions a merge of segments keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Keep at most this many versions per claim (`None`: all). The newest are kept.
    pub max_versions: Option<u32>,
    /// Drop forgotten content at a merge: every version up to and including a claim's last
    /// tombstone. A claim forgotten and not ingested again disappears entirely.
    pub purge_forgotten: bool,
}

impl Default for Retention {
    /// All versions are kept; forgotten claims are purged.
    fn default() -> Self {
        Self {
            max_versions: None,
            purge_forgotten: true,
        }
    }
}

/// The default [`StoreBuilder::max_segments`]: above what the default [`MergePolicy`] reaches
/// in 10,000 equal checkpoints (19 segments), so the cap only bounds the unusual.
pub const DEFAULT_MAX_SEGMENTS: usize = 24;

/// The default [`StoreBuilder::dense_seal_threshold`].
pub const DEFAULT_DENSE_SEAL_THRESHOLD: usize = 16_384;
/// [`StoreBuilder::concurrent_search_min_docs`]'s default.
const DEFAULT_CONCURRENT_SEARCH_MIN_DOCS: u32 = 100_000;
/// [`StoreBuilder::split_lexical_min_docs`]'s default.
const DEFAULT_SPLIT_LEXICAL_MIN_DOCS: u32 = 2_000_000;

/// The default [`StoreBuilder::dense_merge_after_idle`].
pub const DEFAULT_DENSE_MERGE_IDLE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) durability: Durability,
    pub(crate) recovery: RecoveryMode,
    pub(crate) embedding_dim: Option<u32>,
    pub(crate) auto_checkpoint: bool,
    pub(crate) checkpoint_wal_bytes: u64,
    pub(crate) checkpoint_wal_records: u64,
    pub(crate) feed_retention_bytes: u64,
    pub(crate) max_segments: usize,
    pub(crate) merge_policy: MergePolicy,
    pub(crate) retention: Retention,
    pub(crate) dense_seal_threshold: usize,
    pub(crate) dense_merge_idle: Option<Duration>,
    pub(crate) hnsw: HnswParams,
    pub(crate) concurrent_search_min_docs: u32,
    pub(crate) split_lexical_min_docs: u32,
    pub(crate) detection: Arc<DetectionConfig>,
    pub(crate) embedder: Option<Arc<dyn Embedder>>,
}

impl Config {
    /// True when commits wait for the background stage (detection, or a store embedder).
    pub(crate) fn stage_queues(&self) -> bool {
        self.detection.is_enabled() || self.embedder.is_some()
    }
}

/// [`StoreBuilder::feed_retention_bytes`]'s default.
pub const DEFAULT_FEED_RETENTION_BYTES: u64 = 128 * 1024 * 1024;

/// Opens a [`Store`]: `Store::builder(path)`, then setters, then [`StoreBuilder::open`].
#[derive(Debug, Clone)]
#[must_use]
pub struct StoreBuilder {
    storage: Arc<dyn Storage>,
    config: Config,
    allow_unsafe: bool,
}

impl StoreBuilder {
    pub(crate) fn new(path: impl Into<PathBuf>) -> Self {
        Self::with_storage(Arc::new(FileStorage::new(path)))
    }

    pub(crate) fn with_storage(storage: Arc<dyn Storage>) -> Self {
        Self {
            storage,
            config: Config {
                durability: Durability::Strict,
                recovery: RecoveryMode::TolerateTornTail,
                embedding_dim: None,
                auto_checkpoint: true,
                checkpoint_wal_bytes: 128 * 1024 * 1024,
                checkpoint_wal_records: 1_000_000,
                feed_retention_bytes: DEFAULT_FEED_RETENTION_BYTES,
                max_segments: DEFAULT_MAX_SEGMENTS,
                merge_policy: MergePolicy::default(),
                retention: Retention::default(),
                dense_seal_threshold: DEFAULT_DENSE_SEAL_THRESHOLD,
                dense_merge_idle: Some(DEFAULT_DENSE_MERGE_IDLE),
                hnsw: HnswParams::default(),
                concurrent_search_min_docs: DEFAULT_CONCURRENT_SEARCH_MIN_DOCS,
                split_lexical_min_docs: DEFAULT_SPLIT_LEXICAL_MIN_DOCS,
                detection: Arc::new(DetectionConfig::default()),
                embedder: None,
            },
            allow_unsafe: false,
        }
    }

    /// When writes are acknowledged. Default: [`Durability::Strict`].
    pub fn durability(mut self, durability: Durability) -> Self {
        self.config.durability = durability;
        self
    }

    /// Accept a `Batched` window above [`SAFE_BATCH_RECORDS`] / [`SAFE_BATCH_DELAY`]. Default: false.
    pub fn allow_unsafe_durability(mut self, allow: bool) -> Self {
        self.allow_unsafe = allow;
        self
    }

    /// How open treats bad WAL records. Default: [`RecoveryMode::TolerateTornTail`].
    pub fn recovery_mode(mut self, mode: RecoveryMode) -> Self {
        self.config.recovery = mode;
        self
    }

    /// The embedding dimension (1..=8192). Default: fixed by the first embedding ingested. Open
    /// fails if the store already has another.
    pub fn embedding_dimension(mut self, dim: u32) -> Self {
        self.config.embedding_dim = Some(dim);
        self
    }

    /// Checkpoint in the background when the WAL grows past
    /// [`checkpoint_wal_bytes`](Self::checkpoint_wal_bytes) or
    /// [`checkpoint_wal_records`](Self::checkpoint_wal_records). Default: true.
    pub fn auto_checkpoint(mut self, enabled: bool) -> Self {
        self.config.auto_checkpoint = enabled;
        self
    }

    /// How many bytes of checkpointed WAL files to keep for the change feed's history
    /// ([`Store::subscribe`](crate::Store::subscribe)): the newest covered files up to this
    /// size stay on disk; a subscriber starting before them gets
    /// [`FeedError::HistoryLost`](crate::feed::FeedError::HistoryLost). 0 keeps only what is not
    /// checkpointed yet. Default: 128 MiB (one checkpoint's worth at the default
    /// [`checkpoint_wal_bytes`](Self::checkpoint_wal_bytes)).
    pub fn feed_retention_bytes(mut self, bytes: u64) -> Self {
        self.config.feed_retention_bytes = bytes;
        self
    }

    /// WAL size (bytes since the last checkpoint) that triggers an automatic checkpoint
    /// (at least 64 KiB). Default: 128 MiB.
    pub fn checkpoint_wal_bytes(mut self, bytes: u64) -> Self {
        self.config.checkpoint_wal_bytes = bytes;
        self
    }

    /// WAL records since the last checkpoint that trigger an automatic checkpoint (at least 1).
    /// Default: 1,000,000.
    pub fn checkpoint_wal_records(mut self, records: u64) -> Self {
        self.config.checkpoint_wal_records = records;
        self
    }

    /// Segment count above which a checkpoint merges adjacent segments until the count is back
    /// at `n`, whatever their sizes (at least 1). Below it, the [`MergePolicy`] decides.
    /// Default: [`DEFAULT_MAX_SEGMENTS`].
    pub fn max_segments(mut self, n: usize) -> Self {
        self.config.max_segments = n;
        self
    }

    /// Which segments a checkpoint merges (size-tiered). Default: [`MergePolicy::default`].
    pub fn merge_policy(mut self, policy: MergePolicy) -> Self {
        self.config.merge_policy = policy;
        self
    }

    /// Which versions a merge keeps. Default: [`Retention::default`].
    pub fn retention(mut self, retention: Retention) -> Self {
        self.config.retention = retention;
        self
    }

    /// Documents a tenant's exact dense part holds before the background indexer seals them into
    /// an HNSW graph (at least 1). Below it, dense search is an exact scan. Default: 16,384.
    pub fn dense_seal_threshold(mut self, docs: usize) -> Self {
        self.config.dense_seal_threshold = docs;
        self
    }

    /// How long writes must pause before the background indexer merges a tenant's HNSW graphs
    /// into one (`None`: never). A dense search visits every graph, so the one graph answers
    /// faster than the several, size-tiered, that a bulk load leaves behind. A merge re-inserts
    /// every vector (1,000,000 128-d vectors: about four minutes of CPU, while the old graphs keep
    /// answering), so it runs only when the smaller graphs hold at least a quarter of the largest
    /// one's documents. Default: 5 s.
    ///
    /// ```
    /// use std::time::Duration;
    /// let dir = tempfile::tempdir()?;
    /// let store = dash_core::Store::builder(dir.path())
    ///     .dense_merge_after_idle(Some(Duration::from_secs(30)))
    ///     .open()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dense_merge_after_idle(mut self, idle: Option<Duration>) -> Self {
        self.config.dense_merge_idle = idle;
        self
    }

    /// Live documents from which a tenant's hybrid query runs its lexical and dense searches at
    /// once, the dense one on a thread of its own: at a million claims each takes milliseconds
    /// and a spawn tens of microseconds, so a query one at a time answers in about the longer of
    /// the two instead of their sum. `u32::MAX` keeps every query on its caller's thread (for
    /// an application that already runs as many queries at once as it has cores). Default:
    /// 100,000.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let store = dash_core::Store::builder(dir.path())
    ///     .concurrent_search_min_docs(u32::MAX)
    ///     .open()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn concurrent_search_min_docs(mut self, docs: u32) -> Self {
        self.config.concurrent_search_min_docs = docs;
        self
    }

    /// Live documents from which a tenant's lexical search runs as two, over the lower and the
    /// upper half of its document ids, the upper one on a thread of its own (the two answers'
    /// best are the one search's). At 10M claims a lexical search takes 4 ms on average and
    /// 11 at the 95th percentile, beside a dense search of 6: split, a hybrid query's work
    /// spreads over two cores. `u32::MAX` never splits. Default: 2,000,000.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let store = dash_core::Store::builder(dir.path())
    ///     .split_lexical_min_docs(u32::MAX)
    ///     .open()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn split_lexical_min_docs(mut self, docs: u32) -> Self {
        self.config.split_lexical_min_docs = docs;
        self
    }

    /// The HNSW parameters of sealed dense graphs. Default: [`HnswParams::default`].
    pub fn hnsw_params(mut self, params: HnswParams) -> Self {
        self.config.hnsw = params;
        self
    }

    /// How the store detects contradictions and successions between claims, in the background
    /// ([`crate::detect`]). Default: [`DetectionConfig::default`] (on, with the built-in rule
    /// judge).
    pub fn detection(mut self, detection: DetectionConfig) -> Self {
        self.config.detection = Arc::new(detection);
        self
    }

    /// An embedder for claims sent without a vector (embedded in batches in the background:
    /// lexically visible when `ingest` returns, densely once embedded) and for queries sent
    /// with text only. A tenant whose vectors come from another model (a caller's, named by
    /// `embedding_model` or unnamed) is not embedded by the store. Default: none.
    ///
    /// With the `embed` feature, [`crate::embed::MiniLmEmbedder`] runs all-MiniLM-L6-v2
    /// locally.
    pub fn embedder(mut self, embedder: Arc<dyn Embedder>) -> Self {
        self.config.embedder = Some(embedder);
        self
    }

    /// The local embedder, all-MiniLM-L6-v2 read from the model folder `dir`
    /// ([`crate::embed::MiniLmEmbedder`]), as [`embedder`](Self::embedder); while detection is
    /// on, the built-in rule judge also asks it how close two differing spans are (what
    /// `dash serve --embedder DIR` does). Call it after [`detection`](Self::detection), whose
    /// judge it replaces.
    ///
    /// # Errors
    /// [`EmbedError`](crate::embed::EmbedError) when the folder does not hold the model.
    #[cfg(feature = "embed")]
    pub fn local_embedder(
        mut self,
        dir: impl AsRef<std::path::Path>,
    ) -> Result<Self, crate::embed::EmbedError> {
        let embedder: Arc<dyn Embedder> = Arc::new(crate::embed::MiniLmEmbedder::load(dir)?);
        if self.config.detection.is_enabled() {
            let judge = crate::detect::RuleDetector::with_embedder(
                crate::detect::RuleConfig::default(),
                Arc::clone(&embedder),
            );
            let detection = (*self.config.detection).clone().detector(Arc::new(judge));
            self.config.detection = Arc::new(detection);
        }
        Ok(self.embedder(embedder))
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let c = &self.config;
        c.detection.validate()?;
        if let Durability::Batched {
            max_records,
            max_delay,
        } = c.durability
        {
            if max_records == 0 {
                return Err(ConfigError::OutOfRange {
                    setting: "durability.max_records",
                    value: "0".into(),
                    accepted: "at least 1",
                });
            }
            if max_delay.is_zero() {
                return Err(ConfigError::OutOfRange {
                    setting: "durability.max_delay",
                    value: "0".into(),
                    accepted: "more than zero",
                });
            }
            if !self.allow_unsafe
                && (max_records > SAFE_BATCH_RECORDS || max_delay > SAFE_BATCH_DELAY)
            {
                return Err(ConfigError::UnsafeDurability {
                    max_records,
                    max_delay_ms: max_delay.as_millis(),
                    bound_records: SAFE_BATCH_RECORDS,
                    bound_delay_ms: SAFE_BATCH_DELAY.as_millis(),
                });
            }
        }
        if let Some(dim) = c.embedding_dim {
            if dim == 0 || dim as usize > crate::validate::MAX_EMBEDDING_DIM {
                return Err(ConfigError::OutOfRange {
                    setting: "embedding_dimension",
                    value: dim.to_string(),
                    accepted: "1..=8192",
                });
            }
        }
        if c.checkpoint_wal_bytes < 64 * 1024 {
            return Err(ConfigError::OutOfRange {
                setting: "checkpoint_wal_bytes",
                value: c.checkpoint_wal_bytes.to_string(),
                accepted: "at least 65536",
            });
        }
        if c.checkpoint_wal_records == 0 {
            return Err(ConfigError::OutOfRange {
                setting: "checkpoint_wal_records",
                value: "0".into(),
                accepted: "at least 1",
            });
        }
        if c.max_segments == 0 {
            return Err(ConfigError::OutOfRange {
                setting: "max_segments",
                value: "0".into(),
                accepted: "at least 1",
            });
        }
        let m = c.merge_policy;
        if m.width < 2 || m.size_ratio == 0 || m.size_ratio >= m.width as u64 {
            return Err(ConfigError::OutOfRange {
                setting: "merge_policy",
                value: format!("{m:?}"),
                accepted: "width at least 2, size_ratio 1..width",
            });
        }
        if c.dense_seal_threshold == 0 {
            return Err(ConfigError::OutOfRange {
                setting: "dense_seal_threshold",
                value: "0".into(),
                accepted: "at least 1",
            });
        }
        if !(2..=255).contains(&c.hnsw.max_nb_connection)
            || c.hnsw.ef_construction == 0
            || c.hnsw.ef_search == 0
        {
            return Err(ConfigError::OutOfRange {
                setting: "hnsw_params",
                value: format!("{:?}", c.hnsw),
                accepted: "max_nb_connection 2..=255, ef_construction and ef_search >= 1",
            });
        }
        if c.retention.max_versions == Some(0) {
            return Err(ConfigError::OutOfRange {
                setting: "retention.max_versions",
                value: "0".into(),
                accepted: "at least 1, or None",
            });
        }
        Ok(())
    }

    /// Validates the settings, recovers the store (manifest, segments, WAL replay) and starts its
    /// writer.
    ///
    /// # Errors
    /// [`OpenError::Config`] for a bad setting, [`OpenError::Locked`] if the directory is in use,
    /// [`OpenError::Corruption`] naming file and offset, [`OpenError::Io`].
    pub fn open(self) -> Result<Store, OpenError> {
        self.validate()?;
        Store::open_with(self.storage, self.config)
    }
}
