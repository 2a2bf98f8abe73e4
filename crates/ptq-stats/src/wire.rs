//! The serialized form of [`TensorStats`] and its validation.
//!
//! Per-channel vectors are stored side by side; min and max are `null` for
//! a channel without finite elements (JSON has no NaN), sums are
//! `[hi, lo]` pairs. Deserializing validates every invariant the collector
//! relies on, so statistics from a file can be used, merged and updated
//! without panics.

use serde::{Deserialize, Serialize};

use crate::collector::{Channels, Quantiles, TensorStats};
use crate::config::{Granularity, MAX_HISTOGRAM_BINS, StatsConfig};
use crate::error::StatsError;
use crate::histogram::Histogram;
use crate::sum::Sum;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TensorStatsWire {
    granularity: Granularity,
    histogram_bins: usize,
    samples: u64,
    nonfinite: u64,
    count: Vec<u64>,
    finite_samples: Vec<u64>,
    min: Vec<Option<f32>>,
    max: Vec<Option<f32>>,
    sum: Vec<Sum>,
    sumsq: Vec<Sum>,
    sum_min: Vec<Sum>,
    sum_max: Vec<Sum>,
    sum_abs_max: Vec<Sum>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    histogram: Option<Histogram>,
    #[serde(default, skip_serializing_if = "is_zero")]
    quantile_ppm: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    quantiles: Option<QuantilesWire>,
}

/// [`Quantiles`] on disk; the extremes are `null` before a sample.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuantilesWire {
    samples: u64,
    sum_low: Sum,
    sum_high: Sum,
    min_low: Option<f32>,
    max_high: Option<f32>,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

fn finite(x: f32) -> Option<f32> {
    x.is_finite().then_some(x)
}

impl From<TensorStats> for TensorStatsWire {
    fn from(t: TensorStats) -> Self {
        let ch = t.ch;
        TensorStatsWire {
            granularity: t.config.granularity,
            histogram_bins: t.config.histogram_bins,
            samples: t.samples,
            nonfinite: t.nonfinite,
            count: ch.count,
            finite_samples: ch.finite_samples,
            min: ch.min.into_iter().map(finite).collect(),
            max: ch.max.into_iter().map(finite).collect(),
            sum: ch.sum,
            sumsq: ch.sumsq,
            sum_min: ch.sum_min,
            sum_max: ch.sum_max,
            sum_abs_max: ch.sum_abs_max,
            histogram: t.histogram,
            quantile_ppm: t.config.quantile_ppm,
            quantiles: t.quantiles.map(|q| QuantilesWire {
                samples: q.samples,
                sum_low: q.sum_low,
                sum_high: q.sum_high,
                min_low: finite(q.min_low),
                max_high: finite(q.max_high),
            }),
        }
    }
}

fn invalid(msg: impl Into<String>) -> StatsError {
    StatsError::Invalid(msg.into())
}

/// The means behind the sums must lie in the channel's range `[min, max]`
/// (mean |x| and the root mean square in `[0, max |x|]`), up to rounding.
fn check_means(c: usize, min: f32, max: f32, count: u64, samples: u64, sums: [&Sum; 5]) -> Result<(), StatsError> {
    let (lo, hi) = (f64::from(min), f64::from(max));
    let abs = lo.abs().max(hi.abs());
    let tol = abs * 1e-6 + 1e-300;
    let [sum, sumsq, sum_min, sum_max, sum_abs_max] = sums.map(Sum::value);
    let (n, k) = (count as f64, samples as f64);
    let inside = |v: f64, a: f64, b: f64| v >= a - tol && v <= b + tol;
    let ok = inside(sum / n, lo, hi)
        && inside(sum_min / k, lo, hi)
        && inside(sum_max / k, lo, hi)
        && inside(sum_abs_max / k, 0.0, abs)
        && inside((sumsq / n).sqrt(), 0.0, abs);
    if ok { Ok(()) } else { Err(invalid(format!("channel {c}: means outside the range [{min}, {max}]"))) }
}

impl TryFrom<TensorStatsWire> for TensorStats {
    type Error = StatsError;

    fn try_from(w: TensorStatsWire) -> Result<Self, StatsError> {
        let config =
            StatsConfig { granularity: w.granularity, histogram_bins: w.histogram_bins, quantile_ppm: w.quantile_ppm };
        if w.histogram_bins > MAX_HISTOGRAM_BINS || config.normalized() != config {
            return Err(invalid(format!("unsupported configuration {config:?}")));
        }
        let n = w.count.len();
        let lens = [
            w.finite_samples.len(),
            w.min.len(),
            w.max.len(),
            w.sum.len(),
            w.sumsq.len(),
            w.sum_min.len(),
            w.sum_max.len(),
            w.sum_abs_max.len(),
        ];
        if lens.iter().any(|&l| l != n) {
            return Err(invalid(format!("per-channel vectors of different lengths ({n} counts, others {lens:?})")));
        }
        match config.axis() {
            None if n != 1 => return Err(invalid(format!("per-tensor statistics with {n} channels"))),
            Some(_) if (n == 0) != (w.samples == 0) => {
                return Err(invalid(format!("{n} channels after {} samples", w.samples)));
            }
            _ => {}
        }
        let mut min = Vec::with_capacity(n);
        let mut max = Vec::with_capacity(n);
        for c in 0..n {
            let (count, samples) = (w.count[c], w.finite_samples[c]);
            if samples > w.samples || samples > count || (samples == 0) != (count == 0) {
                return Err(invalid(format!("channel {c}: {count} values in {samples} of {} samples", w.samples)));
            }
            let sums: [&Sum; 5] = [&w.sum[c], &w.sumsq[c], &w.sum_min[c], &w.sum_max[c], &w.sum_abs_max[c]];
            if sums.iter().any(|s| !s.is_valid()) {
                return Err(invalid(format!("channel {c}: a sum is not a normalized pair of finite numbers")));
            }
            match (w.min[c], w.max[c]) {
                (None, None) if count == 0 => {
                    if sums.iter().any(|s| **s != Sum::default()) {
                        return Err(invalid(format!("channel {c}: sums without values")));
                    }
                    min.push(f32::NAN);
                    max.push(f32::NAN);
                }
                (Some(a), Some(b)) if count > 0 && a <= b => {
                    check_means(c, a, b, count, samples, sums)?;
                    min.push(a);
                    max.push(b);
                }
                _ => return Err(invalid(format!("channel {c}: min/max inconsistent with {count} values"))),
            }
        }
        let range = match (min.first(), max.first()) {
            (Some(&a), Some(&b)) if a <= b => Some((a, b)),
            _ => None,
        };
        match (&w.histogram, config.histogram_bins) {
            (None, 0) => {}
            (Some(h), bins) if bins > 0 => {
                let count = w.count.first().copied().unwrap_or(0);
                h.validate(bins, count, range).map_err(invalid)?;
            }
            _ => return Err(invalid("histogram presence does not match histogram_bins")),
        }
        let quantiles = match (w.quantiles, config.quantile_ppm) {
            (None, 0) => None,
            (Some(q), ppm) if ppm > 0 => Some(quantiles(q, w.samples, range)?),
            _ => return Err(invalid("quantile presence does not match quantile_ppm")),
        };
        let ch = Channels {
            count: w.count,
            finite_samples: w.finite_samples,
            min,
            max,
            sum: w.sum,
            sumsq: w.sumsq,
            sum_min: w.sum_min,
            sum_max: w.sum_max,
            sum_abs_max: w.sum_abs_max,
        };
        Ok(TensorStats { config, samples: w.samples, nonfinite: w.nonfinite, ch, histogram: w.histogram, quantiles })
    }
}

/// Checks stored quantiles against the statistics' sample count and range:
/// finite sums, extremes inside `[min, max]` and the means between them.
fn quantiles(q: QuantilesWire, samples: u64, range: Option<(f32, f32)>) -> Result<Quantiles, StatsError> {
    if q.samples > samples || !q.sum_low.is_valid() || !q.sum_high.is_valid() {
        return Err(invalid("quantiles: more samples than the statistics, or a malformed sum"));
    }
    let (min_low, max_high) = match (q.min_low, q.max_high, range) {
        (None, None, _) if q.samples == 0 && q.sum_low == Sum::default() && q.sum_high == Sum::default() => {
            (f32::NAN, f32::NAN)
        }
        (Some(lo), Some(hi), Some((a, b))) if q.samples > 0 && a <= lo && lo <= hi && hi <= b => {
            let n = q.samples as f64;
            let tol = f64::from(a.abs().max(b.abs())) * 1e-6 + 1e-300;
            let (ml, mh) = (q.sum_low.value() / n, q.sum_high.value() / n);
            let inside = |v: f64| v >= f64::from(lo) - tol && v <= f64::from(hi) + tol;
            if !(inside(ml) && inside(mh)) {
                return Err(invalid("quantiles: means outside their extremes"));
            }
            (lo, hi)
        }
        _ => return Err(invalid("quantiles: extremes inconsistent with the samples and range")),
    };
    Ok(Quantiles { samples: q.samples, sum_low: q.sum_low, sum_high: q.sum_high, min_low, max_high })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(t: &TensorStats) -> serde_json::Value {
        serde_json::to_value(t).unwrap_or_default()
    }

    fn parse(v: &serde_json::Value) -> Result<TensorStats, serde_json::Error> {
        serde_json::from_value(v.clone())
    }

    fn sample_stats() -> TensorStats {
        let mut t = TensorStats::new(&StatsConfig::per_tensor(16));
        assert!(t.update(&[4], &[1.0, -2.0, f32::NAN, 3.5]).is_ok());
        t
    }

    #[test]
    fn round_trip_keeps_everything() {
        let t = sample_stats();
        let back = parse(&json(&t));
        assert_eq!(back.ok(), Some(t));
        let empty = TensorStats::new(&StatsConfig::per_channel(2));
        assert_eq!(parse(&json(&empty)).ok(), Some(empty));
        let nan_only = {
            let mut t = TensorStats::new(&StatsConfig::per_channel(0));
            assert!(t.update(&[2, 1], &[f32::NAN, 1.0]).is_ok());
            t
        };
        let v = json(&nan_only);
        assert_eq!(v["min"], serde_json::json!([null, 1.0]));
        assert_eq!(parse(&v).ok(), Some(nan_only));
    }

    #[test]
    fn inconsistent_fields_are_rejected() {
        let good = json(&sample_stats());
        let edits: Vec<(&str, serde_json::Value)> = vec![
            ("histogram_bins", serde_json::json!(1u64 << 40)),
            ("histogram_bins", serde_json::json!(17)),
            ("count", serde_json::json!([3, 1])),
            ("count", serde_json::json!([4])),
            ("samples", serde_json::json!(0)),
            ("finite_samples", serde_json::json!([2])),
            ("min", serde_json::json!([null])),
            ("min", serde_json::json!([9.0])),
            ("sum", serde_json::json!([[1.0, 1.0]])),
            ("sum", serde_json::json!([[100.0, 0.0]])),
            ("sum_min", serde_json::json!([[-2.5, 0.0]])),
            ("sumsq", serde_json::json!([[-1.0, 0.0]])),
            ("granularity", serde_json::json!({"PerChannel": {"axis": 0}})),
            ("histogram", serde_json::Value::Null),
            ("histogram", serde_json::json!({"bins": 16, "level": 5000, "start": 0, "counts": [3]})),
            ("histogram", serde_json::json!({"bins": 16, "level": -20, "start": 0, "counts": [1, 1, 1]})),
            ("extra", serde_json::json!(1)),
        ];
        for (field, value) in edits {
            let mut v = good.clone();
            v[field] = value.clone();
            assert!(parse(&v).is_err(), "{field} = {value} accepted");
        }
    }
}
