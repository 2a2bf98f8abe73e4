//! ConstantOfShape.

use ndarray::{ArrayD, IxDyn};
use ptq_ir::Tensor;
use ptq_ir::ops::constant_of_shape::ConstantOfShape;

use super::{Out, one};
use crate::inputs::Inputs;
use crate::util::{map_tensor, to_usize};

/// Largest tensor (in elements) this op will allocate.
const MAX_ELEMENTS: usize = 1 << 31;

/// Runs ConstantOfShape.
pub fn run(op: &ConstantOfShape, ins: &mut Inputs, _n: usize) -> Out {
    let shape: Vec<usize> = ins.ints(0)?.iter().map(|&v| to_usize(v, "shape")).collect::<Result<_, _>>()?;
    if ptq_ir::tensor::checked_numel(&shape).is_none_or(|n| n > MAX_ELEMENTS) {
        return Err(format!("shape {shape:?} is too large"));
    }
    let value = op.value.clone().unwrap_or_else(|| Tensor::scalar_f32(0.0));
    one(map_tensor!(value, |a| {
        let v = a.iter().next().cloned().ok_or("value is empty".to_string())?;
        ArrayD::from_elem(IxDyn(&shape), v)
    }))
}
