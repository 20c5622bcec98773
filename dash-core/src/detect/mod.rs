//! Contradiction and succession detection: the engine's side of the evidence graph.
//!
//! Callers may give edges explicitly ([`Edge`](crate::Edge)); this module makes the store find
//! conflicts by itself, inside a tenant only, for claims sent as plain text as well as for
//! structured ones:
//!
//! - **candidates** ([`candidates`]): for each new claim version, the tenant's claims that were
//!   current when it was recorded and are most like it — lexically (shared terms weighted by
//!   their rarity *as of that version*, so a lagging stage, a replay and a rebuild rank the same
//!   set), densely (nearest neighbours, when the claim has or gets a vector) and, when given,
//!   through shared entities or the same structured subject and predicate. Bounded per claim.
//! - **the judge** ([`ContradictionDetector`]; built in: [`RuleDetector`]): aligns the two
//!   texts and reads the difference — negation, a substituted slot (a name, a number, a date, an
//!   antonym or co-hyponym from WordNet, or any word the guards cannot show compatible), with
//!   guards against synonyms, hypernyms, added qualifiers and reordered paraphrases. A model (an
//!   NLI cross-encoder) plugs in through the same trait.
//! - **time** decides the relation: overlapping validity → `contradicts`; disjoint → the later
//!   `supersedes` the earlier; without validity, `contradicts` unless the tenant chose
//!   "newer supersedes older" ([`DetectionConfig::newer_supersedes`]).
//! - **the stage** (`stage.rs`): detection runs on a background thread in commit order, never
//!   on the acknowledgement path; the edges it finds (and the vectors a store embedder makes)
//!   are written durably to the WAL and then to segments, so an open resumes from the detection
//!   watermark instead of judging everything again.
//!
//! Guards against graph explosion: a confidence floor, a per-version degree cap, bounded
//! candidate lists and work budgets, and counters of what was built and dropped
//! ([`StoreStats`](crate::StoreStats)). `docs/retrieval.md` §6 has the rules and their limits.

pub(crate) mod candidates;
pub(crate) mod edges;
mod judge;
mod normalize;
pub(crate) mod record;
mod rules;
pub(crate) mod stage;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

pub use judge::{ContradictionDetector, Judgement};
pub use normalize::normalize;
pub use rules::{RuleConfig, RuleDetector};

use crate::error::ConfigError;
use crate::model::{Edge, TenantId};

/// A detected edge with its provenance: the claim versions it joins and the judge (with its
/// lexicon) that made it ([`Store::detected_edge_details`](crate::Store::detected_edge_details)).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DetectedEdge {
    /// The edge (`detected: true`, the judge's confidence as `strength`, a `reason`).
    #[serde(flatten)]
    pub edge: Edge,
    /// The version of `edge.from_claim_id` it joins.
    pub from_version: u32,
    /// The version of `edge.to_claim_id` it joins.
    pub to_version: u32,
    /// The judge that made it, with its version (for example `rules/2+wordnet-3.0/1`).
    pub judge: String,
}

/// The candidate list of the detection stage's dense search (a graph walk for the nearest
/// versions recorded before the one judged): 64, where queries use the graph's `ef_search`
/// (200 by default). The stage wants a few near neighbours
/// ([`DetectionConfig::max_dense_candidates`], 8) for every version written, so the walk is
/// its largest cost; measured with `dash-bench filtered --ef` (`docs/benchmarks.md`).
pub const DENSE_CANDIDATE_EF: usize = 64;

/// How the store detects contradictions and successions. Set with
/// [`StoreBuilder::detection`](crate::StoreBuilder::detection).
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use dash_core::detect::{DetectionConfig, RuleConfig, RuleDetector};
///
/// let config = DetectionConfig::default()
///     .multi_valued("award received")              // a person receives many awards
///     .multi_valued_for("acme", "member of")       // only in tenant `acme`
///     .newer_supersedes_for("chat-memory")         // latest-wins memory for one tenant
///     .detector(Arc::new(RuleDetector::new(RuleConfig::default())))
///     .confidence_floor(0.7)
///     .max_degree(8)
///     .query_wait(Duration::from_millis(50));
/// # let _ = config;
/// ```
#[derive(Debug, Clone)]
pub struct DetectionConfig {
    pub(crate) enabled: bool,
    pub(crate) detector: Arc<dyn ContradictionDetector>,
    pub(crate) confidence_floor: f32,
    pub(crate) max_degree: usize,
    pub(crate) max_candidates: usize,
    pub(crate) max_dense_candidates: usize,
    pub(crate) max_judged: usize,
    pub(crate) posting_budget: usize,
    pub(crate) min_shared: f32,
    pub(crate) max_group_scan: usize,
    pub(crate) query_wait: Duration,
    newer_supersedes: bool,
    newer_supersedes_tenants: HashSet<TenantId>,
    multi_valued: HashSet<String>,
    multi_valued_by_tenant: HashMap<TenantId, HashSet<String>>,
}

impl Default for DetectionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            detector: Arc::new(RuleDetector::default()),
            confidence_floor: 0.6,
            max_degree: 16,
            max_candidates: 16,
            max_dense_candidates: 8,
            max_judged: 16,
            posting_budget: 2048,
            min_shared: 0.4,
            max_group_scan: 1024,
            query_wait: Duration::from_millis(100),
            newer_supersedes: false,
            newer_supersedes_tenants: HashSet::new(),
            multi_valued: HashSet::new(),
            multi_valued_by_tenant: HashMap::new(),
        }
    }
}

impl DetectionConfig {
    /// Detection switched off: only caller-given edges exist.
    #[must_use]
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }

    /// True when detection runs.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Declares a predicate that holds several values at once, in every tenant: its structured
    /// claims never contradict or supersede each other. Compared after [`normalize`].
    #[must_use]
    pub fn multi_valued(mut self, predicate: &str) -> Self {
        self.multi_valued.insert(normalize(predicate));
        self
    }

    /// Declares a multi-valued predicate for one tenant only.
    #[must_use]
    pub fn multi_valued_for(mut self, tenant: impl Into<TenantId>, predicate: &str) -> Self {
        self.multi_valued_by_tenant
            .entry(tenant.into())
            .or_default()
            .insert(normalize(predicate));
        self
    }

    /// Latest-wins memory in every tenant: a conflict between two claims *without* validity
    /// intervals makes the newer one `supersede` the older (hidden from `as_of` queries after
    /// it, ranked below it otherwise) instead of `contradicting` it. Claims with validity keep
    /// the interval rule. Default: off (both are shown as a conflict).
    #[must_use]
    pub fn newer_supersedes(mut self, on: bool) -> Self {
        self.newer_supersedes = on;
        self
    }

    /// [`DetectionConfig::newer_supersedes`] for one tenant only.
    #[must_use]
    pub fn newer_supersedes_for(mut self, tenant: impl Into<TenantId>) -> Self {
        self.newer_supersedes_tenants.insert(tenant.into());
        self
    }

    /// The free-text judge. Default: [`RuleDetector::default`].
    #[must_use]
    pub fn detector(mut self, detector: Arc<dyn ContradictionDetector>) -> Self {
        self.detector = detector;
        self
    }

    /// Judgements below this confidence make no edge (counted as dropped).
    /// Default: 0.6. Accepted: 0..=1.
    #[must_use]
    pub fn confidence_floor(mut self, floor: f32) -> Self {
        self.confidence_floor = floor;
        self
    }

    /// Detected edges per claim version at most; past it the weakest are dropped (counted).
    /// Default: 16. Accepted: 1..=1024.
    #[must_use]
    pub fn max_degree(mut self, n: usize) -> Self {
        self.max_degree = n;
        self
    }

    /// Lexical candidates kept per new claim (the best by shared rare terms).
    /// Default: 16. Accepted: 1..=4096.
    #[must_use]
    pub fn max_candidates(mut self, n: usize) -> Self {
        self.max_candidates = n;
        self
    }

    /// Dense candidates (nearest neighbours) per new claim that has a vector.
    /// Default: 8. Accepted: 0..=1024 (0: no dense candidates).
    #[must_use]
    pub fn max_dense_candidates(mut self, n: usize) -> Self {
        self.max_dense_candidates = n;
        self
    }

    /// Candidate pairs handed to the judge per new claim, at most (the closest first).
    /// Default: 16. Accepted: 1..=1024.
    #[must_use]
    pub fn max_judged(mut self, n: usize) -> Self {
        self.max_judged = n;
        self
    }

    /// The work budget of the lexical candidate search: postings read per new claim, rarest
    /// terms first (a term shared by many claims is read newest first until the budget is
    /// spent). Default: 2,048. Accepted: 16..=1,048,576.
    #[must_use]
    pub fn posting_budget(mut self, n: usize) -> Self {
        self.posting_budget = n;
        self
    }

    /// Share of the shorter text's distinct terms a lexical candidate must share with the new
    /// claim to be judged at all. Default: 0.4. Accepted: 0..=1.
    #[must_use]
    pub fn min_shared(mut self, share: f32) -> Self {
        self.min_shared = share;
        self
    }

    /// How long a retrieve waits, at most, for the detection stage to reach what its tenant has
    /// committed (so ingest-then-retrieve sees its conflicts when the stage keeps up); the
    /// answer says whether it had ([`RetrieveResponse::detection`](crate::RetrieveResponse)).
    /// A query can set its own ([`Query::wait_for_detection`](crate::Query::wait_for_detection)).
    /// Default: 100 ms. Accepted: up to 60 s.
    #[must_use]
    pub fn query_wait(mut self, wait: Duration) -> Self {
        self.query_wait = wait;
        self
    }

    /// True when `predicate` (normalised) is multi-valued in `tenant`.
    pub(crate) fn is_multi_valued(&self, tenant: &TenantId, predicate: &str) -> bool {
        self.multi_valued.contains(predicate)
            || self
                .multi_valued_by_tenant
                .get(tenant)
                .is_some_and(|s| s.contains(predicate))
    }

    /// True when conflicts between claims without validity make the newer supersede the older
    /// in `tenant`.
    pub(crate) fn newer_supersedes_in(&self, tenant: &TenantId) -> bool {
        self.newer_supersedes || self.newer_supersedes_tenants.contains(tenant)
    }

    /// Checks the ranges.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let unit = |setting: &'static str, v: f32| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(ConfigError::OutOfRange {
                    setting,
                    value: v.to_string(),
                    accepted: "0..=1",
                })
            }
        };
        let count = |setting: &'static str,
                     v: usize,
                     range: std::ops::RangeInclusive<usize>,
                     accepted: &'static str| {
            if range.contains(&v) {
                Ok(())
            } else {
                Err(ConfigError::OutOfRange {
                    setting,
                    value: v.to_string(),
                    accepted,
                })
            }
        };
        unit("detection.confidence_floor", self.confidence_floor)?;
        unit("detection.min_shared", self.min_shared)?;
        count(
            "detection.max_degree",
            self.max_degree,
            1..=1024,
            "1..=1024",
        )?;
        count(
            "detection.max_candidates",
            self.max_candidates,
            1..=4096,
            "1..=4096",
        )?;
        count(
            "detection.max_dense_candidates",
            self.max_dense_candidates,
            0..=1024,
            "0..=1024",
        )?;
        count(
            "detection.max_judged",
            self.max_judged,
            1..=1024,
            "1..=1024",
        )?;
        count(
            "detection.posting_budget",
            self.posting_budget,
            16..=1 << 20,
            "16..=1048576",
        )?;
        if self.query_wait > Duration::from_secs(60) {
            return Err(ConfigError::OutOfRange {
                setting: "detection.query_wait",
                value: format!("{:?}", self.query_wait),
                accepted: "0..=60s",
            });
        }
        Ok(())
    }
}
