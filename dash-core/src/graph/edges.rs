//! A tenant's detected edges: between claim *versions* (documents), with per-version degree
//! caps and counters.

use std::collections::{HashMap, VecDeque};

use roaring::RoaringBitmap;

use crate::index::DocId;
use crate::model::{Edge, Relation};

/// One detected edge between two documents.
#[derive(Debug, Clone)]
pub(crate) struct DetectedEdge {
    pub(crate) from: DocId,
    pub(crate) to: DocId,
    /// The edge as answers show it (`detected: true`, confidence as strength, a reason).
    pub(crate) edge: Edge,
    /// False once retention dropped an endpoint.
    pub(crate) live: bool,
}

/// What detection did, summed since open.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DetectionStats {
    /// Edges built.
    pub(crate) built: u64,
    /// Edges not built because an endpoint had reached the degree cap.
    pub(crate) dropped_degree: u64,
    /// Detector judgements below the confidence floor.
    pub(crate) dropped_floor: u64,
    /// Pairs handed to the free-text detector.
    pub(crate) judged: u64,
}

impl std::ops::AddAssign for DetectionStats {
    fn add_assign(&mut self, o: Self) {
        self.built += o.built;
        self.dropped_degree += o.dropped_degree;
        self.dropped_floor += o.dropped_floor;
        self.judged += o.judged;
    }
}

type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// The detected edges of one tenant, and the structured-claim groups detection looks up.
#[derive(Debug, Default)]
pub(crate) struct DetectedGraph {
    edges: Vec<DetectedEdge>,
    by_doc: Map<DocId, Vec<u32>>,
    /// Documents some detected `supersedes` edge points at.
    pub(crate) superseded: RoaringBitmap,
    /// Normalised (subject, predicate) → documents of structured claims, in processing order.
    pub(crate) groups: Map<(Box<str>, Box<str>), Vec<DocId>>,
    /// Normalised object of each structured document.
    pub(crate) objects: Map<DocId, Box<str>>,
    /// Per entity, the documents detection processed most recently (the free-text candidate
    /// source; bounded).
    pub(crate) recent: Map<Box<str>, VecDeque<DocId>>,
    pub(crate) stats: DetectionStats,
    live: u64,
}

impl DetectedGraph {
    /// Detected edges touching `doc` (live ones).
    pub(crate) fn edges_of(&self, doc: DocId) -> impl Iterator<Item = &DetectedEdge> + '_ {
        self.by_doc
            .get(&doc)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .filter_map(|&i| self.edges.get(i as usize))
            .filter(|e| e.live)
    }

    /// The recent list of `entity`, created empty the first time (a key is allocated only
    /// then; `Some` always — an `Option` only because the borrow checker cannot yet return
    /// the `get_mut` hit and insert on a miss in one expression).
    pub(crate) fn recent_mut(&mut self, entity: &str) -> Option<&mut VecDeque<DocId>> {
        if !self.recent.contains_key(entity) {
            self.recent.insert(entity.into(), VecDeque::new());
        }
        self.recent.get_mut(entity)
    }

    /// Every live edge, in the order built.
    pub(crate) fn all(&self) -> impl Iterator<Item = &DetectedEdge> + '_ {
        self.edges.iter().filter(|e| e.live)
    }

    /// Edges of `doc` whose other end is `alive`.
    fn degree(&self, doc: DocId, alive: &impl Fn(DocId) -> bool) -> usize {
        self.edges_of(doc)
            .filter(|e| alive(if e.from == doc { e.to } else { e.from }))
            .count()
    }

    /// Adds the proposed edges of one new document, strongest first, skipping those whose
    /// endpoints have reached `max_degree` edges to `alive` documents (counted as dropped).
    pub(crate) fn add(
        &mut self,
        mut proposals: Vec<DetectedEdge>,
        max_degree: usize,
        alive: impl Fn(DocId) -> bool,
    ) {
        proposals.sort_by(|a, b| {
            b.edge
                .strength
                .total_cmp(&a.edge.strength)
                .then_with(|| (a.from, a.to).cmp(&(b.from, b.to)))
        });
        for p in proposals {
            if self.degree(p.from, &alive) >= max_degree || self.degree(p.to, &alive) >= max_degree
            {
                self.stats.dropped_degree += 1;
                continue;
            }
            let Ok(id) = u32::try_from(self.edges.len()) else {
                self.stats.dropped_degree += 1;
                continue;
            };
            self.by_doc.entry(p.from).or_default().push(id);
            self.by_doc.entry(p.to).or_default().push(id);
            if p.edge.relation == Relation::Supersedes {
                self.superseded.insert(p.to);
            }
            self.edges.push(p);
            self.stats.built += 1;
            self.live += 1;
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
        self.objects.remove(&doc);
        // The structured groups and the recent lists may still name `doc`: detection skips
        // documents without content, and the recent lists drop them on their next scan.
    }

    /// Drops every edge and group (before a rebuild); the counters stay.
    pub(crate) fn clear(&mut self) {
        let stats = self.stats;
        *self = Self::default();
        self.stats = stats;
    }

    /// Live edges.
    pub(crate) fn live_edges(&self) -> u64 {
        self.live
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(from: DocId, to: DocId, strength: f32) -> DetectedEdge {
        let mut e = Edge::new(format!("c{from}"), format!("c{to}"), Relation::Contradicts);
        e.strength = strength;
        e.detected = true;
        DetectedEdge {
            from,
            to,
            edge: e,
            live: true,
        }
    }

    #[test]
    fn degree_cap_keeps_the_strongest_and_counts_the_rest() {
        let mut g = DetectedGraph::default();
        g.add(
            vec![edge(9, 1, 0.7), edge(9, 2, 0.9), edge(9, 3, 0.8)],
            2,
            |_| true,
        );
        let kept: Vec<DocId> = g.edges_of(9).map(|e| e.to).collect();
        assert_eq!(kept, [2, 3]);
        assert_eq!(g.stats.built, 2);
        assert_eq!(g.stats.dropped_degree, 1);
        // Doc 2 has degree 1; doc 9 is full, so nothing more attaches to it.
        g.add(vec![edge(10, 9, 1.0), edge(10, 2, 1.0)], 2, |_| true);
        assert_eq!(g.edges_of(10).count(), 1);
        assert_eq!(g.stats.dropped_degree, 2);
    }

    #[test]
    fn removing_a_doc_retires_its_edges_both_ways() {
        let mut g = DetectedGraph::default();
        g.add(vec![edge(5, 1, 0.9), edge(5, 2, 0.9)], 16, |_| true);
        g.remove_doc(1);
        assert_eq!(g.edges_of(5).count(), 1);
        assert_eq!(g.edges_of(1).count(), 0);
        assert_eq!(g.live_edges(), 1);
        g.clear();
        assert_eq!(g.live_edges(), 0);
        assert_eq!(g.stats.built, 2);
    }
}
