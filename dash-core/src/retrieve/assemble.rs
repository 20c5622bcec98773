//! Answer assembly: a ranked document becomes a [`RetrievedClaim`] with its evidence split by
//! stance, its citations and its conflicts; the results' neighbourhood becomes a bounded
//! [`Graph`].

use std::borrow::Cow;
use std::collections::{HashMap, HashSet, VecDeque};

use super::answer::{
    Citation, Conflict, Graph, GraphEdge, GraphNode, RetrievedClaim, ScoreBreakdown,
};
use super::catalog::{TenantIndex, TimeView};
use super::query::StanceMode;
use crate::index::DocId;
use crate::model::{ClaimId, Edge, Evidence, Relation, Stance};

/// Conflicts listed per result at most.
pub const MAX_CONFLICTS: usize = 32;
/// Edges followed per graph node at most (per direction).
pub const MAX_DEGREE: usize = 16;
/// Nodes in a graph payload at most.
pub const MAX_GRAPH_NODES: usize = 256;

fn by_quality(mut evidence: Vec<Evidence>) -> Vec<Evidence> {
    evidence.sort_by(|a, b| {
        b.source_quality
            .total_cmp(&a.source_quality)
            .then_with(|| a.evidence_id.cmp(&b.evidence_id))
    });
    evidence
}

/// The result for `doc`, or `None` when retention dropped its content meanwhile.
pub(crate) fn assemble(
    index: &TenantIndex,
    doc: DocId,
    score: f32,
    score_breakdown: ScoreBreakdown,
    mode: StanceMode,
    view: &TimeView,
) -> Option<RetrievedClaim> {
    let item = index.item(doc)?;
    let d = index.docs.get(doc as usize)?;
    let of = |stance: Stance| -> Vec<Evidence> {
        item.evidence
            .iter()
            .filter(|e| e.stance == stance)
            .cloned()
            .collect()
    };
    let supporting = by_quality(of(Stance::Supports));
    let (contradicting, conflicts) = match mode {
        StanceMode::Balanced => (
            by_quality(of(Stance::Contradicts)),
            conflicts(index, doc, view),
        ),
        StanceMode::SupportOnly => (Vec::new(), Vec::new()),
    };
    let mut citations: Vec<Citation> = supporting
        .iter()
        .chain(&contradicting)
        .map(Citation::from)
        .collect();
    if citations.is_empty() {
        // A claim with only neutral evidence still says where it comes from.
        citations = by_quality(of(Stance::Neutral))
            .iter()
            .map(Citation::from)
            .collect();
    }
    let claim = &item.claim;
    Some(RetrievedClaim {
        claim_id: claim.claim_id.clone(),
        canonical_text: claim.canonical_text.clone(),
        score,
        score_breakdown,
        confidence: claim.confidence,
        valid_from: claim.valid_from,
        valid_to: claim.valid_to,
        recorded_at: d.recorded_at,
        version: d.version,
        entities: claim.entities.clone(),
        supporting_evidence: supporting,
        contradicting_evidence: contradicting,
        conflicts,
        citations,
    })
}

/// A visible edge between two claims: (from, to, the edge). A caller's edge is read from its
/// document's content (decoded, so owned); a detected edge is borrowed from the catalog.
type Link<'a> = (u32, u32, Cow<'a, Edge>);

/// Edges out of `doc` to claims with a visible version, and edges into `doc`'s claim from
/// visible documents of other claims; at most `cap` of each.
fn links<'a>(index: &'a TenantIndex, doc: DocId, view: &TimeView, cap: usize) -> Vec<Link<'a>> {
    let mut out = Vec::new();
    let (Some(item), Some(d)) = (index.item(doc), index.docs.get(doc as usize)) else {
        return out;
    };
    let me = d.claim;
    for edge in item.edges.iter() {
        if out.len() >= cap {
            break;
        }
        if let Some(to) = index.claim_index(&edge.to_claim_id) {
            if to != me && index.visible_doc_of_claim(to, view).is_some() {
                out.push((me, to, Cow::Owned(edge.clone())));
            }
        }
    }
    let my_id = &item.claim.claim_id;
    let mut incoming = 0;
    for &src in index.incoming(me) {
        if incoming >= cap {
            break;
        }
        let (Some(s), Some(sd)) = (index.item(src), index.docs.get(src as usize)) else {
            continue;
        };
        if sd.claim == me || !index.visible(src, view) {
            continue;
        }
        for edge in s.edges.iter().filter(|e| &e.to_claim_id == my_id) {
            out.push((sd.claim, me, Cow::Owned(edge.clone())));
            incoming += 1;
        }
    }
    // Detected edges after the callers' (which win when both join the same claims). They
    // join documents (versions): the other end must be visible itself.
    let mut detected = 0;
    for e in index.detected.edges_of(doc) {
        if detected >= cap {
            break;
        }
        let other = if e.from == doc { e.to } else { e.from };
        let (Some(f), Some(t)) = (
            index.docs.get(e.from as usize),
            index.docs.get(e.to as usize),
        ) else {
            continue;
        };
        if index.visible(other, view) {
            out.push((f.claim, t.claim, Cow::Borrowed(&e.edge)));
            detected += 1;
        }
    }
    out
}

/// Claims joined to `doc`'s claim by `contradicts` edges, either way, deduplicated.
fn conflicts(index: &TenantIndex, doc: DocId, view: &TimeView) -> Vec<Conflict> {
    let Some(me) = index.docs.get(doc as usize).map(|d| d.claim) else {
        return Vec::new();
    };
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (from, to, edge) in links(index, doc, view, MAX_CONFLICTS * 4) {
        if edge.relation != Relation::Contradicts || out.len() >= MAX_CONFLICTS {
            continue;
        }
        let other = if from == me { to } else { from };
        if !seen.insert(other) {
            continue;
        }
        let Some(text) = index
            .visible_doc_of_claim(other, view)
            .and_then(|d| index.item(d))
            .map(|i| i.claim.canonical_text.clone())
        else {
            continue;
        };
        out.push(Conflict {
            claim_id: claim_id(index, other),
            relation: Relation::Contradicts,
            canonical_text: text,
            detected: edge.detected,
            strength: edge.strength,
            reason: edge.reason.clone(),
        });
    }
    out
}

fn claim_id(index: &TenantIndex, claim: u32) -> ClaimId {
    index
        .claims
        .get(claim)
        .map(|c| ClaimId::new(&*c.id))
        .unwrap_or_else(|| ClaimId::new(""))
}

/// Breadth-first expansion from the results' claims, `depth` hops, at most [`MAX_DEGREE`] edges
/// per node and direction and [`MAX_GRAPH_NODES`] nodes.
pub(crate) fn build_graph(
    index: &TenantIndex,
    seeds: &[DocId],
    depth: u8,
    view: &TimeView,
) -> Graph {
    let mut graph = Graph::default();
    let mut node_of: HashMap<u32, usize> = HashMap::new();
    let mut queue: VecDeque<(DocId, u8)> = VecDeque::new();
    let mut edges_seen: HashSet<(u32, u32, Relation)> = HashSet::new();
    let add_node = |graph: &mut Graph,
                    node_of: &mut HashMap<u32, usize>,
                    claim: u32,
                    doc: DocId,
                    depth: u8|
     -> bool {
        if node_of.contains_key(&claim) {
            return false;
        }
        if graph.nodes.len() >= MAX_GRAPH_NODES {
            graph.truncated = true;
            return false;
        }
        let text = index
            .item(doc)
            .map(|i| i.claim.canonical_text.clone())
            .unwrap_or_default();
        node_of.insert(claim, graph.nodes.len());
        graph.nodes.push(GraphNode {
            claim_id: claim_id(index, claim),
            canonical_text: text,
            depth,
        });
        true
    };
    for &doc in seeds {
        if let Some(claim) = index.docs.get(doc as usize).map(|d| d.claim) {
            if add_node(&mut graph, &mut node_of, claim, doc, 0) {
                queue.push_back((doc, 0));
            }
        }
    }
    while let Some((doc, d)) = queue.pop_front() {
        if d >= depth {
            continue;
        }
        let found = links(index, doc, view, MAX_DEGREE + 1);
        if found.len() > MAX_DEGREE {
            graph.truncated = true;
        }
        for (from, to, edge) in found.into_iter().take(MAX_DEGREE) {
            let me = index.docs.get(doc as usize).map(|x| x.claim);
            let other = if Some(from) == me { to } else { from };
            let Some(other_doc) = index.visible_doc_of_claim(other, view) else {
                continue;
            };
            if add_node(&mut graph, &mut node_of, other, other_doc, d + 1) {
                queue.push_back((other_doc, d + 1));
            }
            if node_of.contains_key(&other) && edges_seen.insert((from, to, edge.relation)) {
                graph.edges.push(GraphEdge {
                    from_claim_id: claim_id(index, from),
                    to_claim_id: claim_id(index, to),
                    relation: edge.relation,
                    strength: edge.strength,
                    detected: edge.detected,
                    reason: edge.reason.clone(),
                });
            }
        }
    }
    graph
}
