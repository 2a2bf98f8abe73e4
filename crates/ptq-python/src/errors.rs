//! The package's exceptions, and the Rust errors and Python exceptions they
//! carry back to the caller.

use std::sync::{Arc, Mutex};

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(_ptq, QuantizationError, PyException, "Any error ptq reports; the others derive from it.");
create_exception!(_ptq, ModelError, QuantizationError, "A model that cannot be read, written or is not supported.");
create_exception!(
    _ptq,
    DataError,
    QuantizationError,
    "A calibration or validation item that does not fit the model (names, shapes, dtypes, NaN)."
);
create_exception!(_ptq, ExecutionError, QuantizationError, "The executor failed to run a model.");
create_exception!(
    _ptq,
    AccuracyControlError,
    QuantizationError,
    "Quantization with accuracy control could not measure or revert."
);

/// `e` as the exception of its kind, with the same message (which names
/// the file, node, item and input).
pub fn to_py(e: ptq::Error) -> PyErr {
    use ptq::Error as E;
    let msg = e.to_string();
    match e {
        E::Item { .. } | E::Npz { .. } => DataError::new_err(msg),
        E::Exec(_) => ExecutionError::new_err(msg),
        E::Quantize(q) => algo(q, msg),
        E::Accuracy(ptq::AccuracyError::Quantize(q)) => algo(q, msg),
        E::Accuracy(_) => AccuracyControlError::new_err(msg),
        _ => ModelError::new_err(msg),
    }
}

fn algo(e: ptq::AlgoError, msg: String) -> PyErr {
    use ptq::AlgoError as A;
    match e {
        A::BadItem { .. } | A::Dataset { .. } | A::EmptyDataset => DataError::new_err(msg),
        A::Exec(_) => ExecutionError::new_err(msg),
        _ => QuantizationError::new_err(msg),
    }
}

/// The first Python exception raised inside a callback that Rust called
/// (a data source, a transform, a validation function). Rust sees only a
/// message; the caller gets the exception itself, traceback included.
#[derive(Clone, Debug, Default)]
pub struct Raised(Arc<Mutex<Option<PyErr>>>);

impl Raised {
    /// Keeps `e` (unless an earlier one is kept) and returns the message
    /// Rust reports for it.
    pub fn keep(&self, py: Python<'_>, e: PyErr) -> String {
        let msg = format!("{}: {}", e.get_type(py).name().map_or_else(|_| "exception".into(), |n| n.to_string()), e);
        if let Ok(mut slot) = self.0.lock()
            && slot.is_none()
        {
            *slot = Some(e);
        }
        msg
    }

    /// The kept exception if there is one, else `e` converted.
    pub fn or(&self, e: ptq::Error) -> PyErr {
        match self.0.lock().ok().and_then(|mut s| s.take()) {
            Some(raised) => raised,
            None => to_py(e),
        }
    }
}
