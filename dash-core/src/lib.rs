//! # dash-core: the evidence-first memory store of DASH
//!
//! DASH keeps **claims** — short canonical statements extracted from documents — together with
//! the **evidence** for and against each one (a source, a span to cite, a stance and a source
//! quality), **edges** between claims (supports, contradicts, refines, supersedes) and **time**:
//! when a claim holds in the world (*valid time*, given by the caller) and when the store
//! learned it (*recorded time*, assigned at commit).
//!
//! ## The model
//! - A [`Claim`] is keyed by `(tenant_id, claim_id)`; tenants never see each other's data.
//! - An [`IngestItem`] is a claim with its [`Evidence`] and outgoing [`Edge`]s. Ingesting a key
//!   again makes a new **version**; the history is kept ([`ClaimRecord::history`]).
//! - [`Store::forget`] writes a tombstone version; a merge reaching a claim's oldest segment purges
//!   its forgotten versions ([`Store::compact`] reaches every segment).
//!
//! ## Guarantees
//! - Every write goes to a checksummed write-ahead log before it is acknowledged. With
//!   [`Durability::Strict`] (the default) an acknowledged write survives a crash or power cut;
//!   concurrent writers share one fsync. [`Durability::Batched`] trades a bounded loss window
//!   for throughput.
//! - [`Store::ingest_batch`] is atomic (one WAL record) and idempotent by `commit_id`.
//! - Corruption is detected (CRC32 per WAL record, BLAKE3 per segment and manifest) and
//!   reported as a typed [`Corruption`] naming the file and offset — never skipped silently.
//!   A torn final WAL record (a crash mid-write) is cut and reported in the
//!   [`RecoveryReport`].
//! - After a failed fsync the store is poisoned and refuses writes until reopened.
//!
//! ## Example
//! ```
//! use dash_core::{Claim, Durability, Evidence, IngestItem, Stance, Store, Timestamp};
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::builder(dir.path()).durability(Durability::Strict).open()?;
//!
//! let mut claim = Claim::new("acme", "ceo", "Alice is the CEO of Acme");
//! claim.valid_from = Timestamp::from_year(2020);
//! let item = IngestItem::new(claim)
//!     .with_evidence(Evidence::new("e1", "ceo", "press-release-7", Stance::Supports));
//! let first = store.ingest(item)?;
//!
//! // A new version of the same claim.
//! let item = IngestItem::new(Claim::new("acme", "ceo", "Bob is the CEO of Acme"));
//! let second = store.ingest(item)?;
//! assert_eq!((first.version, second.version), (1, 2));
//!
//! store.checkpoint()?; // freeze into an immutable segment
//! drop(store);
//!
//! let store = Store::builder(dir.path()).open()?;
//! let record = store.get_claim(&"acme".into(), &"ceo".into())?.expect("stored");
//! assert_eq!(record.item.claim.canonical_text, "Bob is the CEO of Acme");
//! assert_eq!(record.history.len(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod codec;
pub mod detect;
pub mod embed;
mod error;
pub mod feed;
mod frame;
mod heap;
pub mod index;
pub(crate) mod lexicon;
mod manifest;
mod memtable;
mod model;
pub mod retrieve;
mod segment;
mod storage;
mod store;
mod validate;
mod wal;

pub use error::{
    CheckpointError, CloseError, ConfigError, Corruption, CorruptionKind, Error, ErrorKind,
    OpenError, PoisonCause, QueryError, ReadError, ValidationError, WriteError,
};
pub use model::{
    Claim, ClaimId, ClaimRecord, ClaimVersion, Edge, Evidence, IngestItem, Lsn, Relation, Stance,
    TenantId, Timestamp, VersionBody, VersionInfo,
};
pub use retrieve::{
    Fusion, IndexMemory, Query, Ranking, RetrieveResponse, RetrievedClaim, StanceMode,
};
pub use storage::{FileBytes, FileStorage, MemStorage, Storage, StorageFile};
pub use store::{
    BatchReceipt, CheckpointReport, CommitStatus, Durability, ForgetReceipt, IngestReceipt,
    MergePolicy, RecoveryReport, Retention, Store, StoreBuilder, StoreStats,
    DEFAULT_DENSE_SEAL_THRESHOLD, DEFAULT_FEED_RETENTION_BYTES, DEFAULT_MAX_SEGMENTS,
    SAFE_BATCH_DELAY, SAFE_BATCH_RECORDS,
};
pub use validate::{
    validate_item, validate_tenant_id, MAX_BATCH_ITEMS, MAX_EMBEDDING_DIM, MAX_TEXT_BYTES,
};
pub use wal::{RecoveryMode, Truncation};

/// The detection module's old name, kept for one release.
#[deprecated(note = "renamed to `dash_core::detect`")]
pub mod graph {
    pub use crate::detect::{
        normalize, ContradictionDetector, DetectionConfig, Judgement, RuleConfig, RuleDetector,
    };
}
