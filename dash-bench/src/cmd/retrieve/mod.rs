//! `dash-bench retrieve`: retrieval at scale (the retrieval issue's performance targets), on the
//! common synthetic corpus of `shared/bench/synthetic.py`:
//!
//! ```text
//! python3 ../shared/bench/synthetic.py 1010000 /tmp/synth   # needs numpy; ~1 minute
//! cargo run --release -p dash-bench -- retrieve --data /tmp/synth --sealed 1000000 --mutable 10000
//! ```
//!
//! 1. loads `--sealed` claims (text, 2-5 evidence, entities, 128-d vector; plus a `bucket`
//!    metadata pair, `line % 100`, for a 1 % filter), checkpoints them into segments, closes;
//! 2. reopens (timed), times the first query (it waits for the background indexing of the
//!    segments) and the background HNSW build;
//! 3. ingests `--mutable` more claims into the mutable part (not checkpointed);
//! 4. runs the 200 queries (text + vector), hybrid top-50 `Balanced` with evidence and
//!    citations: latency percentiles one query at a time, then throughput with 2 threads, then
//!    the writer's wait behind queries while it ingests 20,000 claims into another tenant;
//! 5. ANN recall@10 against an exact scan (dense-only queries ranked by relevance), unfiltered and
//!    with a filter that keeps 1 % of the claims;
//! 6. recall@100 on the real MiniLM embeddings of `--real` (default `../shared/data`);
//! 7. resident memory per claim.
//!
//! `--reuse` keeps the store of the previous run (same sizes) and skips step 1, so that the
//! memory figure is not inflated by what the load phase left in the allocator.
//! `--no-detection` and `--graphs-during-load` are for the 10M run: the detection stage off (at
//! ~1,300 claims/s with vectors it would take hours), and graphs sealed and merged while the
//! load runs (the store's defaults) instead of one build of every vector at the reopen. The
//! corpus is read in parts of 100,000 lines and the recall's ground truth streamed from
//! `vectors.f32`, so the bench holds no copy of the vectors; a sampler reports the peaks of the
//! process' anonymous and file-backed resident memory.
//!
//! `--drop-image` (with `--reuse`) removes the catalog image first: the reopen then indexes the
//! segments, as after a crash that followed a checkpoint.
//!
//! `--probe-queried-tenant` adds the writer's wait while writing into the queried tenant (it
//! leaves forgotten claims behind: run it on a store you drop afterwards).

mod ground_truth;
mod real;
mod sweep;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dash_bench::corpus::{Queries, Synthetic};
use dash_bench::stats::Lat;
use dash_bench::vectors::Matrix;
use dash_bench::{data, heap, ingest, machine, synth, Res};
use dash_core::{Durability, IngestItem, Query, Ranking, Store};

use ground_truth::{exact_tops, mean_recall};

/// The tenant of the synthetic corpus' claims.
const TENANT: &str = "bench";

/// The Batched durability of the loads: the store's safe defaults.
const BATCHED: Durability = Durability::Batched {
    max_records: dash_core::SAFE_BATCH_RECORDS,
    max_delay: dash_core::SAFE_BATCH_DELAY,
};

/// The claims of the metadata filter of the filtered recall (`bucket` = 7 of 100).
const FILTER_BUCKET: usize = 7;

/// Arguments of `dash-bench retrieve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The synthetic corpus (`python3 ../shared/bench/synthetic.py N DIR`).
    #[arg(long, default_value = "/tmp/synth")]
    pub data: PathBuf,
    /// The real evaluation data, for the recall@100 on MiniLM embeddings.
    #[arg(long, default_value = data::DEFAULT_DIR)]
    pub real: PathBuf,
    /// Claims loaded and checkpointed into segments.
    #[arg(long, default_value_t = 1_000_000)]
    pub sealed: usize,
    /// Claims ingested after the reopen, left in the mutable part.
    #[arg(long, default_value_t = 10_000)]
    pub mutable: usize,
    /// Passes over the queries for the latency and throughput figures.
    #[arg(long, default_value_t = 3)]
    pub passes: usize,
    /// Keep the store of the previous run (same sizes) and skip the load.
    #[arg(long)]
    pub reuse: bool,
    /// With `--reuse`: remove the catalog image before the reopen, as a crash after a checkpoint
    /// leaves the store (the open indexes the segments instead of reading the image).
    #[arg(long)]
    pub drop_image: bool,
    /// Also measure the writer's wait writing into the queried tenant (last step). Its 20,000
    /// claims are forgotten again but stay in the store's graphs and WAL, so later `--reuse`
    /// runs answer slower: run it on a store you drop afterwards.
    #[arg(long)]
    pub probe_queried_tenant: bool,
    /// WAL MiB per checkpoint of the load (the store's default is 128): smaller makes more,
    /// smaller segments, to see the merge policy's write amplification at a 10M store's
    /// checkpoint count.
    #[arg(long, default_value_t = 128)]
    pub checkpoint_wal_mib: u64,
    /// The detection stage off (load and reopen): retrieval alone, as the 10M run measures it.
    #[arg(long)]
    pub no_detection: bool,
    /// Seal and merge graphs while the load runs (the store's defaults) instead of building one
    /// graph of every loaded vector at the reopen (which holds them all in the exact part).
    #[arg(long)]
    pub graphs_during_load: bool,
    /// The corpus is still being generated: wait for lines not written yet (the load can
    /// start with the generator, which takes ~20 minutes for the 10M corpus).
    #[arg(long)]
    pub growing: bool,
    /// The graphs' scalar type (`f32`, `f16` or `i8`; `HnswParams::quantization`).
    #[arg(long, default_value = "f32")]
    pub quantization: String,
    /// With `--graphs-during-load`: after each part of the corpus, wait while more than this
    /// many dense documents wait in the exact part for a graph (0: never wait). The store's
    /// writer never waits for graphs; a load faster than the builds grows the exact part (a
    /// heap copy of each vector) without bound, so a 10M load paces itself, as a bulk loader
    /// that watches the store's stats would.
    #[arg(long, default_value_t = 0)]
    pub max_exact_backlog: u64,
    /// The store's directory (default `target/bench_retrieve`): a second one lets a 1M store
    /// live beside a 10M one.
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// Instead of the steps: reopen the store of an earlier run once per `ef_search` given
    /// (comma-separated) and print recall@10 and dense-only, lexical-only and hybrid latency.
    #[arg(long, value_delimiter = ',')]
    pub ef_sweep: Vec<usize>,
}

/// Corpus lines read and ingested at a time.
const PART: usize = 100_000;

/// Claims `[from, to)` of the corpus with their vectors and a `bucket` pair (`line % 100`).
fn load(corpus: &Synthetic, from: usize, to: usize) -> Res<Vec<IngestItem>> {
    Ok(with_buckets(corpus.items(from, to)?, from))
}

/// `items`, corpus lines from `from` on, each with its `bucket` pair (`line % 100`).
fn with_buckets(mut items: Vec<IngestItem>, from: usize) -> Vec<IngestItem> {
    for (line, item) in (from..).zip(&mut items) {
        item.claim
            .metadata
            .insert("bucket".into(), (line % 100).to_string());
    }
    items
}

/// Ingests `items` in batches and flushes; the time it took.
fn ingest_all(store: &Store, items: Vec<IngestItem>, tag: &str) -> Res<Duration> {
    let start = Instant::now();
    ingest::in_batches(store, items, tag, ingest::BATCH)?;
    store.flush()?;
    Ok(start.elapsed())
}

/// Ingests corpus lines `[from, to)`, read [`PART`] lines at a time, and flushes; the time it
/// took (reading the corpus included) and how much of it was spent waiting, after a part, while
/// more than `max_backlog` dense documents waited for a graph (0: never).
fn ingest_lines(
    store: &Store,
    corpus: &Synthetic,
    (from, to): (usize, usize),
    tag: &str,
    max_backlog: u64,
) -> Res<(Duration, Duration)> {
    let start = Instant::now();
    let mut paced = Duration::ZERO;
    let mut parts = corpus.parts(from)?;
    for first in (from..to).step_by(PART) {
        let items = with_buckets(parts.next_part((first + PART).min(to) - first)?, first);
        ingest::in_batches(store, items, &format!("{tag}-{first}"), ingest::BATCH)?;
        let wait = Instant::now();
        // Only while a build runs: below the seal threshold no build will come to wait for.
        while max_backlog > 0 && {
            let s = store.stats();
            s.dense_exact_docs > max_backlog && s.index_building
        } {
            std::thread::sleep(Duration::from_millis(200));
        }
        paced += wait.elapsed();
        if first % 1_000_000 == 0 && first > from {
            let s = store.stats();
            eprintln!(
                "  {tag}: {first} lines ingested, {:.0} s ({:.0} s paced); {} checkpoints, {} merges, \
                 graphs {} docs in {}, exact {}, {} inserted; {}",
                start.elapsed().as_secs_f64(),
                paced.as_secs_f64(),
                s.checkpoints,
                s.merges,
                s.dense_graph_docs,
                s.dense_graphs,
                s.dense_exact_docs,
                s.graph_inserts,
                machine::rss_split("self")
                    .map(|(a, f)| format!("anon {:.0} MiB, file {:.0} MiB", a as f64 / MIB, f as f64 / MIB))
                    .unwrap_or_default()
            );
        }
    }
    store.flush()?;
    Ok((start.elapsed(), paced))
}

/// The builder every open of the bench store starts from.
fn builder(dir: &Path, a: &Args) -> Res<dash_core::StoreBuilder> {
    builder_ef(dir, a, dash_core::index::HnswParams::default().ef_search)
}

/// [`builder`] with the graphs searched at `ef_search`.
fn builder_ef(dir: &Path, a: &Args, ef_search: usize) -> Res<dash_core::StoreBuilder> {
    use dash_core::index::{HnswParams, Quantization};
    let quantization: Quantization = a
        .quantization
        .parse()
        .map_err(|e| format!("--quantization {}: {e}", a.quantization))?;
    let b = Store::builder(dir)
        .durability(BATCHED)
        .hnsw_params(HnswParams {
            quantization,
            ef_search,
            ..HnswParams::default()
        });
    Ok(if a.no_detection {
        b.detection(dash_core::detect::DetectionConfig::disabled())
    } else {
        b
    })
}

/// Waits for every seal and merge of graphs; how long that took, where the dense documents
/// are then, and the last build error.
fn graphs_settled(store: &Store) -> String {
    let start = Instant::now();
    store.wait_for_indexes();
    let s = store.stats();
    format!(
        "{:.1} s ({} docs in {} graphs, {} exact; error: {:?})",
        start.elapsed().as_secs_f64(),
        s.dense_graph_docs,
        s.dense_graphs,
        s.dense_exact_docs,
        s.last_index_error
    )
}

/// Bytes of the files under `dir`.
fn disk_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => disk_bytes(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

/// The ids of the dense-only top `k` for `q`, ranked by relevance, within `bucket` if given.
fn dense_ids(
    store: &Store,
    tenant: &str,
    q: &[f32],
    k: usize,
    bucket: Option<&str>,
) -> Res<Vec<String>> {
    let mut query = Query::new(tenant)
        .embedding(q.to_vec())
        .top_k(k)
        .ranking(Ranking::Relevance)
        .wait_for_detection(std::time::Duration::ZERO);
    if let Some(b) = bucket {
        query = query.metadata("bucket", b);
    }
    Ok(store
        .retrieve(&query)?
        .results
        .into_iter()
        .map(|r| r.claim_id.to_string())
        .collect())
}

/// Runs the steps and prints one line per figure.
pub fn run(a: Args) -> Res<()> {
    let total = a.sealed + a.mutable;
    println!(
        "dash-bench retrieve: {} sealed + {} mutable claims from {}",
        a.sealed,
        a.mutable,
        a.data.display()
    );
    let corpus = if a.growing {
        Synthetic::growing(&a.data)?
    } else {
        Synthetic::open(&a.data)?
    };
    let peaks = machine::PeakSampler::start();

    let dir = a
        .store
        .clone()
        .unwrap_or_else(|| synth::target_dir("bench_retrieve"));
    let reuse = a.reuse && dir.exists();
    if !a.ef_sweep.is_empty() {
        if !dir.exists() {
            return Err(format!("--ef-sweep: no store in {}", dir.display()).into());
        }
        return sweep::run(&a, &dir, &corpus, total);
    }
    if !reuse && dir.exists() {
        std::fs::remove_dir_all(&dir)
            .map_err(|e| format!("cannot remove {}: {e}", dir.display()))?;
    }
    if !reuse {
        bulk_load(&dir, &corpus, &a)?;
        println!("{}", peaks.line("peak resident memory of the load"));
        println!(
            "disk: {:.0} B/claim ({:.0} MiB)",
            disk_bytes(&dir) as f64 / a.sealed.max(1) as f64,
            disk_bytes(&dir) as f64 / MIB
        );
        peaks.reset();
    }
    if reuse && a.drop_image {
        match std::fs::remove_file(dir.join("catalog.image")) {
            Ok(()) => println!("catalog image removed: the open indexes the segments"),
            Err(e) => println!("no catalog image to remove ({e})"),
        }
    }
    let rss_before = machine::rss_bytes("self").unwrap_or(0);
    let start = Instant::now();
    let store = builder(&dir, &a)?.open()?;
    let opened = Instant::now();
    println!(
        "reopen (manifest, verify segments, WAL): {:.2} s",
        start.elapsed().as_secs_f64()
    );
    // The first answer is timed before the bench asks the store anything else, so that
    // nothing but the open's own work stands before it.
    let first = store.retrieve(&Query::new(TENANT).text("first"))?;
    let answered = opened.elapsed();
    let claims = store.stats().claims;
    if reuse && claims < a.sealed as u64 {
        return Err(format!("--reuse: the store holds {claims} claims, not {}", a.sealed).into());
    }
    let image = match store.stats() {
        s if s.catalog_image_loaded => "the catalog image read".to_owned(),
        s => format!(
            "the segments indexed; image: {}",
            s.catalog_image_unused.as_deref().unwrap_or("none")
        ),
    };
    println!(
        "first query answered ({image}): {:.2} s after open returned, {:.2} s after open began (of which {:.0} ms waiting for detection, {:.1} ms the query)",
        answered.as_secs_f64(),
        (answered + (opened - start)).as_secs_f64(),
        first.detection.waited_ms,
        first.took_ms
    );
    println!(
        "{}",
        peaks.line("peak resident memory from the reopen to the first answer")
    );
    println!("background HNSW build: {}", graphs_settled(&store));
    ingest_lines(&store, &corpus, (a.sealed, total), "mutable", 0)?;
    // What the ingest left to the background (a checkpoint once the WAL passes its size, a
    // merge, graph seals) is done before the queries are timed: they measure the store at rest.
    let settle = Instant::now();
    while store.stats().checkpoint_pending {
        std::thread::sleep(Duration::from_millis(50));
    }
    store.wait_for_indexes();
    println!(
        "background work after the mutable part settled in {:.1} s",
        settle.elapsed().as_secs_f64()
    );
    let stats = store.stats();
    println!(
        "mutable part: {} versions in memtables, {} dense docs searched exactly ({} in {} graphs, {} of them viewed from files; {} builds since open, a build running: {})",
        stats.memtable_versions,
        stats.dense_exact_docs,
        stats.dense_graph_docs,
        stats.dense_graphs,
        stats.dense_mapped_docs,
        stats.index_builds,
        stats.index_building
    );
    // The bench holds no vectors but the queries' (the ground truth is streamed from the file).
    let store_rss = machine::rss_bytes("self").unwrap_or(0);
    let (anon, file) = machine::rss_split("self").unwrap_or_default();
    let per_claim = |bytes: u64| bytes as f64 / total.max(1) as f64;
    println!(
        "detection lag at the memory reading: {} claims",
        store.stats().detection_lag_claims
    );
    println!(
        "RSS of the open store: {:.0} MiB = {:.0} B/claim (process RSS {:.0} MiB before reopen)",
        store_rss as f64 / 1048576.0,
        per_claim(store_rss),
        rss_before as f64 / 1048576.0
    );
    println!(
        "  of which anonymous {:.0} B/claim, file-backed (mapped segments, program) {:.0} B/claim",
        per_claim(anon),
        per_claim(file)
    );
    println!(
        "  live heap (allocated, not freed) {:.0} B/claim: the rest of the anonymous memory is the allocator's and stacks'",
        per_claim(heap::live_bytes() as u64)
    );
    let m = store.index_memory();
    println!(
        "  the catalog's heap by component ({:.0} B/claim in all, Store::index_memory): documents {:.0}, claims {:.0}, lexical postings {:.0}, lexical documents {:.0}, lexical terms {:.0}, filters {:.0}, bitmaps {:.0}, dense exact {:.0}, dense graphs {:.0}, edges {:.0} B/claim",
        per_claim(m.total()),
        per_claim(m.document_table),
        per_claim(m.claims),
        per_claim(m.lexical_postings),
        per_claim(m.lexical_documents),
        per_claim(m.lexical_terms),
        per_claim(m.filters),
        per_claim(m.bitmaps),
        per_claim(m.dense_exact),
        per_claim(m.dense_graphs),
        per_claim(m.edges)
    );

    let queries = corpus.queries()?;
    latency(&store, &queries, a.passes)?;
    throughput(&store, &queries, a.passes)?;
    // Again once the queries have run (the detection stage and the allocator settle meanwhile).
    let (anon_later, _) = machine::rss_split("self").unwrap_or_default();
    println!(
        "  anonymous after the query passes: {:.0} B/claim, live heap {:.0} B/claim (detection lag then: {} claims)",
        per_claim(anon_later),
        per_claim(heap::live_bytes() as u64),
        store.stats().detection_lag_claims
    );
    let probe_items = load(&corpus, 0, total.min(20_000))?;
    writer_wait(&store, probe_items.clone(), &queries, Probe::OtherTenant)?;
    ann_recall(&store, &corpus, &queries.vectors, total)?;
    if a.probe_queried_tenant {
        // Last: its claims (forgotten again) would stand beside their originals in recall.
        writer_wait(&store, probe_items, &queries, Probe::QueriedTenant)?;
    }
    println!(
        "{}",
        peaks.line("peak resident memory since the reopen (queries and probes included)")
    );
    drop(store);
    real::recall_at_100(&a.real)
}

const MIB: f64 = 1024.0 * 1024.0;

/// Step 1: loads the first `sealed` claims into a new store in `dir` with one graph build at
/// reopen, checkpoints and closes it.
fn bulk_load(dir: &Path, corpus: &Synthetic, a: &Args) -> Res<()> {
    let sealed = a.sealed;
    let mut b = builder(dir, a)?.checkpoint_wal_bytes(a.checkpoint_wal_mib.max(1) * 1024 * 1024);
    if !a.graphs_during_load {
        b = b.dense_seal_threshold(usize::MAX); // bulk load: one graph build at reopen
    }
    let store = b.open()?;
    let backlog = if a.graphs_during_load {
        a.max_exact_backlog
    } else {
        0
    };
    let (took, paced) = ingest_lines(&store, corpus, (0, sealed), "sealed", backlog)?;
    store.checkpoint()?;
    println!(
        "load: {} claims in {:.1} s ({:.0}/s, indexing included; {:.1} s of it waiting for graphs)",
        sealed,
        took.as_secs_f64(),
        sealed as f64 / took.as_secs_f64(),
        paced.as_secs_f64()
    );
    let s = store.stats();
    println!(
        "load: {} checkpoints, {} merges, {} segments of {:.0} MiB; merge write amplification {:.2} \
         ((checkpoint {:.0} MiB + merge {:.0} MiB) / checkpoint)",
        s.checkpoints,
        s.merges,
        s.segments,
        s.segment_bytes as f64 / MIB,
        (s.checkpoint_bytes + s.merge_bytes) as f64 / s.checkpoint_bytes.max(1) as f64,
        s.checkpoint_bytes as f64 / MIB,
        s.merge_bytes as f64 / MIB,
    );
    if a.graphs_during_load {
        println!(
            "load: waited for the graphs after the last batch: {}",
            graphs_settled(&store)
        );
        let s = store.stats();
        println!(
            "load: {} vectors inserted into graphs in {} builds, {:.2} per dense document",
            s.graph_inserts,
            s.index_builds,
            s.graph_inserts as f64 / (s.dense_graph_docs + s.dense_exact_docs).max(1) as f64
        );
    }
    let start = Instant::now();
    store.close()?;
    println!(
        "load: close (image written) {:.1} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Query `i` of the corpus: hybrid top-50 with its text and vector. It does not wait for the
/// detection stage (by default a query waits up to 100 ms for it to reach what the tenant
/// committed, and the stage is still judging the mutable claims): the figures time retrieval.
fn hybrid(queries: &Queries, i: usize) -> Query {
    Query::new(TENANT)
        .text(queries.texts[i].as_str())
        .embedding(queries.vectors.row(i).to_vec())
        .top_k(50)
        .wait_for_detection(std::time::Duration::ZERO)
}

/// Step 4: latency one query at a time over `passes` passes, citation coverage, and the mean
/// time of each retrieval stage.
fn latency(store: &Store, queries: &Queries, passes: usize) -> Res<()> {
    let n = queries.texts.len();
    for i in 0..n.min(20) {
        store.retrieve(&hybrid(queries, i))?; // warm-up
    }
    let mut times = Vec::with_capacity(n * passes);
    // (results with evidence, of which with a citation)
    let mut cited = (0usize, 0usize);
    let before = store.stats();
    for _ in 0..passes {
        for i in 0..n {
            let start = Instant::now();
            let answer = store.retrieve(&hybrid(queries, i))?;
            times.push(start.elapsed());
            for r in &answer.results {
                if !(r.supporting_evidence.is_empty() && r.contradicting_evidence.is_empty()) {
                    cited.0 += 1;
                    cited.1 += usize::from(!r.citations.is_empty());
                }
            }
        }
    }
    let mut stage_us: BTreeMap<&'static str, u64> = BTreeMap::new();
    for i in 0..n {
        if let Some(e) = store.retrieve(&hybrid(queries, i).explain(true))?.explain {
            for s in e.stages {
                *stage_us.entry(s.name).or_default() += s.micros;
            }
        }
    }
    let after = store.stats();
    if passes > 1 {
        // The first pass reads the page cache in; the later ones are the warm figure.
        let first = Lat::of(times[..n].iter().copied());
        let later = Lat::of(times[n..].iter().copied());
        println!(
            "  first pass p50 {:.2} / p95 {:.2} ms; later passes p50 {:.2} / p95 {:.2} / p99 {:.2} ms",
            first.p50_ms, first.p95_ms, later.p50_ms, later.p95_ms, later.p99_ms
        );
    }
    println!(
        "  background work during the passes: {} checkpoints, {} merges, {} graph builds",
        after.checkpoints - before.checkpoints,
        after.merges - before.merges,
        after.index_builds - before.index_builds
    );
    let lat = Lat::of(times);
    println!(
        "hybrid top-50 Balanced, 1 thread, {} queries: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, mean {:.2} ms; citations on {}/{} results with evidence",
        lat.count, lat.p50_ms, lat.p95_ms, lat.p99_ms, lat.mean_ms, cited.1, cited.0
    );
    let stages: Vec<String> = stage_us
        .iter()
        .map(|(k, v)| format!("{k} {:.2} ms", *v as f64 / 1e3 / n.max(1) as f64))
        .collect();
    println!("mean per stage: {}", stages.join(", "));
    Ok(())
}

/// Step 4 continued: queries per second with 2 threads, each running `passes` passes.
fn throughput(store: &Store, queries: &Queries, passes: usize) -> Res<()> {
    const THREADS: usize = 2;
    let n = queries.texts.len().max(1);
    let per_thread = queries.texts.len() * passes;
    let start = Instant::now();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                s.spawn(move || -> Res<()> {
                    for j in 0..per_thread {
                        store.retrieve(&hybrid(queries, (j + t * 7) % n))?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| "a query thread panicked")??;
        }
        Ok::<_, dash_bench::BoxError>(())
    })?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "throughput, {THREADS} threads: {:.0} queries/s",
        (THREADS * per_thread) as f64 / secs
    );
    Ok(())
}

/// Where the writer-wait step writes.
#[derive(Clone, Copy, PartialEq)]
enum Probe {
    /// A tenant of its own (the measured tenant's answers stay as they are).
    OtherTenant,
    /// The queried tenant, under new claim ids (forgotten again afterwards).
    QueriedTenant,
}

/// Step 4b: the writer's wait for locks held by queries while 2 threads query flat out: the
/// items are ingested (into another tenant, or the queried one) and the writer's busy and
/// lock-wait counters compared before and after.
fn writer_wait(
    store: &Store,
    mut items: Vec<IngestItem>,
    queries: &Queries,
    probe: Probe,
) -> Res<()> {
    const THREADS: usize = 2;
    // New names per run: with `--reuse` the last run's probe claims are in the store already,
    // and ingesting them again would be answered from the commit registry.
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let tenant = match probe {
        Probe::OtherTenant => dash_core::TenantId::new(format!("writer-probe-{nonce}")),
        Probe::QueriedTenant => dash_core::TenantId::new(TENANT),
    };
    for (i, item) in items.iter_mut().enumerate() {
        item.claim.tenant_id = tenant.clone();
        if probe == Probe::QueriedTenant {
            item.claim.claim_id = dash_core::ClaimId::new(format!("probe-{nonce}-{i}"));
            for e in &mut item.evidence {
                e.claim_id = item.claim.claim_id.clone();
            }
        }
    }
    let ids: Vec<dash_core::ClaimId> = items.iter().map(|i| i.claim.claim_id.clone()).collect();
    let n = queries.texts.len().max(1);
    let before = store.stats();
    let done = std::sync::atomic::AtomicBool::new(false);
    let count = items.len();
    let took = std::thread::scope(|s| {
        let (done, store) = (&done, store);
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                s.spawn(move || -> Res<()> {
                    let mut j = t * 7;
                    while !done.load(std::sync::atomic::Ordering::Relaxed) {
                        store.retrieve(&hybrid(queries, j % n))?;
                        j += 1;
                    }
                    Ok(())
                })
            })
            .collect();
        let took = ingest_all(store, items, &format!("writer-probe-{nonce}"));
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        for h in handles {
            h.join().map_err(|_| "a query thread panicked")??;
        }
        took
    })?;
    let after = store.stats();
    let busy = after.writer_busy_micros - before.writer_busy_micros;
    let wait = after.writer_lock_wait_micros - before.writer_lock_wait_micros;
    let deferred = after.tenant_changes_deferred - before.tenant_changes_deferred;
    let reader_wait = after.reader_apply_wait_micros - before.reader_apply_wait_micros;
    let into = match probe {
        Probe::OtherTenant => "another tenant",
        Probe::QueriedTenant => "the queried tenant",
    };
    println!(
        "writer under {THREADS} query threads, writing into {into}: {count} claims in {:.2} s; busy {:.3} s, waiting for locks {:.3} s = {:.2} % of busy; {deferred} changes left in the tenant's inbox, readers waited {:.3} s to apply them",
        took.as_secs_f64(),
        busy as f64 / 1e6,
        wait as f64 / 1e6,
        100.0 * wait as f64 / (busy.max(1)) as f64,
        reader_wait as f64 / 1e6
    );
    if probe == Probe::QueriedTenant {
        for id in &ids {
            store.forget(&tenant, id)?;
        }
        store.flush()?;
    }
    Ok(())
}

/// Step 5: ANN recall@10 of dense-only queries against exact search, unfiltered and within a
/// 1 % metadata filter.
fn ann_recall(store: &Store, corpus: &Synthetic, queries: &Matrix, total: usize) -> Res<()> {
    let id_of = |row: usize| format!("c{row}");
    let vectors = corpus.dir().join("vectors.f32");
    let truth = exact_tops(&vectors, total, queries, 10, |_| true)?;
    let found: Vec<Vec<String>> = queries
        .iter()
        .map(|q| dense_ids(store, TENANT, q, 10, None))
        .collect::<Res<_>>()?;
    println!(
        "ANN recall@10 vs exact over {total} vectors: {:.4}",
        mean_recall(&found, &truth, id_of)
    );
    let bucket = FILTER_BUCKET.to_string();
    let truth = exact_tops(&vectors, total, queries, 10, |row| {
        row % 100 == FILTER_BUCKET
    })?;
    let found: Vec<Vec<String>> = queries
        .iter()
        .map(|q| dense_ids(store, TENANT, q, 10, Some(&bucket)))
        .collect::<Res<_>>()?;
    println!(
        "filtered (1 %) recall@10: {:.4}",
        mean_recall(&found, &truth, id_of)
    );
    Ok(())
}
