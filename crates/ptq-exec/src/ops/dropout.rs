//! Dropout: the identity at inference, with an all-true mask.

use ndarray::{ArrayD, IxDyn};
use ptq_ir::Tensor;
use ptq_ir::ops::dropout::Dropout;

use super::Out;
use crate::inputs::Inputs;

/// Runs Dropout in inference mode; training mode with a non-zero ratio is refused.
pub fn run(_op: &Dropout, ins: &mut Inputs, n: usize) -> Out {
    let training = ins.opt(2).is_some_and(|t| matches!(t, Tensor::Bool(a) if a.iter().any(|&b| b)));
    let ratio = ins.opt_scalar(1)?.unwrap_or(0.5);
    if training && ratio != 0.0 {
        return Err("training-mode dropout is not supported".into());
    }
    let x = ins.take(0)?;
    let mask = (n > 1).then(|| Tensor::Bool(ArrayD::from_elem(IxDyn(x.shape()), true)));
    Ok(vec![Some(x), mask])
}
