//! `dash-bench`: every benchmark and evaluation of DASH as a subcommand (`dash-bench --help`).
//! `docs/benchmarks.md` names the command behind each figure; `scripts/scorecard.sh` runs the
//! side-by-side subcommands (`ir`, `scale`) with the peer engines and `scorecard` prints the
//! table.

use clap::{Parser, Subcommand};

mod cmd;

/// With `--features mimalloc` the benches run on mimalloc; the default is the system allocator,
/// as an embedding application gets. Either counts its live bytes (`dash_bench::heap`).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: dash_bench::heap::Counting<mimalloc::MiMalloc> =
    dash_bench::heap::Counting(mimalloc::MiMalloc);

#[cfg(not(feature = "mimalloc"))]
#[global_allocator]
static GLOBAL: dash_bench::heap::Counting<std::alloc::System> =
    dash_bench::heap::Counting(std::alloc::System);

#[derive(Parser)]
#[command(
    name = "dash-bench",
    about = "DASH's benchmarks, evaluations and the side-by-side scorecard",
    after_help = "Every figure in docs/benchmarks.md names the command that produces it.\n\
                  Side by side with LanceDB, Chroma and tantivy: scripts/scorecard.sh --quick"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The store: WAL ingest (strict, batched, group commit), open and recovery times.
    Store(cmd::store::Args),
    /// Retrieval at scale on the common synthetic corpus: latency, throughput, ANN recall, memory.
    Retrieve(cmd::retrieve::Args),
    /// A clean restart's first answer, claims over many tenants, with and without the catalog image.
    Restart(cmd::restart::Args),
    /// Retrieval quality on the real data (Climate-FEVER, TimeQA).
    Quality(cmd::quality::Args),
    /// Contradiction detection: TimeQA, SICK, Climate-FEVER, and the stage's cost.
    Detection(cmd::detection::Args),
    /// The local embedder: sentences/s and single-query latency (feature `embed`).
    Embed(cmd::embed::Args),
    /// HTTP load on `dash serve`: ingest, retrieve, overload, restart, lag.
    Load(cmd::load::Args),
    /// The lexical stage alone at scale: pruned (MaxScore) against exhaustive BM25 search.
    Lexical(cmd::lexical::Args),
    /// The dense index alone: nearest documents below a bound, graph walk against exact scan.
    Filtered(cmd::filtered::Args),
    /// The dense index alone: graphs storing f32, f16 or i8 vectors (build, memory, recall).
    Quantization(cmd::quantization::Args),
    /// Side by side, an IR set (Climate-FEVER): DASH's hit@10, recall@10, nDCG@10, p50/p95.
    Ir(cmd::ir::Args),
    /// Side by side, the synthetic corpus at scale: top-50 latency, dense recall@50 vs exact.
    Scale(cmd::scale::Args),
    /// The scorecard: DASH beside each peer as ratios, from the JSON lines of `ir`, `scale` and
    /// the peer runner; appends to docs/scorecard.md with `--append`.
    Scorecard(cmd::scorecard::Args),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Store(a) => cmd::store::run(a),
        Command::Retrieve(a) => cmd::retrieve::run(a),
        Command::Restart(a) => cmd::restart::run(a),
        Command::Quality(a) => cmd::quality::run(a),
        Command::Detection(a) => cmd::detection::run(a),
        Command::Embed(a) => cmd::embed::run(a),
        Command::Load(a) => cmd::load::run(a),
        Command::Lexical(a) => cmd::lexical::run(a),
        Command::Filtered(a) => cmd::filtered::run(a),
        Command::Quantization(a) => cmd::quantization::run(a),
        Command::Ir(a) => cmd::ir::run(a),
        Command::Scale(a) => cmd::scale::run(a),
        Command::Scorecard(a) => cmd::scorecard::run(a),
    };
    if let Err(e) = result {
        eprintln!("dash-bench: {e}");
        std::process::exit(1);
    }
}
