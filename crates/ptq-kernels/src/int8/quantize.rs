//! Quantize f32 slices to u8 and dequantize them back (ONNX
//! QuantizeLinear/DequantizeLinear with a per-tensor scale and zero point).
//!
//! Plain loops compiled per instruction set (vectorised by the compiler),
//! without fused multiply-add, so every build gives identical results.
//! Quantization gives the bytes of the division the ONNX definition
//! names, but multiplies by the reciprocal wherever that provably rounds
//! the same (see [`quantize_run`]).

use std::mem::MaybeUninit;

use super::tier::Int8Kernels;
use crate::f32::isa::multiversion;
use crate::uninit::{as_uninit, extend_with};

/// One ONNX QuantizeLinear value, `saturate_u8(round_half_even(v / scale) + zp)`
/// with NaN giving 0. The int8 addition uses it; QuantizeLinear uses
/// [`quantize_run`], which gives the same bytes faster, and the fused
/// epilogues [`quantize_by`].
#[inline(always)]
pub(super) fn quantize_one(v: f32, scale: f32, zp: f32) -> u8 {
    clamp_u8((v / scale).round_ties_even() + zp)
}

/// Where a product `y = v · fl(1/scale)` is too close to a rounding
/// boundary to be sure of: `|y − round(y)| ≥ UNSURE`. Each of the three
/// roundings (the reciprocal, the product, the quotient) is within 2^-24
/// of its exact value, so `y` and the rounded quotient `fl(v / scale)`
/// differ by under 3.0001·2^-24·|y|, which is under 2^-13 for |y| < 512.
/// Beyond that both saturate to the same byte: both round to integers of
/// magnitude 512 or more, on the same side of zero, and every zero point
/// puts those outside [0, 255].
const UNSURE: f32 = 0.5 - 1.0 / 8192.0;

/// [`quantize_one`] with a multiplication by `inv_scale = 1 / scale` where
/// it divides, for the fused epilogues: a division costs as much as a dozen
/// other vector operations. The product can differ from the quotient in its
/// last bit or so, which changes the byte (by one) only where `v / scale`
/// lies that close to a rounding boundary. ([`quantize_run`] detects those
/// places, but the test costs the epilogues a third of their time, more
/// than they would gain.)
#[inline(always)]
pub(super) fn quantize_by(v: f32, inv_scale: f32, zp: f32) -> u8 {
    clamp_u8((v * inv_scale).round_ties_even() + zp)
}

/// The byte [`quantize_one`] gives, computed with a multiplication by
/// `inv = fl(1 / scale)` instead of the division, and whether it might be
/// wrong (see [`UNSURE`]: the quotient could round the other way, or be a
/// tie the product misses). `inv` must be a normal number, or the error
/// bound does not hold.
#[inline(always)]
fn quantize_guess(v: f32, inv: f32, zp: f32) -> (u8, bool) {
    let y = v * inv;
    let r = y.round_ties_even();
    // y − r is exact. A NaN or infinite y gives NaN here, which compares
    // false: both ways it gives the same byte (0, or saturated).
    (clamp_u8(r + zp), (y - r).abs() >= UNSURE)
}

/// QuantizeLinear over a run of values, `out[i] = quantize_one(x[i], scale,
/// zp)` exactly, without dividing where it can: the run is quantized by
/// multiplication, and again by division only if some product was too
/// close to a rounding boundary to be sure of (a fraction 2^-12 of values
/// spread evenly between integers). A division costs as much as a dozen
/// other vector operations. Every element of `out` is written; `x` and
/// `out` have the same length.
#[inline(always)]
fn quantize_run(x: &[f32], scale: f32, zp: f32, out: &mut [MaybeUninit<u8>]) {
    let inv = 1.0 / scale;
    if inv.is_normal() {
        let mut unsure = false;
        for (o, &v) in out.iter_mut().zip(x) {
            let (q, u) = quantize_guess(v, inv, zp);
            o.write(q);
            unsure |= u;
        }
        if !unsure {
            return;
        }
    }
    for (o, &v) in out.iter_mut().zip(x) {
        o.write(quantize_one(v, scale, zp));
    }
}

/// A rounded value plus zero point, clamped to u8.
#[inline(always)]
fn clamp_u8(q: f32) -> u8 {
    // `max` drops a NaN (giving 0), then the value is an integer in
    // [0, 255], so the unchecked conversion vectorises (a saturating
    // `as u8` is done lane by lane).
    #[allow(clippy::manual_clamp)] // `clamp` would keep the NaN.
    let q = q.max(0.0).min(255.0);
    // SAFETY: q is finite and within [0, 255], which i32 represents.
    unsafe { q.to_int_unchecked::<i32>() as u8 }
}

#[inline(always)]
fn quantize_body(x: &[f32], scale: f32, zero_point: u8, out: &mut [MaybeUninit<u8>]) {
    // Runs short enough that a repeat by division costs little.
    const RUN: usize = 256;
    let zp = f32::from(zero_point);
    for (x, o) in x.chunks(RUN).zip(out.chunks_mut(RUN)) {
        quantize_run(x, scale, zp, o);
    }
}

multiversion! {
    fn quantize_isa(x: &[f32], scale: f32, zero_point: u8, out: &mut [MaybeUninit<u8>]) => quantize_body;
}

#[inline(always)]
fn dequantize_body(q: &[u8], scale: f32, zero_point: u8, out: &mut [MaybeUninit<f32>]) {
    let zp = i32::from(zero_point);
    for (o, &v) in out.iter_mut().zip(q) {
        o.write((i32::from(v) - zp) as f32 * scale);
    }
}

multiversion! {
    fn dequantize_isa(q: &[u8], scale: f32, zero_point: u8, out: &mut [MaybeUninit<f32>]) => dequantize_body;
}

impl Int8Kernels {
    /// `out[i] = saturate_u8(round_half_even(x[i] / scale) + zero_point)`, as
    /// ONNX QuantizeLinear; NaN gives 0, ±∞ saturate. `scale` should be
    /// positive and finite. Panics if the lengths differ.
    pub fn quantize_u8(&self, x: &[f32], scale: f32, zero_point: u8, out: &mut [u8]) {
        assert_eq!(x.len(), out.len(), "quantize_u8: {} inputs, {} outputs", x.len(), out.len());
        // SAFETY: the kernel writes only computed values.
        quantize_isa(self.isa, x, scale, zero_point, unsafe { as_uninit(out) });
    }

    /// `out[i] = (q[i] − zero_point)·scale`, as ONNX DequantizeLinear. Panics
    /// if the lengths differ.
    pub fn dequantize_u8(&self, q: &[u8], scale: f32, zero_point: u8, out: &mut [f32]) {
        assert_eq!(q.len(), out.len(), "dequantize_u8: {} inputs, {} outputs", q.len(), out.len());
        // SAFETY: the kernel writes only computed values.
        dequantize_isa(self.isa, q, scale, zero_point, unsafe { as_uninit(out) });
    }

    /// [`Int8Kernels::quantize_u8`] appending `x.len()` bytes to `out`,
    /// without zeroing them first.
    pub fn quantize_u8_extend(&self, x: &[f32], scale: f32, zero_point: u8, out: &mut Vec<u8>) {
        // SAFETY: the kernel writes every element of the slice it is given
        // (one per input value).
        unsafe { extend_with(out, x.len(), |o| quantize_isa(self.isa, x, scale, zero_point, o)) };
    }

    /// [`Int8Kernels::dequantize_u8`] appending `q.len()` values to `out`,
    /// without zeroing them first.
    pub fn dequantize_u8_extend(&self, q: &[u8], scale: f32, zero_point: u8, out: &mut Vec<f32>) {
        // SAFETY: as above.
        unsafe { extend_with(out, q.len(), |o| dequantize_isa(self.isa, q, scale, zero_point, o)) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::int8::Tier;
    use crate::int8::tier::available;

    #[test]
    fn quantize_examples() {
        let k = Int8Kernels::detect();
        let x = [0.0, 0.25, 0.75, -0.25, 1e9, -1e9, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1.25];
        let mut q = [0u8; 10];
        k.quantize_u8(&x, 0.5, 3, &mut q);
        // 0.5 -> 0, 1.5 -> 2, -0.5 -> -0, 2.5 -> 2.
        assert_eq!(q, [3, 3, 5, 3, 255, 0, 0, 255, 0, 5]);
        let mut back = [0f32; 3];
        k.dequantize_u8(&[0, 3, 255], 0.5, 3, &mut back);
        assert_eq!(back, [-1.5, 0.0, 126.0]);
    }

    /// `saturate_u8(round_half_even(v / s) + zp)`, NaN to 0, written out.
    fn divided(v: f32, s: f32, zp: u8) -> u8 {
        let q = (v / s).round_ties_even() + f32::from(zp);
        if q.is_nan() { 0 } else { q.clamp(0.0, 255.0) as u8 }
    }

    /// Values a few ulps either side of every half-integer multiple of the
    /// scale (where a kernel multiplying by the reciprocal instead of
    /// dividing would round some the other way) quantize as the division
    /// does on every tier; so do non-finite values and extreme scales.
    #[test]
    fn quantize_equals_the_division_next_to_every_tie() {
        let scales = [0.013f32, 0.1, 1.0 / 3.0, 0.007_812_5, 3.7e-3, 1.9e-6, 0.77, 5.3, 1e-40, 3e38];
        // One nudge per slice.
        for (&s, d) in scales.iter().flat_map(|s| (-4i32..=4).map(move |d| (s, d))) {
            let mut x: Vec<f32> =
                (-400..400).map(|k| f32::from_bits(((k as f32 + 0.5) * s).to_bits().wrapping_add_signed(d))).collect();
            x.extend([f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0, 1e30, -1e30, f32::MIN_POSITIVE]);
            for zp in [0u8, 77, 255] {
                let want: Vec<u8> = x.iter().map(|&v| divided(v, s, zp)).collect();
                for t in available().iter().chain([&Int8Kernels::detect()]) {
                    let mut got = vec![0u8; x.len()];
                    t.quantize_u8(&x, s, zp, &mut got);
                    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                        assert_eq!(g, w, "{}: {} / {s} + {zp}", t.tier(), x[i]);
                    }
                }
            }
        }
    }

    proptest::proptest! {
        /// Any values, any positive scale: the bytes of the division.
        #[test]
        fn quantize_equals_the_division(
            x in proptest::collection::vec(proptest::num::f32::ANY, 0..600),
            s in proptest::num::f32::POSITIVE | proptest::num::f32::NORMAL,
            zp: u8,
        ) {
            let s = s.abs();
            proptest::prop_assume!(s > 0.0 && s.is_finite());
            let want: Vec<u8> = x.iter().map(|&v| divided(v, s, zp)).collect();
            for t in available() {
                let mut got = vec![0u8; x.len()];
                t.quantize_u8(&x, s, zp, &mut got);
                proptest::prop_assert_eq!(&got, &want, "{}", t.tier());
            }
        }
    }

    #[test]
    fn extend_forms_append_the_same_values() {
        let k = Int8Kernels::detect();
        let x: Vec<f32> = (0..300).map(|i| (i as f32 - 150.0) * 0.037).collect();
        let mut want = vec![0u8; x.len()];
        k.quantize_u8(&x, 0.05, 131, &mut want);
        let mut got = vec![7u8];
        k.quantize_u8_extend(&x, 0.05, 131, &mut got);
        assert_eq!((got[0], &got[1..]), (7, &want[..]));
        let mut back = vec![0f32; want.len()];
        k.dequantize_u8(&want, 0.05, 131, &mut back);
        let mut got = vec![-1.0f32];
        k.dequantize_u8_extend(&want, 0.05, 131, &mut got);
        assert_eq!((got[0], &got[1..]), (-1.0, &back[..]));
    }

    #[test]
    fn tiers_agree_and_round_trip() {
        let x: Vec<f32> = (0..1003).map(|i| ((i * 7919) % 2001) as f32 * 0.0137 - 13.7).collect();
        let scalar = Int8Kernels::for_tier(Tier::Scalar).unwrap();
        let (mut q0, mut d0) = (vec![0u8; x.len()], vec![0f32; x.len()]);
        scalar.quantize_u8(&x, 0.1, 137, &mut q0);
        scalar.dequantize_u8(&q0, 0.1, 137, &mut d0);
        for t in available() {
            let (mut q, mut d) = (vec![0u8; x.len()], vec![0f32; x.len()]);
            t.quantize_u8(&x, 0.1, 137, &mut q);
            t.dequantize_u8(&q, 0.1, 137, &mut d);
            assert_eq!(q, q0, "{}", t.tier());
            assert_eq!(
                d.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                d0.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
        }
        for (&v, &r) in x.iter().zip(&d0) {
            if (-13.7..=11.8).contains(&v) {
                assert!((v - r).abs() <= 0.05 + 1e-5, "{v} -> {r}");
            }
        }
    }
}
