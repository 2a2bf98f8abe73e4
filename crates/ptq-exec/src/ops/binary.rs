//! Elementwise functions of two broadcast inputs.

use half::{bf16, f16};
use ndarray::ArrayD;
use ptq_ir::Tensor;
use ptq_ir::ops::binary::{Binary, BinaryKind};

use super::Out;
use crate::inputs::Inputs;
use crate::util::{Elem, array, block_broadcast, broadcast_shape, into_f32s, zip_inplace, zip_map};
use ptq_kernels::Arith;

macro_rules! arith_float {
    ($a:expr, $b:expr, $kind:expr, $v:ident, $t:ty) => {{
        // Each arm passes its own closure so the loop is monomorphised and vectorised.
        Tensor::$v(match $kind {
            BinaryKind::Add => zip_inplace($a, $b, |x: $t, y: $t| x + y)?,
            BinaryKind::Sub => zip_inplace($a, $b, |x: $t, y: $t| x - y)?,
            BinaryKind::Mul => zip_inplace($a, $b, |x: $t, y: $t| x * y)?,
            BinaryKind::Div => zip_inplace($a, $b, |x: $t, y: $t| x / y)?,
            BinaryKind::Pow => zip_inplace($a, $b, |x: $t, y: $t| x.powf(y))?,
            BinaryKind::PRelu => zip_inplace($a, $b, |x: $t, s: $t| if x < 0.0 { s * x } else { x })?,
            BinaryKind::Mod { fmod: true } => zip_inplace($a, $b, |x: $t, y: $t| x % y)?,
            BinaryKind::Mod { fmod: false } => zip_inplace($a, $b, |x: $t, y: $t| {
                let r = x % y;
                if r != 0.0 && ((r < 0.0) != (y < 0.0)) { r + y } else { r }
            })?,
            k => return Err(format!("{} is not arithmetic", k.name())),
        })
    }};
}

macro_rules! arith_int {
    ($a:expr, $b:expr, $kind:expr, $v:ident, $t:ty) => {{
        let f: fn($t, $t) -> $t = match $kind {
            BinaryKind::Add => |x: $t, y: $t| x.wrapping_add(y),
            BinaryKind::Sub => |x: $t, y: $t| x.wrapping_sub(y),
            BinaryKind::Mul => |x: $t, y: $t| x.wrapping_mul(y),
            BinaryKind::Div => |x: $t, y: $t| x.checked_div(y).unwrap_or(0),
            BinaryKind::Pow => |x: $t, y: $t| {
                #[allow(unused_comparisons)]
                let negative = y < (0 as $t);
                if !negative {
                    x.wrapping_pow(u32::try_from(y).unwrap_or(u32::MAX))
                } else if x == (1 as $t) {
                    1 as $t
                } else {
                    // x = -1 alternates; every other base truncates to zero.
                    #[allow(unused_comparisons)]
                    let minus_one = x < (0 as $t) && x.wrapping_add(1 as $t) == (0 as $t);
                    if minus_one { if y % (2 as $t) == (0 as $t) { 1 as $t } else { x } } else { 0 as $t }
                }
            },
            BinaryKind::PRelu => |x: $t, s: $t| if x < (0 as $t) { s.wrapping_mul(x) } else { x },
            BinaryKind::Mod { fmod: true } => |x: $t, y: $t| x.checked_rem(y).unwrap_or(0),
            BinaryKind::Mod { fmod: false } => |x: $t, y: $t| {
                let r = x.checked_rem(y).unwrap_or(0);
                #[allow(unused_comparisons)]
                let neg = (r < (0 as $t)) != (y < (0 as $t));
                if r != 0 && neg { r.wrapping_add(y) } else { r }
            },
            k => return Err(format!("{} is not arithmetic", k.name())),
        };
        Tensor::$v(zip_inplace($a, $b, f)?)
    }};
}

macro_rules! cmp_all {
    ($a:expr, $b:expr, $kind:expr) => {{
        let f = match $kind {
            BinaryKind::Equal => |x, y| x == y,
            BinaryKind::Greater => |x, y| x > y,
            BinaryKind::GreaterOrEqual => |x, y| x >= y,
            BinaryKind::Less => |x, y| x < y,
            BinaryKind::LessOrEqual => |x, y| x <= y,
            k => return Err(format!("{} is not defined on numbers", k.name())),
        };
        Tensor::Bool(zip_map($a, $b, f)?)
    }};
}

fn compare(kind: BinaryKind, a: Tensor, b: &Tensor) -> Out {
    Ok(vec![Some(match (&a, b) {
        (Tensor::F32(x), Tensor::F32(y)) => cmp_all!(x, y, kind),
        (Tensor::F64(x), Tensor::F64(y)) => cmp_all!(x, y, kind),
        (Tensor::F16(x), Tensor::F16(y)) => cmp_all!(x, y, kind),
        (Tensor::BF16(x), Tensor::BF16(y)) => cmp_all!(x, y, kind),
        (Tensor::I8(x), Tensor::I8(y)) => cmp_all!(x, y, kind),
        (Tensor::U8(x), Tensor::U8(y)) => cmp_all!(x, y, kind),
        (Tensor::I16(x), Tensor::I16(y)) => cmp_all!(x, y, kind),
        (Tensor::U16(x), Tensor::U16(y)) => cmp_all!(x, y, kind),
        (Tensor::I32(x), Tensor::I32(y)) => cmp_all!(x, y, kind),
        (Tensor::U32(x), Tensor::U32(y)) => cmp_all!(x, y, kind),
        (Tensor::I64(x), Tensor::I64(y)) => cmp_all!(x, y, kind),
        (Tensor::U64(x), Tensor::U64(y)) => cmp_all!(x, y, kind),
        (Tensor::Bool(x), Tensor::Bool(y)) => {
            let f: fn(bool, bool) -> bool = match kind {
                BinaryKind::And => |p, q| p && q,
                BinaryKind::Or => |p, q| p || q,
                BinaryKind::Xor => |p, q| p ^ q,
                BinaryKind::Equal => |p, q| p == q,
                k => return Err(format!("{} is not defined on bool", k.name())),
            };
            Tensor::Bool(zip_map(x, y, f)?)
        }
        (x, y) => return Err(format!("{} of {} and {} is not supported", kind.name(), x.dtype(), y.dtype())),
    })])
}

/// `x ** y` for an exponent whose dtype differs from the base's (or an
/// integer base with a float exponent): computed in f64 and converted to the
/// base's dtype, truncating toward zero for integers as numpy's `astype` does.
fn pow_mixed(a: &Tensor, b: &Tensor) -> Result<Tensor, String> {
    fn go<T: Elem>(x: &ArrayD<T>, y: &ArrayD<f64>) -> Result<ArrayD<T>, String> {
        zip_map(x, y, |p: T, q: f64| T::from_f64(p.to_f64().powf(q)))
    }
    let y = array(b.shape(), b.to_f64_vec())?;
    Ok(match a {
        Tensor::F32(x) => Tensor::F32(go(x, &y)?),
        Tensor::F64(x) => Tensor::F64(go(x, &y)?),
        Tensor::F16(x) => Tensor::F16(go(x, &y)?),
        Tensor::BF16(x) => Tensor::BF16(go(x, &y)?),
        Tensor::I8(x) => Tensor::I8(go(x, &y)?),
        Tensor::U8(x) => Tensor::U8(go(x, &y)?),
        Tensor::I16(x) => Tensor::I16(go(x, &y)?),
        Tensor::U16(x) => Tensor::U16(go(x, &y)?),
        Tensor::I32(x) => Tensor::I32(go(x, &y)?),
        Tensor::U32(x) => Tensor::U32(go(x, &y)?),
        Tensor::I64(x) => Tensor::I64(go(x, &y)?),
        Tensor::U64(x) => Tensor::U64(go(x, &y)?),
        Tensor::Bool(_) => return Err("Pow of bool is not supported".into()),
        t => return Err(format!("Pow of {} is not supported", t.dtype())),
    })
}

/// Runs a binary op; the first input's buffer is reused when possible.
/// Both inputs share a dtype except for Pow, whose exponent may have any
/// numeric dtype. f16 and bf16 arithmetic is computed in f32 and rounded back.
pub fn run(op: &Binary, ins: &mut Inputs, _n: usize) -> Out {
    // The result is written over the first operand, so a commutative op
    // whose first operand is the broadcast one (`bias + x`) swaps them.
    let (first, second) =
        if matches!(op.kind, BinaryKind::Add | BinaryKind::Mul) && swap_pays(ins) { (1, 0) } else { (0, 1) };
    let b_shared = ins.shared(second)?;
    let a = ins.take(first)?;
    let k = op.kind;
    if k.is_predicate() {
        return compare(k, a, &b_shared);
    }
    if k == BinaryKind::Pow && a.dtype() != b_shared.dtype() {
        return Ok(vec![Some(pow_mixed(&a, &b_shared)?)]);
    }
    let b: &Tensor = &b_shared;
    Ok(vec![Some(match (a, b) {
        (Tensor::F32(x), Tensor::F32(y)) => match simd_arith(k, x, y) {
            Ok(r) => Tensor::F32(r),
            Err(x) => arith_float!(x, y, k, F32, f32),
        },
        (Tensor::F64(x), Tensor::F64(y)) => arith_float!(x, y, k, F64, f64),
        (Tensor::F16(x), Tensor::F16(y)) => {
            let r = arith_float!(x.mapv(f16::to_f32), &y.mapv(f16::to_f32), k, F32, f32);
            Tensor::F16(into_f32s(r)?.mapv(f16::from_f32))
        }
        (Tensor::BF16(x), Tensor::BF16(y)) => {
            let r = arith_float!(x.mapv(bf16::to_f32), &y.mapv(bf16::to_f32), k, F32, f32);
            Tensor::BF16(into_f32s(r)?.mapv(bf16::from_f32))
        }
        (Tensor::I8(x), Tensor::I8(y)) => arith_int!(x, y, k, I8, i8),
        (Tensor::U8(x), Tensor::U8(y)) => arith_int!(x, y, k, U8, u8),
        (Tensor::I16(x), Tensor::I16(y)) => arith_int!(x, y, k, I16, i16),
        (Tensor::U16(x), Tensor::U16(y)) => arith_int!(x, y, k, U16, u16),
        (Tensor::I32(x), Tensor::I32(y)) => arith_int!(x, y, k, I32, i32),
        (Tensor::U32(x), Tensor::U32(y)) => arith_int!(x, y, k, U32, u32),
        (Tensor::I64(x), Tensor::I64(y)) => arith_int!(x, y, k, I64, i64),
        (Tensor::U64(x), Tensor::U64(y)) => arith_int!(x, y, k, U64, u64),
        (x, y) => return Err(format!("{} of {} and {} is not supported", k.name(), x.dtype(), y.dtype())),
    })])
}

/// Add, Sub, Mul or Div of f32 `x` and a `y` that broadcasts to `x`'s
/// shape in a simple pattern, in place on the kernels' vector loops (same
/// bits as the scalar loop); gives `x` back otherwise.
fn simd_arith(k: BinaryKind, mut x: ArrayD<f32>, y: &ArrayD<f32>) -> Result<ArrayD<f32>, ArrayD<f32>> {
    let op = match k {
        BinaryKind::Add => Arith::Add,
        BinaryKind::Sub => Arith::Sub,
        BinaryKind::Mul => Arith::Mul,
        BinaryKind::Div => Arith::Div,
        _ => return Err(x),
    };
    if y.is_empty() || broadcast_shape(x.shape(), y.shape()).ok().as_deref() != Some(x.shape()) {
        return Err(x);
    }
    let Some(inner) = block_broadcast(y.shape(), x.shape()) else { return Err(x) };
    match (x.as_slice_mut(), y.as_slice()) {
        (Some(xs), Some(ys)) => ptq_kernels::arith(op, xs, ys, inner),
        _ => return Err(x),
    }
    Ok(x)
}

/// Whether input 1 has the result's shape and input 0 a smaller one of the
/// same dtype, so the op can run in place over input 1.
fn swap_pays(ins: &Inputs) -> bool {
    let (Some(x), Some(y)) = (ins.opt(0), ins.opt(1)) else { return false };
    x.dtype() == y.dtype() && x.len() < y.len() && broadcast_shape(x.shape(), y.shape()).is_ok_and(|s| s == y.shape())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::Slot;

    fn run2(kind: BinaryKind, a: Tensor, b: Tensor) -> Tensor {
        let slot = |t| Some(Slot { tensor: std::sync::Arc::new(t), reusable: false });
        let mut ins = Inputs::new(vec![slot(a), slot(b)]);
        run(&Binary { kind }, &mut ins, 1).unwrap().remove(0).unwrap()
    }

    #[test]
    fn pow_of_an_integer_base_and_a_float_exponent_truncates() {
        let x = Tensor::I32(array(&[3], vec![2, 3, -2]).unwrap());
        let y = Tensor::F32(array(&[3], vec![0.5, 2.0, 3.0]).unwrap());
        assert_eq!(run2(BinaryKind::Pow, x, y), Tensor::I32(array(&[3], vec![1, 9, -8]).unwrap()));
    }

    #[test]
    fn integer_pow_is_exact_beyond_f64_precision() {
        let x = Tensor::I64(array(&[4], vec![3, 2, -1, 5]).unwrap());
        let y = Tensor::I64(array(&[4], vec![39, -1, -3, 0]).unwrap());
        let want = Tensor::I64(array(&[4], vec![4_052_555_153_018_976_267, 0, -1, 1]).unwrap());
        assert_eq!(run2(BinaryKind::Pow, x, y), want);
    }

    #[test]
    fn half_precision_arithmetic_rounds_back() {
        let x = Tensor::F16(array(&[2], vec![f16::from_f32(1.5), f16::from_f32(-2.0)]).unwrap());
        let y = Tensor::F16(array(&[1], vec![f16::from_f32(0.25)]).unwrap());
        let want = Tensor::F16(array(&[2], vec![f16::from_f32(1.75), f16::from_f32(-1.75)]).unwrap());
        assert_eq!(run2(BinaryKind::Add, x, y), want);
    }
}
