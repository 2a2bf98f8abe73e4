//! Transpose.

use ptq_ir::Tensor;
use ptq_ir::ops::transpose::Transpose;

use super::{Out, one};
use crate::inputs::Inputs;
use crate::util::map_tensor;

/// Permutes axes and materialises the result in standard layout.
pub fn run(op: &Transpose, ins: &mut Inputs, _n: usize) -> Out {
    let x = ins.take(0)?;
    let perm = op.resolved_perm(x.shape().len())?;
    one(map_tensor!(x, |a| a.permuted_axes(perm.clone()).as_standard_layout().into_owned()))
}
