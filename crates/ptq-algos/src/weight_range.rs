//! How a weight's per-channel range comes from its values (NNCF's
//! `weights_range_estimator_params`): the absolute maximum (NNCF's and
//! ptq's default), the `1 − 1e-4` quantile of `|w|`, or, per channel, the
//! clipping point with the least squared error over the channel's own
//! elements.

use crate::spec::channel_runs;

/// The estimator for weight ranges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightRange {
    /// `max |w|` per channel.
    #[default]
    MinMax,
    /// The `1 − 1e-4` quantile of `|w|` per channel.
    Quantile,
    /// Per channel, of 16 clipping points from half the maximum to the
    /// maximum, the one whose symmetric 8-bit grid gives the least
    /// `Σ (w − fake(w))²`.
    Mse,
}

impl WeightRange {
    /// The name in reports and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            WeightRange::MinMax => "min-max",
            WeightRange::Quantile => "quantile",
            WeightRange::Mse => "mse",
        }
    }
}

/// Clipping points tried by [`WeightRange::Mse`].
const STEPS: usize = 16;

/// Squared error of quantizing `lane` symmetrically (levels −127..=127, or
/// half of them with the overflow fix) with range `t`.
fn error(lane: &[f32], t: f32, half_range: bool) -> f64 {
    if t <= 0.0 {
        return lane.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
    }
    let step = if half_range { 2.0 * t / 127.0 } else { t / 127.0 };
    let top = if half_range { 63.0 } else { 127.0 };
    lane.iter()
        .map(|&v| {
            let q = crate::spec::round_even(v / step).clamp(-top, top);
            let d = f64::from(v) - f64::from(q * step);
            d * d
        })
        .sum()
}

/// One channel's range.
fn channel(lane: &[f32], how: WeightRange, half_range: bool) -> f32 {
    let amax = lane.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    match how {
        WeightRange::MinMax => amax,
        WeightRange::Quantile => {
            let mut abs: Vec<f32> = lane.iter().map(|v| v.abs()).collect();
            ptq_stats::quantile_in_place(&mut abs, 1.0 - crate::range::QUANTILE).unwrap_or(amax)
        }
        WeightRange::Mse => {
            (0..STEPS)
                .map(|i| amax * (0.5 + 0.5 * i as f32 / (STEPS - 1) as f32))
                .map(|t| (t, error(lane, t, half_range)))
                .fold((amax, f64::INFINITY), |b, c| if c.1 < b.1 { c } else { b })
                .0
        }
    }
}

/// The range of each channel of `a` along `axis` (one for all of `a`
/// without an axis).
pub fn ranges(a: &ndarray::ArrayD<f32>, axis: Option<usize>, how: WeightRange, half_range: bool) -> Vec<f32> {
    let axis = axis.filter(|&ax| ax < a.ndim());
    let n = axis.map_or(1, |ax| a.shape()[ax]);
    if let (WeightRange::MinMax, Some(runs)) = (how, channel_runs(a, axis)) {
        // No copy: the running maximum of each channel's runs.
        let mut amax = vec![0.0f32; n];
        for (c, run) in runs {
            amax[c] = run.iter().fold(amax[c], |m, v| m.max(v.abs()));
        }
        return amax;
    }
    lanes(a, axis, n).iter().map(|l| channel(l, how, half_range)).collect()
}

/// Each of the `n` channels' elements along `axis`, copied a contiguous run
/// at a time ([`channel_runs`]) from a standard-layout array.
fn lanes(a: &ndarray::ArrayD<f32>, axis: Option<usize>, n: usize) -> Vec<Vec<f32>> {
    match (channel_runs(a, axis), axis) {
        (Some(runs), _) => {
            let mut out = vec![Vec::with_capacity(a.len() / n.max(1)); n];
            for (c, run) in runs {
                out[c].extend_from_slice(run);
            }
            out
        }
        (None, Some(ax)) => a.axis_iter(ndarray::Axis(ax)).map(|l| l.iter().copied().collect()).collect(),
        (None, None) => vec![a.iter().copied().collect()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_estimator_gives_its_known_range() {
        // Channel 0: 0..=9999 / 10000 and one outlier of 10; channel 1 the
        // same without it.
        let mut w: Vec<f32> = (0..10000).map(|i| i as f32 / 10000.0).collect();
        w.push(10.0);
        w.extend((0..10000).map(|i| i as f32 / 10000.0));
        w.push(0.5);
        let a = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[2, 10001]), w).unwrap();
        assert_eq!(ranges(&a, Some(0), WeightRange::MinMax, false), vec![10.0, 0.9999]);
        let q = ranges(&a, Some(0), WeightRange::Quantile, false);
        assert!(q[0] < 1.0 && q[0] > 0.99, "{q:?}");
        // The search clips the lone outlier (whose error is one value's)
        // to save the step on the other 10,000, and never does worse than
        // the maximum.
        let m = ranges(&a, Some(0), WeightRange::Mse, false);
        assert!(m[0] < 10.0, "{m:?}");
        for (c, &t) in m.iter().enumerate() {
            let lane: Vec<f32> = a.index_axis(ndarray::Axis(0), c).iter().copied().collect();
            let amax = lane.iter().fold(0.0f32, |x, v| x.max(v.abs()));
            assert!(error(&lane, t, false) <= error(&lane, amax, false));
        }
        assert_eq!(ranges(&a, None, WeightRange::MinMax, false), vec![10.0]);
        // Any axis of a 3-D array, in standard and transposed layout.
        let b = ndarray::ArrayD::from_shape_vec(
            ndarray::IxDyn(&[2, 3, 4]),
            (0..24).map(|v| (v as f32 - 11.5) * 0.37).collect(),
        )
        .unwrap();
        for ax in 0..3 {
            let t = b.clone().reversed_axes();
            for how in [WeightRange::MinMax, WeightRange::Quantile, WeightRange::Mse] {
                let want: Vec<f32> = b
                    .axis_iter(ndarray::Axis(ax))
                    .map(|l| channel(&l.iter().copied().collect::<Vec<_>>(), how, false))
                    .collect();
                assert_eq!(ranges(&b, Some(ax), how, false), want, "{ax} {how:?}");
                assert_eq!(ranges(&t, Some(2 - ax), how, false), want, "{ax} {how:?} transposed");
            }
        }
    }
}
