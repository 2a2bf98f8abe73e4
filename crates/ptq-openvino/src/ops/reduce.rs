//! ReduceMean, ReduceSum, ReduceMax, ReduceMin, ReduceProd, ReduceL2, and
//! SoftMax.

use ptq_ir::ValueId;
use ptq_ir::ops::reduce::{Reduce, ReduceKind};
use ptq_ir::ops::softmax::{Softmax, SoftmaxKind};

use super::{input, output, req};
use crate::doc::Layer;
use crate::import::Cx;

pub fn lower(cx: &mut Cx<'_>, l: &Layer, inputs: &[ValueId], outputs: &[ValueId]) -> Result<bool, String> {
    let kind = match l.kind.as_str() {
        "ReduceMean" => ReduceKind::Mean,
        "ReduceSum" => ReduceKind::Sum,
        "ReduceMax" => ReduceKind::Max,
        "ReduceMin" => ReduceKind::Min,
        "ReduceProd" => ReduceKind::Prod,
        "ReduceL2" => ReduceKind::L2,
        "ReduceL1" => ReduceKind::L1,
        "SoftMax" | "LogSoftmax" => {
            let axis: i64 = req(l, "axis")?.parse().map_err(|_| "axis is not an integer")?;
            let kind = if l.kind == "SoftMax" { SoftmaxKind::Softmax } else { SoftmaxKind::LogSoftmax };
            cx.node(
                &l.name,
                Softmax { kind, axis, coerce_2d: false },
                vec![Some(input(inputs, 0)?)],
                vec![output(outputs, 0)?],
            );
            return Ok(true);
        }
        _ => return Ok(false),
    };
    let keepdims = l.attr("keep_dims").is_some_and(|v| v == "true");
    let op = Reduce { kind, keepdims, noop_with_empty_axes: false };
    cx.node(&l.name, op, vec![Some(input(inputs, 0)?), Some(input(inputs, 1)?)], vec![output(outputs, 0)?]);
    Ok(true)
}
