//! Elementwise functions of two broadcast inputs.

use ptq_ir::Tensor;
use ptq_ir::ops::binary::{Binary, BinaryKind};

use super::Out;
use crate::inputs::Inputs;
use crate::util::{zip_inplace, zip_map};

macro_rules! arith_float {
    ($a:expr, $b:expr, $kind:expr, $v:ident, $t:ty) => {{
        let f: fn($t, $t) -> $t = match $kind {
            BinaryKind::Add => |x, y| x + y,
            BinaryKind::Sub => |x, y| x - y,
            BinaryKind::Mul => |x, y| x * y,
            BinaryKind::Div => |x, y| x / y,
            BinaryKind::Pow => |x: $t, y: $t| x.powf(y),
            BinaryKind::PRelu => |x: $t, s: $t| if x < 0.0 { s * x } else { x },
            BinaryKind::Mod { fmod: true } => |x: $t, y: $t| x % y,
            BinaryKind::Mod { fmod: false } => |x: $t, y: $t| {
                let r = x % y;
                if r != 0.0 && ((r < 0.0) != (y < 0.0)) { r + y } else { r }
            },
            k => return Err(format!("{} is not arithmetic", k.name())),
        };
        Tensor::$v(zip_inplace($a, $b, f)?)
    }};
}

macro_rules! arith_int {
    ($a:expr, $b:expr, $kind:expr, $v:ident, $t:ty) => {{
        let f: fn($t, $t) -> $t = match $kind {
            BinaryKind::Add => |x: $t, y: $t| x.wrapping_add(y),
            BinaryKind::Sub => |x: $t, y: $t| x.wrapping_sub(y),
            BinaryKind::Mul => |x: $t, y: $t| x.wrapping_mul(y),
            BinaryKind::Div => |x: $t, y: $t| x.checked_div(y).unwrap_or(0),
            BinaryKind::Pow => |x: $t, y: $t| (x as f64).powf(y as f64) as $t,
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

/// Runs a binary op; the first input's buffer is reused when possible.
pub fn run(op: &Binary, ins: &mut Inputs, _n: usize) -> Out {
    let b_shared = ins.shared(1)?;
    let a = ins.take(0)?;
    let k = op.kind;
    if k.is_predicate() {
        return compare(k, a, &b_shared);
    }
    let converted;
    let b: &Tensor = match (&a, &*b_shared) {
        (Tensor::F32(_), other) if k == BinaryKind::Pow && other.dtype() != ptq_ir::DType::F32 => {
            let v = other.to_f64_vec().iter().map(|&v| v as f32).collect();
            converted = Tensor::F32(crate::util::array(other.shape(), v)?);
            &converted
        }
        (_, b) => b,
    };
    Ok(vec![Some(match (a, b) {
        (Tensor::F32(x), Tensor::F32(y)) => arith_float!(x, y, k, F32, f32),
        (Tensor::F64(x), Tensor::F64(y)) => arith_float!(x, y, k, F64, f64),
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
