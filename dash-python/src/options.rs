//! Keyword arguments into dash-core's builder and query types; a refused value is an
//! `InvalidInputError` naming the argument.

use std::collections::BTreeMap;
use std::time::Duration;

use dash_core::{Durability, Query, Ranking, RecoveryMode, StanceMode, StoreBuilder, Timestamp};
use pyo3::prelude::*;

use crate::errors::invalid;

/// How a store is opened: the builder's settings, each `None` for its default.
#[derive(Debug, Default)]
pub(crate) struct OpenOptions {
    pub durability: Option<String>,
    pub batch_max_records: Option<usize>,
    pub batch_max_delay_ms: Option<u64>,
    pub allow_unsafe_durability: bool,
    pub recovery_mode: Option<String>,
    pub embedding_dimension: Option<u32>,
    pub auto_checkpoint: Option<bool>,
    pub checkpoint_wal_bytes: Option<u64>,
    pub checkpoint_wal_records: Option<u64>,
    /// `StoreBuilder::feed_retention_bytes`.
    pub feed_retention_bytes: Option<u64>,
    pub max_segments: Option<usize>,
    pub dense_seal_threshold: Option<usize>,
    pub detection: bool,
    pub embedder_dir: Option<String>,
}

impl OpenOptions {
    /// Applies the settings to `builder`. The embedder's model is read here (the slow part of an
    /// open with one), so the caller runs this without the GIL.
    pub(crate) fn apply(self, mut builder: StoreBuilder) -> Result<StoreBuilder, Refused> {
        builder = builder.durability(self.durability()?);
        builder = builder.allow_unsafe_durability(self.allow_unsafe_durability);
        if let Some(mode) = &self.recovery_mode {
            builder = builder.recovery_mode(match mode.as_str() {
                "tolerate_torn_tail" => RecoveryMode::TolerateTornTail,
                "absolute_consistency" => RecoveryMode::AbsoluteConsistency,
                "truncate_at_corruption" => RecoveryMode::TruncateAtCorruption,
                other => return Err(Refused(format!(
                    "recovery_mode must be tolerate_torn_tail, absolute_consistency or truncate_at_corruption, got {other:?}"
                ))),
            });
        }
        if let Some(dim) = self.embedding_dimension {
            builder = builder.embedding_dimension(dim);
        }
        if let Some(on) = self.auto_checkpoint {
            builder = builder.auto_checkpoint(on);
        }
        if let Some(bytes) = self.checkpoint_wal_bytes {
            builder = builder.checkpoint_wal_bytes(bytes);
        }
        if let Some(bytes) = self.feed_retention_bytes {
            builder = builder.feed_retention_bytes(bytes);
        }
        if let Some(records) = self.checkpoint_wal_records {
            builder = builder.checkpoint_wal_records(records);
        }
        if let Some(n) = self.max_segments {
            builder = builder.max_segments(n);
        }
        if let Some(docs) = self.dense_seal_threshold {
            builder = builder.dense_seal_threshold(docs);
        }
        if !self.detection {
            builder = builder.detection(dash_core::detect::DetectionConfig::disabled());
        }
        match &self.embedder_dir {
            Some(dir) => local_embedder(builder, dir),
            None => Ok(builder),
        }
    }

    fn durability(&self) -> Result<Durability, Refused> {
        let batched = self.batch_max_records.is_some() || self.batch_max_delay_ms.is_some();
        match self.durability.as_deref().unwrap_or("strict") {
            "strict" if batched => Err(Refused(
                "batch_max_records and batch_max_delay_ms go with durability=\"batched\"".into(),
            )),
            "strict" => Ok(Durability::Strict),
            "batched" => Ok(Durability::Batched {
                max_records: self.batch_max_records.unwrap_or(64),
                max_delay: Duration::from_millis(self.batch_max_delay_ms.unwrap_or(10)),
            }),
            other => Err(Refused(format!(
                "durability must be \"strict\" or \"batched\", got {other:?}"
            ))),
        }
    }
}

#[cfg(feature = "embed")]
fn local_embedder(builder: StoreBuilder, dir: &str) -> Result<StoreBuilder, Refused> {
    builder
        .local_embedder(dir)
        .map_err(|e| Refused(format!("embedder_dir: {e}")))
}

#[cfg(not(feature = "embed"))]
fn local_embedder(_: StoreBuilder, dir: &str) -> Result<StoreBuilder, Refused> {
    Err(Refused(format!(
        "embedder_dir {dir:?}: this build has no embedder (the `embed` feature)"
    )))
}

/// A refused setting or argument, said without the GIL; raised as `InvalidInputError`.
#[derive(Debug)]
pub(crate) struct Refused(pub String);

impl Refused {
    pub(crate) fn into_py_err(self, py: Python<'_>) -> PyErr {
        invalid(py, self.0)
    }
}

/// The options of a `retrieve` call.
#[derive(Debug, Default)]
pub(crate) struct QueryOptions {
    pub text: Option<String>,
    pub embedding: Option<Vec<f32>>,
    pub top_k: Option<usize>,
    pub stance_mode: Option<String>,
    pub as_of: Option<String>,
    pub recorded_as_of: Option<String>,
    pub entities: Vec<String>,
    pub sources: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    pub graph_depth: Option<u8>,
    pub explain: bool,
    pub wait_for_detection_ms: Option<u64>,
    pub ranking: Option<String>,
}

impl QueryOptions {
    /// The query for `tenant`.
    pub(crate) fn into_query(self, tenant: &str) -> Result<Query, Refused> {
        let mut q = Query::new(tenant).explain(self.explain);
        if let Some(text) = self.text {
            q = q.text(text);
        }
        if let Some(v) = self.embedding {
            q = q.embedding(v);
        }
        if let Some(k) = self.top_k {
            q = q.top_k(k);
        }
        if let Some(mode) = &self.stance_mode {
            q = q.stance_mode(match mode.as_str() {
                "balanced" => StanceMode::Balanced,
                "support_only" => StanceMode::SupportOnly,
                other => {
                    return Err(Refused(format!(
                        "stance_mode must be \"balanced\" or \"support_only\", got {other:?}"
                    )))
                }
            });
        }
        if let Some(t) = &self.as_of {
            q = q.as_of(instant("as_of", t)?);
        }
        if let Some(t) = &self.recorded_as_of {
            q = q.recorded_as_of(instant("recorded_as_of", t)?);
        }
        for e in self.entities {
            q = q.entity(e);
        }
        for s in self.sources {
            q = q.source(s);
        }
        for (k, v) in self.metadata {
            q = q.metadata(k, v);
        }
        if let Some(depth) = self.graph_depth.filter(|d| *d > 0) {
            q = q.include_graph(depth);
        }
        if let Some(ms) = self.wait_for_detection_ms {
            q = q.wait_for_detection(Duration::from_millis(ms));
        }
        if let Some(ranking) = &self.ranking {
            q = q.ranking(match ranking.as_str() {
                "composite" => Ranking::Composite,
                "relevance" => Ranking::Relevance,
                other => {
                    return Err(Refused(format!(
                        "ranking must be \"composite\" or \"relevance\", got {other:?}"
                    )))
                }
            });
        }
        Ok(q)
    }
}

/// An RFC 3339 instant, or a refusal naming `what`.
pub(crate) fn instant(what: &str, text: &str) -> Result<Timestamp, Refused> {
    Timestamp::parse_rfc3339(text).map_err(|_| {
        Refused(format!(
            "{what} must be an RFC 3339 timestamp, got {text:?}"
        ))
    })
}
