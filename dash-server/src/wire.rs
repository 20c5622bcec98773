//! Request shapes of the HTTP contract and their translation into `dash-core` calls.
//!
//! Bodies are strict: unknown fields are refused (`deny_unknown_fields`), and so are unknown
//! query-string parameters, so a typo is a 400 naming the field, never a silently ignored
//! filter.

use std::collections::BTreeMap;

use dash_core::{IngestItem, Query, StanceMode, Timestamp};
use serde::{Deserialize, Deserializer};

use crate::error::ApiError;

/// `POST /v1/ingest/batch`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchBody {
    /// Idempotency key of the batch.
    pub commit_id: String,
    /// The items, all of one tenant.
    pub items: Vec<IngestItem>,
}

/// `POST /v1/admin/read_only`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadOnlyBody {
    /// Refuse mutations (`true`) or accept them again (`false`).
    pub read_only: bool,
}

/// The fields of a retrieve call, from a JSON body or a query string.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrieveRequest {
    /// The tenant to search.
    pub tenant_id: String,
    /// Query text.
    #[serde(default)]
    pub query: Option<String>,
    /// Query vector (POST only).
    #[serde(default)]
    pub query_embedding: Option<Vec<f32>>,
    /// Results wanted (default 10, at most 1000).
    #[serde(default)]
    pub top_k: Option<usize>,
    /// `balanced` (default) or `support_only`.
    #[serde(default)]
    pub stance_mode: Option<StanceModeName>,
    /// Valid-time instant.
    #[serde(default)]
    pub as_of: Option<Timestamp>,
    /// Recorded-time instant.
    #[serde(default)]
    pub recorded_as_of: Option<Timestamp>,
    /// Entities every result must mention.
    #[serde(default, alias = "entities", deserialize_with = "one_or_many")]
    pub entity: Vec<String>,
    /// Sources: results must have evidence from one of them.
    #[serde(default, alias = "sources", deserialize_with = "one_or_many")]
    pub source_id: Vec<String>,
    /// Metadata equality filters (POST only).
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Return the claim graph around the results.
    #[serde(default)]
    pub include_graph: bool,
    /// Graph depth (default 1 with `include_graph`).
    #[serde(default)]
    pub graph_depth: Option<u8>,
    /// Return the planner trace.
    #[serde(default)]
    pub explain: bool,
    /// Longest wait for contradiction detection to reach the tenant's commits, in ms (default:
    /// the server's `DASH_DETECTION_WAIT_MS`; at most 10,000).
    #[serde(default)]
    pub wait_for_detection_ms: Option<u64>,
}

/// Stance mode names of the contract.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StanceModeName {
    /// Both sides.
    Balanced,
    /// Supporting evidence only.
    SupportOnly,
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// Default `top_k` of the contract.
pub const DEFAULT_TOP_K: usize = 10;

impl RetrieveRequest {
    /// Parses `GET /v1/retrieve`'s query string (`entity` and `source_id` repeatable).
    pub fn from_query_string(raw: &str) -> Result<Self, ApiError> {
        let mut req = RetrieveRequest::default();
        let mut tenant = None;
        for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
            let value = value.into_owned();
            match key.as_ref() {
                "tenant_id" => tenant = Some(value),
                "query" | "q" => req.query = Some(value),
                "top_k" => req.top_k = Some(number(&key, &value)?),
                "stance_mode" => {
                    req.stance_mode = Some(match value.as_str() {
                        "balanced" => StanceModeName::Balanced,
                        "support_only" => StanceModeName::SupportOnly,
                        _ => {
                            return Err(ApiError::malformed(
                                "stance_mode must be balanced or support_only",
                            ))
                        }
                    });
                }
                "as_of" => req.as_of = Some(instant(&key, &value)?),
                "recorded_as_of" => req.recorded_as_of = Some(instant(&key, &value)?),
                "entity" | "entities" => req.entity.push(value),
                "source_id" | "sources" => req.source_id.push(value),
                "include_graph" => req.include_graph = boolean(&key, &value)?,
                "graph_depth" => req.graph_depth = Some(number(&key, &value)?),
                "explain" => req.explain = boolean(&key, &value)?,
                "wait_for_detection_ms" => {
                    req.wait_for_detection_ms = Some(number(&key, &value)?);
                }
                other => return Err(ApiError::unknown_parameter(other)),
            }
        }
        req.tenant_id = tenant.ok_or_else(|| ApiError::malformed("tenant_id is required"))?;
        Ok(req)
    }

    /// The core query.
    #[must_use]
    pub fn to_query(&self) -> Query {
        let mut q = Query::new(self.tenant_id.as_str())
            .top_k(self.top_k.unwrap_or(DEFAULT_TOP_K))
            .explain(self.explain);
        if let Some(text) = &self.query {
            q = q.text(text.as_str());
        }
        if let Some(v) = &self.query_embedding {
            q = q.embedding(v.clone());
        }
        if let Some(mode) = self.stance_mode {
            q = q.stance_mode(match mode {
                StanceModeName::Balanced => StanceMode::Balanced,
                StanceModeName::SupportOnly => StanceMode::SupportOnly,
            });
        }
        if let Some(t) = self.as_of {
            q = q.as_of(t);
        }
        if let Some(t) = self.recorded_as_of {
            q = q.recorded_as_of(t);
        }
        for e in &self.entity {
            q = q.entity(e.as_str());
        }
        for s in &self.source_id {
            q = q.source(s.as_str());
        }
        for (k, v) in &self.metadata {
            q = q.metadata(k.as_str(), v.as_str());
        }
        match (self.include_graph, self.graph_depth) {
            (_, Some(depth)) if depth > 0 => q = q.include_graph(depth),
            (true, _) => q = q.include_graph(1),
            _ => {}
        }
        if let Some(ms) = self.wait_for_detection_ms {
            q = q.wait_for_detection(std::time::Duration::from_millis(ms));
        }
        q
    }
}

fn number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ApiError> {
    value
        .parse()
        .map_err(|_| ApiError::malformed(format!("{key} must be a non-negative integer")))
}

fn instant(key: &str, value: &str) -> Result<Timestamp, ApiError> {
    Timestamp::parse_rfc3339(value)
        .map_err(|_| ApiError::malformed(format!("{key} must be an RFC 3339 timestamp")))
}

fn boolean(key: &str, value: &str) -> Result<bool, ApiError> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ApiError::malformed(format!("{key} must be true or false"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_string_parses_repeated_entities() {
        let r = RetrieveRequest::from_query_string(
            "tenant_id=t&query=is%20it&entity=a&entity=b&top_k=5&stance_mode=support_only\
             &as_of=2020-01-01T00:00:00Z&include_graph=true",
        )
        .unwrap();
        assert_eq!(r.tenant_id, "t");
        assert_eq!(r.query.as_deref(), Some("is it"));
        assert_eq!(r.entity, ["a", "b"]);
        assert_eq!(r.top_k, Some(5));
        assert!(r.include_graph);
        assert!(r.as_of.is_some());
    }

    #[test]
    fn query_string_refuses_unknown_and_bad_values() {
        let e = RetrieveRequest::from_query_string("tenant_id=t&query=x&topk=3").unwrap_err();
        assert_eq!(e.code, "unknown_field");
        assert!(e.message.contains("topk"));
        for bad in [
            "query=x",
            "tenant_id=t&top_k=-1",
            "tenant_id=t&as_of=yesterday",
            "tenant_id=t&stance_mode=both",
            "tenant_id=t&include_graph=maybe",
        ] {
            assert_eq!(
                RetrieveRequest::from_query_string(bad).unwrap_err().status,
                400,
                "{bad}"
            );
        }
    }

    #[test]
    fn json_body_accepts_one_or_many_entities() {
        let r: RetrieveRequest =
            serde_json::from_str(r#"{"tenant_id":"t","query":"x","entity":"a"}"#).unwrap();
        assert_eq!(r.entity, ["a"]);
        let r: RetrieveRequest =
            serde_json::from_str(r#"{"tenant_id":"t","query":"x","entities":["a","b"]}"#).unwrap();
        assert_eq!(r.entity, ["a", "b"]);
        let e =
            serde_json::from_str::<RetrieveRequest>(r#"{"tenant_id":"t","qury":"x"}"#).unwrap_err();
        assert!(e.to_string().starts_with("unknown field"));
    }
}
