//! 2x2, stride-2 max pooling over NCHW planes.

#[cfg(target_arch = "x86_64")]
use super::isa::lane_mask;
use super::isa::{Isa, multiversion};

/// y\[p, oy, ox\] = max of x\[p, 2·oy .. 2·oy + 2, 2·ox .. 2·ox + 2\] for every
/// plane p of `h`×`w` input and `oh`×`ow` output (`2·oh ≤ h`, `2·ow ≤ w`; a
/// trailing odd row or column is not read). A NaN anywhere in a window makes
/// that output NaN.
///
/// Panics if `x` is not a whole number of `h`×`w` planes, if `y` does not
/// hold the same number of `oh`×`ow` planes, or if a window leaves the plane.
pub fn max_pool_2x2(x: &[f32], [h, w]: [usize; 2], y: &mut [f32], [oh, ow]: [usize; 2]) {
    assert!(2 * oh <= h && 2 * ow <= w, "max_pool_2x2: {oh}x{ow} windows do not fit {h}x{w}");
    let (plane_in, plane_out) = (h * w, oh * ow);
    if plane_out == 0 {
        assert!(y.is_empty(), "max_pool_2x2: y must be empty for an empty output plane");
        return;
    }
    assert!(
        plane_in > 0 && x.len().is_multiple_of(plane_in) && y.len() == x.len() / plane_in * plane_out,
        "max_pool_2x2: x has {} elements and y {}, for {h}x{w} → {oh}x{ow} planes",
        x.len(),
        y.len()
    );
    max_pool_on(Isa::detect(), x, [h, w], y, [oh, ow]);
}

/// `max_pool_2x2` on `isa`: the AVX-512 build with masked row loads when a
/// staged row pair fits one register (2·`ow` ≤ 16), else the generic body.
fn max_pool_on(isa: Isa, x: &[f32], hw: [usize; 2], y: &mut [f32], ohw: [usize; 2]) {
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx512 && 2 * ohw[1] <= 16 {
        // SAFETY: AVX-512F was detected (`Isa::Avx512`) and the row length
        // is at most 16; the caller checked the plane lengths.
        unsafe { max_pool_short_rows(x, hw, y, ohw) };
        return;
    }
    max_pool_any(isa, x, hw, y, ohw);
}

multiversion! {
    fn max_pool_any(x: &[f32], hw: [usize; 2], y: &mut [f32], ohw: [usize; 2]) => max_pool_body;
}

/// The larger of `a` and `b`, or NaN if either is NaN (branch-free, so loops
/// of it vectorise).
#[inline(always)]
fn nan_max(a: f32, b: f32) -> f32 {
    let m = if a > b { a } else { b };
    if a.is_nan() { a } else { m }
}

/// Output rows staged per pass: their vertical maxima (2·`ow` each) stay in
/// L1 for the horizontal pass.
const STAGE: usize = 4096;

/// Two passes per batch of output rows, so that small planes vectorise as
/// well as large ones: `vertical` writes the element-wise maximum of each
/// row pair (the 2·`ow` leading floats of input rows 2·oy and 2·oy + 1) to
/// a staging buffer, then one loop over the whole buffer takes the maximum
/// of adjacent pairs (staged rows are 2·`ow` long, so pairs never straddle
/// rows).
#[inline(always)]
fn staged(
    x: &[f32],
    [h, w]: [usize; 2],
    y: &mut [f32],
    [oh, ow]: [usize; 2],
    mut vertical: impl FnMut(&[f32], &mut [f32]),
) {
    let row = 2 * ow;
    let per = (STAGE / row).max(1);
    let mut stage = vec![0f32; per * row];
    let (mut k, mut done) = (0, 0);
    let mut flush = |stage: &[f32], rows: usize, done: usize| {
        for (o, ab) in y[done * ow..][..rows * ow].iter_mut().zip(stage[..rows * row].chunks_exact(2)) {
            *o = nan_max(ab[0], ab[1]);
        }
    };
    for plane in x.chunks_exact(h * w) {
        for oy in 0..oh {
            vertical(&plane[2 * oy * w..][..w + row], &mut stage[k * row..][..row]);
            k += 1;
            if k == per {
                flush(&stage, k, done);
                (done, k) = (done + k, 0);
            }
        }
    }
    flush(&stage, k, done);
}

#[inline(always)]
fn max_pool_body(x: &[f32], hw: [usize; 2], y: &mut [f32], ohw: [usize; 2]) {
    let w = hw[1];
    staged(x, hw, y, ohw, |pair, dst| {
        let row = dst.len();
        for ((d, &a), &b) in dst.iter_mut().zip(&pair[..row]).zip(&pair[w..][..row]) {
            *d = nan_max(a, b);
        }
    });
}

/// [`max_pool_body`] for row pairs of at most 16 floats: one masked load of
/// each row and one masked store per pair.
///
/// # Safety
/// The CPU must support AVX-512F, `2·ow ≤ 16`, and the lengths must be those
/// `max_pool_2x2` checks.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn max_pool_short_rows(x: &[f32], hw: [usize; 2], y: &mut [f32], ohw: [usize; 2]) {
    use std::arch::x86_64::{
        _CMP_UNORD_Q, _mm512_cmp_ps_mask, _mm512_mask_mov_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps,
        _mm512_max_ps,
    };
    let w = hw[1];
    let mask = lane_mask(2 * ohw[1]);
    staged(x, hw, y, ohw, |pair, dst| {
        assert!(pair.len() >= w + dst.len() && dst.len() <= 16);
        // SAFETY: the masks cover `dst.len()` lanes, inside `pair` from 0
        // and from `w` (asserted) and inside `dst`.
        unsafe {
            let a = _mm512_maskz_loadu_ps(mask, pair.as_ptr());
            let b = _mm512_maskz_loadu_ps(mask, pair.as_ptr().add(w));
            // max_ps returns `b` when either is NaN; a NaN `a` is put back.
            let m = _mm512_mask_mov_ps(_mm512_max_ps(a, b), _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(a, a), a);
            _mm512_mask_storeu_ps(dst.as_mut_ptr(), mask, m);
        }
    });
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::f32::testutil::values;

    fn reference(x: &[f32], [h, w]: [usize; 2], [oh, ow]: [usize; 2]) -> Vec<f32> {
        let planes = x.len() / (h * w);
        let mut y = vec![];
        for p in 0..planes {
            for oy in 0..oh {
                for ox in 0..ow {
                    let win =
                        [(0, 0), (0, 1), (1, 0), (1, 1)].map(|(dy, dx)| x[p * h * w + (2 * oy + dy) * w + 2 * ox + dx]);
                    y.push(if win.iter().any(|v| v.is_nan()) {
                        f32::NAN
                    } else {
                        win.iter().copied().fold(f32::NEG_INFINITY, f32::max)
                    });
                }
            }
        }
        y
    }

    proptest! {
        #[test]
        fn matches_reference(planes in 1usize..4, h in 2usize..12, w in 2usize..40, seed in any::<u64>(), nan_at in any::<Option<prop::sample::Index>>()) {
            let mut x = values(planes * h * w, seed);
            if let Some(i) = nan_at {
                let at = i.index(x.len());
                x[at] = f32::NAN;
            }
            let (oh, ow) = (h / 2, w / 2);
            let want = reference(&x, [h, w], [oh, ow]);
            for isa in [Isa::Baseline, Isa::detect()] {
                let mut y = vec![0.0; planes * oh * ow];
                max_pool_on(isa, &x, [h, w], &mut y, [oh, ow]);
                for (g, e) in y.iter().zip(&want) {
                    prop_assert!(g == e || (g.is_nan() && e.is_nan()), "{isa:?}: {g} vs {e}");
                }
            }
        }
    }
}
