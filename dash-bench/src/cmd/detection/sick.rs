//! SICK trial: each sentence pair in its own tenant, text only, through the store. The share of
//! CONTRADICTION pairs linked (target ≥ 80 %) and of ENTAILMENT pairs linked (target ≤ 5 %), on
//! the odd pair ids (where the rules were tuned) and on the even ones (reported); NEUTRAL
//! reported, not scored.

use std::collections::HashMap;
use std::path::Path;

use dash_bench::data::sick_trial;
use dash_bench::Res;
use dash_core::{Claim, IngestItem, TenantId};

use super::debug_limit;
use super::model::Model;

/// The tenant of pair `id`.
fn tenant(id: u32) -> String {
    format!("sick-{id}")
}

/// Ingests every pair, waits for the detection stage and prints the share of pairs linked by
/// judgement.
pub fn run(data: &Path, scratch: &Path, model: &Model) -> Res<()> {
    let pairs = sick_trial(data)?;
    let store = model.builder(&scratch.join("sick")).open()?;
    for p in &pairs {
        let tenant = tenant(p.id);
        store.ingest(IngestItem::new(Claim::new(
            tenant.as_str(),
            "a",
            p.a.as_str(),
        )))?;
        store.ingest(IngestItem::new(Claim::new(
            tenant.as_str(),
            "b",
            p.b.as_str(),
        )))?;
    }
    store.wait_for_detection();
    // (judgement, odd id?) → (pairs, linked)
    let mut counts: HashMap<(&str, bool), (usize, usize)> = HashMap::new();
    let debug = debug_limit().is_some();
    for p in &pairs {
        let edges = store.detected_edges(&TenantId::new(tenant(p.id)))?;
        let odd = p.id % 2 == 1;
        let linked = !edges.is_empty();
        let entry = counts.entry((p.judgement.as_str(), odd)).or_default();
        entry.0 += 1;
        entry.1 += usize::from(linked);
        let wrong =
            (p.judgement == "CONTRADICTION" && !linked) || (p.judgement == "ENTAILMENT" && linked);
        if debug && odd && wrong {
            let reason = edges
                .first()
                .and_then(|e| e.reason.clone())
                .unwrap_or_default();
            eprintln!(
                "{} {} linked={linked} {reason:?}: {} || {}",
                p.judgement, p.id, p.a, p.b
            );
        }
    }
    println!(
        "## SICK trial: pairs linked by a detected edge (text only, one tenant per pair{})\n",
        if model.is_loaded() {
            "; store embedder and span guard"
        } else {
            ""
        }
    );
    println!(
        "| judgement | odd ids (tuned on): linked / pairs | even ids (reported): linked / pairs \
         |\n|---|---|---|"
    );
    for label in ["CONTRADICTION", "ENTAILMENT", "NEUTRAL"] {
        let cell = |odd: bool| {
            let (n, linked) = counts.get(&(label, odd)).copied().unwrap_or_default();
            format!(
                "{linked} / {n} = {:.1} %",
                100.0 * linked as f64 / n.max(1) as f64
            )
        };
        println!("| {label} | {} | {} |", cell(true), cell(false));
    }
    println!("\nTargets: CONTRADICTION ≥ 80 %, ENTAILMENT ≤ 5 % (even ids); NEUTRAL not scored.\n");
    Ok(())
}
