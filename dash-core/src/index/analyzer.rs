//! [`Analyzer`]: text → search terms (Unicode word segmentation, case folding, optional English
//! stopwords, Snowball English stemming).

use std::borrow::Cow;
use std::fmt;

use rust_stemmers::{Algorithm, Stemmer};
use unicode_segmentation::UnicodeSegmentation;

/// English function words dropped by [`Analyzer::english`]: Lucene's classic English list minus
/// `no` and `not`, which a contradiction-aware engine must keep ("X is not Y" vs "X is Y"). A
/// `match` compiles to a length switch and a few byte comparisons, cheaper than a search over a
/// list for every word analysed.
fn is_stopword(word: &str) -> bool {
    matches!(
        word,
        "a" | "an"
            | "and"
            | "are"
            | "as"
            | "at"
            | "be"
            | "but"
            | "by"
            | "for"
            | "if"
            | "in"
            | "into"
            | "is"
            | "it"
            | "of"
            | "on"
            | "or"
            | "such"
            | "that"
            | "the"
            | "their"
            | "then"
            | "there"
            | "these"
            | "they"
            | "this"
            | "to"
            | "was"
            | "will"
            | "with"
    )
}

/// Turns text into the terms the lexical index stores and queries: words by Unicode word
/// boundaries (UAX #29), lower-cased, optionally without English stopwords, optionally stemmed
/// with the Snowball English stemmer.
///
/// ```
/// use dash_core::index::Analyzer;
///
/// let a = Analyzer::english();
/// assert_eq!(a.terms("The glaciers are NOT melting!"), ["glacier", "not", "melt"]);
/// ```
pub struct Analyzer {
    stemmer: Option<Stemmer>,
    stopwords: bool,
}

impl fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Analyzer")
            .field("stemming", &self.stemmer.is_some())
            .field("stopwords", &self.stopwords)
            .finish()
    }
}

impl Default for Analyzer {
    /// [`Analyzer::english`].
    fn default() -> Self {
        Self::english()
    }
}

impl Analyzer {
    /// English: stemming and stopwords.
    #[must_use]
    pub fn english() -> Self {
        Self::new(true, true)
    }

    /// Choose stemming and stopword removal; words are always segmented and lower-cased.
    #[must_use]
    pub fn new(stemming: bool, stopwords: bool) -> Self {
        Self {
            stemmer: stemming.then(|| Stemmer::create(Algorithm::English)),
            stopwords,
        }
    }

    /// Calls `f` with each term of `text`, in order.
    pub fn for_each_term(&self, text: &str, mut f: impl FnMut(&str)) {
        self.for_each_word(text, |word| f(&self.stem(word)));
    }

    /// Calls `f` with each word of `text` that becomes a term, lower-cased, not yet stemmed (an
    /// index can cache word → term, since stemming a word always gives the same term).
    pub(crate) fn for_each_word(&self, text: &str, mut f: impl FnMut(&str)) {
        for word in text.unicode_words() {
            // Most words are ASCII lower case already: fold (and allocate) only when needed.
            let lower: Cow<'_, str> =
                if word.is_ascii() && !word.bytes().any(|b| b.is_ascii_uppercase()) {
                    Cow::Borrowed(word)
                } else {
                    Cow::Owned(word.to_lowercase())
                };
            if self.stopwords && is_stopword(&lower) {
                continue;
            }
            f(&lower);
        }
    }

    /// The term of a word given by [`Self::for_each_word`].
    pub(crate) fn stem<'a>(&self, word: &'a str) -> Cow<'a, str> {
        match &self.stemmer {
            Some(stemmer) => stemmer.stem(word),
            None => Cow::Borrowed(word),
        }
    }

    /// The terms of `text`, in order.
    #[must_use]
    pub fn terms(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.for_each_term(text, |t| out.push(t.to_owned()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lucene's classic English stopwords minus `no` and `not`.
    const ENGLISH_STOPWORDS: &[&str] = &[
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is",
        "it", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they",
        "this", "to", "was", "will", "with",
    ];

    #[test]
    fn stopword_match_is_exactly_the_list() {
        assert!(ENGLISH_STOPWORDS.iter().all(|w| is_stopword(w)));
        for w in ["no", "not", "nor", "the_", "", "A", "thes", "withs"] {
            assert!(!is_stopword(w), "{w}");
        }
        assert_eq!(ENGLISH_STOPWORDS.len(), 31);
    }

    #[test]
    fn segments_folds_stems_and_keeps_negation() {
        let a = Analyzer::english();
        assert_eq!(
            a.terms("Émissions ROSE by 3.5% in 2019; it wasn't predicted."),
            ["émission", "rose", "3.5", "2019", "wasn't", "predict"]
        );
        assert_eq!(a.terms("no evidence"), ["no", "evid"]);
    }

    #[test]
    fn plain_analyzer_only_segments_and_folds() {
        let a = Analyzer::new(false, false);
        assert_eq!(
            a.terms("The Cats, the DOGS"),
            ["the", "cats", "the", "dogs"]
        );
        assert!(a.terms("  ...  ").is_empty());
    }
}
