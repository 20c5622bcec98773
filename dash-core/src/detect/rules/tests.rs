//! The rule judge on each kind of conflict and of compatible difference.

use super::*;

fn judge(a: &str, b: &str) -> Option<Judgement> {
    let d = RuleDetector::default();
    let one = d.judge(a, b);
    // Symmetric: the order of the pair never matters.
    let other = d.judge(b, a);
    assert_eq!(one.is_some(), other.is_some(), "asymmetric: {a} / {b}");
    one
}

fn conflict(a: &str, b: &str, reason: &str) {
    let j = judge(a, b).unwrap_or_else(|| panic!("no conflict: {a} / {b}"));
    assert!(j.confidence >= 0.6, "{a} / {b}: {j:?}");
    assert!(
        j.reason.contains(reason),
        "{a} / {b}: {j:?}, wanted {reason:?}"
    );
}

fn compatible(a: &str, b: &str) {
    assert_eq!(judge(a, b), None, "{a} / {b}");
}

#[test]
fn negation_and_its_scope() {
    conflict(
        "A man is playing a guitar",
        "A man is not playing a guitar",
        "negation: not",
    );
    conflict(
        "There is no man playing a guitar",
        "A man is playing a guitar",
        "negation: no",
    );
    conflict(
        "Nobody is playing the guitar",
        "A man is playing the guitar",
        "negation",
    );
    conflict(
        "Arctic sea ice isn't declining",
        "Arctic sea ice is declining",
        "negation: isn't",
    );
    // Double negation is no asymmetry; negation about something else is no conflict.
    compatible(
        "It is not untrue that ice melts",
        "It is not untrue that ice melts",
    );
    compatible(
        "Arctic sea ice is declining",
        "Coral reefs are not bleaching",
    );
    // An antonym under a negation agrees.
    compatible("Sea levels did not increase", "Sea levels decreased");
}

#[test]
fn antonyms_and_co_hyponyms_from_wordnet() {
    conflict(
        "Global sea levels increased last century",
        "Global sea levels decreased last century",
        "increased ↔ decreased",
    );
    conflict(
        "The surfer is riding a big wave",
        "The surfer is riding a small wave",
        "big ↔ small",
    );
    conflict(
        "A man is playing a guitar",
        "A man is playing a piano",
        "guitar ↔ piano",
    );
    conflict(
        "The store opened on Monday",
        "The store closed on Monday",
        "opened ↔ closed",
    );
}

#[test]
fn names_numbers_dates_and_the_default_slot() {
    conflict(
        "Alice works at Google",
        "Alice works at Meta",
        "name: Google ↔ Meta",
    );
    conflict(
        "The team has 8 engineers",
        "The team has 20 engineers",
        "8 ↔ 20 engineers",
    );
    conflict(
        "The bridge opened in 1932",
        "The bridge opened in 1935",
        "date: 1932 ↔ 1935",
    );
    conflict(
        "The bridge opened in 1932",
        "The bridge collapsed in 1932",
        "opened ↔ collapsed",
    );
    conflict(
        "The capital of Australia is Canberra",
        "The capital of Australia is Sydney",
        "Canberra ↔ Sydney",
    );
    conflict(
        "Newton D. Baker House occupant George Peter.",
        "Newton D. Baker House occupant Jacqueline Kennedy.",
        "George Peter ↔ Jacqueline Kennedy",
    );
    // Rounding is not a conflict; different quantities are not compared.
    compatible("The tower is 330 m tall", "The tower is 330.4 m tall");
    compatible(
        "The tower is 330 m tall and 125 m wide",
        "The tower is 330 m tall",
    );
    compatible("Three women are dancing", "A few women are dancing");
}

#[test]
fn guards_synonyms_hypernyms_qualifiers_paraphrases() {
    compatible(
        "The lady is slicing a tomato",
        "The woman is slicing a tomato",
    );
    compatible(
        "The kids are playing outside",
        "The boys are playing outside",
    );
    compatible(
        "A man is playing a guitar",
        "A man is playing an instrument",
    );
    compatible(
        "A man is playing an electric guitar",
        "A man is playing guitar",
    );
    compatible(
        "A man is hurriedly getting into a car",
        "A man is getting into a car",
    );
    compatible(
        "The horse is being ridden by a man",
        "A man is riding the horse",
    );
    compatible("A band is playing on a stage", "A band is playing onstage");
    compatible(
        "Someone is strumming the guitar",
        "Someone is playing the guitar",
    );
}

#[test]
fn another_subject_is_another_fact_unless_the_role_is_unique() {
    compatible("John works at Google", "Mary works at Google");
    compatible("A man is slicing a potato", "A woman is slicing a potato");
    conflict(
        "Paris is the capital of France",
        "Lyon is the capital of France",
        "Paris ↔ Lyon",
    );
    // Two different slots are two different statements.
    compatible("The bridge opened in 1932", "The tunnel collapsed in 1932");
}

#[test]
fn unrelated_or_short_texts_are_left_alone() {
    for (a, b) in [
        ("CO2 is a greenhouse gas", "CO2 is a greenhouse gas"),
        (
            "The sun drives the climate",
            "Volcanoes emit sulphur dioxide",
        ),
        ("", "Ice is not melting"),
        ("not", "no"),
    ] {
        compatible(a, b);
    }
}

#[test]
fn batches_judge_as_single_calls_do() {
    let d = RuleDetector::default();
    let pairs = [
        ("Alice works at Google", "Alice works at Meta"),
        ("Alice works at Google", "Alice works at Google"),
        ("A man is playing a guitar", "A man is not playing a guitar"),
    ];
    let batch = d.judge_batch(&pairs);
    for ((a, b), got) in pairs.iter().zip(batch) {
        assert_eq!(got, d.judge(a, b));
    }
    assert!(d.version().starts_with("rules/2+wordnet"));
}
