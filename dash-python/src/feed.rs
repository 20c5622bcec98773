//! `Subscription`: a tenant's change feed (`Store::subscribe`), read without the GIL.

use std::sync::Mutex;
use std::time::Duration;

use dash_core::feed::{FeedError, Subscription};
use pyo3::prelude::*;
use pyo3::types::PyAny;

use crate::errors::{raise, IntoPyErr};
use crate::store::{plain, to_py};

/// A change feed; `next(timeout_ms)` answers the next event as the HTTP contract's dict.
#[pyclass(name = "Subscription", module = "dash_memory._native", frozen)]
pub(crate) struct PySubscription {
    inner: Mutex<Subscription>,
}

impl PySubscription {
    pub(crate) fn new(sub: Subscription) -> Self {
        Self {
            inner: Mutex::new(sub),
        }
    }
}

impl IntoPyErr for FeedError {
    fn into_py_err(self, py: Python<'_>) -> PyErr {
        raise(py, self.kind(), self.to_string())
    }
}

#[pymethods]
impl PySubscription {
    /// The next event, waiting up to `timeout_ms` (`None` when none came in time).
    fn next<'py>(&self, py: Python<'py>, timeout_ms: u64) -> PyResult<Option<Bound<'py, PyAny>>> {
        let got = py.detach(|| {
            let mut sub = self
                .inner
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            sub.next_timeout(Duration::from_millis(timeout_ms))
                .map(|e| e.map(|e| plain(&e)))
        });
        match got {
            Ok(Some(event)) => to_py(py, event).map(Some),
            Ok(None) => Ok(None),
            Err(err) => Err(err.into_py_err(py)),
        }
    }

    /// The cursor (`LSN:SEQ`) of the last event delivered, if any.
    fn cursor(&self) -> Option<String> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .cursor()
            .map(|c| c.to_string())
    }
}
