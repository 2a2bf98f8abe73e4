//! MaxPool, AvgPool.

use ptq_ir::ValueId;
use ptq_ir::ops::pool::{Pool, PoolKind};

use super::conv::{Spatial, spatial};
use super::{input, ints, output};
use crate::doc::Layer;
use crate::import::Cx;

pub fn lower(cx: &mut Cx<'_>, l: &Layer, inputs: &[ValueId], outputs: &[ValueId]) -> Result<bool, String> {
    let kind = match l.kind.as_str() {
        "MaxPool" => PoolKind::Max,
        "AvgPool" => PoolKind::Avg,
        _ => return Ok(false),
    };
    let kernel = ints(l, "kernel", &[])?;
    if kernel.is_empty() {
        return Err("no kernel attribute".into());
    }
    let Spatial { strides, dilations, pads, auto_pad } = spatial(l, kernel.len())?;
    let ceil_mode = match l.attr("rounding_type").unwrap_or("floor") {
        "floor" | "FLOOR" => false,
        "ceil" | "CEIL" => true,
        other => return Err(format!("rounding_type '{other}'")),
    };
    let exclude_pad = l.attr("exclude-pad").is_some_and(|v| v == "true");
    // MaxPool-8's second output (indices) counts differently from ONNX's.
    if let Some(indices) = l.outputs.get(1)
        && cx.net.edges.iter().any(|e| e.from_layer == l.id && e.from_port == indices.id)
    {
        return Err("MaxPool indices output is not supported".into());
    }
    let op = Pool {
        kind,
        auto_pad,
        ceil_mode,
        count_include_pad: kind == PoolKind::Avg && !exclude_pad,
        dilations: (kind == PoolKind::Max).then_some(dilations),
        kernel_shape: kernel,
        pads: Some(pads),
        storage_order: 0,
        strides: Some(strides),
    };
    cx.node(&l.name, op, vec![Some(input(inputs, 0)?)], vec![output(outputs, 0)?]);
    Ok(true)
}
