//! [`FilterIndex`]: roaring bitmaps of the documents carrying each entity, metadata pair and
//! evidence source, so a query's filters become bitmap intersections before any scoring.

use std::collections::HashMap;
use std::sync::Arc;

use roaring::RoaringBitmap;

use smallvec::SmallVec;

use super::DocId;
use crate::codec::{DecodeResult, Decoder, Encoder};
use crate::error::CorruptionKind;

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

/// Writes the key of one facet into `buf`: a kind letter, then the parts; a metadata pair carries
/// its key's length, so no two pairs encode alike.
fn encode(buf: &mut String, kind: char, a: &str, b: Option<&str>) {
    buf.clear();
    buf.push(kind);
    if let Some(b) = b {
        buf.push_str(&a.len().to_string());
        buf.push(':');
        buf.push_str(a);
        buf.push_str(b);
    } else {
        buf.push_str(a);
    }
}

/// A facet with at most this many documents keeps them in a sorted vector.
const SMALL_MAX: usize = 64;

/// The documents of one facet: a sorted vector, or a roaring bitmap once that is smaller.
///
/// A roaring bitmap spends a container (a 32-byte record and an allocation) on every 65,536
/// document ids a facet touches, then 2 bytes a document; a sorted vector 4 bytes a document.
/// A facet spread thinly over a large tenant (a source id, an entity: at 10M claims a few
/// hundred documents in as many containers) costs far less as a vector, so a vector becomes a
/// bitmap only once the bitmap would be smaller (checked as it doubles).
#[derive(Debug)]
enum Postings {
    Small(SmallVec<[DocId; 4]>),
    Large(RoaringBitmap),
}

/// Heap bytes a roaring container costs beside its values (its record and its allocation).
const CONTAINER_COST: usize = crate::heap::CONTAINER_BYTES as usize + 16;

/// True when `len` documents in `containers` roaring containers take less memory as a bitmap
/// than as a vector.
fn bitmap_pays(containers: usize, len: usize) -> bool {
    containers * CONTAINER_COST + len * 2 < len * 4
}

/// The roaring containers `docs` (sorted) would take: one per distinct high 16 bits.
fn containers(docs: &[DocId]) -> usize {
    1 + docs.windows(2).filter(|w| w[0] >> 16 != w[1] >> 16).count()
}

impl Postings {
    fn single(doc: DocId) -> Self {
        Postings::Small(smallvec::smallvec![doc])
    }

    fn insert(&mut self, doc: DocId) {
        match self {
            Postings::Small(v) => {
                match v.last() {
                    Some(&last) if last >= doc => {
                        if let Err(i) = v.binary_search(&doc) {
                            v.insert(i, doc);
                        }
                    }
                    _ => {
                        // Vectors grow by an eighth: a doubling leaves up to half unused, and
                        // a large tenant has hundreds of thousands of these.
                        if v.len() == v.capacity() {
                            v.reserve_exact((v.len() / 8).max(4));
                        }
                        v.push(doc); // ids mostly arrive in increasing order
                    }
                }
                if v.len() > SMALL_MAX
                    && v.len().is_power_of_two()
                    && bitmap_pays(containers(v), v.len())
                {
                    *self = Postings::Large(v.iter().copied().collect());
                }
            }
            Postings::Large(b) => {
                b.insert(doc);
            }
        }
    }

    fn remove(&mut self, doc: DocId) {
        match self {
            Postings::Small(v) => {
                if let Ok(i) = v.binary_search(&doc) {
                    v.remove(i);
                }
            }
            Postings::Large(b) => {
                b.remove(doc);
            }
        }
    }

    /// Keeps the documents of `live` only.
    fn retain_live(&mut self, live: &RoaringBitmap) {
        match self {
            Postings::Small(v) => v.retain(|d| live.contains(*d)),
            Postings::Large(b) => *b &= live,
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Postings::Small(v) => v.is_empty(),
            Postings::Large(b) => b.is_empty(),
        }
    }

    fn bitmap(&self) -> std::borrow::Cow<'_, RoaringBitmap> {
        match self {
            Postings::Small(v) => std::borrow::Cow::Owned(v.iter().copied().collect()),
            Postings::Large(b) => std::borrow::Cow::Borrowed(b),
        }
    }
}

/// Bitmaps from facet to documents, for one tenant.
///
/// Facet keys are interned (one string per distinct key, one id per string), so indexing a
/// document allocates nothing per document. A removed document leaves its postings behind,
/// masked by the live set, until they are compacted away (once removed documents outnumber
/// live ones): no per-document list of keys is kept to find them (it cost ~75 bytes a claim),
/// as Lucene keeps deleted documents in its postings until a merge.
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
    key_ids: HashMap<Arc<str>, u32, foldhash::fast::RandomState>,
    /// Per key id: its string (to unintern it) and its documents (live ones and removed ones
    /// not compacted away yet).
    /// (The string is shared with `key_ids`: one allocation per distinct key.)
    keys: Vec<(Option<Arc<str>>, Postings)>,
    /// Key ids whose bitmap emptied, for reuse.
    free: Vec<u32>,
    live: RoaringBitmap,
    /// Removed documents whose postings may remain (an upper bound): the postings are masked
    /// with `live` while it is above zero, and compacted once it passes the live count.
    stale: u64,
    /// Every document id below this may have been indexed: inserting one of them again first
    /// purges whatever it left behind.
    seen: DocId,
}

impl FilterIndex {
    /// Heap bytes held: key strings and ids, and every key's documents.
    pub(crate) fn heap_bytes(&self) -> u64 {
        use crate::heap;
        let postings = |p: &Postings| match p {
            Postings::Small(v) => heap::small(v),
            Postings::Large(b) => heap::bitmap(b),
        };
        heap::map(&self.key_ids)
            + self
                .key_ids
                .keys()
                .map(|k| k.len() as u64 + 16)
                .sum::<u64>()
            + heap::vec(&self.keys)
            + self.keys.iter().map(|(_, p)| postings(p)).sum::<u64>()
            + heap::vec(&self.free)
            + heap::bitmap(&self.live)
    }

    /// Adds `doc` to the bitmap of `key` (interning it).
    fn intern(&mut self, key: &str, doc: DocId) {
        if let Some(&id) = self.key_ids.get(key) {
            if let Some(k) = self.keys.get_mut(id as usize) {
                k.1.insert(doc);
            }
            return;
        }
        let name: Arc<str> = key.into();
        let bitmap = Postings::single(doc);
        let id = match self.free.pop() {
            Some(id) => {
                self.keys[id as usize] = (Some(Arc::clone(&name)), bitmap);
                id
            }
            None => {
                let Ok(id) = u32::try_from(self.keys.len()) else {
                    return; // 4 billion distinct facets: the rest are not filterable
                };
                self.keys.push((Some(Arc::clone(&name)), bitmap));
                id
            }
        };
        self.key_ids.insert(name, id);
    }

    /// Indexes `doc` (replacing what it had). Documents numbered in increasing order (as the
    /// catalog numbers them) are appended; an id indexed before is first purged from every
    /// key's postings, which reads them all.
    pub fn insert(&mut self, doc: DocId, facets: Facets<'_>) {
        if doc < self.seen {
            self.remove(doc);
            self.purge(doc);
        }
        self.seen = self.seen.max(doc.saturating_add(1));
        let mut buf = String::new();
        for e in facets.entities {
            encode(&mut buf, 'e', e, None);
            self.intern(&buf, doc);
        }
        for (k, v) in facets.metadata {
            encode(&mut buf, 'm', k, Some(v));
            self.intern(&buf, doc);
        }
        for s in facets.sources {
            encode(&mut buf, 's', s, None);
            self.intern(&buf, doc);
        }
        self.live.insert(doc);
    }

    /// Removes `doc`: it leaves the live set at once, its postings at the next compaction.
    pub fn remove(&mut self, doc: DocId) {
        if !self.live.remove(doc) {
            return;
        }
        self.stale += 1;
        if self.stale > self.live.len() {
            self.compact();
        }
    }

    /// Drops the postings of every removed document; keys left without documents are freed.
    fn compact(&mut self) {
        let live = &self.live;
        for (id, (name, postings)) in self.keys.iter_mut().enumerate() {
            if name.is_none() {
                continue; // a freed key
            }
            postings.retain_live(live);
            if postings.is_empty() {
                if let Some(name) = name.take() {
                    self.key_ids.remove(&name);
                    // `id` < `keys.len()` ≤ u32::MAX (ids are u32).
                    self.free.push(id as u32);
                }
            }
        }
        self.stale = 0;
    }

    /// Takes `doc` (not live) out of every key's postings.
    fn purge(&mut self, doc: DocId) {
        for (id, (name, postings)) in self.keys.iter_mut().enumerate() {
            if name.is_none() {
                continue;
            }
            postings.remove(doc);
            if postings.is_empty() {
                if let Some(name) = name.take() {
                    self.key_ids.remove(&name);
                    self.free.push(id as u32);
                }
            }
        }
    }

    /// Live documents.
    #[must_use]
    pub fn live(&self) -> &RoaringBitmap {
        &self.live
    }

    fn bitmap(
        &self,
        kind: char,
        a: &str,
        b: Option<&str>,
    ) -> Option<std::borrow::Cow<'_, RoaringBitmap>> {
        let mut key = String::new();
        encode(&mut key, kind, a, b);
        let id = self.key_ids.get(key.as_str())?;
        self.keys.get(*id as usize).map(|k| k.1.bitmap())
    }

    /// The live documents that pass `filter`. Starts from the first condition's documents, so
    /// a selective filter never copies the set of all live documents (removed documents still
    /// in the postings are masked out at the end).
    #[must_use]
    pub fn matching(&self, filter: &Filter) -> RoaringBitmap {
        let mut out: Option<RoaringBitmap> = None;
        let mut and = |b: &RoaringBitmap| match &mut out {
            Some(o) => *o &= b,
            None => out = Some(b.clone()),
        };
        let conditions = filter
            .entities
            .iter()
            .map(|e| ('e', e.as_str(), None))
            .chain(
                filter
                    .metadata
                    .iter()
                    .map(|(k, v)| ('m', k.as_str(), Some(v.as_str()))),
            );
        for (kind, a, b) in conditions {
            match self.bitmap(kind, a, b) {
                Some(bitmap) => and(bitmap.as_ref()),
                None => return RoaringBitmap::new(),
            }
        }
        if !filter.sources.is_empty() {
            let mut any = RoaringBitmap::new();
            for s in &filter.sources {
                if let Some(b) = self.bitmap('s', s, None) {
                    any |= b.as_ref();
                }
            }
            and(&any);
        }
        match out {
            Some(mut o) => {
                if self.stale > 0 {
                    o &= &self.live;
                }
                o
            }
            None => self.live.clone(),
        }
    }
}

/// The catalog image's part (`retrieve/image.rs`; format in `docs/design.md` §4b):
///
/// ```text
/// filters := key_count u32 | key * key_count | free list<u32> | live bitmap
///          | doc_count u32 | key_count u32 * doc_count | list<u32> (every document's keys)
/// key     := name opt<str> | tag u8 (0: small, 1: large) | list<u32> (small) or bitmap (large)
/// ```
///
/// The per-document key lists are no longer kept: they are written empty (`doc_count` 0) and
/// read past in an image that has them. A key's postings may hold removed documents (not in
/// `live`); the reader masks them until its first compaction.
impl FilterIndex {
    pub(crate) fn encode(&self, e: &mut Encoder) {
        e.len(self.keys.len());
        for (name, postings) in &self.keys {
            e.opt_str(name.as_deref());
            match postings {
                Postings::Small(v) => {
                    e.u8(0);
                    e.u32s(v);
                }
                Postings::Large(b) => {
                    e.u8(1);
                    e.bitmap(b);
                }
            }
        }
        e.u32s(&self.free);
        e.bitmap(&self.live);
        e.len(0);
        e.u32s(&[]);
    }

    /// An index as [`FilterIndex::encode`] wrote it, over documents numbered below `doc_count`.
    pub(crate) fn decode(d: &mut Decoder<'_>, doc_count: usize) -> DecodeResult<Self> {
        let n = d.count(2)?;
        let mut index = Self::default();
        index.keys.reserve(n);
        index.key_ids.reserve(n);
        for id in 0..n {
            let at = d.position();
            let name: Option<Arc<str>> = if d.flag()? {
                Some(Arc::from(d.str()?))
            } else {
                None
            };
            let postings = match d.u8()? {
                0 => {
                    let count = d.count(4)?;
                    let bytes = d.take(count * 4)?;
                    Postings::Small(
                        bytes
                            .chunks_exact(4)
                            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                            .collect(),
                    )
                }
                1 => {
                    // A bitmap spread thinly (written before vectors could grow past 64
                    // documents) comes back as the smaller vector.
                    let b = d.bitmap()?;
                    let stats = b.statistics();
                    if bitmap_pays(stats.n_containers as usize, b.len() as usize) {
                        Postings::Large(b)
                    } else {
                        Postings::Small(b.iter().collect())
                    }
                }
                _ => return Err((at, CorruptionKind::Malformed("bad facet postings tag"))),
            };
            let beyond = match &postings {
                Postings::Small(v) => v.last().copied(),
                Postings::Large(b) => b.max(),
            };
            if beyond.is_some_and(|doc| doc as usize >= doc_count) {
                return Err((at, CorruptionKind::Malformed("unknown document")));
            }
            if let Some(name) = &name {
                // `id` < `n` ≤ u32::MAX (a count).
                index.key_ids.insert(Arc::clone(name), id as u32);
            }
            index.keys.push((name, postings));
        }
        index.free = d.u32s()?;
        index.live = d.bitmap()?;
        if index
            .live
            .max()
            .is_some_and(|doc| doc as usize >= doc_count)
        {
            return Err((d.position(), CorruptionKind::Malformed("unknown document")));
        }
        // Per-document key lists (written by earlier versions): checked, not kept.
        let docs = d.count(4)?;
        if docs > doc_count {
            return Err((d.position(), CorruptionKind::Malformed("unknown document")));
        }
        let mut total = 0usize;
        for _ in 0..docs {
            total = total.saturating_add(d.u32()? as usize);
        }
        let at = d.position();
        let count = d.count(4)?;
        let keys = d.take(count * 4)?;
        let known = |c: &[u8]| (u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize) < n;
        if count != total || !keys.chunks_exact(4).all(known) {
            return Err((at, CorruptionKind::Malformed("bad key lists")));
        }
        // Every document below `doc_count` not live may have postings left (an upper bound).
        index.stale = (doc_count as u64).saturating_sub(index.live.len());
        index.seen = DocId::try_from(doc_count).unwrap_or(DocId::MAX);
        Ok(index)
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
        assert!(idx.key_ids.is_empty(), "no empty bitmaps left behind");
        add(&mut idx, 2, &["c"], &[], &[]);
        assert_eq!(idx.keys.len(), 1, "freed key ids are reused");
        assert!(idx.matching(&only("c")).contains(2));
    }

    fn entity(e: &str) -> Filter {
        Filter {
            entities: vec![e.to_owned()],
            ..Filter::default()
        }
    }

    fn ids(b: RoaringBitmap) -> Vec<DocId> {
        b.iter().collect()
    }

    #[test]
    fn removed_documents_stay_masked_through_an_image_and_reinsertion_purges_them() {
        let mut idx = FilterIndex::default();
        for d in 0..10 {
            add(&mut idx, d, &["x"], &[("n", &d.to_string())], &[]);
        }
        idx.remove(3);
        idx.remove(4);
        assert_eq!(idx.stale, 2, "no compaction yet: 2 removed, 8 live");
        let x: Vec<DocId> = vec![0, 1, 2, 5, 6, 7, 8, 9];
        assert_eq!(ids(idx.matching(&entity("x"))), x);
        let mut e = Encoder::default();
        idx.encode(&mut e);
        let bytes = e.buf;
        let mut back = FilterIndex::decode(&mut Decoder::new(&bytes), 10).unwrap();
        assert_eq!(
            ids(back.matching(&entity("x"))),
            x,
            "still masked after the image"
        );
        let three = Filter {
            metadata: vec![("n".into(), "3".into())],
            ..Filter::default()
        };
        assert!(back.matching(&three).is_empty());
        // Document 3 comes back with other facets: none of its old ones answer for it.
        add(&mut back, 3, &["y"], &[], &[]);
        assert!(back.matching(&three).is_empty());
        assert_eq!(ids(back.matching(&entity("y"))), [3]);
        assert!(!back.matching(&entity("x")).contains(3));
        // Removals compact whenever removed documents outnumber live ones.
        for d in [0, 1, 2, 5, 6, 7, 8, 9] {
            back.remove(d);
            assert!(back.stale <= back.live.len(), "compacted in time");
        }
        assert_eq!(ids(back.matching(&Filter::default())), [3]);
        assert!(back.matching(&entity("x")).is_empty());
        // A compaction frees the keys left without documents.
        back.compact();
        assert_eq!(back.key_ids.len(), 1, "only y's key is left");
        assert_eq!(ids(back.matching(&entity("y"))), [3]);
    }

    #[test]
    fn an_image_with_per_document_key_lists_still_reads() {
        // The part as earlier versions wrote it: keys, free list, live set, then every
        // document's key ids.
        let mut e = Encoder::default();
        e.len(2);
        e.opt_str(Some("ea"));
        e.u8(0);
        e.u32s(&[0, 2]);
        e.opt_str(Some("eb"));
        e.u8(1);
        e.bitmap(&[1, 2].into_iter().collect());
        e.u32s(&[]);
        e.bitmap(&[0, 1, 2].into_iter().collect());
        e.len(3);
        for len in [1, 1, 2] {
            e.len(len);
        }
        e.u32s(&[0, 1, 0, 1]);
        let bytes = e.buf;
        let idx = FilterIndex::decode(&mut Decoder::new(&bytes), 3).unwrap();
        assert_eq!(ids(idx.matching(&entity("a"))), [0, 2]);
        assert_eq!(ids(idx.matching(&entity("b"))), [1, 2]);
        // A key list naming an unknown key is damage.
        let mut bad = bytes.clone();
        let at = bad.len() - 4;
        bad[at] = 9;
        assert!(FilterIndex::decode(&mut Decoder::new(&bad), 3).is_err());
    }

    #[test]
    fn a_facet_spread_thinly_stays_a_vector_and_a_dense_one_becomes_a_bitmap() {
        let mut idx = FilterIndex::default();
        for i in 0..300u32 {
            add(&mut idx, i * 70_000, &["thin"], &[], &[]); // a container each
            add(&mut idx, 21_000_000 + i, &["dense"], &[], &[]); // one container
        }
        let form = |idx: &FilterIndex, e: &str| {
            let id = idx.key_ids[format!("e{e}").as_str()];
            matches!(idx.keys[id as usize].1, Postings::Large(_))
        };
        assert!(
            !form(&idx, "thin"),
            "300 documents in 300 containers: a vector"
        );
        assert!(
            form(&idx, "dense"),
            "300 documents in one container: a bitmap"
        );
        let thin: Vec<DocId> = (0..300).map(|i| i * 70_000).collect();
        assert_eq!(ids(idx.matching(&entity("thin"))), thin);
        // Written as a bitmap (as earlier versions did past 64 documents), read back as the
        // vector it should be.
        let mut e = Encoder::default();
        e.len(1);
        e.opt_str(Some("ethin"));
        e.u8(1);
        e.bitmap(&thin.iter().copied().collect());
        e.u32s(&[]);
        e.bitmap(&thin.iter().copied().collect());
        e.len(0);
        e.u32s(&[]);
        let back = FilterIndex::decode(&mut Decoder::new(&e.buf), 21_000_000).unwrap();
        assert!(!form(&back, "thin"));
        assert_eq!(ids(back.matching(&entity("thin"))), thin);
    }

    #[test]
    fn small_and_large_postings_agree_with_a_model() {
        // Out-of-order inserts, growth past the small-vector limit, removals on both sides.
        let mut idx = FilterIndex::default();
        let mut model = std::collections::BTreeSet::new();
        let docs: Vec<DocId> = (0..300u32).map(|i| (i * 7919) % 300).collect();
        for (n, &d) in docs.iter().enumerate() {
            add(&mut idx, d, &["x"], &[], &[]);
            model.insert(d);
            if n % 5 == 4 {
                let gone = docs[n / 2];
                idx.remove(gone);
                model.remove(&gone);
            }
            if n == 40 || n == 299 {
                let got: Vec<DocId> = idx
                    .matching(&Filter {
                        entities: vec!["x".into()],
                        ..Filter::default()
                    })
                    .iter()
                    .collect();
                assert_eq!(got, model.iter().copied().collect::<Vec<_>>(), "after {n}");
            }
        }
    }
}
