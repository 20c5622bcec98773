//! Search building blocks for retrieval: text analysis, a BM25 index, facet bitmaps for
//! filters, and vector search.
//!
//! They are the parts of the hybrid retrieval pipeline (`shared/architecture.md` §2); the query
//! planner that combines them over segments and the memtable is the retrieval issue's next step.
//! Every index instance belongs to exactly one tenant, so no statistic (document frequency,
//! average length) ever mixes tenants.

mod analyzer;
mod filter;
mod lexical;
mod lists;
mod term_lists;
mod topk;
mod vector;

pub use analyzer::Analyzer;
pub use filter::{Facets, Filter, FilterIndex};
pub use lexical::{Bm25Index, Bm25Params, DocId};
pub(crate) use topk::{Hit, TopK};
pub(crate) use vector::{dot, unit};
pub use vector::{ExactIndex, HnswIndex, HnswParams, Quantization, VectorError};
