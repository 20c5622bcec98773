//! The judge: what decides whether two claim texts contradict each other. The built-in one is
//! [`RuleDetector`](super::RuleDetector) (`rules/`); a model plugs in through the same trait.

use std::fmt::Debug;

/// What a detector concluded about a pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// How sure the detector is that the texts contradict each other (0..=1).
    pub confidence: f32,
    /// Why, for people: shown as the edge's `reason`.
    pub reason: String,
}

/// Decides whether two texts contradict each other. Implement it to plug in a model (an NLI
/// cross-encoder, an LLM judge): the engine calls it for candidate pairs of one tenant's claims
/// (lexically or densely close, or sharing entities) and keeps an edge when the confidence
/// reaches the configured floor; time (validity intervals) then decides between `contradicts`
/// and `supersedes`.
///
/// Calls happen on the detection stage's background thread, never on the ingest path, in
/// batches ([`ContradictionDetector::judge_batch`]: override it to run a model once per
/// batch). An implementation must be deterministic for `rebuild_edges` to be reproducible, and
/// should name itself in [`ContradictionDetector::version`]: every edge records it.
///
/// ```
/// use dash_core::detect::{ContradictionDetector, Judgement};
///
/// #[derive(Debug)]
/// struct Nli; // a model would go here
///
/// impl Nli {
///     fn p_contradiction(&self, a: &str, b: &str) -> f32 {
///         if a.contains("not") != b.contains("not") { 0.9 } else { 0.1 }
///     }
/// }
///
/// impl ContradictionDetector for Nli {
///     fn judge(&self, a: &str, b: &str) -> Option<Judgement> {
///         self.judge_batch(&[(a, b)]).pop().flatten()
///     }
///     // One forward pass for the whole batch.
///     fn judge_batch(&self, pairs: &[(&str, &str)]) -> Vec<Option<Judgement>> {
///         pairs
///             .iter()
///             .map(|(a, b)| {
///                 let p = self.p_contradiction(a, b);
///                 (p > 0.5).then(|| Judgement { confidence: p, reason: "nli: contradiction".into() })
///             })
///             .collect()
///     }
///     fn version(&self) -> &str {
///         "toy-nli/1"
///     }
/// }
/// assert!(Nli.judge("Ice is melting", "Ice is not melting").is_some());
/// ```
pub trait ContradictionDetector: Send + Sync + Debug {
    /// `Some` when `a` and `b` contradict each other (order does not matter).
    fn judge(&self, a: &str, b: &str) -> Option<Judgement>;

    /// Judges many pairs at once; one answer per pair, in order. The default calls
    /// [`ContradictionDetector::judge`] for each pair.
    fn judge_batch(&self, pairs: &[(&str, &str)]) -> Vec<Option<Judgement>> {
        pairs.iter().map(|(a, b)| self.judge(a, b)).collect()
    }

    /// A name and version recorded on every edge this detector makes (after a change of
    /// detector, [`Store::rebuild_edges`](crate::Store::rebuild_edges) recomputes a tenant's
    /// edges). Default: `custom`.
    fn version(&self) -> &str {
        "custom"
    }
}
