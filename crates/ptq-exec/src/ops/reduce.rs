//! Reduce* over axes.

use ndarray::{ArrayD, Axis};
use ptq_ir::ops::reduce::{Reduce, ReduceKind};
use ptq_ir::{DType, Tensor};

use super::{Out, one};
use crate::inputs::Inputs;
use crate::util::{Elem, array};

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

/// When `axes` are exactly the trailing axes k..rank, the length of each
/// reduced row (non-zero).
fn trailing_rows(shape: &[usize], axes: &[usize]) -> Option<usize> {
    let k = shape.len().checked_sub(axes.len())?;
    let mut sorted = axes.to_vec();
    sorted.sort_unstable();
    let row: usize = shape[k..].iter().product();
    (sorted.iter().copied().eq(k..shape.len()) && row > 0).then_some(row)
}

/// Sum/Mean/Max/Min of f32 rows of `row` contiguous elements (f64
/// accumulation, like the general path); `None` for other kinds.
fn reduce_rows_f32(
    a: &ArrayD<f32>,
    row: usize,
    kind: ReduceKind,
    keepdims: bool,
    axes: &[usize],
) -> Option<Result<ArrayD<f32>, String>> {
    let data = a.as_standard_layout();
    let data = data.as_slice()?;
    let per_row: fn(&[f32]) -> f64 = match kind {
        ReduceKind::Sum => |r| r.iter().map(|&v| v as f64).sum(),
        ReduceKind::Mean => |r| r.iter().map(|&v| v as f64).sum::<f64>() / r.len() as f64,
        ReduceKind::Max => {
            |r| r.iter().fold(f64::NEG_INFINITY, |m, &v| if v as f64 > m || v.is_nan() { v as f64 } else { m })
        }
        ReduceKind::Min => {
            |r| r.iter().fold(f64::INFINITY, |m, &v| if (v as f64) < m || v.is_nan() { v as f64 } else { m })
        }
        _ => return None,
    };
    let out: Vec<f32> = data.chunks_exact(row).map(|r| per_row(r) as f32).collect();
    let rank = a.ndim();
    let kept = rank - axes.len();
    let mut shape = a.shape()[..kept].to_vec();
    if keepdims {
        shape.resize(rank, 1);
    }
    Some(array(&shape, out))
}

/// Runs a reduction (several axes of L1/L2/SumSquare/LogSumExp transform first, then sum). Values are
/// accumulated in f64 and converted back to the input's dtype.
pub fn run(op: &Reduce, ins: &mut Inputs, _n: usize) -> Out {
    let axes = ins.opt_ints(1)?;
    let x = ins.shared(0)?;
    let rank = x.shape().len();
    let axes: Vec<usize> = match axes {
        Some(a) if !a.is_empty() => a.iter().map(|&v| crate::util::axis(v, rank)).collect::<Result<_, _>>()?,
        _ if op.noop_with_empty_axes => return one((*x).clone()),
        _ => (0..rank).collect(),
    };
    if let (Tensor::F32(a), Some(r)) = (&*x, trailing_rows(x.shape(), &axes))
        && let Some(t) = reduce_rows_f32(a, r, op.kind, op.keepdims, &axes)
    {
        return one(Tensor::F32(t?));
    }
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
    one(from_f64s(x.dtype(), &shape, v, op.kind)?)
}

/// Converts reduced values back to the input's dtype: floats round to nearest,
/// integers truncate toward zero and saturate (so the max of an empty set is
/// the type's minimum); bool admits only Max (any) and Min (all).
fn from_f64s(dtype: DType, shape: &[usize], v: Vec<f64>, kind: ReduceKind) -> Result<Tensor, String> {
    fn conv<T: Elem>(shape: &[usize], v: &[f64]) -> Result<ArrayD<T>, String> {
        array(shape, v.iter().map(|&x| T::from_f64(x)).collect())
    }
    Ok(match dtype {
        DType::F32 => Tensor::F32(conv(shape, &v)?),
        DType::F64 => Tensor::F64(array(shape, v)?),
        DType::F16 => Tensor::F16(conv(shape, &v)?),
        DType::BF16 => Tensor::BF16(conv(shape, &v)?),
        DType::I8 => Tensor::I8(conv(shape, &v)?),
        DType::U8 => Tensor::U8(conv(shape, &v)?),
        DType::I16 => Tensor::I16(conv(shape, &v)?),
        DType::U16 => Tensor::U16(conv(shape, &v)?),
        DType::I32 => Tensor::I32(conv(shape, &v)?),
        DType::U32 => Tensor::U32(conv(shape, &v)?),
        DType::I64 => Tensor::I64(conv(shape, &v)?),
        DType::U64 => Tensor::U64(conv(shape, &v)?),
        DType::Bool if matches!(kind, ReduceKind::Max | ReduceKind::Min) => {
            Tensor::Bool(array(shape, v.iter().map(|&x| x > 0.5).collect())?)
        }
        DType::Bool => return Err(format!("{} of bool is not supported", kind.name())),
        d => return Err(format!("{} of {d} is not supported", kind.name())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bool_max_is_any_and_min_is_all_even_when_empty() {
        let any = from_f64s(DType::Bool, &[3], vec![1.0, 0.0, f64::NEG_INFINITY], ReduceKind::Max).unwrap();
        assert_eq!(any, Tensor::Bool(array(&[3], vec![true, false, false]).unwrap()));
        let all = from_f64s(DType::Bool, &[2], vec![0.0, f64::INFINITY], ReduceKind::Min).unwrap();
        assert_eq!(all, Tensor::Bool(array(&[2], vec![false, true]).unwrap()));
        assert!(from_f64s(DType::Bool, &[1], vec![1.0], ReduceKind::Sum).is_err());
    }

    #[test]
    fn integer_max_of_an_empty_set_is_the_type_minimum() {
        let t = from_f64s(DType::I32, &[1], vec![f64::NEG_INFINITY], ReduceKind::Max).unwrap();
        assert_eq!(t, Tensor::I32(array(&[1], vec![i32::MIN]).unwrap()));
    }
}
