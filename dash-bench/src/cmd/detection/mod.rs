//! `dash-bench detection`: contradiction detection measured on real data (run on demand, not in
//! CI):
//!
//! ```text
//! cargo run --release -p dash-bench [--features embed] -- detection [--data ../shared/data]
//!     [--synthetic DIR --n 100000 [--cost-only]] [--only timeqa|sick|climate]
//!     [--embedder target/models/all-MiniLM-L6-v2]
//! ```
//!
//! 1. **TimeQA**: the facts with an object, ingested twice — as structured claims (subject,
//!    relation as predicate, object, validity) and as **plain sentences**
//!    `"{subject} {relation_label} {object}."` with their validity and nothing else (no
//!    triple, no entities). Ground truth from the data itself: within a subject + relation
//!    group, two facts with different objects conflict iff their year intervals overlap, and
//!    otherwise the later one supersedes the earlier. Precision / recall / F1 of the detected
//!    `contradicts` and `supersedes` edges, misses and false edges explained.
//! 2. **SICK trial**: each sentence pair in its own tenant, text only, through the store. The
//!    share of CONTRADICTION pairs linked (target ≥ 80 %) and of ENTAILMENT pairs linked
//!    (target ≤ 5 %), on the odd pair ids (where the rules were tuned) and on the even ones
//!    (reported); NEUTRAL reported, not scored.
//! 3. **Climate-FEVER**: the built-in judge as a claim–evidence `contradicts` classifier (a
//!    baseline: its contradictions are paraphrase and world knowledge, the place for a model).
//! 4. **Cost** (with `--synthetic DIR`, the common corpus of `shared/bench/synthetic.py`, one
//!    tenant, text only or with `--with-vectors` the corpus vectors too): acknowledged ingest with detection off and on (batches of 1,000), the
//!    stage's throughput on the last 10 % of the corpus (claims per second of wall time and per
//!    CPU-second of the stage's thread), and its lag while ingesting at a fixed 2,000 claims/s
//!    in batches of 100 (p50/p95/max of the lag, sampled every 50 ms).
//!
//! `DASH_EVAL_DEBUG=N` prints up to N (default 5) examples of each kind of error to stderr.

mod climate;
mod cost;
mod model;
mod prf;
mod sick;
mod timeqa;

use std::path::PathBuf;

use dash_bench::{data, Res};

use model::Model;

/// The evaluations `--only` can pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Only {
    /// TimeQA, structured and plain-text.
    Timeqa,
    /// The SICK trial pairs.
    Sick,
    /// Climate-FEVER claim–evidence pairs.
    Climate,
}

/// Arguments of `dash-bench detection`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The evaluation data (TimeQA, SICK, Climate-FEVER; see its README).
    #[arg(long, default_value = data::DEFAULT_DIR)]
    pub data: PathBuf,
    /// Also measure the stage's cost on this synthetic corpus (`shared/bench/synthetic.py`).
    #[arg(long, value_name = "DIR")]
    pub synthetic: Option<PathBuf>,
    /// Claims of the synthetic corpus the cost runs use.
    #[arg(long, default_value_t = 100_000)]
    pub n: usize,
    /// The cost runs' claims carry their corpus vectors (dense candidates, HNSW graphs built
    /// while the stage runs) instead of text only.
    #[arg(long)]
    pub with_vectors: bool,
    /// Only the cost runs (with `--synthetic`), none of the real-data evaluations.
    #[arg(long)]
    pub cost_only: bool,
    /// Only this real-data evaluation.
    #[arg(long, value_enum)]
    pub only: Option<Only>,
    /// The local embedder (all-MiniLM-L6-v2) as the store's embedder and the judge's span guard
    /// in the SICK run; needs the `embed` feature.
    #[arg(long, value_name = "DIR")]
    pub embedder: Option<PathBuf>,
}

/// How many examples of each error `DASH_EVAL_DEBUG` asks for (`None` when unset).
fn debug_limit() -> Option<usize> {
    let value = std::env::var_os("DASH_EVAL_DEBUG")?;
    Some(value.to_str().and_then(|v| v.parse().ok()).unwrap_or(5))
}

/// Runs the chosen evaluations and prints their Markdown tables.
pub fn run(args: Args) -> Res<()> {
    let model = match &args.embedder {
        Some(dir) => Model::load(dir)?,
        None => Model::default(),
    };
    let scratch = tempfile::tempdir()?;
    let runs = |what: Only| !args.cost_only && args.only.is_none_or(|o| o == what);
    if runs(Only::Timeqa) {
        timeqa::run(&args.data, scratch.path(), false)?;
        timeqa::run(&args.data, scratch.path(), true)?;
    }
    if runs(Only::Sick) {
        sick::run(&args.data, scratch.path(), &model)?;
    }
    if runs(Only::Climate) {
        climate::run(&args.data)?;
    }
    if let Some(dir) = &args.synthetic {
        cost::run(dir, args.n, args.with_vectors, scratch.path())?;
    }
    Ok(())
}
