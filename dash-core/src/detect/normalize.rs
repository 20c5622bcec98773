//! Normal form for comparing structured values: Unicode NFKC, case folding, whitespace
//! collapsed, and spaces before punctuation dropped (`"Newton D . Baker"` and
//! `"newton d. baker"` are the same object).

use unicode_normalization::UnicodeNormalization;

/// The comparison form of a subject, predicate or object.
#[must_use]
pub fn normalize(value: &str) -> String {
    let folded: String = value.nfkc().flat_map(char::to_lowercase).collect();
    let mut out = String::with_capacity(folded.len());
    let mut pending_space = false;
    for c in folded.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space && !matches!(c, '.' | ',' | ';' | ':' | '!' | '?' | ')' | '\'') {
            out.push(' ');
        }
        pending_space = false;
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_whitespace_and_unicode_forms_compare_equal() {
        assert_eq!(
            normalize("  Newton D . Baker "),
            normalize("newton d. baker")
        );
        assert_eq!(normalize("ＡＢＣ"), "abc"); // full-width forms (NFKC)
        assert_eq!(normalize("Cafe\u{301}"), normalize("Café")); // combining accent
        assert_eq!(normalize("STRASSE"), "strasse");
        assert_ne!(normalize("Paris"), normalize("Pari s"));
        assert_eq!(normalize(""), "");
    }
}
