//! Expand (broadcast to a shape).

use ndarray::IxDyn;
use ptq_ir::Tensor;
use ptq_ir::ops::expand::Expand;

use super::{Out, one};
use crate::inputs::Inputs;
use crate::util::{broadcast_shape, to_usize, try_map_tensor};

/// Runs Expand.
pub fn run(_op: &Expand, ins: &mut Inputs, _n: usize) -> Out {
    let target: Vec<usize> = ins.ints(1)?.iter().map(|&v| to_usize(v, "shape")).collect::<Result<_, _>>()?;
    let x = ins.shared(0)?;
    let shape = broadcast_shape(x.shape(), &target)?;
    let out: Result<Tensor, String> = try_map_tensor!(&*x, |a| a
        .broadcast(IxDyn(&shape))
        .map(|v| v.to_owned())
        .ok_or("broadcast failed".to_string()));
    one(out?)
}
