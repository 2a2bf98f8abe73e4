//! Softmax, LogSoftmax and Hardmax.

use ndarray::{ArrayD, IxDyn};
use ptq_ir::Tensor;
use ptq_ir::ops::softmax::{Softmax, SoftmaxKind};

use super::{Out, one};
use crate::inputs::Inputs;
use crate::util::{axis, into_f32s};

fn normalise_rows(data: &mut [f32], row: usize, kind: SoftmaxKind) {
    if row == 0 {
        return;
    }
    if kind == SoftmaxKind::Softmax && data.len().is_multiple_of(row) {
        ptq_kernels::softmax_rows(data, row);
        return;
    }
    for r in data.chunks_mut(row) {
        match kind {
            SoftmaxKind::Softmax | SoftmaxKind::LogSoftmax => {
                let max = r.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0.0f32;
                for v in r.iter_mut() {
                    *v = (*v - max).exp();
                    sum += *v;
                }
                if kind == SoftmaxKind::Softmax {
                    let inv = 1.0 / sum;
                    r.iter_mut().for_each(|v| *v *= inv);
                } else {
                    let ls = sum.ln();
                    r.iter_mut().for_each(|v| *v = v.ln() - ls);
                }
            }
            SoftmaxKind::Hardmax => {
                let mut best = 0;
                for (i, v) in r.iter().enumerate() {
                    if *v > r[best] {
                        best = i;
                    }
                }
                r.iter_mut().enumerate().for_each(|(i, v)| *v = if i == best { 1.0 } else { 0.0 });
            }
        }
    }
}

/// Runs the softmax family in f32.
pub fn run(op: &Softmax, ins: &mut Inputs, _n: usize) -> Out {
    let a = into_f32s(ins.take(0)?)?;
    let rank = a.ndim();
    if rank == 0 {
        return Err("input must have rank >= 1".into());
    }
    let ax = axis(op.axis, rank)?;
    let shape = a.shape().to_vec();
    let out = if op.coerce_2d || ax + 1 == rank {
        let row: usize = shape[ax..].iter().product::<usize>();
        let mut a = if a.is_standard_layout() { a } else { a.as_standard_layout().into_owned() };
        let row = if op.coerce_2d { row } else { shape[ax] };
        normalise_rows(a.as_slice_mut().ok_or("layout")?, row, op.kind);
        a
    } else {
        let mut moved = a.view();
        moved.swap_axes(ax, rank - 1);
        let mut m: ArrayD<f32> = moved.as_standard_layout().into_owned();
        normalise_rows(m.as_slice_mut().ok_or("layout")?, shape[ax], op.kind);
        m.swap_axes(ax, rank - 1);
        m.as_standard_layout().into_owned().into_shape_with_order(IxDyn(&shape)).map_err(|e| e.to_string())?
    };
    one(Tensor::F32(out))
}
