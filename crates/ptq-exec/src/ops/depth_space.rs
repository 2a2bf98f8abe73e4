//! DepthToSpace and SpaceToDepth, as reshape + transpose.

use ptq_ir::Tensor;
use ptq_ir::ops::depth_to_space::DepthToSpace;
use ptq_ir::ops::space_to_depth::SpaceToDepth;

use super::reshape::reshape_tensor;
use super::{Out, one};
use crate::inputs::Inputs;
use crate::util::{map_tensor, to_usize};

fn permute(t: Tensor, perm: &[usize]) -> Tensor {
    map_tensor!(t, |a| a.permuted_axes(perm.to_vec()).as_standard_layout().into_owned())
}

fn nchw(t: &Tensor) -> Result<[usize; 4], String> {
    <[usize; 4]>::try_from(t.shape()).map_err(|_| format!("input must have rank 4, has shape {:?}", t.shape()))
}

/// Runs DepthToSpace.
pub fn run_d2s(op: &DepthToSpace, ins: &mut Inputs, _n: usize) -> Out {
    let b = to_usize(op.blocksize, "blocksize")?.max(1);
    let x = ins.take(0)?;
    let [n, c, h, w] = nchw(&x)?;
    let bb = b.checked_mul(b).ok_or("blocksize is too large")?;
    if c % bb != 0 {
        return Err(format!("channels {c} not divisible by {bb}"));
    }
    let c2 = c / bb;
    let (shape, perm) = if op.crd {
        (vec![n, c2, b, b, h, w], [0, 1, 4, 2, 5, 3])
    } else {
        (vec![n, b, b, c2, h, w], [0, 3, 4, 1, 5, 2])
    };
    let t = permute(reshape_tensor(x, &shape)?, &perm);
    one(reshape_tensor(t, &[n, c2, h * b, w * b])?)
}

/// Runs SpaceToDepth.
pub fn run_s2d(op: &SpaceToDepth, ins: &mut Inputs, _n: usize) -> Out {
    let b = to_usize(op.blocksize, "blocksize")?.max(1);
    let x = ins.take(0)?;
    let [n, c, h, w] = nchw(&x)?;
    if h % b != 0 || w % b != 0 {
        return Err(format!("spatial size {h}x{w} not divisible by {b}"));
    }
    let t = reshape_tensor(x, &[n, c, h / b, b, w / b, b])?;
    let t = permute(t, &[0, 3, 5, 1, 2, 4]);
    // h % b == 0 and w % b == 0, so c * b * b elements per (h / b, w / b) fit the input.
    one(reshape_tensor(t, &[n, c * b * b, h / b, w / b])?)
}
