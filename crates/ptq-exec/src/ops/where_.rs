//! Where.

use ndarray::{IxDyn, Zip};
use ptq_ir::Tensor;
use ptq_ir::ops::where_::Where;

use super::{Out, one};
use crate::inputs::Inputs;
use crate::util::broadcast_shape;

macro_rules! select {
    ($c:expr, $x:expr, $y:expr, $v:ident) => {{
        let shape = broadcast_shape(&broadcast_shape($c.shape(), $x.shape())?, $y.shape())?;
        let s = IxDyn(&shape);
        let (c, x, y) = (
            $c.broadcast(s.clone()).ok_or("broadcast")?,
            $x.broadcast(s.clone()).ok_or("broadcast")?,
            $y.broadcast(s).ok_or("broadcast")?,
        );
        Tensor::$v(Zip::from(&c).and(&x).and(&y).map_collect(|&c, a, b| if c { a.clone() } else { b.clone() }))
    }};
}

/// Runs Where on two inputs of any one dtype, strings included.
pub fn run(_op: &Where, ins: &mut Inputs, _n: usize) -> Out {
    let Tensor::Bool(c) = ins.get(0)? else { return Err("condition must be bool".into()) };
    one(match (ins.get(1)?, ins.get(2)?) {
        (Tensor::F32(x), Tensor::F32(y)) => select!(c, x, y, F32),
        (Tensor::F64(x), Tensor::F64(y)) => select!(c, x, y, F64),
        (Tensor::F16(x), Tensor::F16(y)) => select!(c, x, y, F16),
        (Tensor::BF16(x), Tensor::BF16(y)) => select!(c, x, y, BF16),
        (Tensor::I64(x), Tensor::I64(y)) => select!(c, x, y, I64),
        (Tensor::I32(x), Tensor::I32(y)) => select!(c, x, y, I32),
        (Tensor::I16(x), Tensor::I16(y)) => select!(c, x, y, I16),
        (Tensor::U8(x), Tensor::U8(y)) => select!(c, x, y, U8),
        (Tensor::I8(x), Tensor::I8(y)) => select!(c, x, y, I8),
        (Tensor::U16(x), Tensor::U16(y)) => select!(c, x, y, U16),
        (Tensor::U32(x), Tensor::U32(y)) => select!(c, x, y, U32),
        (Tensor::U64(x), Tensor::U64(y)) => select!(c, x, y, U64),
        (Tensor::Bool(x), Tensor::Bool(y)) => select!(c, x, y, Bool),
        (Tensor::F8E4M3FN(x), Tensor::F8E4M3FN(y)) => select!(c, x, y, F8E4M3FN),
        (Tensor::F8E4M3FNUZ(x), Tensor::F8E4M3FNUZ(y)) => select!(c, x, y, F8E4M3FNUZ),
        (Tensor::F8E5M2(x), Tensor::F8E5M2(y)) => select!(c, x, y, F8E5M2),
        (Tensor::F8E5M2FNUZ(x), Tensor::F8E5M2FNUZ(y)) => select!(c, x, y, F8E5M2FNUZ),
        (Tensor::I4(x), Tensor::I4(y)) => select!(c, x, y, I4),
        (Tensor::U4(x), Tensor::U4(y)) => select!(c, x, y, U4),
        (Tensor::String(x), Tensor::String(y)) => select!(c, x, y, String),
        (x, y) => return Err(format!("Where of {} and {} is not supported", x.dtype(), y.dtype())),
    })
}
