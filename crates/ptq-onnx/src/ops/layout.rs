//! Ops that move data without computing: reshape, transpose, squeeze, concat, split, ...

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
use ptq_ir::{Op, Tensor};

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

pub fn export(cx: &ExportCtx<'_>) -> Result<Emitted, String> {
    let mut o = AttrOut::default();
    let name = cx.node.op.name();
    let mut e = match &cx.node.op {
        Op::Reshape(r) => {
            if r.allowzero && cx.opset < 14 {
                return Err("allowzero needs opset 14".into());
            }
            o.int_unless("allowzero", i64::from(r.allowzero), 0);
            Emitted::new(name, o)
        }
        Op::Flatten(f) => {
            o.int_unless("axis", f.axis, 1);
            Emitted::new(name, o)
        }
        Op::Transpose(t) => {
            o.ints_opt("perm", &t.perm);
            Emitted::new(name, o)
        }
        Op::Squeeze(_) | Op::Unsqueeze(_) => {
            let mut e = Emitted::new(name, o);
            if cx.opset < 13 {
                cx.ints_from_input(1, "axes", &mut e)?;
            }
            e
        }
        Op::Concat(c) => {
            o.int("axis", c.axis);
            Emitted::new(name, o)
        }
        Op::Split(s) => {
            o.int_unless("axis", s.axis, 0);
            if let Some(n) = s.num_outputs {
                if cx.opset < 18 {
                    return Err("num_outputs needs opset 18".into());
                }
                o.int("num_outputs", n);
            }
            let mut e = Emitted::new(name, o);
            if cx.opset < 13 {
                cx.ints_from_input(1, "split", &mut e)?;
            }
            e
        }
        Op::DepthToSpace(d) => {
            o.int("blocksize", d.blocksize);
            if d.crd {
                o.string("mode", "CRD");
            }
            Emitted::new(name, o)
        }
        Op::SpaceToDepth(d) => {
            o.int("blocksize", d.blocksize);
            Emitted::new(name, o)
        }
        Op::Expand(_) | Op::Tile(_) => Emitted::new(name, o),
        _ => return Err("not a layout op".into()),
    };
    e.op_type = name.to_string();
    Ok(e)
}
