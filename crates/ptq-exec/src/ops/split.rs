//! Split.

use ndarray::{Axis, Slice};
use ptq_ir::Tensor;
use ptq_ir::ops::split::Split;

use super::Out;
use crate::inputs::Inputs;
use crate::util::{map_tensor, to_usize};

/// Splits along the axis into the given sizes or into equal parts.
pub fn run(op: &Split, ins: &mut Inputs, n: usize) -> Out {
    let sizes = ins.opt_ints(1)?;
    let x = ins.shared(0)?;
    let ax = crate::util::axis(op.axis, x.shape().len())?;
    let dim = x.shape()[ax];
    let parts = op.num_outputs.map_or(Ok(n), |k| to_usize(k, "num_outputs"))?;
    let sizes: Vec<usize> = match sizes {
        Some(s) => s.iter().map(|&v| to_usize(v, "split size")).collect::<Result<_, _>>()?,
        None if parts == 0 => return Err("no outputs".into()),
        None => {
            let part = dim.div_ceil(parts);
            (0..parts).map(|i| part.min(dim.saturating_sub(i * part))).collect()
        }
    };
    if sizes.iter().sum::<usize>() != dim {
        return Err(format!("split sizes {sizes:?} do not add up to {dim}"));
    }
    let mut start = 0;
    let mut out = Vec::with_capacity(sizes.len());
    for s in sizes {
        let sl = Slice::from(start..start + s);
        out.push(Some(map_tensor!(&*x, |a| a.slice_axis(Axis(ax), sl).to_owned())));
        start += s;
    }
    Ok(out)
}
