//! Typed errors, one enum per operation under the umbrella [`Error`].

use std::io;
use std::path::PathBuf;

use crate::model::{ClaimId, Lsn};

/// Why an item was refused before anything was written.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// A required text field is empty or only whitespace.
    #[error("`{field}` must not be empty or only whitespace")]
    Empty {
        /// The field's contract name.
        field: &'static str,
    },
    /// A field is longer than the store accepts.
    #[error("`{field}` is {len} bytes long; at most {max} are accepted")]
    TooLong {
        /// The field's contract name.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A list holds more entries than the store accepts.
    #[error("`{field}` has {count} entries; at most {max} are accepted")]
    TooMany {
        /// The field's contract name.
        field: &'static str,
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// An id holds a character it may not (control characters anywhere; for tenant ids anything
    /// but ASCII letters, digits, `-`, `_`, `.`).
    #[error("`{field}` holds the disallowed character {ch:?}")]
    BadCharacter {
        /// The field's contract name.
        field: &'static str,
        /// The first offending character.
        ch: char,
    },
    /// A tenant id of `.` or `..`.
    #[error("`tenant_id` may not be `.` or `..`")]
    ReservedTenantId,
    /// A score that must lie in 0..=1 does not (or is NaN or infinite).
    #[error("`{field}` must be a finite number in 0..=1, got {value}")]
    OutOfUnitRange {
        /// The field's contract name.
        field: &'static str,
        /// The value given.
        value: f64,
    },
    /// `span_end < span_start`.
    #[error("evidence `{evidence_id}`: span_end {end} is before span_start {start}")]
    SpanReversed {
        /// The evidence.
        evidence_id: String,
        /// The given start.
        start: u64,
        /// The given end.
        end: u64,
    },
    /// Only one of `span_start` and `span_end` is given.
    #[error("evidence `{evidence_id}`: give both span_start and span_end, or neither")]
    SpanIncomplete {
        /// The evidence.
        evidence_id: String,
    },
    /// `valid_from > valid_to`.
    #[error("valid_from {valid_from} is after valid_to {valid_to}")]
    ValidityReversed {
        /// The given start (RFC 3339).
        valid_from: String,
        /// The given end (RFC 3339).
        valid_to: String,
    },
    /// A piece of evidence names another claim than the one it is ingested with.
    #[error(
        "evidence `{evidence_id}` is for claim `{found}`, but it is ingested with `{expected}`"
    )]
    EvidenceClaimMismatch {
        /// The evidence.
        evidence_id: String,
        /// The claim of the item.
        expected: ClaimId,
        /// The claim the evidence names.
        found: ClaimId,
    },
    /// Two pieces of evidence of one item share an id.
    #[error("evidence id `{evidence_id}` appears twice in one item")]
    DuplicateEvidenceId {
        /// The repeated id.
        evidence_id: String,
    },
    /// An edge does not start at the claim it is ingested with.
    #[error("edge starts at `{found}`, but it is ingested with claim `{expected}`")]
    EdgeSourceMismatch {
        /// The claim of the item.
        expected: ClaimId,
        /// The edge's `from_claim_id`.
        found: ClaimId,
    },
    /// An edge from a claim to itself.
    #[error("edge from `{claim_id}` to itself")]
    SelfEdge {
        /// The claim.
        claim_id: ClaimId,
    },
    /// An embedding whose dimension is not the tenant's.
    #[error("embedding has dimension {found}, the tenant's is {expected}")]
    EmbeddingDimension {
        /// The tenant's dimension.
        expected: u32,
        /// The embedding's.
        found: usize,
    },
    /// An embedding from another model than the tenant's vectors (or unnamed, where the
    /// tenant's vectors name their model): vectors of two models never mix in one tenant.
    #[error(
        "embedding_model {found:?} differs from the model of this tenant's vectors ({expected:?})"
    )]
    EmbeddingModel {
        /// The model of the tenant's vectors (`None`: vectors that named no model).
        expected: Option<String>,
        /// The model the write named (`None`: none).
        found: Option<String>,
    },
    /// `embedding_model` without an `embedding`.
    #[error("`embedding_model` is only accepted with an `embedding`")]
    EmbeddingModelWithoutEmbedding,
    /// An embedding with a NaN or infinite component.
    #[error("embedding component {index} is not finite")]
    EmbeddingNotFinite {
        /// The first bad component.
        index: usize,
    },
    /// A stance name that is not `supports`, `contradicts` or `neutral`.
    #[error("unknown stance `{value}` (expected supports, contradicts or neutral)")]
    UnknownStance {
        /// The name given (first 64 characters).
        value: String,
    },
    /// A relation name that is not `supports`, `contradicts`, `refines` or `supersedes`.
    #[error("unknown relation `{value}` (expected supports, contradicts, refines or supersedes)")]
    UnknownRelation {
        /// The name given (first 64 characters).
        value: String,
    },
    /// A timestamp that is not RFC 3339.
    #[error("`{text}` is not an RFC 3339 timestamp")]
    BadTimestamp {
        /// The text given (first 64 characters).
        text: String,
    },
    /// A batch with no items.
    #[error("a batch needs at least one item")]
    EmptyBatch,
    /// A batch whose items belong to more than one tenant (a commit is scoped to one tenant).
    #[error("a batch belongs to one tenant: item is for `{found}`, the batch for `{expected}`")]
    MixedTenants {
        /// The first item's tenant.
        expected: String,
        /// The offending item's tenant.
        found: String,
    },
}

/// What is wrong at a place in a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CorruptionKind {
    /// The file does not start with the expected magic bytes.
    #[error("bad magic bytes")]
    BadMagic,
    /// A checksum does not match the bytes it covers.
    #[error("checksum mismatch")]
    ChecksumMismatch,
    /// The file ends inside a structure.
    #[error("truncated")]
    Truncated,
    /// A length field is impossible.
    #[error("impossible length {0}")]
    BadLength(u64),
    /// A structure decodes to something invalid.
    #[error("malformed: {0}")]
    Malformed(&'static str),
    /// A format version this build does not read.
    #[error("unsupported format version {found} (this build reads {oldest}..={current})")]
    UnsupportedVersion {
        /// The version in the file.
        found: u16,
        /// The oldest version this build reads.
        oldest: u16,
        /// The version this build writes.
        current: u16,
    },
    /// Records are missing: the log jumps from one LSN to a later one.
    #[error("log sequence gap: expected LSN {expected}, found {found}")]
    LsnGap {
        /// The LSN that should come next.
        expected: Lsn,
        /// The LSN found.
        found: Lsn,
    },
    /// A file the manifest references is missing.
    #[error("missing file")]
    Missing,
}

/// Corruption found on disk: which file, where, and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corruption in {} at byte {offset}: {kind}", file.display())]
pub struct Corruption {
    /// The file, relative to the store's directory.
    pub file: PathBuf,
    /// Byte offset in the file where the bad structure starts.
    pub offset: u64,
    /// What is wrong.
    pub kind: CorruptionKind,
}

/// A builder setting is out of range or inconsistent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A `Batched` loss window above the safe bound without `allow_unsafe_durability(true)`.
    #[error(
        "batched durability window of {max_records} records / {max_delay_ms} ms exceeds the safe \
         bound ({bound_records} records / {bound_delay_ms} ms); call allow_unsafe_durability(true) \
         to accept it"
    )]
    UnsafeDurability {
        /// The requested record window.
        max_records: usize,
        /// The requested delay window in milliseconds.
        max_delay_ms: u128,
        /// The safe record bound.
        bound_records: usize,
        /// The safe delay bound in milliseconds.
        bound_delay_ms: u128,
    },
    /// A setting outside its accepted range.
    #[error("`{setting}` is {value}; accepted: {accepted}")]
    OutOfRange {
        /// The builder method.
        setting: &'static str,
        /// The value given.
        value: String,
        /// The accepted range.
        accepted: &'static str,
    },
    /// The builder asks for an embedding dimension other than the one the store, or one of its
    /// tenants, already has.
    #[error("the store's embedding dimension (or a tenant's) is {stored}, the builder asks for {requested}")]
    DimensionMismatch {
        /// The dimension on disk.
        stored: u32,
        /// The dimension asked for.
        requested: u32,
    },
}

/// Why [`Store::open`](crate::StoreBuilder::open) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// A builder setting is invalid.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// An I/O error on a file.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory, relative to the store's directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Another process (or another `Store` in this one) has the directory open.
    #[error("the store directory is locked by another open store")]
    Locked,
    /// A file is corrupt; the store refuses to open rather than lose or invent data.
    #[error("{0}")]
    Corruption(#[from] Corruption),
}

/// Why a store stopped taking writes: the first failure that left the WAL's state unknown
/// (later failures are its consequences). Reads go on serving what was acknowledged; writes are
/// refused with [`WriteError::Poisoned`] until the store is reopened, and the reopen recovers
/// the WAL as it is on disk.
///
/// ```
/// use dash_core::PoisonCause;
///
/// let cause = PoisonCause::WalSync {
///     kind: std::io::ErrorKind::StorageFull,
///     message: "no space left on device".into(),
/// };
/// assert_eq!(cause.io_kind(), Some(std::io::ErrorKind::StorageFull));
/// assert_eq!(cause.to_string(), "syncing the WAL failed: no space left on device");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PoisonCause {
    /// Appending a group of records to the WAL failed: it may be on disk in part.
    #[error("appending to the WAL failed: {message}")]
    WalAppend {
        /// The I/O error's kind.
        kind: io::ErrorKind,
        /// The I/O error's message.
        message: String,
    },
    /// Syncing the WAL failed: records written since the last sync may be lost.
    #[error("syncing the WAL failed: {message}")]
    WalSync {
        /// The I/O error's kind.
        kind: io::ErrorKind,
        /// The I/O error's message.
        message: String,
    },
    /// Starting the next WAL file failed.
    #[error("starting a new WAL file failed: {message}")]
    WalRotate {
        /// The I/O error's kind.
        kind: io::ErrorKind,
        /// The I/O error's message.
        message: String,
    },
    /// A record written to the WAL could not be applied to the in-memory state (stored data it
    /// needed did not decode): the state no longer matches the WAL.
    #[error("applying a written record failed: {0}")]
    Apply(Corruption),
}

/// Serialized as its message (the stats answer's `poisoned` string).
impl serde::Serialize for PoisonCause {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl PoisonCause {
    /// The kind of the I/O error behind it, if an I/O error is.
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            Self::WalAppend { kind, .. }
            | Self::WalSync { kind, .. }
            | Self::WalRotate { kind, .. } => Some(*kind),
            Self::Apply(_) => None,
        }
    }

    /// `e` failed appending to the WAL.
    pub(crate) fn wal_append(e: &io::Error) -> Self {
        Self::WalAppend {
            kind: e.kind(),
            message: e.to_string(),
        }
    }

    /// `e` failed syncing the WAL.
    pub(crate) fn wal_sync(e: &io::Error) -> Self {
        Self::WalSync {
            kind: e.kind(),
            message: e.to_string(),
        }
    }

    /// `e` failed starting a WAL file.
    pub(crate) fn wal_rotate(e: &io::Error) -> Self {
        Self::WalRotate {
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

/// Why a write (`ingest`, `ingest_batch`, `forget`) was refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// An item is invalid; nothing was written.
    #[error("item {index}: {source}")]
    Invalid {
        /// The item's index in the batch (0 for a single ingest).
        index: usize,
        /// What is wrong.
        source: ValidationError,
    },
    /// The `commit_id` was used before with other content; nothing was written.
    #[error("commit `{commit_id}` was already committed with other content")]
    CommitConflict {
        /// The commit id.
        commit_id: String,
    },
    /// `forget` of a claim that does not exist or is already forgotten.
    #[error("claim `{claim_id}` not found")]
    NotFound {
        /// The claim.
        claim_id: ClaimId,
    },
    /// The encoded write exceeds the largest WAL record.
    #[error("the write encodes to {bytes} bytes; a WAL record holds at most {max}")]
    TooLarge {
        /// Its encoded size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// An earlier I/O failure made the WAL's state unknown; the store refuses all writes until it
    /// is reopened.
    #[error("the store is poisoned by an earlier I/O failure ({cause}); reopen it")]
    Poisoned {
        /// The failure that poisoned it.
        cause: PoisonCause,
    },
    /// The WAL write or fsync failed; the store is now poisoned. The write may or may not be on
    /// disk; it was not acknowledged.
    #[error("WAL I/O failed: {0}")]
    Io(#[source] io::Error),
    /// Stored data needed to sequence the write did not decode.
    #[error("{0}")]
    Corruption(#[source] Corruption),
    /// The store is closed.
    #[error("the store is closed")]
    Closed,
}

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// Data read from a segment did not decode (it passed its checksum at open, so this is a bug
    /// or memory corruption; reported, never ignored).
    #[error("{0}")]
    Corruption(#[from] Corruption),
    /// A validation error in the arguments (such as an invalid tenant id).
    #[error("{0}")]
    Invalid(#[from] ValidationError),
}

/// Why a query was refused. Nothing is read or changed by a refused query.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The tenant id is not valid.
    #[error("{0}")]
    Tenant(ValidationError),
    /// Neither query text nor a query embedding was given.
    #[error("a query needs text or an embedding")]
    Empty,
    /// The query text is longer than the limit.
    #[error("query text is {len} bytes, at most {max} are allowed")]
    TextTooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// `top_k` is outside `1..=max`.
    #[error("top_k must be in 1..={max}, got {value}")]
    TopK {
        /// The value given.
        value: usize,
        /// The largest allowed.
        max: usize,
    },
    /// `graph_depth` is above the limit.
    #[error("graph_depth must be at most {max}, got {value}")]
    GraphDepth {
        /// The value given.
        value: u8,
        /// The largest allowed.
        max: u8,
    },
    /// The query embedding's dimension differs from the tenant's.
    #[error("query embedding has {actual} dimensions, the tenant's have {expected}")]
    EmbeddingDimension {
        /// The tenant's dimension.
        expected: u32,
        /// The query's.
        actual: usize,
    },
    /// The query embedding has a NaN or infinite component, or is all zeros.
    #[error("query embedding is not usable: {0}")]
    BadEmbedding(&'static str),
    /// Too many filter conditions, or one that is too long.
    #[error("filter is too large: {0}")]
    FilterTooLarge(&'static str),
    /// The retrieval indexes could not be built at open (the store's data did not decode).
    #[error("retrieval indexes unavailable: {0}")]
    IndexUnavailable(String),
    /// The fusion parameters are out of range.
    #[error("bad fusion parameters: {0}")]
    BadFusion(&'static str),
    /// `wait_for_detection` is longer than the store allows.
    #[error("wait_for_detection may be at most {max_ms} ms, got {value_ms} ms")]
    DetectionWait {
        /// The wait asked for.
        value_ms: u128,
        /// The longest accepted.
        max_ms: u128,
    },
    /// The store's embedder failed on the query text.
    #[error("embedding the query failed: {0}")]
    Embedding(String),
    /// Edges could not be rebuilt (the detection stage stopped or the store is closing).
    #[error("detection unavailable: {0}")]
    DetectionUnavailable(String),
}

/// Why a checkpoint or merge failed. The store keeps serving; the WAL still holds everything.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// An I/O error while writing a segment or manifest.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file, relative to the store's directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The WAL could not be rotated (the store is now poisoned).
    #[error("WAL rotation failed: {0}")]
    Wal(#[source] WriteError),
    /// A segment did not decode during a merge.
    #[error("{0}")]
    Corruption(#[from] Corruption),
    /// The store is closed.
    #[error("the store is closed")]
    Closed,
}

/// Why `close` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CloseError {
    /// The final WAL sync failed: writes acknowledged in `Batched` mode may be lost.
    #[error("final WAL sync failed: {0}")]
    Io(#[source] io::Error),
    /// A background thread panicked.
    #[error("a background thread panicked")]
    ThreadPanicked,
}

/// Any error of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// From opening a store.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// From a write.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// From a read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// From a checkpoint or merge.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// From closing.
    #[error(transparent)]
    Close(#[from] CloseError),
    /// From validating input.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// From a query.
    #[error(transparent)]
    Query(#[from] QueryError),
}

/// What kind of failure an error is: the vocabulary a caller maps onto its own (the HTTP
/// server's status codes, the Python package's exception classes) without matching every
/// variant of every error type.
///
/// ```
/// use dash_core::{ErrorKind, QueryError};
///
/// assert_eq!(QueryError::Empty.kind(), ErrorKind::Invalid);
/// assert_eq!(ErrorKind::Invalid.as_str(), "invalid");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input is refused (a validation error, a bad query); nothing was changed.
    Invalid,
    /// A `commit_id` was used before with other content.
    CommitConflict,
    /// The claim does not exist (or is already forgotten).
    NotFound,
    /// The write is larger than a WAL record holds.
    TooLarge,
    /// A builder setting is invalid.
    Config,
    /// Another open store holds the directory.
    Locked,
    /// Stored data failed its checksum or did not decode.
    Corruption,
    /// The store cannot serve the call now: closed, poisoned by an I/O failure, or an I/O error.
    Unavailable,
    /// The retrieval indexes, the embedder or the detection stage cannot answer.
    IndexUnavailable,
}

impl ErrorKind {
    /// Every kind, for exhaustive checks by callers.
    pub const ALL: &'static [ErrorKind] = &[
        ErrorKind::Invalid,
        ErrorKind::CommitConflict,
        ErrorKind::NotFound,
        ErrorKind::TooLarge,
        ErrorKind::Config,
        ErrorKind::Locked,
        ErrorKind::Corruption,
        ErrorKind::Unavailable,
        ErrorKind::IndexUnavailable,
    ];

    /// A stable snake_case name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Invalid => "invalid",
            ErrorKind::CommitConflict => "commit_conflict",
            ErrorKind::NotFound => "not_found",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Config => "config",
            ErrorKind::Locked => "locked",
            ErrorKind::Corruption => "corruption",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::IndexUnavailable => "index_unavailable",
        }
    }
}

impl ValidationError {
    /// Always [`ErrorKind::Invalid`].
    #[must_use]
    pub const fn kind(&self) -> ErrorKind {
        ErrorKind::Invalid
    }
}

impl OpenError {
    /// The kind of failure.
    #[must_use]
    pub const fn kind(&self) -> ErrorKind {
        match self {
            OpenError::Config(_) => ErrorKind::Config,
            OpenError::Io { .. } => ErrorKind::Unavailable,
            OpenError::Locked => ErrorKind::Locked,
            OpenError::Corruption(_) => ErrorKind::Corruption,
        }
    }
}

impl WriteError {
    /// The kind of failure.
    #[must_use]
    pub const fn kind(&self) -> ErrorKind {
        match self {
            WriteError::Invalid { .. } => ErrorKind::Invalid,
            WriteError::CommitConflict { .. } => ErrorKind::CommitConflict,
            WriteError::NotFound { .. } => ErrorKind::NotFound,
            WriteError::TooLarge { .. } => ErrorKind::TooLarge,
            WriteError::Corruption(_) => ErrorKind::Corruption,
            WriteError::Poisoned { .. } | WriteError::Io(_) | WriteError::Closed => {
                ErrorKind::Unavailable
            }
        }
    }
}

impl ReadError {
    /// The kind of failure.
    #[must_use]
    pub const fn kind(&self) -> ErrorKind {
        match self {
            ReadError::Corruption(_) => ErrorKind::Corruption,
            ReadError::Invalid(_) => ErrorKind::Invalid,
        }
    }
}

impl QueryError {
    /// The kind of failure: the store's side (indexes, embedder, detection stage) or the query.
    #[must_use]
    pub const fn kind(&self) -> ErrorKind {
        match self {
            QueryError::IndexUnavailable(_)
            | QueryError::Embedding(_)
            | QueryError::DetectionUnavailable(_) => ErrorKind::IndexUnavailable,
            _ => ErrorKind::Invalid,
        }
    }
}

impl CheckpointError {
    /// The kind of failure.
    #[must_use]
    pub const fn kind(&self) -> ErrorKind {
        match self {
            CheckpointError::Corruption(_) => ErrorKind::Corruption,
            CheckpointError::Io { .. } | CheckpointError::Wal(_) | CheckpointError::Closed => {
                ErrorKind::Unavailable
            }
        }
    }
}

impl CloseError {
    /// Always [`ErrorKind::Unavailable`]: the final sync failed or a background thread died.
    #[must_use]
    pub const fn kind(&self) -> ErrorKind {
        ErrorKind::Unavailable
    }
}

impl Error {
    /// The kind of failure of the error inside.
    #[must_use]
    pub const fn kind(&self) -> ErrorKind {
        match self {
            Error::Open(e) => e.kind(),
            Error::Write(e) => e.kind(),
            Error::Read(e) => e.kind(),
            Error::Checkpoint(e) => e.kind(),
            Error::Close(e) => e.kind(),
            Error::Validation(e) => e.kind(),
            Error::Query(e) => e.kind(),
        }
    }
}
