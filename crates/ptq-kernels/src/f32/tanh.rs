//! Vectorisable tanh and logistic sigmoid for f32 slices, built on
//! [`exp_one`](super::exp::exp_one).
//!
//! tanh: below |x| = 0.55 its odd Taylor series to x¹⁷ (the next term is
//! under 5e-9 of the result there), above it 1 − 2 / (e^{2|x|} + 1), the
//! sign put back last. Both are computed for every lane and one is
//! selected, so the loop has no branch and vectorises; the polynomial steps
//! are explicit fused multiply-adds, so every build gives the same bits.
//! sigmoid: 1 / (1 + e^{−x}).

use super::exp::exp_one;
use super::isa::{Isa, multiversion};

/// Where tanh switches from the series to the exponential form.
const SERIES_BELOW: f32 = 0.55;
/// The series' coefficients of x³, x⁵, …, x¹⁷ (tanh x = x + Σ cₖ x^(2k+1)).
const T: [f32; 8] = [
    -1.0 / 3.0,
    2.0 / 15.0,
    -17.0 / 315.0,
    62.0 / 2835.0,
    -1382.0 / 155_925.0,
    21_844.0 / 6_081_075.0,
    -929_569.0 / 638_512_875.0,
    6_404_582.0 / 10_854_718_875.0,
];

multiversion! {
    /// x = tanh x for every element.
    fn tanh_on(x: &mut [f32]) => tanh_body;
}

multiversion! {
    /// x = 1 / (1 + e^−x) for every element.
    fn sigmoid_on(x: &mut [f32]) => sigmoid_body;
}

/// x = tanh x for every element, within 2 ulp of the exact value (the
/// tests check a dense sample of all inputs), and several times faster
/// than calling [`f32::tanh`] per element. NaN stays NaN, ±0 stays ±0, and
/// large inputs give ±1.
pub fn tanh(x: &mut [f32]) {
    tanh_on(Isa::detect(), x);
}

/// x = 1 / (1 + e^−x) for every element, within 3 ulp of the exact value
/// where that is a normal number (the tests check a dense sample), and
/// several times faster than [`f32::exp`] per element. NaN stays NaN;
/// below about −88.7 the result is 0, as `1 / (1 + f32::exp(-x))` gives.
pub fn sigmoid(x: &mut [f32]) {
    sigmoid_on(Isa::detect(), x);
}

#[inline(always)]
fn tanh_body(x: &mut [f32]) {
    for v in x {
        *v = tanh_one(*v);
    }
}

#[inline(always)]
fn sigmoid_body(x: &mut [f32]) {
    for v in x {
        *v = 1.0 / (1.0 + exp_one(-*v));
    }
}

/// tanh of one value, written so a loop over it vectorises.
#[inline(always)]
fn tanh_one(x: f32) -> f32 {
    let a = x.abs();
    let z = a * a;
    let mut p = T[7];
    for &c in T[..7].iter().rev() {
        p = p.mul_add(z, c);
    }
    let series = (a * z).mul_add(p, a);
    // e^{2a} overflows to +∞ above a ≈ 44, where the quotient is 0 and the
    // result 1; a NaN stays NaN through both forms.
    let exponential = 1.0 - 2.0 / (exp_one(a + a) + 1.0);
    let r = if a < SERIES_BELOW { series } else { exponential };
    r.copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f32, b: f32) -> u32 {
        a.to_bits().abs_diff(b.to_bits())
    }

    /// Every 97th bit pattern of the non-negative floats up to 2¹²⁰ (about
    /// 11 million inputs; tanh is odd, and the negative half runs the same
    /// lanes with the sign put back).
    fn sample() -> impl Iterator<Item = f32> {
        (0..=0x7b80_0000u32).step_by(97).map(f32::from_bits)
    }

    #[test]
    fn tanh_within_two_ulp_on_a_dense_sample() {
        let xs: Vec<f32> = sample().flat_map(|x| [x, -x]).collect();
        let mut got = xs.clone();
        tanh(&mut got);
        for (&x, &g) in xs.iter().zip(&got) {
            let want = (x as f64).tanh() as f32;
            assert!(ulps(g, want) <= 2, "tanh({x:e}) = {g:e}, want {want:e}");
        }
    }

    #[test]
    fn sigmoid_within_three_ulp_on_a_dense_sample() {
        let xs: Vec<f32> = sample().flat_map(|x| [x, -x]).filter(|x| *x > -87.0).collect();
        let mut got = xs.clone();
        sigmoid(&mut got);
        for (&x, &g) in xs.iter().zip(&got) {
            let want = (1.0 / (1.0 + (-(x as f64)).exp())) as f32;
            assert!(ulps(g, want) <= 3, "sigmoid({x:e}) = {g:e}, want {want:e}");
        }
    }

    #[test]
    fn special_values() {
        let mut t = [f32::NAN, 0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY, 50.0, -1e30];
        tanh(&mut t);
        assert!(t[0].is_nan());
        assert_eq!(t[1].to_bits(), 0.0f32.to_bits());
        assert_eq!(t[2].to_bits(), (-0.0f32).to_bits());
        assert_eq!(t[3..], [1.0, -1.0, 1.0, -1.0]);
        let mut s = [f32::NAN, 0.0, f32::INFINITY, f32::NEG_INFINITY, 100.0, -100.0];
        sigmoid(&mut s);
        assert!(s[0].is_nan());
        assert_eq!(s[1..], [0.5, 1.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn every_isa_gives_the_same_bits() {
        let x: Vec<f32> = (0..4096).map(|i| (i as f32 - 2048.0) * 0.01).collect();
        for (on, all) in [(tanh_on as fn(Isa, &mut [f32]), tanh as fn(&mut [f32])), (sigmoid_on, sigmoid)] {
            let mut base = x.clone();
            on(Isa::Baseline, &mut base);
            let mut fast = x.clone();
            all(&mut fast);
            assert!(base.iter().zip(&fast).all(|(a, b)| a.to_bits() == b.to_bits()));
        }
    }
}
