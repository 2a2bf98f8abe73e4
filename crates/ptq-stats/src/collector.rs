//! [`TensorStats`]: the statistics of one tensor over a stream of samples.

use serde::{Deserialize, Serialize};

use crate::config::{Granularity, StatsConfig};
use crate::error::StatsError;
use crate::histogram::Histogram;
use crate::reduce::{SampleStats, reduce};
use crate::sum::Sum;

/// Statistics of one tensor over a stream of samples (a sample = one call of
/// `update`, i.e. one dataset item; a batch inside one item counts as one
/// sample, like NNCF without batchwise statistics).
///
/// Memory is O(channels + histogram bins), independent of the number of
/// samples. Non-finite elements (NaN, ±inf) are skipped and counted in
/// [`nonfinite`](TensorStats::nonfinite). A channel that has seen no finite
/// element reports NaN for every statistic.
///
/// Serialized through a validating form: deserializing checks every
/// invariant (see [`crate::StatsSet::load`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "crate::wire::TensorStatsWire", into = "crate::wire::TensorStatsWire")]
pub struct TensorStats {
    pub(crate) config: StatsConfig,
    pub(crate) samples: u64,
    pub(crate) nonfinite: u64,
    pub(crate) ch: Channels,
    pub(crate) histogram: Option<Histogram>,
    /// With [`StatsConfig::quantile_ppm`]: the samples' quantiles.
    pub(crate) quantiles: Option<Quantiles>,
}

/// Per-sample `q` and `1 − q` quantiles (per-tensor statistics), over the
/// samples that had a finite element: their sums and extremes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Quantiles {
    pub(crate) samples: u64,
    pub(crate) sum_low: Sum,
    pub(crate) sum_high: Sum,
    /// The least low and the greatest high quantile; NaN before a sample.
    pub(crate) min_low: f32,
    pub(crate) max_high: f32,
}

impl Quantiles {
    fn new() -> Quantiles {
        Quantiles {
            samples: 0,
            sum_low: Sum::default(),
            sum_high: Sum::default(),
            min_low: f32::NAN,
            max_high: f32::NAN,
        }
    }

    fn same(&self, o: &Quantiles) -> bool {
        let eq = |a: f32, b: f32| a == b || (a.is_nan() && b.is_nan());
        self.samples == o.samples
            && self.sum_low == o.sum_low
            && self.sum_high == o.sum_high
            && eq(self.min_low, o.min_low)
            && eq(self.max_high, o.max_high)
    }
}

/// The `q`-quantile (`0 ≤ q ≤ 1`) of `v`, reordering `v`: linear between
/// order statistics like numpy's default, NaN ordered above everything;
/// None for an empty `v`. O(len).
pub fn quantile_in_place(v: &mut [f32], q: f64) -> Option<f32> {
    if v.is_empty() {
        return None;
    }
    Some(quantile_of(v, q.clamp(0.0, 1.0)))
}

fn quantile_of(v: &mut [f32], q: f64) -> f32 {
    let pos = q * (v.len() - 1) as f64;
    let k = pos.floor() as usize;
    let (_, a, right) = v.select_nth_unstable_by(k, f32::total_cmp);
    let a = *a;
    let frac = (pos - k as f64) as f32;
    match right.iter().copied().min_by(f32::total_cmp) {
        Some(b) if frac > 0.0 => a + (b - a) * frac,
        _ => a,
    }
}

/// One sample's `(q, 1 − q)` quantiles for `ppm` millionths, or None
/// without finite values.
fn sample_quantiles(data: &[f32], ppm: u32) -> Option<(f32, f32)> {
    let mut v: Vec<f32> = data.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    let q = f64::from(ppm) * 1e-6;
    Some((quantile_of(&mut v, q), quantile_of(&mut v, 1.0 - q)))
}

/// Per-channel state, one entry per channel in every vector.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Channels {
    /// Finite elements seen.
    pub(crate) count: Vec<u64>,
    /// Samples in which the channel had at least one finite element.
    pub(crate) finite_samples: Vec<u64>,
    /// Global min and max; NaN while `count == 0`.
    pub(crate) min: Vec<f32>,
    pub(crate) max: Vec<f32>,
    pub(crate) sum: Vec<Sum>,
    pub(crate) sumsq: Vec<Sum>,
    /// Sums over samples of the per-sample min, max and max |x|.
    pub(crate) sum_min: Vec<Sum>,
    pub(crate) sum_max: Vec<Sum>,
    pub(crate) sum_abs_max: Vec<Sum>,
}

impl Channels {
    pub(crate) fn new(channels: usize) -> Self {
        Channels {
            count: vec![0; channels],
            finite_samples: vec![0; channels],
            min: vec![f32::NAN; channels],
            max: vec![f32::NAN; channels],
            sum: vec![Sum::default(); channels],
            sumsq: vec![Sum::default(); channels],
            sum_min: vec![Sum::default(); channels],
            sum_max: vec![Sum::default(); channels],
            sum_abs_max: vec![Sum::default(); channels],
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.count.len()
    }

    /// Equality treating NaN (no data) as equal to NaN.
    fn same(&self, o: &Channels) -> bool {
        let Channels { count, finite_samples, min, max, sum, sumsq, sum_min, sum_max, sum_abs_max } = self;
        let f32s_eq = |a: &[f32], b: &[f32]| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y || (x.is_nan() && y.is_nan()))
        };
        *count == o.count
            && *finite_samples == o.finite_samples
            && f32s_eq(min, &o.min)
            && f32s_eq(max, &o.max)
            && *sum == o.sum
            && *sumsq == o.sumsq
            && *sum_min == o.sum_min
            && *sum_max == o.sum_max
            && *sum_abs_max == o.sum_abs_max
    }
}

/// Equal when every statistic is equal; NaN (a channel without data) equals NaN.
impl PartialEq for TensorStats {
    fn eq(&self, o: &TensorStats) -> bool {
        let TensorStats { config, samples, nonfinite, ch, histogram, quantiles } = self;
        let quantiles_eq = match (quantiles, &o.quantiles) {
            (Some(a), Some(b)) => a.same(b),
            (a, b) => a.is_none() && b.is_none(),
        };
        *config == o.config
            && *samples == o.samples
            && *nonfinite == o.nonfinite
            && ch.same(&o.ch)
            && *histogram == o.histogram
            && quantiles_eq
    }
}

fn add(a: u64, b: u64) -> Result<u64, StatsError> {
    a.checked_add(b).ok_or(StatsError::Overflow)
}

/// Per-channel `a / n` (NaN when `n == 0`), rounded to f32.
fn ratio(sums: &[Sum], n: &[u64]) -> Vec<f32> {
    sums.iter().zip(n).map(|(s, &n)| (s.value() / n as f64) as f32).collect()
}

impl TensorStats {
    /// An empty collector for `config` (normalized, see
    /// [`StatsConfig::normalized`]). Per-tensor collectors have one channel
    /// from the start; per-channel ones get their channel count from the
    /// first non-empty sample.
    pub fn new(config: &StatsConfig) -> TensorStats {
        let config = config.normalized();
        let channels = if config.axis().is_some() { 0 } else { 1 };
        let histogram = (config.histogram_bins > 0).then(|| Histogram::new(config.histogram_bins));
        let quantiles = (config.quantile_ppm > 0).then(Quantiles::new);
        TensorStats { config, samples: 0, nonfinite: 0, ch: Channels::new(channels), histogram, quantiles }
    }

    /// The (normalized) configuration.
    pub fn config(&self) -> &StatsConfig {
        &self.config
    }

    /// Feeds one sample: row-major `data` of the given `shape`.
    ///
    /// Errors (leaving the collector unchanged) when `data.len()` is not the
    /// product of `shape`, when the per-channel axis does not exist in
    /// `shape`, or when its size differs from the channel count fixed by the
    /// first non-empty sample. A sample with no elements is accepted and
    /// changes nothing (it is not counted). A sample whose elements are all
    /// non-finite is counted as a sample but contributes no values.
    /// One pass over `data` (two with a histogram), allocating O(channels).
    pub fn update(&mut self, shape: &[usize], data: &[f32]) -> Result<(), StatsError> {
        let expected = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if expected != Some(data.len()) {
            let expected = expected.map_or_else(|| "more than usize::MAX".to_string(), |n| n.to_string());
            return Err(StatsError::ShapeMismatch { shape: shape.to_vec(), len: data.len(), expected });
        }
        let (channels, inner) = match self.config.axis() {
            None => (1, data.len()),
            Some(axis) => {
                let &c = shape.get(axis).ok_or(StatsError::AxisOutOfRange { axis, rank: shape.len() })?;
                let fixed = self.ch.len();
                if fixed > 0 && c != fixed {
                    return Err(StatsError::ChannelMismatch { expected: fixed, found: c });
                }
                (c, shape[axis + 1..].iter().product())
            }
        };
        if data.is_empty() {
            return Ok(());
        }
        let s = reduce(data, channels, inner);
        let q = if self.quantiles.is_some() { sample_quantiles(data, self.config.quantile_ppm) } else { None };
        self.absorb(&s, data, q)
    }

    /// Folds one sample's reduction into the state, after checking every counter.
    fn absorb(&mut self, s: &SampleStats, data: &[f32], q: Option<(f32, f32)>) -> Result<(), StatsError> {
        if self.ch.len() == 0 {
            self.ch = Channels::new(s.count.len());
        }
        let samples = add(self.samples, 1)?;
        let nonfinite = add(self.nonfinite, s.nonfinite)?;
        for c in 0..self.ch.len() {
            add(self.ch.count[c], s.count[c])?;
            add(self.ch.finite_samples[c], 1)?;
        }
        self.samples = samples;
        self.nonfinite = nonfinite;
        let ch = &mut self.ch;
        for c in 0..ch.len() {
            if s.count[c] == 0 {
                continue;
            }
            let (mn, mx) = (s.min[c], s.max[c]);
            ch.count[c] += s.count[c];
            ch.finite_samples[c] += 1;
            ch.min[c] = ch.min[c].min(mn);
            ch.max[c] = ch.max[c].max(mx);
            ch.sum[c].add(s.sum[c]);
            ch.sumsq[c].add(s.sumsq[c]);
            ch.sum_min[c].add(f64::from(mn));
            ch.sum_max[c].add(f64::from(mx));
            ch.sum_abs_max[c].add(f64::from(mn.abs().max(mx.abs())));
        }
        if let Some(h) = &mut self.histogram
            && ch.count[0] > 0
        {
            h.cover(ch.min[0], ch.max[0]);
            h.add(data, s.nonfinite == 0);
        }
        if let (Some(qs), Some((lo, hi))) = (&mut self.quantiles, q) {
            qs.samples += 1;
            qs.sum_low.add(f64::from(lo));
            qs.sum_high.add(f64::from(hi));
            qs.min_low = if qs.min_low.is_nan() { lo } else { qs.min_low.min(lo) };
            qs.max_high = if qs.max_high.is_nan() { hi } else { qs.max_high.max(hi) };
        }
        Ok(())
    }

    /// Combines another collector fed with other samples: the result equals
    /// feeding both streams into one collector — exactly for counts, min,
    /// max and histograms (whose bins depend only on the values seen); sums
    /// (behind the means and std) are compensated double-double sums, equal
    /// to ~1e-30 relative, and bit-identical when `other` holds one sample.
    ///
    /// Errors (leaving `self` unchanged) when the configurations differ, when
    /// both have fixed different channel counts, or on counter overflow.
    pub fn merge(&mut self, other: &TensorStats) -> Result<(), StatsError> {
        if self.config != other.config {
            return Err(StatsError::Incompatible(format!(
                "configurations differ: {:?} vs {:?}",
                self.config, other.config
            )));
        }
        let (n, m) = (self.ch.len(), other.ch.len());
        if n != m && self.samples > 0 && other.samples > 0 {
            return Err(StatsError::Incompatible(format!("{n} channels vs {m}")));
        }
        if other.samples == 0 {
            return Ok(());
        }
        if self.samples == 0 {
            *self = other.clone();
            return Ok(());
        }
        let samples = add(self.samples, other.samples)?;
        let nonfinite = add(self.nonfinite, other.nonfinite)?;
        for c in 0..n {
            add(self.ch.count[c], other.ch.count[c])?;
            add(self.ch.finite_samples[c], other.ch.finite_samples[c])?;
        }
        self.samples = samples;
        self.nonfinite = nonfinite;
        let (a, b) = (&mut self.ch, &other.ch);
        for c in 0..n {
            a.count[c] += b.count[c];
            a.finite_samples[c] += b.finite_samples[c];
            a.min[c] = a.min[c].min(b.min[c]);
            a.max[c] = a.max[c].max(b.max[c]);
            a.sum[c].merge(&b.sum[c]);
            a.sumsq[c].merge(&b.sumsq[c]);
            a.sum_min[c].merge(&b.sum_min[c]);
            a.sum_max[c].merge(&b.sum_max[c]);
            a.sum_abs_max[c].merge(&b.sum_abs_max[c]);
        }
        if let (Some(h), Some(g)) = (&mut self.histogram, &other.histogram)
            && a.count[0] > 0
        {
            h.merge(g, a.min[0], a.max[0]);
        }
        if let (Some(x), Some(y)) = (&mut self.quantiles, &other.quantiles) {
            x.samples += y.samples;
            x.sum_low.merge(&y.sum_low);
            x.sum_high.merge(&y.sum_high);
            x.min_low = if x.min_low.is_nan() { y.min_low } else { x.min_low.min(y.min_low) };
            x.max_high = if x.max_high.is_nan() { y.max_high } else { x.max_high.max(y.max_high) };
        }
        Ok(())
    }

    /// Samples fed (non-empty `update` calls).
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Channel count: 1 for per-tensor, 0 for per-channel before the first non-empty sample.
    pub fn channels(&self) -> usize {
        self.ch.len()
    }

    /// The granularity of these statistics.
    pub fn granularity(&self) -> &Granularity {
        &self.config.granularity
    }

    /// Finite elements seen, per channel.
    pub fn count(&self) -> &[u64] {
        &self.ch.count
    }

    /// Global min per channel over all samples (NaN for a channel without finite elements).
    pub fn min(&self) -> &[f32] {
        &self.ch.min
    }

    /// Global max per channel over all samples (NaN for a channel without finite elements).
    pub fn max(&self) -> &[f32] {
        &self.ch.max
    }

    /// With [`StatsConfig::quantile_ppm`]: the mean over samples of each
    /// sample's `q` and `1 − q` quantiles (NNCF MEAN_QUANTILE). None without
    /// them or before a sample with a finite value.
    pub fn mean_quantiles(&self) -> Option<(f32, f32)> {
        let q = self.quantiles.as_ref().filter(|q| q.samples > 0)?;
        let n = q.samples as f64;
        Some(((q.sum_low.value() / n) as f32, (q.sum_high.value() / n) as f32))
    }

    /// With [`StatsConfig::quantile_ppm`]: the least per-sample `q` and the
    /// greatest per-sample `1 − q` quantile (NNCF QUANTILE, aggregated by
    /// min and max).
    pub fn quantile_extremes(&self) -> Option<(f32, f32)> {
        let q = self.quantiles.as_ref().filter(|q| q.samples > 0)?;
        Some((q.min_low, q.max_high))
    }

    /// `max(|min|, |max|)` per channel.
    pub fn abs_max(&self) -> Vec<f32> {
        self.ch.min.iter().zip(&self.ch.max).map(|(a, b)| a.abs().max(b.abs())).collect()
    }

    /// Mean over samples of the per-sample min (NNCF MEAN_MINMAX), per
    /// channel; samples in which a channel had no finite element are left out.
    pub fn mean_min(&self) -> Vec<f32> {
        ratio(&self.ch.sum_min, &self.ch.finite_samples)
    }

    /// Mean over samples of the per-sample max, per channel (as [`mean_min`](Self::mean_min)).
    pub fn mean_max(&self) -> Vec<f32> {
        ratio(&self.ch.sum_max, &self.ch.finite_samples)
    }

    /// Mean over samples of the per-sample max |x|, per channel (as [`mean_min`](Self::mean_min)).
    pub fn mean_abs_max(&self) -> Vec<f32> {
        ratio(&self.ch.sum_abs_max, &self.ch.finite_samples)
    }

    /// Mean of all finite elements, per channel (f64 accumulation).
    pub fn mean(&self) -> Vec<f32> {
        ratio(&self.ch.sum, &self.ch.count)
    }

    /// Population standard deviation of all finite elements, per channel,
    /// from f64 sums of x and x² (relative precision degrades as
    /// |mean| / std grows; fine below ~1e5).
    pub fn std(&self) -> Vec<f32> {
        let ch = &self.ch;
        (0..ch.len())
            .map(|c| {
                if ch.count[c] == 0 {
                    return f32::NAN;
                }
                let n = ch.count[c] as f64;
                let mean = ch.sum[c].value() / n;
                let var = (ch.sumsq[c].value() / n - mean * mean).max(0.0);
                var.sqrt() as f32
            })
            .collect()
    }

    /// The `q`-quantile (`0 <= q <= 1`, linear interpolation like numpy's
    /// default) of all finite elements, estimated from the histogram: within
    /// one bin width of the exact value (up to f32 rounding); `q = 0` and
    /// `q = 1` give the exact min and max.
    ///
    /// Errors when `q` is outside `[0, 1]`, when no histogram is kept, or
    /// when no finite element has been seen.
    pub fn quantile(&self, q: f64) -> Result<f32, StatsError> {
        if !(0.0..=1.0).contains(&q) {
            return Err(StatsError::InvalidQuantile(q));
        }
        let h = self.histogram.as_ref().ok_or(StatsError::NoHistogram)?;
        match (self.ch.min.first(), self.ch.max.first()) {
            (Some(&mn), Some(&mx)) => h.quantile(q, mn, mx).ok_or(StatsError::NoSamples),
            _ => Err(StatsError::NoSamples),
        }
    }

    /// The histogram, if one is kept (per-tensor with `histogram_bins > 0`).
    pub fn histogram(&self) -> Option<&Histogram> {
        self.histogram.as_ref()
    }

    /// Count of NaN/Inf elements seen (skipped by every statistic).
    pub fn nonfinite(&self) -> u64 {
        self.nonfinite
    }
}

#[cfg(test)]
#[path = "collector_tests.rs"]
mod tests;
