//! Climate-FEVER contradiction surfacing: the DISPUTED claims must come back near the top with
//! both sides of their evidence, `SupportOnly` must hide the contradicting side, and returned
//! claims with evidence must carry citations.

use std::path::Path;

use dash_bench::data::{climate_claims, embedding_map};
use dash_bench::{ingest, Res};
use dash_core::{Claim, Evidence, IngestItem, Query, RetrieveResponse, Stance, StanceMode, Store};

use super::open_store;

/// The tenant of the claims.
const TENANT: &str = "cf";

/// The tallies of the table.
#[derive(Default)]
struct Tally {
    /// DISPUTED claims in the top 3 of the `Balanced` answer.
    top3: usize,
    /// ... of which returned with supporting and contradicting evidence.
    both_sides: usize,
    /// Returned claims with evidence (both answers).
    with_evidence: usize,
    /// ... of which with a citation naming a chunk and a span.
    cited: usize,
    /// `SupportOnly` results carrying contradicting evidence or conflicts.
    support_only_leaks: usize,
}

/// Ingests the claims with their evidence, queries each DISPUTED one and prints the table.
pub fn run(data: &Path, scratch: &Path) -> Res<()> {
    let claim_vectors = embedding_map(&data.join("climate-fever/claims.minilm384"))?;
    let store = open_store(&scratch.join("claims"))?;
    let mut items = Vec::new();
    let mut disputed = Vec::new();
    for c in climate_claims(data)? {
        let mut claim = Claim::new(TENANT, c.claim_id.as_str(), c.text.as_str());
        claim.embedding = claim_vectors.get(&c.claim_id).cloned();
        let mut item = IngestItem::new(claim);
        for e in c.evidence {
            let stance: Stance = e.stance.parse()?;
            let mut ev = Evidence::new(
                e.evidence_id.as_str(),
                c.claim_id.as_str(),
                e.source_id,
                stance,
            );
            // Annotator agreement as source quality: unanimous votes give 1.
            let entropy = e.entropy.unwrap_or(0.0) as f32;
            ev.source_quality = (1.0 - entropy / 2.0).clamp(0.1, 1.0);
            // The evidence sentence is the cited chunk; the span covers it.
            ev.chunk_id = Some(e.evidence_id);
            ev.span_start = Some(0);
            ev.span_end = Some(e.text.len() as u64);
            ev.excerpt = Some(e.text);
            item.evidence.push(ev);
        }
        if c.label == "DISPUTED" {
            disputed.push((c.claim_id, c.text));
        }
        items.push(item);
    }
    ingest::in_batches(&store, items, "load", ingest::BATCH)?;

    let mut tally = Tally::default();
    for (id, text) in &disputed {
        let vector = claim_vectors
            .get(id)
            .cloned()
            .ok_or_else(|| format!("claim {id} without embedding"))?;
        let query = Query::new(TENANT)
            .text(text.as_str())
            .embedding(vector)
            .top_k(10);
        let balanced = store.retrieve(&query)?;
        let pos = balanced
            .results
            .iter()
            .position(|r| r.claim_id.as_str() == id);
        if let Some(r) = pos.filter(|p| *p < 3).and_then(|p| balanced.results.get(p)) {
            tally.top3 += 1;
            if !r.supporting_evidence.is_empty() && !r.contradicting_evidence.is_empty() {
                tally.both_sides += 1;
            }
        }
        let support_only = store.retrieve(&query.stance_mode(StanceMode::SupportOnly))?;
        for answer in [&balanced, &support_only] {
            count_citations(&store, answer, &mut tally)?;
        }
        tally.support_only_leaks += support_only
            .results
            .iter()
            .filter(|r| !r.contradicting_evidence.is_empty() || !r.conflicts.is_empty())
            .count();
    }
    print(&tally, disputed.len());
    Ok(())
}

/// Counts the answer's claims that have evidence and those of them cited with chunk and span.
fn count_citations(store: &Store, answer: &RetrieveResponse, tally: &mut Tally) -> Res<()> {
    for r in &answer.results {
        let has_evidence =
            !(r.supporting_evidence.is_empty() && r.contradicting_evidence.is_empty());
        let record = store
            .get_claim(&TENANT.into(), &r.claim_id)?
            .ok_or_else(|| format!("returned claim {} missing", r.claim_id))?;
        if has_evidence || !record.item.evidence.is_empty() {
            tally.with_evidence += 1;
            if r.citations
                .iter()
                .any(|c| c.chunk_id.is_some() && c.span_end.is_some())
            {
                tally.cited += 1;
            }
        }
    }
    Ok(())
}

/// The Markdown table.
fn print(t: &Tally, n: usize) {
    let share = |k: usize| k as f64 / n as f64;
    println!(
        "## Climate-FEVER contradiction surfacing ({n} DISPUTED claims, 1,535 claims with 5 \
         evidence each)"
    );
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| DISPUTED claim in the top 3 (`Balanced`, text + embedding) | {}/{n} = {:.3} |",
        t.top3,
        share(t.top3)
    );
    println!(
        "| ... and returned with supporting *and* contradicting evidence | {}/{n} = {:.3} |",
        t.both_sides,
        share(t.both_sides)
    );
    println!(
        "| `SupportOnly` results carrying contradicting evidence or conflicts | {} |",
        t.support_only_leaks
    );
    println!(
        "| citation coverage (returned claims with evidence that carry a citation with chunk and \
         span) | {}/{} = {:.3} |",
        t.cited,
        t.with_evidence,
        t.cited as f64 / t.with_evidence.max(1) as f64
    );
    println!();
}
