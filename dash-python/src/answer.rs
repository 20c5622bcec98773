//! Retrieve answers handed to Python as they are: a field becomes a Python value only when it
//! is first read (`dash_memory.types` keeps it then), so a query that reads three fields of ten
//! results does not pay for building every evidence list, citation and conflict.

use std::sync::Arc;

use dash_core::RetrieveResponse;
use pyo3::exceptions::PyAttributeError;
use pyo3::prelude::*;
use pyo3::types::PyAny;
use pyo3::IntoPyObjectExt;

use crate::store::{plain, to_py};

/// A retrieve answer, unconverted.
#[pyclass(name = "Answer", module = "dash_memory._native", frozen)]
pub(crate) struct PyAnswer {
    inner: Arc<RetrieveResponse>,
}

impl PyAnswer {
    pub(crate) fn new(answer: RetrieveResponse) -> Self {
        Self {
            inner: Arc::new(answer),
        }
    }
}

#[pymethods]
impl PyAnswer {
    /// One field as the HTTP contract's JSON value would be in Python; `results` as a list
    /// of unconverted results.
    fn field<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let a = &self.inner;
        let value = match name {
            "tenant_id" => return a.tenant_id.as_str().into_bound_py_any(py),
            "query" => return a.query.as_deref().into_bound_py_any(py),
            "results" => {
                let results = (0..a.results.len())
                    .map(|index| PyResultRef {
                        answer: Arc::clone(a),
                        index,
                    })
                    .collect::<Vec<_>>();
                return results.into_bound_py_any(py);
            }
            "took_ms" => plain(&a.took_ms),
            "detection" => plain(&a.detection),
            "graph" => plain(&a.graph.clone().unwrap_or_default()),
            "explain" => plain(&a.explain),
            _ => return Err(PyAttributeError::new_err(name.to_owned())),
        };
        to_py(py, value)
    }

    /// The whole answer as the HTTP contract's dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, plain(&*self.inner))
    }
}

/// One result of an [`PyAnswer`], unconverted.
#[pyclass(name = "Result", module = "dash_memory._native", frozen)]
pub(crate) struct PyResultRef {
    answer: Arc<RetrieveResponse>,
    index: usize,
}

#[pymethods]
impl PyResultRef {
    /// One field as the HTTP contract's JSON value would be in Python.
    fn field<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let Some(r) = self.answer.results.get(self.index) else {
            return Err(PyAttributeError::new_err(name.to_owned()));
        };
        let value = match name {
            "claim_id" => return r.claim_id.as_str().into_bound_py_any(py),
            "canonical_text" => return r.canonical_text.as_str().into_bound_py_any(py),
            "version" => return r.version.into_bound_py_any(py),
            // Through JSON: an f32 reads as its shortest decimal (0.95), as the server sends it.
            "score" => plain(&r.score),
            "confidence" => plain(&r.confidence),
            "score_breakdown" => plain(&r.score_breakdown),
            "valid_from" => plain(&r.valid_from),
            "valid_to" => plain(&r.valid_to),
            "recorded_at" => plain(&r.recorded_at),
            "entities" => plain(&r.entities),
            "supporting_evidence" => plain(&r.supporting_evidence),
            "contradicting_evidence" => plain(&r.contradicting_evidence),
            "conflicts" => plain(&r.conflicts),
            "citations" => plain(&r.citations),
            _ => return Err(PyAttributeError::new_err(name.to_owned())),
        };
        to_py(py, value)
    }

    /// The whole result as the HTTP contract's dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self.answer.results.get(self.index) {
            Some(r) => to_py(py, plain(r)),
            None => Err(PyAttributeError::new_err("to_dict")),
        }
    }
}
