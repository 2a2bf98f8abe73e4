//! GlobalAveragePool and GlobalMaxPool.

use ptq_ir::Tensor;
use ptq_ir::ops::global_pool::GlobalPool;
use ptq_ir::ops::pool::PoolKind;

use super::{Out, one};
use crate::inputs::Inputs;
use crate::util::{array, contiguous, f32s};

/// Reduces every (n, c) plane to one value.
pub fn run(op: &GlobalPool, ins: &mut Inputs, _n: usize) -> Out {
    let x = f32s(ins.get(0)?)?;
    let xs = x.shape();
    if xs.len() < 2 {
        return Err(format!("input rank {} < 2", xs.len()));
    }
    let spatial: usize = xs[2..].iter().product();
    let data = contiguous(x);
    let planes = xs[0] * xs[1];
    let y: Vec<f32> = (0..planes)
        .map(|p| {
            let s = &data[p * spatial..(p + 1) * spatial];
            match op.kind {
                PoolKind::Avg => sum(s) / spatial.max(1) as f32,
                PoolKind::Max => s.iter().copied().fold(f32::NEG_INFINITY, f32::max),
            }
        })
        .collect();
    let shape: Vec<usize> = xs.iter().enumerate().map(|(i, &d)| if i < 2 { d } else { 1 }).collect();
    one(Tensor::F32(array(&shape, y)?))
}

/// Sum of `s` in eight interleaved partial sums (vectorisable; the order
/// differs from a left-to-right sum only by rounding).
fn sum(s: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let mut chunks = s.chunks_exact(8);
    for c in &mut chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    let tail: f32 = chunks.remainder().iter().sum();
    acc.iter().sum::<f32>() + tail
}
