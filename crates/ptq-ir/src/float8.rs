//! 8-bit floating-point element types: ONNX `FLOAT8E4M3FN`, `FLOAT8E4M3FNUZ`,
//! `FLOAT8E5M2` and `FLOAT8E5M2FNUZ`.
//!
//! Each type is a newtype over its raw byte (sign bit, exponent bits, mantissa
//! bits, most significant first), so tensors of them are plain byte arrays
//! tagged by the element type. Equality (`PartialEq`) compares bytes, not
//! values: `-0 != +0` and a NaN equals itself.
//!
//! | type | exponent bits, bias | mantissa bits | infinity | NaN | negative zero | largest finite |
//! |---|---|---|---|---|---|---|
//! | [`F8E4M3FN`] | 4, 7 | 3 | none | `S.1111.111` | yes | 448 |
//! | [`F8E4M3FNUZ`] | 4, 8 | 3 | none | `0x80` only | no | 240 |
//! | [`F8E5M2`] | 5, 15 | 2 | `S.11111.00` | `S.11111.{01,10,11}` | yes | 57344 |
//! | [`F8E5M2FNUZ`] | 5, 16 | 2 | none | `0x80` only | no | 57344 |
//!
//! Conversion to `f32` is exact. Conversion from `f32` or `f64` rounds to the
//! nearest representable value, ties to even, and treats values whose rounded
//! magnitude exceeds the largest finite value (and infinities) as the ONNX
//! `Cast` operator specifies (opset 19 and later, as clarified in the current
//! ONNX spec):
//!
//! | x | saturate | E4M3FN | E4M3FNUZ | E5M2 | E5M2FNUZ |
//! |---|---|---|---|---|---|
//! | ±0 | any | ±0 | +0 | ±0 | +0 |
//! | NaN | any | NaN | NaN | NaN | NaN |
//! | ±inf or \|\[x\]\| > max | true | ±max | ±max | ±max | ±max |
//! | ±inf or \|\[x\]\| > max | false | NaN | NaN | ±inf | NaN |
//!
//! Values that round to zero keep their sign where the type has a negative
//! zero and become +0 where it does not.

use std::fmt;

/// Parameters of one float8 encoding.
struct Format {
    /// Mantissa (fraction) bits.
    mant: i32,
    /// Exponent bias.
    bias: i32,
    /// The magnitude byte of the largest finite value.
    max: u8,
    /// Infinities exist (E5M2: `0x7C` magnitude).
    inf: bool,
    /// "Unsigned zero": no negative zero, the only NaN is `0x80`.
    uz: bool,
}

impl Format {
    /// The exponent field width.
    fn exp_bits(&self) -> i32 {
        7 - self.mant
    }

    /// True when `bits` encodes NaN.
    fn is_nan(&self, bits: u8) -> bool {
        let mag = bits & 0x7F;
        if self.uz {
            bits == 0x80
        } else if self.inf {
            mag > 0x7C
        } else {
            mag == 0x7F
        }
    }

    /// The NaN code for a value of the given sign bit.
    fn nan(&self, sign: u8) -> u8 {
        if self.uz { 0x80 } else { 0x7F | sign }
    }

    /// Exact value of `bits` (NaN for NaN codes, ±inf for E5M2's infinities).
    fn decode(&self, bits: u8) -> f32 {
        if self.is_nan(bits) {
            return f32::NAN;
        }
        let mag = bits & 0x7F;
        let negative = bits & 0x80 != 0;
        if self.inf && mag == 0x7C {
            return if negative { f32::NEG_INFINITY } else { f32::INFINITY };
        }
        let exp = i32::from(mag >> self.mant);
        let frac = i32::from(mag) & ((1 << self.mant) - 1);
        // Subnormals have exponent field 0, an implicit leading 0 and the exponent of field 1.
        let (significand, e) =
            if exp == 0 { (frac, 1 - self.bias) } else { (frac + (1 << self.mant), exp - self.bias) };
        // significand < 16 and |e - mant| < 20: exact in f32.
        let v = significand as f32 * 2f32.powi(e - self.mant);
        if negative { -v } else { v }
    }

    /// The code nearest to `x` (ties to even) under the ONNX saturation rules.
    fn encode(&self, x: f64, saturate: bool) -> u8 {
        let sign = if x.is_sign_negative() { 0x80 } else { 0 };
        if x.is_nan() {
            return self.nan(sign);
        }
        let overflow = || {
            if saturate {
                self.max | sign
            } else if self.inf {
                0x7C | sign
            } else {
                self.nan(sign)
            }
        };
        let a = x.abs();
        if a.is_infinite() {
            return overflow();
        }
        let min_exp = 1 - self.bias;
        let min_normal = 2f64.powi(min_exp);
        // The spacing of representable values around `a`: fixed below the
        // smallest normal, 2^(e - mant) in binade e above it.
        let e = if a >= min_normal { exponent(a) } else { min_exp };
        let quantum = 2f64.powi(e - self.mant);
        // Scaling by a power of two is exact, so this rounds exactly once.
        let r = (a / quantum).round_ties_even() * quantum;
        if r > f64::from(self.decode(self.max)) {
            return overflow();
        }
        if r == 0.0 {
            return if self.uz { 0 } else { sign };
        }
        let mag = if r < min_normal {
            (r / 2f64.powi(min_exp - self.mant)) as u8
        } else {
            // Rounding may have carried into the next binade.
            let e = exponent(r);
            let frac = (r / 2f64.powi(e - self.mant)) as i32 - (1 << self.mant);
            (((e + self.bias) << self.mant) | frac) as u8
        };
        mag | sign
    }
}

/// The binary exponent of a positive normal `f64`: `floor(log2(a))`.
fn exponent(a: f64) -> i32 {
    ((a.to_bits() >> 52) & 0x7FF) as i32 - 1023
}

macro_rules! float8 {
    ($(#[$doc:meta])* $name:ident, $fmt:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
        pub struct $name(pub u8);

        impl $name {
            const FORMAT: Format = $fmt;
            /// Positive zero.
            pub const ZERO: $name = $name(0);

            /// The value with this raw byte.
            pub const fn from_bits(bits: u8) -> $name {
                $name(bits)
            }

            /// The raw byte.
            pub const fn to_bits(self) -> u8 {
                self.0
            }

            /// The exact value as `f32` (NaN for NaN codes).
            pub fn to_f32(self) -> f32 {
                Self::FORMAT.decode(self.0)
            }

            /// The exact value as `f64`.
            pub fn to_f64(self) -> f64 {
                f64::from(self.to_f32())
            }

            /// `x` rounded to nearest, ties to even; out-of-range values and
            /// infinities follow the ONNX `saturate` rules (see the module docs).
            pub fn from_f32(x: f32, saturate: bool) -> $name {
                $name(Self::FORMAT.encode(f64::from(x), saturate))
            }

            /// Like [`Self::from_f32`], rounding `x` once (no intermediate `f32`).
            pub fn from_f64(x: f64, saturate: bool) -> $name {
                $name(Self::FORMAT.encode(x, saturate))
            }

            /// True for NaN codes.
            pub fn is_nan(self) -> bool {
                Self::FORMAT.is_nan(self.0)
            }

            /// The largest finite value.
            pub fn max_value() -> $name {
                $name(Self::FORMAT.max)
            }

            /// Exponent field width in bits.
            pub fn exponent_bits() -> i32 {
                Self::FORMAT.exp_bits()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:#04x}: {})", stringify!($name), self.0, self.to_f32())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.to_f32(), f)
            }
        }
    };
}

float8!(
    /// ONNX `FLOAT8E4M3FN`: 4 exponent bits (bias 7), 3 mantissa bits, no
    /// infinities, NaN is `S.1111.111`, largest finite 448.
    F8E4M3FN,
    Format { mant: 3, bias: 7, max: 0x7E, inf: false, uz: false }
);
float8!(
    /// ONNX `FLOAT8E4M3FNUZ`: 4 exponent bits (bias 8), 3 mantissa bits, no
    /// infinities or negative zero, NaN is `0x80`, largest finite 240.
    F8E4M3FNUZ,
    Format { mant: 3, bias: 8, max: 0x7F, inf: false, uz: true }
);
float8!(
    /// ONNX `FLOAT8E5M2`: 5 exponent bits (bias 15), 2 mantissa bits, IEEE-like
    /// infinities and NaNs, largest finite 57344.
    F8E5M2,
    Format { mant: 2, bias: 15, max: 0x7B, inf: true, uz: false }
);
float8!(
    /// ONNX `FLOAT8E5M2FNUZ`: 5 exponent bits (bias 16), 2 mantissa bits, no
    /// infinities or negative zero, NaN is `0x80`, largest finite 57344.
    F8E5M2FNUZ,
    Format { mant: 2, bias: 16, max: 0x7F, inf: false, uz: true }
);

#[cfg(test)]
mod tests {
    use super::*;

    /// Independent reference decoder: the value of each field, computed the
    /// long way from the definitions in the ONNX float8 technical note.
    fn reference(bits: u8, ebits: u32, bias: i32, fnuz: bool, ieee: bool) -> f64 {
        let mbits = 7 - ebits;
        let s = bits >> 7;
        let e = i32::from((bits >> mbits) & ((1 << ebits) - 1));
        let m = f64::from(bits & ((1 << mbits) - 1));
        let emax = (1 << ebits) - 1;
        if fnuz && bits == 0x80 {
            return f64::NAN;
        }
        if ieee && e == emax {
            return if m == 0.0 { if s == 1 { f64::NEG_INFINITY } else { f64::INFINITY } } else { f64::NAN };
        }
        if !ieee && !fnuz && e == emax && m == f64::from((1u8 << mbits) - 1) {
            return f64::NAN;
        }
        let v = if e == 0 {
            m / f64::from(1u32 << mbits) * 2f64.powi(1 - bias)
        } else {
            (1.0 + m / f64::from(1u32 << mbits)) * 2f64.powi(e - bias)
        };
        if s == 1 { -v } else { v }
    }

    fn same(a: f64, b: f64) -> bool {
        (a.is_nan() && b.is_nan()) || (a == b && a.is_sign_negative() == b.is_sign_negative())
    }

    macro_rules! check_type {
        ($t:ident, $ebits:expr, $bias:expr, $fnuz:expr, $ieee:expr, $max:expr, $nans:expr) => {{
            let mut nans = 0;
            for bits in 0..=255u8 {
                let v = $t::from_bits(bits);
                let want = reference(bits, $ebits, $bias, $fnuz, $ieee);
                assert!(same(v.to_f64(), want), "{} {bits:#04x}: {} vs {want}", stringify!($t), v.to_f64());
                assert_eq!(v.is_nan(), want.is_nan());
                nans += usize::from(want.is_nan());
                // Every code round trips through f32 (NaNs to a NaN, zeros keep their sign).
                for sat in [true, false] {
                    let back = $t::from_f32(v.to_f32(), sat);
                    if want.is_nan() {
                        assert!(back.is_nan());
                    } else if want.is_infinite() && sat {
                        // Saturation maps infinities to the largest finite value.
                        assert_eq!(back.to_f64(), want.signum() * f64::from($max));
                    } else {
                        assert_eq!(back, v, "{} {bits:#04x} saturate={sat}", stringify!($t));
                    }
                }
            }
            assert_eq!(nans, $nans, "{}", stringify!($t));
            assert_eq!($t::max_value().to_f32(), $max);
        }};
    }

    #[test]
    fn all_codes_decode_as_specified_and_round_trip() {
        check_type!(F8E4M3FN, 4, 7, false, false, 448.0, 2);
        check_type!(F8E4M3FNUZ, 4, 8, true, false, 240.0, 1);
        check_type!(F8E5M2, 5, 15, false, true, 57344.0, 6);
        check_type!(F8E5M2FNUZ, 5, 16, true, false, 57344.0, 1);
    }

    #[test]
    fn spec_examples() {
        // Smallest subnormals and normals from the ONNX float8 note.
        assert_eq!(F8E4M3FN(0x01).to_f32(), 2f32.powi(-9));
        assert_eq!(F8E4M3FN(0x08).to_f32(), 2f32.powi(-6));
        assert_eq!(F8E4M3FNUZ(0x01).to_f32(), 2f32.powi(-10));
        assert_eq!(F8E5M2(0x01).to_f32(), 2f32.powi(-16));
        assert_eq!(F8E5M2FNUZ(0x01).to_f32(), 2f32.powi(-17));
        assert_eq!(F8E4M3FN(0xFE).to_f32(), -448.0);
        assert_eq!(F8E5M2(0x7C).to_f32(), f32::INFINITY);
        assert_eq!(F8E5M2(0xFC).to_f32(), f32::NEG_INFINITY);
        assert!(F8E4M3FNUZ(0x80).to_f32().is_nan());
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        // 1 + 1/16 is halfway between 1 and 1.125 (E4M3): ties to even → 1.
        assert_eq!(F8E4M3FN::from_f32(1.0625, true).to_f32(), 1.0);
        // 1.125 + 1/16 is halfway between 1.125 and 1.25: ties to even → 1.25.
        assert_eq!(F8E4M3FN::from_f32(1.1875, true).to_f32(), 1.25);
        assert_eq!(F8E4M3FN::from_f32(1.07, true).to_f32(), 1.125);
        // Half the smallest subnormal rounds to (signed) zero; a bit more rounds up.
        assert_eq!(F8E4M3FN::from_f32(2f32.powi(-10), true), F8E4M3FN(0));
        assert_eq!(F8E4M3FN::from_f32(-(2f32.powi(-10)), true), F8E4M3FN(0x80));
        assert_eq!(F8E4M3FN::from_f32(2f32.powi(-10) * 1.01, true), F8E4M3FN(1));
        assert_eq!(F8E4M3FNUZ::from_f32(-1e-7, true), F8E4M3FNUZ(0));
        assert_eq!(F8E5M2FNUZ::from_f32(-0.0, false), F8E5M2FNUZ(0));
        // Carry into the next binade: 1.96875 → 2 (E4M3).
        assert_eq!(F8E4M3FN::from_f32(1.96875, true).to_f32(), 2.0);
        // Subnormal to normal carry.
        assert_eq!(F8E4M3FN::from_f32(2f32.powi(-6) * 0.97, true).to_f32(), 2f32.powi(-6));
    }

    #[test]
    fn saturation_and_overflow() {
        let big = [1e6f32, f32::INFINITY, 500.0];
        for &x in &big {
            assert_eq!(F8E4M3FN::from_f32(x, true).to_f32(), 448.0);
            assert_eq!(F8E4M3FN::from_f32(-x, true).to_f32(), -448.0);
            assert!(F8E4M3FN::from_f32(x, false).is_nan());
            assert!(F8E4M3FN::from_f32(-x, false).is_nan());
            assert_eq!(F8E4M3FNUZ::from_f32(x, true).to_f32(), 240.0);
            assert_eq!(F8E4M3FNUZ::from_f32(-x, true).to_f32(), -240.0);
            assert_eq!(F8E4M3FNUZ::from_f32(x, false), F8E4M3FNUZ(0x80));
        }
        for &x in &[1e6f32, f32::INFINITY, 61440.0] {
            assert_eq!(F8E5M2::from_f32(x, true).to_f32(), 57344.0);
            assert_eq!(F8E5M2::from_f32(-x, true).to_f32(), -57344.0);
            assert_eq!(F8E5M2::from_f32(x, false).to_f32(), f32::INFINITY);
            assert_eq!(F8E5M2::from_f32(-x, false).to_f32(), f32::NEG_INFINITY);
            assert_eq!(F8E5M2FNUZ::from_f32(x, true).to_f32(), 57344.0);
            assert!(F8E5M2FNUZ::from_f32(-x, false).is_nan());
        }
        // Just above the largest finite value but rounding down to it: not an overflow.
        assert_eq!(F8E4M3FN::from_f32(460.0, false).to_f32(), 448.0);
        assert_eq!(F8E4M3FN::from_f32(464.0, false).to_f32(), 448.0);
        assert!(F8E4M3FN::from_f32(465.0, false).is_nan());
        assert_eq!(F8E5M2::from_f32(61439.0, false).to_f32(), 57344.0);
        // NaN stays NaN either way.
        for sat in [true, false] {
            assert!(F8E4M3FN::from_f32(f32::NAN, sat).is_nan());
            assert!(F8E4M3FNUZ::from_f32(f32::NAN, sat).is_nan());
            assert!(F8E5M2::from_f32(f32::NAN, sat).is_nan());
            assert!(F8E5M2FNUZ::from_f32(f32::NAN, sat).is_nan());
        }
    }

    /// Brute force: the finite code nearest to `x`, ties to the even code; zeros take `x`'s sign where they can.
    fn nearest(x: f64, decode: impl Fn(u8) -> f32) -> u8 {
        let mut best: Option<(f64, u8)> = None;
        for bits in 0..=255u8 {
            let v = f64::from(decode(bits));
            if !v.is_finite() || (v == 0.0 && (bits == 0x80) != x.is_sign_negative() && decode(0x80) == 0.0) {
                continue;
            }
            let d = (v - x).abs();
            best = match best {
                Some((bd, bb)) if bd < d || (bd == d && bb & 1 == 0) => Some((bd, bb)),
                _ => Some((d, bits)),
            };
        }
        best.map_or(0, |(_, b)| b)
    }

    /// Midpoints between neighbouring codes, points just beside them and beyond the range all
    /// convert (saturating) to the brute-force nearest code.
    #[test]
    fn conversion_picks_the_nearest_code() {
        fn check(from: impl Fn(f32) -> u8, decode: impl Fn(u8) -> f32 + Copy) {
            let mut values: Vec<f64> = (0..=255u8).map(|b| f64::from(decode(b))).filter(|v| v.is_finite()).collect();
            values.sort_by(f64::total_cmp);
            values.dedup();
            let mut xs = vec![1e6, 1e-12];
            for w in values.windows(2) {
                let m = (w[0] + w[1]) / 2.0;
                xs.extend([m, m + (w[1] - w[0]) / 64.0, m - (w[1] - w[0]) / 64.0, w[0] + (w[1] - w[0]) / 4.0]);
            }
            for x in xs {
                let x = x as f32;
                let want = nearest(f64::from(x), decode);
                assert_eq!(from(x), want, "{x}: got {}, want {}", decode(from(x)), decode(want));
            }
        }
        check(|x| F8E4M3FN::from_f32(x, true).0, |b| F8E4M3FN(b).to_f32());
        check(|x| F8E4M3FNUZ::from_f32(x, true).0, |b| F8E4M3FNUZ(b).to_f32());
        check(|x| F8E5M2::from_f32(x, true).0, |b| F8E5M2(b).to_f32());
        check(|x| F8E5M2FNUZ::from_f32(x, true).0, |b| F8E5M2FNUZ(b).to_f32());
    }
}
