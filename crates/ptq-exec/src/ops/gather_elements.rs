//! GatherElements.

use ndarray::{ArrayD, Dimension, IxDyn};
use ptq_ir::Tensor;
use ptq_ir::ops::gather_elements::GatherElements;

use super::{Out, one};
use crate::inputs::Inputs;
use crate::util::try_map_tensor;

fn gather_el<T: Clone>(a: &ArrayD<T>, idx: &ArrayD<i64>, ax: usize) -> Result<ArrayD<T>, String> {
    let dim = a.shape()[ax] as i64;
    let mut out = Vec::with_capacity(idx.len());
    let mut p = vec![0usize; a.ndim()];
    for (pos, &i) in idx.indexed_iter() {
        let j = if i < 0 { i + dim } else { i };
        if !(0..dim).contains(&j) {
            return Err(format!("index {i} out of range for axis of size {dim}"));
        }
        p.copy_from_slice(pos.slice());
        p[ax] = j as usize;
        out.push(a.get(IxDyn(&p)).ok_or("indices exceed the data shape")?.clone());
    }
    ArrayD::from_shape_vec(idx.raw_dim(), out).map_err(|e| e.to_string())
}

/// Runs GatherElements.
pub fn run(op: &GatherElements, ins: &mut Inputs, _n: usize) -> Out {
    let it = ins.get(1)?;
    let idx = ArrayD::from_shape_vec(IxDyn(it.shape()), it.to_i64_vec().ok_or("indices must be integers")?)
        .map_err(|e| e.to_string())?;
    let x = ins.shared(0)?;
    if idx.ndim() != x.shape().len() {
        return Err("indices must have the data's rank".into());
    }
    let ax = crate::util::axis(op.axis, idx.ndim())?;
    let out: Result<Tensor, String> = try_map_tensor!(&*x, |a| gather_el(a, &idx, ax));
    one(out?)
}
