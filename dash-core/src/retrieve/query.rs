//! [`Query`]: what a caller asks, built step by step and validated by
//! [`Store::retrieve`](crate::Store::retrieve).

use crate::error::QueryError;
use crate::index::Filter;
use crate::model::{TenantId, Timestamp};
use crate::validate::{validate_tenant_id, MAX_FIELD_BYTES, MAX_TEXT_BYTES};

/// The largest `top_k`.
pub const MAX_TOP_K: usize = 1000;
/// The deepest graph expansion.
pub const MAX_GRAPH_DEPTH: u8 = 3;
/// The most filter conditions (entities + metadata pairs + sources) in one query.
pub const MAX_FILTER_CONDITIONS: usize = 64;
/// The longest [`Query::wait_for_detection`] accepted.
pub const MAX_DETECTION_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Which evidence a query returns, and which claims.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StanceMode {
    /// Both sides stay visible: supporting and contradicting evidence, and conflicting claims.
    #[default]
    Balanced,
    /// Only supporting evidence is returned, and claims whose evidence is net contradicting are
    /// dropped.
    SupportOnly,
}

/// How fused candidates are ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ranking {
    /// Relevance weighted by evidence, confidence and time (see `docs/retrieval.md`).
    #[default]
    Composite,
    /// Fused relevance alone: for corpora without evidence, for debugging, and for measuring
    /// the indexes themselves (a dense-only query then lists its nearest neighbours in order).
    Relevance,
}

/// How lexical and dense candidate lists are combined into one relevance score.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "method")]
pub enum Fusion {
    /// Reciprocal-rank fusion: `Σ 1 / (k + rank)` over the lists a candidate is in.
    Rrf {
        /// The rank offset (60 in the original paper).
        k: f32,
    },
    /// Min-max normalised scores, `lexical · w + dense · (1 - w)`.
    Weighted {
        /// The lexical weight `w` in `0..=1`.
        lexical: f32,
    },
}

impl Default for Fusion {
    /// Weighted, 0.5 / 0.5: it beat RRF on the Climate-FEVER held-out split (see
    /// `docs/retrieval.md`).
    fn default() -> Self {
        Fusion::Weighted { lexical: 0.5 }
    }
}

/// A retrieval request for one tenant: text and/or an embedding, filters, time and answer shape.
///
/// ```
/// use dash_core::{Query, StanceMode, Timestamp};
///
/// let q = Query::new("acme")
///     .text("who runs acme")
///     .top_k(5)
///     .stance_mode(StanceMode::SupportOnly)
///     .as_of(Timestamp::from_year(2021).unwrap())
///     .entity("Acme")
///     .include_graph(2);
/// assert_eq!(q.get_top_k(), 5);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub(crate) tenant: TenantId,
    pub(crate) text: Option<String>,
    pub(crate) embedding: Option<Vec<f32>>,
    pub(crate) top_k: usize,
    pub(crate) stance_mode: StanceMode,
    pub(crate) as_of: Option<Timestamp>,
    pub(crate) recorded_as_of: Option<Timestamp>,
    pub(crate) filter: Filter,
    pub(crate) graph_depth: Option<u8>,
    pub(crate) explain: bool,
    pub(crate) fusion: Fusion,
    pub(crate) ranking: Ranking,
    pub(crate) wait_for_detection: Option<std::time::Duration>,
}

impl Query {
    /// A query of `tenant` with no text or embedding yet, `top_k` 10, `Balanced`, at the
    /// current time, without filters, graph or explanation.
    #[must_use]
    pub fn new(tenant: impl Into<TenantId>) -> Self {
        Self {
            tenant: tenant.into(),
            text: None,
            embedding: None,
            top_k: 10,
            stance_mode: StanceMode::Balanced,
            as_of: None,
            recorded_as_of: None,
            filter: Filter::default(),
            graph_depth: None,
            explain: false,
            fusion: Fusion::default(),
            ranking: Ranking::default(),
            wait_for_detection: None,
        }
    }

    /// Searches the claims' text (BM25 over `canonical_text` and evidence excerpts).
    #[must_use]
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// Searches the claims' embeddings (cosine); the dimension must be the tenant's
    /// ([`Store::embedding_dimension`](crate::Store::embedding_dimension)).
    #[must_use]
    pub fn embedding(mut self, embedding: Vec<f32>) -> Self {
        self.embedding = Some(embedding);
        self
    }

    /// How many claims to return, `1..=1000` (default 10).
    #[must_use]
    pub fn top_k(mut self, k: usize) -> Self {
        self.top_k = k;
        self
    }

    /// Which evidence and claims to return (default [`StanceMode::Balanced`]).
    #[must_use]
    pub fn stance_mode(mut self, mode: StanceMode) -> Self {
        self.stance_mode = mode;
        self
    }

    /// Only claims valid at `t` (`valid_from <= t < valid_to`, open ends unbounded).
    #[must_use]
    pub fn as_of(mut self, t: Timestamp) -> Self {
        self.as_of = Some(t);
        self
    }

    /// Answers as the store would have at recorded time `t`: versions and tombstones recorded
    /// after `t` are invisible.
    #[must_use]
    pub fn recorded_as_of(mut self, t: Timestamp) -> Self {
        self.recorded_as_of = Some(t);
        self
    }

    /// Only claims that name this entity (repeatable: all must match).
    #[must_use]
    pub fn entity(mut self, entity: impl Into<String>) -> Self {
        self.filter.entities.push(entity.into());
        self
    }

    /// Only claims with this metadata pair (repeatable: all must match).
    #[must_use]
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.filter.metadata.push((key.into(), value.into()));
        self
    }

    /// Only claims with evidence from this source (repeatable: any may match).
    #[must_use]
    pub fn source(mut self, source_id: impl Into<String>) -> Self {
        self.filter.sources.push(source_id.into());
        self
    }

    /// Returns the claim graph around the results, `depth` hops out (`1..=3`; 0 turns it off).
    #[must_use]
    pub fn include_graph(mut self, depth: u8) -> Self {
        self.graph_depth = (depth > 0).then_some(depth);
        self
    }

    /// Waits at most this long for contradiction detection to reach what the tenant has
    /// committed before answering (default: the store's
    /// [`DetectionConfig::query_wait`](crate::detect::DetectionConfig::query_wait), 100 ms;
    /// at most [`MAX_DETECTION_WAIT`]). The answer says whether it had
    /// ([`RetrieveResponse::detection`](crate::RetrieveResponse)).
    #[must_use]
    pub fn wait_for_detection(mut self, wait: std::time::Duration) -> Self {
        self.wait_for_detection = Some(wait);
        self
    }

    /// Returns per-stage candidate counts and timings with the answer.
    #[must_use]
    pub fn explain(mut self, on: bool) -> Self {
        self.explain = on;
        self
    }

    /// Overrides how lexical and dense candidates are fused (default: [`Fusion::default`]).
    #[must_use]
    pub fn fusion(mut self, fusion: Fusion) -> Self {
        self.fusion = fusion;
        self
    }

    /// How results are ordered (default: [`Ranking::Composite`]).
    #[must_use]
    pub fn ranking(mut self, ranking: Ranking) -> Self {
        self.ranking = ranking;
        self
    }

    /// The tenant asked.
    #[must_use]
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The requested number of results.
    #[must_use]
    pub fn get_top_k(&self) -> usize {
        self.top_k
    }

    /// Checks every limit; `dim` is the tenant's embedding dimension, once fixed.
    pub(crate) fn validate(&self, dim: Option<u32>) -> Result<(), QueryError> {
        validate_tenant_id(&self.tenant).map_err(QueryError::Tenant)?;
        let text = self.text.as_deref().filter(|t| !t.trim().is_empty());
        if text.is_none() && self.embedding.is_none() {
            return Err(QueryError::Empty);
        }
        if let Some(t) = text {
            if t.len() > MAX_TEXT_BYTES {
                return Err(QueryError::TextTooLong {
                    len: t.len(),
                    max: MAX_TEXT_BYTES,
                });
            }
        }
        if !(1..=MAX_TOP_K).contains(&self.top_k) {
            return Err(QueryError::TopK {
                value: self.top_k,
                max: MAX_TOP_K,
            });
        }
        if let Some(depth) = self.graph_depth {
            if depth > MAX_GRAPH_DEPTH {
                return Err(QueryError::GraphDepth {
                    value: depth,
                    max: MAX_GRAPH_DEPTH,
                });
            }
        }
        if let Some(e) = &self.embedding {
            if let Some(expected) = dim {
                if e.len() != expected as usize {
                    return Err(QueryError::EmbeddingDimension {
                        expected,
                        actual: e.len(),
                    });
                }
            }
            if e.iter().any(|x| !x.is_finite()) {
                return Err(QueryError::BadEmbedding("a component is NaN or infinite"));
            }
            if e.iter().all(|x| *x == 0.0) {
                return Err(QueryError::BadEmbedding("the vector is all zeros"));
            }
        }
        let f = &self.filter;
        if f.entities.len() + f.metadata.len() + f.sources.len() > MAX_FILTER_CONDITIONS {
            return Err(QueryError::FilterTooLarge("more than 64 conditions"));
        }
        let too_long = f
            .entities
            .iter()
            .chain(&f.sources)
            .chain(f.metadata.iter().flat_map(|(k, v)| [k, v]))
            .any(|s| s.len() > MAX_FIELD_BYTES);
        if too_long {
            return Err(QueryError::FilterTooLarge("a condition is too long"));
        }
        if let Fusion::Weighted { lexical } = self.fusion {
            if !(0.0..=1.0).contains(&lexical) {
                return Err(QueryError::BadFusion("the lexical weight must be in 0..=1"));
            }
        }
        if let Fusion::Rrf { k } = self.fusion {
            if !(k.is_finite() && k >= 0.0) {
                return Err(QueryError::BadFusion("rrf k must be finite and >= 0"));
            }
        }
        if let Some(wait) = self.wait_for_detection {
            if wait > MAX_DETECTION_WAIT {
                return Err(QueryError::DetectionWait {
                    value_ms: wait.as_millis(),
                    max_ms: MAX_DETECTION_WAIT.as_millis(),
                });
            }
        }
        Ok(())
    }

    /// The text to search, if any (blank text counts as none).
    pub(crate) fn search_text(&self) -> Option<&str> {
        self.text.as_deref().filter(|t| !t.trim().is_empty())
    }
}
