//! A streaming, mergeable histogram with an unknown range.
//!
//! Bins lie on the dyadic grid of width `2^level`: bin `k` is
//! `[k * 2^level, (k + 1) * 2^level)`. A histogram is a window of `bins`
//! consecutive bins starting at grid index `start`. Grids of different
//! levels nest (each bin of level `e + 1` is two bins of level `e`), so
//! widening the range only adds neighbouring bins in pairs: a histogram is
//! re-binned to a coarser level by shifting indices, exactly.
//!
//! The window is canonical, a function of the global min and max only: the
//! level is the smallest `e >= floor_level(max |x|)` at which min and max are
//! fewer than `bins` grid bins apart, and `start` is min's bin. So a
//! histogram depends only on the multiset of values it has seen, never on
//! their order or on how a stream was split before merging: merged
//! histograms equal single-stream ones exactly. Bins are never finer than the
//! f32 spacing of the largest magnitude seen (`floor_level`), which keeps
//! every grid index below `2^25` in magnitude and every bin edge inside the
//! data range representable in f32.
//!
//! Memory is `bins` counters whatever the number of values.

use serde::{Deserialize, Serialize};

/// Finest level: all f32 values are multiples of `2^-149`.
pub(crate) const MIN_LEVEL: i32 = -149;
/// Coarsest level: with at least 2 bins, any two f32 values fit (|x| < 2^128).
pub(crate) const MAX_LEVEL: i32 = 128;

/// Bin counts over a window of a dyadic grid; see the module documentation.
///
/// `counts` holds the window's bins without trailing zero bins (so its
/// length is at most `bins`, and an empty histogram holds none).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Histogram {
    bins: usize,
    level: i32,
    start: i64,
    counts: Vec<u64>,
}

/// `2^k` for `k` in f64's normal exponent range.
fn pow2(k: i32) -> f64 {
    let k = k.clamp(-1022, 1023);
    f64::from_bits(((k + 1023) as u64) << 52)
}

/// `floor(log2(a))` for finite `a > 0`.
fn floor_log2(a: f32) -> i32 {
    let bits = a.abs().to_bits();
    let exp = (bits >> 23) as i32;
    if exp == 0 {
        // Subnormal: a = m * 2^-149 with m < 2^23.
        let m = bits & 0x7f_ffff;
        -149 + (31 - m.leading_zeros() as i32)
    } else {
        exp - 127
    }
}

/// The finest level used for values with largest magnitude `absmax`: bins
/// as wide as the f32 spacing just below `absmax` (at least `2^-149`).
fn floor_level(absmax: f32) -> i32 {
    if absmax > 0.0 { (floor_log2(absmax) - 23).max(MIN_LEVEL) } else { MIN_LEVEL }
}

/// `floor(v)` for `|v| < 2^62`, without a libm call on baseline x86-64.
fn floor_i64(v: f64) -> i64 {
    let t = v as i64;
    t - i64::from((t as f64) > v)
}

/// Grid index of `x` at `level`: `floor(x / 2^level)`. Exact: scaling by a
/// power of two is exact in f64, and at the levels used (at least
/// `floor_level(|x|)`) the quotient is below `2^25` in magnitude.
fn index(x: f32, level: i32) -> i64 {
    floor_i64(f64::from(x) * pow2(-level))
}

/// The canonical level for values in `[min, max]` with `bins` bins, searching
/// upward from `from` (which must not exceed the answer).
pub(crate) fn canonical_level(min: f32, max: f32, bins: usize, from: i32) -> i32 {
    let absmax = min.abs().max(max.abs());
    let bins = bins as i64;
    let mut level = from.max(floor_level(absmax));
    while level < MAX_LEVEL && index(max, level) - index(min, level) >= bins {
        level += 1;
    }
    level
}

impl Histogram {
    /// An empty histogram of `bins` bins (`bins >= 2`, see [`crate::StatsConfig::normalized`]).
    pub(crate) fn new(bins: usize) -> Self {
        Histogram { bins, level: 0, start: 0, counts: Vec::new() }
    }

    /// Number of bins of the window.
    pub fn bins(&self) -> usize {
        self.bins
    }

    /// Width of every bin: `2^level`.
    pub fn bin_width(&self) -> f64 {
        pow2(self.level)
    }

    /// `log2` of the bin width.
    pub fn level(&self) -> i32 {
        self.level
    }

    /// Lower edge of the first bin.
    pub fn lower(&self) -> f64 {
        self.start as f64 * self.bin_width()
    }

    /// Counts of the window's bins, first bin first, without trailing empty
    /// bins (bin `i` is `[lower + i * width, lower + (i + 1) * width)`).
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// Number of values counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Moves the window to the canonical one for the global range
    /// `[min, max]` (finite, containing every value counted so far).
    pub(crate) fn cover(&mut self, min: f32, max: f32) {
        let empty = self.counts.is_empty();
        let from = if empty { MIN_LEVEL } else { self.level };
        let level = canonical_level(min, max, self.bins, from);
        let start = index(min, level);
        if empty {
            self.level = level;
            self.start = start;
            return;
        }
        if level == self.level && start == self.start {
            return;
        }
        let shift = (level - self.level).clamp(0, 63) as u32;
        let mut counts = vec![0u64; self.bins];
        for (i, &n) in self.counts.iter().enumerate() {
            if n > 0 {
                bump(&mut counts, ((self.start + i as i64) >> shift) - start, n);
            }
        }
        self.level = level;
        self.start = start;
        self.counts = counts;
        self.trim();
    }

    /// Counts the finite values of `data` (`all_finite` says whether
    /// there are only finite ones); the window must already
    /// [`cover`](Histogram::cover) them.
    pub(crate) fn add(&mut self, data: &[f32], all_finite: bool) {
        /// Adding 1.5 * 2^52 rounds an f64 below 2^51 in magnitude to an
        /// integer, which then sits in the low mantissa bits.
        const ROUND: f64 = 6_755_399_441_055_744.0;
        self.counts.resize(self.bins, 0);
        let scale = pow2(-self.level);
        let start = self.start as f64;
        let last = u32::try_from(self.bins - 1).unwrap_or(u32::MAX);
        // floor(x / 2^level) - start, exactly: x * scale is exact and below
        // 2^25 in magnitude, so is its nearest integer r; floor is r, or
        // r - 1 when r is above (integer arithmetic on the low mantissa bits,
        // branch-free). A (never occurring) index outside the window lands
        // in the last bin, keeping the total right.
        let bin = |x: f32| {
            let v = f64::from(x) * scale;
            let r = (v + ROUND) - ROUND;
            let k = (((r - start) + ROUND).to_bits() as u32).wrapping_sub(u32::from(r > v));
            k.min(last) as usize
        };
        let counts = &mut self.counts[..];
        let mut count = |k: usize| {
            if let Some(n) = counts.get_mut(k) {
                *n += 1;
            }
        };
        if all_finite {
            let chunks = data.chunks_exact(8);
            for &x in chunks.remainder() {
                count(bin(x));
            }
            for c in chunks {
                let mut ks = [0usize; 8];
                for i in 0..8 {
                    ks[i] = bin(c[i]);
                }
                for k in ks {
                    count(k);
                }
            }
        } else {
            data.iter().filter(|x| x.is_finite()).for_each(|&x| count(bin(x)));
        }
        self.trim();
    }

    /// Adds `other`'s counts; both windows must lie inside the canonical
    /// window for the combined range `[min, max]`.
    pub(crate) fn merge(&mut self, other: &Histogram, min: f32, max: f32) {
        self.cover(min, max);
        if other.counts.is_empty() {
            return;
        }
        self.counts.resize(self.bins, 0);
        let shift = (self.level - other.level).clamp(0, 63) as u32;
        for (i, &n) in other.counts.iter().enumerate() {
            if n > 0 {
                bump(&mut self.counts, ((other.start + i as i64) >> shift) - self.start, n);
            }
        }
        self.trim();
    }

    fn trim(&mut self) {
        let len = self.counts.iter().rposition(|&n| n > 0).map_or(0, |i| i + 1);
        self.counts.truncate(len);
    }

    /// Estimated `q`-quantile (linear interpolation between order
    /// statistics, like numpy's default) of the values counted, whose exact
    /// min and max are given. Each order statistic is placed inside its bin
    /// (spread evenly over the bin's count and clamped to `[min, max]`), so
    /// the estimate is within one bin width of the exact quantile, up to f32
    /// rounding of the result. `None` if empty.
    pub(crate) fn quantile(&self, q: f64, min: f32, max: f32) -> Option<f32> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let pos = q.clamp(0.0, 1.0) * (total - 1) as f64;
        let r0 = (pos.floor() as u64).min(total - 1);
        let r1 = (r0 + 1).min(total - 1);
        let frac = pos - r0 as f64;
        let v0 = self.order_statistic(r0, total, min, max);
        let v1 = self.order_statistic(r1, total, min, max);
        Some((v0 + frac * (v1 - v0)) as f32)
    }

    /// Estimate of the `r`-th smallest value (0-based) of `total`.
    fn order_statistic(&self, r: u64, total: u64, min: f32, max: f32) -> f64 {
        let (min, max) = (f64::from(min), f64::from(max));
        if r == 0 {
            return min;
        }
        if r + 1 >= total {
            return max;
        }
        let width = self.bin_width();
        let mut before = 0u64;
        for (i, &n) in self.counts.iter().enumerate() {
            if r < before + n {
                let lo = (self.start + i as i64) as f64 * width;
                let within = ((r - before) as f64 + 0.5) / n as f64;
                return (lo + within * width).clamp(min, max);
            }
            before += n;
        }
        max
    }

    /// Checks the invariants of a histogram over `count` finite values with
    /// global range `[min, max]` (both `None` iff `count == 0`), for one read
    /// from a file: `bins` as expected, the canonical window, counts adding
    /// up, no trailing zero bins.
    pub(crate) fn validate(&self, bins: usize, count: u64, range: Option<(f32, f32)>) -> Result<(), String> {
        if self.bins != bins {
            return Err(format!("histogram has {} bins, the configuration {bins}", self.bins));
        }
        if self.counts.len() > self.bins {
            return Err(format!("histogram holds {} counts for {} bins", self.counts.len(), self.bins));
        }
        if self.counts.last() == Some(&0) {
            return Err("histogram counts end with an empty bin".into());
        }
        let total = self.counts.iter().try_fold(0u64, |a, &n| a.checked_add(n)).ok_or("histogram total overflows")?;
        if total != count {
            return Err(format!("histogram counts {total} values, the statistics {count}"));
        }
        match range {
            None if self.level != 0 || self.start != 0 => Err("empty histogram with a window".into()),
            None => Ok(()),
            Some(_) if !(MIN_LEVEL..=MAX_LEVEL).contains(&self.level) => {
                Err(format!("histogram level {} out of range", self.level))
            }
            Some((min, max)) => {
                let level = canonical_level(min, max, self.bins, MIN_LEVEL);
                if self.level != level || self.start != index(min, level) {
                    Err(format!(
                        "histogram window (level {}, start {}) is not the one for range [{min}, {max}]",
                        self.level, self.start
                    ))
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// Adds `n` to the counter of window index `k`, clamped into the window
/// (the callers' invariants keep `k` inside; clamping keeps the total right
/// regardless).
fn bump(counts: &mut [u64], k: i64, n: u64) {
    let k = usize::try_from(k).unwrap_or(0).min(counts.len().saturating_sub(1));
    if let Some(c) = counts.get_mut(k) {
        *c += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Counts `values` into a fresh histogram, as a collector does.
    fn build(bins: usize, values: &[f32]) -> Histogram {
        let mut h = Histogram::new(bins);
        add_values(&mut h, values, None);
        h
    }

    fn range_of(values: &[f32]) -> Option<(f32, f32)> {
        let finite = values.iter().copied().filter(|x| x.is_finite());
        finite.fold(None, |r, x| match r {
            None => Some((x, x)),
            Some((a, b)) => Some((a.min(x), b.max(x))),
        })
    }

    fn add_values(h: &mut Histogram, values: &[f32], old: Option<(f32, f32)>) {
        let merged = match (old, range_of(values)) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (a, b) => a.or(b),
        };
        if let Some((mn, mx)) = merged {
            h.cover(mn, mx);
            h.add(values, values.iter().all(|x| x.is_finite()));
        }
    }

    /// numpy's default (linear) quantile of the finite values.
    fn exact_quantile(values: &[f32], q: f64) -> f64 {
        let mut v: Vec<f64> = values.iter().filter(|x| x.is_finite()).map(|&x| f64::from(x)).collect();
        v.sort_by(f64::total_cmp);
        let pos = q * (v.len() - 1) as f64;
        let (i, frac) = (pos.floor() as usize, pos - pos.floor());
        let j = (i + 1).min(v.len() - 1);
        v[i] + frac * (v[j] - v[i])
    }

    #[test]
    fn floor_log2_of_normals_and_subnormals() {
        assert_eq!(floor_log2(1.0), 0);
        assert_eq!(floor_log2(3.9), 1);
        assert_eq!(floor_log2(0.5), -1);
        assert_eq!(floor_log2(f32::MAX), 127);
        assert_eq!(floor_log2(f32::from_bits(1)), -149);
        assert_eq!(floor_log2(f32::MIN_POSITIVE), -126);
        assert_eq!(floor_log2(f32::MIN_POSITIVE / 2.0), -127);
    }

    #[test]
    fn window_is_canonical_and_covers_data() {
        let h = build(16, &[-1.0, 0.0, 1.0]);
        // At 2^-3 the indices of -1 and 1 (-8, 8) are 16 apart; at 2^-2 (-4, 4) they fit in 16 bins.
        assert_eq!(h.level(), -2);
        assert_eq!(h.lower(), -1.0);
        assert_eq!(h.counts(), &[1, 0, 0, 0, 1, 0, 0, 0, 1]);
        assert_eq!(h.total(), 3);
    }

    #[test]
    fn constant_data_uses_the_finest_useful_bins() {
        let h = build(8, &[3.0; 5]);
        assert_eq!(h.level(), 1 - 23);
        assert_eq!(h.counts(), &[5]);
        assert_eq!(h.quantile(0.5, 3.0, 3.0), Some(3.0));
        let z = build(8, &[0.0, -0.0]);
        assert_eq!(z.level(), MIN_LEVEL);
        assert_eq!(z.counts(), &[2]);
    }

    #[test]
    fn extreme_range_fits() {
        let h = build(2, &[f32::MIN, f32::MAX, 0.0]);
        assert_eq!(h.level(), MAX_LEVEL);
        assert_eq!(h.counts(), &[1, 2]);
        assert_eq!(h.quantile(0.0, f32::MIN, f32::MAX), Some(f32::MIN));
        assert_eq!(h.quantile(1.0, f32::MIN, f32::MAX), Some(f32::MAX));
    }

    #[test]
    fn growth_rebins_exactly() {
        let mut h = build(4, &[0.1, 0.2]);
        add_values(&mut h, &[100.0, -50.0], Some((0.1, 0.2)));
        assert_eq!(h, build(4, &[0.1, 0.2, 100.0, -50.0]));
        assert_eq!(h.total(), 4);
    }

    #[test]
    fn validate_rejects_non_canonical_windows() {
        let h = build(16, &[-1.0, 0.0, 1.0]);
        assert!(h.validate(16, 3, Some((-1.0, 1.0))).is_ok());
        assert!(h.validate(32, 3, Some((-1.0, 1.0))).is_err());
        assert!(h.validate(16, 4, Some((-1.0, 1.0))).is_err());
        assert!(h.validate(16, 3, Some((-2.0, 1.0))).is_err());
        assert!(h.validate(16, 3, None).is_err());
        let mut bad = h.clone();
        bad.counts.push(0);
        assert!(bad.validate(16, 3, Some((-1.0, 1.0))).is_err());
        bad.level = 1000;
        assert!(bad.validate(16, 3, Some((-1.0, 1.0))).is_err());
    }

    fn value() -> impl Strategy<Value = f32> {
        prop_oneof![
            -1.0f32..1.0,
            -1e4f32..1e4,
            (-1.0f32..1.0).prop_map(|x| x * 1e-30),
            any::<f32>().prop_filter("finite", |x| x.is_finite()),
            Just(0.0f32),
            Just(f32::NAN),
        ]
    }

    proptest! {
        #[test]
        fn quantile_within_one_bin_of_exact(
            samples in prop::collection::vec(prop::collection::vec(value(), 1..40), 1..6),
            bins in 2usize..64,
            q in 0.0f64..=1.0,
        ) {
            let mut h = Histogram::new(bins);
            let mut range = None;
            for s in &samples {
                add_values(&mut h, s, range);
                range = match (range, range_of(s)) {
                    (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
                    (a, b) => a.or(b),
                };
            }
            let all: Vec<f32> = samples.concat();
            let Some((mn, mx)) = range else { return Ok(()) };
            prop_assert!(h.validate(bins, h.total(), range).is_ok());
            let est = f64::from(h.quantile(q, mn, mx).unwrap_or(f32::NAN));
            let exact = exact_quantile(&all, q);
            // One bin, plus the f32 rounding of the estimate.
            let tol = h.bin_width() + f64::from(f32::EPSILON) * exact.abs() + f64::from(f32::from_bits(1));
            prop_assert!((est - exact).abs() <= tol, "est {} exact {} width {}", est, exact, h.bin_width());
        }

        #[test]
        fn fast_binning_equals_floor(values in prop::collection::vec(value(), 1..100), bins in 2usize..64) {
            let h = build(bins, &values);
            let mut want = vec![0u64; bins];
            for &x in values.iter().filter(|x| x.is_finite()) {
                want[usize::try_from(index(x, h.level()) - h.start).unwrap()] += 1;
            }
            let used = want.iter().rposition(|&n| n > 0).map_or(0, |i| i + 1);
            prop_assert_eq!(h.counts(), &want[..used]);
        }

        #[test]
        fn merged_equals_single_stream(
            a in prop::collection::vec(value(), 0..40),
            b in prop::collection::vec(value(), 0..40),
            bins in 2usize..64,
        ) {
            let single = build(bins, &[a.clone(), b.clone()].concat());
            let mut ha = build(bins, &a);
            let hb = build(bins, &b);
            if let Some((mn, mx)) = range_of(&[a, b].concat()) {
                ha.merge(&hb, mn, mx);
            }
            prop_assert_eq!(ha, single);
        }
    }
}
