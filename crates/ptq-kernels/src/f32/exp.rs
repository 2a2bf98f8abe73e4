//! Vectorisable e^x for f32 slices.
//!
//! x = n·ln2 + r with n = round(x·log2 e) and |r| ≤ ln2/2 (ln2 split in two
//! parts, so n·ln2_hi is exact), e^r from a degree-7 polynomial, then the
//! result scaled by 2^n in two steps so that subnormal results are rounded
//! once. Everything is plain arithmetic on each lane (no table, no branch;
//! the polynomial's steps are explicit fused multiply-adds, rounded once on
//! every build), so the compiler vectorises it and every build gives the
//! same bits.

use super::isa::{Isa, multiversion};

/// Below this, e^x rounds to 0 (e^-103.97 is half the smallest subnormal).
const LOW: f32 = -104.0;
/// Above this, e^x overflows to +∞ (ln f32::MAX ≈ 88.72).
const HIGH: f32 = 89.0;
const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 = LN2_HI + LN2_LO, LN2_HI (0.693145751953125) with 9 trailing zero
/// bits so n·LN2_HI is exact for every n the clamped range produces.
const LN2_HI: f32 = f32::from_bits(0x3f31_7200);
const LN2_LO: f32 = 1.428_606_8e-6;
/// 1.5·2^23: adding and subtracting it rounds to an integer (ties to even).
const ROUND: f32 = 12_582_912.0;
/// Taylor coefficients 1/k! of e^r for k = 2..7.
const C: [f32; 6] = [0.5, 1.0 / 6.0, 1.0 / 24.0, 1.0 / 120.0, 1.0 / 720.0, 1.0 / 5040.0];

multiversion! {
    /// x = e^x for every element, within 2 ulp of the exact value (NaN stays
    /// NaN, −∞ gives 0, large inputs give +∞, tiny results are subnormal).
    fn exp_on(x: &mut [f32]) => exp_body;
}

/// x = e^x for every element, within 2 ulp of the exact value (an ignored
/// test checks every f32 input; the default tests check a dense sample), and
/// several times faster than calling [`f32::exp`] per element. NaN stays NaN, −∞ gives 0, inputs above
/// ln f32::MAX give +∞, and results below f32::MIN_POSITIVE are subnormal.
pub fn exp(x: &mut [f32]) {
    exp_on(Isa::detect(), x);
}

#[inline(always)]
fn exp_body(x: &mut [f32]) {
    for v in x {
        *v = exp_one(*v);
    }
}

/// e^x for one value, written so a loop over it vectorises.
#[inline(always)]
pub(crate) fn exp_one(x: f32) -> f32 {
    // NaN passes through the clamp and makes every later step NaN.
    let x = x.clamp(LOW, HIGH);
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let mut p = C[5];
    for &c in C[..5].iter().rev() {
        p = p.mul_add(r, c);
    }
    let e_r = 1.0 + (r + r * r * p);
    // n = round(x·log2 e) in [-150, 128] sits in the low mantissa bits of t.
    let n = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let half = n >> 1;
    e_r * pow2(half) * pow2(n - half)
}

/// e^x for x ≤ 0 (softmax's x − max), with about two thirds of
/// [`exp_one`]'s operations: fused multiply-adds where that one rounds
/// twice, a one-sided clamp, and results below `f32::MIN_POSITIVE` (x
/// below about −87.3) flushed to 0 instead of made subnormal. Within 2 ulp
/// of the exact value otherwise; −∞ gives 0 and NaN stays NaN. For x > 0
/// the result is meaningless.
#[inline(always)]
pub(crate) fn exp_nonpositive_one(x: f32) -> f32 {
    // A NaN fails the comparison and stays.
    let x = if x < LOW { LOW } else { x };
    let t = x.mul_add(LOG2E, ROUND);
    let n = t - ROUND;
    let r = (-n).mul_add(LN2_HI, x);
    let r = (-n).mul_add(LN2_LO, r);
    let mut p = C[5];
    for &c in C[..5].iter().rev() {
        p = p.mul_add(r, c);
    }
    let e_r = 1.0 + (r * r).mul_add(p, r);
    // n in [-150, 0]; below -126 the biased exponent clamps to 0, which
    // gives 0.0 (flushing the subnormal results).
    let n = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    e_r * f32::from_bits(((n + 127).max(0) as u32) << 23)
}

/// 2^n for n in [-126, 127] (the halves of n above always are).
#[inline(always)]
fn pow2(n: i32) -> f32 {
    f32::from_bits((n.wrapping_add(127) as u32) << 23)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in representable values between two finite f32 of the same
    /// sign (or 0 and a positive value).
    fn ulps(a: f32, b: f32) -> u32 {
        a.to_bits().abs_diff(b.to_bits())
    }

    fn check(x: f32) {
        let got = exp_one(x);
        let want = (x as f64).exp() as f32;
        if want.is_infinite() || got.is_infinite() {
            assert_eq!(got, want, "exp({x:e})");
        } else {
            assert!(ulps(got, want) <= 2, "exp({x:e}) = {got:e}, want {want:e}");
        }
    }

    #[test]
    fn within_two_ulp_on_a_dense_sample() {
        // Every 61st bit pattern in [LOW, HIGH] (both signs), about 35
        // million inputs; `within_two_ulp_everywhere` covers all of them.
        for bits in (0..=HIGH.to_bits()).step_by(61).chain((0x8000_0000..=LOW.to_bits()).step_by(61)) {
            check(f32::from_bits(bits));
        }
    }

    #[test]
    #[ignore = "about a minute; run with --ignored after touching exp"]
    fn within_two_ulp_everywhere() {
        for bits in (0..=HIGH.to_bits()).chain(0x8000_0000..=LOW.to_bits()) {
            check(f32::from_bits(bits));
        }
    }

    /// The softmax variant: within 2 ulp wherever the result is normal, 0
    /// or within 2^-126 of the exact value below, on every 7th input in
    /// [−104, 0] and the special values.
    #[test]
    fn nonpositive_variant_within_two_ulp() {
        for bits in (0x8000_0000..=LOW.to_bits()).step_by(7) {
            let x = f32::from_bits(bits);
            let (got, want) = (exp_nonpositive_one(x), (x as f64).exp());
            if want >= f64::from(f32::MIN_POSITIVE) {
                assert!(ulps(got, want as f32) <= 2, "exp({x:e}) = {got:e}, want {want:e}");
            } else {
                assert!((f64::from(got) - want).abs() <= f64::from(f32::MIN_POSITIVE), "exp({x:e}) = {got:e}");
            }
        }
        assert_eq!(exp_nonpositive_one(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_nonpositive_one(-1000.0), 0.0);
        assert_eq!(exp_nonpositive_one(0.0), 1.0);
        assert!(exp_nonpositive_one(f32::NAN).is_nan());
    }

    #[test]
    fn special_values() {
        let mut x = [f32::NAN, f32::NEG_INFINITY, f32::INFINITY, 0.0, -0.0, 88.8, -110.0, 1.0, -87.5];
        exp(&mut x);
        assert!(x[0].is_nan());
        assert_eq!(x[1..6], [0.0, f32::INFINITY, 1.0, 1.0, f32::INFINITY]);
        assert_eq!(x[6], 0.0);
        assert!(ulps(x[7], std::f32::consts::E) <= 2);
        assert!(x[8] > 0.0 && x[8] < f32::MIN_POSITIVE);
    }

    #[test]
    fn every_isa_gives_the_same_bits() {
        let x: Vec<f32> = (0..4096).map(|i| (i as f32 - 2048.0) * 0.05).collect();
        let mut base = x.clone();
        exp_on(Isa::Baseline, &mut base);
        let mut fast = x;
        exp(&mut fast);
        assert!(base.iter().zip(&fast).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}
