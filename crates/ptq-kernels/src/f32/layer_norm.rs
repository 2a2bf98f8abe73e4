//! Layer normalisation over contiguous rows.

use super::isa::{Isa, multiversion};
use super::softmax::{LANES, fold_lanes};

/// Normalises every row of `scale.len()` elements of `x` in place:
/// y = (x − mean) / sqrt(var + eps) · scale (+ bias), with the mean and the
/// (biased) variance of the row computed in f32 over 16 interleaved partial
/// sums, the variance as the mean of squared deviations (two passes, no
/// cancellation). Writes each row's mean and 1 / sqrt(var + eps) to `means`
/// and `inv_stds` when given (one per row).
///
/// Panics unless `scale.len() > 0`, `x.len()` is a multiple of it, `bias`
/// (if any) has `scale.len()` elements, and `means` / `inv_stds` (if any)
/// have one element per row.
pub fn layer_norm_rows(
    x: &mut [f32],
    scale: &[f32],
    bias: Option<&[f32]>,
    eps: f32,
    means: Option<&mut [f32]>,
    inv_stds: Option<&mut [f32]>,
) {
    let n = scale.len();
    assert!(n > 0 && x.len().is_multiple_of(n), "layer_norm_rows: {} elements are not rows of {n}", x.len());
    let rows = x.len() / n;
    assert!(bias.is_none_or(|b| b.len() == n), "layer_norm_rows: bias length");
    assert!(means.as_ref().is_none_or(|m| m.len() == rows), "layer_norm_rows: means length");
    assert!(inv_stds.as_ref().is_none_or(|m| m.len() == rows), "layer_norm_rows: inv_stds length");
    layer_norm_on(Isa::detect(), x, scale, bias, eps, means, inv_stds);
}

multiversion! {
    fn layer_norm_on(
        x: &mut [f32],
        scale: &[f32],
        bias: Option<&[f32]>,
        eps: f32,
        means: Option<&mut [f32]>,
        inv_stds: Option<&mut [f32]>,
    ) => layer_norm_body;
}

#[inline(always)]
fn layer_norm_body(
    x: &mut [f32],
    scale: &[f32],
    bias: Option<&[f32]>,
    eps: f32,
    mut means: Option<&mut [f32]>,
    mut inv_stds: Option<&mut [f32]>,
) {
    let n = scale.len();
    for (r, row) in x.chunks_exact_mut(n).enumerate() {
        let mean = sum_by(row, |v| v) / n as f32;
        let var = sum_by(row, |v| (v - mean) * (v - mean)) / n as f32;
        let inv = 1.0 / (var + eps).sqrt();
        match bias {
            Some(b) => {
                for ((v, &s), &b) in row.iter_mut().zip(scale).zip(b) {
                    *v = (*v - mean) * inv * s + b;
                }
            }
            None => {
                for (v, &s) in row.iter_mut().zip(scale) {
                    *v = (*v - mean) * inv * s;
                }
            }
        }
        if let Some(m) = means.as_deref_mut() {
            m[r] = mean;
        }
        if let Some(m) = inv_stds.as_deref_mut() {
            m[r] = inv;
        }
    }
}

/// Σ f(x) in `LANES` interleaved partial sums.
#[inline(always)]
fn sum_by(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += f(v);
        }
    }
    tail.iter().fold(fold_lanes(acc, |a, b| a + b), |s, &v| s + f(v))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::f32::testutil::values;

    proptest! {
        #[test]
        fn matches_f64_reference(n in 1usize..70, rows in 1usize..5, seed in any::<u64>(), with_bias in any::<bool>()) {
            let x = values(rows * n, seed);
            let scale = values(n, seed ^ 1);
            let bias = values(n, seed ^ 2);
            let bias = with_bias.then_some(&bias[..]);
            let (mut y, mut means, mut invs) = (x.clone(), vec![0.0; rows], vec![0.0; rows]);
            layer_norm_rows(&mut y, &scale, bias, 1e-5, Some(&mut means), Some(&mut invs));
            for r in 0..rows {
                let row: Vec<f64> = x[r * n..][..n].iter().map(|&v| v as f64).collect();
                let mean = row.iter().sum::<f64>() / n as f64;
                let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
                let inv = 1.0 / (var + 1e-5).sqrt();
                prop_assert!((means[r] as f64 - mean).abs() <= 1e-5 * (1.0 + mean.abs()));
                prop_assert!((invs[r] as f64 - inv).abs() <= 1e-4 * inv);
                for i in 0..n {
                    let want = (row[i] - mean) * inv * scale[i] as f64 + bias.map_or(0.0, |b| b[i] as f64);
                    let got = y[r * n + i] as f64;
                    prop_assert!((got - want).abs() <= 1e-4 * (1.0 + want.abs()), "row {r} col {i}: {got} vs {want}");
                }
            }
        }
    }

    #[test]
    fn every_build_gives_the_same_bits() {
        let x = values(3 * 37, 7);
        let scale = values(37, 8);
        let mut base = x.clone();
        layer_norm_on(Isa::Baseline, &mut base, &scale, None, 1e-5, None, None);
        let mut fast = x.clone();
        layer_norm_on(Isa::detect(), &mut fast, &scale, None, 1e-5, None, None);
        assert_eq!(base, fast);
    }
}
