//! [`FilterIndex`]: roaring bitmaps of the documents carrying each entity, metadata pair and
//! evidence source, so a query's filters become bitmap intersections before any scoring.

use std::collections::HashMap;

use roaring::RoaringBitmap;

use super::DocId;

/// What a document can be filtered on.
#[derive(Debug, Clone, Copy)]
pub struct Facets<'a> {
    /// The claim's entities.
    pub entities: &'a [String],
    /// The claim's metadata pairs.
    pub metadata: &'a std::collections::BTreeMap<String, String>,
    /// The source ids of the claim's evidence (duplicates are fine).
    pub sources: &'a [&'a str],
}

/// A conjunction of conditions; an empty filter keeps every live document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// The document has every one of these entities (exact, case-sensitive match).
    pub entities: Vec<String>,
    /// The document has every one of these `key = value` metadata pairs.
    pub metadata: Vec<(String, String)>,
    /// The document has evidence from at least one of these sources (ignored when empty).
    pub sources: Vec<String>,
}

impl Filter {
    /// True when the filter has no condition.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entities.is_empty() && self.metadata.is_empty() && self.sources.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Key {
    Entity(String),
    Meta(String, String),
    Source(String),
}

/// Bitmaps from facet to documents, for one tenant.
///
/// ```
/// use std::collections::BTreeMap;
/// use dash_core::index::{Facets, Filter, FilterIndex};
///
/// let mut idx = FilterIndex::default();
/// let meta = BTreeMap::from([("lang".to_string(), "en".to_string())]);
/// idx.insert(7, Facets { entities: &["Paris".into()], metadata: &meta, sources: &["wiki"] });
/// let f = Filter { entities: vec!["Paris".into()], ..Filter::default() };
/// assert!(idx.matching(&f).contains(7));
/// ```
#[derive(Debug, Default)]
pub struct FilterIndex {
    bitmaps: HashMap<Key, RoaringBitmap>,
    /// The keys each document was indexed under, so removal is exact.
    keys: HashMap<DocId, Vec<Key>>,
    live: RoaringBitmap,
}

impl FilterIndex {
    /// Indexes `doc` (replacing what it had).
    pub fn insert(&mut self, doc: DocId, facets: Facets<'_>) {
        self.remove(doc);
        let mut keys: Vec<Key> = facets
            .entities
            .iter()
            .map(|e| Key::Entity(e.clone()))
            .chain(
                facets
                    .metadata
                    .iter()
                    .map(|(k, v)| Key::Meta(k.clone(), v.clone())),
            )
            .chain(facets.sources.iter().map(|s| Key::Source((*s).to_owned())))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        for key in &keys {
            self.bitmaps.entry(key.clone()).or_default().insert(doc);
        }
        self.keys.insert(doc, keys);
        self.live.insert(doc);
    }

    /// Removes `doc` from every bitmap.
    pub fn remove(&mut self, doc: DocId) {
        let Some(keys) = self.keys.remove(&doc) else {
            return;
        };
        for key in keys {
            if let Some(bitmap) = self.bitmaps.get_mut(&key) {
                bitmap.remove(doc);
                if bitmap.is_empty() {
                    self.bitmaps.remove(&key);
                }
            }
        }
        self.live.remove(doc);
    }

    /// Live documents.
    #[must_use]
    pub fn live(&self) -> &RoaringBitmap {
        &self.live
    }

    /// The live documents that pass `filter`.
    #[must_use]
    pub fn matching(&self, filter: &Filter) -> RoaringBitmap {
        let mut out = self.live.clone();
        let empty = RoaringBitmap::new();
        let get = |key: &Key| self.bitmaps.get(key).unwrap_or(&empty);
        for e in &filter.entities {
            out &= get(&Key::Entity(e.clone()));
        }
        for (k, v) in &filter.metadata {
            out &= get(&Key::Meta(k.clone(), v.clone()));
        }
        if !filter.sources.is_empty() {
            let mut any = RoaringBitmap::new();
            for s in &filter.sources {
                any |= get(&Key::Source(s.clone()));
            }
            out &= any;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn add(
        idx: &mut FilterIndex,
        doc: DocId,
        entities: &[&str],
        meta: &[(&str, &str)],
        src: &[&str],
    ) {
        let entities: Vec<String> = entities.iter().map(|s| (*s).to_owned()).collect();
        let metadata: BTreeMap<String, String> = meta
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        idx.insert(
            doc,
            Facets {
                entities: &entities,
                metadata: &metadata,
                sources: src,
            },
        );
    }

    #[test]
    fn conjunction_of_entities_and_metadata_disjunction_of_sources() {
        let mut idx = FilterIndex::default();
        add(&mut idx, 1, &["a", "b"], &[("lang", "en")], &["s1"]);
        add(&mut idx, 2, &["a"], &[("lang", "fr")], &["s2"]);
        add(&mut idx, 3, &["b"], &[("lang", "en")], &["s2", "s3"]);
        let f = |e: &[&str], m: &[(&str, &str)], s: &[&str]| Filter {
            entities: e.iter().map(|x| (*x).to_owned()).collect(),
            metadata: m
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            sources: s.iter().map(|x| (*x).to_owned()).collect(),
        };
        let ids = |b: RoaringBitmap| b.iter().collect::<Vec<_>>();
        assert_eq!(ids(idx.matching(&Filter::default())), [1, 2, 3]);
        assert_eq!(ids(idx.matching(&f(&["a"], &[], &[]))), [1, 2]);
        assert_eq!(ids(idx.matching(&f(&["a", "b"], &[], &[]))), [1]);
        assert_eq!(ids(idx.matching(&f(&[], &[("lang", "en")], &[]))), [1, 3]);
        assert_eq!(ids(idx.matching(&f(&[], &[], &["s1", "s3"]))), [1, 3]);
        assert!(idx.matching(&f(&["zzz"], &[], &[])).is_empty());
    }

    #[test]
    fn removal_and_reinsertion_are_exact() {
        let mut idx = FilterIndex::default();
        add(&mut idx, 1, &["a"], &[], &[]);
        add(&mut idx, 1, &["b"], &[], &[]);
        let only = |e: &str| Filter {
            entities: vec![e.to_owned()],
            ..Filter::default()
        };
        assert!(idx.matching(&only("a")).is_empty());
        assert!(idx.matching(&only("b")).contains(1));
        idx.remove(1);
        assert!(idx.matching(&Filter::default()).is_empty());
        assert!(idx.bitmaps.is_empty(), "no empty bitmaps left behind");
    }
}
