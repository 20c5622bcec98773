//! DASH: an evidence-first memory engine for retrieval-augmented generation.
//!
//! This crate is the workspace's front door: it re-exports [`dash_core`], the embeddable store,
//! so that the top-level `examples/`, `tests/` and `benches/` exercise exactly what an
//! application links. See [`dash_core`] for the model, the guarantees and a complete example.

pub use dash_core::*;
