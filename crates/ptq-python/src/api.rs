//! The package's functions: load, quantize, and quantize with accuracy
//! control. The Python layer (`python/ptq/__init__.py`) normalizes the
//! arguments into the plain values these take.

use std::sync::Arc;

use ptq::accuracy::{AccuracyOptions, DropType, RestoreMode, Validation};
use ptq::{IgnoredScope, ModelType, OverflowFix, Preset, QuantizeOptions, RangeEstimator, SmoothQuantAlphas, Subgraph};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use crate::data::{Inputs, accuracy_progress, dataset, progress};
use crate::errors::{Raised, to_py};
use crate::model::{PyModel, compile};

/// Loads a model from a path (ONNX, OpenVINO IR `.xml`, SavedModel
/// directory) or from ONNX bytes.
#[pyfunction]
pub fn load(py: Python<'_>, model: &Bound<'_, PyAny>) -> PyResult<PyModel> {
    let m = if let Ok(b) = model.cast::<PyBytes>() {
        let bytes = b.as_bytes().to_vec();
        py.detach(move || ptq::load_onnx_bytes(&bytes, "<bytes>"))
    } else {
        let path: std::path::PathBuf = model.extract().map_err(|_| {
            PyTypeError::new_err("a model is a path, ONNX bytes, an onnx.ModelProto or an openvino.Model")
        })?;
        py.detach(move || ptq::load(&path))
    }
    .map_err(to_py)?;
    Ok(PyModel { model: m, report: None })
}

fn get<'py, T: FromPyObjectOwned<'py>>(d: &Bound<'py, PyDict>, key: &str) -> PyResult<Option<T>> {
    match d.get_item(key)? {
        Some(v) if !v.is_none() => v.extract::<T>().map(Some).map_err(|e| {
            let e: PyErr = e.into();
            PyTypeError::new_err(format!("{key}: {e}"))
        }),
        _ => Ok(None),
    }
}

/// Quantization options from the normalized keyword arguments.
fn quantize_options(d: &Bound<'_, PyDict>, model: &ptq::Model) -> PyResult<QuantizeOptions> {
    let preset = match get::<String>(d, "preset")?.as_deref() {
        None => None,
        Some("performance") => Some(Preset::Performance),
        Some("mixed") => Some(Preset::Mixed),
        Some(p) => return Err(PyValueError::new_err(format!("preset: {p} (performance or mixed)"))),
    };
    let mut o = QuantizeOptions { preset, ..QuantizeOptions::default() };
    o.model_type = match get::<String>(d, "model_type")?.as_deref() {
        None => None,
        Some("transformer") => Some(ModelType::Transformer),
        Some(m) => return Err(PyValueError::new_err(format!("model_type: {m} (transformer)"))),
    };
    if let Some(n) = get::<usize>(d, "subset_size")? {
        if n == 0 {
            return Err(PyValueError::new_err("subset_size must be at least 1"));
        }
        o.subset_size = n;
    }
    if let Some(f) = get::<bool>(d, "fast_bias_correction")? {
        o.fast_bias_correction = f;
    }
    if let Some(s) = get::<Bound<'_, PyDict>>(d, "ignored_scope")? {
        o.ignored_scope = IgnoredScope {
            names: get(&s, "names")?.unwrap_or_default(),
            patterns: get(&s, "patterns")?.unwrap_or_default(),
            types: get(&s, "types")?.unwrap_or_default(),
            subgraphs: get::<Vec<(Vec<String>, Vec<String>)>>(&s, "subgraphs")?
                .unwrap_or_default()
                .into_iter()
                .map(|(inputs, outputs)| Subgraph { inputs, outputs })
                .collect(),
            strict: get(&s, "validate")?.unwrap_or(true),
        };
    }
    match get::<String>(d, "target_format")?.as_deref() {
        None => {}
        // Where quantizers go follows the runtime: onnxruntime runs a
        // convolution whose output is quantized as QLinearConv, OpenVINO
        // fuses the float output itself.
        Some("openvino") => o.quantize_conv_outputs = o.quantize_conv_outputs.or(Some(false)),
        Some("onnx") if model.format() != ptq::Format::Onnx && o.model_type.is_none() => {
            o.quantize_conv_outputs = o.quantize_conv_outputs.or(Some(true));
        }
        Some("onnx") => {}
        Some(f) => return Err(PyValueError::new_err(format!("target_format: {f} (onnx or openvino)"))),
    }
    if let Some(a) = get::<Bound<'_, PyDict>>(d, "advanced")? {
        advanced(&a, &mut o)?;
    }
    Ok(o)
}

/// `AdvancedQuantizationParameters`, as NNCF names its fields.
fn advanced(a: &Bound<'_, PyDict>, o: &mut QuantizeOptions) -> PyResult<()> {
    o.overflow_fix = match get::<String>(a, "overflow_fix")?.as_deref() {
        None => o.overflow_fix,
        Some("auto") => OverflowFix::Auto,
        Some("enable") => OverflowFix::Enable,
        Some("first_layer_only") => OverflowFix::FirstLayer,
        Some("disable") => OverflowFix::Disable,
        Some(f) => {
            return Err(PyValueError::new_err(format!(
                "overflow_fix: {f} (auto, enable, first_layer_only or disable)"
            )));
        }
    };
    if let Some(q) = get::<bool>(a, "quantize_outputs")? {
        o.quantize_conv_outputs = Some(q);
    }
    if get::<bool>(a, "disable_bias_correction")? == Some(true) {
        o.bias_correction = false;
    }
    if let Some(d) = get::<bool>(a, "disable_channel_alignment")? {
        o.channel_alignment = !d;
    }
    o.bias_correction_threshold = get(a, "bias_correction_threshold")?.or(o.bias_correction_threshold);
    let (mm, conv) = (get::<f32>(a, "smooth_quant_alpha_matmul")?, get::<f32>(a, "smooth_quant_alpha_convolution")?);
    if mm.is_some() || conv.is_some() {
        let d = SmoothQuantAlphas::default();
        o.smooth_quant =
            Some(SmoothQuantAlphas { matmul: mm.unwrap_or(d.matmul), convolution: conv.unwrap_or(d.convolution) });
    }
    o.range_estimator = match get::<String>(a, "activations_range_estimator")?.as_deref() {
        None => o.range_estimator,
        Some("min_max") => RangeEstimator::MinMax,
        Some("mean_min_max") => RangeEstimator::MeanMinMax,
        Some("mse") => RangeEstimator::Mse,
        Some("quantile") => RangeEstimator::Quantile,
        Some("mean_quantile") => RangeEstimator::MeanQuantile,
        Some(r) => {
            return Err(PyValueError::new_err(format!(
                "activations_range_estimator: {r} (min_max, mean_min_max, mse, quantile or mean_quantile)"
            )));
        }
    };
    if let Some(t) = get::<usize>(a, "threads")? {
        o.threads = t;
    }
    Ok(())
}

/// Quantizes `model` on the items of `source()` (model-ready items; the
/// Python layer applies the transform). Returns the quantized model with
/// its report.
#[pyfunction]
#[pyo3(signature = (model, source, length, options, progress_fn = None))]
pub fn quantize(
    py: Python<'_>,
    model: &PyModel,
    source: Py<PyAny>,
    length: Option<usize>,
    options: &Bound<'_, PyDict>,
    progress_fn: Option<Py<PyAny>>,
) -> PyResult<PyModel> {
    let opts = quantize_options(options, &model.model)?;
    let raised = Raised::default();
    let data = dataset(source, length, Inputs::of(&model.model), raised.clone());
    let m = &model.model;
    let q = py
        .detach(move || {
            let mut events = progress(progress_fn);
            ptq::quantize_with_events(m, &data, &opts, &mut events)
        })
        .map_err(|e| raised.or(e))?;
    let report = serde_json::to_string(&q.report).map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(PyModel { model: q.model, report: Some(report) })
}

/// Quantization with accuracy control. `validate(compiled_model, indices)`
/// (Python) scores a candidate on the validation items at `indices` and
/// returns `(metric, per_item or None)`.
#[pyfunction]
#[pyo3(signature = (model, source, length, validation_items, validate, options, accuracy, progress_fn = None))]
#[allow(clippy::too_many_arguments)]
pub fn quantize_with_accuracy_control(
    py: Python<'_>,
    model: &PyModel,
    source: Py<PyAny>,
    length: Option<usize>,
    validation_items: usize,
    validate: Py<PyAny>,
    options: &Bound<'_, PyDict>,
    accuracy: &Bound<'_, PyDict>,
    progress_fn: Option<Py<PyAny>>,
) -> PyResult<PyModel> {
    let qopts = quantize_options(options, &model.model)?;
    let aopts = AccuracyOptions {
        max_drop: get(accuracy, "max_drop")?.unwrap_or(0.01),
        drop_type: match get::<String>(accuracy, "drop_type")?.as_deref() {
            None | Some("absolute") => DropType::Absolute,
            Some("relative") => DropType::Relative,
            Some(t) => return Err(PyValueError::new_err(format!("drop_type: {t} (absolute or relative)"))),
        },
        max_num_iterations: get(accuracy, "max_num_iterations")?.unwrap_or(usize::MAX),
        ranking_subset_size: get(accuracy, "ranking_subset_size")?,
        restore_mode: match get::<String>(accuracy, "restore_mode")?.as_deref() {
            None | Some("activations_and_weights") => RestoreMode::ActivationsAndWeights,
            Some("only_activations") => RestoreMode::OnlyActivations,
            Some(m) => {
                return Err(PyValueError::new_err(format!(
                    "restore_mode: {m} (activations_and_weights or only_activations)"
                )));
            }
        },
    };
    let raised = Raised::default();
    let data = dataset(source, length, Inputs::of(&model.model), raised.clone());
    // The validation items stay in Python: the function gets their indices.
    let valid = ptq::Dataset::from_items(vec![vec![]; validation_items]);
    let validate = Arc::new(validate);
    let r2 = raised.clone();
    let score = move |m: &ptq::Model, items: &ptq::accuracy::Indexed<'_>| -> Result<Validation, String> {
        let indices: Vec<usize> = items.iter().map(|(i, _)| *i).collect();
        Python::attach(|py| {
            // As the command line's metrics run it: fake quantization in f32,
            // one thread per candidate (the ranking scores several at once).
            let compiled = compile(py, m, 1, false)?;
            let out = validate.bind(py).call1((compiled, PyList::new(py, indices)?))?;
            let (metric, per_item): (f64, Option<Vec<f64>>) = out.extract()?;
            Ok(Validation { metric, per_item })
        })
        .map_err(|e: PyErr| Python::attach(|py| r2.keep(py, e)))
    };
    let m = &model.model;
    let r = py
        .detach(move || {
            let mut events = accuracy_progress(progress_fn);
            ptq::quantize_with_accuracy_control(m, &data, &valid, score, &qopts, &aopts, &mut events)
        })
        .map_err(|e| raised.or(e))?;
    let report = serde_json::json!({ "accuracy_control": r.report, "quantization": r.quantization });
    Ok(PyModel { model: r.model, report: Some(report.to_string()) })
}
