//! Cast between element types, strings included.

use half::{bf16, f16};
use ndarray::ArrayD;
use ptq_ir::float8::{F8E4M3FN, F8E4M3FNUZ, F8E5M2, F8E5M2FNUZ};
use ptq_ir::ops::cast::Cast;
use ptq_ir::{Attr, DType, Tensor};

use super::{Out, one};
use crate::inputs::Inputs;
use crate::util::array;

/// Runs Cast; see [`cast`]. `saturate` defaults to 1.
pub fn run(op: &Cast, ins: &mut Inputs, _n: usize) -> Out {
    one(cast(ins.take(0)?, op.to, op.saturate.unwrap_or(1) != 0)?)
}

/// Runs CastLike (kept opaque by the IR): input 0 cast to the dtype of input 1,
/// with the `saturate` attribute (default 1) as in [`cast`].
pub fn run_like(attrs: &[(String, Attr)], ins: &mut Inputs) -> Out {
    let saturate = match attrs.iter().find(|(k, _)| k == "saturate") {
        None => true,
        Some((_, Attr::Int(v))) => *v != 0,
        Some(_) => return Err("attribute saturate must be an int".into()),
    };
    let to = ins.get(1)?.dtype();
    one(cast(ins.take(0)?, to, saturate)?)
}

/// Converts `x` to dtype `to` following the ONNX Cast spec:
///
/// - integer to integer wraps (two's complement), except to int4/uint4;
/// - float to integer truncates toward zero and saturates (NaN becomes 0);
/// - anything to int4/uint4 rounds half to even and clamps to the 4-bit range
///   (what the ONNX reference and node tests do);
/// - float to float rounds to nearest even: f16 and bf16 as IEEE conversions,
///   float8 with the spec's `saturate` rules ([`ptq_ir::float8`]), applied
///   to integer sources as well;
/// - to bool is `x != 0` (NaN is true); bool to numbers is 1 or 0;
/// - numbers to strings: integers in decimal, bool as `1`/`0`, floats as the
///   shortest decimal that converts back to the same value, positional for
///   magnitudes in [1e-4, 1e16) (`0.25`, `3.0`) and scientific otherwise
///   (`1e-07`, `1.5e+16`), as numpy prints them; NaN and ±infinity as the
///   spec's literals `NaN`, `INF`, `-INF`;
/// - strings to numbers: decimal or scientific notation, surrounding
///   whitespace ignored, `INF`/`+INF`/`-INF`/`NaN` in any case; to integers a
///   fractional value truncates toward zero; to bool `true`/`false` in any
///   case or a number (nonzero is true). Anything else is an error.
pub fn cast(x: Tensor, to: DType, saturate: bool) -> Result<Tensor, String> {
    let from = x.dtype();
    if from == to {
        return Ok(x);
    }
    let shape = x.shape().to_vec();
    if let Tensor::String(a) = &x {
        return from_strings(a, to, saturate);
    }
    if to == DType::String {
        return Ok(Tensor::String(to_strings(&x)));
    }
    Ok(match (&x, to) {
        (Tensor::F32(a), DType::F16) => Tensor::F16(a.mapv(f16::from_f32)),
        (Tensor::F32(a), DType::BF16) => Tensor::BF16(a.mapv(bf16::from_f32)),
        (Tensor::F16(a), DType::F32) => Tensor::F32(a.mapv(f16::to_f32)),
        (Tensor::BF16(a), DType::F32) => Tensor::F32(a.mapv(bf16::to_f32)),
        // Exact in f64 and rounded once to f32 either way: one pass instead
        // of two (a one-hot mask cast to f32 is often the biggest tensor).
        (Tensor::Bool(a), DType::F32) => Tensor::F32(a.mapv(|b| if b { 1.0 } else { 0.0 })),
        (Tensor::I8(a), DType::F32) => Tensor::F32(a.mapv(f32::from)),
        (Tensor::U8(a), DType::F32) => Tensor::F32(a.mapv(f32::from)),
        (Tensor::I32(a), DType::F32) => Tensor::F32(a.mapv(|v| v as f32)),
        _ if from.is_int() && to.is_int() && !matches!(to, DType::I4 | DType::U4) => {
            let v: Vec<i64> = match &x {
                // Wrapping is the same whichever way the bits are read.
                Tensor::U64(a) => a.iter().map(|&v| v as i64).collect(),
                t => t.to_i64_vec().ok_or_else(|| format!("{} data is not integer", t.dtype()))?,
            };
            from_i64s(array(&shape, v)?, to)?
        }
        _ => from_f64s(array(&shape, x.to_f64_vec())?, to, saturate)?,
    })
}

/// Integers to an integer dtype other than int4/uint4, wrapping.
fn from_i64s(a: ArrayD<i64>, to: DType) -> Result<Tensor, String> {
    Ok(match to {
        DType::I8 => Tensor::I8(a.mapv(|x| x as i8)),
        DType::U8 => Tensor::U8(a.mapv(|x| x as u8)),
        DType::I16 => Tensor::I16(a.mapv(|x| x as i16)),
        DType::U16 => Tensor::U16(a.mapv(|x| x as u16)),
        DType::I32 => Tensor::I32(a.mapv(|x| x as i32)),
        DType::U32 => Tensor::U32(a.mapv(|x| x as u32)),
        DType::I64 => Tensor::I64(a),
        DType::U64 => Tensor::U64(a.mapv(|x| x as u64)),
        d => return Err(format!("{d} is not a wrapping integer type")),
    })
}

/// `f64` values to any numeric dtype: floats round to nearest (float8 by the
/// saturate rules), integers truncate toward zero and saturate (NaN → 0),
/// int4/uint4 round half to even and clamp (NaN → 0).
fn from_f64s(v: ArrayD<f64>, to: DType, saturate: bool) -> Result<Tensor, String> {
    Ok(match to {
        DType::F32 => Tensor::F32(v.mapv(|x| x as f32)),
        DType::F64 => Tensor::F64(v),
        DType::F16 => Tensor::F16(v.mapv(f16::from_f64)),
        DType::BF16 => Tensor::BF16(v.mapv(bf16::from_f64)),
        DType::I8 => Tensor::I8(v.mapv(|x| x as i8)),
        DType::U8 => Tensor::U8(v.mapv(|x| x as u8)),
        DType::I16 => Tensor::I16(v.mapv(|x| x as i16)),
        DType::U16 => Tensor::U16(v.mapv(|x| x as u16)),
        DType::I32 => Tensor::I32(v.mapv(|x| x as i32)),
        DType::U32 => Tensor::U32(v.mapv(|x| x as u32)),
        DType::I64 => Tensor::I64(v.mapv(|x| x as i64)),
        DType::U64 => Tensor::U64(v.mapv(|x| x as u64)),
        DType::Bool => Tensor::Bool(v.mapv(|x| x != 0.0)),
        DType::F8E4M3FN => Tensor::F8E4M3FN(v.mapv(|x| F8E4M3FN::from_f64(x, saturate))),
        DType::F8E4M3FNUZ => Tensor::F8E4M3FNUZ(v.mapv(|x| F8E4M3FNUZ::from_f64(x, saturate))),
        DType::F8E5M2 => Tensor::F8E5M2(v.mapv(|x| F8E5M2::from_f64(x, saturate))),
        DType::F8E5M2FNUZ => Tensor::F8E5M2FNUZ(v.mapv(|x| F8E5M2FNUZ::from_f64(x, saturate))),
        DType::I4 => Tensor::I4(v.mapv(|x| x.round_ties_even().clamp(-8.0, 7.0) as i8)),
        DType::U4 => Tensor::U4(v.mapv(|x| x.round_ties_even().clamp(0.0, 15.0) as u8)),
        DType::String => return Err("strings are not numbers".into()),
    })
}

/// Parses one string as a float per the Cast spec.
fn parse_f64(s: &str) -> Result<f64, String> {
    // Rust's parser already takes inf, infinity and nan in any case, with a sign.
    s.trim().parse::<f64>().map_err(|_| format!("cannot cast string {s:?} to a number"))
}

/// Parses one string as an integer (a fractional value truncates toward zero).
fn parse_int(s: &str) -> Result<i128, String> {
    let t = s.trim();
    if let Ok(v) = t.parse::<i128>() {
        return Ok(v);
    }
    let f = parse_f64(t)?;
    if f.is_nan() {
        return Err(format!("cannot cast string {s:?} to an integer"));
    }
    Ok(f.trunc() as i128)
}

fn from_strings(a: &ArrayD<String>, to: DType, saturate: bool) -> Result<Tensor, String> {
    let shape = a.shape();
    let ints = || -> Result<ArrayD<i64>, String> {
        // Wrapping through the low 64 bits is what the integer rule asks of every narrower type too.
        let v = a.iter().map(|s| parse_int(s).map(|v| v as i64)).collect::<Result<Vec<_>, _>>()?;
        array(shape, v)
    };
    Ok(match to {
        DType::F32 => Tensor::F32(array(
            shape,
            a.iter()
                .map(|s| s.trim().parse::<f32>().map_err(|_| format!("cannot cast string {s:?} to a number")))
                .collect::<Result<_, _>>()?,
        )?),
        DType::Bool => Tensor::Bool(array(
            shape,
            a.iter()
                .map(|s| match s.trim().to_ascii_lowercase().as_str() {
                    "true" => Ok(true),
                    "false" => Ok(false),
                    _ => parse_f64(s).map(|v| v != 0.0),
                })
                .collect::<Result<_, _>>()?,
        )?),
        DType::I4 | DType::U4 => {
            let v = a.iter().map(|s| parse_int(s).map(|v| v as f64)).collect::<Result<Vec<_>, _>>()?;
            from_f64s(array(shape, v)?, to, saturate)?
        }
        DType::I8 | DType::U8 | DType::I16 | DType::U16 | DType::I32 | DType::U32 | DType::I64 | DType::U64 => {
            from_i64s(ints()?, to)?
        }
        DType::String => Tensor::String(a.clone()),
        _ => {
            let v = a.iter().map(|s| parse_f64(s)).collect::<Result<Vec<_>, _>>()?;
            from_f64s(array(shape, v)?, to, saturate)?
        }
    })
}

fn to_strings(x: &Tensor) -> ArrayD<String> {
    fn fmt<T>(a: &ArrayD<T>, f: impl Fn(&T) -> String) -> ArrayD<String> {
        a.map(f)
    }
    /// Shortest round trip for a type without a native shortest formatter:
    /// the fewest significant digits whose decimal converts back to `x`.
    fn shortest(x: f64, same: impl Fn(f64) -> bool) -> String {
        if !x.is_finite() || x == 0.0 {
            return float_string(x, String::new());
        }
        for digits in 1..17 {
            let s = format!("{:.*e}", digits - 1, x);
            if s.parse::<f64>().is_ok_and(&same) {
                return float_string(x, s);
            }
        }
        float_string(x, format!("{x:e}"))
    }
    match x {
        Tensor::F32(a) => fmt(a, |&v| float_string(f64::from(v), format!("{v:e}"))),
        Tensor::F64(a) => fmt(a, |&v| float_string(v, format!("{v:e}"))),
        Tensor::F16(a) => fmt(a, |&v| shortest(v.to_f64(), |y| f16::from_f64(y).to_bits() == v.to_bits())),
        Tensor::BF16(a) => fmt(a, |&v| shortest(v.to_f64(), |y| bf16::from_f64(y).to_bits() == v.to_bits())),
        Tensor::F8E4M3FN(a) => fmt(a, |&v| shortest(v.to_f64(), |y| F8E4M3FN::from_f64(y, true) == v)),
        Tensor::F8E4M3FNUZ(a) => fmt(a, |&v| shortest(v.to_f64(), |y| F8E4M3FNUZ::from_f64(y, true) == v)),
        Tensor::F8E5M2(a) => fmt(a, |&v| shortest(v.to_f64(), |y| F8E5M2::from_f64(y, true) == v)),
        Tensor::F8E5M2FNUZ(a) => fmt(a, |&v| shortest(v.to_f64(), |y| F8E5M2FNUZ::from_f64(y, true) == v)),
        Tensor::Bool(a) => fmt(a, |&v| if v { "1" } else { "0" }.to_string()),
        Tensor::I8(a) => fmt(a, i8::to_string),
        Tensor::U8(a) => fmt(a, u8::to_string),
        Tensor::I16(a) => fmt(a, i16::to_string),
        Tensor::U16(a) => fmt(a, u16::to_string),
        Tensor::I32(a) => fmt(a, i32::to_string),
        Tensor::U32(a) => fmt(a, u32::to_string),
        Tensor::I64(a) => fmt(a, i64::to_string),
        Tensor::U64(a) => fmt(a, u64::to_string),
        Tensor::I4(a) => fmt(a, i8::to_string),
        Tensor::U4(a) => fmt(a, u8::to_string),
        Tensor::String(a) => a.clone(),
    }
}

/// Renders `x` from `sci`, its shortest round-trip digits in Rust's `{:e}`
/// form (`-1.25e-7`): positional when those digits lie in [1e-4, 1e16) and for zero,
/// otherwise scientific with a signed two-digit exponent, as numpy prints.
fn float_string(x: f64, sci: String) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "INF" } else { "-INF" }.into();
    }
    let sign = if x.is_sign_negative() { "-" } else { "" };
    if x == 0.0 {
        return format!("{sign}0.0");
    }
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    // Decide on the printed value, so that f32 0.0001 (just below 1e-4 as f64) prints as 0.0001.
    let a = sci.parse::<f64>().unwrap_or(x).abs();
    if (1e-4..1e16).contains(&a) {
        if exp < 0 {
            let zeros = "0".repeat((-exp - 1) as usize);
            format!("{sign}0.{zeros}{digits}")
        } else {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                format!("{sign}{digits}{}.0", "0".repeat(int_len - digits.len()))
            } else {
                format!("{sign}{}.{}", &digits[..int_len], &digits[int_len..])
            }
        }
    } else {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        let frac = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{first}{frac}e{esign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cast_to(x: Tensor, to: DType) -> Result<Tensor, String> {
        cast(x, to, true)
    }

    fn strings(v: &[&str]) -> Tensor {
        Tensor::String(array(&[v.len()], v.iter().map(|s| s.to_string()).collect()).unwrap())
    }

    fn string_values(t: Tensor) -> Vec<String> {
        match t {
            Tensor::String(a) => a.iter().cloned().collect(),
            t => panic!("not strings: {t:?}"),
        }
    }

    #[test]
    fn floats_print_like_numpy() {
        let x = Tensor::from_f32s(&[0.039187793, 1.0, 123456790.0, 1e-7, 1e16, -2.5e-5, 0.0001, -0.0, 1.5e20]);
        let got = string_values(cast_to(x, DType::String).unwrap());
        let want = ["0.039187793", "1.0", "123456790.0", "1e-07", "1e+16", "-2.5e-05", "0.0001", "-0.0", "1.5e+20"];
        assert_eq!(got, want);
        let special = Tensor::from_f32s(&[f32::NAN, f32::INFINITY, f32::NEG_INFINITY]);
        assert_eq!(string_values(cast_to(special, DType::String).unwrap()), ["NaN", "INF", "-INF"]);
        let h = Tensor::F16(array(&[2], vec![f16::from_f32(0.1), f16::from_f32(65504.0)]).unwrap());
        assert_eq!(string_values(cast_to(h, DType::String).unwrap()), ["0.1", "65500.0"]);
        let f8 = Tensor::F8E4M3FN(
            array(&[2], vec![F8E4M3FN::from_f32(0.4375, true), F8E4M3FN::from_f32(448.0, true)]).unwrap(),
        );
        assert_eq!(string_values(cast_to(f8, DType::String).unwrap()), ["0.44", "450.0"]);
        let i = Tensor::from_i64s(&[-3, 40]);
        assert_eq!(string_values(cast_to(i, DType::String).unwrap()), ["-3", "40"]);
    }

    #[test]
    fn strings_parse_per_the_spec() {
        let s = strings(&["0.47892547", " 1e-5", "1E8", "NaN", "INF", "+INF", "-inf", "-0.5"]);
        let v = cast_to(s.clone(), DType::F32).unwrap().to_f64_vec();
        assert_eq!(v[0], f64::from(0.478_925_47_f32));
        assert_eq!(v[1], f64::from(1e-5_f32));
        assert_eq!(v[2], 1e8);
        assert!(v[3].is_nan());
        assert_eq!(&v[4..], &[f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, -0.5]);
        assert_eq!(cast_to(strings(&["100.5", "-7", "3"]), DType::I32).unwrap().to_i64_vec(), Some(vec![100, -7, 3]));
        assert_eq!(cast_to(strings(&["300"]), DType::U8).unwrap().to_i64_vec(), Some(vec![44]));
        assert_eq!(
            cast_to(strings(&["true", "False", "0", "2.5"]), DType::Bool).unwrap().to_i64_vec(),
            Some(vec![1, 0, 0, 1])
        );
        assert!(cast_to(strings(&["Hello World!"]), DType::F32).unwrap_err().contains("Hello World!"));
        assert!(cast_to(strings(&["nan"]), DType::I64).is_err());
        assert_eq!(cast_to(strings(&["1000000"]), DType::F8E4M3FN).unwrap().to_f64_vec(), vec![448.0]);
    }

    #[test]
    fn float8_casts_honour_saturate() {
        let x = Tensor::from_f32s(&[1e6, -f32::INFINITY, 0.3]);
        let sat = cast(x.clone(), DType::F8E4M3FN, true).unwrap().to_f64_vec();
        assert_eq!(sat, vec![448.0, -448.0, 0.3125]);
        let raw = cast(x.clone(), DType::F8E4M3FN, false).unwrap().to_f64_vec();
        assert!(raw[0].is_nan() && raw[1].is_nan());
        let e5 = cast(x, DType::F8E5M2, false).unwrap().to_f64_vec();
        assert_eq!(&e5[..2], &[f64::INFINITY, f64::NEG_INFINITY]);
        // Float8 to float8 goes through the exact value.
        let y = cast_to(Tensor::from_f32s(&[224.0, -3.0, 240.0]), DType::F8E4M3FNUZ).unwrap();
        // 240 lies halfway between E5M2's 224 and 256: ties to even (256).
        assert_eq!(cast_to(y, DType::F8E5M2).unwrap().to_f64_vec(), vec![224.0, -3.0, 256.0]);
        // Integers saturate too.
        assert_eq!(cast_to(Tensor::from_i64s(&[1000]), DType::F8E4M3FN).unwrap().to_f64_vec(), vec![448.0]);
    }

    #[test]
    fn four_bit_casts_round_and_clamp() {
        let x = Tensor::from_f32s(&[-9.0, -8.5, 2.5, 3.5, 7.6, f32::NAN]);
        assert_eq!(cast_to(x.clone(), DType::I4).unwrap().to_i64_vec(), Some(vec![-8, -8, 2, 4, 7, 0]));
        assert_eq!(cast_to(x, DType::U4).unwrap().to_i64_vec(), Some(vec![0, 0, 2, 4, 8, 0]));
        let i = Tensor::from_i64s(&[-100, 5, 100]);
        assert_eq!(cast_to(i, DType::U4).unwrap().to_i64_vec(), Some(vec![0, 5, 15]));
        let u = cast_to(Tensor::from_i64s(&[15, 0]), DType::U4).unwrap();
        assert_eq!(cast_to(u.clone(), DType::I8).unwrap().to_i64_vec(), Some(vec![15, 0]));
        assert_eq!(cast_to(u, DType::F32).unwrap().to_f64_vec(), vec![15.0, 0.0]);
    }

    #[test]
    fn integer_casts_wrap_including_large_u64() {
        let x = Tensor::U64(array(&[2], vec![u64::MAX, 200]).unwrap());
        assert_eq!(cast_to(x.clone(), DType::I64).unwrap().to_i64_vec(), Some(vec![-1, 200]));
        assert_eq!(cast_to(x, DType::I8).unwrap().to_i64_vec(), Some(vec![-1, -56]));
    }
}
