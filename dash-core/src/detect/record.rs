//! What the detection stage makes durable: detected edges and store-made vectors, per tenant,
//! with the watermark they complete. The same per-tenant encoding is used by the WAL's derived
//! records (kind 3) and by the segments' derived section (`docs/design.md` §3, §4).
//!
//! ```text
//! tenant_derived := tenant str | model opt<str> | vector_count u32 | vector * vector_count
//!                 | judge_count u32 | judge str * judge_count | edge_count u32 | edge * edge_count
//!                 | activate opt<u32>
//! vector         := claim_id str | version u32 | list<f32>
//! edge           := from_claim_id str | from_version u32 | to_claim_id str | to_version u32
//!                 | relation u8 (1 contradicts, 3 supersedes) | strength f32 | reason str
//!                 | judge u32 (index into the judge list) | epoch u32
//! ```
//!
//! Edges carry an *epoch*: a tenant's edges of its active epoch are live, those of a later epoch
//! are pending (a rebuild in progress) until a record activates that epoch, and older ones are
//! garbage (dropped by the next merge). A rebuild therefore replaces a tenant's edges atomically,
//! even across several records and a crash in the middle.

use std::sync::Arc;

use crate::codec::{DecodeResult, Decoder, Encoder};
use crate::error::CorruptionKind;
use crate::model::{ClaimId, Relation, TenantId};

/// A detected edge as stored: between two claim versions of one tenant.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredEdge {
    pub(crate) from: ClaimId,
    pub(crate) from_version: u32,
    pub(crate) to: ClaimId,
    pub(crate) to_version: u32,
    pub(crate) relation: Relation,
    pub(crate) strength: f32,
    pub(crate) reason: String,
    /// The judge (and lexicon) version that made it.
    pub(crate) judge: Arc<str>,
    pub(crate) epoch: u32,
}

/// A vector the store's embedder made for a claim version sent without one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredVector {
    pub(crate) claim: ClaimId,
    pub(crate) version: u32,
    pub(crate) vector: Vec<f32>,
}

/// What detection and embedding derived for one tenant.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TenantDerived {
    pub(crate) tenant: TenantId,
    /// The model of `vectors` (the store embedder's).
    pub(crate) model: Option<String>,
    pub(crate) vectors: Vec<StoredVector>,
    pub(crate) edges: Vec<StoredEdge>,
    /// After this: the tenant's active edge epoch (a finished rebuild).
    pub(crate) activate: Option<u32>,
}

impl TenantDerived {
    /// An empty entry for `tenant`.
    pub(crate) fn new(tenant: TenantId) -> Self {
        Self {
            tenant,
            model: None,
            vectors: Vec::new(),
            edges: Vec::new(),
            activate: None,
        }
    }

    /// True when it carries nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.vectors.is_empty() && self.edges.is_empty() && self.activate.is_none()
    }

    /// Appends `later` (derived after `self`) to it.
    pub(crate) fn extend(&mut self, later: &TenantDerived) {
        if later.model.is_some() {
            self.model.clone_from(&later.model);
        }
        self.vectors.extend(later.vectors.iter().cloned());
        self.edges.extend(later.edges.iter().cloned());
        if later.activate.is_some() {
            self.activate = later.activate;
        }
    }
}

fn relation_code(r: Relation) -> u8 {
    match r {
        Relation::Supports => 0,
        Relation::Contradicts => 1,
        Relation::Refines => 2,
        Relation::Supersedes => 3,
    }
}

/// Encodes one tenant's derived data.
pub(crate) fn encode_tenant(enc: &mut Encoder, d: &TenantDerived) {
    enc.str(d.tenant.as_str());
    enc.opt_str(d.model.as_deref());
    enc.len(d.vectors.len());
    for v in &d.vectors {
        enc.str(v.claim.as_str());
        enc.u32(v.version);
        enc.len(v.vector.len());
        for x in &v.vector {
            enc.f32(*x);
        }
    }
    // Judge versions repeat across edges: a small table, indexed by the edges.
    let mut judges: Vec<&Arc<str>> = Vec::new();
    let judge_ix: Vec<u32> = d
        .edges
        .iter()
        .map(|e| {
            let i = judges
                .iter()
                .position(|j| **j == e.judge)
                .unwrap_or_else(|| {
                    judges.push(&e.judge);
                    judges.len() - 1
                });
            u32::try_from(i).unwrap_or(u32::MAX)
        })
        .collect();
    enc.len(judges.len());
    for j in &judges {
        enc.str(j);
    }
    enc.len(d.edges.len());
    for (e, j) in d.edges.iter().zip(judge_ix) {
        enc.str(e.from.as_str());
        enc.u32(e.from_version);
        enc.str(e.to.as_str());
        enc.u32(e.to_version);
        enc.u8(relation_code(e.relation));
        enc.f32(e.strength);
        enc.str(&e.reason);
        enc.u32(j);
        enc.u32(e.epoch);
    }
    match d.activate {
        None => enc.u8(0),
        Some(epoch) => {
            enc.u8(1);
            enc.u32(epoch);
        }
    }
}

/// Decodes one tenant's derived data.
pub(crate) fn decode_tenant(d: &mut Decoder<'_>) -> DecodeResult<TenantDerived> {
    let tenant = TenantId::new(d.string()?);
    let model = d.opt_string()?;
    let n = d.count(12)?;
    let mut vectors = Vec::with_capacity(n);
    for _ in 0..n {
        let claim = ClaimId::new(d.string()?);
        let version = d.u32()?;
        let len = d.count(4)?;
        let raw = d.take(len * 4)?;
        let vector = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        vectors.push(StoredVector {
            claim,
            version,
            vector,
        });
    }
    let n = d.count(4)?;
    let mut judges: Vec<Arc<str>> = Vec::with_capacity(n);
    for _ in 0..n {
        judges.push(Arc::from(d.str()?));
    }
    let n = d.count(33)?;
    let mut edges = Vec::with_capacity(n);
    for _ in 0..n {
        let from = ClaimId::new(d.string()?);
        let from_version = d.u32()?;
        let to = ClaimId::new(d.string()?);
        let to_version = d.u32()?;
        let at = d.position();
        let relation = match d.u8()? {
            1 => Relation::Contradicts,
            3 => Relation::Supersedes,
            _ => return Err((at, CorruptionKind::Malformed("detected edge relation"))),
        };
        let strength = d.f32()?;
        let reason = d.string()?;
        let at = d.position();
        let judge = judges
            .get(d.u32()? as usize)
            .cloned()
            .ok_or((at, CorruptionKind::Malformed("judge index")))?;
        let epoch = d.u32()?;
        edges.push(StoredEdge {
            from,
            from_version,
            to,
            to_version,
            relation,
            strength,
            reason,
            judge,
            epoch,
        });
    }
    let activate = if d.flag()? { Some(d.u32()?) } else { None };
    Ok(TenantDerived {
        tenant,
        model,
        vectors,
        edges,
        activate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TenantDerived {
        let judge: Arc<str> = Arc::from("rules/1+wordnet-3.0/1");
        TenantDerived {
            tenant: TenantId::new("t"),
            model: Some("m".into()),
            vectors: vec![StoredVector {
                claim: ClaimId::new("c1"),
                version: 2,
                vector: vec![0.6, 0.8],
            }],
            edges: vec![
                StoredEdge {
                    from: ClaimId::new("c2"),
                    from_version: 1,
                    to: ClaimId::new("c1"),
                    to_version: 2,
                    relation: Relation::Contradicts,
                    strength: 0.9,
                    reason: "opened ↔ collapsed".into(),
                    judge: Arc::clone(&judge),
                    epoch: 0,
                },
                StoredEdge {
                    from: ClaimId::new("c3"),
                    from_version: 1,
                    to: ClaimId::new("c1"),
                    to_version: 2,
                    relation: Relation::Supersedes,
                    strength: 0.7,
                    reason: "1932 ↔ 1933".into(),
                    judge,
                    epoch: 1,
                },
            ],
            activate: Some(1),
        }
    }

    #[test]
    fn round_trips() {
        let mut enc = Encoder::default();
        encode_tenant(&mut enc, &sample());
        let mut d = Decoder::new(&enc.buf);
        assert_eq!(decode_tenant(&mut d).unwrap(), sample());
        assert!(d.is_empty());
    }

    #[test]
    fn truncation_and_bad_codes_are_refused() {
        let mut enc = Encoder::default();
        encode_tenant(&mut enc, &sample());
        for cut in 0..enc.buf.len() {
            let mut d = Decoder::new(&enc.buf[..cut]);
            assert!(decode_tenant(&mut d).is_err(), "cut at {cut} decoded");
        }
    }
}
