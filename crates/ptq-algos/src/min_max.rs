//! MinMaxQuantization (NNCF `min_max/algorithm.py`): quantizer specs from
//! the calibration statistics of the placed activations and from the
//! weights themselves.
//!
//! With [`RangeEstimator::Auto`] it computes the activation specs of every
//! candidate estimator; [`crate::range_choice::RangeChoice`] then keeps
//! one.

use ptq_ir::{Graph, Tensor};
use ptq_stats::Granularity;
use rayon::prelude::*;

use crate::activations;
use crate::algorithm::{Algorithm, Candidate, State};
use crate::calibrate::{Collected, Watch};
use crate::error::AlgoError;
use crate::options::{OverflowFix, Preset};
use crate::overflow;
use crate::placement::{ActQuantizer, Scheme, WeightQuantizer};
use crate::range::{self, RangeEstimator};
use crate::report::QuantizerRow;
use crate::spec::{self, QuantSpec};
use crate::weight_range::{self, WeightRange};

/// Ranges for the placed quantizers.
#[derive(Debug)]
pub struct MinMax {
    pub estimator: RangeEstimator,
    pub weights_range: WeightRange,
    /// Compute each weight's SQNR for the report.
    pub weight_sqnr: bool,
}

/// The activation statistics `estimator` reads for the quantizers `acts`.
pub fn activation_watches(acts: &[ActQuantizer], estimator: RangeEstimator) -> Vec<Watch> {
    acts.iter()
        .map(|q| Watch {
            value: q.value,
            granularity: q.axis.map_or(Granularity::PerTensor, |axis| Granularity::PerChannel { axis }),
            histogram_bins: if q.axis.is_none() && estimator.needs_histogram() { range::HISTOGRAM_BINS } else { 0 },
            quantile_ppm: if q.axis.is_none() { estimator.quantile_ppm() } else { 0 },
        })
        .collect()
}

impl Algorithm for MinMax {
    fn name(&self) -> &'static str {
        "MinMaxQuantization"
    }

    fn parameters(&self) -> String {
        format!("activations={:?} weights={:?}", self.estimator, self.weights_range)
    }

    fn statistic_points(&mut self, s: &State) -> Result<Vec<Watch>, AlgoError> {
        let mut watches = activation_watches(&s.placed.acts, self.estimator);
        if s.opts.overflow_fix == OverflowFix::Auto {
            for w in overflow::watches(&s.graph, &s.placed.weights) {
                if !watches.contains(&w) {
                    watches.push(w);
                }
            }
        }
        Ok(watches)
    }

    fn apply(&mut self, s: &mut State, stats: &mut Collected) -> Result<(), AlgoError> {
        let estimators = match self.estimator {
            RangeEstimator::Auto => vec![RangeEstimator::MeanMinMax, RangeEstimator::Mse, RangeEstimator::MinMax],
            how => vec![how],
        };
        // The automatic choice also tries asymmetric activations (NNCF's
        // MIXED preset) when the PERFORMANCE preset placed them and the
        // caller named no preset: a HardSwish or a batch norm without a
        // Relu leaves activations far from symmetric about zero.
        let mut settings: Vec<(RangeEstimator, bool)> = estimators.iter().map(|&e| (e, false)).collect();
        let symmetric = s.placed.acts.iter().any(|q| q.scheme == Scheme::Symmetric && q.axis.is_none());
        if self.estimator == RangeEstimator::Auto
            && s.opts.preset.is_none()
            && s.placed.preset == Some(Preset::Performance)
            && symmetric
        {
            settings.extend(estimators.iter().map(|&e| (e, true)));
        }
        let pool = crate::pool::pool(s.opts.threads)?;
        let (graph, placed) = (&s.graph, &s.placed.acts);
        s.candidates = pool.install(|| {
            settings
                .par_iter()
                .map(|&(estimator, asymmetric)| {
                    let (acts, rows) = if asymmetric {
                        activations::specs(graph, &asymmetric_acts(placed), stats, estimator)
                    } else {
                        activations::specs(graph, placed, stats, estimator)
                    };
                    Candidate { estimator, asymmetric, acts, rows }
                })
                .collect()
        });
        if s.opts.overflow_fix == OverflowFix::Auto {
            let hit = pool.install(|| {
                overflow::saturating(&s.graph, &s.placed.weights, self.weights_range, &s.candidates, stats)
            });
            for w in s.placed.weights.iter_mut().filter(|w| hit.contains(&w.value)) {
                w.half_range = true;
            }
        }
        (s.weights, s.weight_rows) =
            pool.install(|| weight_specs(&s.graph, &s.placed.weights, self.weights_range, self.weight_sqnr));
        Ok(())
    }
}

/// `acts` with each per-tensor quantizer asymmetric (per-channel ones stay
/// symmetric: the integer depthwise kernel takes one zero point).
fn asymmetric_acts(acts: &[ActQuantizer]) -> Vec<ActQuantizer> {
    acts.iter()
        .map(|q| if q.axis.is_none() { ActQuantizer { scheme: Scheme::Asymmetric, ..q.clone() } } else { q.clone() })
        .collect()
}

/// Symmetric specs for the weights, with their report rows (with each
/// weight's SQNR when `sqnr`).
pub fn weight_specs(
    g: &Graph,
    placed: &[WeightQuantizer],
    how: WeightRange,
    sqnr: bool,
) -> (Vec<(WeightQuantizer, QuantSpec)>, Vec<QuantizerRow>) {
    let one = |w: &WeightQuantizer| -> Option<((WeightQuantizer, QuantSpec), QuantizerRow)> {
        let Some(Tensor::F32(a)) = g.constant(w.value) else { return None };
        let amax = weight_range::ranges(a, w.axis, how, w.half_range);
        let axis = if amax.len() > 1 { w.axis } else { None };
        let spec = spec::symmetric_weight(&amax, axis, w.half_range);
        let embedding = w.readers.iter().all(|&(n, slot)| crate::embeddings::reads_as_table(g, n, slot));
        let row = QuantizerRow {
            kind: if embedding { "embedding" } else { "weight" },
            tensor: g.value(w.value).name.clone(),
            readers: w.readers.iter().map(|&(n, _)| g.node_label(n)).collect(),
            scheme: Scheme::Symmetric,
            unified: None,
            spec: spec.clone(),
            mean_min: None,
            mean_max: None,
            min: None,
            max: None,
            sqnr_db: if sqnr { spec.sqnr_db(a) } else { None },
            output_sqnr_db: None,
            histogram: None,
            order: None,
        };
        Some(((WeightQuantizer { axis, ..w.clone() }, spec), row))
    };
    placed.par_iter().filter_map(one).unzip()
}
