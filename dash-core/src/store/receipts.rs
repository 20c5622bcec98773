//! What the store's calls answer: the receipts of writes, and what `open` found and repaired.

use std::path::PathBuf;

use crate::model::{ClaimId, Lsn, TenantId, Timestamp};
use crate::wal::Truncation;

/// What `ingest` (and each item of `ingest_batch`) committed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IngestReceipt {
    /// The claim's tenant.
    pub tenant_id: TenantId,
    /// The claim.
    pub claim_id: ClaimId,
    /// The WAL record that holds it.
    pub lsn: Lsn,
    /// When the store committed it.
    pub recorded_at: Timestamp,
    /// The version this write made.
    pub version: u32,
}

/// Whether a batch was written now or had been written before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CommitStatus {
    /// Written by this call.
    Committed,
    /// The same `commit_id` with the same content was committed before; nothing was written and
    /// the receipt is the original one.
    Replayed,
}

/// What `ingest_batch` committed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BatchReceipt {
    /// The batch's id.
    pub commit_id: String,
    /// Written now, or replayed.
    pub status: CommitStatus,
    /// The WAL record that holds the whole batch.
    pub lsn: Lsn,
    /// When the store committed it.
    pub recorded_at: Timestamp,
    /// One receipt per item, in order.
    pub items: Vec<IngestReceipt>,
}

/// What `forget` committed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ForgetReceipt {
    /// The claim's tenant.
    pub tenant_id: TenantId,
    /// The claim.
    pub claim_id: ClaimId,
    /// The WAL record of the tombstone.
    pub lsn: Lsn,
    /// When the store committed it.
    pub recorded_at: Timestamp,
    /// The tombstone's version.
    pub version: u32,
}

/// What open found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The manifest generation opened (0 for a store without a checkpoint).
    pub manifest_generation: u64,
    /// Segments loaded and verified.
    pub segments_loaded: usize,
    /// WAL files read.
    pub wal_files_read: usize,
    /// Records replayed from the WAL (those after the manifest's watermark).
    pub records_replayed: u64,
    /// Torn tails (or, in `TruncateAtCorruption` mode, damage) cut from WAL files.
    pub truncations: Vec<Truncation>,
    /// Files removed during recovery: WAL files after a cut, torn empty WAL files, garbage.
    pub removed_files: Vec<PathBuf>,
}
