//! The MCP tools' arguments (their JSON Schema is what a client's model sees) and their
//! translation into the HTTP contract's requests.

use std::collections::BTreeMap;

use dash_core::Timestamp;
use rmcp::schemars;
use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::backend::Failure;

/// A tool's arguments whose errors name the argument at fault (`top_k: invalid type: string
/// "five", expected u32`); serde alone names only the types. The schema is `T`'s.
#[derive(Debug)]
pub struct Named<T>(pub T);

/// `T`'s own schema, inline (a tool's input schema must be an object at its root).
impl<T: schemars::JsonSchema> schemars::JsonSchema for Named<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> std::borrow::Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Named<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        serde_path_to_error::deserialize(value)
            .map(Named)
            .map_err(|err| {
                let path = err.path().to_string();
                let inner = err.into_inner();
                if path == "." {
                    D::Error::custom(inner)
                } else {
                    D::Error::custom(format!("{path}: {inner}"))
                }
            })
    }
}

/// `remember`: store one claim, with optional evidence and validity.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RememberArgs {
    /// The statement to remember, short and self-contained ("Alice works at Acme").
    pub text: String,
    /// The tenant (memory space). Omit it to use the server's tenant.
    #[serde(default)]
    pub tenant: Option<String>,
    /// A stable id for the claim; remembering the same id again makes a new version of it.
    /// Default: derived from the text, so the same text is the same claim.
    #[serde(default)]
    pub claim_id: Option<String>,
    /// Named entities the claim is about.
    #[serde(default)]
    pub entities: Vec<String>,
    /// The source the claim comes from (a document id or URL): recorded as one piece of
    /// supporting evidence quoting the whole text.
    #[serde(default)]
    pub source_id: Option<String>,
    /// Evidence for or against the claim, each from a source.
    #[serde(default)]
    pub evidence: Vec<EvidenceArg>,
    /// When the claim starts to hold in the world (RFC 3339, e.g. 2024-01-01T00:00:00Z).
    #[serde(default)]
    pub valid_from: Option<String>,
    /// When the claim stops holding in the world (RFC 3339, exclusive).
    #[serde(default)]
    pub valid_to: Option<String>,
    /// How sure you are that the statement is right (0 to 1). Default: 1.
    #[serde(default)]
    pub confidence: Option<f32>,
    /// Free string metadata (filterable by the HTTP API).
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// One piece of evidence given to `remember`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EvidenceArg {
    /// The source (document id or URL).
    pub source_id: String,
    /// Whether the source supports or contradicts the claim. Default: supports.
    #[serde(default)]
    pub stance: Option<StanceArg>,
    /// The words of the source that are the evidence.
    #[serde(default)]
    pub excerpt: Option<String>,
    /// The chunk of the source the excerpt is in.
    #[serde(default)]
    pub chunk_id: Option<String>,
    /// Byte offset where the excerpt starts in the source (or chunk).
    #[serde(default)]
    pub span_start: Option<u64>,
    /// Byte offset where the excerpt ends (exclusive).
    #[serde(default)]
    pub span_end: Option<u64>,
    /// How trustworthy the source is (0 to 1). Default: 1.
    #[serde(default)]
    pub source_quality: Option<f32>,
}

/// An evidence's stance.
#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StanceArg {
    /// The source says the claim holds.
    Supports,
    /// The source says the claim does not hold.
    Contradicts,
    /// The source mentions the claim without taking a side.
    Neutral,
}

impl StanceArg {
    fn as_str(self) -> &'static str {
        match self {
            StanceArg::Supports => "supports",
            StanceArg::Contradicts => "contradicts",
            StanceArg::Neutral => "neutral",
        }
    }
}

/// `recall`: the claims that answer a question, with evidence, citations and conflicts.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecallArgs {
    /// The question or topic, in plain words.
    pub query: String,
    /// The tenant (memory space). Omit it to use the server's tenant.
    #[serde(default)]
    pub tenant: Option<String>,
    /// How many claims to return (1 to 100). Default: 5.
    #[serde(default)]
    pub top_k: Option<u32>,
    /// Only claims that hold in the world at this instant (RFC 3339).
    #[serde(default)]
    pub as_of: Option<String>,
    /// Only what the memory had recorded by this instant (RFC 3339).
    #[serde(default)]
    pub recorded_as_of: Option<String>,
    /// Only claims about all of these entities.
    #[serde(default)]
    pub entities: Vec<String>,
    /// Only claims with evidence from one of these sources.
    #[serde(default)]
    pub sources: Vec<String>,
    /// `balanced` (default: supporting and contradicting evidence both count) or
    /// `support_only`.
    #[serde(default)]
    pub stance_mode: Option<StanceModeArg>,
}

/// How contradicting evidence counts in `recall`.
#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StanceModeArg {
    /// Supporting and contradicting evidence both count.
    Balanced,
    /// Only supporting evidence counts.
    SupportOnly,
}

/// `history`: a claim's versions.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryArgs {
    /// The claim's id (as `remember` or `recall` gave it).
    pub claim_id: String,
    /// The tenant (memory space). Omit it to use the server's tenant.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Only the versions the memory had recorded by this instant (RFC 3339): what it knew
    /// then.
    #[serde(default)]
    pub recorded_as_of: Option<String>,
    /// Pick as `current` the latest version that holds in the world at this instant
    /// (RFC 3339).
    #[serde(default)]
    pub as_of: Option<String>,
}

/// `forget`: remove a claim from recall.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgetArgs {
    /// The claim's id.
    pub claim_id: String,
    /// The tenant (memory space). Omit it to use the server's tenant.
    #[serde(default)]
    pub tenant: Option<String>,
}

/// `changes`: what changed in a tenant's memory since a cursor.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangesArgs {
    /// The tenant (memory space). Omit it to use the server's tenant.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Continue after this cursor (the `cursor` of a previous answer, `LSN:SEQ`).
    #[serde(default)]
    pub after: Option<String>,
    /// Without `after`: start at this LSN, or `oldest` for everything still held. Default:
    /// only changes from now on (use `wait_ms` to wait for them).
    #[serde(default)]
    pub from_lsn: Option<String>,
    /// Most events in one answer (1 to 1000). Default: 50.
    #[serde(default)]
    pub max_events: Option<u32>,
    /// How long to wait for a first event when none is there yet, in ms (0 to 30000).
    /// Default: 0.
    #[serde(default)]
    pub wait_ms: Option<u64>,
}

/// Most events one `changes` answers.
pub const MAX_CHANGES: u32 = 1000;
/// Longest `changes` wait.
pub const MAX_CHANGES_WAIT_MS: u64 = 30_000;

/// A `changes` call as the feed's request.
pub struct ChangesRequest {
    /// The `GET /v1/events` query.
    pub query: Vec<(&'static str, String)>,
    /// Most events to answer.
    pub max: usize,
    /// Longest wait for a first event.
    pub wait: std::time::Duration,
}

/// The feed request of a `changes` call.
pub fn changes_request(args: &ChangesArgs, tenant: &str) -> Result<ChangesRequest, Failure> {
    let max = args.max_events.unwrap_or(50);
    if !(1..=MAX_CHANGES).contains(&max) {
        return Err(Failure::new(
            "invalid",
            format!("max_events must be between 1 and {MAX_CHANGES}, not {max}"),
        ));
    }
    let wait = args.wait_ms.unwrap_or(0);
    if wait > MAX_CHANGES_WAIT_MS {
        return Err(Failure::new(
            "invalid",
            format!("wait_ms must be at most {MAX_CHANGES_WAIT_MS}, not {wait}"),
        ));
    }
    let mut query = vec![("tenant_id", tenant.to_owned())];
    if let Some(after) = &args.after {
        query.push(("after", after.clone()));
    } else if let Some(from) = &args.from_lsn {
        query.push(("from_lsn", from.clone()));
    }
    Ok(ChangesRequest {
        query,
        max: max as usize,
        wait: std::time::Duration::from_millis(wait),
    })
}

/// Most claims one `recall` returns.
pub const MAX_RECALL: u32 = 100;
/// `recall`'s default `top_k`.
pub const DEFAULT_RECALL: u32 = 5;

/// The id `remember` gives a claim sent without one: a hash of its text, so remembering the
/// same text twice is one claim (with a second version), not two.
#[must_use]
pub fn claim_id_for(text: &str) -> String {
    let hash = blake3::hash(text.as_bytes()).to_hex();
    format!("m-{}", &hash[..24])
}

/// Checks an RFC 3339 argument (the store would refuse it too, but without the argument's
/// name).
pub fn instant(name: &str, value: Option<&str>) -> Result<Option<Timestamp>, Failure> {
    value
        .map(|v| {
            Timestamp::parse_rfc3339(v).map_err(|_| {
                Failure::new(
                    "malformed_request",
                    format!("{name} must be an RFC 3339 timestamp such as 2024-01-01T00:00:00Z, not {v:?}"),
                )
            })
        })
        .transpose()
}

/// The ingest item of a `remember` call.
pub fn ingest_item(args: &RememberArgs, tenant: &str, claim_id: &str) -> Result<Value, Failure> {
    instant("valid_from", args.valid_from.as_deref())?;
    instant("valid_to", args.valid_to.as_deref())?;
    let mut claim = Map::new();
    claim.insert("claim_id".into(), json!(claim_id));
    claim.insert("tenant_id".into(), json!(tenant));
    claim.insert("canonical_text".into(), json!(args.text));
    claim.insert("confidence".into(), json!(args.confidence.unwrap_or(1.0)));
    claim.insert("entities".into(), json!(args.entities));
    claim.insert("metadata".into(), json!(args.metadata));
    for (name, value) in [
        ("valid_from", &args.valid_from),
        ("valid_to", &args.valid_to),
    ] {
        if let Some(v) = value {
            claim.insert(name.into(), json!(v));
        }
    }
    let mut evidence = Vec::new();
    if let Some(source) = &args.source_id {
        evidence.push(json!({
            "evidence_id": format!("{claim_id}@{source}"),
            "claim_id": claim_id,
            "source_id": source,
            "stance": "supports",
            "source_quality": 1.0,
            "span_start": 0,
            "span_end": args.text.len(),
        }));
    }
    for (i, e) in args.evidence.iter().enumerate() {
        let mut ev = Map::new();
        ev.insert(
            "evidence_id".into(),
            json!(format!("{claim_id}@{}#{i}", e.source_id)),
        );
        ev.insert("claim_id".into(), json!(claim_id));
        ev.insert("source_id".into(), json!(e.source_id));
        ev.insert(
            "stance".into(),
            json!(e.stance.unwrap_or(StanceArg::Supports).as_str()),
        );
        ev.insert(
            "source_quality".into(),
            json!(e.source_quality.unwrap_or(1.0)),
        );
        for (name, value) in [
            ("chunk_id", json!(e.chunk_id)),
            ("excerpt", json!(e.excerpt)),
        ] {
            if !value.is_null() {
                ev.insert(name.into(), value);
            }
        }
        for (name, value) in [("span_start", e.span_start), ("span_end", e.span_end)] {
            if let Some(v) = value {
                ev.insert(name.into(), json!(v));
            }
        }
        evidence.push(Value::Object(ev));
    }
    Ok(json!({"claim": claim, "evidence": evidence}))
}

/// The retrieve request of a `recall` call.
pub fn recall_request(args: &RecallArgs, tenant: &str) -> Result<Value, Failure> {
    let top_k = args.top_k.unwrap_or(DEFAULT_RECALL);
    if !(1..=MAX_RECALL).contains(&top_k) {
        return Err(Failure::new(
            "invalid",
            format!("top_k must be between 1 and {MAX_RECALL}, not {top_k}"),
        ));
    }
    if args.query.trim().is_empty() {
        return Err(Failure::new("invalid", "query must not be empty"));
    }
    instant("as_of", args.as_of.as_deref())?;
    instant("recorded_as_of", args.recorded_as_of.as_deref())?;
    let mut request = json!({
        "tenant_id": tenant,
        "query": args.query,
        "top_k": top_k,
        "entity": args.entities,
        "source_id": args.sources,
    });
    if let Value::Object(map) = &mut request {
        for (name, value) in [
            ("as_of", &args.as_of),
            ("recorded_as_of", &args.recorded_as_of),
        ] {
            if let Some(v) = value {
                map.insert(name.into(), json!(v));
            }
        }
        if let Some(mode) = args.stance_mode {
            let name = match mode {
                StanceModeArg::Balanced => "balanced",
                StanceModeArg::SupportOnly => "support_only",
            };
            map.insert("stance_mode".into(), json!(name));
        }
    }
    Ok(request)
}

/// The claim's entry in a retrieve answer, if it is there.
#[must_use]
pub fn result_for<'a>(answer: &'a Value, claim_id: &str) -> Option<&'a Value> {
    answer
        .get("results")?
        .as_array()?
        .iter()
        .find(|r| r.get("claim_id").and_then(Value::as_str) == Some(claim_id))
}

/// `history`'s answer: the versions answer cut to `recorded_as_of`, with `current` naming the
/// version that held then (at valid time `as_of`, when given).
pub fn history_answer(mut versions: Value, args: &HistoryArgs) -> Result<Value, Failure> {
    let recorded = instant("recorded_as_of", args.recorded_as_of.as_deref())?;
    let valid = instant("as_of", args.as_of.as_deref())?;
    let stamp = |v: &Value, field: &str| {
        v.get(field)
            .and_then(Value::as_str)
            .and_then(|s| Timestamp::parse_rfc3339(s).ok())
    };
    let Some(list) = versions.get_mut("versions").and_then(Value::as_array_mut) else {
        return Err(Failure::new(
            "internal",
            "the versions answer has no versions",
        ));
    };
    if let Some(t) = recorded {
        list.retain(|v| stamp(v, "recorded_at").is_some_and(|at| at <= t));
    }
    let holds = |v: &Value| match valid {
        None => true,
        Some(t) => {
            let claim = v.get("claim").unwrap_or(&Value::Null);
            stamp(claim, "valid_from").is_none_or(|from| from <= t)
                && stamp(claim, "valid_to").is_none_or(|to| t < to)
        }
    };
    let forgotten = |v: &Value| v.get("forgotten").and_then(Value::as_bool).unwrap_or(false);
    // A claim whose latest version (by then) is a tombstone has no current version at all.
    let current = match list.last() {
        Some(last) if !forgotten(last) => list
            .iter()
            .rev()
            .find(|v| !forgotten(v) && holds(v))
            .and_then(|v| v.get("version").cloned()),
        _ => None,
    }
    .unwrap_or(Value::Null);
    if let Value::Object(map) = &mut versions {
        map.insert("current".into(), current);
    }
    Ok(versions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(n: u32, recorded: &str, valid_from: Option<&str>) -> Value {
        json!({
            "version": n, "lsn": n, "recorded_at": recorded, "forgotten": false,
            "claim": {"valid_from": valid_from, "valid_to": null},
        })
    }

    #[test]
    fn history_cuts_at_recorded_time_and_picks_the_valid_version() {
        let answer = json!({"versions": [
            version(1, "2024-01-01T00:00:00Z", None),
            version(2, "2024-02-01T00:00:00Z", Some("2025-01-01T00:00:00Z")),
        ]});
        let args = |recorded: Option<&str>, valid: Option<&str>| HistoryArgs {
            claim_id: "c".into(),
            tenant: None,
            recorded_as_of: recorded.map(str::to_owned),
            as_of: valid.map(str::to_owned),
        };
        let all = history_answer(answer.clone(), &args(None, None)).unwrap();
        assert_eq!(all["current"], 2);
        let jan =
            history_answer(answer.clone(), &args(Some("2024-01-15T00:00:00Z"), None)).unwrap();
        assert_eq!(jan["versions"].as_array().unwrap().len(), 1);
        assert_eq!(jan["current"], 1);
        // Version 2 holds only from 2025: in 2024 version 1 is the one that held.
        let in_2024 =
            history_answer(answer.clone(), &args(None, Some("2024-06-01T00:00:00Z"))).unwrap();
        assert_eq!(in_2024["current"], 1);
        let before =
            history_answer(answer.clone(), &args(Some("2023-01-01T00:00:00Z"), None)).unwrap();
        assert_eq!(before["current"], Value::Null);
        let mut forgotten = answer.clone();
        forgotten["versions"]
            .as_array_mut()
            .unwrap()
            .push(json!({"version": 3, "recorded_at": "2024-03-01T00:00:00Z", "forgotten": true}));
        assert_eq!(
            history_answer(forgotten.clone(), &args(None, None)).unwrap()["current"],
            Value::Null
        );
        let then = history_answer(forgotten, &args(Some("2024-02-15T00:00:00Z"), None)).unwrap();
        assert_eq!(then["current"], 2);
        assert_eq!(
            history_answer(answer, &args(Some("last week"), None))
                .unwrap_err()
                .code,
            "malformed_request"
        );
    }

    #[test]
    fn remember_builds_the_contract_item() {
        let args: RememberArgs = serde_json::from_value(json!({
            "text": "Alice works at Acme", "source_id": "hr.pdf",
            "evidence": [{"source_id": "blog", "stance": "contradicts", "excerpt": "Alice left"}],
            "valid_from": "2024-01-01T00:00:00Z",
        }))
        .unwrap();
        let id = claim_id_for(&args.text);
        assert_eq!(id, claim_id_for("Alice works at Acme"));
        assert_ne!(id, claim_id_for("Alice works at Acme."));
        let item = ingest_item(&args, "t", &id).unwrap();
        let parsed: dash_core::IngestItem = serde_json::from_value(item).unwrap();
        assert_eq!(parsed.claim.tenant_id.as_str(), "t");
        assert_eq!(parsed.evidence.len(), 2);
        assert_eq!(parsed.evidence[0].span_end, Some(19));
        assert_eq!(parsed.evidence[1].stance, dash_core::Stance::Contradicts);
        assert!(parsed.claim.valid_from.is_some());
        let bad: RememberArgs =
            serde_json::from_value(json!({"text": "x", "valid_to": "soon"})).unwrap();
        let err = ingest_item(&bad, "t", "c").unwrap_err();
        assert!(err.message.contains("valid_to"), "{}", err.message);
        assert!(serde_json::from_value::<RememberArgs>(json!({"txt": "x"})).is_err());
        let err = serde_json::from_value::<Named<RecallArgs>>(json!({"query": "x", "top_k": "5"}))
            .unwrap_err();
        assert!(err.to_string().starts_with("top_k: invalid type"), "{err}");
        let err = serde_json::from_value::<Named<RememberArgs>>(
            json!({"text": "x", "evidence": [{"source_id": "s", "stance": "maybe"}]}),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("evidence[0].stance: unknown variant"),
            "{err}"
        );
    }

    #[test]
    fn recall_checks_its_bounds() {
        let args = |top_k: u32, query: &str| RecallArgs {
            query: query.into(),
            tenant: None,
            top_k: Some(top_k),
            as_of: None,
            recorded_as_of: None,
            entities: vec![],
            sources: vec![],
            stance_mode: Some(StanceModeArg::SupportOnly),
        };
        let request = recall_request(&args(3, "who"), "t").unwrap();
        assert_eq!(request["stance_mode"], "support_only");
        let parsed: crate::wire::RetrieveRequest = serde_json::from_value(request).unwrap();
        assert_eq!(parsed.top_k, Some(3));
        assert_eq!(
            recall_request(&args(0, "who"), "t").unwrap_err().code,
            "invalid"
        );
        assert_eq!(
            recall_request(&args(101, "who"), "t").unwrap_err().code,
            "invalid"
        );
        assert_eq!(
            recall_request(&args(3, "  "), "t").unwrap_err().code,
            "invalid"
        );
    }
}
