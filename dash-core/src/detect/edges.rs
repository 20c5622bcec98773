//! A tenant's detected edges as retrieval sees them: between documents (claim versions), with
//! the epoch bookkeeping of rebuilds. The edges arrive from derived records (the stage's, or
//! replayed, or loaded from segments); the stage decided them, so nothing here judges or caps.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::Arc;

use roaring::RoaringBitmap;

use crate::codec::{DecodeResult, Decoder, Encoder};
use crate::index::DocId;
use crate::model::{Edge, Relation};

/// One detected edge between two documents.
#[derive(Debug, Clone)]
pub(crate) struct DocEdge {
    pub(crate) from: DocId,
    pub(crate) to: DocId,
    /// The edge as answers show it (`detected: true`, confidence as strength, a reason).
    pub(crate) edge: Edge,
    /// The judge (and lexicon) version that made it.
    pub(crate) judge: Arc<str>,
    /// False once retention dropped an endpoint.
    pub(crate) live: bool,
}

type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// The detected edges of one tenant.
#[derive(Debug, Default)]
pub(crate) struct DetectedGraph {
    edges: Vec<DocEdge>,
    by_doc: Map<DocId, Vec<u32>>,
    /// Documents some detected `supersedes` edge points at.
    pub(crate) superseded: RoaringBitmap,
    live: u64,
    /// The active epoch: edges of a later one wait in `pending` until it is activated.
    epoch: u32,
    pending: BTreeMap<u32, Vec<DocEdge>>,
}

impl DetectedGraph {
    /// Heap bytes held, roughly: the edges (with their ids and reasons), the per-document
    /// lists, the superseded bitmap, the pending epoch's edges.
    pub(crate) fn heap_bytes(&self) -> u64 {
        use crate::heap;
        let strings = |e: &DocEdge| {
            let edge = &e.edge;
            (edge.from_claim_id.as_str().len()
                + edge.to_claim_id.as_str().len()
                + edge.reason.as_ref().map_or(0, String::capacity)) as u64
        };
        heap::vec(&self.edges)
            + self.edges.iter().map(strings).sum::<u64>()
            + heap::map(&self.by_doc)
            + self.by_doc.values().map(heap::vec).sum::<u64>()
            + heap::bitmap(&self.superseded)
            + self
                .pending
                .values()
                .map(|v| heap::vec(v) + v.iter().map(strings).sum::<u64>())
                .sum::<u64>()
    }

    /// Detected edges touching `doc` (live ones).
    pub(crate) fn edges_of(&self, doc: DocId) -> impl Iterator<Item = &DocEdge> + '_ {
        self.by_doc
            .get(&doc)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .filter_map(|&i| self.edges.get(i as usize))
            .filter(|e| e.live)
    }

    /// Every live edge, in the order added.
    pub(crate) fn all(&self) -> impl Iterator<Item = &DocEdge> + '_ {
        self.edges.iter().filter(|e| e.live)
    }

    /// The active epoch.
    pub(crate) fn epoch(&self) -> u32 {
        self.epoch
    }

    /// Adds an edge of `epoch`: live now if it is the active epoch, pending if later, dropped
    /// if earlier (a rebuild replaced it).
    pub(crate) fn add(&mut self, edge: DocEdge, epoch: u32) {
        if epoch > self.epoch {
            self.pending.entry(epoch).or_default().push(edge);
        } else if epoch == self.epoch {
            self.push(edge);
        }
    }

    fn push(&mut self, e: DocEdge) {
        let Ok(id) = u32::try_from(self.edges.len()) else {
            return;
        };
        self.by_doc.entry(e.from).or_default().push(id);
        self.by_doc.entry(e.to).or_default().push(id);
        if e.edge.relation == Relation::Supersedes {
            self.superseded.insert(e.to);
        }
        self.edges.push(e);
        self.live += 1;
    }

    /// Makes `epoch` active: its pending edges replace every edge of the earlier epoch. An
    /// epoch not later than the active one changes nothing.
    pub(crate) fn activate(&mut self, epoch: u32) {
        if epoch <= self.epoch {
            return;
        }
        let mut pending = std::mem::take(&mut self.pending);
        let edges = pending.remove(&epoch).unwrap_or_default();
        // Epochs after the activated one stay pending.
        self.pending = pending.split_off(&epoch);
        self.edges.clear();
        self.by_doc.clear();
        self.superseded.clear();
        self.live = 0;
        self.epoch = epoch;
        for e in edges {
            self.push(e);
        }
    }

    /// Forgets `doc` (retention dropped it): its edges stop counting anywhere.
    pub(crate) fn remove_doc(&mut self, doc: DocId) {
        let Some(ids) = self.by_doc.remove(&doc) else {
            return;
        };
        for id in ids {
            let Some(e) = self.edges.get_mut(id as usize) else {
                continue;
            };
            if e.live {
                self.live -= 1;
            }
            e.live = false;
            let other = if e.from == doc { e.to } else { e.from };
            if let Some(list) = self.by_doc.get_mut(&other) {
                list.retain(|&x| x != id);
            }
        }
        self.superseded.remove(doc);
        for list in self.pending.values_mut() {
            list.retain(|e| e.from != doc && e.to != doc);
        }
    }

    /// Live edges.
    pub(crate) fn live_edges(&self) -> u64 {
        self.live
    }
}

/// The catalog image's part (`retrieve/image.rs`; format in `docs/design.md` §4b):
///
/// ```text
/// detected := epoch u32 | list<doc_edge> (the live edges, in order)
///           | pending_count u32 | (epoch u32 | list<doc_edge>) * pending_count
/// doc_edge := from u32 | to u32 | edge (the item format's) | judge str
/// ```
///
/// Edges retention retired are not kept; the per-document lists are rebuilt.
impl DetectedGraph {
    pub(crate) fn encode(&self, e: &mut Encoder) {
        fn list<'a>(e: &mut Encoder, edges: impl ExactSizeIterator<Item = &'a DocEdge>) {
            e.len(edges.len());
            for x in edges {
                e.u32(x.from);
                e.u32(x.to);
                e.edge(&x.edge);
                e.str(&x.judge);
            }
        }
        e.u32(self.epoch);
        let live: Vec<&DocEdge> = self.all().collect();
        list(e, live.into_iter());
        e.len(self.pending.len());
        for (epoch, edges) in &self.pending {
            e.u32(*epoch);
            list(e, edges.iter());
        }
    }

    /// A graph as [`DetectedGraph::encode`] wrote it.
    pub(crate) fn decode(d: &mut Decoder<'_>) -> DecodeResult<Self> {
        fn list(d: &mut Decoder<'_>) -> DecodeResult<Vec<DocEdge>> {
            let n = d.count(8 + 15 + 4)?;
            let mut out = Vec::with_capacity(n);
            let mut judges: Vec<Arc<str>> = Vec::new();
            for _ in 0..n {
                let (from, to, edge) = (d.u32()?, d.u32()?, d.edge()?);
                let name = d.str()?;
                // Few judges: one shared string each.
                let judge = match judges.iter().find(|j| &***j == name) {
                    Some(j) => Arc::clone(j),
                    None => {
                        let j: Arc<str> = Arc::from(name);
                        judges.push(Arc::clone(&j));
                        j
                    }
                };
                out.push(DocEdge {
                    from,
                    to,
                    edge,
                    judge,
                    live: true,
                });
            }
            Ok(out)
        }
        let mut graph = Self {
            epoch: d.u32()?,
            ..Self::default()
        };
        for e in list(d)? {
            graph.push(e);
        }
        for _ in 0..d.count(8)? {
            let epoch = d.u32()?;
            graph.pending.insert(epoch, list(d)?);
        }
        Ok(graph)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(from: DocId, to: DocId, relation: Relation) -> DocEdge {
        let mut e = Edge::new(format!("c{from}"), format!("c{to}"), relation);
        e.detected = true;
        DocEdge {
            from,
            to,
            edge: e,
            judge: Arc::from("test"),
            live: true,
        }
    }

    #[test]
    fn removing_a_doc_retires_its_edges_both_ways() {
        let mut g = DetectedGraph::default();
        g.add(edge(5, 1, Relation::Contradicts), 0);
        g.add(edge(5, 2, Relation::Supersedes), 0);
        assert!(g.superseded.contains(2));
        g.remove_doc(1);
        assert_eq!(g.edges_of(5).count(), 1);
        assert_eq!(g.edges_of(1).count(), 0);
        assert_eq!(g.live_edges(), 1);
        g.remove_doc(2);
        assert!(!g.superseded.contains(2));
        assert_eq!(g.live_edges(), 0);
    }

    #[test]
    fn a_later_epoch_waits_until_activated_then_replaces_the_edges() {
        let mut g = DetectedGraph::default();
        g.add(edge(1, 0, Relation::Contradicts), 0);
        g.add(edge(2, 0, Relation::Supersedes), 1);
        g.add(edge(3, 0, Relation::Contradicts), 2);
        assert_eq!(g.live_edges(), 1);
        assert!(!g.superseded.contains(0));
        g.activate(1);
        assert_eq!(g.epoch(), 1);
        let live: Vec<DocId> = g.all().map(|e| e.from).collect();
        assert_eq!(live, [2]);
        assert!(g.superseded.contains(0));
        // An edge of the old epoch arriving late is dropped; epoch 2 is still pending.
        g.add(edge(4, 0, Relation::Contradicts), 0);
        assert_eq!(g.live_edges(), 1);
        g.activate(2);
        let live: Vec<DocId> = g.all().map(|e| e.from).collect();
        assert_eq!(live, [3]);
        // Activating an older epoch changes nothing.
        g.activate(1);
        assert_eq!(g.epoch(), 2);
        assert_eq!(g.live_edges(), 1);
    }
}
