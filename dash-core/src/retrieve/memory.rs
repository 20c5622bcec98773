//! [`IndexMemory`]: the heap the retrieval catalog holds, by component.

use super::catalog::{Doc, SharedTenant, TenantIndex};
use crate::heap;
use crate::index::FilterIndex;

/// Heap bytes the retrieval catalog holds, by component, summed over tenants
/// ([`Store::index_memory`](crate::Store::index_memory)).
///
/// Each figure is what the component's containers asked the allocator for; the allocator's
/// rounding and the memory it keeps for reuse come on top, and so do the memtables, the WAL
/// buffers and the mapped files (segments, graph files: file-backed pages the kernel can drop,
/// not heap). The sum against the process' anonymous resident memory shows what the catalog
/// costs per claim and where it goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct IndexMemory {
    /// Tenants counted.
    pub tenants: u64,
    /// Documents (live claim versions) counted.
    pub documents: u64,
    /// The document table: version, commit, recorded and valid intervals, evidence weight and
    /// where the content is, per document.
    pub document_table: u64,
    /// Claim ids, each claim's documents, and the id → number index.
    pub claims: u64,
    /// Lexical postings (document and impact per posting).
    pub lexical_postings: u64,
    /// Lexical per-document term lists and lengths (for exact removal and long documents).
    pub lexical_documents: u64,
    /// The lexical term dictionary, word cache, and per-term bounds and frequencies.
    pub lexical_terms: u64,
    /// Facet keys, their documents, and each document's keys.
    pub filters: u64,
    /// The current, removed, net-contradicting and superseded bitmaps (and, while an open
    /// indexes the segments, the documents waiting for their graph files' vectors).
    pub bitmaps: u64,
    /// Vectors searched exactly (not in a graph yet): a copy of each unit vector.
    pub dense_exact: u64,
    /// Dense graphs in memory: a graph built here holds its vectors; a graph viewed from its
    /// file holds per-node tables only (its vectors are mapped).
    pub dense_graphs: u64,
    /// Caller-given edges (incoming lists) and detected edges.
    pub edges: u64,
}

impl IndexMemory {
    /// Every component's bytes added up.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.document_table
            + self.claims
            + self.lexical_postings
            + self.lexical_documents
            + self.lexical_terms
            + self.filters
            + self.bitmaps
            + self.dense_exact
            + self.dense_graphs
            + self.edges
    }

    fn add(&mut self, o: &Self) {
        self.tenants += o.tenants;
        self.documents += o.documents;
        self.document_table += o.document_table;
        self.claims += o.claims;
        self.lexical_postings += o.lexical_postings;
        self.lexical_documents += o.lexical_documents;
        self.lexical_terms += o.lexical_terms;
        self.filters += o.filters;
        self.bitmaps += o.bitmaps;
        self.dense_exact += o.dense_exact;
        self.dense_graphs += o.dense_graphs;
        self.edges += o.edges;
    }
}

/// One tenant's figures.
fn of_tenant(t: &TenantIndex) -> IndexMemory {
    let (lexical_postings, lexical_documents, lexical_terms) = t.lexical.heap_bytes();
    let (dense_exact, dense_graphs) = t.dense.as_ref().map_or((0, 0), |d| d.heap_bytes());
    let incoming = heap::map(&t.incoming) + t.incoming.values().map(heap::vec).sum::<u64>();
    IndexMemory {
        tenants: 1,
        documents: t.docs.len() as u64,
        document_table: heap::vec::<Doc>(&t.docs),
        claims: t.claims.heap_bytes(),
        lexical_postings,
        lexical_documents,
        lexical_terms,
        filters: t.filters.peek().map_or(0, FilterIndex::heap_bytes),
        bitmaps: heap::bitmap(&t.current)
            + heap::bitmap(&t.removed)
            + heap::bitmap(&t.net_contradicting)
            + heap::bitmap(&t.superseded_targets)
            + t.graph_vectors.heap_bytes(),
        dense_exact,
        dense_graphs,
        edges: incoming + t.detected.heap_bytes(),
    }
}

/// The figures of `cells`, each tenant read once as it is.
pub(crate) fn of_tenants(cells: &[SharedTenant]) -> IndexMemory {
    let mut sum = IndexMemory::default();
    for cell in cells {
        match cell.read_if_decoded() {
            Some(t) => sum.add(&of_tenant(&t)),
            // Not decoded: it holds no index memory yet (and reading it would decode it).
            None => {
                sum.tenants += 1;
                sum.documents += u64::from(cell.documents());
            }
        }
    }
    sum
}
