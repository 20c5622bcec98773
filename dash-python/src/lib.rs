//! `dash_memory._native`: DASH's embedded [`Store`](dash_core::Store) for Python.
//!
//! A thin layer. Arguments arrive as Python values and answers leave as the serde shapes of
//! dash-core — the HTTP contract's dicts — converted by `pythonize`, so the package reads and
//! answers exactly what `dash serve` does; the package's Python half (`python/dash_memory/`)
//! wraps them in typed objects. Every store call lets go of the GIL, so threads query in
//! parallel. Errors become the exception classes of `dash_memory.errors`, one per
//! [`dash_core::ErrorKind`].

use pyo3::prelude::*;

mod answer;
mod errors;
mod feed;
mod options;
mod store;

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<store::PyStore>()?;
    m.add_class::<feed::PySubscription>()?;
    m.add_class::<answer::PyAnswer>()?;
    m.add_class::<answer::PyResultRef>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add(
        "ERROR_KINDS",
        dash_core::ErrorKind::ALL
            .iter()
            .map(|k| (k.as_str(), errors::class_name(*k)))
            .collect::<Vec<_>>(),
    )?;
    Ok(())
}
