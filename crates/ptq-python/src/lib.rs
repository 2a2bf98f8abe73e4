//! The native module of the `ptq` Python package (`ptq._ptq`). The
//! package's public API is in `python/ptq/__init__.py`, which normalizes
//! NNCF-shaped arguments and calls the functions here; these release the
//! GIL while ptq works and take it back only to read a Python data source,
//! call a validation function or report progress.
#![forbid(unsafe_code)]

mod api;
mod convert;
mod data;
mod errors;
mod model;

use pyo3::prelude::*;

#[pymodule]
fn _ptq(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_function(wrap_pyfunction!(api::load, m)?)?;
    m.add_function(wrap_pyfunction!(api::quantize, m)?)?;
    m.add_function(wrap_pyfunction!(api::quantize_with_accuracy_control, m)?)?;
    m.add_class::<model::PyModel>()?;
    m.add_class::<model::CompiledModel>()?;
    m.add_class::<model::Outputs>()?;
    m.add("QuantizationError", py.get_type::<errors::QuantizationError>())?;
    m.add("ModelError", py.get_type::<errors::ModelError>())?;
    m.add("DataError", py.get_type::<errors::DataError>())?;
    m.add("ExecutionError", py.get_type::<errors::ExecutionError>())?;
    m.add("AccuracyControlError", py.get_type::<errors::AccuracyControlError>())?;
    // None when the CPU tier named by `PTQ_CPU_TIER` is not available here.
    m.add("int8_tier", ptq::int8_tier().ok().map(|t| t.name().to_string()))?;
    Ok(())
}
