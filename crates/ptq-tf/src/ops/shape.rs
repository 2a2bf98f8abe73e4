//! Shape and layout ops: Reshape, Transpose, Squeeze, ExpandDims,
//! ConcatV2, Pack, Unpack, Split, SplitV, Pad, PadV2, MirrorPad, Shape,
//! Size, Fill, Tile, GatherV2, Range, ZerosLike, OnesLike. Shape-valued
//! inputs (TF's int32) become int64, as the IR wants.

use ptq_ir::ops::cast::Cast;
use ptq_ir::ops::concat::Concat;
use ptq_ir::ops::expand::Expand;
use ptq_ir::ops::gather::Gather;
use ptq_ir::ops::pad::{Pad, PadMode};
use ptq_ir::ops::range::Range;
use ptq_ir::ops::reshape::Reshape;
use ptq_ir::ops::shape_of::ShapeOf;
use ptq_ir::ops::size::Size;
use ptq_ir::ops::split::Split;
use ptq_ir::ops::squeeze::Squeeze;
use ptq_ir::ops::tile::Tile;
use ptq_ir::ops::transpose::Transpose;
use ptq_ir::ops::unsqueeze::Unsqueeze;
use ptq_ir::{DType, Tensor, ValueId};

use super::{attr_dtype, attr_i, attr_ints, attr_s, const_ints};
use crate::flatten::FlatNode;
use crate::import::Cx;

/// `v` as int64: a constant converted now, anything else through a Cast.
pub fn as_i64(cx: &mut Cx<'_>, v: ValueId, name: &str) -> Result<ValueId, String> {
    if let Some(t) = cx.constant_of(v) {
        if t.dtype() == DType::I64 {
            return Ok(v);
        }
        let ints = t.to_i64_vec().ok_or_else(|| format!("{name} must be integers"))?;
        let shape = t.shape().to_vec();
        let t =
            Tensor::from_le_bytes(DType::I64, &shape, &ints.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<_>>())
                .map_err(|e| e.to_string())?;
        return Ok(cx.constant(name, t));
    }
    if cx.fact(v).dtype == Some(DType::I64) {
        return Ok(v);
    }
    Ok(cx.node1(name, Cast { to: DType::I64, saturate: None }, vec![Some(v)]))
}

/// One integer of a constant input.
fn const_int(cx: &Cx<'_>, v: ValueId, what: &str) -> Result<i64, String> {
    match const_ints(cx, v, what)?[..] {
        [x] => Ok(x),
        _ => Err(format!("{what} must be one integer")),
    }
}

fn axes_const(cx: &mut Cx<'_>, n: &FlatNode, axes: &[i64]) -> ValueId {
    cx.constant(&format!("{}/axes", n.name), Tensor::from_i64s(axes))
}

pub fn lower(cx: &mut Cx<'_>, idx: usize, n: &FlatNode) -> Result<bool, String> {
    let name = n.name.clone();
    let y = match n.op {
        "Reshape" => {
            let x = cx.input(n, 0)?;
            let s = cx.input(n, 1)?;
            let s = as_i64(cx, s, &format!("{name}/shape"))?;
            cx.node1(&name, Reshape { allowzero: false }, vec![Some(x), Some(s)])
        }
        "Transpose" => {
            let x = cx.input(n, 0)?;
            let p = cx.input(n, 1)?;
            let perm = const_ints(cx, p, "perm")?;
            cx.node1(&name, Transpose { perm: Some(perm) }, vec![Some(x)])
        }
        "Squeeze" => {
            let x = cx.input(n, 0)?;
            let axes = attr_ints(n, "squeeze_dims");
            let ax = (!axes.is_empty()).then(|| axes_const(cx, n, &axes));
            cx.node1(&name, Squeeze, vec![Some(x), ax])
        }
        "ExpandDims" => {
            let x = cx.input(n, 0)?;
            let a = cx.input(n, 1)?;
            let axis = const_int(cx, a, "axis")?;
            let ax = axes_const(cx, n, &[axis]);
            cx.node1(&name, Unsqueeze, vec![Some(x), Some(ax)])
        }
        "ConcatV2" => {
            let k = n.inputs.len().checked_sub(1).ok_or("ConcatV2 without inputs")?;
            let a = cx.input(n, k)?;
            let axis = const_int(cx, a, "axis")?;
            let xs = (0..k).map(|i| cx.input(n, i).map(Some)).collect::<Result<_, _>>()?;
            cx.node1(&name, Concat { axis }, xs)
        }
        "Pack" => {
            let axis = attr_i(n, "axis", 0);
            let mut xs = vec![];
            for i in 0..n.inputs.len() {
                let x = cx.input(n, i)?;
                let ax = axes_const(cx, n, &[axis]);
                xs.push(Some(cx.node1(&format!("{name}/unsqueeze{i}"), Unsqueeze, vec![Some(x), Some(ax)])));
            }
            cx.node1(&name, Concat { axis }, xs)
        }
        "Unpack" => {
            let x = cx.input(n, 0)?;
            let axis = attr_i(n, "axis", 0);
            let num = attr_i(n, "num", 0);
            if !(1..=65_536).contains(&num) {
                return Err(format!("num {num}"));
            }
            let parts =
                cx.node(&format!("{name}/split"), Split { axis, num_outputs: Some(num) }, vec![Some(x)], num as usize);
            for (k, p) in parts.into_iter().enumerate() {
                let ax = axes_const(cx, n, &[axis]);
                let y = cx.node1(&format!("{name}:{k}"), Squeeze, vec![Some(p), Some(ax)]);
                cx.set(idx, k, y);
            }
            return Ok(true);
        }
        "Split" | "SplitV" => {
            let num = attr_i(n, "num_split", 0);
            if !(1..=65_536).contains(&num) {
                return Err(format!("num_split {num}"));
            }
            let (x, axis, sizes) = if n.op == "Split" {
                let a = cx.input(n, 0)?;
                (cx.input(n, 1)?, const_int(cx, a, "axis")?, None)
            } else {
                let s = cx.input(n, 1)?;
                let a = cx.input(n, 2)?;
                let sizes = const_ints(cx, s, "size_splits")?;
                (cx.input(n, 0)?, const_int(cx, a, "axis")?, Some(sizes))
            };
            let split = match sizes {
                Some(mut s) => {
                    if let Some(pos) = s.iter().position(|&d| d == -1) {
                        let dim = cx.fact(x).shape.as_ref().and_then(|sh| {
                            let r = sh.len() as i64;
                            sh.get(usize::try_from(if axis < 0 { axis + r } else { axis }).ok()?)?.known()
                        });
                        let rest: i64 = s.iter().filter(|&&d| d != -1).sum();
                        s[pos] = dim.ok_or("SplitV with -1 on an axis of unknown size")? as i64 - rest;
                    }
                    Some(cx.constant(&format!("{name}/split"), Tensor::from_i64s(&s)))
                }
                None => None,
            };
            let op = Split { axis, num_outputs: if split.is_none() { Some(num) } else { None } };
            let parts = cx.node(&name, op, vec![Some(x), split], num as usize);
            for (k, p) in parts.into_iter().enumerate() {
                cx.set(idx, k, p);
            }
            return Ok(true);
        }
        "Pad" | "PadV2" | "MirrorPad" => {
            let p = cx.input(n, 1)?;
            let mut pads = const_ints(cx, p, "paddings")?;
            // A channels-first input is padded channels-first: [N, H, W, C] pairs → [N, C, H, W].
            let nchw = cx.has_nchw(n, 0) && pads.len() == 8;
            let x = if nchw {
                pads = [0, 1, 6, 7, 2, 3, 4, 5].iter().map(|&i| pads[i]).collect();
                cx.input_nchw(n, 0)?
            } else {
                cx.input(n, 0)?
            };
            // [[b0, e0], [b1, e1], ...] → [b0, b1, ..., e0, e1, ...].
            let begins = pads.iter().step_by(2);
            let ends = pads.iter().skip(1).step_by(2);
            let onnx: Vec<i64> = begins.chain(ends).copied().collect();
            let pv = cx.constant(&format!("{name}/pads"), Tensor::from_i64s(&onnx));
            let mode = match (n.op, attr_s(n, "mode", "").as_str()) {
                ("MirrorPad", "REFLECT") => PadMode::Reflect,
                ("MirrorPad", m) => return Err(format!("MirrorPad mode {m}")),
                _ => PadMode::Constant,
            };
            let value = if n.op == "PadV2" { Some(cx.input(n, 2)?) } else { None };
            let y = cx.node1(&name, Pad { mode }, vec![Some(x), Some(pv), value]);
            if nchw {
                cx.set_nchw(idx, 0, y);
                return Ok(true);
            }
            y
        }
        "Shape" | "Size" => {
            let x = cx.input(n, 0)?;
            let y = if n.op == "Shape" {
                cx.node1(&format!("{name}/i64"), ShapeOf { start: None, end: None }, vec![Some(x)])
            } else {
                cx.node1(&format!("{name}/i64"), Size, vec![Some(x)])
            };
            let to = attr_dtype(n, "out_type").unwrap_or(DType::I32);
            if to == DType::I64 { y } else { cx.node1(&name, Cast { to, saturate: None }, vec![Some(y)]) }
        }
        "Fill" => {
            let d = cx.input(n, 0)?;
            let d = as_i64(cx, d, &format!("{name}/dims"))?;
            let v = cx.input(n, 1)?;
            cx.node1(&name, Expand, vec![Some(v), Some(d)])
        }
        "Tile" => {
            let x = cx.input(n, 0)?;
            let m = cx.input(n, 1)?;
            let m = as_i64(cx, m, &format!("{name}/multiples"))?;
            cx.node1(&name, Tile, vec![Some(x), Some(m)])
        }
        "GatherV2" => {
            if attr_i(n, "batch_dims", 0) != 0 {
                return Err("GatherV2 with batch_dims is not supported".into());
            }
            let x = cx.input(n, 0)?;
            let i = cx.input(n, 1)?;
            let a = cx.input(n, 2)?;
            let axis = const_int(cx, a, "axis")?;
            cx.node1(&name, Gather { axis }, vec![Some(x), Some(i)])
        }
        "Range" => {
            let xs = (0..3).map(|i| cx.input(n, i).map(Some)).collect::<Result<_, _>>()?;
            cx.node1(&name, Range, xs)
        }
        "ZerosLike" | "OnesLike" => {
            let x = cx.input(n, 0)?;
            let dt = cx.fact(x).dtype.ok_or("an operand of unknown dtype")?;
            let one =
                Tensor::from_le_bytes(DType::F64, &[], &(if n.op == "OnesLike" { 1.0f64 } else { 0.0 }).to_le_bytes())
                    .map_err(|e| e.to_string())?;
            let c = cx.constant(&format!("{name}/value"), one);
            let c = cx.node1(&format!("{name}/cast"), Cast { to: dt, saturate: None }, vec![Some(c)]);
            let s = cx.node1(&format!("{name}/shape"), ShapeOf { start: None, end: None }, vec![Some(x)]);
            cx.node1(&name, Expand, vec![Some(c), Some(s)])
        }
        _ => return Ok(false),
    };
    cx.set(idx, 0, y);
    Ok(true)
}
