//! Reduce* over axes.

use ndarray::{ArrayD, Axis};
use ptq_ir::Tensor;
use ptq_ir::ops::reduce::{Reduce, ReduceKind};

use super::{Out, one};
use crate::inputs::Inputs;

fn reduce_f64(a: &ArrayD<f64>, axes: &[usize], kind: ReduceKind, keepdims: bool) -> ArrayD<f64> {
    let mut sorted = axes.to_vec();
    sorted.sort_unstable_by(|x, y| y.cmp(x));
    let count: usize = axes.iter().map(|&ax| a.shape()[ax]).product();
    let mut r = a.clone();
    for &ax in &sorted {
        r = match kind {
            ReduceKind::Max => {
                r.fold_axis(Axis(ax), f64::NEG_INFINITY, |m, &v| if v > *m || v.is_nan() { v } else { *m })
            }
            ReduceKind::Min => r.fold_axis(Axis(ax), f64::INFINITY, |m, &v| if v < *m || v.is_nan() { v } else { *m }),
            ReduceKind::Prod => r.fold_axis(Axis(ax), 1.0, |m, &v| m * v),
            ReduceKind::L1 => r.fold_axis(Axis(ax), 0.0, |m, &v| m + v.abs()),
            ReduceKind::L2 | ReduceKind::SumSquare => r.fold_axis(Axis(ax), 0.0, |m, &v| m + v * v),
            ReduceKind::LogSumExp => r.fold_axis(Axis(ax), 0.0, |m, &v| m + v.exp()),
            ReduceKind::Sum | ReduceKind::Mean | ReduceKind::LogSum => r.sum_axis(Axis(ax)),
        };
        if keepdims {
            r.insert_axis_inplace(Axis(ax));
        }
    }
    match kind {
        ReduceKind::Mean => r.mapv_inplace(|v| v / count.max(1) as f64),
        ReduceKind::L2 => r.mapv_inplace(f64::sqrt),
        ReduceKind::LogSum | ReduceKind::LogSumExp => r.mapv_inplace(f64::ln),
        _ => {}
    }
    r
}

/// Runs a reduction (several axes of L1/L2/SumSquare/LogSumExp transform first, then sum). Values are accumulated in f64 and converted back.
pub fn run(op: &Reduce, ins: &mut Inputs, _n: usize) -> Out {
    let axes = ins.opt_ints(1)?;
    let x = ins.shared(0)?;
    let rank = x.shape().len();
    let axes: Vec<usize> = match axes {
        Some(a) if !a.is_empty() => a.iter().map(|&v| crate::util::axis(v, rank)).collect::<Result<_, _>>()?,
        _ if op.noop_with_empty_axes => return one((*x).clone()),
        _ => (0..rank).collect(),
    };
    let a = ArrayD::from_shape_vec(x.shape(), x.to_f64_vec()).map_err(|e| e.to_string())?;
    let multi = axes.len() > 1;
    let r = if multi
        && matches!(op.kind, ReduceKind::L1 | ReduceKind::L2 | ReduceKind::SumSquare | ReduceKind::LogSumExp)
    {
        let pre = match op.kind {
            ReduceKind::L1 => a.mapv(f64::abs),
            ReduceKind::LogSumExp => a.mapv(f64::exp),
            _ => a.mapv(|v| v * v),
        };
        let s = reduce_f64(&pre, &axes, ReduceKind::Sum, op.keepdims);
        match op.kind {
            ReduceKind::L2 => s.mapv(f64::sqrt),
            ReduceKind::LogSumExp => s.mapv(f64::ln),
            _ => s,
        }
    } else {
        reduce_f64(&a, &axes, op.kind, op.keepdims)
    };
    let shape = r.shape().to_vec();
    let v = r.into_raw_vec_and_offset().0;
    one(match x.dtype() {
        ptq_ir::DType::F32 => Tensor::F32(crate::util::array(&shape, v.iter().map(|&x| x as f32).collect())?),
        ptq_ir::DType::F64 => Tensor::F64(crate::util::array(&shape, v)?),
        ptq_ir::DType::I64 => Tensor::I64(crate::util::array(&shape, v.iter().map(|&x| x as i64).collect())?),
        ptq_ir::DType::I32 => Tensor::I32(crate::util::array(&shape, v.iter().map(|&x| x as i32).collect())?),
        ptq_ir::DType::U8 => Tensor::U8(crate::util::array(&shape, v.iter().map(|&x| x as u8).collect())?),
        ptq_ir::DType::I8 => Tensor::I8(crate::util::array(&shape, v.iter().map(|&x| x as i8).collect())?),
        d => return Err(format!("reduction of {d} is not supported")),
    })
}
