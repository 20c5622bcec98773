//! Climate-FEVER: the built-in judge as a claim–evidence `contradicts` classifier (a baseline:
//! its contradictions are paraphrase and world knowledge, the place for a model).

use std::path::Path;

use dash_bench::data::climate_claims;
use dash_bench::Res;
use dash_core::detect::{ContradictionDetector, RuleDetector};

use super::prf::Prf;

/// A claim–evidence pair and whether the annotators said `contradicts`.
struct Pair {
    /// The claim sentence.
    claim: String,
    /// The evidence sentence.
    evidence: String,
    /// The human stance is `contradicts`.
    contradicts: bool,
}

/// Every claim–evidence pair of `climate-fever/claims.jsonl`.
fn pairs(data: &Path) -> Res<Vec<Pair>> {
    let mut out = Vec::new();
    for c in climate_claims(data)? {
        for e in c.evidence {
            out.push(Pair {
                claim: c.text.clone(),
                evidence: e.text,
                contradicts: e.stance == "contradicts",
            });
        }
    }
    Ok(out)
}

/// The detector's verdicts at confidence `floor` against the annotators'.
fn classify(pairs: &[Pair], detector: &dyn ContradictionDetector, floor: f32) -> Prf {
    let mut prf = Prf::default();
    for pair in pairs {
        let predicted = detector
            .judge(&pair.claim, &pair.evidence)
            .is_some_and(|j| j.confidence >= floor);
        match (predicted, pair.contradicts) {
            (true, true) => prf.tp += 1,
            (true, false) => prf.fp += 1,
            (false, true) => prf.fn_ += 1,
            (false, false) => {}
        }
    }
    prf
}

/// Scores the rule judge at three confidence floors and prints the table.
pub fn run(data: &Path) -> Res<()> {
    let pairs = pairs(data)?;
    let detector = RuleDetector::default();
    let contradicting = pairs.iter().filter(|p| p.contradicts).count();
    println!(
        "## Climate-FEVER: the rule judge as a claim–evidence `contradicts` classifier\n\n\
         {} pairs ({contradicting} contradicts).\n",
        pairs.len(),
    );
    println!("| floor | TP | FP | FN | precision | recall | F1 |\n|---|---|---|---|---|---|---|");
    for floor in [0.6_f32, 0.7, 0.8] {
        println!(
            "{}",
            classify(&pairs, &detector, floor).row(&format!("{floor}"))
        );
    }
    let always = Prf {
        tp: contradicting,
        fp: pairs.len() - contradicting,
        fn_: 0,
    };
    println!(
        "\nFor scale: answering `contradicts` for every pair gives precision {:.3}.\n",
        always.p()
    );
    Ok(())
}
