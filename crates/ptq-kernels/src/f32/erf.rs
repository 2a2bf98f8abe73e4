//! A fast f32 error function, and the exact (erf) GELU built on it: a
//! rational approximation on [-4, 4] (beyond which erf is ±1 in f32),
//! written so loops over it vectorise, with one build per instruction set
//! (the polynomials use explicit fused multiply-adds, which round the same
//! on every build).

use super::isa::{Isa, multiversion};

const A: [f32; 7] =
    [-2.726_142_3e-10, 2.770_681_4e-8, -2.101_024e-6, -5.692_506_4e-5, -7.349_906_3e-4, -2.954_6e-3, -1.609_603_3e-2];
const B: [f32; 5] = [-1.456_607_2e-5, -2.133_740_6e-4, -1.682_827e-3, -7.373_329e-3, -1.426_474e-2];

/// erf in place: within a few ulp of the exact value for every finite f32
/// (NaN stays NaN); the same bits on every instruction set.
pub fn erf(x: &mut [f32]) {
    erf_on(Isa::detect(), x);
}

/// GELU(x) = x·½·(1 + erf(x/√2)) in place, with [`erf`]'s error function.
pub fn gelu(x: &mut [f32]) {
    gelu_on(Isa::detect(), x);
}

multiversion! {
    fn erf_on(x: &mut [f32]) => erf_body;
}

multiversion! {
    fn gelu_on(x: &mut [f32]) => gelu_body;
}

#[inline(always)]
fn erf_body(x: &mut [f32]) {
    for v in x {
        *v = erf1(*v);
    }
}

#[inline(always)]
fn gelu_body(x: &mut [f32]) {
    for v in x {
        *v = gelu_one(*v);
    }
}

/// Exact GELU of one value, `0.5·x·(1 + erf(x/√2))`, as [`gelu`] computes it
/// (the int8 epilogues apply it with the same operations, so fused and
/// separate passes give the same bits).
#[inline(always)]
pub(crate) fn gelu_one(x: f32) -> f32 {
    0.5 * x * (1.0 + erf1(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// erf of one value.
#[inline(always)]
fn erf1(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = A[0];
    for &a in &A[1..] {
        p = p.mul_add(x2, a);
    }
    let mut q = B[0];
    for &b in &B[1..] {
        q = q.mul_add(x2, b);
    }
    x * p / q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_to_libm_everywhere() {
        let mut worst = 0f64;
        let mut x = -6.0f32;
        while x < 6.0 {
            let e = (f64::from(erf1(x)) - libm::erf(f64::from(x))).abs();
            worst = worst.max(e / libm::erf(f64::from(x)).abs().max(1e-30));
            x += 1e-4;
        }
        assert!(worst < 2e-6, "worst relative error {worst:e}");
        assert!(erf1(f32::NAN).is_nan());
        assert_eq!(erf1(0.0), 0.0);
    }

    /// Every instruction set's build gives the scalar function's bits, on a
    /// length with a tail, special values included.
    #[test]
    fn every_isa_matches_the_scalar_function() {
        let mut x: Vec<f32> = (0..1001).map(|i| (i as f32 - 500.0) * 0.0123).collect();
        x.extend([f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0, 1e-30]);
        let want_erf: Vec<u32> = x.iter().map(|&v| erf1(v).to_bits()).collect();
        let want_gelu: Vec<u32> =
            x.iter().map(|&v| (0.5 * v * (1.0 + erf1(v * std::f32::consts::FRAC_1_SQRT_2))).to_bits()).collect();
        for isa in Isa::available() {
            let mut e = x.clone();
            erf_on(isa, &mut e);
            assert_eq!(e.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want_erf, "{isa:?}");
            let mut g = x.clone();
            gelu_on(isa, &mut g);
            assert_eq!(g.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want_gelu, "{isa:?}");
        }
    }
}
