//! Shape and data-movement ops, casts, selection.

use ptq_ir::ops::cast::Cast;
use ptq_ir::ops::concat::Concat;
use ptq_ir::ops::flatten::Flatten;
use ptq_ir::ops::gather::Gather;
use ptq_ir::ops::pad::Pad;
use ptq_ir::ops::pad::PadMode;
use ptq_ir::ops::reshape::Reshape;
use ptq_ir::ops::shape_of::ShapeOf;
use ptq_ir::ops::split::Split;
use ptq_ir::ops::topk::TopK;
use ptq_ir::ops::transpose::Transpose;
use ptq_ir::{DType, Node, Tensor};

use super::{Cx, inp, inputs, norm_axis, numpy, opt_inp, out, single, step};
use crate::element;
use crate::export::builder::{Port, attrs};

/// Reshape's `special_zero`: a 0 in the target copies the input's dim.
fn special_zero(z: bool) -> Vec<(String, String)> {
    attrs([("special_zero", z.to_string())])
}

pub(super) fn reshape(cx: &mut Cx<'_>, n: &Node, r: &Reshape) -> Result<(), String> {
    let ins = inputs(cx, n)?;
    single(cx, n, "Reshape", "opset1", special_zero(!r.allowzero), &ins)
}

pub(super) fn flatten(cx: &mut Cx<'_>, n: &Node, f: &Flatten) -> Result<(), String> {
    let name = n.name.clone();
    let x = inp(n, 0)?;
    let xp = cx.port(x)?;
    let rank = xp.dims.len();
    let axis = if f.axis == rank as i64 { f.axis } else { norm_axis(f.axis, rank)? } as usize;
    let (head, tail) = xp.dims.split_at(axis);
    let known = |d: &[i64]| d.iter().all(|&v| v >= 0);
    let target: Option<Vec<i64>> = if known(head) {
        Some(vec![head.iter().product(), -1])
    } else if known(tail) && tail.iter().product::<i64>() > 0 {
        Some(vec![-1, tail.iter().product()])
    } else if axis == 1 {
        Some(vec![0, -1])
    } else {
        None
    };
    let xs = cx.src(x)?;
    let s = match target {
        Some(t) => cx.ints(&format!("{name}/shape"), &t)?,
        // Both parts dynamic: [prod(shape[..axis]), prod(shape[axis..])] from ShapeOf.
        None => {
            let shape = step(
                cx,
                &format!("{name}/full"),
                "ShapeOf",
                attrs([("output_type", "i64".into())]),
                &[xs],
                Port::new(DType::I64, vec![rank as i64]),
            )?;
            let mut parts = vec![];
            for (part, (b, e)) in [("head", (0, axis)), ("tail", (axis, rank))] {
                let (bs, es, ss, ax) = (
                    cx.ints(&format!("{name}/{part}_start"), &[b as i64])?,
                    cx.ints(&format!("{name}/{part}_stop"), &[e as i64])?,
                    cx.ints(&format!("{name}/{part}_step"), &[1])?,
                    cx.ints(&format!("{name}/{part}_axes"), &[0])?,
                );
                let dims = cx.b.layer1(
                    &format!("{name}/{part}"),
                    "Slice",
                    "opset8",
                    vec![],
                    &[shape, bs, es, ss],
                    Port::new(DType::I64, vec![(e - b) as i64]),
                )?;
                parts.push(step(
                    cx,
                    &format!("{name}/{part}_size"),
                    "ReduceProd",
                    attrs([("keep_dims", "true".into())]),
                    &[dims, ax],
                    Port::new(DType::I64, vec![1]),
                )?);
            }
            step(
                cx,
                &format!("{name}/shape"),
                "Concat",
                attrs([("axis", "0".into())]),
                &parts,
                Port::new(DType::I64, vec![2]),
            )?
        }
    };
    single(cx, n, "Reshape", "opset1", special_zero(true), &[xs, s])
}

pub(super) fn transpose(cx: &mut Cx<'_>, n: &Node, t: &Transpose) -> Result<(), String> {
    let name = n.name.clone();
    let x = inp(n, 0)?;
    let perm = match &t.perm {
        Some(p) => p.clone(),
        None => (0..cx.rank(x)? as i64).rev().collect(),
    };
    let xs = cx.src(x)?;
    let p = cx.ints(&format!("{name}/perm"), &perm)?;
    single(cx, n, "Transpose", "opset1", vec![], &[xs, p])
}

/// Squeeze or Unsqueeze (`kind`), with the axes as an input.
pub(super) fn squeeze(cx: &mut Cx<'_>, n: &Node, kind: &str) -> Result<(), String> {
    let ins = inputs(cx, n)?;
    single(cx, n, kind, "opset1", vec![], &ins)
}

pub(super) fn concat(cx: &mut Cx<'_>, n: &Node, c: &Concat) -> Result<(), String> {
    let ins = inputs(cx, n)?;
    let axis = norm_axis(c.axis, cx.port(out(n, 0)?)?.dims.len())?;
    single(cx, n, "Concat", "opset1", attrs([("axis", axis.to_string())]), &ins)
}

pub(super) fn split(cx: &mut Cx<'_>, n: &Node, s: &Split) -> Result<(), String> {
    let name = n.name.clone();
    let x = inp(n, 0)?;
    let xp = cx.port(x)?;
    let axis = norm_axis(s.axis, xp.dims.len())?;
    let outs: Vec<_> = n.outputs.iter().map(|o| o.ok_or("an output is absent")).collect::<Result<_, _>>()?;
    let lengths: Vec<i64> = match opt_inp(n, 1) {
        Some(v) => cx.g.constant(v).and_then(Tensor::to_i64_vec).ok_or("split lengths must be constant")?,
        None => outs
            .iter()
            .map(|&o| cx.port(o).ok().and_then(|p| p.dims.get(axis as usize).copied()).filter(|&d| d >= 0))
            .collect::<Option<_>>()
            .ok_or("split lengths must be known")?,
    };
    let xs = cx.src(x)?;
    let a = cx.constant(&format!("{name}/axis"), &Tensor::I64(ndarray::arr0(axis).into_dyn()))?;
    let l = cx.ints(&format!("{name}/lengths"), &lengths)?;
    let ports = outs.iter().map(|&o| cx.port(o)).collect::<Result<Vec<_>, _>>()?;
    let srcs = cx.b.layer(&name, "VariadicSplit", "opset1", vec![], &[xs, a, l], ports)?;
    for (o, s) in outs.into_iter().zip(srcs) {
        cx.bind(o, s);
    }
    Ok(())
}

pub(super) fn slice(cx: &mut Cx<'_>, n: &Node) -> Result<(), String> {
    let name = n.name.clone();
    // ONNX: data, starts, ends, axes?, steps?  OpenVINO v8: data, start, stop, step, axes?
    let data = cx.src(inp(n, 0)?)?;
    let starts = inp(n, 1)?;
    let (st, en) = (cx.src(starts)?, cx.src(inp(n, 2)?)?);
    let step_src = match opt_inp(n, 4) {
        Some(v) => cx.src(v)?,
        None => {
            let len =
                cx.port(starts)?.dims.first().copied().filter(|&d| d >= 0).ok_or("slice starts of unknown length")?;
            cx.ints(&format!("{name}/steps"), &vec![1; len as usize])?
        }
    };
    let mut ins = vec![data, st, en, step_src];
    if let Some(a) = opt_inp(n, 3) {
        ins.push(cx.src(a)?);
    }
    single(cx, n, "Slice", "opset8", vec![], &ins)
}

pub(super) fn gather(cx: &mut Cx<'_>, n: &Node, g: &Gather) -> Result<(), String> {
    let name = n.name.clone();
    let x = inp(n, 0)?;
    let axis = norm_axis(g.axis, cx.rank(x)?)?;
    let (xs, is) = (cx.src(x)?, cx.src(inp(n, 1)?)?);
    let a = cx.constant(&format!("{name}/axis"), &Tensor::I64(ndarray::arr0(axis).into_dyn()))?;
    single(cx, n, "Gather", "opset8", attrs([("batch_dims", "0".into())]), &[xs, is, a])
}

pub(super) fn gather_elements(
    cx: &mut Cx<'_>,
    n: &Node,
    g: &ptq_ir::ops::gather_elements::GatherElements,
) -> Result<(), String> {
    let ins = inputs(cx, n)?;
    single(cx, n, "GatherElements", "opset6", attrs([("axis", g.axis.to_string())]), &ins)
}

pub(super) fn expand(cx: &mut Cx<'_>, n: &Node) -> Result<(), String> {
    let ins = inputs(cx, n)?;
    single(cx, n, "Broadcast", "opset3", attrs([("mode", "bidirectional".into())]), &ins)
}

pub(super) fn tile(cx: &mut Cx<'_>, n: &Node) -> Result<(), String> {
    let ins = inputs(cx, n)?;
    single(cx, n, "Tile", "opset1", vec![], &ins)
}

pub(super) fn pad(cx: &mut Cx<'_>, n: &Node, p: &Pad) -> Result<(), String> {
    let name = n.name.clone();
    if opt_inp(n, 3).is_some() {
        return Err("Pad with axes is not written yet".into());
    }
    let x = inp(n, 0)?;
    let rank = cx.rank(x)?;
    let mode = match p.mode {
        PadMode::Constant => "constant",
        PadMode::Reflect => "reflect",
        PadMode::Edge => "edge",
        PadMode::Wrap => return Err("wrap padding has no OpenVINO form".into()),
    };
    let xs = cx.src(x)?;
    let pv = inp(n, 1)?;
    let (b, e) = match cx.g.constant(pv).and_then(Tensor::to_i64_vec) {
        Some(pads) if pads.len() == 2 * rank => (
            cx.ints(&format!("{name}/pads_begin"), &pads[..rank])?,
            cx.ints(&format!("{name}/pads_end"), &pads[rank..])?,
        ),
        Some(pads) => return Err(format!("{} pads for rank {rank}", pads.len())),
        None => {
            // Computed pads: the first half begins, the second ends.
            let ps = cx.src(pv)?;
            let a = cx.constant(&format!("{name}/axis"), &Tensor::I64(ndarray::arr0(0).into_dyn()))?;
            let l = cx.ints(&format!("{name}/halves"), &[rank as i64, rank as i64])?;
            let half = Port::new(DType::I64, vec![rank as i64]);
            let h = cx.b.layer(
                &format!("{name}/split"),
                "VariadicSplit",
                "opset1",
                vec![],
                &[ps, a, l],
                vec![half.clone(), half],
            )?;
            (h[0], h[1])
        }
    };
    let mut ins = vec![xs, b, e];
    if let Some(v) = opt_inp(n, 2).filter(|_| p.mode == PadMode::Constant) {
        ins.push(cx.src(v)?);
    }
    single(cx, n, "Pad", "opset12", attrs([("pad_mode", mode.into())]), &ins)
}

pub(super) fn depth_to_space(
    cx: &mut Cx<'_>,
    n: &Node,
    d: &ptq_ir::ops::depth_to_space::DepthToSpace,
) -> Result<(), String> {
    let x = cx.src(inp(n, 0)?)?;
    let mode = if d.crd { "depth_first" } else { "blocks_first" };
    single(
        cx,
        n,
        "DepthToSpace",
        "opset1",
        attrs([("mode", mode.into()), ("block_size", d.blocksize.to_string())]),
        &[x],
    )
}

pub(super) fn space_to_depth(
    cx: &mut Cx<'_>,
    n: &Node,
    d: &ptq_ir::ops::space_to_depth::SpaceToDepth,
) -> Result<(), String> {
    let x = cx.src(inp(n, 0)?)?;
    let data = attrs([("mode", "blocks_first".into()), ("block_size", d.blocksize.to_string())]);
    single(cx, n, "SpaceToDepth", "opset1", data, &[x])
}

pub(super) fn shape_of(cx: &mut Cx<'_>, n: &Node, s: &ShapeOf) -> Result<(), String> {
    let name = n.name.clone();
    let x = inp(n, 0)?;
    let xs = cx.src(x)?;
    if s.start.is_none() && s.end.is_none() {
        return single(cx, n, "ShapeOf", "opset3", attrs([("output_type", "i64".into())]), &[xs]);
    }
    let rank = cx.rank(x)? as i64;
    let full = step(
        cx,
        &format!("{name}/full"),
        "ShapeOf",
        attrs([("output_type", "i64".into())]),
        &[xs],
        Port::new(DType::I64, vec![rank]),
    )?;
    let clampi = |v: i64| if v < 0 { (v + rank).max(0) } else { v.min(rank) };
    let (b, e) = (clampi(s.start.unwrap_or(0)), clampi(s.end.unwrap_or(rank)));
    let (bs, es, ss) = (
        cx.ints(&format!("{name}/start"), &[b])?,
        cx.ints(&format!("{name}/stop"), &[e])?,
        cx.ints(&format!("{name}/step"), &[1])?,
    );
    single(cx, n, "Slice", "opset8", vec![], &[full, bs, es, ss])
}

pub(super) fn size(cx: &mut Cx<'_>, n: &Node) -> Result<(), String> {
    let name = n.name.clone();
    let x = inp(n, 0)?;
    let rank = cx.rank(x)? as i64;
    let xs = cx.src(x)?;
    let shape = step(
        cx,
        &format!("{name}/shape"),
        "ShapeOf",
        attrs([("output_type", "i64".into())]),
        &[xs],
        Port::new(DType::I64, vec![rank]),
    )?;
    let a = cx.ints(&format!("{name}/axes"), &[0])?;
    single(cx, n, "ReduceProd", "opset1", attrs([("keep_dims", "false".into())]), &[shape, a])
}

pub(super) fn constant_of_shape(
    cx: &mut Cx<'_>,
    n: &Node,
    c: &ptq_ir::ops::constant_of_shape::ConstantOfShape,
) -> Result<(), String> {
    let name = n.name.clone();
    let v = c.value.clone().unwrap_or_else(|| Tensor::scalar_f32(0.0));
    let scalar = v.to_f64_vec().first().copied().ok_or("ConstantOfShape value is empty")?;
    let value = cx.constant(&format!("{name}/value"), &crate::export::filled(v.dtype(), &[], scalar)?)?;
    let shape = cx.src(inp(n, 0)?)?;
    single(cx, n, "Broadcast", "opset3", attrs([("mode", "numpy".into())]), &[value, shape])
}

pub(super) fn range(cx: &mut Cx<'_>, n: &Node) -> Result<(), String> {
    let ins = inputs(cx, n)?;
    let dt = cx.port(out(n, 0)?)?.dtype;
    let et = element::element_type(dt).ok_or("range dtype has no IR type")?;
    single(cx, n, "Range", "opset4", attrs([("output_type", et.into())]), &ins)
}

pub(super) fn cast(cx: &mut Cx<'_>, n: &Node, c: &Cast) -> Result<(), String> {
    let x = cx.src(inp(n, 0)?)?;
    let et = element::element_type(c.to).ok_or_else(|| format!("cast to {} has no IR type", c.to))?;
    single(cx, n, "Convert", "opset1", attrs([("destination_type", et.into())]), &[x])
}

pub(super) fn where_(cx: &mut Cx<'_>, n: &Node) -> Result<(), String> {
    let ins = inputs(cx, n)?;
    single(cx, n, "Select", "opset1", numpy(), &ins)
}

pub(super) fn dropout(cx: &mut Cx<'_>, n: &Node) -> Result<(), String> {
    if n.outputs.get(1).copied().flatten().is_some_and(|m| cx.consumers.contains_key(&m) || cx.g.outputs().contains(&m))
    {
        return Err("a dropout mask has no OpenVINO form".into());
    }
    let x = cx.src(inp(n, 0)?)?;
    cx.bind(out(n, 0)?, x);
    Ok(())
}

pub(super) fn top_k(cx: &mut Cx<'_>, n: &Node, t: &TopK) -> Result<(), String> {
    let name = n.name.clone();
    let x = inp(n, 0)?;
    let axis = norm_axis(t.axis, cx.rank(x)?)?;
    let xs = cx.src(x)?;
    let kv = inp(n, 1)?;
    let k = match cx.g.constant(kv).and_then(Tensor::to_i64_vec) {
        Some(v) if v.len() == 1 => cx.constant(&format!("{name}/k"), &Tensor::I64(ndarray::arr0(v[0]).into_dyn()))?,
        _ => return Err("TopK k must be a constant".into()),
    };
    let data = attrs([
        ("axis", axis.to_string()),
        ("mode", if t.largest { "max" } else { "min" }.into()),
        ("sort", if t.sorted { "value" } else { "none" }.into()),
        ("index_element_type", "i64".into()),
    ]);
    let outs: Vec<_> = (0..2).map(|i| out(n, i)).collect::<Result<_, _>>()?;
    let ports = outs.iter().map(|&o| cx.port(o)).collect::<Result<Vec<_>, _>>()?;
    let srcs = cx.b.layer(&name, "TopK", "opset11", data, &[xs, k], ports)?;
    for (o, s) in outs.into_iter().zip(srcs) {
        cx.bind(o, s);
    }
    Ok(())
}
