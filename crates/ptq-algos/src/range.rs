//! Per-tensor activation ranges from calibration statistics: NNCF's mean
//! of the per-sample minima and maxima (the default), the global minimum
//! and maximum (onnxruntime's MinMax), NNCF's per-sample quantiles (their
//! extremes or their means), or a search between the first two for the
//! range whose quantization error on the calibration histogram is least.
//!
//! The search never clips more than NNCF's range nor widens past the values
//! seen: it trades the rounding error of a wider step against the clipping
//! error of the values outside the narrower range, which is where the two
//! fixed rules each lose (a few large outliers that matter; a long thin
//! tail that wastes levels).

use ptq_stats::{Histogram, TensorStats};

use crate::spec::{self, QuantSpec};

/// How an activation's range comes from its statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RangeEstimator {
    /// Mean over samples of each sample's min and max (NNCF's default).
    MeanMinMax,
    /// Min and max over all samples (onnxruntime's MinMax).
    MinMax,
    /// The range between the two above with the least squared quantization
    /// error over the calibration histogram.
    Mse,
    /// The least per-sample `q`-quantile and the greatest per-sample
    /// `1 − q`-quantile, `q` = [`QUANTILE`] (NNCF's QUANTILE).
    Quantile,
    /// The means over samples of each sample's `q` and `1 − q` quantiles
    /// (NNCF's MEAN_QUANTILE).
    MeanQuantile,
    /// Per model, whichever of the three above gives outputs closest to the
    /// float model's on the first calibration items (see
    /// [`crate::range_choice`]); ptq's default.
    #[default]
    Auto,
}

impl RangeEstimator {
    /// The name in reports and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            RangeEstimator::MeanMinMax => "mean-min-max",
            RangeEstimator::MinMax => "min-max",
            RangeEstimator::Mse => "mse",
            RangeEstimator::Quantile => "quantile",
            RangeEstimator::MeanQuantile => "mean-quantile",
            RangeEstimator::Auto => "auto",
        }
    }

    /// Per-sample quantiles the estimator needs, in millionths (0: none).
    pub fn quantile_ppm(self) -> u32 {
        match self {
            RangeEstimator::Quantile | RangeEstimator::MeanQuantile => QUANTILE_PPM,
            _ => 0,
        }
    }

    /// Whether the estimator needs a histogram of the tensor's values.
    pub fn needs_histogram(self) -> bool {
        matches!(self, RangeEstimator::Mse | RangeEstimator::Auto)
    }
}

/// NNCF's outlier probability for the quantile estimators: the 1e-4 and
/// 1 − 1e-4 quantiles.
pub const QUANTILE: f64 = 1e-4;
/// [`QUANTILE`] in millionths.
pub const QUANTILE_PPM: u32 = 100;

/// Histogram bins collected for [`RangeEstimator::Mse`].
pub const HISTOGRAM_BINS: usize = 1024;

/// Points tried between the two ranges, both ends included.
const STEPS: usize = 16;

/// Statistics reduced to what a range needs: (min, max, |max|) per the
/// estimator; `None` when they are not finite.
pub fn reduce(s: &TensorStats, how: RangeEstimator) -> Option<(f32, f32, f32)> {
    let mean = (s.mean_min()[0], s.mean_max()[0], s.mean_abs_max()[0]);
    let all = (*s.min().first()?, *s.max().first()?, *s.abs_max().first()?);
    let quantiles = |(lo, hi): (f32, f32)| (lo, hi, lo.abs().max(hi.abs()));
    let out = match how {
        RangeEstimator::MeanMinMax | RangeEstimator::Mse | RangeEstimator::Auto => mean,
        RangeEstimator::MinMax => all,
        RangeEstimator::Quantile => quantiles(s.quantile_extremes()?),
        RangeEstimator::MeanQuantile => quantiles(s.mean_quantiles()?),
    };
    (out.0.is_finite() && out.1.is_finite() && out.2.is_finite()).then_some(out)
}

/// The symmetric spec for the tensor: from `abs_max` (already reduced),
/// or, with [`RangeEstimator::Mse`] and a histogram, the best of the
/// |max| values from the mean per-sample |max| to the global one.
pub fn symmetric(s: &TensorStats, how: RangeEstimator, abs_max: f32, signed: bool) -> QuantSpec {
    let at = |a: f32| spec::symmetric_activation(a, signed);
    match (how, s.histogram(), s.abs_max().first()) {
        (RangeEstimator::Mse, Some(h), Some(&top)) if top.is_finite() && top > abs_max => {
            best((0..STEPS).map(|k| at(abs_max + (top - abs_max) * k as f32 / (STEPS - 1) as f32)), h)
        }
        _ => at(abs_max),
    }
}

/// The asymmetric spec for the tensor: from `[lo, hi]` (already reduced),
/// or, with [`RangeEstimator::Mse`] and a histogram, the best of the ranges
/// whose ends each lie between the mean per-sample end and the global one.
pub fn asymmetric(s: &TensorStats, how: RangeEstimator, lo: f32, hi: f32) -> QuantSpec {
    let at = |a: f32, b: f32| spec::asymmetric_activation(a, b);
    match (how, s.histogram(), s.min().first(), s.max().first()) {
        (RangeEstimator::Mse, Some(h), Some(&mn), Some(&mx)) if mn.is_finite() && mx.is_finite() => {
            let (mn, mx) = (mn.min(lo), mx.max(hi));
            let t = |k: usize| k as f32 / (STEPS - 1) as f32;
            let grid = (0..STEPS).flat_map(|i| (0..STEPS).map(move |j| (i, j)));
            best(grid.map(|(i, j)| at(lo + (mn - lo) * t(i), hi + (mx - hi) * t(j))), h)
        }
        _ => at(lo, hi),
    }
}

/// The candidate with the least [`histogram_mse`]; the first on ties (the
/// narrowest, NNCF's).
fn best(cands: impl Iterator<Item = QuantSpec>, h: &Histogram) -> QuantSpec {
    let mut out: Option<(f64, QuantSpec)> = None;
    for c in cands {
        let e = histogram_mse(h, &c);
        if out.as_ref().is_none_or(|(b, _)| e < *b) {
            out = Some((e, c));
        }
    }
    out.map(|(_, c)| c).unwrap_or_else(|| spec::symmetric_activation(0.0, false))
}

/// The SQNR (dB) of quantizing the values `s` summarizes with `spec`:
/// their sum of squares over [`histogram_mse`]. None without a histogram.
pub fn sqnr_db(s: &TensorStats, spec: &QuantSpec) -> Option<f64> {
    let h = s.histogram()?;
    let n = *s.count().first()? as f64;
    let (mean, std) = (f64::from(*s.mean().first()?), f64::from(*s.std().first()?));
    crate::report::sqnr_db(n * (std * std + mean * mean), histogram_mse(h, spec))
}

/// Points each bin's values are spread over in [`histogram_mse`].
const SUB: usize = 8;

/// Sum over the histogram's values of the squared error of quantizing them
/// with `spec` (channel 0), each bin's values spread evenly over it (so the
/// estimate holds when a step is narrower than a bin, as it is for the
/// narrow ranges of a tensor with far outliers).
pub fn histogram_mse(h: &Histogram, spec: &QuantSpec) -> f64 {
    let (w, lo) = (h.bin_width(), h.lower());
    let (s, z) = (f64::from(spec.scale[0]), f64::from(spec.zero_point[0]));
    let (qmin, qmax) = (f64::from(spec.levels.0), f64::from(spec.levels.1));
    h.counts()
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(i, &n)| {
            let sum: f64 = (0..SUB)
                .map(|k| {
                    let x = lo + (i as f64 + (k as f64 + 0.5) / SUB as f64) * w;
                    let q = (crate::spec::round_even_f64(x / s) + z).clamp(qmin, qmax);
                    let d = x - (q - z) * s;
                    d * d
                })
                .sum();
            n as f64 * sum / SUB as f64
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use ptq_stats::StatsConfig;

    use super::*;

    fn stats(samples: &[Vec<f32>]) -> TensorStats {
        let mut s = TensorStats::new(&StatsConfig::per_tensor(HISTOGRAM_BINS));
        for x in samples {
            s.update(&[x.len()], x).unwrap();
        }
        s
    }

    #[test]
    fn quantile_estimators_drop_a_rare_outlier_that_min_max_keeps() {
        // Four samples of 20,001 values in [-1, 1]; the third also has one
        // value of 50. The 1e-4 quantiles of each sample sit two order
        // statistics inside its ends, so the outlier never reaches them.
        let mut s =
            ptq_stats::TensorStats::new(&StatsConfig { quantile_ppm: QUANTILE_PPM, ..StatsConfig::per_tensor(0) });
        for k in 0..4 {
            let mut x: Vec<f32> = (0..=20000).map(|i| i as f32 / 10000.0 - 1.0).collect();
            if k == 2 {
                x[7] = 50.0;
            }
            s.update(&[x.len()], &x).unwrap();
        }
        let (lo, hi, am) = reduce(&s, RangeEstimator::Quantile).unwrap();
        assert!((lo + 0.9998).abs() < 1e-4 && (hi - 0.9998).abs() < 2e-4 && am == lo.abs().max(hi), "{lo} {hi}");
        let (mlo, mhi, _) = reduce(&s, RangeEstimator::MeanQuantile).unwrap();
        assert!(mlo >= lo && mhi <= hi && mhi > 0.99, "{mlo} {mhi}");
        assert_eq!(reduce(&s, RangeEstimator::MinMax).unwrap().1, 50.0);
        // Without per-sample quantiles there is no such range.
        assert!(reduce(&stats(&[vec![1.0, 2.0]]), RangeEstimator::Quantile).is_none());
    }

    #[test]
    fn sqnr_of_a_uniform_tensor_is_the_textbook_value() {
        // x uniform on [-1, 1], step 1/127: noise step²/12 against signal
        // 1/3 gives 10·log10(4·127²) = 48.1 dB, exactly over the weight's
        // elements and from the histogram for an activation.
        let x: Vec<f32> = (0..20001).map(|i| i as f32 / 10000.0 - 1.0).collect();
        let want = 10.0 * (4.0f64 * 127.0 * 127.0).log10();
        let a = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[x.len()]), x.clone()).unwrap();
        let w = crate::spec::symmetric_weight(&[1.0], None, false);
        let exact = w.sqnr_db(&a).unwrap();
        assert!((exact - want).abs() < 0.1, "{exact} vs {want}");
        let s = stats(&[x]);
        let act = crate::spec::symmetric_activation(1.0, true);
        let est = sqnr_db(&s, &act).unwrap();
        assert!((est - want).abs() < 0.3, "{est} vs {want}");
        // Halving the range doubles the step and clips: lower.
        assert!(sqnr_db(&s, &crate::spec::symmetric_activation(0.5, true)).unwrap() < est - 6.0);
    }

    #[test]
    fn a_rare_large_outlier_widens_the_range_when_it_costs_more_than_the_steps() {
        // 20 samples in [-1, 1]; one also holds ±12 at many positions.
        let mut samples: Vec<Vec<f32>> =
            (0..20).map(|k| (0..200).map(|i| ((i * 7 + k) % 41) as f32 / 20.0 - 1.0).collect()).collect();
        samples[3].iter_mut().step_by(4).enumerate().for_each(|(i, v)| *v = if i % 2 == 0 { 12.0 } else { -12.0 });
        let s = stats(&samples);
        let (_, _, am) = reduce(&s, RangeEstimator::Mse).unwrap();
        assert!(am < 2.0, "mean |max| {am}");
        let mean = symmetric(&s, RangeEstimator::MeanMinMax, am, true);
        let mse = symmetric(&s, RangeEstimator::Mse, am, true);
        let h = s.histogram().unwrap();
        assert!(histogram_mse(h, &mse) < histogram_mse(h, &mean));
        assert!(mse.high[0] > 6.0, "{:?}", mse.high);
    }

    #[test]
    fn a_thin_tail_is_clipped() {
        // One value far out among a million: clipping it costs less than
        // the coarser step would on everything else.
        let mut samples: Vec<Vec<f32>> =
            (0..20).map(|k| (0..50_000).map(|i| ((i * 13 + k) % 97) as f32 / 48.0 - 1.0).collect()).collect();
        samples[0][0] = 10.0;
        let s = stats(&samples);
        let (lo, hi, am) = reduce(&s, RangeEstimator::Mse).unwrap();
        let mse = symmetric(&s, RangeEstimator::Mse, am, true);
        assert!(mse.high[0] < 3.0, "{:?}", mse.high);
        // Asymmetric steps are finer: the search stops between the two ends,
        // below the global maximum, at no more error than NNCF's range.
        let a = asymmetric(&s, RangeEstimator::Mse, lo, hi);
        let h = s.histogram().unwrap();
        assert!(a.high[0] < 9.0, "{:?}", a.high);
        assert!(histogram_mse(h, &a) <= histogram_mse(h, &spec::asymmetric_activation(lo, hi)));
        // Without a histogram the search falls back to the given range.
        let mut plain = TensorStats::new(&StatsConfig::per_tensor(0));
        plain.update(&[3], &[0.0, 1.0, 30.0]).unwrap();
        assert_eq!(symmetric(&plain, RangeEstimator::Mse, 1.0, false), spec::symmetric_activation(1.0, false));
    }
}
