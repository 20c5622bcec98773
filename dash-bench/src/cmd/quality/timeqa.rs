//! TimeQA as-of: with `as_of` an instant inside a fact's interval, the asked object must rank
//! above the same subject's facts of other intervals.

use std::collections::HashMap;
use std::path::Path;

use dash_bench::data::{embedding_map, temporal_facts};
use dash_bench::{ingest, Res};
use dash_core::{Claim, Evidence, IngestItem, Query, Stance, Store, Timestamp};

use super::open_store;

/// The tenant of the facts.
const TENANT: &str = "tq";

/// What the judge needs of a fact.
struct Fact {
    /// Whose fact it is.
    subject: String,
    /// Every accepted answer.
    objects: Vec<String>,
    /// Start of validity.
    from: Option<Timestamp>,
    /// End of validity (exclusive).
    to: Option<Timestamp>,
}

impl Fact {
    /// Whether the fact holds at `t`.
    fn valid_at(&self, t: Timestamp) -> bool {
        self.from.is_none_or(|f| f <= t) && self.to.is_none_or(|e| t < e)
    }
}

/// A question to ask `as_of` an instant inside its fact's interval.
struct Question {
    /// The fact asked for.
    fact_id: String,
    /// An instant inside the fact's interval.
    at: Timestamp,
    /// The question text.
    text: String,
}

/// An instant inside `[from, to)`: the middle, or the known end.
fn inside(from: Option<Timestamp>, to: Option<Timestamp>) -> Option<Timestamp> {
    match (from, to) {
        (Some(f), Some(t)) => Some(Timestamp::from_unix_micros(
            f.as_unix_micros() / 2 + t.as_unix_micros() / 2,
        )),
        (Some(f), None) => Some(f),
        (None, Some(t)) => Some(Timestamp::from_unix_micros(t.as_unix_micros() - 1)),
        (None, None) => None,
    }
}

/// Ingests the facts with an object, asks each question with and without `as_of`, and prints
/// the table.
pub fn run(data: &Path, scratch: &Path) -> Res<()> {
    let dir = data.join("timeqa");
    let fact_vectors = embedding_map(&dir.join("facts.minilm384"))?;
    let question_vectors = embedding_map(&dir.join("questions.minilm384"))?;
    let store = open_store(&scratch.join("timeqa"))?;
    let mut items = Vec::new();
    let mut questions = Vec::new();
    let mut facts: HashMap<String, Fact> = HashMap::new();
    let mut reversed = 0;
    for f in temporal_facts(data)? {
        let Some(object) = f.object.clone() else {
            continue; // NOT_ENOUGH_INFO: no object to ask for
        };
        if f.reversed() {
            reversed += 1; // an `interval_suspect` fact the store rightly refuses
            continue;
        }
        let (from, to) = f.interval();
        let id = f.claim_id;
        let mut claim = Claim::new(TENANT, id.as_str(), f.text);
        (claim.valid_from, claim.valid_to) = (from, to);
        claim.subject = Some(f.subject.clone());
        claim.predicate = Some(f.relation_label);
        claim.object = Some(object);
        claim.entities = vec![f.subject.clone()];
        claim.embedding = fact_vectors.get(&id).cloned();
        let mut item = IngestItem::new(claim);
        for e in f.evidence {
            let mut ev = Evidence::new(
                e.evidence_id,
                id.as_str(),
                e.source_id.as_str(),
                Stance::Supports,
            );
            ev.chunk_id = Some(format!(
                "{}#p{}",
                e.source_id,
                e.paragraph_index.unwrap_or(0)
            ));
            if let Some((start, end)) = e.span.and_then(|s| s.start.zip(s.end)) {
                (ev.span_start, ev.span_end) = (Some(start), Some(end));
            }
            item.evidence.push(ev);
        }
        items.push(item);
        if let Some(at) = inside(from, to) {
            questions.push(Question {
                fact_id: id.clone(),
                at,
                text: f.question,
            });
        }
        facts.insert(
            id,
            Fact {
                subject: f.subject,
                objects: f.objects,
                from,
                to,
            },
        );
    }
    ingest::in_batches(&store, items, "load", ingest::BATCH)?;

    // [with as_of, without] × [above other-interval facts, first same-subject result]
    let mut correct = [[0usize; 2]; 2];
    let mut total = 0;
    for q in &questions {
        let (Some(qv), Some(fact)) = (question_vectors.get(&q.fact_id), facts.get(&q.fact_id))
        else {
            continue;
        };
        total += 1;
        for (mode, as_of) in [Some(q.at), None].into_iter().enumerate() {
            if let Some(pos) = asked_object_rank(&store, &facts, fact, q, qv, as_of)? {
                // Above every same-subject fact of another interval (one not valid at the
                // instant).
                if pos.iter().all(|f| f.valid_at(q.at)) {
                    correct[mode][0] += 1;
                }
                if pos.is_empty() {
                    correct[mode][1] += 1;
                }
            }
        }
    }
    let pct = |n: usize| format!("{n}/{total} = {:.3}", n as f64 / total.max(1) as f64);
    println!(
        "## TimeQA as-of ({total} questions whose fact has an object and an interval; \
         {reversed} facts with a reversed interval skipped)"
    );
    println!();
    println!(
        "| query | asked object above the subject's other-interval facts | first same-subject \
         result has the asked object |"
    );
    println!("|---|---|---|");
    println!(
        "| `as_of` an instant inside the fact's interval | {} | {} |",
        pct(correct[0][0]),
        pct(correct[0][1])
    );
    println!(
        "| no `as_of` (baseline: relevance alone) | {} | {} |",
        pct(correct[1][0]),
        pct(correct[1][1])
    );
    println!();
    Ok(())
}

/// Asks `q` (as of `as_of`, if given) and returns the same-subject facts ranked above the first
/// one with the asked object; `None` when no such fact is returned.
fn asked_object_rank<'f>(
    store: &Store,
    facts: &'f HashMap<String, Fact>,
    fact: &Fact,
    q: &Question,
    vector: &[f32],
    as_of: Option<Timestamp>,
) -> Res<Option<Vec<&'f Fact>>> {
    let mut query = Query::new(TENANT)
        .text(q.text.as_str())
        .embedding(vector.to_vec())
        .top_k(20);
    if let Some(t) = as_of {
        query = query.as_of(t);
    }
    let answer = store.retrieve(&query)?;
    let same_subject: Vec<&Fact> = answer
        .results
        .iter()
        .filter_map(|r| facts.get(r.claim_id.as_str()))
        .filter(|f| f.subject == fact.subject)
        .collect();
    let right = |f: &Fact| f.objects.iter().any(|o| fact.objects.contains(o));
    Ok(same_subject.iter().position(|f| right(f)).map(|pos| {
        let mut above = same_subject;
        above.truncate(pos);
        above
    }))
}
