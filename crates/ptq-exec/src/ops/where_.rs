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

/// Runs Where.
pub fn run(_op: &Where, ins: &mut Inputs, _n: usize) -> Out {
    let Tensor::Bool(c) = ins.get(0)? else { return Err("condition must be bool".into()) };
    one(match (ins.get(1)?, ins.get(2)?) {
        (Tensor::F32(x), Tensor::F32(y)) => select!(c, x, y, F32),
        (Tensor::F64(x), Tensor::F64(y)) => select!(c, x, y, F64),
        (Tensor::I64(x), Tensor::I64(y)) => select!(c, x, y, I64),
        (Tensor::I32(x), Tensor::I32(y)) => select!(c, x, y, I32),
        (Tensor::U8(x), Tensor::U8(y)) => select!(c, x, y, U8),
        (Tensor::I8(x), Tensor::I8(y)) => select!(c, x, y, I8),
        (Tensor::Bool(x), Tensor::Bool(y)) => select!(c, x, y, Bool),
        (x, y) => return Err(format!("Where of {} and {} is not supported", x.dtype(), y.dtype())),
    })
}
