//! Free-text contradiction detection: the [`ContradictionDetector`] trait (where a model, e.g.
//! an NLI cross-encoder, plugs in) and the built-in rule detector, [`RuleDetector`].
//!
//! The rules aim at precision: a pair is only judged when the two texts are about the same
//! thing (most of the shorter text's content words appear in the other), and then only a
//! specific, explainable difference makes a conflict:
//!
//! - **negation asymmetry** — one text negates (`not`, `no`, `never`, `n't`, ...) and the other
//!   does not, the rest being the same;
//! - **antonyms / polarity** — one says `increase` where the other says `decrease` (a curated
//!   list of pairs, compared after stemming);
//! - **numeric / date / quantity mismatch** — the same quantity (the same unit or context word)
//!   with different values;
//! - **different values for the same subject and attribute** — `X is A` against `X is B`.
//!
//! Everything else is left alone: a missed conflict is better than a false one shown to a user.

use std::collections::HashSet;
use std::fmt::Debug;

use crate::index::Analyzer;

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
/// that share entities and are lexically close, and keeps the edge when the confidence reaches
/// the configured floor.
///
/// Calls happen on the ingest path (inside the store's writer), so an implementation must be
/// fast or batch its work elsewhere; it must be deterministic for `rebuild_edges` to be
/// idempotent.
///
/// ```
/// use dash_core::graph::{ContradictionDetector, Judgement};
///
/// #[derive(Debug)]
/// struct Nli; // a model would go here
///
/// impl ContradictionDetector for Nli {
///     fn judge(&self, a: &str, b: &str) -> Option<Judgement> {
///         let p_contradiction = if a.contains("not") != b.contains("not") { 0.9 } else { 0.1 };
///         (p_contradiction > 0.5).then(|| Judgement {
///             confidence: p_contradiction,
///             reason: "nli: contradiction".into(),
///         })
///     }
/// }
/// assert!(Nli.judge("Ice is melting", "Ice is not melting").is_some());
/// ```
pub trait ContradictionDetector: Send + Sync + Debug {
    /// `Some` when `a` and `b` contradict each other (order does not matter).
    fn judge(&self, a: &str, b: &str) -> Option<Judgement>;
}

/// Thresholds of the [`RuleDetector`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RuleConfig {
    /// Share of the shorter text's content words that must appear in the other before a
    /// negation asymmetry counts. Default: 0.8.
    pub negation_overlap: f32,
    /// The same for an antonym pair (not counting the pair itself). Default: 0.6.
    pub antonym_overlap: f32,
    /// The same for a numeric mismatch (not counting numbers). Default: 0.75.
    pub numeric_overlap: f32,
    /// Fewest content words in the shorter text; shorter texts are not judged. Default: 2.
    pub min_content_words: usize,
    /// Largest relative difference between two numbers still treated as equal (rounding).
    /// Default: 0.02.
    pub numeric_tolerance: f64,
}

impl Default for RuleConfig {
    fn default() -> Self {
        Self {
            negation_overlap: 0.8,
            antonym_overlap: 0.6,
            numeric_overlap: 0.75,
            min_content_words: 2,
            numeric_tolerance: 0.02,
        }
    }
}

/// The built-in detector: negation asymmetry, antonym pairs, numeric mismatch and different
/// values for one subject–attribute pattern (module docs).
#[derive(Debug)]
pub struct RuleDetector {
    config: RuleConfig,
    analyzer: Analyzer,
}

impl Default for RuleDetector {
    fn default() -> Self {
        Self::new(RuleConfig::default())
    }
}

/// Negation cues (lower case). `n't` endings are caught separately.
fn is_negation(word: &str) -> bool {
    matches!(
        word,
        "not"
            | "no"
            | "never"
            | "none"
            | "nothing"
            | "neither"
            | "nor"
            | "nobody"
            | "cannot"
            | "without"
            | "false"
            | "untrue"
            | "denies"
            | "denied"
            | "deny"
            | "refute"
            | "refutes"
            | "refuted"
            | "lack"
            | "lacks"
            | "fails"
            | "failed"
    ) || word.ends_with("n't")
}

/// Function words ignored when comparing content (besides negations and numbers).
fn is_function_word(word: &str) -> bool {
    matches!(
        word,
        "a" | "an"
            | "the"
            | "and"
            | "or"
            | "of"
            | "in"
            | "on"
            | "at"
            | "to"
            | "for"
            | "by"
            | "with"
            | "from"
            | "as"
            | "that"
            | "this"
            | "these"
            | "those"
            | "it"
            | "its"
            | "is"
            | "are"
            | "was"
            | "were"
            | "be"
            | "been"
            | "being"
            | "has"
            | "have"
            | "had"
            | "do"
            | "does"
            | "did"
            | "will"
            | "would"
            | "can"
            | "could"
            | "may"
            | "might"
            | "should"
            | "which"
            | "who"
            | "whom"
            | "than"
            | "there"
            | "their"
            | "they"
            | "he"
            | "she"
            | "his"
            | "her"
            | "we"
            | "our"
            | "you"
            | "your"
            | "i"
            | "also"
            | "about"
            | "into"
            | "over"
            | "such"
            | "so"
            | "very"
            | "some"
            | "any"
            | "all"
            | "s"
    )
}

fn is_copula(word: &str) -> bool {
    matches!(word, "is" | "are" | "was" | "were")
}

/// Antonym and polarity pairs, as stems (the analyzer's Snowball English stems).
const ANTONYMS: &[(&str, &str)] = &[
    ("increas", "decreas"),
    ("rise", "fall"),
    ("rise", "declin"),
    ("grow", "shrink"),
    ("expand", "shrink"),
    ("expand", "contract"),
    ("more", "less"),
    ("more", "fewer"),
    ("higher", "lower"),
    ("high", "low"),
    ("larger", "smaller"),
    ("larg", "small"),
    ("bigger", "smaller"),
    ("big", "small"),
    ("warm", "cool"),
    ("warmer", "cooler"),
    ("hot", "cold"),
    ("gain", "loss"),
    ("gain", "lose"),
    ("win", "lose"),
    ("won", "lost"),
    ("accel", "deceler"),
    ("acceler", "slow"),
    ("strengthen", "weaken"),
    ("stronger", "weaker"),
    ("strong", "weak"),
    ("safe", "danger"),
    ("safe", "harm"),
    ("posit", "negat"),
    ("true", "fals"),
    ("correct", "incorrect"),
    ("valid", "invalid"),
    ("possibl", "imposs"),
    ("like", "unlik"),
    ("above", "below"),
    ("befor", "after"),
    ("earlier", "later"),
    ("alive", "dead"),
    ("open", "close"),
    ("open", "shut"),
    ("support", "oppos"),
    ("accept", "reject"),
    ("confirm", "refut"),
    ("allow", "forbid"),
    ("allow", "prohibit"),
    ("legal", "illeg"),
    ("cause", "prevent"),
    ("success", "failur"),
    ("succeed", "fail"),
    ("major", "minor"),
    ("maximum", "minimum"),
    ("most", "least"),
    ("thicken", "thin"),
    ("thicker", "thinner"),
    ("melt", "freez"),
    ("wet", "dri"),
    ("wetter", "drier"),
    ("present", "absent"),
    ("ad", "remov"),
    ("up", "down"),
    ("north", "south"),
    ("east", "west"),
    ("first", "last"),
    ("old", "young"),
    ("older", "younger"),
    ("mani", "few"),
    ("abund", "scarc"),
    ("benefici", "harm"),
    ("benefit", "harm"),
    ("improv", "worsen"),
    ("better", "wors"),
    ("best", "worst"),
    ("good", "bad"),
    ("rich", "poor"),
    ("heavi", "light"),
    ("fast", "slow"),
    ("faster", "slower"),
    ("long", "short"),
    ("longer", "shorter"),
];

fn antonym_of(a: &str, b: &str) -> bool {
    ANTONYMS
        .iter()
        .any(|&(x, y)| (x == a && y == b) || (x == b && y == a))
}

/// A number in a text and the content word after it (its unit or the thing counted), or before
/// it when nothing follows.
#[derive(Debug, Clone)]
struct Quantity {
    value: f64,
    text: String,
    context: Option<String>,
}

/// One side of a pair, analysed once.
#[derive(Debug)]
struct Analysed {
    /// Content stems (no function words, negations or numbers).
    content: HashSet<String>,
    negations: usize,
    quantities: Vec<Quantity>,
    /// For `X is Y`: the content stems before the first copula and after it.
    copula: Option<(HashSet<String>, HashSet<String>)>,
}

fn parse_number(word: &str) -> Option<f64> {
    let cleaned: String = word.chars().filter(|c| *c != ',').collect();
    let cleaned = cleaned.trim_end_matches('%');
    if !cleaned.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    cleaned.parse().ok()
}

impl RuleDetector {
    /// A detector with the given thresholds.
    #[must_use]
    pub fn new(config: RuleConfig) -> Self {
        Self {
            config,
            analyzer: Analyzer::new(true, false),
        }
    }

    /// Its thresholds.
    #[must_use]
    pub fn config(&self) -> &RuleConfig {
        &self.config
    }

    fn analyse(&self, text: &str) -> Analysed {
        let mut words = Vec::new();
        self.analyzer
            .for_each_word(text, |w| words.push(w.to_owned()));
        let mut content = HashSet::new();
        let mut negations = 0;
        let mut quantities = Vec::new();
        let mut before = HashSet::new();
        let mut after = HashSet::new();
        let mut seen_copula = false;
        for (i, w) in words.iter().enumerate() {
            if is_negation(w) {
                negations += 1;
                continue;
            }
            if let Some(value) = parse_number(w) {
                // Years compare with years; other numbers with numbers of the same unit or
                // context word (the next content word, else the previous one).
                let is_word = |n: &&String| !is_function_word(n) && parse_number(n).is_none();
                let context = if w.len() == 4 && (1000.0..=2200.0).contains(&value) {
                    Some("<year>".to_owned())
                } else {
                    words
                        .get(i + 1)
                        .filter(is_word)
                        .or_else(|| i.checked_sub(1).and_then(|p| words.get(p)).filter(is_word))
                        .map(|c| self.analyzer.stem(c).into_owned())
                };
                quantities.push(Quantity {
                    value,
                    text: w.clone(),
                    context,
                });
                continue;
            }
            if is_copula(w) && !seen_copula {
                seen_copula = true;
                continue;
            }
            if is_function_word(w) {
                continue;
            }
            let stem = self.analyzer.stem(w).into_owned();
            if seen_copula {
                after.insert(stem.clone());
            } else {
                before.insert(stem.clone());
            }
            content.insert(stem);
        }
        Analysed {
            content,
            negations,
            quantities,
            copula: seen_copula.then_some((before, after)),
        }
    }

    /// Share of the smaller set's members found in the other, ignoring `except`.
    fn overlap(a: &HashSet<String>, b: &HashSet<String>, except: &[&str]) -> (f32, usize) {
        let keep = |w: &&String| !except.contains(&w.as_str());
        let na = a.iter().filter(keep).count();
        let nb = b.iter().filter(keep).count();
        let shared = a.iter().filter(keep).filter(|w| b.contains(*w)).count();
        let smaller = na.min(nb);
        if smaller == 0 {
            return (0.0, 0);
        }
        (shared as f32 / smaller as f32, smaller)
    }

    fn negation(&self, a: &Analysed, b: &Analysed) -> Option<Judgement> {
        if a.negations % 2 == b.negations % 2 {
            return None;
        }
        let (overlap, n) = Self::overlap(&a.content, &b.content, &[]);
        (n >= self.config.min_content_words && overlap >= self.config.negation_overlap).then(|| {
            Judgement {
                confidence: 0.55 + 0.4 * overlap,
                reason: "negation asymmetry: one claim negates what the other states".into(),
            }
        })
    }

    fn antonym(&self, a: &Analysed, b: &Analysed) -> Option<Judgement> {
        // An antonym under a negation parity change cancels out ("not increase" ≈ "decrease").
        if a.negations % 2 != b.negations % 2 {
            return None;
        }
        for x in a.content.iter().filter(|w| !b.content.contains(*w)) {
            for y in b.content.iter().filter(|w| !a.content.contains(*w)) {
                if !antonym_of(x, y) {
                    continue;
                }
                let (overlap, n) = Self::overlap(&a.content, &b.content, &[x, y]);
                if n >= self.config.min_content_words && overlap >= self.config.antonym_overlap {
                    return Some(Judgement {
                        confidence: 0.5 + 0.4 * overlap,
                        reason: format!("opposite terms: `{x}` against `{y}`"),
                    });
                }
            }
        }
        None
    }

    fn numeric<'a>(&self, a: &'a Analysed, b: &'a Analysed) -> Option<Judgement> {
        if a.quantities.is_empty() || b.quantities.is_empty() || a.negations != b.negations {
            return None;
        }
        let (overlap, n) = Self::overlap(&a.content, &b.content, &[]);
        if n < self.config.min_content_words || overlap < self.config.numeric_overlap {
            return None;
        }
        let same = |x: f64, y: f64| {
            let scale = x.abs().max(y.abs()).max(f64::MIN_POSITIVE);
            (x - y).abs() / scale <= self.config.numeric_tolerance
        };
        // Quantities of the same kind share a context word; they conflict when no value on
        // one side matches any on the other (so "330 m tall and 125 m wide" does not
        // contradict "330 m tall").
        for qa in &a.quantities {
            let Some(ctx) = &qa.context else { continue };
            let of_kind = |side: &'a Analysed| {
                side.quantities
                    .iter()
                    .filter(move |q| q.context.as_ref() == Some(ctx))
            };
            let is_year = ctx == "<year>";
            let equal = |x: f64, y: f64| if is_year { x == y } else { same(x, y) };
            let rivals: Vec<&Quantity> = of_kind(b).collect();
            if rivals.is_empty()
                || of_kind(a).any(|x| rivals.iter().any(|y| equal(x.value, y.value)))
            {
                continue;
            }
            let kind = if is_year { "date" } else { "numeric" };
            return Some(Judgement {
                confidence: 0.5 + 0.4 * overlap,
                reason: format!(
                    "{kind} mismatch: {} against {} ({ctx})",
                    qa.text, rivals[0].text
                ),
            });
        }
        None
    }

    fn attribute(&self, a: &Analysed, b: &Analysed) -> Option<Judgement> {
        let ((sa, va), (sb, vb)) = (a.copula.as_ref()?, b.copula.as_ref()?);
        if a.negations != 0 || b.negations != 0 || sa.is_empty() || sa != sb {
            return None;
        }
        let short = |v: &HashSet<String>| (1..=4).contains(&v.len());
        (sa.len() >= self.config.min_content_words && short(va) && short(vb) && va.is_disjoint(vb))
            .then(|| Judgement {
                confidence: 0.6,
                reason: "different values for the same subject and attribute".into(),
            })
    }
}

impl ContradictionDetector for RuleDetector {
    fn judge(&self, a: &str, b: &str) -> Option<Judgement> {
        let (a, b) = (self.analyse(a), self.analyse(b));
        if a.content.len().min(b.content.len()) < self.config.min_content_words {
            return None;
        }
        self.negation(&a, &b)
            .or_else(|| self.antonym(&a, &b))
            .or_else(|| self.numeric(&a, &b))
            .or_else(|| self.attribute(&a, &b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(a: &str, b: &str) -> Option<Judgement> {
        let d = RuleDetector::default();
        let one = d.judge(a, b);
        // Symmetric: the order of the pair never matters.
        assert_eq!(one.is_some(), d.judge(b, a).is_some(), "{a} / {b}");
        one
    }

    #[test]
    fn negation_asymmetry() {
        let j = judge(
            "Arctic sea ice is declining",
            "Arctic sea ice is not declining",
        )
        .unwrap();
        assert!(j.reason.contains("negation"), "{j:?}");
        assert!(judge(
            "Arctic sea ice isn't declining",
            "Arctic sea ice is declining"
        )
        .is_some());
        // Double negation is no asymmetry.
        assert!(judge(
            "It is not untrue that ice melts",
            "It is true that ice melts"
        )
        .is_none());
        // Negation about something else entirely is not a conflict.
        assert!(judge(
            "Arctic sea ice is declining",
            "Coral reefs are not bleaching"
        )
        .is_none());
    }

    #[test]
    fn antonyms() {
        let j = judge(
            "Global sea levels increased last century",
            "Global sea levels decreased last century",
        )
        .unwrap();
        assert!(j.reason.contains("increas"), "{j:?}");
        // "not increase" vs "decrease" agree.
        assert!(judge("Sea levels did not increase", "Sea levels decreased").is_none());
    }

    #[test]
    fn numbers_and_dates() {
        let j = judge(
            "The Eiffel Tower is 330 m tall",
            "The Eiffel Tower is 300 m tall",
        )
        .unwrap();
        assert!(j.reason.contains("numeric"), "{j:?}");
        let j = judge(
            "The treaty was signed in 1951 in Paris",
            "The treaty was signed in 1957 in Paris",
        )
        .unwrap();
        assert!(j.reason.contains("date"), "{j:?}");
        // Rounding is not a conflict; different quantities are not compared.
        assert!(judge("The tower is 330 m tall", "The tower is 330.4 m tall").is_none());
        assert!(judge(
            "The tower is 330 m tall and 125 m wide",
            "The tower is 330 m tall"
        )
        .is_none());
    }

    #[test]
    fn subject_attribute_values() {
        let j = judge(
            "The capital of Australia is Canberra",
            "The capital of Australia is Sydney",
        )
        .unwrap();
        assert!(j.reason.contains("subject"), "{j:?}");
        assert!(judge(
            "The capital of Australia is Canberra",
            "The capital of Australia is Canberra"
        )
        .is_none());
    }

    #[test]
    fn unrelated_or_agreeing_texts_are_left_alone() {
        for (a, b) in [
            ("CO2 is a greenhouse gas", "CO2 is a greenhouse gas"),
            (
                "Glaciers are retreating worldwide",
                "Most glaciers are retreating",
            ),
            (
                "The sun drives the climate",
                "Volcanoes emit sulphur dioxide",
            ),
            ("", "Ice is not melting"),
            ("not", "no"),
        ] {
            assert!(judge(a, b).is_none(), "{a} / {b}");
        }
    }
}
