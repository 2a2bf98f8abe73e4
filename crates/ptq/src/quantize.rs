//! `quantize`: a model plus calibration data in, the INT8 model out.

pub use ptq_algos::{Event, IgnoredScope, ModelType, OverflowFix, Preset, QuantizeOptions, Report, Subgraph};

use crate::dataset::Dataset;
use crate::error::Error;
use crate::model::Model;

/// A quantized model and the report of how it was made.
#[derive(Clone, Debug)]
pub struct QuantizedModel {
    pub model: Model,
    pub report: Report,
}

/// Quantizes `model` with statistics from `data` and NNCF's defaults
/// (`QuantizeOptions::default()`): per-channel symmetric int8 weights,
/// per-tensor activations from mean per-sample ranges, 300 items,
/// FastBiasCorrection. The result is in the input's format.
pub fn quantize(model: &Model, data: &Dataset, options: &QuantizeOptions) -> Result<QuantizedModel, Error> {
    quantize_with_events(model, data, options, &mut |_| {})
}

/// [`quantize`], reporting progress through `events`.
pub fn quantize_with_events(
    model: &Model,
    data: &Dataset,
    options: &QuantizeOptions,
    events: &mut dyn FnMut(Event),
) -> Result<QuantizedModel, Error> {
    let mut items = data.iter();
    let q = ptq_algos::quantize_graph(model.graph(), &mut items, options, events)?;
    Ok(QuantizedModel { model: model.quantized(q.graph), report: q.report })
}
