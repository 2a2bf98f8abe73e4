//! Gather along an axis.

use ptq_ir::Tensor;
use ptq_ir::ops::gather::Gather;

use super::{Out, one};
use crate::inputs::Inputs;
use crate::util::{array, contiguous, try_map_tensor};

fn gather<T: Clone>(data: &[T], outer: usize, dim: usize, inner: usize, idx: &[i64]) -> Result<Vec<T>, String> {
    let mut out = Vec::with_capacity(outer * idx.len() * inner);
    for o in 0..outer {
        for &i in idx {
            let j = if i < 0 { i + dim as i64 } else { i };
            if !(0..dim as i64).contains(&j) {
                return Err(format!("index {i} out of range for axis of size {dim}"));
            }
            let base = (o * dim + j as usize) * inner;
            out.extend_from_slice(&data[base..base + inner]);
        }
    }
    Ok(out)
}

/// Runs Gather.
pub fn run(op: &Gather, ins: &mut Inputs, _n: usize) -> Out {
    let idx_t = ins.get(1)?;
    let idx = idx_t.to_i64_vec().ok_or("indices must be integers")?;
    let idx_shape = idx_t.shape().to_vec();
    let x = ins.shared(0)?;
    let s = x.shape();
    let ax = crate::util::axis(op.axis, s.len())?;
    let (outer, dim, inner) = (s[..ax].iter().product(), s[ax], s[ax + 1..].iter().product());
    let shape: Vec<usize> = s[..ax].iter().chain(&idx_shape).chain(&s[ax + 1..]).copied().collect();
    let out: Result<Tensor, String> =
        try_map_tensor!(&*x, |a| gather(&contiguous(a), outer, dim, inner, &idx).and_then(|v| array(&shape, v)));
    one(out?)
}
