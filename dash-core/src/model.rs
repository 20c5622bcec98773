//! The data model: claims, their evidence and edges, tenants, bi-temporal time and versions.
//!
//! Names follow the contract of `shared/architecture.md` §1, so the HTTP layer can serialise these
//! types as they are.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ValidationError;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a string; validation happens when the id is written to a store.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The id as a string slice.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        // Hash and Eq are the string's own (derived over the one field), so maps keyed by
        // the id can be searched with a `&str`.
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// A tenant: the unit of isolation. Nothing of one tenant is visible to another.
    ///
    /// Valid ids are 1 to 128 bytes of ASCII letters, digits, `-`, `_` and `.` (not `.` or `..`),
    /// so that a tenant id is safe wherever it may become part of a path or a metric label.
    TenantId
);
string_id!(
    /// A claim's id, unique within its tenant: `(tenant, claim)` is the key.
    ClaimId
);

/// A log sequence number: the position of a committed record in the write-ahead log.
///
/// LSNs start at 1 and increase by one per record; `Lsn(0)` means "nothing".
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Lsn(pub u64);

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An instant in UTC with microsecond precision (microseconds since the Unix epoch; negative
/// values are before 1970). Serialised as an RFC 3339 string.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// A duration in whole microseconds (saturating): the unit of the store's timing counters.
pub(crate) fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Timestamp {
    /// The earliest representable instant (year -9999 is outside RFC 3339; this is a sentinel).
    pub const MIN: Timestamp = Timestamp(i64::MIN);
    /// The latest representable instant.
    pub const MAX: Timestamp = Timestamp(i64::MAX);

    /// From microseconds since the Unix epoch.
    #[must_use]
    pub const fn from_unix_micros(micros: i64) -> Self {
        Self(micros)
    }

    /// Microseconds since the Unix epoch.
    #[must_use]
    pub const fn as_unix_micros(self) -> i64 {
        self.0
    }

    /// The current wall-clock time.
    #[must_use]
    pub fn now() -> Self {
        let micros = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000;
        Self(i64::try_from(micros).unwrap_or(i64::MAX))
    }

    /// Midnight UTC on January 1st of `year` (handy for year-granular valid time).
    ///
    /// Returns `None` outside the years RFC 3339 can express (0..=9999).
    #[must_use]
    pub fn from_year(year: i32) -> Option<Self> {
        if !(0..=9999).contains(&year) {
            return None;
        }
        let date = time::Date::from_calendar_date(year, time::Month::January, 1).ok()?;
        let micros = date.midnight().assume_utc().unix_timestamp_nanos() / 1_000;
        i64::try_from(micros).ok().map(Self)
    }

    /// Parses an RFC 3339 timestamp such as `2024-05-01T12:00:00Z` or `2024-05-01T14:00:00+02:00`.
    ///
    /// # Errors
    /// [`ValidationError::BadTimestamp`] when the text is not RFC 3339.
    pub fn parse_rfc3339(text: &str) -> Result<Self, ValidationError> {
        let bad = || ValidationError::BadTimestamp {
            text: text.chars().take(64).collect(),
        };
        let dt = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map_err(|_| bad())?;
        i64::try_from(dt.unix_timestamp_nanos() / 1_000)
            .map(Self)
            .map_err(|_| bad())
    }

    /// Formats as RFC 3339 in UTC (`Z`), with fractional seconds only when non-zero.
    #[must_use]
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000;
        match time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()
            .and_then(|dt| {
                dt.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            }) {
            Some(s) => s,
            // Outside the years RFC 3339 can express: fall back to the raw number.
            None => format!("@{}us", self.0),
        }
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl FromStr for Timestamp {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_rfc3339(s)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

/// How a piece of evidence bears on its claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stance {
    /// The source backs the claim.
    Supports,
    /// The source says the opposite.
    Contradicts,
    /// The source mentions the claim's subject without taking a side.
    Neutral,
}

impl Stance {
    /// The contract name (`supports`, `contradicts`, `neutral`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Stance::Supports => "supports",
            Stance::Contradicts => "contradicts",
            Stance::Neutral => "neutral",
        }
    }
}

impl FromStr for Stance {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "supports" => Ok(Stance::Supports),
            "contradicts" => Ok(Stance::Contradicts),
            "neutral" => Ok(Stance::Neutral),
            other => Err(ValidationError::UnknownStance {
                value: other.chars().take(64).collect(),
            }),
        }
    }
}

/// How one claim relates to another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// The source claim backs the target claim.
    Supports,
    /// The two claims cannot both hold.
    Contradicts,
    /// The source claim makes the target more precise.
    Refines,
    /// The source claim replaces the target (a succession, not a conflict).
    Supersedes,
}

impl Relation {
    /// The contract name (`supports`, `contradicts`, `refines`, `supersedes`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Relation::Supports => "supports",
            Relation::Contradicts => "contradicts",
            Relation::Refines => "refines",
            Relation::Supersedes => "supersedes",
        }
    }
}

impl FromStr for Relation {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "supports" => Ok(Relation::Supports),
            "contradicts" => Ok(Relation::Contradicts),
            "refines" => Ok(Relation::Refines),
            "supersedes" => Ok(Relation::Supersedes),
            other => Err(ValidationError::UnknownRelation {
                value: other.chars().take(64).collect(),
            }),
        }
    }
}

/// A short canonical statement extracted from documents.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    /// The claim's id within its tenant.
    pub claim_id: ClaimId,
    /// The tenant that owns the claim.
    pub tenant_id: TenantId,
    /// The statement itself.
    pub canonical_text: String,
    /// How sure the extractor is that the statement is what the source says (0..=1).
    pub confidence: f32,
    /// Named entities the claim is about.
    #[serde(default)]
    pub entities: Vec<String>,
    /// Start of the claim's validity in the world (inclusive); `None` is open.
    #[serde(default)]
    pub valid_from: Option<Timestamp>,
    /// End of the claim's validity in the world (exclusive); `None` is open.
    #[serde(default)]
    pub valid_to: Option<Timestamp>,
    /// When the event the claim describes happened, if it is an event.
    #[serde(default)]
    pub event_time: Option<Timestamp>,
    /// A dense vector for the claim; its dimension must match the tenant's. Without one, a
    /// store with an embedder makes it in the background.
    #[serde(default)]
    pub embedding: Option<Vec<f32>>,
    /// The model that made `embedding` (for example `sentence-transformers/all-MiniLM-L6-v2`).
    /// A tenant records the model of its vectors; vectors of another model are refused
    /// ([`ValidationError::EmbeddingModel`]). Only with an `embedding`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_model: Option<String>,
    /// Free key/value metadata, filterable at query time.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Structured form: the subject.
    #[serde(default)]
    pub subject: Option<String>,
    /// Structured form: the predicate.
    #[serde(default)]
    pub predicate: Option<String>,
    /// Structured form: the object.
    #[serde(default)]
    pub object: Option<String>,
}

impl Claim {
    /// A claim with the given key and text, confidence 1 and every optional field empty.
    #[must_use]
    pub fn new(
        tenant_id: impl Into<TenantId>,
        claim_id: impl Into<ClaimId>,
        canonical_text: impl Into<String>,
    ) -> Self {
        Self {
            claim_id: claim_id.into(),
            tenant_id: tenant_id.into(),
            canonical_text: canonical_text.into(),
            confidence: 1.0,
            entities: Vec::new(),
            valid_from: None,
            valid_to: None,
            event_time: None,
            embedding: None,
            embedding_model: None,
            metadata: BTreeMap::new(),
            subject: None,
            predicate: None,
            object: None,
        }
    }
}

/// A source passage that supports, contradicts or merely mentions a claim; a citation is built
/// from it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// The evidence's id, unique within its claim.
    pub evidence_id: String,
    /// The claim it bears on: must be the id of the claim it is ingested with.
    pub claim_id: ClaimId,
    /// The source document.
    pub source_id: String,
    /// How it bears on the claim.
    pub stance: Stance,
    /// How trustworthy the source is (0..=1).
    pub source_quality: f32,
    /// The chunk of the source the span is in.
    #[serde(default)]
    pub chunk_id: Option<String>,
    /// Start of the cited span, a byte offset into the chunk (with `span_end`, or neither).
    #[serde(default)]
    pub span_start: Option<u64>,
    /// End of the cited span (exclusive), `>= span_start`.
    #[serde(default)]
    pub span_end: Option<u64>,
    /// The cited text, if the caller gives it.
    #[serde(default)]
    pub excerpt: Option<String>,
}

impl Evidence {
    /// Evidence for `claim_id` from `source_id`, quality 1, with no chunk, span or excerpt.
    #[must_use]
    pub fn new(
        evidence_id: impl Into<String>,
        claim_id: impl Into<ClaimId>,
        source_id: impl Into<String>,
        stance: Stance,
    ) -> Self {
        Self {
            evidence_id: evidence_id.into(),
            claim_id: claim_id.into(),
            source_id: source_id.into(),
            stance,
            source_quality: 1.0,
            chunk_id: None,
            span_start: None,
            span_end: None,
            excerpt: None,
        }
    }
}

/// A typed link from one claim to another of the same tenant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Edge {
    /// The claim the edge starts at: must be the claim it is ingested with.
    pub from_claim_id: ClaimId,
    /// The claim it points to.
    pub to_claim_id: ClaimId,
    /// What the link says.
    pub relation: Relation,
    /// How strong the link is (0..=1).
    pub strength: f32,
    /// True when the engine's detector built the edge rather than the caller.
    #[serde(default)]
    pub detected: bool,
    /// Why a detected edge was built.
    #[serde(default)]
    pub reason: Option<String>,
}

impl Edge {
    /// A caller-given edge of strength 1.
    #[must_use]
    pub fn new(
        from_claim_id: impl Into<ClaimId>,
        to_claim_id: impl Into<ClaimId>,
        relation: Relation,
    ) -> Self {
        Self {
            from_claim_id: from_claim_id.into(),
            to_claim_id: to_claim_id.into(),
            relation,
            strength: 1.0,
            detected: false,
            reason: None,
        }
    }
}

/// One unit of ingest: a claim with its evidence and outgoing edges.
///
/// Ingesting an item for a `(tenant, claim)` that exists makes a new version that replaces the
/// evidence and edges of the previous one; the previous version stays in the history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestItem {
    /// The claim.
    pub claim: Claim,
    /// Its evidence.
    #[serde(default)]
    pub evidence: Vec<Evidence>,
    /// Its outgoing edges.
    #[serde(default)]
    pub edges: Vec<Edge>,
}

impl IngestItem {
    /// An item with a claim and no evidence or edges.
    #[must_use]
    pub fn new(claim: Claim) -> Self {
        Self {
            claim,
            evidence: Vec::new(),
            edges: Vec::new(),
        }
    }

    /// Adds a piece of evidence.
    #[must_use]
    pub fn with_evidence(mut self, evidence: Evidence) -> Self {
        self.evidence.push(evidence);
        self
    }

    /// Adds an edge.
    #[must_use]
    pub fn with_edge(mut self, edge: Edge) -> Self {
        self.edges.push(edge);
        self
    }
}

/// What a version of a claim is: content, or the tombstone `forget` leaves.
#[derive(Clone, Debug, PartialEq)]
pub enum VersionBody {
    /// The claim as ingested.
    Live(Arc<IngestItem>),
    /// The claim was forgotten at this version.
    Tombstone,
}

/// One version of a claim, as the store committed it.
#[derive(Clone, Debug, PartialEq)]
pub struct ClaimVersion {
    /// 1 for the first ingest of a key, then one more per ingest or forget.
    pub version: u32,
    /// The WAL record that committed it.
    pub lsn: Lsn,
    /// When the store committed it (recorded time).
    pub recorded_at: Timestamp,
    /// Its content.
    pub body: VersionBody,
}

impl ClaimVersion {
    /// The item, unless this version is a tombstone.
    #[must_use]
    pub fn item(&self) -> Option<&Arc<IngestItem>> {
        match &self.body {
            VersionBody::Live(item) => Some(item),
            VersionBody::Tombstone => None,
        }
    }
}

/// The JSON shape of a claim's content beside its version fields (shared by
/// [`ClaimVersion`] and [`ClaimRecord`]).
#[derive(Serialize)]
struct VersionView<'a> {
    version: u32,
    lsn: Lsn,
    recorded_at: Timestamp,
    forgotten: bool,
    claim: Option<&'a Claim>,
    evidence: &'a [Evidence],
    edges: &'a [Edge],
    #[serde(skip_serializing_if = "Option::is_none")]
    history: Option<&'a [VersionInfo]>,
}

impl<'a> VersionView<'a> {
    fn new(version: u32, lsn: Lsn, recorded_at: Timestamp, item: Option<&'a IngestItem>) -> Self {
        Self {
            version,
            lsn,
            recorded_at,
            forgotten: item.is_none(),
            claim: item.map(|i| &i.claim),
            evidence: item.map_or(&[], |i| &i.evidence),
            edges: item.map_or(&[], |i| &i.edges),
            history: None,
        }
    }
}

/// As `{version, lsn, recorded_at, forgotten, claim, evidence, edges}`; a tombstone's `claim`
/// is `null` and its lists are empty.
impl Serialize for ClaimVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let item = self.item().map(|i| &**i);
        VersionView::new(self.version, self.lsn, self.recorded_at, item).serialize(s)
    }
}

/// A version in a claim's history, without its content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct VersionInfo {
    /// The version number.
    pub version: u32,
    /// The WAL record that committed it.
    pub lsn: Lsn,
    /// When the store committed it.
    pub recorded_at: Timestamp,
    /// True for the tombstone of a `forget`.
    pub forgotten: bool,
}

impl From<&ClaimVersion> for VersionInfo {
    fn from(v: &ClaimVersion) -> Self {
        Self {
            version: v.version,
            lsn: v.lsn,
            recorded_at: v.recorded_at,
            forgotten: matches!(v.body, VersionBody::Tombstone),
        }
    }
}

/// A claim as [`Store::get_claim`](crate::Store::get_claim) returns it: the current version with
/// its evidence and edges, and the history of all versions the store still keeps.
#[derive(Clone, Debug, PartialEq)]
pub struct ClaimRecord {
    /// The current (latest) version's content.
    pub item: Arc<IngestItem>,
    /// The current version number.
    pub version: u32,
    /// The record that committed the current version.
    pub lsn: Lsn,
    /// When the current version was committed.
    pub recorded_at: Timestamp,
    /// Every kept version, oldest first (the current one last).
    pub history: Vec<VersionInfo>,
}

/// As the current version's `{version, lsn, recorded_at, forgotten, claim, evidence, edges}`
/// (the HTTP API's `GET /v1/claims/{id}`) plus `history`.
impl Serialize for ClaimRecord {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut view = VersionView::new(self.version, self.lsn, self.recorded_at, Some(&self.item));
        view.history = Some(&self.history);
        view.serialize(s)
    }
}
