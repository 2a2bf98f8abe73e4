//! Mean, Sum, Max, Min, Prod, ArgMax, ArgMin. A reduction over both
//! spatial axes of a tensor that has a channels-first value reduces that
//! value's axes 2 and 3 (global pooling stays on the convolution's layout).

use ptq_ir::Tensor;
use ptq_ir::ops::arg_reduce::ArgReduce;
use ptq_ir::ops::cast::Cast;
use ptq_ir::ops::reduce::{Reduce, ReduceKind};

use super::{attr_b, attr_dtype, const_ints};
use crate::flatten::FlatNode;
use crate::import::Cx;

pub fn lower(cx: &mut Cx<'_>, idx: usize, n: &FlatNode) -> Result<bool, String> {
    let kind = match n.op {
        "Mean" => ReduceKind::Mean,
        "Sum" => ReduceKind::Sum,
        "Max" => ReduceKind::Max,
        "Min" => ReduceKind::Min,
        "Prod" => ReduceKind::Prod,
        "ArgMax" | "ArgMin" => return arg(cx, idx, n).map(|()| true),
        _ => return Ok(false),
    };
    let keepdims = attr_b(n, "keep_dims", false);
    let axes_v = cx.input(n, 1)?;
    let axes = const_ints(cx, axes_v, "reduction axes")?;
    let op = Reduce { kind, keepdims, noop_with_empty_axes: true };
    let spatial = {
        let mut a: Vec<i64> = axes.iter().map(|&x| if x < 0 { x + 4 } else { x }).collect();
        a.sort_unstable();
        a == [1, 2]
    };
    if cx.has_nchw(n, 0) && spatial {
        let x = cx.input_nchw(n, 0)?;
        let ax = cx.constant(&format!("{}/axes", n.name), Tensor::from_i64s(&[2, 3]));
        let y = cx.node1(&n.name, op, vec![Some(x), Some(ax)]);
        // [N, C, 1, 1] is channels-first; [N, C] is the same in both layouts.
        if keepdims {
            cx.set_nchw(idx, 0, y)
        } else {
            cx.set(idx, 0, y)
        }
        return Ok(true);
    }
    let x = cx.input(n, 0)?;
    let ax = cx.constant(&format!("{}/axes", n.name), Tensor::from_i64s(&axes));
    let y = cx.node1(&n.name, op, vec![Some(x), Some(ax)]);
    cx.set(idx, 0, y);
    Ok(true)
}

fn arg(cx: &mut Cx<'_>, idx: usize, n: &FlatNode) -> Result<(), String> {
    let x = cx.input(n, 0)?;
    let axis_v = cx.input(n, 1)?;
    let axis = match const_ints(cx, axis_v, "axis")?[..] {
        [a] => a,
        _ => return Err("axis must be one integer".into()),
    };
    let op = ArgReduce { max: n.op == "ArgMax", axis, keepdims: false, select_last_index: false };
    let y = cx.node1(&format!("{}/i64", n.name), op, vec![Some(x)]);
    let to = attr_dtype(n, "output_type").unwrap_or(ptq_ir::DType::I64);
    let y = if to == ptq_ir::DType::I64 { y } else { cx.node1(&n.name, Cast { to, saturate: None }, vec![Some(y)]) };
    cx.set(idx, 0, y);
    Ok(())
}
