//! The evidence graph's engine side: contradiction detection and supersession.
//!
//! Callers may give edges explicitly ([`Edge`](crate::Edge)); this module makes the store find
//! conflicts by itself, incrementally on ingest and only inside a tenant:
//!
//! - **structured claims** (`subject`, `predicate`, `object`): for a single-valued predicate
//!   (the default), two claims with the same normalised subject and predicate and different
//!   objects `contradicts` each other when their validity intervals overlap; with disjoint
//!   intervals the later one `supersedes` the earlier (a succession, not a conflict).
//!   Multi-valued predicates are declared per store or per tenant.
//! - **free-text claims**: candidates are the tenant's claims that share an entity and most of
//!   their words with the new claim; a [`ContradictionDetector`] decides (the built-in
//!   [`RuleDetector`], or a model plugged in through the trait).
//!
//! Detected edges are a derived index, like the lexical and vector ones: they join claim
//! *versions*, so a new version or a `forget` retires its edges, `recorded_as_of` sees the edges
//! the store knew then, and the whole set is recomputed from the stored claims at open and by
//! [`Store::rebuild_edges`](crate::Store::rebuild_edges). Guards against graph explosion: a
//! confidence floor, a per-version degree cap, bounded candidate lists, and counters of what was
//! built and dropped ([`StoreStats`](crate::StoreStats)). `docs/retrieval.md` §6 has the rules
//! and their limits.

mod detector;
pub(crate) mod edges;
mod normalize;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

pub use detector::{ContradictionDetector, Judgement, RuleConfig, RuleDetector};
pub use normalize::normalize;

use crate::error::ConfigError;
use crate::model::TenantId;

/// How the store detects contradictions and successions. Set with
/// [`StoreBuilder::detection`](crate::StoreBuilder::detection).
///
/// ```
/// use std::sync::Arc;
/// use dash_core::graph::{DetectionConfig, RuleConfig, RuleDetector};
///
/// let config = DetectionConfig::default()
///     .multi_valued("award received")              // a person receives many awards
///     .multi_valued_for("acme", "member of")       // only in tenant `acme`
///     .detector(Arc::new(RuleDetector::new(RuleConfig { negation_overlap: 0.9, ..RuleConfig::default() })))
///     .confidence_floor(0.7)
///     .max_degree(8);
/// # let _ = config;
/// ```
#[derive(Debug, Clone)]
pub struct DetectionConfig {
    pub(crate) enabled: bool,
    pub(crate) detector: Arc<dyn ContradictionDetector>,
    pub(crate) confidence_floor: f32,
    pub(crate) max_degree: usize,
    pub(crate) max_candidates: usize,
    pub(crate) max_judged: usize,
    pub(crate) min_term_overlap: f32,
    pub(crate) max_group_scan: usize,
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
            max_judged: 8,
            min_term_overlap: 0.5,
            max_group_scan: 1024,
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

    /// Declares a predicate that holds several values at once, in every tenant: its claims
    /// never contradict or supersede each other. Compared after [`normalize`].
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

    /// The free-text detector. Default: [`RuleDetector::default`].
    #[must_use]
    pub fn detector(mut self, detector: Arc<dyn ContradictionDetector>) -> Self {
        self.detector = detector;
        self
    }

    /// Detector judgements below this confidence make no edge (counted as dropped).
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

    /// Free-text candidates gathered per new claim (newest first, across its entities).
    /// Default: 16. Accepted: 1..=4096.
    #[must_use]
    pub fn max_candidates(mut self, n: usize) -> Self {
        self.max_candidates = n;
        self
    }

    /// Candidate pairs handed to the detector per new claim (the lexically closest).
    /// Default: 8. Accepted: 1..=1024.
    #[must_use]
    pub fn max_judged(mut self, n: usize) -> Self {
        self.max_judged = n;
        self
    }

    /// Share of the shorter claim's indexed terms the other must share to be judged at all.
    /// Default: 0.5. Accepted: 0..=1.
    #[must_use]
    pub fn min_term_overlap(mut self, share: f32) -> Self {
        self.min_term_overlap = share;
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
        let count = |setting: &'static str, v: usize, max: usize, accepted: &'static str| {
            if (1..=max).contains(&v) {
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
        unit("detection.min_term_overlap", self.min_term_overlap)?;
        count("detection.max_degree", self.max_degree, 1024, "1..=1024")?;
        count(
            "detection.max_candidates",
            self.max_candidates,
            4096,
            "1..=4096",
        )?;
        count("detection.max_judged", self.max_judged, 1024, "1..=1024")
    }
}
