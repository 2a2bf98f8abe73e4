//! Indexing, padding, shape queries, casts, Where and Dropout.

use ptq_ir::Tensor;
use ptq_ir::ops::cast::Cast;
use ptq_ir::ops::constant_of_shape::ConstantOfShape;
use ptq_ir::ops::dropout::Dropout;
use ptq_ir::ops::gather::Gather;
use ptq_ir::ops::gather_elements::GatherElements;
use ptq_ir::ops::pad::{Pad, PadMode};
use ptq_ir::ops::range::Range;
use ptq_ir::ops::shape_of::ShapeOf;
use ptq_ir::ops::size::Size;
use ptq_ir::ops::slice::Slice;
use ptq_ir::ops::where_::Where;

use super::{Emitted, ExportCtx, Lowered};
use crate::attrs::{AttrOut, Attrs};

pub fn import(t: &str, a: &Attrs, opset: i64) -> Result<Option<Lowered>, String> {
    match t {
        "Slice" => Lowered::op(Slice),
        "Gather" => Lowered::op(Gather { axis: a.int_or("axis", 0)? }),
        "GatherElements" => Lowered::op(GatherElements { axis: a.int_or("axis", 0)? }),
        "Pad" => {
            let mode = match a.string("mode")? {
                None => PadMode::Constant,
                Some(m) => PadMode::parse(&m).ok_or_else(|| format!("unknown pad mode {m:?}"))?,
            };
            Lowered::op(Pad { mode })
        }
        "Shape" => Lowered::op(ShapeOf { start: a.int("start")?, end: a.int("end")? }),
        "Size" => Lowered::op(Size),
        "ConstantOfShape" => Lowered::op(ConstantOfShape { value: a.tensor("value")? }),
        "Range" => Lowered::op(Range),
        "Cast" => Lowered::op(Cast { to: a.dtype("to")?.ok_or("missing attribute to")?, saturate: a.int("saturate")? }),
        "Where" => Lowered::op(Where),
        "Dropout" => {
            let moved = match (opset < 12, a.float("ratio")?) {
                (true, Some(r)) => vec![(1, Tensor::scalar_f32(r))],
                _ => vec![],
            };
            Lowered::with(Dropout { seed: a.int("seed")? }, moved)
        }
        _ => Ok(None),
    }
}

/// An op of this family with no attributes (Slice, Size, Range, Where).
pub fn export_plain(cx: &ExportCtx<'_>) -> Emitted {
    Emitted::new(cx.node.op.name(), AttrOut::default())
}

/// Gather or GatherElements.
pub fn export_gather_axis(axis: i64, cx: &ExportCtx<'_>) -> Emitted {
    let mut o = AttrOut::default();
    o.int_unless("axis", axis, 0);
    Emitted::new(cx.node.op.name(), o)
}

pub fn export_pad(p: &Pad, cx: &ExportCtx<'_>) -> Result<Emitted, String> {
    let mut o = AttrOut::default();
    if p.mode != PadMode::Constant {
        o.string("mode", p.mode.as_str());
    }
    if cx.opset < 18 && cx.has_input(3) {
        return Err("Pad axes input needs opset 18".into());
    }
    Ok(Emitted::new("Pad", o))
}

pub fn export_shape(s: &ShapeOf, cx: &ExportCtx<'_>) -> Result<Emitted, String> {
    if (s.start.is_some() || s.end.is_some()) && cx.opset < 15 {
        return Err("Shape start/end need opset 15".into());
    }
    let mut o = AttrOut::default();
    o.int_opt("start", s.start).int_opt("end", s.end);
    Ok(Emitted::new("Shape", o))
}

pub fn export_constant_of_shape(c: &ConstantOfShape) -> Emitted {
    let mut o = AttrOut::default();
    if let Some(v) = &c.value {
        o.tensor("value", v);
    }
    Emitted::new("ConstantOfShape", o)
}

pub fn export_cast(c: &Cast) -> Emitted {
    let mut o = AttrOut::default();
    o.int("to", i64::from(crate::dtype::to_onnx(c.to))).int_opt("saturate", c.saturate);
    Emitted::new("Cast", o)
}

/// Dropout: before opset 12 the ratio is an attribute and there is no
/// training-mode input.
pub fn export_dropout(d: &Dropout, cx: &ExportCtx<'_>) -> Result<Emitted, String> {
    let mut o = AttrOut::default();
    let mut drop_inputs = vec![];
    o.int_opt("seed", d.seed);
    if cx.opset < 12 {
        if cx.has_input(2) {
            return Err("Dropout training_mode input needs opset 12".into());
        }
        if cx.has_input(1) {
            let r = cx
                .const_input(1)
                .map(Tensor::to_f64_vec)
                .and_then(|v| v.first().copied())
                .ok_or("ratio must be a constant before opset 12")?;
            o.float("ratio", r as f32);
            drop_inputs.push(1);
        }
    }
    let mut e = Emitted::new("Dropout", o);
    e.drop_inputs = drop_inputs;
    Ok(e)
}
