//! `quantize`: a model plus calibration data in, the INT8 model out.

pub use ptq_algos::report::QuantizerRow;
/// Below this outlier ratio (`Report::smooth_quant_outlier_ratio`) the
/// automatic SmoothQuant choice leaves smoothing off without scoring.
pub use ptq_algos::smooth_quant::OUTLIER_RATIO as SMOOTH_QUANT_OUTLIER_RATIO;
pub use ptq_algos::{
    Event, IgnoredScope, ModelType, OverflowFix, Preset, QuantizeOptions, RangeEstimator, Report, SmoothQuantAlphas,
    Subgraph, WeightRange,
};

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
    let options = &for_format(model, options);
    let mut items = data.iter();
    let q = ptq_algos::quantize_graph(model.graph(), &mut items, options, events)?;
    let settings = settings(options, &q.report);
    Ok(QuantizedModel { model: model.quantized(q.graph, settings), report: q.report })
}

/// `options` with what the output format decides filled in: conv output
/// quantizers by default for ONNX (onnxruntime fuses Q/DQ around a
/// convolution into QLinearConv only when its output is quantized), none
/// for OpenVINO IR; `QuantizeOptions::quantize_conv_outputs` overrides it.
/// TensorFlow gets per-tensor activations only (TFLite's converter refuses
/// a per-channel fake quant on an activation).
pub(crate) fn for_format(model: &Model, options: &QuantizeOptions) -> QuantizeOptions {
    let mut o = options.clone();
    o.conv_outputs_by_default = model.format() == crate::Format::Onnx;
    if model.format() == crate::Format::TensorFlow {
        o.per_channel_depthwise_inputs = false;
    }
    o
}

/// The settings a quantized model records (OpenVINO rt_info keys; values
/// as NNCF writes its own: plain strings).
pub(crate) fn settings(o: &QuantizeOptions, r: &Report) -> Vec<(String, String)> {
    let (acts, weights) = r.counts();
    let s = &o.ignored_scope;
    let scope = if s.names.is_empty() && s.patterns.is_empty() && s.types.is_empty() && s.subgraphs.is_empty() {
        "None".to_string()
    } else {
        format!("names={:?} patterns={:?} types={:?} subgraphs={}", s.names, s.patterns, s.types, s.subgraphs.len())
    };
    [
        ("preset", format!("{:?}", r.preset).to_lowercase()),
        ("model_type", r.model_type.map_or("None".into(), |m| format!("{m:?}").to_lowercase())),
        ("subset_size", o.subset_size.to_string()),
        ("calibration_items", r.subset_items.to_string()),
        ("bias_correction", o.bias_correction.to_string()),
        ("fast_bias_correction", o.fast_bias_correction.to_string()),
        ("channel_alignment", o.channel_alignment.to_string()),
        ("overflow_fix", format!("{:?}", o.overflow_fix).to_lowercase()),
        (
            "quantize_conv_outputs",
            o.quantize_conv_outputs
                .unwrap_or(o.conv_outputs_by_default && r.model_type != Some(ptq_algos::ModelType::Transformer))
                .to_string(),
        ),
        ("quantize_loop_bodies", o.quantize_loop_bodies.to_string()),
        ("range_estimator", r.range_estimator.name().to_string()),
        ("ignored_scope", scope),
        ("activation_quantizers", acts.to_string()),
        ("weight_quantizers", weights.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}
