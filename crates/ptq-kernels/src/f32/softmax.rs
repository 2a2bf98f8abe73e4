//! Numerically stable softmax over contiguous rows.

use super::exp::exp_nonpositive_one;
use super::isa::{Isa, multiversion};

/// Lanes of the reductions: independent partial results the compiler can keep
/// in vector registers (a single running value would force scalar code, since
/// float addition is not reassociated).
pub(crate) const LANES: usize = 16;

/// Replaces every row of `row` contiguous elements with its softmax,
/// exp(x − max) · (1 / Σ exp(x − max)), with an exponential within 2 ulp
/// (exponentials below `f32::MIN_POSITIVE` flushed to 0; see
/// `exp_nonpositive_one`).
///
/// A row holding a NaN becomes all NaN, and so does a row of all −∞. Panics
/// unless `row > 0` and `x.len()` is a multiple of it (an empty `x` is always
/// accepted).
pub fn softmax_rows(x: &mut [f32], row: usize) {
    if x.is_empty() {
        return;
    }
    assert!(row > 0 && x.len().is_multiple_of(row), "softmax_rows: {} elements are not rows of {row}", x.len());
    softmax_on(Isa::detect(), x, row);
}

multiversion! {
    fn softmax_on(x: &mut [f32], row: usize) => softmax_body;
}

#[inline(always)]
fn softmax_body(x: &mut [f32], row: usize) {
    for r in x.chunks_exact_mut(row) {
        let max = max(r);
        // One division per row, then multiplications (as onnxruntime's MLAS).
        let inv = 1.0 / exp_and_sum(r, max);
        for v in r.iter_mut() {
            *v *= inv;
        }
    }
}

/// Largest element (−∞ for an empty slice). A NaN may or may not be
/// skipped: either way its row's exponentials and sum are NaN, so the
/// row becomes all NaN.
#[inline(always)]
fn max(x: &[f32]) -> f32 {
    // One vector instruction (`f32::max` takes three, to skip NaN).
    let larger = |a: f32, b: f32| if b > a { b } else { a };
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a = larger(*a, v);
        }
    }
    let m = fold_lanes(acc, larger);
    tail.iter().fold(m, |m, &v| larger(m, v))
}

/// Combines the `LANES` partial results pairwise, halving the width each
/// step (a tree of depth 4 instead of a chain of `LANES` dependent steps;
/// the fixed widths let each step be one vector operation).
///
/// Never inlined: inlined, its pairwise tree led the compiler to split the
/// callers' accumulation loops into two-lane vectors (an eighth of an
/// AVX-512 register); out of line it runs once per row and the loops use
/// whole registers. It is plain arithmetic, the same on every build.
#[inline(never)]
pub(crate) fn fold_lanes(acc: [f32; LANES], f: impl Fn(f32, f32) -> f32) -> f32 {
    let a: [f32; 8] = std::array::from_fn(|i| f(acc[i], acc[i + 8]));
    let a: [f32; 4] = std::array::from_fn(|i| f(a[i], a[i + 4]));
    let a: [f32; 2] = std::array::from_fn(|i| f(a[i], a[i + 2]));
    f(a[0], a[1])
}

/// Replaces every element with exp(x − max) and returns their sum, in
/// `LANES` interleaved partial sums.
#[inline(always)]
fn exp_and_sum(x: &mut [f32], max: f32) -> f32 {
    let mut acc = [0.0f32; LANES];
    let mut chunks = x.chunks_exact_mut(LANES);
    for c in &mut chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *v = exp_nonpositive_one(*v - max);
            *a += *v;
        }
    }
    let mut s = fold_lanes(acc, |a, b| a + b);
    for v in chunks.into_remainder() {
        *v = exp_nonpositive_one(*v - max);
        s += *v;
    }
    s
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::f32::testutil::values;

    /// Softmax in f64, with each element's distance below the row maximum.
    fn reference(x: &[f32]) -> Vec<(f64, f64)> {
        let max = x.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
        let e: Vec<f64> = x.iter().map(|&v| (v as f64 - max).exp()).collect();
        let s: f64 = e.iter().sum();
        e.iter().zip(x).map(|(v, &xv)| (v / s, max - xv as f64)).collect()
    }

    proptest! {
        #[test]
        fn matches_reference(rows in 0usize..4, row in 1usize..70, scale in prop::sample::select(vec![1.0f32, 30.0, 1000.0]), seed: u64) {
            let mut x: Vec<f32> = values(rows * row, seed).iter().map(|v| v * scale).collect();
            let want: Vec<(f64, f64)> = x.chunks(row).flat_map(reference).collect();
            softmax_rows(&mut x, row);
            for (i, (&got, &(want, below))) in x.iter().zip(&want).enumerate() {
                // x − max is rounded to f32 first: half an ulp of `below`
                // becomes a relative error of the exponential.
                let tol = want * (2e-6 + 6e-8 * below) + 1e-37;
                prop_assert!((got as f64 - want).abs() <= tol, "element {i}: got {got}, want {want}");
            }
            for r in x.chunks(row) {
                let total: f64 = r.iter().map(|&v| v as f64).sum();
                prop_assert!((total - 1.0).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn every_isa_gives_the_same_bits() {
        let x: Vec<f32> = values(37 * 50, 9).iter().map(|v| v * 20.0).collect();
        let mut base = x.clone();
        softmax_on(Isa::Baseline, &mut base, 37);
        let mut fast = x;
        softmax_rows(&mut fast, 37);
        assert!(base.iter().zip(&fast).all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    #[test]
    fn large_inputs_do_not_overflow() {
        let mut x = [1000.0, 1000.0, f32::MAX, -f32::MAX];
        softmax_rows(&mut x, 2);
        assert_eq!(x, [0.5, 0.5, 1.0, 0.0]);
    }

    #[test]
    fn nan_and_all_minus_infinity_rows_become_nan() {
        let mut x = [1.0, f32::NAN, 2.0, f32::NEG_INFINITY, f32::NEG_INFINITY, f32::NEG_INFINITY];
        softmax_rows(&mut x, 3);
        assert!(x.iter().all(|v| v.is_nan()));
    }

    #[test]
    fn minus_infinity_entries_get_zero() {
        let mut x = [f32::NEG_INFINITY, 0.0, f32::NEG_INFINITY, 0.0];
        softmax_rows(&mut x, 4);
        assert_eq!(x, [0.0, 0.5, 0.0, 0.5]);
    }
}
