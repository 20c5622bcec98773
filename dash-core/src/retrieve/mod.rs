//! Retrieval: the query side of DASH (`shared/architecture.md` §2).
//!
//! [`Store::retrieve`](crate::Store::retrieve) takes a [`Query`] and returns a
//! [`RetrieveResponse`]: claims ranked by relevance (BM25 and dense cosine, fused) *and* by their
//! evidence, each with its supporting and contradicting evidence, citations and conflicting
//! claims, as of any valid and recorded time, strictly within one tenant. `docs/retrieval.md`
//! describes the pipeline and its semantics.

mod answer;
mod assemble;
pub(crate) mod catalog;
mod claims;
mod deferred;
mod dense;
pub(crate) mod graph_files;
pub(crate) mod image;
mod memory;
mod planner;
mod query;
mod rank;
pub(crate) mod tenant_cell;

pub use answer::{
    Citation, Conflict, DetectionStatus, Explain, Graph, GraphEdge, GraphNode, RetrieveResponse,
    RetrievedClaim, ScoreBreakdown, Stage,
};
pub use assemble::{MAX_CONFLICTS, MAX_DEGREE, MAX_GRAPH_NODES};
pub(crate) use catalog::{read_tenant, Catalog};
pub(crate) use dense::{Fold, SealPlan};
pub(crate) use memory::of_tenants as index_memory;
pub use memory::IndexMemory;
pub(crate) use planner::{run, Threads};
pub use query::{
    Fusion, Query, Ranking, StanceMode, MAX_DETECTION_WAIT, MAX_FILTER_CONDITIONS, MAX_GRAPH_DEPTH,
    MAX_TOP_K,
};
