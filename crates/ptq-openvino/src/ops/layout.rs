//! Reshape, Transpose, Concat, Squeeze, Unsqueeze, Gather, ShapeOf.

use ptq_ir::ops::cast::Cast;
use ptq_ir::ops::concat::Concat;
use ptq_ir::ops::gather::Gather;
use ptq_ir::ops::reshape::Reshape;
use ptq_ir::ops::shape_of::ShapeOf;
use ptq_ir::ops::squeeze::Squeeze;
use ptq_ir::ops::transpose::Transpose;
use ptq_ir::ops::unsqueeze::Unsqueeze;
use ptq_ir::{DType, Fact, ValueId};

use super::{const_ints, input, output, req};
use crate::doc::Layer;
use crate::import::Cx;

pub fn lower(cx: &mut Cx<'_>, l: &Layer, inputs: &[ValueId], outputs: &[ValueId]) -> Result<bool, String> {
    let y = || output(outputs, 0);
    match l.kind.as_str() {
        "Reshape" => {
            // special_zero: a 0 copies the input dim (ONNX allowzero = 0).
            let allowzero = l.attr("special_zero").is_none_or(|v| v != "true");
            cx.node(&l.name, Reshape { allowzero }, vec![Some(input(inputs, 0)?), Some(input(inputs, 1)?)], vec![y()?]);
        }
        "Transpose" => {
            let perm = const_ints(cx, input(inputs, 1)?, "Transpose order")?;
            let perm = if perm.is_empty() { None } else { Some(perm) };
            cx.node(&l.name, Transpose { perm }, vec![Some(input(inputs, 0)?)], vec![y()?]);
        }
        "Concat" => {
            let axis: i64 = req(l, "axis")?.parse().map_err(|_| "axis is not an integer")?;
            cx.node(&l.name, Concat { axis }, inputs.iter().map(|&v| Some(v)).collect(), vec![y()?]);
        }
        "Squeeze" => cx.node(&l.name, Squeeze, inputs.iter().take(2).map(|&v| Some(v)).collect(), vec![y()?]),
        "Unsqueeze" => cx.node(&l.name, Unsqueeze, vec![Some(input(inputs, 0)?), Some(input(inputs, 1)?)], vec![y()?]),
        "Gather" => {
            if l.attr("batch_dims").is_some_and(|b| b.trim() != "0") {
                return Err("Gather with batch_dims is not supported".into());
            }
            let axis = const_ints(cx, input(inputs, 2)?, "Gather axis")?;
            let [axis] = axis[..] else { return Err("Gather axis must be one integer".into()) };
            cx.node(&l.name, Gather { axis }, vec![Some(input(inputs, 0)?), Some(input(inputs, 1)?)], vec![y()?]);
        }
        "ShapeOf" => {
            let x = input(inputs, 0)?;
            match l.attr("output_type").unwrap_or("i64") {
                "i64" => cx.node(&l.name, ShapeOf { start: None, end: None }, vec![Some(x)], vec![y()?]),
                "i32" => {
                    let s = cx.value(&format!("{}.i64", l.name), Fact::dtype_only(Some(DType::I64)));
                    cx.node(&format!("{}/shape", l.name), ShapeOf { start: None, end: None }, vec![Some(x)], vec![s]);
                    cx.node(&l.name, Cast { to: DType::I32, saturate: None }, vec![Some(s)], vec![y()?]);
                }
                other => return Err(format!("output_type {other}")),
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}
