//! The real evaluation data of `../shared/data` (see its README; nothing is copied into the
//! repository): Climate-FEVER claims and evidence, TimeQA temporal facts, the SICK trial pairs,
//! and their MiniLM embeddings (`stem.ids` + `stem.f32`, 384 floats a row).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use dash_core::Timestamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::vectors::Matrix;
use crate::Res;

/// Where the data is unless `--data` says otherwise (relative to the workspace, where `cargo run`
/// starts).
pub const DEFAULT_DIR: &str = "../shared/data";

/// The dimension of the MiniLM embeddings of the data.
pub const MINILM_DIM: usize = 384;

/// The non-empty lines of a file.
pub fn lines(path: &Path) -> Res<Vec<String>> {
    let file = File::open(path)
        .map_err(|e| format!("cannot open {}: {e} (pass --data DIR)", path.display()))?;
    let mut out = Vec::new();
    for line in BufReader::new(file).lines() {
        let line = line?;
        if !line.trim().is_empty() {
            out.push(line);
        }
    }
    Ok(out)
}

/// Every non-empty line of a JSON-lines file, parsed; an error names the file and line.
pub fn jsonl<T: DeserializeOwned>(path: &Path) -> Res<Vec<T>> {
    lines(path)?
        .iter()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line)
                .map_err(|e| format!("{} line {}: {e}", path.display(), i + 1).into())
        })
        .collect()
}

/// The start of a `YYYY`, `YYYY-MM` or `YYYY-MM-DD` period, and the start of the next one (the
/// data's periods are inclusive: "from 1811 to 1827" holds through 1827).
///
/// ```
/// use dash_bench::data::period;
/// use dash_core::Timestamp;
/// let (from, to) = period("1811").ok_or("no period")?;
/// assert_eq!((Some(from), Some(to)), (Timestamp::from_year(1811), Timestamp::from_year(1812)));
/// assert!(period("later").is_none());
/// # Ok::<(), &str>(())
/// ```
pub fn period(text: &str) -> Option<(Timestamp, Timestamp)> {
    let mut parts = text.trim().split('-').map(|p| p.parse::<i32>().ok());
    let y = parts.next()??;
    let m = parts.next().flatten();
    let d = parts.next().flatten();
    let at = |y: i32, m: i32, d: i32| {
        Timestamp::parse_rfc3339(&format!("{y:04}-{m:02}-{d:02}T00:00:00Z")).ok()
    };
    match (m, d) {
        (None, _) => Some((at(y, 1, 1)?, at(y + 1, 1, 1)?)),
        (Some(m), None) => {
            let next = if m == 12 {
                at(y + 1, 1, 1)
            } else {
                at(y, m + 1, 1)
            };
            Some((at(y, m, 1)?, next?))
        }
        (Some(m), Some(d)) => {
            let start = at(y, m, d)?;
            Some((
                start,
                Timestamp::from_unix_micros(start.as_unix_micros() + 86_400_000_000),
            ))
        }
    }
}

/// A string field that may be missing or `null` (then empty), as the data has both.
fn or_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// The year of a `YYYY[-MM[-DD]]` period.
fn year_of(text: &str) -> Option<i32> {
    text.get(..4)?.parse().ok()
}

/// `stem.ids` and `stem.f32`: the ids in file order and their MiniLM vectors (row `i` is the
/// vector of id `i`); an error when the two disagree on the row count.
pub fn embeddings(stem: &Path) -> Res<(Vec<String>, Matrix)> {
    let with = |ext: &str| PathBuf::from(format!("{}.{ext}", stem.display()));
    let ids = lines(&with("ids"))?;
    let vectors = Matrix::read(&with("f32"), MINILM_DIM, None)?;
    if vectors.rows() != ids.len() {
        return Err(format!(
            "{}: {} vectors for {} ids",
            stem.display(),
            vectors.rows(),
            ids.len()
        )
        .into());
    }
    Ok((ids, vectors))
}

/// [`embeddings`] as a map from id to vector.
pub fn embedding_map(stem: &Path) -> Res<HashMap<String, Vec<f32>>> {
    let (ids, vectors) = embeddings(stem)?;
    Ok(ids
        .into_iter()
        .zip(vectors.iter().map(<[f32]>::to_vec))
        .collect())
}

/// A Climate-FEVER claim (`climate-fever/claims.jsonl`) with its five annotated evidence
/// sentences.
#[derive(Debug, Clone, Deserialize)]
pub struct ClimateClaim {
    /// `cf-N`.
    #[serde(default, deserialize_with = "or_empty")]
    pub claim_id: String,
    /// The claim sentence.
    #[serde(default, deserialize_with = "or_empty")]
    pub text: String,
    /// `SUPPORTS`, `REFUTES`, `NOT_ENOUGH_INFO` or `DISPUTED`.
    #[serde(default, deserialize_with = "or_empty")]
    pub label: String,
    /// The annotated evidence sentences.
    #[serde(default)]
    pub evidence: Vec<ClimateEvidence>,
}

/// One annotated evidence sentence of a Climate-FEVER claim.
#[derive(Debug, Clone, Deserialize)]
pub struct ClimateEvidence {
    /// `{article}:{sentence}`, the id in `evidence_corpus.jsonl`.
    #[serde(default, deserialize_with = "or_empty")]
    pub evidence_id: String,
    /// The Wikipedia article.
    #[serde(default, deserialize_with = "or_empty")]
    pub source_id: String,
    /// The sentence.
    #[serde(default, deserialize_with = "or_empty")]
    pub text: String,
    /// `supports`, `contradicts` or `neutral` (the majority vote).
    #[serde(default, deserialize_with = "or_empty")]
    pub stance: String,
    /// The entropy of the annotators' votes (0 when unanimous).
    #[serde(default)]
    pub entropy: Option<f64>,
}

/// `climate-fever/claims.jsonl`.
pub fn climate_claims(data: &Path) -> Res<Vec<ClimateClaim>> {
    jsonl(&data.join("climate-fever/claims.jsonl"))
}

/// One sentence of `climate-fever/evidence_corpus.jsonl`.
#[derive(Debug, Clone, Deserialize)]
pub struct EvidenceSentence {
    /// `{article}:{sentence}`.
    #[serde(default, deserialize_with = "or_empty")]
    pub evidence_id: String,
    /// The sentence.
    #[serde(default, deserialize_with = "or_empty")]
    pub text: String,
}

/// `climate-fever/evidence_corpus.jsonl`: the 5,240 evidence sentences.
pub fn climate_evidence_corpus(data: &Path) -> Res<Vec<EvidenceSentence>> {
    jsonl(&data.join("climate-fever/evidence_corpus.jsonl"))
}

/// A TimeQA fact (`timeqa/temporal_facts.jsonl`): subject, relation, object and the period it
/// held, with the question that asks for it.
#[derive(Debug, Clone, Deserialize)]
pub struct TemporalFact {
    /// The fact's id.
    #[serde(default, deserialize_with = "or_empty")]
    pub claim_id: String,
    /// The subject (a Wikipedia page title).
    #[serde(default, deserialize_with = "or_empty")]
    pub subject: String,
    /// The Wikidata property (`P466`).
    #[serde(default, deserialize_with = "or_empty")]
    pub relation: String,
    /// The property's label (`occupant`).
    #[serde(default, deserialize_with = "or_empty")]
    pub relation_label: String,
    /// The answer; `None` for `NOT_ENOUGH_INFO` facts.
    #[serde(default)]
    pub object: Option<String>,
    /// Every accepted answer.
    #[serde(default)]
    pub objects: Vec<String>,
    /// `subject | relation | object`.
    #[serde(default, deserialize_with = "or_empty")]
    pub text: String,
    /// The question asking for the object at a time.
    #[serde(default, deserialize_with = "or_empty")]
    pub question: String,
    /// Start of the period, `YYYY[-MM[-DD]]`, inclusive.
    #[serde(default)]
    pub valid_from: Option<String>,
    /// End of the period, `YYYY[-MM[-DD]]`, inclusive.
    #[serde(default)]
    pub valid_to: Option<String>,
    /// The dataset's flag for a doubtful interval.
    #[serde(default)]
    pub interval_suspect: bool,
    /// Where the fact is stated.
    #[serde(default)]
    pub evidence: Vec<TemporalEvidence>,
}

/// A passage stating a TimeQA fact.
#[derive(Debug, Clone, Deserialize)]
pub struct TemporalEvidence {
    /// The evidence id.
    #[serde(default, deserialize_with = "or_empty")]
    pub evidence_id: String,
    /// The Wikipedia page.
    #[serde(default, deserialize_with = "or_empty")]
    pub source_id: String,
    /// The paragraph of the page.
    #[serde(default)]
    pub paragraph_index: Option<u64>,
    /// The object's span in the paragraph, when located.
    #[serde(default)]
    pub span: Option<TextSpan>,
}

/// A character span.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct TextSpan {
    /// First byte.
    #[serde(default)]
    pub start: Option<u64>,
    /// One past the last byte.
    #[serde(default)]
    pub end: Option<u64>,
}

impl TemporalFact {
    /// `[valid_from, valid_to)` as instants: the start of the first period and the start of the
    /// one after the last (each end `None` when missing or unparsed).
    pub fn interval(&self) -> (Option<Timestamp>, Option<Timestamp>) {
        (
            self.valid_from.as_deref().and_then(period).map(|p| p.0),
            self.valid_to.as_deref().and_then(period).map(|p| p.1),
        )
    }

    /// The inclusive year interval, when both ends parse.
    pub fn years(&self) -> Option<(i32, i32)> {
        self.valid_from
            .as_deref()
            .and_then(year_of)
            .zip(self.valid_to.as_deref().and_then(year_of))
    }

    /// Whether the interval is reversed (starts at or after its end): the store refuses such a
    /// claim.
    pub fn reversed(&self) -> bool {
        matches!(self.interval(), (Some(f), Some(t)) if f >= t)
    }
}

/// `timeqa/temporal_facts.jsonl`.
pub fn temporal_facts(data: &Path) -> Res<Vec<TemporalFact>> {
    jsonl(&data.join("timeqa/temporal_facts.jsonl"))
}

/// A SICK trial sentence pair.
#[derive(Debug, Clone)]
pub struct SickPair {
    /// `pair_ID`.
    pub id: u32,
    /// `sentence_A`.
    pub a: String,
    /// `sentence_B`.
    pub b: String,
    /// `entailment_judgment`: `CONTRADICTION`, `ENTAILMENT` or `NEUTRAL`.
    pub judgement: String,
}

/// `sick/SICK_trial.txt` (tab-separated, one header line; short lines skipped).
pub fn sick_trial(data: &Path) -> Res<Vec<SickPair>> {
    let path = data.join("sick/SICK_trial.txt");
    let mut pairs = Vec::new();
    for (i, line) in lines(&path)?.into_iter().enumerate().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let [id, a, b, _, judgement, ..] = cols[..] else {
            continue;
        };
        pairs.push(SickPair {
            id: id
                .trim()
                .parse()
                .map_err(|e| format!("{} line {}: pair id: {e}", path.display(), i + 1))?,
            a: a.to_owned(),
            b: b.to_owned(),
            judgement: judgement.trim().to_owned(),
        });
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_end_at_the_start_of_the_next_one() {
        let y = |y| Timestamp::from_year(y).unwrap();
        assert_eq!(period("1811"), Some((y(1811), y(1812))));
        let (from, to) = period("1999-12").unwrap();
        assert_eq!((from < to, to), (true, y(2000)));
        let (from, to) = period("2000-02-28").unwrap();
        assert_eq!(to.as_unix_micros() - from.as_unix_micros(), 86_400_000_000);
        assert_eq!(period(""), None);
    }

    #[test]
    fn facts_know_their_interval() {
        let fact: TemporalFact = serde_json::from_str(
            r#"{"claim_id": "f", "valid_from": "1827", "valid_to": "1811-05"}"#,
        )
        .unwrap();
        assert_eq!(fact.years(), Some((1827, 1811)));
        assert!(fact.reversed());
        assert!(fact.object.is_none());
    }
}
