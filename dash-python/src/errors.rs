//! dash-core's errors as the exception classes of `dash_memory.errors` (defined in Python, so
//! that `InvalidInputError` can also be a `ValueError` and each class has its docstring).

use dash_core::ErrorKind;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// The class of `kind` in `dash_memory.errors`.
pub(crate) fn class_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Invalid => "InvalidInputError",
        ErrorKind::CommitConflict => "CommitConflictError",
        ErrorKind::NotFound => "NotFoundError",
        ErrorKind::TooLarge => "TooLargeError",
        ErrorKind::Config => "ConfigError",
        ErrorKind::Locked => "StoreLockedError",
        ErrorKind::Corruption => "CorruptionError",
        ErrorKind::Unavailable => "StoreUnavailableError",
        ErrorKind::IndexUnavailable => "IndexUnavailableError",
        // A kind newer than this module: the base class still says what happened.
        _ => "DashError",
    }
}

/// An exception of `kind` carrying `message` (dash-core's own text, kept whole).
pub(crate) fn raise(py: Python<'_>, kind: ErrorKind, message: impl Into<String>) -> PyErr {
    let message = message.into();
    let made = py
        .import("dash_memory.errors")
        .and_then(|module| module.getattr(class_name(kind)))
        .and_then(|class| class.call1((message.clone(),)));
    match made {
        Ok(exception) => PyErr::from_value(exception),
        // The package's Python half is missing (the module imported alone): still an error.
        Err(_) => PyRuntimeError::new_err(format!("{}: {message}", kind.as_str())),
    }
}

/// An [`ErrorKind::Invalid`] exception: the argument `what` is refused.
pub(crate) fn invalid(py: Python<'_>, message: impl Into<String>) -> PyErr {
    raise(py, ErrorKind::Invalid, message)
}

/// A dash-core error of any type, as its exception.
pub(crate) trait IntoPyErr {
    /// The exception.
    fn into_py_err(self, py: Python<'_>) -> PyErr;
}

macro_rules! into_py_err {
    ($($error:ty),*) => {$(
        impl IntoPyErr for $error {
            fn into_py_err(self, py: Python<'_>) -> PyErr {
                raise(py, self.kind(), self.to_string())
            }
        }
    )*};
}

into_py_err!(
    dash_core::OpenError,
    dash_core::WriteError,
    dash_core::ReadError,
    dash_core::QueryError,
    dash_core::CheckpointError,
    dash_core::CloseError,
    dash_core::ValidationError
);
