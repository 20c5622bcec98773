//! Search building blocks for retrieval: text analysis and a per-tenant BM25 index.
//!
//! These are the lexical half of the hybrid retrieval pipeline (`shared/architecture.md` §2).
//! Every index instance belongs to exactly one tenant, so no statistic (document frequency,
//! average length) ever mixes tenants.

mod analyzer;
mod lexical;

pub use analyzer::Analyzer;
pub use lexical::{Bm25Index, Bm25Params, DocId};
