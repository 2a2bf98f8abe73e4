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
        let q = (round_even(x / s) as i64).saturating_add(z as i64);
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

    /// The SQNR (dB) of quantizing the constant `a` with this spec, summed
    /// in element order without a copy of `a` (a transformer's embedding
    /// table is tens of MB).
    pub fn sqnr_db(&self, a: &ndarray::ArrayD<f32>) -> Option<f64> {
        let (mut sig, mut err) = (0.0f64, 0.0f64);
        let mut add = |x: f32, y: f32| {
            let d = f64::from(x) - f64::from(y);
            sig += f64::from(x) * f64::from(x);
            err += d * d;
        };
        match channel_runs(a, self.axis).filter(|_| self.floats_exact()) {
            Some(runs) => {
                for (c, run) in runs {
                    let grid = self.grid(c);
                    for &x in run {
                        add(x, grid.fake(x));
                    }
                }
            }
            None => {
                for (&x, &y) in a.iter().zip(self.fake_all(a).iter()) {
                    add(x, y);
                }
            }
        }
        crate::report::sqnr_db(sig, err)
    }

    /// [`QuantSpec::fake`] of every element of `a`. The same numbers,
    /// computed a channel's run at a time with its scale, zero point and
    /// levels as floats (exact for levels within ±2²⁴, which 8-bit specs
    /// are; others take the per-element path).
    pub fn fake_all(&self, a: &ndarray::ArrayD<f32>) -> ndarray::ArrayD<f32> {
        if !self.floats_exact() {
            return self.map_channels(a, |x, c| self.fake(x, c));
        }
        self.map_runs(a, |c, run, out| {
            let grid = self.grid(c);
            for (o, &x) in out.iter_mut().zip(run) {
                *o = grid.fake(x);
            }
        })
        .unwrap_or_else(|| self.map_channels(a, |x, c| self.fake(x, c)))
    }

    /// [`QuantSpec::quantize`] of every element of `a` as i8 (the spec's
    /// levels must fit i8), a channel's run at a time in f32 as
    /// [`QuantSpec::fake_all`] does.
    pub fn quantize_all_i8(&self, a: &ndarray::ArrayD<f32>) -> ndarray::ArrayD<i8> {
        self.floats_exact()
            .then(|| {
                self.map_runs(a, |c, run, out| {
                    let grid = self.grid(c);
                    for (o, &x) in out.iter_mut().zip(run) {
                        *o = grid.level(x) as i8;
                    }
                })
            })
            .flatten()
            .unwrap_or_else(|| self.map_channels(a, |x, c| self.quantize(x, c) as i8))
    }

    /// Whether the levels and zero points are exact as floats (within
    /// ±2²⁴, as 8-bit specs are), so that quantizing in f32 gives
    /// [`QuantSpec::fake`]'s numbers.
    fn floats_exact(&self) -> bool {
        const EXACT: i32 = 1 << 24;
        self.levels.0 >= -EXACT && self.levels.1 <= EXACT && self.zero_point.iter().all(|z| z.abs() <= EXACT)
    }

    /// Channel `c`'s grid in f32 (exact when [`QuantSpec::floats_exact`]).
    fn grid(&self, c: usize) -> Grid {
        let c = c.min(self.scale.len() - 1);
        Grid {
            scale: self.scale[c],
            zero: self.zero_point[c.min(self.zero_point.len() - 1)] as f32,
            lo: self.levels.0 as f32,
            hi: self.levels.1 as f32,
        }
    }

    /// `f(channel, run, out)` over [`channel_runs`] of `a` along
    /// [`QuantSpec::axis`]; `f` writes the run's results to `out`, as long
    /// as the run. None when `a` is not in standard layout.
    fn map_runs<T: Clone + Default>(
        &self,
        a: &ndarray::ArrayD<f32>,
        mut f: impl FnMut(usize, &[f32], &mut [T]),
    ) -> Option<ndarray::ArrayD<T>> {
        let mut out = vec![T::default(); a.len()];
        let mut at = 0;
        for (c, run) in channel_runs(a, self.axis)? {
            f(c, run, &mut out[at..at + run.len()]);
            at += run.len();
        }
        ndarray::ArrayD::from_shape_vec(a.raw_dim(), out).ok()
    }

    /// `f(x, channel)` for every element of `a`, the channel being the index
    /// along [`QuantSpec::axis`] (0 for a per-tensor spec).
    pub fn map_channels<T: Clone + Default>(
        &self,
        a: &ndarray::ArrayD<f32>,
        f: impl Fn(f32, usize) -> T,
    ) -> ndarray::ArrayD<T> {
        if let Some(out) = self.map_runs(a, |c, run, out| {
            for (o, &x) in out.iter_mut().zip(run) {
                *o = f(x, c);
            }
        }) {
            return out;
        }
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

/// The contiguous runs of a standard-layout `a` in memory order, each with
/// its channel along `axis` (all of `a` as channel 0 without one, or with
/// one past its rank). None when `a` is not in standard layout. An axis
/// view of an `IxDyn` array costs a multi-index step per element; the
/// memory walked in order costs none.
pub(crate) fn channel_runs(
    a: &ndarray::ArrayD<f32>,
    axis: Option<usize>,
) -> Option<impl Iterator<Item = (usize, &[f32])>> {
    let flat = a.as_slice()?;
    let axis = axis.filter(|&ax| ax < a.ndim());
    let inner: usize = axis.map_or(flat.len(), |ax| a.shape()[ax + 1..].iter().product());
    let run = axis.map_or(flat.len(), |ax| a.shape()[ax] * inner);
    // An empty array has no runs (and `chunks` takes no size 0).
    let (inner, run) = if flat.is_empty() { (1, 1) } else { (inner, run) };
    Some(flat.chunks(run).flat_map(move |block| block.chunks(inner).enumerate()))
}

/// One channel's quantization grid in f32, for the loops over whole runs:
/// branch-free, so that they vectorize.
#[derive(Clone, Copy)]
struct Grid {
    scale: f32,
    zero: f32,
    lo: f32,
    hi: f32,
}

impl Grid {
    /// [`QuantSpec::quantize`]'s level: `max`/`min` take a NaN quotient to
    /// a bound, and the select gives `quantize`'s zero point instead.
    #[inline]
    fn level(self, x: f32) -> f32 {
        let q = (round_even(x / self.scale) + self.zero).max(self.lo).min(self.hi);
        if x.is_nan() { self.zero } else { q }
    }

    /// [`QuantSpec::fake`]: the level back on the real line (NaN gives 0).
    #[inline]
    fn fake(self, x: f32) -> f32 {
        (self.level(x) - self.zero) * self.scale
    }
}

/// `v` rounded half to even, as [`f32::round_ties_even`], without the libm
/// call that a build for the x86-64 baseline (no SSE4.1 `roundss`) makes
/// for it: below 2²³ in magnitude, adding and subtracting 2²³ rounds in the
/// default round-to-nearest-even mode; larger values are integers already,
/// and NaN passes through.
#[inline]
pub fn round_even(v: f32) -> f32 {
    const BIG: f32 = 8_388_608.0;
    if v.abs() < BIG {
        let t = BIG.copysign(v);
        (v + t) - t
    } else {
        v
    }
}

/// [`round_even`] for f64 (2⁵² in place of 2²³), as
/// [`f64::round_ties_even`].
#[inline]
pub fn round_even_f64(v: f64) -> f64 {
    const BIG: f64 = 4_503_599_627_370_496.0;
    if v.abs() < BIG {
        let t = BIG.copysign(v);
        (v + t) - t
    } else {
        v
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

    #[test]
    fn round_even_rounds_halves_to_even_like_the_standard_library() {
        for v in [0.5f32, 1.5, 2.5, -0.5, -1.5, -2.5, 4194303.5, -4194304.5, 8388607.0, 8388608.0, 1e30, -0.49999997] {
            assert_eq!(round_even(v), v.round_ties_even(), "{v}");
        }
        assert!(round_even(f32::NAN).is_nan());
        assert_eq!(round_even(f32::INFINITY), f32::INFINITY);
    }

    #[test]
    fn map_channels_walks_any_axis_and_layout_alike() {
        let a =
            ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[2, 3, 4]), (0..24).map(|v| v as f32).collect()).unwrap();
        for axis in [None, Some(0), Some(1), Some(2)] {
            let s = QuantSpec { axis, ..symmetric_activation(1.0, true) };
            let fast = s.map_channels(&a, |x, c| x * 100.0 + c as f32);
            // A transposed copy has no contiguous slice: the axis path.
            let t = a.clone().reversed_axes();
            let slow_spec = QuantSpec { axis: axis.map(|ax| 2 - ax), ..s.clone() };
            let slow = slow_spec.map_channels(&t, |x, c| x * 100.0 + c as f32).reversed_axes();
            assert_eq!(fast, slow, "{axis:?}");
        }
        // fake_all is fake, element for element, NaN and overflow included.
        let w = ndarray::ArrayD::from_shape_vec(
            ndarray::IxDyn(&[3, 4]),
            vec![0.1, -0.2, 1e30, f32::NAN, 0.0, -3.0, 2.5, 0.01, -1e-9, 7.0, -7.0, 0.35],
        )
        .unwrap();
        for spec in [symmetric_weight(&[1.0, 2.0, 0.5], Some(0), false), asymmetric_activation(-1.0, 3.0)] {
            let want = spec.map_channels(&w, |x, c| spec.fake(x, c));
            let got = spec.fake_all(&w);
            assert!(want.iter().zip(got.iter()).all(|(a, b)| a.to_bits() == b.to_bits()), "{want} {got}");
        }
        // quantize_all_i8 is quantize, the same way.
        for spec in
            [symmetric_weight(&[1.0, 2.0, 0.5], Some(0), false), symmetric_weight(&[3.0, 0.2, 1.0], Some(0), true)]
        {
            let want = spec.map_channels(&w, |x, c| spec.quantize(x, c) as i8);
            assert_eq!(spec.quantize_all_i8(&w), want);
        }
        let empty = ndarray::ArrayD::<f32>::zeros(ndarray::IxDyn(&[0, 3]));
        assert_eq!(
            QuantSpec { axis: Some(1), ..symmetric_activation(1.0, true) }.map_channels(&empty, |x, _| x).shape(),
            &[0, 3]
        );
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
        fn round_even_matches_the_standard_library_on_any_bits(bits in any::<u32>(), half in -10_000_000i32..10_000_000) {
            let v = f32::from_bits(bits);
            let r = round_even(v);
            prop_assert!(r.to_bits() == v.round_ties_even().to_bits() || r == v.round_ties_even() || (r.is_nan() && v.is_nan()));
            let h = half as f32 + 0.5;
            prop_assert_eq!(round_even(h), h.round_ties_even());
        }

        #[test]
        fn round_even_f64_matches_the_standard_library_on_any_bits(bits in any::<u64>(), half in -1i64 << 40..1i64 << 40) {
            let v = f64::from_bits(bits);
            let r = round_even_f64(v);
            prop_assert!(r.to_bits() == v.round_ties_even().to_bits() || r == v.round_ties_even() || (r.is_nan() && v.is_nan()));
            let h = half as f64 + 0.5;
            prop_assert_eq!(round_even_f64(h), h.round_ties_even());
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
