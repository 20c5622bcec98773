//! Input validation: every rule an item must pass before anything is written.
//!
//! The limits are part of the contract (documented in `docs/design.md`): they bound what one WAL
//! record may hold and keep hostile input from costing unbounded memory.

use std::collections::HashSet;

use crate::error::ValidationError;
use crate::model::{ClaimId, IngestItem, TenantId};

/// Longest tenant id, in bytes.
pub const MAX_TENANT_ID_BYTES: usize = 128;
/// Longest claim, evidence, source, chunk or commit id, in bytes.
pub const MAX_ID_BYTES: usize = 512;
/// Longest `canonical_text`, in bytes.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Longest evidence excerpt, edge reason, entity, metadata value or structured field, in bytes.
pub const MAX_FIELD_BYTES: usize = 16 * 1024;
/// Most entities per claim.
pub const MAX_ENTITIES: usize = 1024;
/// Most metadata entries per claim.
pub const MAX_METADATA: usize = 256;
/// Most evidence per item.
pub const MAX_EVIDENCE: usize = 4096;
/// Most edges per item.
pub const MAX_EDGES: usize = 4096;
/// Largest embedding dimension.
pub const MAX_EMBEDDING_DIM: usize = 8192;
/// Most items per batch.
pub const MAX_BATCH_ITEMS: usize = 100_000;

fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), ValidationError> {
    // Blank text says nothing and a blank id names nothing: both are refused like empty ones.
    if value.trim().is_empty() {
        return Err(ValidationError::Empty { field });
    }
    check_len(field, value, max)
}

fn check_len(field: &'static str, value: &str, max: usize) -> Result<(), ValidationError> {
    if value.len() > max {
        return Err(ValidationError::TooLong {
            field,
            len: value.len(),
            max,
        });
    }
    Ok(())
}

/// Ids are printable: no control characters (they end up in logs, headers and JSON keys).
fn check_id(field: &'static str, value: &str) -> Result<(), ValidationError> {
    check_text(field, value, MAX_ID_BYTES)?;
    match value.chars().find(|c| c.is_control()) {
        Some(ch) => Err(ValidationError::BadCharacter { field, ch }),
        None => Ok(()),
    }
}

fn check_count(field: &'static str, count: usize, max: usize) -> Result<(), ValidationError> {
    if count > max {
        return Err(ValidationError::TooMany { field, count, max });
    }
    Ok(())
}

fn check_unit(field: &'static str, value: f32) -> Result<(), ValidationError> {
    if !value.is_finite() || !(0.0..=1.0).contains(&value) {
        return Err(ValidationError::OutOfUnitRange {
            field,
            value: f64::from(value),
        });
    }
    Ok(())
}

/// Checks a tenant id: 1..=128 bytes of `[A-Za-z0-9._-]`, not `.` or `..`.
///
/// # Errors
/// The first rule the id breaks.
pub fn validate_tenant_id(tenant: &TenantId) -> Result<(), ValidationError> {
    let s = tenant.as_str();
    check_text("tenant_id", s, MAX_TENANT_ID_BYTES)?;
    if let Some(ch) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(ValidationError::BadCharacter {
            field: "tenant_id",
            ch,
        });
    }
    if s == "." || s == ".." {
        return Err(ValidationError::ReservedTenantId);
    }
    Ok(())
}

/// Checks a claim id: 1..=512 bytes, no control characters.
///
/// # Errors
/// The first rule the id breaks.
pub fn validate_claim_id(claim: &ClaimId) -> Result<(), ValidationError> {
    check_id("claim_id", claim.as_str())
}

/// Checks a commit id: 1..=512 bytes, no control characters.
///
/// # Errors
/// The first rule the id breaks.
pub fn validate_commit_id(commit_id: &str) -> Result<(), ValidationError> {
    check_id("commit_id", commit_id)
}

/// Checks every rule of one item. `dimension` is the tenant's embedding dimension, if fixed.
///
/// # Errors
/// The first rule the item breaks.
pub fn validate_item(item: &IngestItem, dimension: Option<u32>) -> Result<(), ValidationError> {
    let claim = &item.claim;
    validate_tenant_id(&claim.tenant_id)?;
    validate_claim_id(&claim.claim_id)?;
    check_text("canonical_text", &claim.canonical_text, MAX_TEXT_BYTES)?;
    check_unit("confidence", claim.confidence)?;
    check_count("entities", claim.entities.len(), MAX_ENTITIES)?;
    for entity in &claim.entities {
        check_text("entities", entity, MAX_FIELD_BYTES)?;
    }
    if let (Some(from), Some(to)) = (claim.valid_from, claim.valid_to) {
        if from > to {
            return Err(ValidationError::ValidityReversed {
                valid_from: from.to_rfc3339(),
                valid_to: to.to_rfc3339(),
            });
        }
    }
    if let Some(embedding) = &claim.embedding {
        check_count("embedding", embedding.len(), MAX_EMBEDDING_DIM)?;
        if embedding.is_empty() {
            return Err(ValidationError::Empty { field: "embedding" });
        }
        if let Some(expected) = dimension {
            if embedding.len() != expected as usize {
                return Err(ValidationError::EmbeddingDimension {
                    expected,
                    found: embedding.len(),
                });
            }
        }
        if let Some(index) = embedding.iter().position(|x| !x.is_finite()) {
            return Err(ValidationError::EmbeddingNotFinite { index });
        }
    }
    if let Some(model) = &claim.embedding_model {
        if claim.embedding.is_none() {
            return Err(ValidationError::EmbeddingModelWithoutEmbedding);
        }
        check_text("embedding_model", model, MAX_ID_BYTES)?;
    }
    check_count("metadata", claim.metadata.len(), MAX_METADATA)?;
    for (key, value) in &claim.metadata {
        check_text("metadata key", key, MAX_ID_BYTES)?;
        check_len("metadata value", value, MAX_FIELD_BYTES)?;
    }
    for (field, value) in [
        ("subject", &claim.subject),
        ("predicate", &claim.predicate),
        ("object", &claim.object),
    ] {
        if let Some(value) = value {
            check_text(field, value, MAX_FIELD_BYTES)?;
        }
    }

    check_count("evidence", item.evidence.len(), MAX_EVIDENCE)?;
    let mut seen = HashSet::with_capacity(item.evidence.len());
    for ev in &item.evidence {
        check_id("evidence_id", &ev.evidence_id)?;
        if ev.claim_id != claim.claim_id {
            return Err(ValidationError::EvidenceClaimMismatch {
                evidence_id: ev.evidence_id.clone(),
                expected: claim.claim_id.clone(),
                found: ev.claim_id.clone(),
            });
        }
        if !seen.insert(ev.evidence_id.as_str()) {
            return Err(ValidationError::DuplicateEvidenceId {
                evidence_id: ev.evidence_id.clone(),
            });
        }
        check_id("source_id", &ev.source_id)?;
        check_unit("source_quality", ev.source_quality)?;
        if let Some(chunk) = &ev.chunk_id {
            check_id("chunk_id", chunk)?;
        }
        match (ev.span_start, ev.span_end) {
            (Some(start), Some(end)) if end < start => {
                return Err(ValidationError::SpanReversed {
                    evidence_id: ev.evidence_id.clone(),
                    start,
                    end,
                })
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(ValidationError::SpanIncomplete {
                    evidence_id: ev.evidence_id.clone(),
                })
            }
            _ => {}
        }
        if let Some(excerpt) = &ev.excerpt {
            check_len("excerpt", excerpt, MAX_FIELD_BYTES)?;
        }
    }

    check_count("edges", item.edges.len(), MAX_EDGES)?;
    for edge in &item.edges {
        if edge.from_claim_id != claim.claim_id {
            return Err(ValidationError::EdgeSourceMismatch {
                expected: claim.claim_id.clone(),
                found: edge.from_claim_id.clone(),
            });
        }
        validate_claim_id(&edge.to_claim_id)?;
        if edge.to_claim_id == edge.from_claim_id {
            return Err(ValidationError::SelfEdge {
                claim_id: edge.from_claim_id.clone(),
            });
        }
        check_unit("strength", edge.strength)?;
        if let Some(reason) = &edge.reason {
            check_len("reason", reason, MAX_FIELD_BYTES)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Claim, Edge, Evidence, Relation, Stance, Timestamp};

    fn item() -> IngestItem {
        IngestItem::new(Claim::new("t", "c1", "water boils at 100 C"))
            .with_evidence(Evidence::new("e1", "c1", "s1", Stance::Supports))
            .with_edge(Edge::new("c1", "c2", Relation::Supports))
    }

    #[test]
    fn valid_item_passes() {
        assert_eq!(validate_item(&item(), Some(3)), Ok(()));
    }

    #[test]
    fn each_rule_has_its_error() {
        let mut i = item();
        i.claim.claim_id = ClaimId::new("");
        assert!(matches!(
            validate_item(&i, None),
            Err(ValidationError::Empty { field: "claim_id" })
        ));

        for blank in [" ", "\t\n", "\u{3000}"] {
            let mut i = item();
            i.claim.canonical_text = blank.to_owned();
            assert!(matches!(
                validate_item(&i, None),
                Err(ValidationError::Empty {
                    field: "canonical_text"
                })
            ));
        }

        let mut i = item();
        i.claim.canonical_text = "x".repeat(MAX_TEXT_BYTES + 1);
        assert!(matches!(
            validate_item(&i, None),
            Err(ValidationError::TooLong {
                field: "canonical_text",
                ..
            })
        ));

        for bad in [f32::NAN, f32::INFINITY, -0.1, 1.1] {
            let mut i = item();
            i.claim.confidence = bad;
            assert!(matches!(
                validate_item(&i, None),
                Err(ValidationError::OutOfUnitRange {
                    field: "confidence",
                    ..
                })
            ));
            let mut i = item();
            i.evidence[0].source_quality = bad;
            assert!(matches!(
                validate_item(&i, None),
                Err(ValidationError::OutOfUnitRange {
                    field: "source_quality",
                    ..
                })
            ));
        }

        let mut i = item();
        i.evidence[0].span_start = Some(10);
        i.evidence[0].span_end = Some(9);
        assert!(matches!(
            validate_item(&i, None),
            Err(ValidationError::SpanReversed {
                start: 10,
                end: 9,
                ..
            })
        ));

        let mut i = item();
        i.claim.valid_from = Timestamp::from_year(2001);
        i.claim.valid_to = Timestamp::from_year(2000);
        assert!(matches!(
            validate_item(&i, None),
            Err(ValidationError::ValidityReversed { .. })
        ));

        let mut i = item();
        i.evidence[0].claim_id = ClaimId::new("other");
        assert!(matches!(
            validate_item(&i, None),
            Err(ValidationError::EvidenceClaimMismatch { .. })
        ));

        let mut i = item();
        i.claim.embedding = Some(vec![0.0; 4]);
        assert!(matches!(
            validate_item(&i, Some(3)),
            Err(ValidationError::EmbeddingDimension {
                expected: 3,
                found: 4
            })
        ));

        let mut i = item();
        i.claim.tenant_id = TenantId::new("a/b");
        assert!(matches!(
            validate_item(&i, None),
            Err(ValidationError::BadCharacter {
                field: "tenant_id",
                ch: '/'
            })
        ));

        let mut i = item();
        i.edges[0].to_claim_id = ClaimId::new("c1");
        assert!(matches!(
            validate_item(&i, None),
            Err(ValidationError::SelfEdge { .. })
        ));
    }

    #[test]
    fn unknown_stance_and_relation_are_typed() {
        assert!(matches!(
            "maybe".parse::<Stance>(),
            Err(ValidationError::UnknownStance { .. })
        ));
        assert!(matches!(
            "likes".parse::<Relation>(),
            Err(ValidationError::UnknownRelation { .. })
        ));
        assert_eq!("contradicts".parse::<Stance>(), Ok(Stance::Contradicts));
    }
}
