//! `dash-bench`: DASH's benchmarks and evaluations as one program (`dash-bench --help`), and
//! the pieces they share — one corpus reader, one random generator, one statistics module, one
//! description of the machine. `scripts/scorecard.sh` runs it beside the peer engines.
//!
//! Not published; the criterion benches of the workspace use this library too.

pub mod corpus;
pub mod data;
pub mod heap;
pub mod ingest;
pub mod irset;
pub mod machine;
pub mod rng;
pub mod side;
pub mod stats;
pub mod synth;
pub mod vectors;

/// The error type of the benches: any error, with its message.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The result type of the benches.
pub type Res<T> = Result<T, BoxError>;
