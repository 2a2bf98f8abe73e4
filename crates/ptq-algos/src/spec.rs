//! Quantization parameters as plain data, and NNCF's range math
//! (`quantization/fake_quantize.py`) turning statistics into them.
//!
//! [`QuantSpec`] lives here rather than in ptq-ir (where
//! ../shared/DESIGN.md puts it): a graph carries quantization as
//! QuantizeLinear / DequantizeLinear nodes, which each frontend writes in
//! its own form, so nothing below this crate needs the type.

/// Storage type of quantized values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QType {
    U8,
    I8,
    I32,
}

/// One quantizer's parameters: x ≈ (q − zero_point) · scale, with q stored
/// as `qtype` and clamped to [`QuantSpec::levels`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QuantSpec {
    pub qtype: QType,
    /// One entry (per tensor) or one per channel along `axis`.
    pub scale: Vec<f32>,
    pub zero_point: Vec<i32>,
    pub axis: Option<usize>,
    /// Lowest and highest integer level used ([-127, 127] for narrow-range
    /// weights).
    pub levels: (i32, i32),
    /// The float range the levels cover, per channel: NNCF's
    /// `input_low`/`input_high`.
    pub low: Vec<f32>,
    pub high: Vec<f32>,
}

impl QuantSpec {
    /// q = clamp(round_half_even(x / scale) + zp) for channel `c`.
    pub fn quantize(&self, x: f32, c: usize) -> i32 {
        let (s, z) = (self.scale[c.min(self.scale.len() - 1)], self.zero_point[c.min(self.zero_point.len() - 1)]);
        let q = (x / s).round_ties_even() as i64 + z as i64;
        q.clamp(self.levels.0 as i64, self.levels.1 as i64) as i32
    }

    /// x ≈ (q − zp) · scale for channel `c`.
    pub fn dequantize(&self, q: i32, c: usize) -> f32 {
        let (s, z) = (self.scale[c.min(self.scale.len() - 1)], self.zero_point[c.min(self.zero_point.len() - 1)]);
        (q - z) as f32 * s
    }

    /// Quantize then dequantize.
    pub fn fake(&self, x: f32, c: usize) -> f32 {
        self.dequantize(self.quantize(x, c), c)
    }

    /// The SQNR (dB) of quantizing the constant `a` with this spec.
    pub fn sqnr_db(&self, a: &ndarray::ArrayD<f32>) -> Option<f64> {
        let err = self.map_channels(a, |x, c| {
            let d = f64::from(x) - f64::from(self.fake(x, c));
            d * d
        });
        crate::report::sqnr_db(a.iter().map(|&x| f64::from(x) * f64::from(x)).sum(), err.sum())
    }

    /// `f(x, channel)` for every element of `a`, the channel being the index
    /// along [`QuantSpec::axis`] (0 for a per-tensor spec).
    pub fn map_channels<T: Clone + Default>(
        &self,
        a: &ndarray::ArrayD<f32>,
        f: impl Fn(f32, usize) -> T,
    ) -> ndarray::ArrayD<T> {
        let mut out = ndarray::ArrayD::<T>::default(a.raw_dim());
        match self.axis {
            Some(ax) => {
                let ax = ndarray::Axis(ax);
                for (c, (mut dst, src)) in out.axis_iter_mut(ax).zip(a.axis_iter(ax)).enumerate() {
                    dst.zip_mut_with(&src, |d, &s| *d = f(s, c));
                }
            }
            None => out.zip_mut_with(a, |d, &s| *d = f(s, 0)),
        }
        out
    }
}

/// Zero-range guard for symmetric ranges (NNCF `fix_zero_filters_symmetric`):
/// each channel's |max| is at least 1 % of the largest one and at least 8e-5.
fn fix_zero_symmetric(amax: &[f32]) -> Vec<f32> {
    let top = amax.iter().copied().fold(0.0f32, f32::max);
    let floor = (top * 0.01).max(8e-5);
    amax.iter().map(|&a| a.max(floor)).collect()
}

/// Per-tensor symmetric activation range from the mean per-sample |max|.
/// Signed when the mean per-sample minimum is negative: 256 levels over
/// [−amax·128/127, amax] (step amax/127), stored as u8 with zero point 128
/// so onnxruntime's u8×s8 kernels apply (the same grid as int8 with zero
/// point 0). Unsigned: [0, amax] with step amax/255, zero point 0.
pub fn symmetric_activation(abs_max: f32, signed: bool) -> QuantSpec {
    symmetric_activation_per_channel(&[abs_max], signed, None)
}

/// [`symmetric_activation`] with one |max| per channel along `axis`
/// (NNCF's per-channel activations: the zero-range floor is 1 % of the
/// largest channel's), signed for every channel when any is.
pub fn symmetric_activation_per_channel(abs_max: &[f32], signed: bool, axis: Option<usize>) -> QuantSpec {
    let amax = fix_zero_symmetric(&abs_max.iter().map(|a| a.abs()).collect::<Vec<_>>());
    let n = amax.len();
    let (scale, zero, low): (Vec<f32>, i32, Vec<f32>) = if signed {
        (amax.iter().map(|a| a / 127.0).collect(), 128, amax.iter().map(|a| -a * 128.0 / 127.0).collect())
    } else {
        (amax.iter().map(|a| a / 255.0).collect(), 0, vec![0.0; n])
    };
    QuantSpec { qtype: QType::U8, scale, zero_point: vec![zero; n], axis, levels: (0, 255), low, high: amax }
}

/// Widens [lo, hi] so zero is an exact level of a `bits`-bit asymmetric grid
/// (NNCF `tune_range`), moving whichever end needs less change.
fn tune_range(lo: f32, hi: f32, bits: u32) -> (f32, f32) {
    let levels = ((1u64 << bits) - 1) as f32;
    let q = (-lo * levels / (hi - lo)).round();
    let ra = if q < levels { q / (q - levels) * hi } else { lo };
    let rb = if q > 0.0 { (q - levels) / q * lo } else { hi };
    if hi - ra > rb - lo { (ra, hi) } else { (lo, rb) }
}

/// Per-tensor asymmetric activation range from the mean per-sample min and
/// max: widened to include 0, zero-range guarded, tuned so 0 is a level;
/// u8 with zero point −round(lo/scale).
pub fn asymmetric_activation(min: f32, max: f32) -> QuantSpec {
    let (min, max) = (min.min(max), max.max(min));
    let range = max - min;
    let corr = if range > 8e-4 { ((1e-8 * range).max(range) - range) / 2.0 } else { 8e-4 };
    let lo = (min - corr).min(0.0);
    let hi = (max + corr).max(0.0);
    let (lo, hi) = tune_range(lo, hi, 8);
    let scale = ((hi - lo) / 255.0).max(f32::EPSILON);
    let zp = (-(lo / scale).round()).clamp(0.0, 255.0) as i32;
    QuantSpec {
        qtype: QType::U8,
        scale: vec![scale],
        zero_point: vec![zp],
        axis: None,
        levels: (0, 255),
        low: vec![lo],
        high: vec![hi],
    }
}

/// [`asymmetric_activation`] channel by channel along `axis`.
pub fn asymmetric_activation_per_channel(min: &[f32], max: &[f32], axis: Option<usize>) -> QuantSpec {
    let per: Vec<QuantSpec> = min.iter().zip(max).map(|(&lo, &hi)| asymmetric_activation(lo, hi)).collect();
    QuantSpec {
        qtype: QType::U8,
        scale: per.iter().map(|q| q.scale[0]).collect(),
        zero_point: per.iter().map(|q| q.zero_point[0]).collect(),
        axis,
        levels: (0, 255),
        low: per.iter().map(|q| q.low[0]).collect(),
        high: per.iter().map(|q| q.high[0]).collect(),
    }
}

/// Symmetric signed narrow-range weight parameters from per-channel |max|
/// (one entry per channel along `axis`, or one for per-tensor): scale
/// amax/127 over [−127, 127]. With `half_range` (overflow fix) the range is
/// doubled so values use 7 bits: scale 2·amax/127.
pub fn symmetric_weight(abs_max: &[f32], axis: Option<usize>, half_range: bool) -> QuantSpec {
    let amax = fix_zero_symmetric(abs_max);
    let k = if half_range { 2.0 } else { 1.0 };
    QuantSpec {
        qtype: QType::I8,
        scale: amax.iter().map(|&a| k * a / 127.0).collect(),
        zero_point: vec![0; amax.len()],
        axis,
        levels: (-127, 127),
        low: amax.iter().map(|&a| -k * a).collect(),
        high: amax.iter().map(|&a| k * a).collect(),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn signed_symmetric_step_is_amax_over_127_and_zero_is_exact() {
        let s = symmetric_activation(2.54, true);
        assert!((s.scale[0] - 0.02).abs() < 1e-7);
        assert_eq!(s.fake(0.0, 0), 0.0);
        assert_eq!(s.quantize(2.54, 0), 255);
        assert_eq!(s.quantize(-2.56, 0), 0);
        assert_eq!(s.quantize(-100.0, 0), 0);
    }

    #[test]
    fn unsigned_symmetric_uses_all_256_levels_from_zero() {
        let s = symmetric_activation(5.1, false);
        assert_eq!((s.quantize(0.0, 0), s.quantize(5.1, 0)), (0, 255));
    }

    #[test]
    fn zero_range_is_guarded() {
        let s = symmetric_activation(0.0, true);
        assert!(s.scale[0] > 0.0);
        let w = symmetric_weight(&[0.0, 1.0], Some(0), false);
        assert!((w.scale[0] - 0.01 / 127.0).abs() < 1e-9, "{:?}", w.scale);
    }

    #[test]
    fn weights_use_narrow_range_and_half_range_halves_the_levels() {
        let w = symmetric_weight(&[1.27], Some(0), false);
        assert_eq!((w.quantize(1.27, 0), w.quantize(-1.27, 0), w.quantize(-9.0, 0)), (127, -127, -127));
        let h = symmetric_weight(&[1.27], Some(0), true);
        assert_eq!(h.quantize(1.27, 0), 64);
    }

    proptest! {
        #[test]
        fn asymmetric_range_contains_zero_exactly_and_the_data(a in -50.0f32..50.0, b in -50.0f32..50.0) {
            let s = asymmetric_activation(a, b);
            prop_assert_eq!(s.fake(0.0, 0), 0.0);
            prop_assert!(s.low[0] <= a.min(b).min(0.0) + 1e-3 && s.high[0] >= a.max(b).max(0.0) - 1e-3);
            let (lo, hi) = (s.dequantize(0, 0), s.dequantize(255, 0));
            prop_assert!(lo <= 0.0 && hi >= 0.0);
            let (x, y) = (a.min(b), a.max(b));
            // Values inside the range come back within half a step.
            for v in [x, y, (x + y) / 2.0] {
                prop_assert!((s.fake(v, 0) - v).abs() <= s.scale[0] * 0.5 + 1e-4 * v.abs().max(1.0));
            }
        }

        #[test]
        fn symmetric_weights_round_trip_within_half_a_step(w in prop::collection::vec(-3.0f32..3.0, 1..40)) {
            let amax = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let s = symmetric_weight(&[amax], None, false);
            for &v in &w {
                let q = s.quantize(v, 0);
                prop_assert!((-127..=127).contains(&q));
                prop_assert!((s.dequantize(q, 0) - v).abs() <= s.scale[0] * 0.5 + 1e-6);
            }
        }
    }
}
