//! A claim text as the rule judge reads it: words with their base forms, numbers with their
//! values, negation cues counted, function words set aside.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use rust_stemmers::{Algorithm, Stemmer};
use unicode_segmentation::UnicodeSegmentation;

use crate::lexicon::lexicon;

/// What a token is to the alignment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Kind {
    /// A content word: compared, and a substituted one is a candidate conflict.
    Content,
    /// A preposition or conjunction: aligned, but alone never a conflict (unless an antonym).
    Light,
    /// A number, with its value.
    Number(f64),
}

/// One word of the text that takes part in the alignment.
#[derive(Debug, Clone)]
pub(super) struct Token {
    /// As written.
    pub(super) surface: String,
    /// Lower case.
    pub(super) lower: String,
    /// Comparison keys (interned stems of the word and of its WordNet base forms); two tokens
    /// match when they share one.
    pub(super) keys: Arc<[u32]>,
    /// WordNet knows the word (some base form is a lemma).
    pub(super) known: bool,
    pub(super) kind: Kind,
    /// Written with a capital letter (at the start of the text: and unknown to WordNet):
    /// likely a name.
    pub(super) capital: bool,
}

impl Token {
    /// True when the two tokens are the same word up to inflection.
    pub(super) fn matches(&self, other: &Token) -> bool {
        match (self.kind, other.kind) {
            (Kind::Number(a), Kind::Number(b)) => a == b,
            (Kind::Number(_), _) | (_, Kind::Number(_)) => false,
            _ => self.keys.iter().any(|k| other.keys.contains(k)),
        }
    }
}

/// A text analysed for the judge.
#[derive(Debug, Clone, Default)]
pub(super) struct Analysis {
    /// The aligned words, in order.
    pub(super) tokens: Vec<Token>,
    /// Negation cues, as written (`not`, `n't`, `no`, `never`, `nobody`...).
    pub(super) negations: Vec<String>,
    /// For each cue, the index of the token it comes before (what it negates first).
    pub(super) negated_at: Vec<usize>,
    /// A copula followed by `the` ("… is the capital of …"): the predicate is a role one thing
    /// holds, so another subject in it is a conflict.
    pub(super) definite_role: bool,
    /// How many tokens come before the first auxiliary or copula ("A man | is playing"): the
    /// subject. `None` without one ("Siemens chief executive officer Joe Kaeser").
    pub(super) subject_len: Option<usize>,
    /// The key cache's generation the keys belong to.
    pub(super) generation: u64,
}

impl Analysis {
    /// Content words (numbers included).
    pub(super) fn content(&self) -> usize {
        self.tokens
            .iter()
            .filter(|t| !matches!(t.kind, Kind::Light))
            .count()
    }
}

fn stemmer() -> &'static Stemmer {
    static STEMMER: OnceLock<Stemmer> = OnceLock::new();
    STEMMER.get_or_init(|| Stemmer::create(Algorithm::English))
}

/// Words that carry no content for the comparison: articles, determiners and quantifiers,
/// auxiliaries and copulas, pronouns, existential `there`.
fn is_function(word: &str) -> bool {
    is_auxiliary(word)
        || matches!(
            word,
            "a" | "an"
                | "the"
                | "some"
                | "any"
                | "this"
                | "that"
                | "these"
                | "those"
                | "each"
                | "every"
                | "all"
                | "both"
                | "another"
                | "other"
                | "such"
                | "'s"
                | "having"
                | "it"
                | "its"
                | "he"
                | "she"
                | "him"
                | "his"
                | "her"
                | "hers"
                | "they"
                | "them"
                | "their"
                | "theirs"
                | "we"
                | "us"
                | "our"
                | "you"
                | "your"
                | "i"
                | "me"
                | "my"
                | "who"
                | "whom"
                | "whose"
                | "which"
                | "what"
                | "there"
                | "here"
                | "also"
                | "very"
                | "really"
                | "just"
                | "so"
                | "too"
                | "then"
                | "one"
        )
}

/// Auxiliaries and copulas: where the predicate starts.
fn is_auxiliary(word: &str) -> bool {
    matches!(
        word,
        "is" | "are"
            | "was"
            | "were"
            | "am"
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
            | "shall"
            | "should"
            | "can"
            | "could"
            | "may"
            | "might"
            | "must"
    )
}

/// Prepositions and conjunctions.
fn is_light(word: &str) -> bool {
    matches!(
        word,
        "in" | "on"
            | "at"
            | "to"
            | "from"
            | "by"
            | "with"
            | "of"
            | "for"
            | "into"
            | "onto"
            | "over"
            | "under"
            | "about"
            | "through"
            | "across"
            | "near"
            | "and"
            | "or"
            | "but"
            | "as"
            | "than"
            | "up"
            | "down"
            | "out"
            | "off"
            | "away"
            | "around"
            | "along"
            | "beside"
            | "behind"
            | "before"
            | "after"
            | "above"
            | "below"
            | "inside"
            | "outside"
            | "during"
            | "since"
            | "until"
            | "upon"
            | "within"
            | "toward"
            | "towards"
            | "while"
            | "per"
            | "via"
    )
}

/// Negation cues. `None` when `word` is not one; else the words it stands for besides the
/// negation (`nobody` is "no person").
fn negation(word: &str) -> Option<Option<&'static str>> {
    match word {
        "not" | "no" | "never" | "neither" | "nor" | "cannot" | "without" => Some(None),
        "nobody" | "noone" => Some(Some("person")),
        "nothing" => Some(Some("thing")),
        "none" => Some(None),
        "nowhere" => Some(Some("place")),
        w if w.ends_with("n't") => Some(None),
        _ => None,
    }
}

/// Number words (cardinals up to twenty, tens, and scale words as multipliers).
fn number_word(word: &str) -> Option<f64> {
    let v = match word {
        "zero" => 0.0,
        "two" => 2.0,
        "three" => 3.0,
        "four" => 4.0,
        "five" => 5.0,
        "six" => 6.0,
        "seven" => 7.0,
        "eight" => 8.0,
        "nine" => 9.0,
        "ten" => 10.0,
        "eleven" => 11.0,
        "twelve" => 12.0,
        "thirteen" => 13.0,
        "fourteen" => 14.0,
        "fifteen" => 15.0,
        "sixteen" => 16.0,
        "seventeen" => 17.0,
        "eighteen" => 18.0,
        "nineteen" => 19.0,
        "twenty" => 20.0,
        "thirty" => 30.0,
        "forty" => 40.0,
        "fifty" => 50.0,
        "sixty" => 60.0,
        "seventy" => 70.0,
        "eighty" => 80.0,
        "ninety" => 90.0,
        "hundred" => 100.0,
        _ => return None,
    };
    Some(v)
}

fn scale_word(word: &str) -> Option<f64> {
    match word {
        "thousand" => Some(1e3),
        "million" => Some(1e6),
        "billion" => Some(1e9),
        "trillion" => Some(1e12),
        _ => None,
    }
}

/// A written number: `1,000`, `3.5`, `20%`, `1932`.
fn parse_number(word: &str) -> Option<f64> {
    if !word.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let cleaned: String = word
        .trim_end_matches('%')
        .chars()
        .filter(|c| *c != ',')
        .collect();
    cleaned.parse().ok()
}

/// Words whose keys are remembered at most; past it the memory starts afresh (ids included),
/// so hostile input cannot grow it without bound.
const KEY_CACHE_MAX: usize = 200_000;

/// Word → interned keys, and key string → id; `generation` counts restarts (ids of two
/// generations are not comparable).
#[derive(Default)]
struct Keys {
    words: HashMap<Box<str>, (Arc<[u32]>, bool), foldhash::fast::RandomState>,
    ids: HashMap<String, u32, foldhash::fast::RandomState>,
    generation: u64,
}

impl Keys {
    fn intern(&mut self, key: String) -> u32 {
        let next = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
        *self.ids.entry(key).or_insert(next)
    }
}

fn keys_cache() -> std::sync::MutexGuard<'static, Keys> {
    static CACHE: OnceLock<Mutex<Keys>> = OnceLock::new();
    CACHE
        .get_or_init(|| Mutex::new(Keys::default()))
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The cache's current generation.
pub(super) fn keys_generation() -> u64 {
    keys_cache().generation
}

/// The comparison keys of a word, interned and remembered: a claim is judged against several
/// others and a tenant's vocabulary repeats (stemming and morphy cost more than a lookup).
/// Two analyses compare keys only when made in one generation ([`Analysis::generation`]).
fn keys_of(lower: &str) -> (Arc<[u32]>, bool) {
    if let Some((keys, known)) = keys_cache().words.get(lower) {
        return (Arc::clone(keys), *known);
    }
    let (strings, known) = compute_keys(lower);
    let mut cache = keys_cache();
    if cache.words.len() >= KEY_CACHE_MAX {
        let generation = cache.generation.wrapping_add(1);
        *cache = Keys {
            generation,
            ..Keys::default()
        };
    }
    let keys: Arc<[u32]> = strings.into_iter().map(|k| cache.intern(k)).collect();
    cache.words.insert(lower.into(), (Arc::clone(&keys), known));
    (keys, known)
}

/// Its stem and the stems of its WordNet base forms, and whether it has any.
fn compute_keys(lower: &str) -> (Vec<String>, bool) {
    let stem = |w: &str| stemmer().stem(w).into_owned();
    let mut keys = vec![stem(lower)];
    let bases = lexicon().base_forms(lower);
    let known = !bases.is_empty();
    for (base, _) in bases {
        let k = stem(base);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    (keys, known)
}

/// Analyses `text`, all of its keys from one generation of the key cache.
pub(super) fn analyse(text: &str) -> Analysis {
    loop {
        let before = keys_generation();
        let mut out = analyse_once(text);
        if keys_generation() == before {
            out.generation = before;
            return out;
        }
    }
}

fn analyse_once(text: &str) -> Analysis {
    let mut out = Analysis::default();
    let words: Vec<&str> = text.unicode_words().collect();
    let mut i = 0;
    while i < words.len() {
        let surface = words[i];
        let lower = surface.to_lowercase();
        let position = i;
        i += 1;
        if lower == "the"
            && position > 0
            && matches!(
                words[position - 1].to_lowercase().as_str(),
                "is" | "are" | "was" | "were" | "be" | "been" | "became" | "becomes" | "remains"
            )
        {
            out.definite_role = true;
        }
        // "no one" is one negative pronoun.
        if lower == "no" && words.get(i).is_some_and(|w| w.eq_ignore_ascii_case("one")) {
            i += 1;
            out.negations.push("no one".into());
            out.negated_at.push(out.tokens.len());
            out.tokens.push(content_token("person", "person", false));
            continue;
        }
        if let Some(stands_for) = negation(&lower) {
            out.negations.push(lower.clone());
            out.negated_at.push(out.tokens.len());
            if let Some(word) = stands_for {
                out.tokens.push(content_token(word, word, false));
            }
            continue;
        }
        if let Some(mut value) = parse_number(&lower).or_else(|| number_word(&lower)) {
            // "3 million", "two hundred".
            while let Some(scale) = words
                .get(i)
                .map(|w| w.to_lowercase())
                .and_then(|w| scale_word(&w).or_else(|| (w == "hundred").then_some(100.0)))
            {
                value *= scale;
                i += 1;
            }
            out.tokens.push(Token {
                surface: surface.to_owned(),
                lower: lower.clone(),
                keys: Arc::from([]),
                known: false,
                kind: Kind::Number(value),
                capital: false,
            });
            continue;
        }
        if is_function(&lower) {
            if out.subject_len.is_none() && is_auxiliary(&lower) {
                out.subject_len = Some(out.tokens.len());
            }
            continue;
        }
        // A capital at the start of the text marks a name only when the word is no common
        // word WordNet knows ("Siemens …" but not "The …", "Paris …" stays ambiguous).
        let (keys, known) = keys_of(&lower);
        let capital = surface.starts_with(char::is_uppercase) && (position > 0 || !known);
        let kind = if is_light(&lower) {
            Kind::Light
        } else {
            Kind::Content
        };
        out.tokens.push(Token {
            surface: surface.to_owned(),
            lower,
            keys,
            known,
            kind,
            capital: capital && kind == Kind::Content,
        });
    }
    out
}

fn content_token(surface: &str, lower: &str, capital: bool) -> Token {
    let (keys, known) = keys_of(lower);
    Token {
        surface: surface.to_owned(),
        lower: lower.to_owned(),
        keys,
        known,
        kind: Kind::Content,
        capital,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lowers(a: &Analysis) -> Vec<&str> {
        a.tokens.iter().map(|t| t.lower.as_str()).collect()
    }

    #[test]
    fn function_words_go_negations_are_counted_numbers_parsed() {
        let a = analyse("There is no man playing a guitar");
        assert_eq!(lowers(&a), ["man", "playing", "guitar"]);
        assert_eq!(a.negations, ["no"]);
        let a = analyse("The man isn't slicing 3 million potatoes");
        assert_eq!(a.negations, ["isn't"]);
        assert!(matches!(a.tokens[2].kind, Kind::Number(v) if v == 3e6));
        let a = analyse("Nobody is playing");
        assert_eq!(lowers(&a), ["person", "playing"]);
        assert_eq!(a.negations, ["nobody"]);
        let a = analyse("No one cuts it");
        assert_eq!(lowers(&a), ["person", "cuts"]);
    }

    #[test]
    fn capitals_mark_names_and_a_first_word_only_when_wordnet_does_not_know_it() {
        let a = analyse("Alice works at Google");
        assert!(a.tokens[0].capital);
        assert!(a.tokens[3].capital);
        let a = analyse("Water flows to Google");
        assert!(!a.tokens[0].capital);
        assert!(a.tokens[3].capital);
    }

    #[test]
    fn inflections_share_a_key() {
        let a = analyse("children ran");
        let b = analyse("child runs");
        assert!(a.tokens[0].matches(&b.tokens[0]));
        assert!(a.tokens[1].matches(&b.tokens[1]));
    }
}
