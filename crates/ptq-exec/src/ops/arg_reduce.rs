//! ArgMax and ArgMin.

use ndarray::{ArrayD, Axis};
use ptq_ir::Tensor;
use ptq_ir::ops::arg_reduce::ArgReduce;

use super::{Out, one};
use crate::inputs::Inputs;

/// Runs ArgMax/ArgMin; ties go to the first index unless `select_last_index`.
pub fn run(op: &ArgReduce, ins: &mut Inputs, _n: usize) -> Out {
    let x = ins.shared(0)?;
    if x.dtype() == ptq_ir::DType::String {
        return Err("ArgMax/ArgMin of strings is not supported".into());
    }
    let a = ArrayD::from_shape_vec(x.shape(), x.to_f64_vec()).map_err(|e| e.to_string())?;
    let ax = crate::util::axis(op.axis, a.ndim())?;
    if a.shape()[ax] == 0 {
        return Err("cannot reduce an empty axis".into());
    }
    let better = |v: f64, best: f64| {
        if op.max {
            v > best || (op.select_last_index && v == best)
        } else {
            v < best || (op.select_last_index && v == best)
        }
    };
    let mut r = a.map_axis(Axis(ax), |lane| {
        let mut bi = 0;
        for (i, &v) in lane.iter().enumerate().skip(1) {
            if better(v, lane[bi]) {
                bi = i;
            }
        }
        bi as i64
    });
    if op.keepdims {
        r.insert_axis_inplace(Axis(ax));
    }
    one(Tensor::I64(r))
}
