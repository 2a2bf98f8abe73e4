//! Reshape, Flatten, Squeeze and Unsqueeze: new shapes over the same data.

use ndarray::{ArrayD, IxDyn};
use ptq_ir::Tensor;
use ptq_ir::ops::flatten::Flatten;
use ptq_ir::ops::reshape::Reshape;
use ptq_ir::ops::squeeze::Squeeze;
use ptq_ir::ops::unsqueeze::Unsqueeze;

use super::{Out, one};
use crate::inputs::Inputs;
use crate::util::{to_usize, try_map_tensor};

fn reshape_array<T: Clone>(a: ArrayD<T>, shape: &[usize]) -> Result<ArrayD<T>, String> {
    let a = if a.is_standard_layout() { a } else { a.as_standard_layout().into_owned() };
    let from = a.shape().to_vec();
    a.into_shape_with_order(IxDyn(shape)).map_err(|_| format!("cannot reshape {from:?} to {shape:?}"))
}

/// Gives `t` a new shape with the same element count.
pub fn reshape_tensor(t: Tensor, shape: &[usize]) -> Result<Tensor, String> {
    try_map_tensor!(t, |a| reshape_array(a, shape))
}

/// Resolves an ONNX reshape target (0 copies, -1 infers) against an input shape.
pub fn resolve_target(input: &[usize], target: &[i64], allowzero: bool) -> Result<Vec<usize>, String> {
    let mut out = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &t) in target.iter().enumerate() {
        out.push(match t {
            -1 if infer.is_none() => {
                infer = Some(i);
                1
            }
            -1 => return Err("more than one -1 in the target shape".into()),
            0 if !allowzero => *input.get(i).ok_or_else(|| format!("0 at position {i} beyond the input rank"))?,
            t => to_usize(t, "target dimension")?,
        });
    }
    let total: usize = input.iter().product();
    let too_large = || format!("target shape {target:?} is too large");
    if let Some(i) = infer {
        let rest = ptq_ir::tensor::checked_numel(&out).ok_or_else(too_large)?;
        if rest == 0 || !total.is_multiple_of(rest) {
            return Err(format!("cannot reshape {input:?} to {target:?}"));
        }
        out[i] = total / rest;
    }
    if ptq_ir::tensor::checked_numel(&out).ok_or_else(too_large)? != total {
        return Err(format!("cannot reshape {input:?} to {target:?}"));
    }
    Ok(out)
}

/// Runs Reshape.
pub fn run_reshape(op: &Reshape, ins: &mut Inputs, _n: usize) -> Out {
    let target = ins.ints(1)?;
    let x = ins.take(0)?;
    let shape = resolve_target(x.shape(), &target, op.allowzero)?;
    one(reshape_tensor(x, &shape)?)
}

/// Runs Flatten.
pub fn run_flatten(op: &Flatten, ins: &mut Inputs, _n: usize) -> Out {
    let x = ins.take(0)?;
    let r = x.shape().len() as i64;
    let a = if op.axis < 0 { op.axis + r } else { op.axis };
    if !(0..=r).contains(&a) {
        return Err(format!("axis {} out of range for rank {r}", op.axis));
    }
    let (l, rr) = x.shape().split_at(a as usize);
    let shape = [l.iter().product(), rr.iter().product()];
    one(reshape_tensor(x, &shape)?)
}

/// Runs Squeeze.
pub fn run_squeeze(_op: &Squeeze, ins: &mut Inputs, _n: usize) -> Out {
    let axes = ins.opt_ints(1)?;
    let x = ins.take(0)?;
    let s = x.shape().to_vec();
    let axes: Vec<usize> = match axes {
        Some(a) => a.iter().map(|&v| crate::util::axis(v, s.len())).collect::<Result<_, _>>()?,
        None => (0..s.len()).filter(|&i| s[i] == 1).collect(),
    };
    if let Some(&bad) = axes.iter().find(|&&a| s[a] != 1) {
        return Err(format!("cannot squeeze axis {bad} of size {}", s[bad]));
    }
    let shape: Vec<usize> = s.iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, &d)| d).collect();
    one(reshape_tensor(x, &shape)?)
}

/// Runs Unsqueeze.
pub fn run_unsqueeze(_op: &Unsqueeze, ins: &mut Inputs, _n: usize) -> Out {
    let axes = ins.ints(1)?;
    let x = ins.take(0)?;
    let rank = x.shape().len() + axes.len();
    let axes: Vec<usize> = axes.iter().map(|&v| crate::util::axis(v, rank)).collect::<Result<_, _>>()?;
    let mut src = x.shape().iter();
    let shape: Vec<usize> =
        (0..rank).map(|i| if axes.contains(&i) { 1 } else { src.next().copied().unwrap_or(1) }).collect();
    one(reshape_tensor(x, &shape)?)
}
