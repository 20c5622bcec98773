//! Graph files: each tenant's sealed HNSW graphs saved beside the segments, so an open loads
//! them instead of rebuilding them (minutes at a million vectors).
//!
//! ```text
//! graphs/<t>.list                 the tenant's current graphs (<t>: BLAKE3 of the tenant id,
//!                                  32 hex chars: fixed length, and no two ids alike on a
//!                                  case-insensitive file system)
//! graphs/<t>.<16 hex chars>.graph  one graph (the hex: the start of the file's BLAKE3)
//!
//! LIST  := frame("DASHGLS\0", 1, tenant str | count u32 | name str * count)
//! graph := frame("DASHGRF\0", 2, dim u32 | max_nb_connection u32 | ef_construction u32
//!                | doc_count u32 | stamp * doc_count | usearch_len u64
//!                | pad u8 | 0 * pad | usearch bytes)
//! stamp := doc u32 | lsn u64 | version u32 | claim u64 (the first 8 bytes of BLAKE3(claim id))
//! ```
//! (`frame` is `crate::frame`'s: magics, format version, BLAKE3 of the whole file.) `pad`
//! zero bytes put usearch's bytes at a multiple of 64 from the start of the file: an open maps
//! the file and *views* the graph in place (vectors and links are read from the page cache, not
//! copied to the heap), so its floats lie aligned as in a file of usearch's own. Graph files of
//! format 1 (unaligned, loaded by copy) are discarded at open and rebuilt once.
//!
//! A graph file is a cache of what the segments hold, never the only copy: a file that is
//! missing, damaged (BLAKE3), of another format, or whose stamps do not match the documents the
//! open numbered (retention dropped versions since, so numbers moved) is discarded, and its
//! documents are sealed again by the indexer as before. Every stamp is checked, so a graph is
//! only adopted when each of its document numbers names the same claim version it was built
//! from. Writes: the graph files first (fsynced), then `LIST` through a temporary file and a
//! rename (fsynced, directory synced), and only then are unlisted files removed — after a crash
//! `LIST` names complete files.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use roaring::RoaringBitmap;

use crate::codec::{hash_bytes, hash_more, DecodeResult, Decoder, Encoder};
use crate::frame::{frame, header, trailer, unframe_file, BODY_OFFSET};
use crate::index::{DocId, HnswIndex, HnswParams};
use crate::model::TenantId;
use crate::storage::{FileBytes, Storage};

use super::catalog::{Catalog, TenantIndex};

/// Directory of the graph files, relative to the store root.
pub(crate) const GRAPH_DIR: &str = "graphs";
const LIST_SUFFIX: &str = ".list";
const LIST_MAGIC: [u8; 8] = *b"DASHGLS\0";
const GRAPH_MAGIC: [u8; 8] = *b"DASHGRF\0";
/// The list format this build writes (and the only one it reads).
pub(crate) const LIST_FORMAT: u16 = 1;
/// The graph file format this build writes (and the only one it reads).
pub(crate) const GRAPH_FORMAT: u16 = 2;
/// Where usearch's bytes start in a graph file: a multiple of this.
const GRAPH_ALIGN: usize = 64;

/// What identifies the claim version behind a document number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub(crate) doc: DocId,
    pub(crate) lsn: u64,
    pub(crate) version: u32,
    pub(crate) claim: u64,
}

/// The stamps of `docs` in `index` (`None` if one is not a document). A document whose
/// version retention dropped keeps its stamp: its number still means that version (searches
/// skip it), so a purge after a graph was saved does not make the graph misfit.
pub(crate) fn stamps(index: &TenantIndex, docs: &[DocId]) -> Option<Vec<Stamp>> {
    let mut out = Vec::with_capacity(docs.len());
    for &doc in docs {
        out.push(stamp(index, doc)?);
    }
    Some(out)
}

/// The stamp of `doc` in `index` (`None` if it is not a document).
fn stamp(index: &TenantIndex, doc: DocId) -> Option<Stamp> {
    let d = index.docs.get(doc as usize)?;
    let claim = index.claims.get(d.claim)?;
    Some(Stamp {
        doc,
        lsn: d.lsn.0,
        version: d.version,
        claim: claim_hash(&claim.id),
    })
}

/// True when `docs` in `index` have exactly the `saved` stamps. Compared in place, on every
/// core: at 1M documents a reopen checked a million stamps (a BLAKE3 of each claim id) before
/// its first answer, into a vector grown by doubling.
fn stamps_match(index: &TenantIndex, docs: &[DocId], saved: &[Stamp]) -> bool {
    docs.len() == saved.len() && stamps_match_below(index, docs, saved, DocId::MAX)
}

/// [`stamps_match`] for the documents numbered below `limit` only (the others are not
/// compared).
fn stamps_match_below(index: &TenantIndex, docs: &[DocId], saved: &[Stamp], limit: DocId) -> bool {
    use rayon::prelude::*;
    docs.par_iter()
        .zip(saved.par_iter())
        .with_min_len(4096)
        .filter(|(&doc, _)| doc < limit)
        .all(|(&doc, saved)| stamp(index, doc).as_ref() == Some(saved))
}

fn claim_hash(id: &str) -> u64 {
    let h = hash_bytes(id.as_bytes());
    u64::from_le_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]])
}

/// The prefix of the tenant's files: a hash of its id.
fn tenant_prefix(tenant: &TenantId) -> String {
    hex(&hash_bytes(tenant.as_str().as_bytes())[..16])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One graph to keep on disk: the graph, and for one not saved yet its stamps.
pub(crate) type ToSave = (Arc<HnswIndex>, Option<Vec<Stamp>>);

/// A graph just saved, and its view from the file, to take its place.
pub(crate) type Replacement = (Arc<HnswIndex>, HnswIndex);

/// Saves `tenant`'s current graphs: writes those not saved yet, publishes the list of all, then
/// removes the files no longer listed. Graphs whose stamps are missing are left out. Returns,
/// for each graph written, a view of it from its file, to take the built graph's place (which
/// frees the graph's heap memory: its vectors and links are read from the page cache after).
///
/// # Errors
/// The first I/O error (the files are a cache: the caller reports it and goes on).
pub(crate) fn save(
    storage: &dyn Storage,
    tenant: &TenantId,
    graphs: &[ToSave],
) -> std::io::Result<Vec<Replacement>> {
    let dir = Path::new(GRAPH_DIR);
    let prefix = tenant_prefix(tenant);
    storage.create_dir_all(dir)?;
    let mut names: Vec<String> = Vec::new();
    let mut written = Vec::new();
    for (graph, stamps) in graphs {
        if let Some(name) = graph.file() {
            names.push(name.to_owned());
            continue;
        }
        let Some(stamps) = stamps else { continue };
        let name = write_graph(storage, dir, &prefix, graph, stamps)?;
        graph.set_file(&name);
        written.push((Arc::clone(graph), dir.join(&name)));
        names.push(name);
    }
    let mut body = Encoder::default();
    body.str(tenant.as_str());
    body.u32(u32::try_from(names.len()).unwrap_or(u32::MAX));
    for name in &names {
        body.str(name);
    }
    let list = format!("{prefix}{LIST_SUFFIX}");
    let temp = dir.join(format!("{list}.tmp"));
    let mut file = storage.create(&temp)?;
    file.append(&frame(LIST_MAGIC, LIST_FORMAT, &body.buf))?;
    file.sync_data()?;
    storage.rename(&temp, &dir.join(&list))?;
    storage.sync_dir(dir)?;
    // Only now may the graphs the list no longer names go (this tenant's files only).
    let keep: HashSet<&str> = names.iter().map(String::as_str).collect();
    for name in storage.list(dir)? {
        let ours = name.starts_with(&format!("{prefix}."));
        if ours && name != list && !keep.contains(name.as_str()) {
            storage.remove(&dir.join(&name))?;
        }
    }
    // Read back as an open would (which also proves the bytes on disk).
    let mut views = Vec::new();
    for (graph, path) in written {
        let (_, view) = read_graph(storage, &path, graph.params())
            .map_err(|why| std::io::Error::other(format!("{}: {why}", path.display())))?;
        if let Some(name) = graph.file() {
            view.set_file(name);
        }
        views.push((graph, view));
    }
    Ok(views)
}

/// Writes `graph` as a graph file (framed: header, the body's fields, the serialized graph,
/// trailer) named by its hash, fsynced; returns the name. On a local directory usearch saves
/// the graph to a file of its own (buffered writes: the heap never holds a serialized copy of a
/// graph of gigabytes) which is then copied behind the head, hashed as it goes, and removed;
/// elsewhere the serialized graph is the one copy made. Either way the file is written under
/// a temporary name and renamed once its hash is known (the list's directory sync makes the
/// rename durable; a temporary file left by a crash is unlisted, so the next open removes it).
fn write_graph(
    storage: &dyn Storage,
    dir: &Path,
    prefix: &str,
    graph: &HnswIndex,
    stamps: &[Stamp],
) -> std::io::Result<String> {
    let backend = |e: crate::index::VectorError| std::io::Error::other(e.to_string());
    let temp = dir.join(format!("{prefix}.graph.tmp"));
    let mut file = storage.create(&temp)?;
    let mut hasher = blake3::Hasher::new();
    let mut put = |bytes: &[u8]| {
        hash_more(&mut hasher, bytes);
        file.append(bytes)
    };
    match storage.local_path(&dir.join(format!("{prefix}.usearch.tmp"))) {
        Some(raw) if !graph.is_empty() => {
            let copied = graph.save_graph(&raw).map_err(backend).and_then(|len| {
                copy_after_head(&raw, len, &graph_head(graph, stamps, len), &mut put)
            });
            let _ = std::fs::remove_file(&raw);
            copied?;
        }
        _ => {
            let blob = graph.graph_bytes().map_err(backend)?;
            put(&graph_head(graph, stamps, blob.len()))?;
            put(&blob)?;
        }
    }
    let hash = *hasher.finalize().as_bytes();
    file.append(&trailer(hash, GRAPH_MAGIC))?;
    file.sync_data()?;
    drop(file);
    let name = format!("{prefix}.{}.graph", hex(&hash[..8]));
    storage.rename(&temp, &dir.join(&name))?;
    Ok(name)
}

/// Puts `head`, then the `len` bytes of the file usearch saved at `raw`, read 8 MiB at a time.
fn copy_after_head(
    raw: &Path,
    len: usize,
    head: &[u8],
    put: &mut impl FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    use std::io::Read;
    let mut saved = std::fs::File::open(raw)?;
    if saved.metadata()?.len() != len as u64 {
        return Err(std::io::Error::other(
            "usearch saved a graph of another length than it announced",
        ));
    }
    put(head)?;
    let mut buf = vec![0u8; (8 << 20).min(len.max(1))];
    let mut left = len;
    while left > 0 {
        let n = buf.len().min(left);
        saved.read_exact(&mut buf[..n])?;
        put(&buf[..n])?;
        left -= n;
    }
    Ok(())
}

/// A graph file's bytes before its serialized graph (`blob_len` bytes): the frame's header,
/// the parameters, the stamps, and the padding that aligns the graph.
fn graph_head(graph: &HnswIndex, stamps: &[Stamp], blob_len: usize) -> Vec<u8> {
    let mut body = Encoder::default();
    body.bytes(&header(GRAPH_MAGIC, GRAPH_FORMAT));
    let params = graph.params();
    let as_u32 = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    body.u32(as_u32(graph.dim()));
    body.u32(as_u32(params.max_nb_connection));
    body.u32(as_u32(params.ef_construction));
    body.u32(as_u32(stamps.len()));
    for s in stamps {
        body.u32(s.doc);
        body.u64(s.lsn);
        body.u32(s.version);
        body.u64(s.claim);
    }
    body.u64(blob_len as u64);
    // The pad byte itself comes first, then as many zeros as align the graph.
    let pad = (GRAPH_ALIGN - (body.buf.len() + 1) % GRAPH_ALIGN) % GRAPH_ALIGN;
    body.u8(pad as u8);
    body.bytes(&vec![0; pad]);
    body.buf
}

/// What an open did with the graph files.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct LoadReport {
    /// Graphs adopted.
    pub(crate) loaded: u64,
    /// Graph files (or lists) found unusable, each with why; they are removed.
    pub(crate) discarded: Vec<(PathBuf, String)>,
}

/// A graph read back from its file, verified, not yet checked against the catalog.
pub(crate) struct Saved {
    tenant: TenantId,
    path: PathBuf,
    stamps: Vec<Stamp>,
    graph: HnswIndex,
}

impl Saved {
    /// True when this is `tenant`'s graph file `name`.
    pub(crate) fn is(&self, tenant: &TenantId, name: &str) -> bool {
        &self.tenant == tenant && self.graph.file() == Some(name)
    }
}

/// Reads every tenant's listed graphs (the slow part: BLAKE3 of each file, usearch's load),
/// with no lock held. Unusable files and lists go to the report; unlisted files are removed.
pub(crate) fn read(storage: &dyn Storage, params: HnswParams) -> (Vec<Saved>, LoadReport) {
    let mut report = LoadReport::default();
    let mut saved = Vec::new();
    let dir = Path::new(GRAPH_DIR);
    let Ok(files) = storage.list(dir) else {
        return (saved, report);
    };
    let mut listed_names: HashSet<String> = HashSet::new();
    for list in files.iter().filter(|f| f.ends_with(LIST_SUFFIX)) {
        let list_path = dir.join(list);
        let prefix = &list[..list.len() - LIST_SUFFIX.len()];
        let listed = match read_list(storage, &list_path) {
            Ok(listed) => listed,
            Err(why) => {
                report.discarded.push((list_path, why));
                continue;
            }
        };
        // The list names its tenant, which must be the one its name says.
        let (tenant, names) = match listed.split_first() {
            Some((tenant, names)) if tenant_prefix(&TenantId::new(tenant.as_str())) == prefix => {
                (TenantId::new(tenant.as_str()), names.to_vec())
            }
            _ => {
                report
                    .discarded
                    .push((list_path, "the list names another tenant".into()));
                continue;
            }
        };
        listed_names.insert(list.clone());
        for name in &names {
            if !name.starts_with(&format!("{prefix}.")) {
                continue; // never another tenant's file
            }
            listed_names.insert(name.clone());
            let path = dir.join(name);
            match read_graph(storage, &path, params) {
                Ok((stamps, graph)) => {
                    graph.set_file(name);
                    saved.push(Saved {
                        tenant: tenant.clone(),
                        path,
                        stamps,
                        graph,
                    });
                }
                Err(why) => report.discarded.push((path, why)),
            }
        }
    }
    // Files no list names: a save cut short, or graphs replaced before a crash.
    for f in files.iter().filter(|f| !listed_names.contains(*f)) {
        if !report.discarded.iter().any(|(p, _)| p.ends_with(f)) {
            let _ = storage.remove(&dir.join(f));
        }
    }
    (saved, report)
}

/// Hands each graph read at open to its tenant's dense index, once every one of its stamps
/// matches the document the catalog numbered (call it when the catalog holds everything the
/// segments and the WAL replay numbered: WAL documents are in graphs too). Cheap: one check per
/// document. Graphs that do not match go to the report.
pub(crate) fn adopt(catalog: &mut Catalog, saved: Vec<Saved>, report: &mut LoadReport) {
    for s in saved {
        match check(catalog, &s) {
            Ok(()) => {
                catalog.adopt_graph(&s.tenant, s.graph);
                report.loaded += 1;
            }
            Err(why) => report.discarded.push((s.path, why)),
        }
    }
}

/// Right after the segments were indexed (before the WAL's documents join, off every lock):
/// each graph in `saved` whose documents numbered so far do not carry its stamps (retention
/// dropped versions it was built over) is discarded to `report` now, and the vectors its
/// documents left to it are read back from `segments` here rather than under the store's lock
/// when the catalog is installed. Graphs that fit so far stay in `saved` for [`adopt`].
pub(crate) fn discard_misfits(
    catalog: &mut Catalog,
    saved: &mut Vec<Saved>,
    report: &mut LoadReport,
    segments: &[Arc<crate::segment::Segment>],
) {
    let mut kept = Vec::with_capacity(saved.len());
    for s in saved.drain(..) {
        let fits = catalog.tenant(&s.tenant).is_none_or(|index| {
            let numbered = DocId::try_from(index.docs.len()).unwrap_or(DocId::MAX);
            stamps_match_below(&index, s.graph.doc_ids(), &s.stamps, numbered)
        });
        if fits {
            kept.push(s);
        } else {
            catalog.restore_graph_vectors(&s.tenant, s.graph.doc_ids(), segments);
            report.discarded.push((
                s.path,
                "its documents were numbered differently at this open".into(),
            ));
        }
    }
    *saved = kept;
}

/// Per tenant, the documents the graphs in `saved` hold (their vectors need no copy while the
/// segments are indexed: [`super::dense::GraphVectors`]).
pub(crate) fn held_docs(saved: &[Saved]) -> HashMap<TenantId, RoaringBitmap> {
    let mut held: HashMap<TenantId, RoaringBitmap> = HashMap::new();
    for s in saved {
        held.entry(s.tenant.clone())
            .or_default()
            .extend(s.graph.doc_ids().iter().copied());
    }
    held
}

/// Whether a graph a catalog image names fits the image's documents: its tenant has a dense
/// index of its dimension, and its stamps match.
///
/// # Errors
/// Why it does not fit.
pub(crate) fn check_attach(catalog: &Catalog, saved: &Saved) -> Result<(), String> {
    let index = catalog
        .tenant(&saved.tenant)
        .ok_or_else(|| format!("tenant {} has no documents", saved.tenant))?;
    if index.dense.as_ref().map(super::dense::DenseIndex::dim) != Some(saved.graph.dim()) {
        return Err("no dense index of the graph's dimension".into());
    }
    if !stamps_match(&index, saved.graph.doc_ids(), &saved.stamps) {
        return Err(format!(
            "graph {} does not match the image's documents",
            saved.path.display()
        ));
    }
    Ok(())
}

/// Attaches a graph [`check_attach`] accepted to its tenant's dense index.
pub(crate) fn attach(catalog: &mut Catalog, saved: Saved) {
    catalog.attach_graph(&saved.tenant, saved.graph);
}

/// Removes the files `report` discarded (after the catalog swap: not under the state lock).
pub(crate) fn remove_discarded(storage: &dyn Storage, report: &LoadReport) {
    for (path, _) in &report.discarded {
        let _ = storage.remove(path);
    }
}

/// Maps the file at `path`, verifies its framing (`magic`, `version`, BLAKE3), and decodes its
/// body with `decode` (given the body and the mapped file, which the body starts at
/// [`BODY_OFFSET`] of; it fails on bad bytes, or on content it cannot use); any failure as a
/// sentence for the report.
fn read_framed<T>(
    storage: &dyn Storage,
    path: &Path,
    magic: [u8; 8],
    version: u16,
    decode: impl FnOnce(&mut Decoder<'_>, &Arc<FileBytes>) -> DecodeResult<Result<T, String>>,
) -> Result<T, String> {
    let damage = |(at, kind): (usize, crate::error::CorruptionKind)| format!("{kind} at {at}");
    let bytes = Arc::new(storage.map(path).map_err(|e| e.to_string())?);
    // Hashed a step at a time, its pages let go behind: searches read what they visit.
    let body = unframe_file(magic, version, version, &bytes)
        .map_err(damage)?
        .body;
    decode(&mut Decoder::new(body), &bytes).map_err(damage)?
}

/// The list's tenant, then its file names.
fn read_list(storage: &dyn Storage, path: &Path) -> Result<Vec<String>, String> {
    read_framed(storage, path, LIST_MAGIC, LIST_FORMAT, |d, _| {
        let mut out = vec![d.string()?];
        for _ in 0..d.u32()? {
            out.push(d.string()?);
        }
        Ok(Ok(out))
    })
}

/// One graph file, verified (BLAKE3, format) and viewed in place: its stamps and its graph
/// (which keeps the mapping).
fn read_graph(
    storage: &dyn Storage,
    path: &Path,
    params: HnswParams,
) -> Result<(Vec<Stamp>, HnswIndex), String> {
    read_framed(storage, path, GRAPH_MAGIC, GRAPH_FORMAT, |d, file| {
        let (dim, m, ef_construction, count) = (d.u32()?, d.u32()?, d.u32()?, d.u32()?);
        let mut stamps = Vec::with_capacity((count as usize).min(d.remaining() / 24));
        for _ in 0..count {
            stamps.push(Stamp {
                doc: d.u32()?,
                lsn: d.u64()?,
                version: d.u32()?,
                claim: d.u64()?,
            });
        }
        let len = usize::try_from(d.u64()?).unwrap_or(usize::MAX);
        let pad = usize::from(d.u8()?);
        d.take(pad)?;
        let start = BODY_OFFSET + d.position();
        d.take(len)?;
        if !d.is_empty() {
            return Ok(Err("bytes after the graph".into()));
        }
        let built = HnswParams {
            max_nb_connection: m as usize,
            ef_construction: ef_construction as usize,
            ..params
        };
        let docs: Vec<DocId> = stamps.iter().map(|s| s.doc).collect();
        Ok(HnswIndex::view_graph(
            dim as usize,
            built,
            params,
            docs,
            Arc::clone(file),
            start..start + len,
        )
        .map(|graph| (stamps, graph))
        .map_err(|e| e.to_string()))
    })
}

/// Every number of the graph names the version it was built from, whose vector waits in the
/// tenant's exact part (not in another graph already).
fn check(catalog: &Catalog, saved: &Saved) -> Result<(), String> {
    let index = catalog
        .tenant(&saved.tenant)
        .ok_or_else(|| format!("tenant {} has no documents", saved.tenant))?;
    let dense = index
        .dense
        .as_ref()
        .filter(|dense| dense.dim() == saved.graph.dim())
        .ok_or("no dense index of this dimension")?;
    let docs = saved.graph.doc_ids();
    if !stamps_match(&index, docs, &saved.stamps) {
        return Err("its documents were numbered differently at this open".into());
    }
    if !docs
        .iter()
        .all(|&doc| dense.holds_fresh(doc) || index.graph_vectors.awaits(doc))
    {
        return Err("its documents are not all waiting in the exact part".into());
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::storage::{FileStorage, MemStorage};

    /// A graph of 300 4-d vectors and its stamps.
    fn graph() -> (Arc<HnswIndex>, Vec<Stamp>) {
        let rows = (0..300u32).map(|i| {
            let x = i as f32;
            (i, [x.sin(), x.cos(), (x * 0.3).sin(), 1.0])
        });
        let graph = HnswIndex::build(4, rows, HnswParams::default()).unwrap();
        let stamps = (0..300u32)
            .map(|doc| Stamp {
                doc,
                lsn: u64::from(doc) + 1,
                version: 1,
                claim: u64::from(doc) * 7,
            })
            .collect();
        (Arc::new(graph), stamps)
    }

    fn graph_dir_files(storage: &dyn Storage) -> Vec<String> {
        let mut names = storage.list(Path::new(GRAPH_DIR)).unwrap();
        names.sort();
        names
    }

    #[test]
    fn a_graph_saved_by_usearch_to_a_local_file_is_the_file_written_from_memory() {
        let tenant = TenantId::new("t");
        let dir = tempfile::tempdir().unwrap();
        let local = FileStorage::new(dir.path());
        assert!(local.local_path(Path::new("x")).is_some());
        let mem = MemStorage::new();
        assert!(mem.local_path(Path::new("x")).is_none());
        let (built, stamps) = graph();
        // The same graph written both ways: the same name (its hash) and the same bytes.
        let prefix = tenant_prefix(&tenant);
        let gdir = Path::new(GRAPH_DIR);
        for storage in [&local as &dyn Storage, &mem] {
            storage.create_dir_all(gdir).unwrap();
        }
        let name = write_graph(&local, gdir, &prefix, &built, &stamps).unwrap();
        assert_eq!(
            write_graph(&mem, gdir, &prefix, &built, &stamps).unwrap(),
            name
        );
        let path = gdir.join(&name);
        assert_eq!(local.read(&path).unwrap(), mem.read(&path).unwrap());
        assert_eq!(graph_dir_files(&local), [name], "no temporary file is left");
        // A save through the local path lists it and reads back, stamps and all.
        let dir = tempfile::tempdir().unwrap();
        let local = FileStorage::new(dir.path());
        save(&local, &tenant, &[(Arc::clone(&built), Some(stamps))]).unwrap();
        assert_eq!(graph_dir_files(&local).len(), 2, "the list and the graph");
        let (saved, report) = read(&local, HnswParams::default());
        assert!(report.discarded.is_empty(), "{:?}", report.discarded);
        assert_eq!((saved.len(), saved[0].stamps.len()), (1, 300));
        let row = built.row(17).unwrap();
        assert_eq!(saved[0].graph.search(&row, 1, |_| true).unwrap()[0].0, 17);
    }
}
