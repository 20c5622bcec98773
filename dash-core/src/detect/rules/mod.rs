//! The built-in judge, [`RuleDetector`]: it aligns the two texts and reads the difference.
//!
//! 1. Both texts are analysed (`text.rs`): function words (articles, auxiliaries, pronouns)
//!    are set aside, negation cues counted (`not`, `n't`, `no`, `never`, `nobody` = "no person",
//!    ...), numbers parsed (`1,000`, `3.5`, `twenty`, `3 million`), every word keyed by its stem
//!    and its WordNet base forms (`children` = `child`, `ran` = `run`).
//! 2. They are aligned (`align.rs`): the longest common subsequence of words, then the
//!    stretches where they differ. Words found elsewhere in the other text count as moved (a
//!    reordered paraphrase), not as differences.
//! 3. Each differing stretch (a *slot*) is classified:
//!    - an **insertion** (one side empty: an added qualifier or detail) is compatible;
//!    - **numbers** of the same unit that differ beyond rounding (2 %; years exactly) conflict:
//!      `8 ↔ 20 engineers`, `1932 ↔ 1933`;
//!    - **names** (capitalised words) that differ conflict: `Google ↔ Meta`;
//!    - other words go to WordNet: the same lemma, synonyms, hypernyms and hyponyms are
//!      compatible (`kids → boys`, `guitar → instrument`); **antonyms** (`increased ↔
//!      decreased`) and **co-hyponyms** (`guitar ↔ piano`) conflict; words WordNet cannot
//!      relate conflict by the **default rule** at a lower confidence (`opened ↔ collapsed`),
//!      unless one contains the other (`onstage ↔ stage`).
//! 4. The verdict: a **negation** asymmetry over shared content conflicts (an antonym under it
//!    cancels: "did not increase" ≈ "decreased"); otherwise exactly **one** conflicting slot,
//!    with enough shared context, conflicts. Two conflicting slots are two different statements;
//!    a conflicting slot where the subject stands is another subject ("John / Mary works at
//!    Google"), unless the predicate is a unique role ("… is *the* capital of France") or the
//!    slot holds numbers.
//!
//! The reason names the spans (`opened ↔ collapsed`, `negation: not`, `8 ↔ 20 engineers`).
//! Precision first: a missed conflict is better than a false one shown to a user.

mod align;
mod text;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use self::align::{align, Alignment, Hunk};
use self::text::{analyse, Analysis, Kind, Token};
use super::{ContradictionDetector, Judgement};
use crate::embed::Embedder;
use crate::lexicon::{lexicon, WordRelation};

/// Thresholds of the [`RuleDetector`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RuleConfig {
    /// Share of each text's content words (outside the conflicting slot) the other must share.
    /// Default: 0.5.
    pub min_coverage: f32,
    /// Fewest content words in each text; shorter texts are not judged. Default: 2.
    pub min_content_words: usize,
    /// Most content words on either side of a slot the default rule calls a conflict (and the
    /// two sides differ by at most one word). Default: 3.
    pub max_slot_words: usize,
    /// Largest relative difference between two numbers still treated as equal (rounding).
    /// Default: 0.02.
    pub numeric_tolerance: f64,
    /// The default rule: a substituted word WordNet cannot relate is a conflict. Default: on.
    pub substitution: bool,
    /// With an embedder ([`RuleDetector::with_embedder`]): spans at least this similar
    /// (cosine) are a rewording, not a substitution. Default: 0.45.
    pub span_similarity: f32,
}

impl Default for RuleConfig {
    fn default() -> Self {
        Self {
            min_coverage: 0.5,
            min_content_words: 2,
            max_slot_words: 3,
            numeric_tolerance: 0.02,
            substitution: true,
            span_similarity: 0.45,
        }
    }
}

/// The built-in judge: alignment, negation, numbers, names and WordNet (module docs).
#[derive(Debug)]
pub struct RuleDetector {
    config: RuleConfig,
    version: String,
    /// Embeds differing spans for the similarity guard of the default rule, when given.
    spans: Option<SpanSimilarity>,
}

/// The default rule's guard by meaning: an embedder, and the vectors of spans seen.
struct SpanSimilarity {
    embedder: Arc<dyn Embedder>,
    vectors: Mutex<HashMap<String, Arc<[f32]>>>,
}

impl std::fmt::Debug for SpanSimilarity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanSimilarity")
            .field("model", &self.embedder.model())
            .finish_non_exhaustive()
    }
}

/// Spans whose vectors are remembered at most; past it the memory starts afresh.
const SPAN_CACHE_MAX: usize = 50_000;

impl SpanSimilarity {
    /// The cosine of two spans' vectors; `None` when the embedder fails.
    fn cosine(&self, a: &str, b: &str) -> Option<f32> {
        let lock = || {
            self.vectors
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        let cached = |t: &str| lock().get(t).cloned();
        let (mut va, mut vb) = (cached(a), cached(b));
        let missing: Vec<&str> = [(a, &va), (b, &vb)]
            .iter()
            .filter(|(_, v)| v.is_none())
            .map(|(t, _)| *t)
            .collect();
        if !missing.is_empty() {
            let vectors = self.embedder.embed(&missing).ok()?;
            let mut map = lock();
            if map.len() >= SPAN_CACHE_MAX {
                map.clear();
            }
            for (t, v) in missing.iter().zip(vectors) {
                let v: Arc<[f32]> = v.into();
                if *t == a {
                    va = Some(Arc::clone(&v));
                }
                if *t == b {
                    vb = Some(Arc::clone(&v));
                }
                map.insert((*t).to_owned(), v);
            }
        }
        let (va, vb) = (va?, vb?);
        Some(va.iter().zip(vb.iter()).map(|(x, y)| x * y).sum())
    }
}

impl Default for RuleDetector {
    fn default() -> Self {
        Self::new(RuleConfig::default())
    }
}

/// What one slot says.
#[derive(Debug, Clone, PartialEq)]
enum Slot {
    Compatible,
    /// The words differ and no rule relates them (a rewording, or another subject).
    Differs,
    /// Opposite words: cancelled by a negation asymmetry.
    Antonym(String),
    /// A conflict of some kind, with its base confidence and its reason.
    Conflict {
        numeric: bool,
        default_rule: bool,
        confidence: f32,
        reason: String,
    },
}

/// Most content words of a final slot (an object) the default rule judges.
const MAX_OBJECT_WORDS: usize = 12;

/// Light words that are opposites.
fn light_antonyms(a: &str, b: &str) -> bool {
    const PAIRS: &[(&str, &str)] = &[
        ("before", "after"),
        ("above", "below"),
        ("over", "under"),
        ("inside", "outside"),
        ("up", "down"),
        ("in", "out"),
        ("with", "without"),
        ("since", "until"),
    ];
    PAIRS
        .iter()
        .any(|&(x, y)| (x == a && y == b) || (x == b && y == a))
}

fn joined(tokens: &[&Token], light: bool) -> String {
    tokens
        .iter()
        .filter(|t| light || !matches!(t.kind, Kind::Light))
        .map(|t| t.lower.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn shown(tokens: &[&Token]) -> String {
    tokens
        .iter()
        .map(|t| t.surface.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The word or phrase of a relation lookup: the lemma phrase with particles when WordNet
/// knows it ("take off"), else the content words.
fn phrase(tokens: &[&Token]) -> String {
    let with_light = joined(tokens, true);
    if tokens.iter().any(|t| matches!(t.kind, Kind::Light))
        && tokens.len() <= lexicon().max_phrase_words()
        && lexicon().contains(&with_light)
    {
        with_light
    } else {
        joined(tokens, false)
    }
}

/// True when WordNet files `phrase` under `person`.
fn is_person(phrase: &str) -> bool {
    lexicon().relation("person", phrase) == WordRelation::Hypernym
}

/// False when both words are in WordNet with no part of speech in common.
fn share_pos(a: &str, b: &str) -> bool {
    let lex = lexicon();
    let (pa, pb) = (lex.base_forms(a), lex.base_forms(b));
    pa.is_empty() || pb.is_empty() || pa.iter().any(|(_, x)| pb.iter().any(|(_, y)| x == y))
}

/// Combines word-by-word relations: one antonym makes the slot opposite; all compatible keep
/// it compatible; otherwise the closest incompatible relation.
fn combine(relations: &[WordRelation]) -> WordRelation {
    use WordRelation as R;
    if relations.contains(&R::Antonym) {
        return R::Antonym;
    }
    if relations.iter().all(|r| r.is_compatible()) {
        return R::Same;
    }
    relations
        .iter()
        .copied()
        .filter(|r| r.is_conflict() || !r.is_compatible())
        .min_by_key(|r| match r {
            R::CoHyponym { distance } => u32::from(*distance),
            R::Unrelated => 100,
            _ => 101,
        })
        .unwrap_or(R::Unknown)
}

impl RuleDetector {
    /// A detector with the given thresholds.
    #[must_use]
    pub fn new(config: RuleConfig) -> Self {
        Self {
            config,
            version: format!("rules/2+{}", lexicon().version()),
            spans: None,
        }
    }

    /// A detector whose default rule also asks `embedder` how close the two differing spans
    /// are in meaning: at [`RuleConfig::span_similarity`] or above, a substitution WordNet
    /// cannot relate is taken for a rewording ("practicing" / "playing"), not a conflict
    /// ("opened" / "collapsed"). Vectors of spans are remembered (bounded).
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use dash_core::detect::{DetectionConfig, RuleConfig, RuleDetector};
    /// # #[cfg(feature = "embed")]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let embedder = Arc::new(dash_core::embed::MiniLmEmbedder::load("models/all-MiniLM-L6-v2")?);
    /// let judge = RuleDetector::with_embedder(RuleConfig::default(), embedder.clone());
    /// let store = dash_core::Store::builder("/var/lib/dash")
    ///     .embedder(embedder)
    ///     .detection(DetectionConfig::default().detector(Arc::new(judge)))
    ///     .open()?;
    /// # Ok(()) }
    /// # #[cfg(not(feature = "embed"))]
    /// # fn main() {}
    /// ```
    #[must_use]
    pub fn with_embedder(config: RuleConfig, embedder: Arc<dyn Embedder>) -> Self {
        let version = format!(
            "rules/2+{}+spans:{}@{}",
            lexicon().version(),
            embedder.model(),
            config.span_similarity
        );
        Self {
            config,
            version,
            spans: Some(SpanSimilarity {
                embedder,
                vectors: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Its thresholds.
    #[must_use]
    pub fn config(&self) -> &RuleConfig {
        &self.config
    }

    /// The unit or counted thing of the number at `i`: the content word right after it.
    fn unit_of(tokens: &[Token], i: usize) -> Option<&Token> {
        tokens
            .get(i + 1)
            .filter(|t| matches!(t.kind, Kind::Content))
    }

    /// Numbers in a slot against each other: `Some` when they decide it.
    fn numbers(&self, a: &Analysis, b: &Analysis, h: &Hunk, al: &Alignment) -> Option<Slot> {
        let nums = |x: &Analysis, r: &std::ops::Range<usize>, moved: &[bool]| -> Vec<usize> {
            r.clone()
                .filter(|&i| !moved[i] && matches!(x.tokens[i].kind, Kind::Number(_)))
                .collect()
        };
        let na = nums(a, &h.a, &al.moved_a);
        let nb = nums(b, &h.b, &al.moved_b);
        if na.is_empty() || nb.is_empty() {
            return None;
        }
        let value = |t: &Token| match t.kind {
            Kind::Number(v) => v,
            _ => f64::NAN,
        };
        let is_year = |t: &Token| {
            let v = value(t);
            t.lower.len() == 4 && v.fract() == 0.0 && (1000.0..=2200.0).contains(&v)
        };
        let tol = self.config.numeric_tolerance;
        let same = |x: f64, y: f64, exact: bool| {
            if exact {
                x == y
            } else {
                let scale = x.abs().max(y.abs()).max(f64::MIN_POSITIVE);
                (x - y).abs() / scale <= tol
            }
        };
        for &i in &na {
            let ta = &a.tokens[i];
            let ua = Self::unit_of(&a.tokens, i);
            for &j in &nb {
                let tb = &b.tokens[j];
                let ub = Self::unit_of(&b.tokens, j);
                let years = is_year(ta) && is_year(tb);
                let same_unit = match (ua, ub) {
                    (Some(x), Some(y)) => x.matches(y),
                    (None, None) => true,
                    _ => years,
                };
                // A number that is part of a name ("VP-29", "Apollo 11") sits right after a
                // capitalised word: the conflict is then the name's.
                let in_name = |x: &Analysis, k: usize| {
                    k.checked_sub(1)
                        .and_then(|p| x.tokens.get(p))
                        .is_some_and(|t| t.capital)
                };
                if !same_unit {
                    continue;
                }
                if same(value(ta), value(tb), years) {
                    return Some(Slot::Compatible);
                }
                let unit = if years {
                    String::new()
                } else {
                    ua.map(|u| format!(" {}", u.surface)).unwrap_or_default()
                };
                let kind = if years { "date" } else { "number" };
                return Some(Slot::Conflict {
                    numeric: !(in_name(a, i) || in_name(b, j)),
                    default_rule: false,
                    confidence: 0.85,
                    reason: format!("{kind}: {} ↔ {}{unit}", ta.surface, tb.surface),
                });
            }
        }
        // Numbers of different units or things: not comparable.
        Some(Slot::Compatible)
    }

    /// Classifies one differing stretch.
    fn slot(&self, a: &Analysis, b: &Analysis, h: &Hunk, al: &Alignment) -> Slot {
        let side = |r: &std::ops::Range<usize>, moved: &[bool]| -> Vec<usize> {
            r.clone().filter(|&i| !moved[i]).collect()
        };
        let ia = side(&h.a, &al.moved_a);
        let ib = side(&h.b, &al.moved_b);
        if ia.is_empty() || ib.is_empty() {
            return Slot::Compatible; // an added qualifier or detail
        }
        if let Some(slot) = self.numbers(a, b, h, al) {
            return slot;
        }
        let ta: Vec<&Token> = ia.iter().map(|&i| &a.tokens[i]).collect();
        let tb: Vec<&Token> = ib.iter().map(|&j| &b.tokens[j]).collect();
        let spans = format!("{} ↔ {}", shown(&ta), shown(&tb));
        // Names: every word of the slot a name's (capitalised, a number, or unknown to
        // WordNet), a capital on each side: different names are different things.
        let name_like = |t: &&Token| match t.kind {
            Kind::Light => true,
            Kind::Number(_) => true,
            Kind::Content => t.capital || !t.known,
        };
        let is_name = |t: &[&Token]| t.iter().all(name_like) && t.iter().any(|x| x.capital);
        // Or names inside descriptions, and they differ ("Westerbork transit camp" /
        // "Auschwitz", "new London and North Eastern Railway" / "Southern Railway").
        let na: Vec<&Token> = ta.iter().copied().filter(|x| x.capital).collect();
        let nb: Vec<&Token> = tb.iter().copied().filter(|x| x.capital).collect();
        let other_names =
            !na.is_empty() && !nb.is_empty() && na.iter().all(|x| nb.iter().all(|y| !x.matches(y)));
        if (is_name(&ta) && is_name(&tb)) || other_names {
            return Slot::Conflict {
                numeric: false,
                default_rule: false,
                confidence: 0.8,
                reason: format!("name: {spans}"),
            };
        }
        let has_number = |t: &[&Token]| t.iter().any(|x| matches!(x.kind, Kind::Number(_)));
        if has_number(&ta) || has_number(&tb) {
            // A number against words ("three" / "a few"): a vaguer description, not a conflict.
            return Slot::Differs;
        }
        fn content<'t>(t: &[&'t Token]) -> Vec<&'t Token> {
            t.iter()
                .copied()
                .filter(|x| !matches!(x.kind, Kind::Light))
                .collect()
        }
        let (ca, cb) = (content(&ta), content(&tb));
        if ca.is_empty() && cb.is_empty() {
            // Only prepositions differ.
            let opposite = ta
                .iter()
                .any(|x| tb.iter().any(|y| light_antonyms(&x.lower, &y.lower)));
            return if opposite {
                Slot::Antonym(format!("antonym: {} ↔ {}", shown(&ta), shown(&tb)))
            } else {
                Slot::Compatible
            };
        }
        if ca.is_empty() || cb.is_empty() {
            // A preposition against a word ("outside" / "indoors"): only WordNet can tell.
            let relation = lexicon().relation(&joined(&ta, true), &joined(&tb, true));
            return match relation {
                WordRelation::Antonym => {
                    Slot::Antonym(format!("antonym: {} ↔ {}", shown(&ta), shown(&tb)))
                }
                r if r.is_compatible() => Slot::Compatible,
                _ => Slot::Differs,
            };
        }
        let (pa, pb) = (phrase(&ta), phrase(&tb));
        // One contains the other: a compound or a spelling variant ("onstage" / "stage").
        let (ja, jb) = (pa.replace(' ', ""), pb.replace(' ', ""));
        if ja.len().min(jb.len()) >= 4 && (ja.contains(&jb) || jb.contains(&ja)) {
            return Slot::Compatible;
        }
        let lex = lexicon();
        let related = |x: &&Token, y: &&Token| {
            if x.matches(y) {
                WordRelation::Same
            } else {
                lex.relation(&x.lower, &y.lower)
            }
        };
        let mut relation = lex.relation(&pa, &pb);
        if matches!(relation, WordRelation::Unknown | WordRelation::Unrelated) {
            if ca.len() == cb.len() && ca.len() > 1 {
                // Word for word ("junior lieutenant" / "deputy commander").
                let pairs: Vec<WordRelation> =
                    ca.iter().zip(&cb).map(|(x, y)| related(x, y)).collect();
                relation = combine(&pairs);
            } else if ca.len() != cb.len() && ca.len().max(cb.len()) <= self.config.max_slot_words {
                // A rewording of a span keeps one word related to one on the other side
                // ("gnawing and eating" / "devouring"); an opposite pair still wins.
                let cross: Vec<WordRelation> = ca
                    .iter()
                    .flat_map(|x| cb.iter().map(move |y| (x, y)))
                    .map(|(x, y)| related(x, y))
                    .collect();
                if cross.contains(&WordRelation::Antonym) {
                    relation = WordRelation::Antonym;
                } else if cross.iter().any(|r| r.is_compatible()) {
                    return Slot::Compatible;
                }
            }
        }
        match relation {
            WordRelation::Same
            | WordRelation::Synonym
            | WordRelation::Hypernym
            | WordRelation::Hyponym
            | WordRelation::Sibling => Slot::Compatible,
            WordRelation::Antonym => Slot::Antonym(format!("antonym: {spans}")),
            WordRelation::CoHyponym { .. } => Slot::Conflict {
                numeric: false,
                default_rule: false,
                confidence: 0.75,
                reason: format!("alternative: {spans}"),
            },
            WordRelation::Unrelated | WordRelation::Unknown => {
                // The default rule holds for one short slot against another of about its
                // size; a long span against a short one is a rewording.
                // Kinds of people overlap (a lady may be a girl, a doctor a mother): WordNet files
                // people by sex, age and occupation at once.
                if is_person(&pa) && is_person(&pb) {
                    return Slot::Differs;
                }
                // A substituted slot holds words of one kind; a noun against an adverb ("in a
                // green yard" / "outdoors") is a rewording.
                if let (Some(x), Some(y)) = (ca.last(), cb.last()) {
                    if !share_pos(&x.lower, &y.lower) {
                        return Slot::Differs;
                    }
                }
                // The object of an otherwise identical statement may be any length.
                let (la, lb) = (ca.len(), cb.len());
                let sized = la.max(lb) <= self.config.max_slot_words && la.abs_diff(lb) <= 1;
                let object = h.terminal && !h.leading && la.max(lb) <= MAX_OBJECT_WORDS;
                if !self.config.substitution || !(sized || object) {
                    return Slot::Differs;
                }
                // Close in meaning, by the embedder: a rewording WordNet does not know.
                if let Some(spans) = &self.spans {
                    let (ja, jb) = (joined(&ta, true), joined(&tb, true));
                    if spans
                        .cosine(&ja, &jb)
                        .is_some_and(|c| c >= self.config.span_similarity)
                    {
                        return Slot::Differs;
                    }
                }
                Slot::Conflict {
                    numeric: false,
                    default_rule: true,
                    confidence: 0.68,
                    reason: format!("substitution: {spans}"),
                }
            }
        }
    }

    /// Judges two analysed texts.
    fn judge_analysed(&self, a: &Analysis, b: &Analysis) -> Option<Judgement> {
        let (ca, cb) = (a.content(), b.content());
        if ca.min(cb) < self.config.min_content_words {
            return None;
        }
        let al = align(&a.tokens, &b.tokens);
        let shared = al
            .matched
            .iter()
            .filter(|(i, _)| !matches!(a.tokens[*i].kind, Kind::Light))
            .count()
            + al.moved_a.iter().filter(|m| **m).count();
        if shared == 0 {
            return None;
        }
        let judged: Vec<(&Hunk, Slot)> = al
            .hunks
            .iter()
            .map(|h| (h, self.slot(a, b, h, &al)))
            .collect();
        // A subject that differs with nothing relating the two is another subject: the texts
        // are about different things ("Siemens …" / "Ralph Lauren Corporation …").
        let in_subject = |h: &Hunk| match (a.subject_len, b.subject_len) {
            (Some(x), Some(y)) => h.a.end <= x && h.b.end <= y,
            _ => h.leading,
        };
        let other_subject = judged
            .iter()
            .any(|(h, s)| in_subject(h) && *s == Slot::Differs);
        let slots: Vec<(&Hunk, Slot)> = judged
            .into_iter()
            .filter(|(_, s)| !matches!(s, Slot::Compatible | Slot::Differs))
            .collect();
        let coverage = |slot_a: usize, slot_b: usize| {
            let rest_a = ca.saturating_sub(slot_a).max(1) as f32;
            let rest_b = cb.saturating_sub(slot_b).max(1) as f32;
            (shared as f32 / rest_a)
                .min(shared as f32 / rest_b)
                .min(1.0)
        };
        let negated = a.negations.len() % 2 != b.negations.len() % 2;
        if negated && !other_subject {
            // "did not increase" ≈ "decreased": an opposite word under a negation agrees; and a
            // negated word replaced by another ("is not declining" / "is growing") is no
            // plain negation of the same statement.
            if slots.iter().any(|(_, s)| matches!(s, Slot::Antonym(_))) {
                return None;
            }
            let negates_slot = |x: &Analysis, r: &std::ops::Range<usize>| {
                x.negated_at.iter().any(|at| r.contains(at))
            };
            if slots
                .iter()
                .any(|(h, _)| negates_slot(a, &h.a) || negates_slot(b, &h.b))
            {
                return None;
            }
            let cov = coverage(0, 0);
            if shared < 2 && ca.min(cb) > 2 || cov < self.config.min_coverage {
                return None;
            }
            let cue = a
                .negations
                .iter()
                .chain(&b.negations)
                .next()
                .cloned()
                .unwrap_or_default();
            let others = slots.len() as f32;
            let confidence = (0.92 - 0.08 * others) * (0.9 + 0.1 * cov);
            let mut reason = format!("negation: {cue}");
            if let Some((_, Slot::Conflict { reason: r, .. })) = slots.first() {
                reason.push_str(&format!("; {r}"));
            }
            return Some(Judgement { confidence, reason });
        }
        let [(hunk, slot)] = slots.as_slice() else {
            return None; // nothing conflicting, or two different statements
        };
        if other_subject {
            return None;
        }
        let (numeric, confidence, reason) = match slot {
            Slot::Compatible | Slot::Differs => return None,
            Slot::Antonym(r) => (false, 0.85, r.clone()),
            Slot::Conflict {
                numeric,
                default_rule: _,
                confidence,
                reason,
            } => (*numeric, *confidence, reason.clone()),
        };
        if in_subject(hunk) && !numeric && !(a.definite_role && b.definite_role) {
            return None; // another subject
        }
        // A slot that runs from one text's subject into its predicate pairs words of different
        // roles ("Paris, capital of France" / "the capital of Australia is Sydney").
        let straddles = |r: &std::ops::Range<usize>, subject: Option<usize>| {
            subject.is_some_and(|s| r.start < s && r.end > s)
        };
        if straddles(&hunk.a, a.subject_len) || straddles(&hunk.b, b.subject_len) {
            return None;
        }
        let slot_a = hunk
            .a
            .clone()
            .filter(|&i| !matches!(a.tokens[i].kind, Kind::Light))
            .count();
        let slot_b = hunk
            .b
            .clone()
            .filter(|&j| !matches!(b.tokens[j].kind, Kind::Light))
            .count();
        let cov = coverage(slot_a, slot_b);
        // Saying "the same thing but for one slot" takes a shared context: two content words at
        // least, and half of the shorter text (a lone shared word is not a context).
        let overall = shared as f32 / ca.min(cb).max(1) as f32;
        if cov < self.config.min_coverage || shared < 2 || overall < self.config.min_coverage {
            return None;
        }
        Some(Judgement {
            confidence: confidence * (0.9 + 0.1 * cov),
            reason,
        })
    }
}

impl ContradictionDetector for RuleDetector {
    fn judge(&self, a: &str, b: &str) -> Option<Judgement> {
        loop {
            let (x, y) = (analyse(a), analyse(b));
            // Keys compare within one generation of the key cache (it rarely starts afresh).
            if x.generation == y.generation {
                return self.judge_analysed(&x, &y);
            }
        }
    }

    fn judge_batch(&self, pairs: &[(&str, &str)]) -> Vec<Option<Judgement>> {
        // One claim is usually judged against several: analyse each text once.
        let mut cache: HashMap<&str, Analysis> = HashMap::new();
        for (a, b) in pairs {
            for t in [*a, *b] {
                if !cache.contains_key(t) {
                    cache.insert(t, analyse(t));
                }
            }
        }
        pairs
            .iter()
            .map(|(a, b)| match (cache.get(a), cache.get(b)) {
                (Some(x), Some(y)) if x.generation == y.generation => self.judge_analysed(x, y),
                _ => self.judge(a, b),
            })
            .collect()
    }

    fn version(&self) -> &str {
        &self.version
    }
}

#[cfg(test)]
mod tests;
