//! What [`Store::retrieve`](crate::Store::retrieve) returns: ranked claims with their evidence,
//! citations and conflicts, an optional claim graph and an optional planner trace. Field names
//! are the HTTP contract's (`shared/architecture.md` §4), so the server serialises these as
//! they are.

use serde::Serialize;

use crate::model::{ClaimId, Evidence, Relation, TenantId, Timestamp};

/// The answer to a query.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetrieveResponse {
    /// The tenant asked.
    pub tenant_id: TenantId,
    /// The query text, if any.
    pub query: Option<String>,
    /// Time spent answering, in milliseconds.
    pub took_ms: f64,
    /// The ranked claims, best first.
    pub results: Vec<RetrievedClaim>,
    /// The claim graph around the results, when asked for. Serialised always, as the contract
    /// shows it: an empty graph when not asked for.
    #[serde(serialize_with = "graph_or_empty")]
    pub graph: Option<Graph>,
    /// Per-stage candidate counts and timings, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explain: Option<Explain>,
    /// Whether contradiction detection had caught up with what the tenant had committed when
    /// the query read it (conflicts of claims still waiting are not in this answer yet).
    pub detection: DetectionStatus,
}

/// How far the detection stage was when a query read the tenant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct DetectionStatus {
    /// True when every claim version the tenant had committed had been through detection (also
    /// true when detection is off).
    pub caught_up: bool,
    /// Claim versions of the tenant still waiting for detection.
    pub pending: u64,
    /// Every commit up to this LSN had been through detection (store-wide).
    pub watermark_lsn: u64,
    /// How long the query waited for detection, in milliseconds.
    pub waited_ms: f64,
}

fn graph_or_empty<S: serde::Serializer>(graph: &Option<Graph>, s: S) -> Result<S::Ok, S::Error> {
    match graph {
        Some(g) => g.serialize(s),
        None => Graph::default().serialize(s),
    }
}

/// One ranked claim.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetrievedClaim {
    /// The claim.
    pub claim_id: ClaimId,
    /// Its text.
    pub canonical_text: String,
    /// The composite score (higher is better); see [`ScoreBreakdown`].
    pub score: f32,
    /// The parts the score is made of.
    pub score_breakdown: ScoreBreakdown,
    /// The extractor's confidence.
    pub confidence: f32,
    /// Start of validity.
    pub valid_from: Option<Timestamp>,
    /// End of validity (exclusive).
    pub valid_to: Option<Timestamp>,
    /// When the returned version was committed.
    pub recorded_at: Timestamp,
    /// The returned version's number.
    pub version: u32,
    /// The claim's entities.
    pub entities: Vec<String>,
    /// Evidence with stance `supports`, best source first.
    pub supporting_evidence: Vec<Evidence>,
    /// Evidence with stance `contradicts`, best source first (empty in `SupportOnly`).
    pub contradicting_evidence: Vec<Evidence>,
    /// Claims joined to this one by a `contradicts` edge (either direction), as visible to this
    /// query (empty in `SupportOnly`).
    pub conflicts: Vec<Conflict>,
    /// Where to check the claim: one per returned piece of evidence (or, for a claim with only
    /// neutral evidence, per neutral piece).
    pub citations: Vec<Citation>,
}

/// The parts of a result's score.
///
/// `score = relevance · (0.7 + 0.3 · evidence) · (0.8 + 0.2 · confidence) · temporal`, with
/// `evidence = support · (1 - contradiction / 2)`; see `docs/retrieval.md`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ScoreBreakdown {
    /// The fused relevance, scaled so the best candidate has 1.
    pub relevance: f32,
    /// BM25 score scaled by the best lexical candidate's (0 when not a lexical candidate).
    pub lexical: f32,
    /// Cosine similarity with the query embedding (0 when not a dense candidate).
    pub dense: f32,
    /// Evidence support: `1 - exp(-Σ quality of supporting evidence)`.
    pub support: f32,
    /// Share of contradicting evidence by source quality:
    /// `Σ q(contradicts) / (Σ q(supports) + Σ q(contradicts))`, each piece counting `q + 0.001`
    /// (so quality-0 evidence is still a voice); 0 without either.
    pub contradiction: f32,
    /// The claim's confidence.
    pub confidence: f32,
    /// 1 when the claim is valid at the query's instant (`as_of`, or now), less when not.
    pub temporal: f32,
}

/// A claim in conflict with a result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conflict {
    /// The other claim.
    pub claim_id: ClaimId,
    /// Always `contradicts`.
    pub relation: Relation,
    /// The other claim's text.
    pub canonical_text: String,
    /// True when the contradiction detector built the edge.
    pub detected: bool,
    /// The edge's strength (for a detected edge, the detector's confidence).
    pub strength: f32,
    /// Why the edge exists (detected edges always say; caller edges may).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A machine-readable citation built from a piece of evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Citation {
    /// The evidence cited.
    pub evidence_id: String,
    /// The source document.
    pub source_id: String,
    /// The chunk of the source, when given.
    pub chunk_id: Option<String>,
    /// Span start (byte offset into the chunk), when given.
    pub span_start: Option<u64>,
    /// Span end (exclusive), when given.
    pub span_end: Option<u64>,
}

impl From<&Evidence> for Citation {
    fn from(e: &Evidence) -> Self {
        Self {
            evidence_id: e.evidence_id.clone(),
            source_id: e.source_id.clone(),
            chunk_id: e.chunk_id.clone(),
            span_start: e.span_start,
            span_end: e.span_end,
        }
    }
}

/// The claims around the results and the edges between them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Graph {
    /// Claims reached, results first.
    pub nodes: Vec<GraphNode>,
    /// Edges between reached claims.
    pub edges: Vec<GraphEdge>,
    /// True when a node or degree cap cut the expansion short.
    pub truncated: bool,
}

/// A claim in the graph.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GraphNode {
    /// The claim.
    pub claim_id: ClaimId,
    /// Its text.
    pub canonical_text: String,
    /// Hops from the nearest result (0 for results).
    pub depth: u8,
}

/// An edge in the graph.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GraphEdge {
    /// Where it starts.
    pub from_claim_id: ClaimId,
    /// Where it points.
    pub to_claim_id: ClaimId,
    /// What it says.
    pub relation: Relation,
    /// How strong it is.
    pub strength: f32,
    /// True when the contradiction detector built it.
    pub detected: bool,
    /// Why it exists (detected edges always say; caller edges may).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The planner's trace: what each stage saw and how long it took.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Explain {
    /// The stages, in order.
    pub stages: Vec<Stage>,
    /// True when the filters were applied as a bitmap before scoring.
    pub prefiltered: bool,
    /// Documents the filters let through (when there were filters).
    pub filter_matches: Option<u64>,
    /// Dense documents in HNSW graphs / scanned exactly.
    pub dense_graph_docs: u64,
    /// Dense documents searched by exact scan (the mutable part and unsealed docs).
    pub dense_exact_docs: u64,
}

/// One planner stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stage {
    /// `filter`, `lexical`, `dense`, `fuse`, `rank` or `assemble`.
    pub name: &'static str,
    /// Candidates out of the stage.
    pub candidates: usize,
    /// Time spent, in microseconds.
    pub micros: u64,
}
