//! Gemm through the kernels crate.

use ndarray::IxDyn;
use ptq_ir::Tensor;
use ptq_ir::ops::gemm::Gemm;
use ptq_kernels::sgemm;

use super::{Out, one};
use crate::inputs::Inputs;
use crate::util::{array, contiguous, f32s};

/// Runs `alpha * A' * B' + beta * C`.
pub fn run(op: &Gemm, ins: &mut Inputs, _n: usize) -> Out {
    let a = f32s(ins.get(0)?)?;
    let b = f32s(ins.get(1)?)?;
    let (&[ar, ac], &[br, bc]) = (a.shape(), b.shape()) else {
        return Err(format!("operands must be matrices, are {:?} and {:?}", a.shape(), b.shape()));
    };
    let (m, k) = if op.trans_a { (ac, ar) } else { (ar, ac) };
    let (kb, n) = if op.trans_b { (bc, br) } else { (br, bc) };
    if k != kb {
        return Err(format!("inner dimensions differ: {k} vs {kb}"));
    }
    let mut y = match ins.opt(2) {
        Some(c) if op.beta != 0.0 => {
            let c = f32s(c)?;
            let v = c
                .broadcast(IxDyn(&[m, n]))
                .ok_or_else(|| format!("C of shape {:?} does not broadcast to [{m}, {n}]", c.shape()))?;
            match c.as_slice() {
                // The common bias shapes, without a per-element iterator.
                Some(row) if row.len() == n && n > 0 => row.repeat(m),
                Some(all) if all.len() == m * n => all.to_vec(),
                _ => v.iter().copied().collect(),
            }
        }
        _ => vec![0f32; m * n],
    };
    let mut g = ptq_kernels::Gemm::row_major(m, n, k, op.trans_a, op.trans_b);
    g.alpha = op.alpha;
    g.beta = if ins.opt(2).is_some() { op.beta } else { 0.0 };
    sgemm(&g, &contiguous(a), &contiguous(b), &mut y, ins.threads);
    one(Tensor::F32(array(&[m, n], y)?))
}
