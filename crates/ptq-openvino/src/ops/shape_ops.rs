//! Pad, VariadicSplit, Range, Slice.

use ptq_ir::ops::cast::Cast;
use ptq_ir::ops::concat::Concat;
use ptq_ir::ops::pad::{Pad, PadMode};
use ptq_ir::ops::range::Range;
use ptq_ir::ops::slice::Slice;
use ptq_ir::ops::split::Split;
use ptq_ir::{DType, Fact, Tensor, ValueId};

use super::{const_ints, input, output};
use crate::doc::Layer;
use crate::import::Cx;

pub fn lower(cx: &mut Cx<'_>, l: &Layer, inputs: &[ValueId], outputs: &[ValueId]) -> Result<bool, String> {
    let name = |s: &str| format!("{}/{s}", l.name);
    match l.kind.as_str() {
        "Pad" => {
            let mode = match l.attr("pad_mode").unwrap_or("constant") {
                "constant" => PadMode::Constant,
                "edge" => PadMode::Edge,
                "reflect" => PadMode::Reflect,
                other => return Err(format!("pad_mode {other} is not supported")),
            };
            // ONNX pads are begins ++ ends in one tensor.
            let pads = cx.value(&name("pads"), Fact::dtype_only(Some(DType::I64)));
            cx.node(
                &name("pads"),
                Concat { axis: 0 },
                vec![Some(input(inputs, 1)?), Some(input(inputs, 2)?)],
                vec![pads],
            );
            let value = inputs.get(3).copied();
            cx.node(&l.name, Pad { mode }, vec![Some(input(inputs, 0)?), Some(pads), value], vec![output(outputs, 0)?]);
        }
        "VariadicSplit" => {
            let axis = const_ints(cx, input(inputs, 1)?, "VariadicSplit axis")?;
            let [axis] = axis[..] else { return Err("axis must be one integer".into()) };
            let mut lengths = const_ints(cx, input(inputs, 2)?, "split_lengths")?;
            if let Some(free) = lengths.iter().position(|&n| n == -1) {
                let dims = l.inputs.first().map(|p| p.dims.clone()).unwrap_or_default();
                let a = if axis < 0 { axis + dims.len() as i64 } else { axis };
                let total = usize::try_from(a).ok().and_then(|a| dims.get(a)).copied().filter(|&d| d >= 0);
                let total = total.ok_or("split_lengths has -1 and the axis length is unknown")?;
                let known = lengths.iter().filter(|&&n| n != -1).try_fold(0i64, |a, &n| a.checked_add(n));
                lengths[free] = known.and_then(|k| total.checked_sub(k)).ok_or("split_lengths overflow")?;
            }
            let split = cx.constant(&name("split"), Tensor::from_i64s(&lengths));
            let op = Split { axis, num_outputs: None };
            cx.node(&l.name, op, vec![Some(input(inputs, 0)?), Some(split)], outputs.to_vec());
        }
        "Range" => {
            let to = match l.attr("output_type") {
                Some(t) => Some(crate::element::dtype(t).ok_or_else(|| format!("output_type {t}"))?),
                None => None,
            };
            let mut args = vec![];
            for i in 0..3 {
                let v = input(inputs, i)?;
                args.push(Some(match to {
                    Some(dt) => {
                        let c = cx.value(&name(&format!("cast{i}")), Fact::dtype_only(Some(dt)));
                        cx.node(&name(&format!("Cast{i}")), Cast { to: dt, saturate: None }, vec![Some(v)], vec![c]);
                        c
                    }
                    None => v,
                }));
            }
            cx.node(&l.name, Range, args, vec![output(outputs, 0)?]);
        }
        "Slice" => {
            // IR: data, start, stop, step[, axes]; ONNX: data, starts, ends, axes, steps.
            let (d, start, stop, step) = (input(inputs, 0)?, input(inputs, 1)?, input(inputs, 2)?, input(inputs, 3)?);
            let axes = inputs.get(4).copied();
            cx.node(
                &l.name,
                Slice,
                vec![Some(d), Some(start), Some(stop), axes, Some(step)],
                vec![output(outputs, 0)?],
            );
        }
        _ => return Ok(false),
    }
    Ok(true)
}
