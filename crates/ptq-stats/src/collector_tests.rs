//! Tests of [`TensorStats`]: values against direct computations, merging,
//! quantiles, non-finite input and errors.

use proptest::prelude::*;

use super::*;

/// Direct per-channel statistics of several samples (f64, no tricks).
struct Direct {
    min: Vec<f32>,
    max: Vec<f32>,
    mean_min: Vec<f64>,
    mean_max: Vec<f64>,
    mean_abs_max: Vec<f64>,
    mean: Vec<f64>,
    std: Vec<f64>,
}

fn direct(samples: &[(Vec<usize>, Vec<f32>)], axis: Option<usize>) -> Direct {
    let channels = axis.map_or(1, |a| samples[0].0[a]);
    let mut values: Vec<Vec<f64>> = vec![vec![]; channels];
    let (mut smin, mut smax, mut sabs, mut nsamp) =
        (vec![0.0; channels], vec![0.0; channels], vec![0.0; channels], vec![0u32; channels]);
    for (shape, data) in samples {
        let inner: usize = axis.map_or(data.len().max(1), |a| shape[a + 1..].iter().product());
        let mut per: Vec<Vec<f64>> = vec![vec![]; channels];
        for (k, &x) in data.iter().enumerate() {
            if x.is_finite() {
                per[(k / inner) % channels].push(f64::from(x));
            }
        }
        for c in 0..channels {
            if per[c].is_empty() {
                continue;
            }
            let mn = per[c].iter().copied().fold(f64::INFINITY, f64::min);
            let mx = per[c].iter().copied().fold(f64::NEG_INFINITY, f64::max);
            smin[c] += mn;
            smax[c] += mx;
            sabs[c] += mn.abs().max(mx.abs());
            nsamp[c] += 1;
            values[c].extend_from_slice(&per[c]);
        }
    }
    let n = |c: usize| f64::from(nsamp[c]);
    let mean: Vec<f64> = values.iter().map(|v| v.iter().sum::<f64>() / v.len() as f64).collect();
    Direct {
        min: values.iter().map(|v| v.iter().copied().fold(f64::NAN, f64::min) as f32).collect(),
        max: values.iter().map(|v| v.iter().copied().fold(f64::NAN, f64::max) as f32).collect(),
        mean_min: (0..channels).map(|c| smin[c] / n(c)).collect(),
        mean_max: (0..channels).map(|c| smax[c] / n(c)).collect(),
        mean_abs_max: (0..channels).map(|c| sabs[c] / n(c)).collect(),
        std: values
            .iter()
            .zip(&mean)
            .map(|(v, m)| (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64).sqrt())
            .collect(),
        mean,
    }
}

fn close(got: &[f32], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (c, (&g, &w)) in got.iter().zip(want).enumerate() {
        let tol = 1e-5 * (1.0 + w.abs());
        assert!((f64::from(g) - w).abs() <= tol || (g.is_nan() && w.is_nan()), "{what}[{c}]: {g} vs {w}");
    }
}

fn check(cfg: &StatsConfig, samples: &[(Vec<usize>, Vec<f32>)]) -> TensorStats {
    let mut s = TensorStats::new(cfg);
    for (shape, data) in samples {
        s.update(shape, data).unwrap();
    }
    let d = direct(samples, cfg.axis());
    assert_eq!(s.samples(), samples.len() as u64);
    assert_eq!(s.channels(), d.min.len());
    let same = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| x == y || (x.is_nan() && y.is_nan()));
    assert!(same(s.min(), &d.min), "min {:?} vs {:?}", s.min(), d.min);
    assert!(same(s.max(), &d.max), "max {:?} vs {:?}", s.max(), d.max);
    let abs: Vec<f64> = d.min.iter().zip(&d.max).map(|(a, b)| f64::from(a.abs().max(b.abs()))).collect();
    close(&s.abs_max(), &abs, "abs_max");
    close(&s.mean_min(), &d.mean_min, "mean_min");
    close(&s.mean_max(), &d.mean_max, "mean_max");
    close(&s.mean_abs_max(), &d.mean_abs_max, "mean_abs_max");
    close(&s.mean(), &d.mean, "mean");
    close(&s.std(), &d.std, "std");
    s
}

/// Deterministic pseudo-random data in [-scale, scale).
fn data(len: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

fn samples(shape: &[usize], n: u64) -> Vec<(Vec<usize>, Vec<f32>)> {
    let len = shape.iter().product();
    (0..n).map(|i| (shape.to_vec(), data(len, i, 1.0 + i as f32))).collect()
}

#[test]
fn per_tensor_matches_direct_computation() {
    let s = check(&StatsConfig::per_tensor(0), &samples(&[2, 3, 50], 4));
    assert_eq!(s.channels(), 1);
    assert_eq!(s.count(), &[4 * 300]);
    check(&StatsConfig::default(), &samples(&[7], 3));
    check(&StatsConfig::default(), &[(vec![], vec![2.5])]);
}

#[test]
fn per_channel_matches_direct_computation_on_every_axis() {
    let shape = [3, 4, 5, 6];
    for axis in 0..4 {
        let s = check(&StatsConfig::per_channel(axis), &samples(&shape, 3));
        assert_eq!(s.channels(), shape[axis]);
    }
    // Long contiguous runs (NCHW channels) and channels-last rows.
    check(&StatsConfig::per_channel(1), &samples(&[2, 3, 40], 2));
    check(&StatsConfig::per_channel(2), &samples(&[2, 5, 9], 2));
    check(&StatsConfig::per_channel(0), &samples(&[1], 2));
}

#[test]
fn means_over_samples_of_per_sample_extremes() {
    let mut s = TensorStats::new(&StatsConfig::per_channel(0));
    s.update(&[2, 2], &[1.0, -3.0, 10.0, 20.0]).unwrap();
    s.update(&[2, 2], &[2.0, 5.0, -40.0, 0.0]).unwrap();
    assert_eq!(s.min(), &[-3.0, -40.0]);
    assert_eq!(s.max(), &[5.0, 20.0]);
    assert_eq!(s.abs_max(), vec![5.0, 40.0]);
    assert_eq!(s.mean_min(), vec![-0.5, -15.0]);
    assert_eq!(s.mean_max(), vec![3.0, 10.0]);
    assert_eq!(s.mean_abs_max(), vec![4.0, 30.0]);
    assert_eq!(s.mean(), vec![1.25, -2.5]);
}

#[test]
fn nonfinite_values_are_skipped_and_counted() {
    let mut s = TensorStats::new(&StatsConfig::per_channel(1));
    s.update(&[2, 2], &[f32::NAN, 1.0, f32::INFINITY, -2.0]).unwrap();
    s.update(&[2, 2], &[f32::NEG_INFINITY, 3.0, 5.0, f32::NAN]).unwrap();
    assert_eq!(s.nonfinite(), 4);
    assert_eq!(s.samples(), 2);
    assert_eq!(s.count(), &[1, 3]);
    assert_eq!(s.min(), &[5.0, -2.0]);
    assert_eq!(s.max(), &[5.0, 3.0]);
    // Channel 0 had finite values in the second sample only.
    assert_eq!(s.mean_min(), vec![5.0, 0.5]);
    assert_eq!(s.mean(), vec![5.0, 2.0 / 3.0]);

    let mut t = TensorStats::new(&StatsConfig::default());
    t.update(&[3], &[f32::NAN, f32::INFINITY, f32::NAN]).unwrap();
    assert_eq!((t.samples(), t.nonfinite(), t.count()), (1, 3, &[0u64][..]));
    assert!(t.min()[0].is_nan() && t.mean_max()[0].is_nan() && t.std()[0].is_nan());
    assert!(matches!(t.quantile(0.5), Err(StatsError::NoSamples)));
    let big: Vec<f32> = (0..1000).map(|i| if i % 7 == 0 { f32::NAN } else { i as f32 }).collect();
    t.update(&[1000], &big).unwrap();
    assert_eq!((t.min()[0], t.max()[0]), (1.0, 999.0));
    assert_eq!(t.nonfinite(), 3 + 143);
    assert_eq!(t.histogram().map(Histogram::total), Some(1000 - 143));
}

#[test]
fn empty_samples_change_nothing() {
    let mut s = TensorStats::new(&StatsConfig::per_channel(1));
    s.update(&[4, 0], &[]).unwrap();
    s.update(&[0, 3], &[]).unwrap();
    assert_eq!(s, TensorStats::new(&StatsConfig::per_channel(1)));
    assert_eq!((s.samples(), s.channels()), (0, 0));
    s.update(&[1, 3], &[1.0, 2.0, 3.0]).unwrap();
    let before = s.clone();
    s.update(&[0, 3], &[]).unwrap();
    assert_eq!(s, before);
    // An empty sample with another channel count still disagrees.
    assert!(matches!(s.update(&[0, 4], &[]), Err(StatsError::ChannelMismatch { expected: 3, found: 4 })));
    let mut t = TensorStats::new(&StatsConfig::default());
    t.update(&[0], &[]).unwrap();
    assert_eq!(t.samples(), 0);
    assert_eq!(t.channels(), 1);
    assert!(t.min()[0].is_nan());
}

#[test]
fn bad_input_is_an_error_and_leaves_state_unchanged() {
    let mut s = TensorStats::new(&StatsConfig::per_channel(2));
    assert!(matches!(s.update(&[2, 3], &[0.0; 6]), Err(StatsError::AxisOutOfRange { axis: 2, rank: 2 })));
    assert!(matches!(s.update(&[], &[1.0]), Err(StatsError::AxisOutOfRange { axis: 2, rank: 0 })));
    s.update(&[1, 1, 3], &[1.0, 2.0, 3.0]).unwrap();
    let before = s.clone();
    assert!(matches!(s.update(&[1, 1, 4], &[0.0; 4]), Err(StatsError::ChannelMismatch { expected: 3, found: 4 })));
    assert!(matches!(s.update(&[1, 1, 3], &[0.0; 4]), Err(StatsError::ShapeMismatch { .. })));
    assert!(matches!(s.update(&[usize::MAX, 2, 3], &[0.0; 6]), Err(StatsError::ShapeMismatch { .. })));
    assert_eq!(s, before);
    let mut t = TensorStats::new(&StatsConfig::default());
    assert!(matches!(t.update(&[2, 2], &[0.0; 3]), Err(StatsError::ShapeMismatch { len: 3, .. })));
    assert_eq!(t, TensorStats::new(&StatsConfig::default()));
}

#[test]
fn quantile_errors() {
    let mut s = TensorStats::new(&StatsConfig::per_tensor(0));
    s.update(&[2], &[1.0, 2.0]).unwrap();
    assert!(matches!(s.quantile(0.5), Err(StatsError::NoHistogram)));
    let mut c = TensorStats::new(&StatsConfig {
        granularity: Granularity::PerChannel { axis: 0 },
        histogram_bins: 64,
        quantile_ppm: 0,
    });
    c.update(&[2], &[1.0, 2.0]).unwrap();
    assert!(c.histogram().is_none());
    assert!(matches!(c.quantile(0.5), Err(StatsError::NoHistogram)));
    let mut h = TensorStats::new(&StatsConfig::default());
    assert!(matches!(h.quantile(0.5), Err(StatsError::NoSamples)));
    h.update(&[3], &[1.0, 2.0, 3.0]).unwrap();
    for q in [-0.1, 1.5, f64::NAN] {
        assert!(matches!(h.quantile(q), Err(StatsError::InvalidQuantile(_))));
    }
    assert_eq!(h.quantile(0.0).unwrap(), 1.0);
    assert_eq!(h.quantile(1.0).unwrap(), 3.0);
    assert!((h.quantile(0.5).unwrap() - 2.0).abs() <= h.histogram().unwrap().bin_width() as f32);
}

#[test]
fn merging_mismatched_collectors_fails_and_leaves_state_unchanged() {
    let mut a = TensorStats::new(&StatsConfig::per_channel(0));
    a.update(&[2], &[1.0, 2.0]).unwrap();
    let before = a.clone();
    let mut other_axis = TensorStats::new(&StatsConfig::per_channel(1));
    other_axis.update(&[1, 2], &[1.0, 2.0]).unwrap();
    assert!(matches!(a.merge(&other_axis), Err(StatsError::Incompatible(_))));
    let mut other_channels = TensorStats::new(&StatsConfig::per_channel(0));
    other_channels.update(&[3], &[1.0, 2.0, 3.0]).unwrap();
    assert!(matches!(a.merge(&other_channels), Err(StatsError::Incompatible(_))));
    let mut t = TensorStats::new(&StatsConfig::per_tensor(16));
    assert!(t.merge(&TensorStats::new(&StatsConfig::per_tensor(32))).is_err());
    assert!(t.merge(&TensorStats::new(&StatsConfig::per_tensor(0))).is_err());
    assert_eq!(a, before);
    // An empty per-channel collector merges both ways.
    let empty = TensorStats::new(&StatsConfig::per_channel(0));
    a.merge(&empty).unwrap();
    assert_eq!(a, before);
    let mut e = empty.clone();
    e.merge(&a).unwrap();
    assert_eq!(e, before);
}

#[test]
fn counter_overflow_is_an_error() {
    let mut v = serde_json::to_value(TensorStats::new(&StatsConfig::per_tensor(0))).unwrap();
    v["samples"] = serde_json::json!(u64::MAX);
    v["count"] = serde_json::json!([u64::MAX]);
    v["finite_samples"] = serde_json::json!([1]);
    v["min"] = serde_json::json!([0.0]);
    v["max"] = serde_json::json!([0.0]);
    let mut s: TensorStats = serde_json::from_value(v).unwrap();
    let before = s.clone();
    assert!(matches!(s.update(&[1], &[1.0]), Err(StatsError::Overflow)));
    assert!(matches!(s.merge(&before), Err(StatsError::Overflow)));
    assert_eq!(s, before);
}

#[test]
fn one_sample_collectors_merge_bit_identically() {
    // The calibration pattern: one collector per item, merged in item order.
    for cfg in [StatsConfig::default(), StatsConfig::per_channel(1), StatsConfig::per_channel(2)] {
        let items = samples(&[2, 3, 33], 9);
        let mut single = TensorStats::new(&cfg);
        let mut merged = TensorStats::new(&cfg);
        for (shape, d) in &items {
            single.update(shape, d).unwrap();
            let mut one = TensorStats::new(&cfg);
            one.update(shape, d).unwrap();
            merged.merge(&one).unwrap();
        }
        assert_eq!(merged, single);
    }
}

#[test]
fn large_update_is_linear_and_exact_on_counts() {
    let x = data(1 << 16, 3, 10.0);
    let mut s = TensorStats::new(&StatsConfig::default());
    s.update(&[1 << 16], &x).unwrap();
    let h = s.histogram().unwrap();
    assert_eq!(h.total(), 1 << 16);
    assert!(h.counts().len() <= 2048);
}

fn value() -> impl Strategy<Value = f32> {
    prop_oneof![
        8 => -100.0f32..100.0,
        1 => (-1.0f32..1.0).prop_map(|x| x * 1e-20),
        1 => Just(f32::NAN),
        1 => Just(f32::INFINITY),
        1 => Just(0.0f32),
    ]
}

/// Several samples of shape `[outer, channels, inner]` with random sizes.
fn stream() -> impl Strategy<Value = (Vec<usize>, Vec<Vec<f32>>)> {
    (1usize..4, 1usize..5, 1usize..12, 1usize..8).prop_flat_map(|(o, c, i, n)| {
        let len = o * c * i;
        (Just(vec![o, c, i]), prop::collection::vec(prop::collection::vec(value(), len), n))
    })
}

fn configs() -> impl Strategy<Value = StatsConfig> {
    prop_oneof![
        (0usize..3).prop_map(StatsConfig::per_channel),
        (2usize..40).prop_map(StatsConfig::per_tensor),
        Just(StatsConfig::per_tensor(0)),
    ]
}

fn assert_same_stats(a: &TensorStats, b: &TensorStats) {
    assert_eq!(a.samples(), b.samples());
    assert_eq!(a.nonfinite(), b.nonfinite());
    assert_eq!(a.count(), b.count());
    assert_eq!(a.ch.finite_samples, b.ch.finite_samples);
    let same = |x: &[f32], y: &[f32]| x.iter().zip(y).all(|(p, q)| p == q || (p.is_nan() && q.is_nan()));
    assert!(same(a.min(), b.min()) && same(a.max(), b.max()));
    assert_eq!(a.histogram(), b.histogram());
    for (x, y) in [
        (a.mean(), b.mean()),
        (a.std(), b.std()),
        (a.mean_min(), b.mean_min()),
        (a.mean_max(), b.mean_max()),
        (a.mean_abs_max(), b.mean_abs_max()),
    ] {
        for (p, q) in x.iter().zip(&y) {
            assert!((p - q).abs() <= 1e-6 * (1.0 + p.abs()) || (p.is_nan() && q.is_nan()), "{p} vs {q}");
        }
    }
}

proptest! {
    #[test]
    fn merge_equals_single_stream(cfg in configs(), (shape, items) in stream(), split in any::<prop::sample::Index>()) {
        let cut = split.index(items.len() + 1);
        let mut single = TensorStats::new(&cfg);
        let (mut a, mut b) = (TensorStats::new(&cfg), TensorStats::new(&cfg));
        for (k, d) in items.iter().enumerate() {
            single.update(&shape, d).unwrap();
            if k < cut { a.update(&shape, d).unwrap() } else { b.update(&shape, d).unwrap() }
        }
        let mut ab = a.clone();
        ab.merge(&b).unwrap();
        assert_same_stats(&ab, &single);
        // Merging in the other order gives the same statistics.
        b.merge(&a).unwrap();
        assert_same_stats(&b, &single);
    }

    #[test]
    fn quantile_within_one_bin_of_exact(items in prop::collection::vec(prop::collection::vec(value(), 1..60), 1..5),
                                        bins in 2usize..100, q in 0.0f64..=1.0) {
        let mut s = TensorStats::new(&StatsConfig::per_tensor(bins));
        for d in &items {
            s.update(&[d.len()], d).unwrap();
        }
        let mut all: Vec<f64> = items.concat().into_iter().filter(|x| x.is_finite()).map(f64::from).collect();
        if all.is_empty() {
            prop_assert!(s.quantile(q).is_err());
            return Ok(());
        }
        all.sort_by(f64::total_cmp);
        let pos = q * (all.len() - 1) as f64;
        let (i, frac) = (pos.floor() as usize, pos - pos.floor());
        let exact = all[i] + frac * (all[(i + 1).min(all.len() - 1)] - all[i]);
        let est = f64::from(s.quantile(q).unwrap());
        let width = s.histogram().unwrap().bin_width();
        prop_assert!((est - exact).abs() <= width + f64::from(f32::EPSILON) * exact.abs(),
            "q {} est {} exact {} width {}", q, est, exact, width);
    }
}

#[test]
fn per_sample_quantiles_are_kept_merged_and_stored() {
    // Sample k holds 0..=100 shifted by k: its 1 % and 99 % quantiles are
    // k + 1 and k + 99 (numpy's linear interpolation lands on them).
    let cfg = StatsConfig { quantile_ppm: 10_000, ..StatsConfig::per_tensor(0) };
    let sample = |k: usize| (0..=100).map(|i| (i + k) as f32).rev().collect::<Vec<f32>>();
    let mut all = TensorStats::new(&cfg);
    let (mut a, mut b) = (TensorStats::new(&cfg), TensorStats::new(&cfg));
    for k in 0..4 {
        let x = sample(k);
        all.update(&[x.len()], &x).unwrap();
        if k < 2 { &mut a } else { &mut b }.update(&[x.len()], &x).unwrap();
    }
    assert_eq!(all.quantile_extremes(), Some((1.0, 102.0)));
    assert_eq!(all.mean_quantiles(), Some((2.5, 100.5)));
    a.merge(&b).unwrap();
    assert_eq!(a, all);
    // Interpolated: 0.5 % of 0..=100 is 0.5.
    let mut half = TensorStats::new(&StatsConfig { quantile_ppm: 5_000, ..StatsConfig::per_tensor(0) });
    let x = sample(0);
    half.update(&[x.len()], &x).unwrap();
    assert_eq!(half.quantile_extremes(), Some((0.5, 99.5)));
    // Non-finite values are left out; per-channel statistics keep none.
    let mut nan = TensorStats::new(&cfg);
    nan.update(&[3], &[f32::NAN, 1.0, f32::INFINITY]).unwrap();
    assert_eq!(nan.quantile_extremes(), Some((1.0, 1.0)));
    let pc = TensorStats::new(&StatsConfig { quantile_ppm: 10_000, ..StatsConfig::per_channel(0) });
    assert_eq!(pc.config().quantile_ppm, 0);
    // Stored and loaded as they were; a file that breaks them is refused.
    let json = serde_json::to_string(&all).unwrap();
    let back: TensorStats = serde_json::from_str(&json).unwrap();
    assert_eq!(back, all);
    let bad = json.replace("\"min_low\":1.0", "\"min_low\":-5.0");
    assert_ne!(bad, json);
    assert!(serde_json::from_str::<TensorStats>(&bad).is_err());
    // Statistics without quantiles still load from files written before them.
    let plain = TensorStats::new(&StatsConfig::per_tensor(0));
    let back: TensorStats = serde_json::from_str(&serde_json::to_string(&plain).unwrap()).unwrap();
    assert!(back.mean_quantiles().is_none());
}
