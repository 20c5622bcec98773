//! `dash-bench scale DIR`: DASH on the common synthetic corpus (`shared/bench/synthetic.py`),
//! as the peers are run on it: the first `--n` claims (with their evidence, entities and 128-d
//! vectors) into one tenant, then the corpus' queries, top-50, each timed alone — dense (vector
//! only, relevance order: the index itself, with recall@50 against exact search), lexical (text
//! only) and hybrid (both, DASH's evidence-aware ranking). One JSON line per configuration.
//!
//! ```sh
//! python3 ../shared/bench/synthetic.py 100000 /tmp/syn100k
//! cargo run --release -p dash-bench -- scale /tmp/syn100k --out /tmp/dash-scale.jsonl
//! ```

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use dash_bench::corpus::{Queries, Synthetic};
use dash_bench::side::{dash_version, timed_passes, SideResult};
use dash_bench::stats::overlap;
use dash_bench::vectors::{exact_top, Matrix};
use dash_bench::Res;
use dash_core::index::HnswParams;
use dash_core::{IngestItem, Query, Ranking, Store};

/// Claims per ingest batch.
const BATCH: usize = 1_000;

/// Arguments of `dash-bench scale`.
#[derive(clap::Args)]
pub struct Args {
    /// The corpus directory (claims.jsonl, vectors.f32, queries.jsonl, queries.f32).
    dir: PathBuf,
    /// How many claims to load (default: all of the corpus).
    #[arg(long)]
    n: Option<usize>,
    /// Appends one JSON line per configuration here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The set's name in the results (default `synthetic-<n>`).
    #[arg(long)]
    set: Option<String>,
    /// The answers' cut-off.
    #[arg(long, default_value_t = 50)]
    k: usize,
    /// The tuned setting's HNSW `ef_search` (the default is 200): the store is reopened with it.
    #[arg(long, default_value_t = 64)]
    tuned_ef: usize,
    /// Skip the tuned setting (a reopen rebuilds the dense graphs: minutes at 1M claims).
    #[arg(long)]
    no_tuned: bool,
    /// Where the store is built (default: a temporary directory, removed at the end).
    #[arg(long)]
    store_dir: Option<PathBuf>,
}

/// What every configuration shares.
struct Bench<'a> {
    args: &'a Args,
    set: String,
    n: usize,
    tenant: String,
    queries: Queries,
    /// Line numbers of the exact top-k of each query.
    exact: Vec<Vec<usize>>,
    /// Claim id → line number.
    line_of: HashMap<String, usize>,
    build_s: f64,
}

/// Loads the corpus into a store, measures the defaults, then (unless `--no-tuned`) reopens it
/// with a smaller `ef_search` and measures the dense and hybrid modes again.
pub fn run(args: Args) -> Res<()> {
    let corpus = Synthetic::open(&args.dir)?;
    let n = match args.n {
        Some(n) => n,
        None => corpus.len()?,
    };
    let vectors = corpus.vectors(n)?;
    let queries = corpus.queries()?;
    let scratch = tempfile::tempdir()?;
    let path = args
        .store_dir
        .clone()
        .unwrap_or_else(|| scratch.path().into());

    let started = Instant::now();
    let store = Store::builder(&path).open()?;
    let (tenant, line_of) = load(&store, &corpus, &vectors, n)?;
    let build_s = started.elapsed().as_secs_f64();
    eprintln!("DASH: {n} claims loaded, indexed and judged in {build_s:.1} s");

    let truth_started = Instant::now();
    let exact = queries
        .vectors
        .iter()
        .map(|q| exact_top(&vectors, q, args.k))
        .collect();
    eprintln!(
        "exact top-{} of {} queries in {:.1} s",
        args.k,
        queries.texts.len(),
        truth_started.elapsed().as_secs_f64()
    );
    drop(vectors);
    let bench = Bench {
        set: args.set.clone().unwrap_or_else(|| format!("synthetic-{n}")),
        args: &args,
        n,
        tenant,
        queries,
        exact,
        line_of,
        build_s,
    };
    for mode in ["dense", "lexical", "hybrid"] {
        bench.measure(&store, mode, "default")?;
    }
    store.close()?;

    if !args.no_tuned {
        let reopened = Instant::now();
        let params = HnswParams {
            ef_search: args.tuned_ef,
            ..HnswParams::default()
        };
        let store = Store::builder(&path).hnsw_params(params).open()?;
        store.wait_for_indexes();
        eprintln!(
            "reopened with ef_search {} and rebuilt the graphs in {:.1} s",
            args.tuned_ef,
            reopened.elapsed().as_secs_f64()
        );
        let setting = format!("tuned: ef_search {}", args.tuned_ef);
        for mode in ["dense", "hybrid"] {
            bench.measure(&store, mode, &setting)?;
        }
        store.close()?;
    }
    Ok(())
}

/// Ingests the first `n` corpus lines in batches; returns the tenant and each claim's line.
fn load(
    store: &Store,
    corpus: &Synthetic,
    vectors: &Matrix,
    n: usize,
) -> Res<(String, HashMap<String, usize>)> {
    let mut tenant: Option<String> = None;
    let mut line_of = HashMap::with_capacity(n);
    let mut batch: Vec<IngestItem> = Vec::with_capacity(BATCH);
    let mut batches = 0usize;
    corpus.for_each_line(0, n, |i, line| {
        let mut item: IngestItem =
            serde_json::from_str(line).map_err(|e| format!("claims.jsonl line {}: {e}", i + 1))?;
        item.claim.embedding = Some(vectors.row(i).to_vec());
        // One tenant: the first claim's (the peers index one collection).
        let t = tenant.get_or_insert_with(|| item.claim.tenant_id.as_str().to_owned());
        item.claim.tenant_id = t.as_str().into();
        line_of.insert(item.claim.claim_id.as_str().to_owned(), i);
        batch.push(item);
        if batch.len() == BATCH || i + 1 == n {
            store.ingest_batch(format!("scale-{batches}"), std::mem::take(&mut batch))?;
            batches += 1;
        }
        Ok(())
    })?;
    store.flush()?;
    let ingested = Instant::now();
    store.wait_for_indexes();
    let indexed = Instant::now();
    store.wait_for_detection();
    eprintln!(
        "waited {:.1} s for the dense graphs, then {:.1} s for detection",
        (indexed - ingested).as_secs_f64(),
        indexed.elapsed().as_secs_f64()
    );
    Ok((tenant.ok_or("no claims")?, line_of))
}

impl Bench<'_> {
    /// Runs every query in `mode` on `store` and reports one result.
    fn measure(&self, store: &Store, mode: &str, setting: &str) -> Res<()> {
        let (text, vector) = match mode {
            "dense" => (false, true),
            "lexical" => (true, false),
            _ => (true, true),
        };
        let query = |i: usize| -> Res<Vec<String>> {
            let mut q = Query::new(self.tenant.as_str()).top_k(self.args.k);
            if text {
                q = q.text(self.queries.texts[i].as_str());
            }
            if vector {
                q = q.embedding(self.queries.vectors.row(i).to_vec());
            }
            if !text {
                // Dense alone in relevance order: the nearest neighbours, as the peers return.
                q = q.ranking(Ranking::Relevance);
            }
            Ok(store
                .retrieve(&q)?
                .results
                .into_iter()
                .map(|r| r.claim_id.as_str().to_owned())
                .collect())
        };
        let (answers, lat) = timed_passes(self.queries.texts.len(), query)?;
        let recall_vs_exact = (mode == "dense").then(|| {
            let per_query: Vec<f64> = answers
                .iter()
                .zip(&self.exact)
                .map(|(ids, truth)| {
                    let lines: Vec<usize> = ids
                        .iter()
                        .filter_map(|id| self.line_of.get(id).copied())
                        .collect();
                    overlap(&lines, truth)
                })
                .collect();
            per_query.iter().sum::<f64>() / per_query.len().max(1) as f64
        });
        let result = SideResult {
            set: self.set.clone(),
            engine: "dash".into(),
            mode: mode.into(),
            setting: setting.into(),
            k: self.args.k,
            docs: self.n,
            queries: self.queries.texts.len(),
            hit: None,
            recall: None,
            ndcg: None,
            recall_vs_exact,
            p50_ms: lat.p50_ms,
            p95_ms: lat.p95_ms,
            p99_ms: lat.p99_ms,
            build_s: self.build_s,
            version: dash_version(),
        };
        println!("{}", result.human());
        if let Some(out) = &self.args.out {
            result.append_to(out)?;
        }
        Ok(())
    }
}
