//! 2x2, stride-2 max pooling over NCHW planes.

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

multiversion! {
    fn max_pool_on(x: &[f32], hw: [usize; 2], y: &mut [f32], ohw: [usize; 2]) => max_pool_body;
}

/// The larger of `a` and `b`, or NaN if either is NaN (branch-free, so loops
/// of it vectorise).
#[inline(always)]
fn nan_max(a: f32, b: f32) -> f32 {
    let m = if a > b { a } else { b };
    if a.is_nan() { a } else { m }
}

#[inline(always)]
fn max_pool_body(x: &[f32], [h, w]: [usize; 2], y: &mut [f32], [oh, ow]: [usize; 2]) {
    let mut pair = vec![0f32; 2 * ow];
    for (plane, out) in x.chunks_exact(h * w).zip(y.chunks_exact_mut(oh * ow)) {
        for (oy, out_row) in out.chunks_exact_mut(ow).enumerate() {
            let r0 = &plane[2 * oy * w..][..2 * ow];
            let r1 = &plane[(2 * oy + 1) * w..][..2 * ow];
            for ((p, &a), &b) in pair.iter_mut().zip(r0).zip(r1) {
                *p = nan_max(a, b);
            }
            for (o, ab) in out_row.iter_mut().zip(pair.chunks_exact(2)) {
                *o = nan_max(ab[0], ab[1]);
            }
        }
    }
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
