//! Where the MCP tools' calls go: a store this process opened, or a running `dash serve`.
//!
//! Both take and give the HTTP contract's JSON (`docs/http-api.md`), parsed by the same strict
//! types, so a tool behaves the same whichever backend answers it.

use std::sync::Arc;
use std::time::Duration;

use dash_core::{ClaimId, IngestItem, Store, TenantId};
use serde::Serialize;
use serde_json::Value;

use super::remote::Remote;
use crate::answers::VersionsAnswer;
use crate::error::{from_json_error, ApiError};
use crate::events;
use crate::wire::RetrieveRequest;
use warp::http::HeaderMap;

/// A failed call: the HTTP contract's stable error `code` and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The error code (`invalid`, `not_found`, `forbidden`, ...).
    pub code: String,
    /// What went wrong.
    pub message: String,
}

impl Failure {
    /// A failure with the given code.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
        }
    }

    /// The contract's error body, `{"error": {"code", "message"}}`.
    #[must_use]
    pub fn body(&self) -> Value {
        serde_json::json!({"error": {"code": self.code, "message": self.message}})
    }
}

impl From<ApiError> for Failure {
    fn from(err: ApiError) -> Self {
        Self::new(err.code.as_str(), err.message)
    }
}

/// The memory the tools act on.
pub enum Backend {
    /// A store this process owns (`dash mcp --data-dir`).
    Embedded(Arc<Store>),
    /// A running server (`dash mcp --url`).
    Remote(Remote),
}

impl Backend {
    /// `POST /v1/ingest`: one ingest item; answers the receipt.
    pub async fn ingest(&self, item: Value) -> Result<Value, Failure> {
        match self {
            Backend::Embedded(store) => {
                let item: IngestItem = parse(item)?;
                let store = Arc::clone(store);
                blocking(move || store.ingest(item).map_err(ApiError::from)).await
            }
            Backend::Remote(remote) => remote.post("/v1/ingest", &item).await,
        }
    }

    /// `POST /v1/retrieve`: the retrieve answer.
    pub async fn retrieve(&self, request: Value) -> Result<Value, Failure> {
        match self {
            Backend::Embedded(store) => {
                let request: RetrieveRequest = parse(request)?;
                let store = Arc::clone(store);
                blocking(move || store.retrieve(&request.to_query()).map_err(ApiError::from)).await
            }
            Backend::Remote(remote) => remote.post("/v1/retrieve", &request).await,
        }
    }

    /// `GET /v1/claims/{id}/versions`: every kept version of a claim.
    pub async fn versions(&self, tenant: &str, claim: &str) -> Result<Value, Failure> {
        match self {
            Backend::Embedded(store) => {
                let store = Arc::clone(store);
                let (t, c) = (TenantId::new(tenant), ClaimId::new(claim));
                blocking(move || {
                    let versions = store.versions(&t, &c).map_err(ApiError::from)?;
                    match VersionsAnswer::new(&t, &c, &versions) {
                        Some(answer) => to_json(&answer),
                        None => Err(ApiError::not_found(format!("claim `{c}` not found"))),
                    }
                })
                .await
            }
            Backend::Remote(remote) => {
                let path = format!("/v1/claims/{}/versions", segment(claim));
                remote.get(&path, &[("tenant_id", tenant)]).await
            }
        }
    }

    /// Up to `max` events of `GET /v1/events` with `query`, waiting up to `wait` for the first
    /// one: `{"events": [...], "cursor": <the last one's, to continue after>}`.
    pub async fn changes(
        &self,
        query: &[(&str, String)],
        max: usize,
        wait: Duration,
    ) -> Result<Value, Failure> {
        let after_given = query
            .iter()
            .find(|(k, _)| *k == "after")
            .map(|(_, v)| v.clone());
        let events = match self {
            Backend::Embedded(store) => {
                let text = {
                    let mut text = form_urlencoded::Serializer::new(String::new());
                    for (k, v) in query {
                        text.append_pair(k, v);
                    }
                    text.finish()
                };
                let (tenant, start) = events::parse(&text, &HeaderMap::new())?;
                let store = Arc::clone(store);
                tokio::task::spawn_blocking(move || {
                    let mut sub = store
                        .subscribe(&TenantId::new(tenant), start)
                        .map_err(ApiError::from)?;
                    let mut out = Vec::new();
                    let mut timeout = wait;
                    while out.len() < max {
                        match sub.next_timeout(timeout).map_err(ApiError::from)? {
                            Some(event) => out.push(to_json(&event)?),
                            None => break,
                        }
                        // After the first event: only what is there already.
                        timeout = Duration::ZERO;
                    }
                    Ok::<_, ApiError>(out)
                })
                .await
                .map_err(|_| Failure::from(ApiError::internal()))??
            }
            Backend::Remote(remote) => remote.events(query, max, wait).await?,
        };
        let cursor = events
            .last()
            .and_then(|e| e.get("cursor").cloned())
            .or(after_given.map(Value::String))
            .unwrap_or(Value::Null);
        Ok(serde_json::json!({"events": events, "cursor": cursor}))
    }

    /// `DELETE /v1/claims/{id}`: the forget's receipt.
    pub async fn forget(&self, tenant: &str, claim: &str) -> Result<Value, Failure> {
        match self {
            Backend::Embedded(store) => {
                let store = Arc::clone(store);
                let (t, c) = (TenantId::new(tenant), ClaimId::new(claim));
                blocking(move || store.forget(&t, &c).map_err(ApiError::from)).await
            }
            Backend::Remote(remote) => {
                let path = format!("/v1/claims/{}", segment(claim));
                remote.delete(&path, &[("tenant_id", tenant)]).await
            }
        }
    }
}

/// A claim id as one path segment (a `/` in it must not split the path).
fn segment(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Parses a request body with the HTTP routes' strictness and error codes.
fn parse<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, Failure> {
    serde_json::from_value(value).map_err(|e| Failure::from(from_json_error(&e)))
}

fn to_json<T: Serialize>(value: &T) -> Result<Value, ApiError> {
    serde_json::to_value(value).map_err(|_| ApiError::internal())
}

/// Runs a store call off the async runtime (store calls block: the WAL's fsync, a search).
async fn blocking<T, F>(call: F) -> Result<Value, Failure>
where
    T: Serialize,
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let answer = tokio::task::spawn_blocking(call)
        .await
        .map_err(|_| Failure::from(ApiError::internal()))??;
    Ok(to_json(&answer)?)
}
