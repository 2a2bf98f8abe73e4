//! Quantization settings, with NNCF's defaults.

use crate::cache::StatsCache;
use crate::range::RangeEstimator;
use crate::scope::IgnoredScope;
use crate::smooth_quant::SmoothQuantAlphas;

/// Activation scheme preset (NNCF `QuantizationPreset`). Weights are always
/// symmetric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// Symmetric activations.
    Performance,
    /// Asymmetric activations.
    Mixed,
}

/// Model family with its own defaults (NNCF `ModelType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelType {
    /// Attention models: `mixed` preset, only MatMul/Gemm/Conv inputs
    /// quantized, the attention-output MatMul left in float, symmetric
    /// activation×activation MatMul inputs.
    Transformer,
}

/// Which weights use 7 of the 8 bits, avoiding the 16-bit accumulator
/// overflow of non-VNNI x86 int8 kernels (NNCF `OverflowFix`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverflowFix {
    /// The weights of the layers whose pairs of u8·s8 products could leave
    /// i16 for the calibrated input ranges (ptq's default; see
    /// [`crate::overflow`]): the answers stay the same on CPUs with and
    /// without VNNI, and layers that cannot saturate keep 8 bits.
    Auto,
    /// Every Conv/MatMul/Gemm weight.
    Enable,
    /// The first convolutions reached from each model input (NNCF default).
    FirstLayer,
    /// None.
    Disable,
}

/// Settings of one quantization run. `Default` gives NNCF's defaults.
#[derive(Clone, Debug)]
pub struct QuantizeOptions {
    /// `None`: `Mixed` for transformers, else `Performance`.
    pub preset: Option<Preset>,
    /// `None`: detect attention structure and, when found, use `Transformer`.
    pub model_type: Option<ModelType>,
    /// Turn off the transformer detection that applies when `model_type` is
    /// `None`.
    pub detect_model_type: bool,
    /// Dataset items used for statistics (default 300).
    pub subset_size: usize,
    /// Bias correction (default on; NNCF's `disable_bias_correction`
    /// inverted).
    pub bias_correction: bool,
    /// Its fast form (default), or the full one that runs the quantized
    /// model on calibration items ([`crate::bias_correction`]).
    pub fast_bias_correction: bool,
    /// Largest |shift / bias| a bias correction applies (NNCF's
    /// `AdvancedBiasCorrectionParameters.threshold`). `None`: 2 for both
    /// forms (NNCF: 2 for the fast one, 1000 for the full one; see
    /// [`crate::bias_correction`]).
    pub bias_correction_threshold: Option<f32>,
    /// ChannelAlignment before the ranges (default off, as in NNCF).
    pub channel_alignment: bool,
    pub ignored_scope: IgnoredScope,
    pub overflow_fix: OverflowFix,
    /// Worker threads for calibration (0: one per core).
    pub threads: usize,
    /// Reuse (or save) calibration statistics here.
    pub stats_cache: Option<StatsCache>,
    /// Also quantize the output of a quantized convolution (after a Relu or
    /// Clip it feeds) when a float op reads it, so that a Q/DQ runtime can
    /// run the convolution as one integer kernel (onnxruntime's
    /// QLinearConv needs DequantizeLinear → Conv → QuantizeLinear; its own
    /// quantizer does the same). `None`: [`QuantizeOptions::conv_outputs_by_default`]
    /// decides, except for the transformer model type; NNCF does not add
    /// these quantizers.
    pub quantize_conv_outputs: Option<bool>,
    /// What `quantize_conv_outputs: None` means for a model not of the
    /// transformer type. The facade sets it for ONNX output and leaves it
    /// off for OpenVINO IR, whose runtime fuses without these quantizers.
    /// Transformer-type models get none unless asked for: as in NNCF's
    /// placement, the convolutions of hybrid conv/attention models then
    /// keep the float ops they feed (SiLU gates, LayerNorms) exact, which
    /// lifted ts_timm_mobilevit_xxs and dyn_timm_efficientvit_b0 to NNCF
    /// `model_type=TRANSFORMER`'s metric (docs/ZOO.md).
    pub conv_outputs_by_default: bool,
    /// Quantize the input of a depthwise convolution per channel where that
    /// is exact for the integer kernels (symmetric, no quantized producer;
    /// default on). The facade turns it off for TensorFlow, whose TFLite
    /// converter takes only per-tensor activation ranges.
    pub per_channel_depthwise_inputs: bool,
    /// Also quantize inside `Loop` and `Scan` bodies (default off: a
    /// recurrent body's rounding error compounds over the iterations; `If`
    /// branches are always quantized, like straight-line code).
    pub quantize_loop_bodies: bool,
    /// How per-tensor activation ranges come from the statistics (default
    /// `Auto`: NNCF's mean per-item min/max, the global min/max or the
    /// histogram search, whichever quantized model is closest to the float
    /// one on the first calibration items; `MeanMinMax` is NNCF's rule).
    pub range_estimator: RangeEstimator,
    /// SmoothQuant before the ranges ([`crate::smooth_quant`]). `None`:
    /// NNCF's alphas (MatMul 0.95, Conv off) for transformers, whether the
    /// type was given or detected, and off for other models; `Some`: these
    /// alphas for any model (a negative alpha turns a class off).
    pub smooth_quant: Option<SmoothQuantAlphas>,
    /// Store embedding tables (constant Gather data) in int8, one scale per
    /// row ([`crate::embeddings`]; default on).
    pub quantize_embeddings: bool,
    /// Store the weights of squeeze-and-excitation gates in int8 with
    /// per-channel scales, read through a DequantizeLinear, while the
    /// gates' activations stay float as in NNCF ([`crate::se_block`];
    /// default on): they are a large part of a small CNN's file (a fifth of
    /// PP-OCR's recognizer) and cost no measurable accuracy.
    pub quantize_se_weights: bool,
    /// Also measure each quantizer's share of the output error
    /// ([`crate::diagnose`]; one extra quantized model per quantizer).
    pub diagnose: bool,
    /// How weight ranges come from the weights (default: their maximum).
    pub weights_range: crate::weight_range::WeightRange,
    /// Each weight quantizer's SQNR in the report (default on; it reads
    /// every weight once more, about 0.4 s for MiniLM's 22 M weights).
    pub weight_sqnr: bool,
}

impl Default for QuantizeOptions {
    fn default() -> Self {
        QuantizeOptions {
            preset: None,
            model_type: None,
            detect_model_type: true,
            subset_size: 300,
            bias_correction: true,
            fast_bias_correction: true,
            bias_correction_threshold: None,
            channel_alignment: false,
            ignored_scope: IgnoredScope::default(),
            overflow_fix: OverflowFix::Auto,
            threads: 0,
            stats_cache: None,
            quantize_conv_outputs: None,
            conv_outputs_by_default: false,
            per_channel_depthwise_inputs: true,
            quantize_loop_bodies: false,
            range_estimator: RangeEstimator::Auto,
            smooth_quant: None,
            quantize_embeddings: true,
            quantize_se_weights: true,
            diagnose: false,
            weights_range: crate::weight_range::WeightRange::MinMax,
            weight_sqnr: true,
        }
    }
}
