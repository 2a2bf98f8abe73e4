//! What a quantization run did, as data (serialized to the JSON report).

use serde::Serialize;

use crate::bias::Correction;
use crate::options::{ModelType, Preset};
use crate::placement::Scheme;
use crate::range::RangeEstimator;
use crate::spec::QuantSpec;

/// One inserted quantizer.
#[derive(Clone, Debug, Serialize)]
pub struct QuantizerRow {
    /// "activation", "weight" or "embedding" (a Gather's table).
    pub kind: &'static str,
    /// The quantized tensor.
    pub tensor: String,
    /// Nodes reading the quantized tensor.
    pub readers: Vec<String>,
    pub scheme: Scheme,
    /// Scale-sharing group (Concat inputs).
    pub unified: Option<usize>,
    pub spec: QuantSpec,
    /// Statistics the range came from (activations): mean per-sample min and
    /// max, and the global min and max over the subset.
    pub mean_min: Option<f32>,
    pub mean_max: Option<f32>,
    pub min: Option<f32>,
    pub max: Option<f32>,
    /// Signal to quantization noise of this quantizer alone, in dB: over
    /// the weight's elements exactly; for a per-tensor activation over the
    /// calibration values, from their histogram (None without one, and when
    /// quantization loses nothing).
    pub sqnr_db: Option<f64>,
    /// With `diagnose`: the model output's SQNR (dB) with only this
    /// quantizer enabled, on the first calibration items.
    pub output_sqnr_db: Option<f64>,
    /// A per-tensor activation's calibration values, coarsely.
    pub histogram: Option<RowHistogram>,
    /// Position of its first reader in the graph's topological order.
    pub order: Option<usize>,
}

/// At most [`RowHistogram::BINS`] equal bins over `[low, high)`: the
/// collector's histogram with empty ends trimmed and neighbouring bins
/// merged.
#[derive(Clone, Debug, Serialize)]
pub struct RowHistogram {
    pub low: f64,
    pub high: f64,
    pub counts: Vec<u64>,
}

impl RowHistogram {
    pub const BINS: usize = 64;

    /// The coarse form of `h`; None when it counted nothing.
    pub fn new(h: &ptq_stats::Histogram) -> Option<RowHistogram> {
        let c = h.counts();
        let first = c.iter().position(|&n| n > 0)?;
        let last = c.iter().rposition(|&n| n > 0)?;
        let kept = &c[first..=last];
        let merge = kept.len().div_ceil(Self::BINS).max(1);
        let w = h.bin_width();
        let low = h.lower() + first as f64 * w;
        let counts: Vec<u64> = kept.chunks(merge).map(|ch| ch.iter().sum()).collect();
        Some(RowHistogram { low, high: low + (counts.len() * merge) as f64 * w, counts })
    }
}

impl QuantizerRow {
    /// The `n` rows with the lowest SQNR, worst first.
    pub fn worst(rows: &[QuantizerRow], n: usize) -> Vec<&QuantizerRow> {
        let mut with: Vec<&QuantizerRow> = rows.iter().filter(|r| r.sqnr_db.is_some()).collect();
        with.sort_by(|a, b| a.sqnr_db.unwrap_or(f64::INFINITY).total_cmp(&b.sqnr_db.unwrap_or(f64::INFINITY)));
        with.truncate(n);
        with
    }
}

/// `10·log10(signal / noise)`, None unless both are positive and finite.
pub fn sqnr_db(signal: f64, noise: f64) -> Option<f64> {
    (signal > 0.0 && noise > 0.0 && signal.is_finite() && noise.is_finite()).then(|| 10.0 * (signal / noise).log10())
}

/// A node kept in float.
#[derive(Clone, Debug, Serialize)]
pub struct IgnoredRow {
    pub node: String,
    pub op: String,
    pub reason: String,
}

/// Seconds per stage.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Timings {
    pub prepare: f64,
    pub calibration: f64,
    pub ranges: f64,
    pub bias_correction: f64,
    /// Calibrating and quantizing control-flow bodies (0 without any).
    pub bodies: f64,
    /// Comparing range estimators (`RangeEstimator::Auto`).
    pub range_choice: f64,
    /// SmoothQuant's calibration pass and weight scaling (when it leaves
    /// the graph unchanged its pass is the last stage's, counted in
    /// `calibration`).
    pub smooth_quant: f64,
    /// ChannelAlignment's calibration pass and rescaling (0 when off).
    pub channel_alignment: f64,
    pub insertion: f64,
    /// Per-quantizer output errors (`diagnose`; 0 when off).
    pub diagnose: f64,
}

/// The whole run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub preset: Preset,
    pub model_type: Option<ModelType>,
    pub model_type_reason: String,
    pub subset_items: usize,
    /// Statistics were read from the cache instead of a calibration pass.
    pub statistics_from_cache: bool,
    pub folded_batch_norms: Vec<String>,
    /// Nodes computed on constants alone and replaced by their results,
    /// where that made the model no bigger (`ptq_exec::fold_shrinking_constants`).
    pub folded_constants: Vec<String>,
    pub quantizers: Vec<QuantizerRow>,
    pub ignored: Vec<IgnoredRow>,
    pub bias_corrections: Vec<Correction>,
    /// The estimator the per-tensor activation ranges come from.
    pub range_estimator: RangeEstimator,
    /// Whether the range choice made the per-tensor activations asymmetric
    /// (then `preset` says MIXED).
    pub range_asymmetric: bool,
    /// With `RangeEstimator::Auto`: each candidate's output error on the
    /// first calibration items (see `range_choice::relative_error`), by
    /// `algorithm::Candidate::label`.
    pub range_errors: Vec<(String, f64)>,
    /// How the weight ranges came from the weights.
    pub weights_range: crate::weight_range::WeightRange,
    /// Which weights were to get 7 bits ([`crate::OverflowFix`]).
    pub overflow_fix: crate::OverflowFix,
    /// The weights quantized to 7 bits, by tensor name.
    pub seven_bit_weights: Vec<String>,
    /// The activations SmoothQuant smoothed (empty when it did not run).
    pub smooth_quant: Vec<crate::smooth_quant::SmoothRow>,
    /// The (MatMul, Conv) alphas SmoothQuant ran with; None when it did not.
    pub smooth_quant_alphas: Option<(f32, f32)>,
    /// When the alpha was chosen: each MatMul alpha tried (None: off) and
    /// the output error it gave on the first calibration items.
    pub smooth_quant_errors: Vec<(Option<f32>, f64)>,
    /// The largest ratio of an activation's biggest per-channel maximum to
    /// their median, over the activations SmoothQuant could smooth; below
    /// `smooth_quant::OUTLIER_RATIO` the automatic choice leaves smoothing
    /// off without scoring.
    pub smooth_quant_outlier_ratio: Option<f32>,
    /// ChannelAlignment's aligned pairs, as "first → second".
    pub channel_alignment: Vec<String>,
    /// The algorithms that ran, in order, with their parameters and time.
    pub algorithms: Vec<crate::algorithm::AlgorithmRun>,
    pub timings: Timings,
}

impl Report {
    /// Number of activation and weight quantizers.
    pub fn counts(&self) -> (usize, usize) {
        let acts = self.quantizers.iter().filter(|q| q.kind == "activation").count();
        (acts, self.quantizers.len() - acts)
    }
}
