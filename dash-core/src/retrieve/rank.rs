//! Ranking: fusing the lexical and dense candidate lists into one relevance, and the composite
//! score that weighs relevance by evidence, confidence and time.

use std::collections::HashMap;

use super::query::Fusion;
use crate::index::DocId;
use crate::model::{IngestItem, Stance};

/// Added to every piece of evidence's quality when deciding which side outweighs the other, so
/// evidence of quality 0 still counts as one voice.
const VOICE: f32 = 1e-3;

/// A candidate after fusion.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Fused {
    pub(crate) doc: DocId,
    /// Fused relevance, scaled so the best candidate has 1.
    pub(crate) relevance: f32,
    /// BM25 scaled by the best lexical candidate's (0 when absent).
    pub(crate) lexical: f32,
    /// Cosine similarity, clamped to `0..=1` (0 when absent).
    pub(crate) dense: f32,
}

/// Scales a list's scores to `0..=1`: min-max when the list has a spread, else all 1.
fn min_max(list: &[(DocId, f32)]) -> impl Fn(f32) -> f32 {
    let (lo, hi) = list
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), (_, s)| {
            (lo.min(*s), hi.max(*s))
        });
    let span = hi - lo;
    move |s| {
        if span > f32::EPSILON {
            (s - lo) / span
        } else {
            1.0
        }
    }
}

fn slot(map: &mut HashMap<DocId, Fused>, doc: DocId) -> &mut Fused {
    map.entry(doc).or_insert(Fused {
        doc,
        relevance: 0.0,
        lexical: 0.0,
        dense: 0.0,
    })
}

/// Fuses the two ranked lists (best first) into candidates, best first (ties to the lower doc).
pub(crate) fn fuse(lexical: &[(DocId, f32)], dense: &[(DocId, f32)], fusion: Fusion) -> Vec<Fused> {
    let mut by_doc: HashMap<DocId, Fused> = HashMap::with_capacity(lexical.len() + dense.len());
    let best_lexical = lexical.first().map_or(1.0, |h| h.1.max(f32::EPSILON));
    let both = !lexical.is_empty() && !dense.is_empty();
    let norm_lexical = min_max(lexical);
    let norm_dense = min_max(dense);
    for (rank, &(doc, score)) in lexical.iter().enumerate() {
        let f = slot(&mut by_doc, doc);
        f.lexical = score / best_lexical;
        f.relevance += match fusion {
            Fusion::Rrf { k } => 1.0 / (k + rank as f32 + 1.0),
            Fusion::Weighted { lexical: w } if both => w * norm_lexical(score),
            Fusion::Weighted { .. } => score / best_lexical,
        };
    }
    for (rank, &(doc, score)) in dense.iter().enumerate() {
        let f = slot(&mut by_doc, doc);
        f.dense = score.clamp(0.0, 1.0);
        f.relevance += match fusion {
            Fusion::Rrf { k } => 1.0 / (k + rank as f32 + 1.0),
            Fusion::Weighted { lexical: w } if both => (1.0 - w) * norm_dense(score),
            Fusion::Weighted { .. } => score.clamp(0.0, 1.0),
        };
    }
    let mut out: Vec<Fused> = by_doc.into_values().collect();
    let best = out
        .iter()
        .map(|f| f.relevance)
        .fold(0.0f32, f32::max)
        .max(f32::EPSILON);
    for f in &mut out {
        f.relevance /= best;
    }
    out.sort_by(|a, b| b.relevance.total_cmp(&a.relevance).then(a.doc.cmp(&b.doc)));
    out
}

/// What a claim's evidence says, weighted by source quality.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct EvidenceWeight {
    /// `1 - exp(-Σ quality of supporting evidence)`.
    pub(crate) support: f32,
    /// `Σ q(contradicts) / (Σ q(supports) + Σ q(contradicts))`, 0 without either.
    pub(crate) contradiction: f32,
    /// Contradicting evidence outweighs supporting evidence.
    pub(crate) net_contradicting: bool,
}

/// Weighs a claim's evidence.
pub(crate) fn evidence_weight(item: &IngestItem) -> EvidenceWeight {
    let (mut s, mut s_voice, mut c_voice) = (0.0f32, 0.0f32, 0.0f32);
    for e in &item.evidence {
        let q = e.source_quality.clamp(0.0, 1.0);
        match e.stance {
            Stance::Supports => {
                s += q;
                s_voice += q + VOICE;
            }
            Stance::Contradicts => c_voice += q + VOICE,
            Stance::Neutral => {}
        }
    }
    let contradiction = if s_voice + c_voice > 0.0 {
        c_voice / (s_voice + c_voice)
    } else {
        0.0
    };
    EvidenceWeight {
        support: 1.0 - (-s).exp(),
        contradiction,
        net_contradicting: c_voice > s_voice,
    }
}

/// The composite score of `docs/retrieval.md`.
pub(crate) fn composite(relevance: f32, w: EvidenceWeight, confidence: f32, temporal: f32) -> f32 {
    let evidence = w.support * (1.0 - 0.5 * w.contradiction);
    relevance * (0.7 + 0.3 * evidence) * (0.8 + 0.2 * confidence.clamp(0.0, 1.0)) * temporal
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Claim, Evidence};

    fn item(evidence: &[(Stance, f32)]) -> IngestItem {
        let mut it = IngestItem::new(Claim::new("t", "c", "x"));
        for (i, (stance, q)) in evidence.iter().enumerate() {
            let mut e = Evidence::new(format!("e{i}"), "c", "s", *stance);
            e.source_quality = *q;
            it.evidence.push(e);
        }
        it
    }

    #[test]
    fn evidence_weight_follows_the_formula() {
        let w = evidence_weight(&item(&[
            (Stance::Supports, 0.9),
            (Stance::Contradicts, 0.3),
        ]));
        assert!((w.support - (1.0 - (-0.9f32).exp())).abs() < 1e-6);
        assert!((w.contradiction - 0.301 / 1.202).abs() < 1e-4);
        assert!(!w.net_contradicting);
        let w = evidence_weight(&item(&[(Stance::Contradicts, 0.0)]));
        assert!(
            w.net_contradicting,
            "quality-0 evidence still counts as a voice"
        );
        let w = evidence_weight(&item(&[(Stance::Neutral, 1.0)]));
        assert_eq!(
            (w.support, w.contradiction, w.net_contradicting),
            (0.0, 0.0, false)
        );
    }

    #[test]
    fn more_support_and_less_contradiction_rank_higher() {
        let strong = evidence_weight(&item(&[(Stance::Supports, 1.0), (Stance::Supports, 1.0)]));
        let weak = evidence_weight(&item(&[(Stance::Supports, 0.3)]));
        let disputed = evidence_weight(&item(&[
            (Stance::Supports, 1.0),
            (Stance::Contradicts, 1.0),
        ]));
        let a = composite(1.0, strong, 1.0, 1.0);
        let b = composite(1.0, weak, 1.0, 1.0);
        let c = composite(1.0, disputed, 1.0, 1.0);
        assert!(a > b && a > c, "{a} {b} {c}");
        // Relevance dominates: evidence moves a score by at most 30 %.
        assert!(composite(0.5, strong, 1.0, 1.0) < composite(1.0, weak, 1.0, 1.0));
    }

    #[test]
    fn rrf_and_weighted_fusion() {
        let lex = [(1, 10.0), (2, 5.0)];
        let dense = [(2, 0.9), (3, 0.5)];
        let rrf = fuse(&lex, &dense, Fusion::Rrf { k: 60.0 });
        assert_eq!(rrf[0].doc, 2, "in both lists");
        assert_eq!(rrf[0].relevance, 1.0);
        assert!((rrf[0].lexical - 0.5).abs() < 1e-6 && (rrf[0].dense - 0.9).abs() < 1e-6);
        let w = fuse(&lex, &dense, Fusion::Weighted { lexical: 1.0 });
        assert_eq!(w[0].doc, 1, "all weight on lexical");
        let only_dense = fuse(&[], &dense, Fusion::default());
        assert_eq!(
            only_dense.iter().map(|f| f.doc).collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert!((only_dense[1].relevance - 0.5 / 0.9).abs() < 1e-6);
    }
}
