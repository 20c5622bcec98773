//! Quickstart: an embedded DASH store filled with real claims and evidence, then read back.
//!
//! ```text
//! cargo run --release --example quickstart [-- --data ../shared/data --dir /path/to/store]
//! ```
//!
//! It ingests the Climate-FEVER claims (each with its five human-annotated evidence sentences:
//! supports / contradicts / neutral) and the TimeQA temporal facts (structured subject /
//! predicate / object with validity years and cited source spans), in atomic, idempotent
//! batches; checkpoints; reopens the store as a new process would; and prints a disputed claim
//! with the evidence on both sides, and how a TimeQA fact changed over time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::error::Error;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Instant;

use dash::{
    Claim, ClaimId, Evidence, IngestItem, Query, Stance, Store, TenantId, Timestamp,
    ValidationError,
};
use serde_json::Value;

const BATCH: usize = 200;

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn read_jsonl(path: &Path) -> Result<Vec<Value>, Box<dyn Error>> {
    let file = std::fs::File::open(path)
        .map_err(|e| format!("cannot open {}: {e} (pass --data DIR)", path.display()))?;
    let mut out = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line?;
        if !line.trim().is_empty() {
            out.push(serde_json::from_str(&line)?);
        }
    }
    Ok(out)
}

/// A Climate-FEVER claim with its annotated evidence sentences.
fn climate_item(row: &Value) -> Result<IngestItem, Box<dyn Error>> {
    let id = str_field(row, "claim_id").ok_or("claim_id missing")?;
    let mut claim = Claim::new("climate-fever", id, str_field(row, "text").unwrap_or(""));
    if let Some(label) = str_field(row, "label") {
        claim.metadata.insert("label".into(), label.into());
    }
    let mut item = IngestItem::new(claim);
    for ev in row["evidence"].as_array().into_iter().flatten() {
        let text = str_field(ev, "text").unwrap_or("");
        let stance: Stance = str_field(ev, "stance").unwrap_or("neutral").parse()?;
        let evidence_id = str_field(ev, "evidence_id").ok_or("evidence_id missing")?;
        let mut e = Evidence::new(
            evidence_id,
            id,
            str_field(ev, "source_id").unwrap_or("unknown"),
            stance,
        );
        // One annotated sentence per evidence: the chunk is the sentence, the span all of it.
        e.chunk_id = Some(evidence_id.to_owned());
        e.span_start = Some(0);
        e.span_end = Some(text.len() as u64);
        e.excerpt = Some(text.to_owned());
        item.evidence.push(e);
    }
    Ok(item)
}

fn year(v: &Value, key: &str) -> Option<i32> {
    str_field(v, key)?.trim().parse().ok()
}

/// A TimeQA fact: structured claim, validity in years (end exclusive), cited span.
fn timeqa_item(row: &Value) -> Result<Option<IngestItem>, Box<dyn Error>> {
    let Some(object) = str_field(row, "object") else {
        return Ok(None); // NOT_ENOUGH_INFO facts have no object to claim.
    };
    let id = str_field(row, "claim_id").ok_or("claim_id missing")?;
    let mut claim = Claim::new("timeqa", id, str_field(row, "text").unwrap_or(object));
    claim.subject = str_field(row, "subject").map(str::to_owned);
    claim.predicate = str_field(row, "relation_label").map(str::to_owned);
    claim.object = Some(object.to_owned());
    claim.valid_from = year(row, "valid_from").and_then(Timestamp::from_year);
    claim.valid_to = year(row, "valid_to").and_then(|y| Timestamp::from_year(y + 1));
    claim.entities = claim.subject.iter().cloned().collect();
    let mut item = IngestItem::new(claim);
    for ev in row["evidence"].as_array().into_iter().flatten() {
        let stance: Stance = str_field(ev, "stance").unwrap_or("neutral").parse()?;
        let mut e = Evidence::new(
            str_field(ev, "evidence_id").ok_or("evidence_id missing")?,
            id,
            str_field(ev, "source_id").unwrap_or("unknown"),
            stance,
        );
        e.chunk_id = ev
            .get("paragraph_index")
            .and_then(Value::as_u64)
            .map(|p| format!("paragraph-{p}"));
        if let Some(span) = ev.get("span") {
            e.span_start = span.get("start").and_then(Value::as_u64);
            e.span_end = span.get("end").and_then(Value::as_u64);
            e.excerpt = str_field(span, "text").map(str::to_owned);
        }
        item.evidence.push(e);
    }
    Ok(Some(item))
}

/// Ingests items in batches of one tenant; invalid items are reported and left out.
fn ingest_all(store: &Store, name: &str, items: Vec<IngestItem>) -> Result<usize, Box<dyn Error>> {
    let mut valid = Vec::with_capacity(items.len());
    let mut rejected: BTreeMap<String, usize> = BTreeMap::new();
    for item in items {
        match dash::validate_item(&item, None) {
            Ok(()) => valid.push(item),
            Err(e) => *rejected.entry(reason(&e)).or_default() += 1,
        }
    }
    for (i, chunk) in valid.chunks(BATCH).enumerate() {
        // Commit ids make a rerun of this example a no-op instead of new versions.
        store.ingest_batch(format!("{name}-{i}"), chunk.to_vec())?;
    }
    for (why, n) in rejected {
        println!("  {name}: {n} item(s) refused by validation: {why}");
    }
    Ok(valid.len())
}

fn reason(e: &ValidationError) -> String {
    match e {
        ValidationError::ValidityReversed { .. } => "valid_from after valid_to".into(),
        other => other.to_string(),
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut data = PathBuf::from("../shared/data");
    let mut dir: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--data" => data = args.next().ok_or("--data needs a directory")?.into(),
            "--dir" => dir = Some(args.next().ok_or("--dir needs a directory")?.into()),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let temp = tempfile::tempdir()?;
    let dir = dir.unwrap_or_else(|| temp.path().join("store"));
    println!("DASH quickstart: store in {}", dir.display());

    let climate: Vec<IngestItem> = read_jsonl(&data.join("climate-fever/claims.jsonl"))?
        .iter()
        .map(climate_item)
        .collect::<Result<_, _>>()?;
    let facts: Vec<IngestItem> = read_jsonl(&data.join("timeqa/temporal_facts.jsonl"))?
        .iter()
        .map(timeqa_item)
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect();

    let started = Instant::now();
    let store = Store::builder(&dir).open()?;
    let n_climate = ingest_all(&store, "climate-fever", climate)?;
    let n_facts = ingest_all(&store, "timeqa", facts)?;
    println!(
        "ingested {n_climate} Climate-FEVER claims and {n_facts} TimeQA facts in {:.2?} (Strict: fsynced)",
        started.elapsed()
    );
    let report = store.checkpoint()?;
    println!(
        "checkpoint: segment of {} bytes, manifest generation {}",
        report.segment_bytes, report.manifest_generation
    );
    store.close()?;

    let started = Instant::now();
    let store = Store::builder(&dir).open()?;
    let stats = store.stats();
    println!(
        "reopened in {:.2?}: {} claims, {} segment(s), {} WAL bytes",
        started.elapsed(),
        stats.claims,
        stats.segments,
        stats.wal_bytes
    );

    // A disputed claim: the evidence on both sides, with citations.
    let tenant = TenantId::new("climate-fever");
    let rows = read_jsonl(&data.join("climate-fever/claims.jsonl"))?;
    if let Some(id) = rows
        .iter()
        .find(|r| str_field(r, "label") == Some("DISPUTED"))
        .and_then(|r| str_field(r, "claim_id"))
    {
        let record = store
            .get_claim(&tenant, &ClaimId::new(id))?
            .ok_or("disputed claim missing after reopen")?;
        println!(
            "\nclaim {id} (v{}): {}",
            record.version, record.item.claim.canonical_text
        );
        for e in &record.item.evidence {
            if e.stance != Stance::Neutral {
                println!(
                    "  {:<11} [{} {}..{}] {}",
                    e.stance.as_str(),
                    e.source_id,
                    e.span_start.unwrap_or(0),
                    e.span_end.unwrap_or(0),
                    e.excerpt.as_deref().unwrap_or("")
                );
            }
        }
    }

    // A TimeQA subject whose fact changed over time.
    let tenant = TenantId::new("timeqa");
    let facts = read_jsonl(&data.join("timeqa/temporal_facts.jsonl"))?;
    let subject = facts.iter().find_map(|r| str_field(r, "subject"));
    if let Some(subject) = subject {
        println!("\n{subject}, over time:");
        for row in facts
            .iter()
            .filter(|r| str_field(r, "subject") == Some(subject))
        {
            let Some(id) = str_field(row, "claim_id") else {
                continue;
            };
            if let Some(rec) = store.get_claim(&tenant, &ClaimId::new(id))? {
                let c = &rec.item.claim;
                let cite = rec.item.evidence.first().map(|e| {
                    format!(
                        "{}#{} {}..{}",
                        e.source_id,
                        e.chunk_id.as_deref().unwrap_or("-"),
                        e.span_start.unwrap_or(0),
                        e.span_end.unwrap_or(0)
                    )
                });
                println!(
                    "  {} .. {}  {} = {}   cites {}",
                    c.valid_from
                        .map_or("open".into(), |t| t.to_rfc3339()[..4].to_owned()),
                    c.valid_to
                        .map_or("open".into(), |t| t.to_rfc3339()[..4].to_owned()),
                    c.predicate.as_deref().unwrap_or("?"),
                    c.object.as_deref().unwrap_or("?"),
                    cite.unwrap_or_else(|| "-".into())
                );
            }
        }
    }

    // What the engine found by itself, in the background: successions and contradictions
    // between the TimeQA facts (same subject and relation, different objects; overlapping
    // validity or not). They were stored: the reopen above did not judge them again.
    store.wait_for_detection();
    let detected = store.detected_edges(&TenantId::new("timeqa"))?;
    let count = |r: dash::Relation| detected.iter().filter(|e| e.relation == r).count();
    println!(
        "\ndetected edges in tenant timeqa: {} supersedes, {} contradicts",
        count(dash::Relation::Supersedes),
        count(dash::Relation::Contradicts)
    );
    for e in detected.iter().take(2) {
        println!(
            "  {} {} {} ({:.2}): {}",
            e.from_claim_id,
            e.relation.as_str(),
            e.to_claim_id,
            e.strength,
            e.reason.as_deref().unwrap_or("")
        );
    }

    // Plain text, as most memories arrive: no entities, no triple. A claim that says the same
    // thing but for one slot is a conflict, and the next query sees it with its reason.
    for (id, text) in [
        ("m1", "Alice works at Google as a data engineer"),
        ("m2", "The old harbour bridge opened in 1932"),
        ("m3", "The team has 8 engineers"),
    ] {
        store.ingest(IngestItem::new(Claim::new("memo", id, text)))?;
    }
    for (id, text) in [
        ("m4", "Alice works at Meta as a data engineer"),
        ("m5", "The old harbour bridge collapsed in 1932"),
        ("m6", "The team has 20 engineers"),
    ] {
        store.ingest(IngestItem::new(Claim::new("memo", id, text)))?;
    }
    let answer = store.retrieve(&Query::new("memo").text("Alice bridge team").top_k(6))?;
    println!(
        "\nplain-text memory (detection caught up: {}):",
        answer.detection.caught_up
    );
    for r in answer.results.iter().filter(|r| !r.conflicts.is_empty()) {
        for c in &r.conflicts {
            println!(
                "  {:?} conflicts with {:?}: {}",
                r.canonical_text,
                c.canonical_text,
                c.reason.as_deref().unwrap_or("")
            );
        }
    }

    // Retrieval: a question in plain text, ranked by relevance and evidence, both sides shown.
    if let Some(row) = rows
        .iter()
        .find(|r| str_field(r, "label") == Some("DISPUTED"))
    {
        let question = str_field(row, "text").unwrap_or_default();
        let started = Instant::now();
        let answer = store.retrieve(&Query::new("climate-fever").text(question).top_k(3))?;
        println!(
            "\nretrieve {question:?} (first query after open: waits for the indexes; {:.2?}):",
            started.elapsed()
        );
        for r in &answer.results {
            println!(
                "  {:.3} {} — {} supporting, {} contradicting, {} conflict(s); cites {}",
                r.score,
                r.canonical_text,
                r.supporting_evidence.len(),
                r.contradicting_evidence.len(),
                r.conflicts.len(),
                r.citations
                    .first()
                    .map_or("-".into(), |c| format!("{} {:?}", c.source_id, c.chunk_id))
            );
        }
    }
    // As of a year: the fact valid then ranks, the others are not valid at that instant.
    if let Some(row) = facts.iter().find(|r| str_field(r, "object").is_some()) {
        let question = str_field(row, "question").unwrap_or_default();
        let year = str_field(row, "valid_from").and_then(|y| y.get(..4)?.parse().ok());
        if let Some(at) = year.and_then(Timestamp::from_year) {
            let answer = store.retrieve(&Query::new("timeqa").text(question).as_of(at).top_k(1))?;
            if let Some(top) = answer.results.first() {
                println!(
                    "\n{question:?} as of {}: {} (took {:.2} ms)",
                    &at.to_rfc3339()[..4],
                    top.canonical_text,
                    answer.took_ms
                );
            }
        }
    }
    store.close()?;
    Ok(())
}
