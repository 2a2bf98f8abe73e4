//! Shape and Size.

use ptq_ir::Tensor;
use ptq_ir::ops::shape_of::ShapeOf;
use ptq_ir::ops::size::Size;

use super::{Out, one};
use crate::inputs::Inputs;

/// Runs Shape.
pub fn run_shape(op: &ShapeOf, ins: &mut Inputs, _n: usize) -> Out {
    let s = ins.get(0)?.shape();
    let dims: Vec<i64> = s[op.range(s.len())].iter().map(|&d| d as i64).collect();
    one(Tensor::from_i64s(&dims))
}

/// Runs Size.
pub fn run_size(_op: &Size, ins: &mut Inputs, _n: usize) -> Out {
    one(Tensor::I64(ndarray::arr0(ins.get(0)?.len() as i64).into_dyn()))
}
