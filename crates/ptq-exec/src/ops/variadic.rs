//! Sum, Mean, Min, Max over any number of broadcast inputs.

use half::{bf16, f16};
use ptq_ir::Tensor;
use ptq_ir::ops::variadic::{Variadic, VariadicKind};

use super::{Out, one};
use crate::inputs::Inputs;
use crate::util::zip_inplace;

macro_rules! fold {
    ($acc:expr, $x:expr, $kind:expr, $t:ty, $add:expr) => {{
        let f: fn($t, $t) -> $t = match $kind {
            VariadicKind::Sum | VariadicKind::Mean => $add,
            VariadicKind::Min => |a: $t, b: $t| if b < a || b.partial_cmp(&b).is_none() { b } else { a },
            VariadicKind::Max => |a: $t, b: $t| if b > a || b.partial_cmp(&b).is_none() { b } else { a },
        };
        zip_inplace($acc, $x, f)?
    }};
}

/// Runs a variadic op on inputs of one dtype (any numeric type; Mean only
/// on floats). Integer sums wrap; a NaN operand makes Min and Max NaN.
pub fn run(op: &Variadic, ins: &mut Inputs, _n: usize) -> Out {
    let n = ins.len();
    let mut acc = ins.take(0)?;
    for i in 1..n {
        let x = ins.shared(i)?;
        acc = match (acc, &*x) {
            (Tensor::F32(a), Tensor::F32(b)) => Tensor::F32(fold!(a, b, op.kind, f32, |a, b| a + b)),
            (Tensor::F64(a), Tensor::F64(b)) => Tensor::F64(fold!(a, b, op.kind, f64, |a, b| a + b)),
            (Tensor::F16(a), Tensor::F16(b)) => Tensor::F16(fold!(a, b, op.kind, f16, |a, b| a + b)),
            (Tensor::BF16(a), Tensor::BF16(b)) => Tensor::BF16(fold!(a, b, op.kind, bf16, |a, b| a + b)),
            (Tensor::I8(a), Tensor::I8(b)) => Tensor::I8(fold!(a, b, op.kind, i8, i8::wrapping_add)),
            (Tensor::U8(a), Tensor::U8(b)) => Tensor::U8(fold!(a, b, op.kind, u8, u8::wrapping_add)),
            (Tensor::I16(a), Tensor::I16(b)) => Tensor::I16(fold!(a, b, op.kind, i16, i16::wrapping_add)),
            (Tensor::U16(a), Tensor::U16(b)) => Tensor::U16(fold!(a, b, op.kind, u16, u16::wrapping_add)),
            (Tensor::I32(a), Tensor::I32(b)) => Tensor::I32(fold!(a, b, op.kind, i32, i32::wrapping_add)),
            (Tensor::U32(a), Tensor::U32(b)) => Tensor::U32(fold!(a, b, op.kind, u32, u32::wrapping_add)),
            (Tensor::I64(a), Tensor::I64(b)) => Tensor::I64(fold!(a, b, op.kind, i64, i64::wrapping_add)),
            (Tensor::U64(a), Tensor::U64(b)) => Tensor::U64(fold!(a, b, op.kind, u64, u64::wrapping_add)),
            (a, b) => return Err(format!("inputs of dtypes {} and {} are not supported", a.dtype(), b.dtype())),
        };
    }
    if op.kind == VariadicKind::Mean {
        acc = match acc {
            Tensor::F32(a) => Tensor::F32(a.mapv(|v| v / n as f32)),
            Tensor::F64(a) => Tensor::F64(a.mapv(|v| v / n as f64)),
            Tensor::F16(a) => Tensor::F16(a.mapv(|v| f16::from_f32(v.to_f32() / n as f32))),
            Tensor::BF16(a) => Tensor::BF16(a.mapv(|v| bf16::from_f32(v.to_f32() / n as f32))),
            t => return Err(format!("Mean of {} is not supported", t.dtype())),
        };
    }
    one(acc)
}
