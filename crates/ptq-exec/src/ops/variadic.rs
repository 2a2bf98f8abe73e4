//! Sum, Mean, Min, Max over any number of broadcast inputs.

use ptq_ir::Tensor;
use ptq_ir::ops::variadic::{Variadic, VariadicKind};

use super::{Out, one};
use crate::inputs::Inputs;
use crate::util::zip_inplace;

macro_rules! fold {
    ($acc:expr, $x:expr, $kind:expr, $t:ty) => {{
        let f: fn($t, $t) -> $t = match $kind {
            VariadicKind::Sum | VariadicKind::Mean => |a, b| a + b,
            VariadicKind::Min => |a: $t, b: $t| if b < a { b } else { a },
            VariadicKind::Max => |a: $t, b: $t| if b > a { b } else { a },
        };
        zip_inplace($acc, $x, f)?
    }};
}

/// Runs a variadic op.
pub fn run(op: &Variadic, ins: &mut Inputs, _n: usize) -> Out {
    let n = ins.len();
    let mut acc = ins.take(0)?;
    for i in 1..n {
        let x = ins.shared(i)?;
        acc = match (acc, &*x) {
            (Tensor::F32(a), Tensor::F32(b)) => Tensor::F32(fold!(a, b, op.kind, f32)),
            (Tensor::F64(a), Tensor::F64(b)) => Tensor::F64(fold!(a, b, op.kind, f64)),
            (Tensor::I32(a), Tensor::I32(b)) => Tensor::I32(fold!(a, b, op.kind, i32)),
            (Tensor::I64(a), Tensor::I64(b)) => Tensor::I64(fold!(a, b, op.kind, i64)),
            (a, b) => return Err(format!("inputs of dtypes {} and {} are not supported", a.dtype(), b.dtype())),
        };
    }
    if op.kind == VariadicKind::Mean {
        acc = match acc {
            Tensor::F32(a) => Tensor::F32(a.mapv(|v| v / n as f32)),
            Tensor::F64(a) => Tensor::F64(a.mapv(|v| v / n as f64)),
            t => return Err(format!("Mean of {} is not supported", t.dtype())),
        };
    }
    one(acc)
}
