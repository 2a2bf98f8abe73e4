//! Ops that move data without computing: reshape, transpose, squeeze, concat, split, ...

use ptq_ir::Tensor;
use ptq_ir::ops::concat::Concat;
use ptq_ir::ops::depth_to_space::DepthToSpace;
use ptq_ir::ops::expand::Expand;
use ptq_ir::ops::flatten::Flatten;
use ptq_ir::ops::reshape::Reshape;
use ptq_ir::ops::space_to_depth::SpaceToDepth;
use ptq_ir::ops::split::Split;
use ptq_ir::ops::squeeze::Squeeze;
use ptq_ir::ops::tile::Tile;
use ptq_ir::ops::transpose::Transpose;
use ptq_ir::ops::unsqueeze::Unsqueeze;

use super::{Emitted, ExportCtx, Lowered};
use crate::attrs::{AttrOut, Attrs};

fn moved_ints(a: &Attrs, name: &str, slot: usize) -> Result<Vec<(usize, Tensor)>, String> {
    Ok(a.ints(name)?.map(|v| vec![(slot, Tensor::from_i64s(&v))]).unwrap_or_default())
}

pub fn import(t: &str, a: &Attrs, opset: i64) -> Result<Option<Lowered>, String> {
    match t {
        "Reshape" => Lowered::op(Reshape { allowzero: a.flag("allowzero", false)? }),
        "Flatten" => Lowered::op(Flatten { axis: a.int_or("axis", 1)? }),
        "Transpose" => Lowered::op(Transpose { perm: a.ints("perm")? }),
        "Squeeze" if opset < 13 => Lowered::with(Squeeze, moved_ints(a, "axes", 1)?),
        "Squeeze" => Lowered::op(Squeeze),
        "Unsqueeze" if opset < 13 => {
            let m = moved_ints(a, "axes", 1)?;
            if m.is_empty() {
                return Err("missing attribute axes".into());
            }
            Lowered::with(Unsqueeze, m)
        }
        "Unsqueeze" => Lowered::op(Unsqueeze),
        "Concat" => Lowered::op(Concat { axis: a.int("axis")?.ok_or("missing attribute axis")? }),
        "Split" => {
            let moved = if opset < 13 { moved_ints(a, "split", 1)? } else { vec![] };
            Lowered::with(Split { axis: a.int_or("axis", 0)?, num_outputs: a.int("num_outputs")? }, moved)
        }
        "Expand" => Lowered::op(Expand),
        "Tile" => Lowered::op(Tile),
        "DepthToSpace" => {
            let crd = match a.string("mode")?.as_deref() {
                None | Some("DCR") => false,
                Some("CRD") => true,
                Some(m) => return Err(format!("unknown mode {m:?}")),
            };
            Lowered::op(DepthToSpace { blocksize: a.int("blocksize")?.ok_or("missing attribute blocksize")?, crd })
        }
        "SpaceToDepth" => {
            Lowered::op(SpaceToDepth { blocksize: a.int("blocksize")?.ok_or("missing attribute blocksize")? })
        }
        _ => Ok(None),
    }
}

/// Writes a layout op (Reshape, Flatten, Transpose, Squeeze, Unsqueeze,
/// Concat, Split, Expand, Tile, DepthToSpace, SpaceToDepth): its attributes
/// from `attrs`, and the inputs older opsets take as attributes moved there.
fn layout(cx: &ExportCtx<'_>, attrs: AttrOut) -> Emitted {
    Emitted::new(cx.node.op.name(), attrs)
}

pub fn export_reshape(r: &Reshape, cx: &ExportCtx<'_>) -> Result<Emitted, String> {
    if r.allowzero && cx.opset < 14 {
        return Err("allowzero needs opset 14".into());
    }
    let mut o = AttrOut::default();
    o.int_unless("allowzero", i64::from(r.allowzero), 0);
    Ok(layout(cx, o))
}

pub fn export_flatten(f: &Flatten, cx: &ExportCtx<'_>) -> Emitted {
    let mut o = AttrOut::default();
    o.int_unless("axis", f.axis, 1);
    layout(cx, o)
}

pub fn export_transpose(t: &Transpose, cx: &ExportCtx<'_>) -> Emitted {
    let mut o = AttrOut::default();
    o.ints_opt("perm", &t.perm);
    layout(cx, o)
}

/// Squeeze or Unsqueeze: `axes` is an attribute before opset 13.
pub fn export_squeeze_like(cx: &ExportCtx<'_>) -> Result<Emitted, String> {
    let mut e = layout(cx, AttrOut::default());
    if cx.opset < 13 {
        cx.ints_from_input(1, "axes", &mut e)?;
    }
    Ok(e)
}

pub fn export_concat(c: &Concat, cx: &ExportCtx<'_>) -> Emitted {
    let mut o = AttrOut::default();
    o.int("axis", c.axis);
    layout(cx, o)
}

pub fn export_split(s: &Split, cx: &ExportCtx<'_>) -> Result<Emitted, String> {
    let mut o = AttrOut::default();
    o.int_unless("axis", s.axis, 0);
    if let Some(n) = s.num_outputs {
        if cx.opset < 18 {
            return Err("num_outputs needs opset 18".into());
        }
        o.int("num_outputs", n);
    }
    let mut e = layout(cx, o);
    if cx.opset < 13 {
        cx.ints_from_input(1, "split", &mut e)?;
    }
    Ok(e)
}

pub fn export_depth_to_space(d: &DepthToSpace, cx: &ExportCtx<'_>) -> Emitted {
    let mut o = AttrOut::default();
    o.int("blocksize", d.blocksize);
    if d.crd {
        o.string("mode", "CRD");
    }
    layout(cx, o)
}

pub fn export_space_to_depth(d: &SpaceToDepth, cx: &ExportCtx<'_>) -> Emitted {
    let mut o = AttrOut::default();
    o.int("blocksize", d.blocksize);
    layout(cx, o)
}
