//! `dash-bench quality`: retrieval quality on real data, through `Store::retrieve` (run on
//! demand, not in CI):
//!
//! ```text
//! cargo run --release -p dash-bench -- quality [--data ../shared/data]
//! ```
//!
//! 1. **Climate-FEVER evidence retrieval**: the 5,240 evidence sentences (with their MiniLM
//!    embeddings) are ingested as claims; each claim with gold evidence is a query (text and/or
//!    embedding). hit@10, recall@10 and nDCG@10 of the gold supports + contradicts sentences, for
//!    lexical only, dense only and hybrid. Fusion settings are chosen on the even-numbered
//!    queries (dev) and reported on the odd-numbered ones (test).
//! 2. **Climate-FEVER contradiction surfacing**: each claim is ingested with its five annotated
//!    evidence sentences. For the DISPUTED claims, a `Balanced` query with the claim's text must
//!    return it in the top 3 with supporting *and* contradicting evidence; `SupportOnly` must
//!    never return contradicting evidence; citation coverage of returned claims with evidence.
//! 3. **TimeQA as-of**: facts are ingested with their validity years; for each question, `as_of`
//!    a year inside the fact's interval must rank that fact's object above the same subject's
//!    facts of other intervals.
//!
//! The data is read from `../shared/data` (see its README); nothing is copied into the repo.

mod evidence;
mod surfacing;
mod timeqa;

use std::path::{Path, PathBuf};

use dash_bench::{data, Res};
use dash_core::{Durability, Store};

/// Arguments of `dash-bench quality`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The evaluation data (Climate-FEVER, TimeQA; see its README).
    #[arg(long, default_value = data::DEFAULT_DIR)]
    pub data: PathBuf,
}

/// A Strict store without automatic checkpoints in `dir`.
fn open_store(dir: &Path) -> Res<Store> {
    Ok(Store::builder(dir)
        .durability(Durability::Strict)
        .auto_checkpoint(false)
        .open()?)
}

/// Runs the three evaluations and prints their Markdown tables.
pub fn run(args: Args) -> Res<()> {
    let scratch = tempfile::tempdir()?;
    evidence::run(&args.data, scratch.path())?;
    surfacing::run(&args.data, scratch.path())?;
    timeqa::run(&args.data, scratch.path())?;
    Ok(())
}
