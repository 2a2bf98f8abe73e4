//! `ptq.Model` (a model and its quantization report) and
//! `ptq.CompiledModel` (a model prepared on ptq's executor, callable on
//! numpy arrays).

use std::path::PathBuf;
use std::sync::Arc;

use ptq::{ExecOptions, Plan};
use pyo3::exceptions::{PyIndexError, PyKeyError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::convert::to_numpy;
use crate::data::Inputs;
use crate::errors::to_py;

/// A model held by ptq: loaded, or the result of a quantization.
#[pyclass(name = "Model", module = "ptq", frozen)]
#[derive(Debug)]
pub struct PyModel {
    pub model: ptq::Model,
    /// The quantization report as JSON, for a quantized model.
    pub report: Option<String>,
}

#[pymethods]
impl PyModel {
    /// Writes the model in the format the extension names (`.onnx`, `.xml`
    /// with its `.bin`, or a directory for a TensorFlow SavedModel),
    /// atomically; never over the file the model was loaded from.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| self.model.save(&path)).map_err(to_py)
    }

    /// The model as ONNX bytes (`onnx.load_from_string` reads them).
    fn to_onnx_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = py.detach(|| self.model.to_onnx_bytes()).map_err(to_py)?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// The quantization report as a JSON string (`Model.report` parses it).
    #[getter]
    fn report_json(&self) -> Option<String> {
        self.report.clone()
    }

    /// Names of the model's inputs, in order.
    #[getter]
    fn input_names(&self) -> Vec<String> {
        Inputs::of(&self.model).0
    }

    /// Names of the model's outputs, in order.
    #[getter]
    fn output_names(&self) -> Vec<String> {
        let g = self.model.graph();
        g.outputs().iter().map(|&v| g.value(v).name.clone()).collect()
    }

    /// Prepares the model on ptq's executor. `threads`: worker threads
    /// (None: one per core). `integer`: run quantized layers on the int8
    /// kernels (the default), or in float as fake quantization.
    #[pyo3(signature = (threads = None, integer = true))]
    fn compile(&self, py: Python<'_>, threads: Option<usize>, integer: bool) -> PyResult<CompiledModel> {
        compile(py, &self.model, threads.unwrap_or(0), integer)
    }

    fn __repr__(&self) -> String {
        let g = self.model.graph();
        format!(
            "<ptq.Model {} ({} nodes, inputs: {}){}>",
            self.model.describe_source(),
            g.iter_nodes().count(),
            Inputs::of(&self.model).0.join(", "),
            if self.report.is_some() { ", quantized" } else { "" }
        )
    }
}

/// `model` prepared to run.
pub fn compile(py: Python<'_>, model: &ptq::Model, threads: usize, integer: bool) -> PyResult<CompiledModel> {
    let options = ExecOptions { threads, optimize: true, integer, ..ExecOptions::default() };
    let plan = py.detach(|| Plan::new(model.graph(), &options)).map_err(|e| to_py(e.into()))?;
    let g = model.graph();
    Ok(CompiledModel {
        plan: Arc::new(plan),
        inputs: Inputs::of(model),
        outputs: g.outputs().iter().map(|&v| g.value(v).name.clone()).collect(),
    })
}

/// A model ready to run on ptq's executor: call it with a dict of arrays
/// named after the inputs, a tuple in input order, or one array for a
/// one-input model; it returns the outputs as [`Outputs`].
#[pyclass(module = "ptq", frozen)]
#[derive(Debug)]
pub struct CompiledModel {
    plan: Arc<Plan>,
    inputs: Inputs,
    outputs: Vec<String>,
}

#[pymethods]
impl CompiledModel {
    fn __call__(&self, py: Python<'_>, inputs: &Bound<'_, PyAny>) -> PyResult<Outputs> {
        let item = self.inputs.item(py, inputs, "inputs")?;
        let plan = Arc::clone(&self.plan);
        let out = py.detach(move || plan.run(item)).map_err(|e| to_py(e.into()))?;
        let arrays = out.into_iter().map(|(n, t)| Ok((n, to_numpy(py, t)?.unbind()))).collect::<PyResult<_>>()?;
        Ok(Outputs { arrays })
    }

    /// Names of the inputs, in order.
    #[getter]
    fn input_names(&self) -> Vec<String> {
        self.inputs.0.clone()
    }

    /// Names of the outputs, in order.
    #[getter]
    fn output_names(&self) -> Vec<String> {
        self.outputs.clone()
    }

    /// Labels of the MatMul, Gemm and Conv nodes that run on the int8
    /// kernels (empty for a float model or `integer=False`).
    #[getter]
    fn integer_nodes(&self) -> Vec<String> {
        self.plan.integer_nodes().to_vec()
    }
}

/// A run's outputs, in model order: index them by position (`out[0]`) or
/// by name (`out["logits"]`), iterate over the arrays, or take `.to_dict()`.
#[pyclass(module = "ptq", frozen, sequence)]
#[derive(Debug)]
pub struct Outputs {
    arrays: Vec<(String, Py<PyAny>)>,
}

#[pymethods]
impl Outputs {
    fn __len__(&self) -> usize {
        self.arrays.len()
    }

    fn __getitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        if let Ok(i) = key.extract::<isize>() {
            let n = self.arrays.len() as isize;
            let j = if i < 0 { i + n } else { i };
            return usize::try_from(j)
                .ok()
                .and_then(|j| self.arrays.get(j))
                .map(|(_, a)| a.clone_ref(py))
                .ok_or_else(|| PyIndexError::new_err(format!("output {i} of {n}")));
        }
        if let Ok(name) = key.extract::<String>() {
            return self.arrays.iter().find(|(n, _)| *n == name).map(|(_, a)| a.clone_ref(py)).ok_or_else(|| {
                let names: Vec<&str> = self.arrays.iter().map(|(n, _)| n.as_str()).collect();
                PyKeyError::new_err(format!("no output '{name}' (outputs: {})", names.join(", ")))
            });
        }
        Err(PyTypeError::new_err("index outputs by position or by name"))
    }

    /// The output names, in order.
    fn names(&self) -> Vec<String> {
        self.arrays.iter().map(|(n, _)| n.clone()).collect()
    }

    /// `{name: array}`.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (n, a) in &self.arrays {
            d.set_item(n, a.clone_ref(py))?;
        }
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!("<ptq.Outputs {}>", self.arrays.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", "))
    }
}
