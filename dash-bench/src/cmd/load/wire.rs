//! The JSON bodies as sent: ingest items (a corpus line's fields plus its vector as
//! `embedding`), `POST /v1/ingest/batch` bodies and `POST /v1/retrieve` bodies.

use bytes::Bytes;
use dash_bench::Res;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One line of `claims.jsonl`, its fields kept as they are (sent back verbatim).
#[derive(Deserialize)]
pub(super) struct Line {
    /// The claim's fields.
    pub(super) claim: Map<String, Value>,
    /// Its evidence.
    #[serde(default)]
    pub(super) evidence: Vec<Value>,
    /// Its edges to other claims.
    #[serde(default)]
    pub(super) edges: Vec<Value>,
}

/// An ingest item as sent: the claim's fields plus its vector as `embedding`.
#[derive(Serialize)]
struct WireItem<'a> {
    /// The claim.
    claim: WireClaim<'a>,
    /// Its evidence.
    evidence: &'a [Value],
    /// Its edges.
    edges: &'a [Value],
}

/// A claim as sent.
#[derive(Serialize)]
struct WireClaim<'a> {
    /// The corpus line's fields.
    #[serde(flatten)]
    fields: &'a Map<String, Value>,
    /// The corpus vector.
    embedding: &'a [f32],
}

/// `POST /v1/retrieve`'s body.
#[derive(Serialize)]
struct RetrieveBody<'a> {
    /// The corpus' tenant.
    tenant_id: &'a str,
    /// The query text.
    query: &'a str,
    /// The query's corpus vector (retrieval is hybrid).
    query_embedding: &'a [f32],
    /// Results asked for.
    top_k: usize,
}

/// One serialised ingest item: `claim` with `embedding`, `evidence` and `edges`.
pub(super) fn item(
    claim: &Map<String, Value>,
    embedding: &[f32],
    evidence: &[Value],
    edges: &[Value],
) -> Res<Vec<u8>> {
    let item = WireItem {
        claim: WireClaim {
            fields: claim,
            embedding,
        },
        evidence,
        edges,
    };
    Ok(serde_json::to_vec(&item)?)
}

/// `{"commit_id": ..., "items": [...]}` from serialised items.
pub(super) fn batch_body(commit_id: &str, items: &[Vec<u8>]) -> Res<Bytes> {
    let len = items.iter().map(|i| i.len() + 1).sum::<usize>() + commit_id.len() + 32;
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(b"{\"commit_id\":");
    serde_json::to_writer(&mut out, commit_id)?;
    out.extend_from_slice(b",\"items\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item);
    }
    out.extend_from_slice(b"]}");
    Ok(out.into())
}

/// The body of a hybrid `POST /v1/retrieve` (text and vector, top 10).
pub(super) fn retrieve_body(tenant: &str, text: &str, vector: &[f32]) -> Res<Bytes> {
    let body = RetrieveBody {
        tenant_id: tenant,
        query: text,
        query_embedding: vector,
        top_k: 10,
    };
    Ok(serde_json::to_vec(&body)?.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_body_is_the_items_in_one_json_object() -> Res<()> {
        let claim: Map<String, Value> = serde_json::from_str(r#"{"claim_id": "c1"}"#)?;
        let one = item(&claim, &[0.5], &[], &[])?;
        let body = batch_body("load-0", &[one.clone(), one])?;
        let parsed: Value = serde_json::from_slice(&body)?;
        assert_eq!(parsed["commit_id"], "load-0");
        assert_eq!(parsed["items"][1]["claim"]["claim_id"], "c1");
        assert_eq!(parsed["items"][0]["claim"]["embedding"][0], 0.5);
        Ok(())
    }
}
