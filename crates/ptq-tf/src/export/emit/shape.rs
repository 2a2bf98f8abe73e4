//! Shape and layout ops: reshapes, transposes, concatenation, splits,
//! slices, gathers, pads, casts and the small shape computations.

use ptq_ir::ops::constant_of_shape::ConstantOfShape;
use ptq_ir::ops::pad::{Pad, PadMode};
use ptq_ir::ops::split::Split;
use ptq_ir::{DType, Node, Tensor};

use super::{const_ints, inp, norm_axis, opt_inp, out, single_output, typed};
use crate::export::builder::{boolean, int, ty};
use crate::export::{Cx, Layout, TO_FIRST, TO_LAST, tf_axis};

/// Reshape, Flatten, Squeeze and Unsqueeze: a `Reshape` to the output's
/// shape (at most one unknown dim), or to a computed shape.
pub(super) fn reshape(cx: &mut Cx<'_>, n: &Node) -> Result<(), String> {
    let (x, y) = (inp(n, 0)?, out(n, 0)?);
    let yd = cx.dims(y)?;
    let xt = cx.get(x, Layout::Same)?;
    let dt = cx.dtype(x)?;
    let shape = if yd.iter().filter(|&&d| d < 0).count() <= 1 {
        cx.i64s(&format!("{}/shape", n.name), &yd)
    } else if let (ptq_ir::Op::Reshape(_), Some(s)) = (&n.op, opt_inp(n, 1)) {
        if const_ints(cx, s).is_some_and(|v| v.contains(&0)) {
            return Err("to a shape with 0 (copy) and unknown dims has no TensorFlow form".into());
        }
        cx.get(s, Layout::Same)?
    } else {
        return Err("to a shape with more than one unknown dim has no TensorFlow form".into());
    };
    let t = cx.b.node(&n.name, "Reshape", vec![xt, shape], vec![("T", ty(dt)), ("Tshape", ty(DType::I64))]);
    cx.bind(y, t, Layout::Same);
    Ok(())
}

pub(super) fn transpose(cx: &mut Cx<'_>, n: &Node, perm: Option<&[i64]>) -> Result<(), String> {
    let (x, y) = (inp(n, 0)?, out(n, 0)?);
    let rank = cx.rank(x)?;
    let p: Vec<usize> = match perm {
        Some(p) => p.iter().map(|&a| norm_axis(a, rank)).collect::<Result<_, _>>()?,
        None => (0..rank).rev().collect(),
    };
    let (t, held) = cx.held(x)?;
    // TF perm giving the output as is, and (rank 4) channels-last.
    let q: Vec<i64> = p.iter().map(|&a| tf_axis(held, a) as i64).collect();
    let is_id = |v: &[i64]| v.iter().enumerate().all(|(i, &a)| a == i as i64);
    if is_id(&q) {
        cx.bind(y, t, Layout::Same);
        return Ok(());
    }
    if rank == 4 {
        let q_last: Vec<i64> = TO_LAST.iter().map(|&i| tf_axis(held, p[i as usize]) as i64).collect();
        if is_id(&q_last) {
            cx.bind(y, t, Layout::Last);
            return Ok(());
        }
    }
    let dt = cx.dtype(x)?;
    let r = cx.transpose(&n.name, t, &q, dt);
    cx.bind(y, r, Layout::Same);
    Ok(())
}

/// The layout a layout-preserving op on `x` (rank 4 channels-last if held so) runs in.
fn keep_layout(cx: &mut Cx<'_>, x: ptq_ir::ValueId) -> Result<Layout, String> {
    Ok(if cx.rank(x)? == 4 { cx.held(x)?.1 } else { Layout::Same })
}

pub(super) fn concat(cx: &mut Cx<'_>, n: &Node, axis: i64) -> Result<(), String> {
    let y = out(n, 0)?;
    let ins: Vec<_> = n.inputs.iter().flatten().copied().collect();
    let rank = cx.rank(y)?;
    let axis = norm_axis(axis, rank)?;
    let mut layout = Layout::Same;
    if rank == 4 {
        let mut all_last = true;
        for &v in &ins {
            if cx.g.constant(v).is_none() && cx.held(v)?.1 != Layout::Last {
                all_last = false;
            }
        }
        if all_last && ins.iter().any(|&v| cx.g.constant(v).is_none()) {
            layout = Layout::Last;
        }
    }
    let mut ts = vec![];
    for &v in &ins {
        ts.push(cx.get(v, layout)?);
    }
    let ax = cx
        .b
        .constant(&format!("{}/axis", n.name), &Tensor::I32(ndarray::arr0(tf_axis(layout, axis) as i32).into_dyn()));
    let dt = cx.dtype(y)?;
    let count = ts.len() as i64;
    ts.push(ax);
    let t = cx.b.node(&n.name, "ConcatV2", ts, vec![("T", ty(dt)), ("N", int(count)), ("Tidx", ty(DType::I32))]);
    cx.bind(y, t, layout);
    Ok(())
}

pub(super) fn split(cx: &mut Cx<'_>, n: &Node, s: &Split) -> Result<(), String> {
    let x = inp(n, 0)?;
    let rank = cx.rank(x)?;
    let axis = norm_axis(s.axis, rank)?;
    let sizes: Vec<i64> = match opt_inp(n, 1) {
        Some(v) => const_ints(cx, v).ok_or("with non-constant sizes has no TensorFlow form")?,
        None => {
            let mut v = vec![];
            for o in &n.outputs {
                let o = o.ok_or("an output is absent")?;
                v.push(*cx.dims(o)?.get(axis).ok_or("output rank differs")?);
            }
            if v.iter().any(|&d| d < 0) {
                return Err("into parts of unknown size has no TensorFlow form".into());
            }
            v
        }
    };
    let layout = keep_layout(cx, x)?;
    let xt = cx.get(x, layout)?;
    let sz = cx.i64s(&format!("{}/sizes", n.name), &sizes);
    let ax = cx
        .b
        .constant(&format!("{}/axis", n.name), &Tensor::I32(ndarray::arr0(tf_axis(layout, axis) as i32).into_dyn()));
    let dt = cx.dtype(x)?;
    let t = cx.b.node(
        &n.name,
        "SplitV",
        vec![xt, sz, ax],
        vec![("T", ty(dt)), ("Tlen", ty(DType::I64)), ("num_split", int(sizes.len() as i64))],
    );
    for (i, o) in n.outputs.iter().enumerate() {
        if let Some(o) = o {
            cx.bind(*o, format!("{t}:{i}"), layout);
        }
    }
    Ok(())
}

pub(super) fn slice(cx: &mut Cx<'_>, n: &Node) -> Result<(), String> {
    let (x, y) = (inp(n, 0)?, out(n, 0)?);
    let rank = cx.rank(x)?;
    let c = |i: usize| -> Result<Option<Vec<i64>>, String> {
        match opt_inp(n, i) {
            None => Ok(None),
            Some(v) => {
                const_ints(cx, v).map(Some).ok_or_else(|| "with non-constant bounds has no TensorFlow form".to_string())
            }
        }
    };
    let (starts, ends) = (c(1)?.ok_or("starts are missing")?, c(2)?.ok_or("ends are missing")?);
    let axes = c(3)?.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = c(4)?.unwrap_or_else(|| vec![1; starts.len()]);
    if axes.len() != starts.len() || ends.len() != starts.len() || steps.len() != starts.len() {
        return Err("bounds differ in length".into());
    }
    let layout = keep_layout(cx, x)?;
    let (mut b, mut e, mut s) = (vec![0i64; rank], vec![0i64; rank], vec![1i64; rank]);
    let (mut bmask, mut emask) = ((1i64 << rank) - 1, (1i64 << rank) - 1);
    for i in 0..starts.len() {
        let a = tf_axis(layout, norm_axis(axes[i], rank)?);
        if steps[i] == 0 {
            return Err("step 0".into());
        }
        b[a] = starts[i];
        e[a] = ends[i];
        s[a] = steps[i];
        bmask &= !(1 << a);
        emask &= !(1 << a);
        // ONNX clamps ends far outside; TensorFlow's end mask says "to the end".
        if (steps[i] > 0 && ends[i] >= i64::from(i32::MAX)) || (steps[i] < 0 && ends[i] <= i64::from(i32::MIN)) {
            emask |= 1 << a;
        }
        if (steps[i] < 0 && starts[i] >= i64::from(i32::MAX)) || (steps[i] > 0 && starts[i] <= i64::from(i32::MIN)) {
            bmask |= 1 << a;
        }
    }
    let xt = cx.get(x, layout)?;
    let bt = cx.i64s(&format!("{}/begin", n.name), &b);
    let et = cx.i64s(&format!("{}/end", n.name), &e);
    let st = cx.i64s(&format!("{}/strides", n.name), &s);
    let dt = cx.dtype(x)?;
    let t = cx.b.node(
        &n.name,
        "StridedSlice",
        vec![xt, bt, et, st],
        vec![
            ("T", ty(dt)),
            ("Index", ty(DType::I64)),
            ("begin_mask", int(bmask)),
            ("end_mask", int(emask)),
            ("ellipsis_mask", int(0)),
            ("new_axis_mask", int(0)),
            ("shrink_axis_mask", int(0)),
        ],
    );
    cx.bind(y, t, layout);
    Ok(())
}

pub(super) fn gather(cx: &mut Cx<'_>, n: &Node, axis: i64) -> Result<(), String> {
    let (x, i, y) = (inp(n, 0)?, inp(n, 1)?, out(n, 0)?);
    let rank = cx.rank(x)?;
    let axis = norm_axis(axis, rank)?;
    let xt = super::quant::weight(cx, x, &(0..rank as i64).collect::<Vec<_>>())?;
    let dim = cx.dims(x)?[axis];
    // TensorFlow rejects negative indices; constant ones are made positive.
    let it = match const_ints(cx, i) {
        Some(v) if dim >= 0 && v.iter().any(|&k| k < 0) => {
            let fixed: Vec<i64> = v.iter().map(|&k| if k < 0 { k + dim } else { k }).collect();
            let shape = cx.g.constant(i).map(|t| t.shape().to_vec()).unwrap_or_default();
            let t =
                Tensor::I64(ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&shape), fixed).map_err(|e| e.to_string())?);
            cx.constant(&format!("{}/indices", n.name), &t)
        }
        _ => cx.get(i, Layout::Same)?,
    };
    let ax = cx.b.constant(&format!("{}/axis", n.name), &Tensor::I32(ndarray::arr0(axis as i32).into_dyn()));
    let (dt, it_dt) = (cx.dtype(x)?, cx.dtype(i)?);
    let t = cx.b.node(
        &n.name,
        "GatherV2",
        vec![xt, it, ax],
        vec![("Tparams", ty(dt)), ("Tindices", ty(it_dt)), ("Taxis", ty(DType::I32)), ("batch_dims", int(0))],
    );
    cx.bind(y, t, Layout::Same);
    Ok(())
}

pub(super) fn expand(cx: &mut Cx<'_>, n: &Node) -> Result<(), String> {
    let (x, s, y) = (inp(n, 0)?, inp(n, 1)?, out(n, 0)?);
    let xt = cx.get(x, Layout::Same)?;
    let yd = cx.dims(y)?;
    let shape = if yd.iter().all(|&d| d >= 0) {
        cx.i64s(&format!("{}/shape", n.name), &yd)
    } else {
        let st = cx.get(s, Layout::Same)?;
        let sdt = cx.dtype(s)?;
        let xs = cx.b.node(
            &format!("{}/input_shape", n.name),
            "Shape",
            vec![xt.clone()],
            vec![("T", ty(cx.dtype(x)?)), ("out_type", ty(sdt))],
        );
        typed(cx, &format!("{}/shape", n.name), "BroadcastArgs", vec![xs, st], sdt)
    };
    let dt = cx.dtype(x)?;
    let t = cx.b.node(&n.name, "BroadcastTo", vec![xt, shape], vec![("T", ty(dt)), ("Tidx", ty(DType::I64))]);
    cx.bind(y, t, Layout::Same);
    Ok(())
}

/// An op whose inputs are read as is, with `T` from input 0 and the named
/// type attributes from the inputs at those positions.
pub(super) fn simple(cx: &mut Cx<'_>, n: &Node, op: &str, types: &[(&str, usize)]) -> Result<(), String> {
    let y = single_output(n)?;
    let mut ins = vec![];
    for v in n.inputs.iter().flatten() {
        ins.push(cx.get(*v, Layout::Same)?);
    }
    let mut attrs = vec![("T", ty(cx.dtype(inp(n, 0)?)?))];
    for &(k, i) in types {
        attrs.push((k, ty(cx.dtype(inp(n, i)?)?)));
    }
    let t = cx.b.node(&n.name, op, ins, attrs);
    cx.bind(y, t, Layout::Same);
    Ok(())
}

pub(super) fn pad(cx: &mut Cx<'_>, n: &Node, p: &Pad) -> Result<(), String> {
    let (x, y) = (inp(n, 0)?, out(n, 0)?);
    let rank = cx.rank(x)?;
    let pads = const_ints(cx, inp(n, 1)?).ok_or("with non-constant pads has no TensorFlow form")?;
    let axes: Vec<usize> = match opt_inp(n, 3) {
        Some(a) => {
            let v = const_ints(cx, a).ok_or("with non-constant axes has no TensorFlow form")?;
            v.iter().map(|&a| norm_axis(a, rank)).collect::<Result<_, _>>()?
        }
        None => (0..rank).collect(),
    };
    if pads.len() != 2 * axes.len() {
        return Err("pads do not match the axes".into());
    }
    if pads.iter().any(|&p| p < 0) {
        return Err("with negative pads has no TensorFlow form".into());
    }
    let layout = keep_layout(cx, x)?;
    let mut rows = vec![0i64; 2 * rank];
    for (k, &a) in axes.iter().enumerate() {
        let t = tf_axis(layout, a);
        rows[2 * t] = pads[k];
        rows[2 * t + 1] = pads[k + axes.len()];
    }
    let xt = cx.get(x, layout)?;
    let dt = cx.dtype(x)?;
    let pt = Tensor::I64(ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[rank, 2]), rows).map_err(|e| e.to_string())?);
    let pt = cx.constant(&format!("{}/paddings", n.name), &pt);
    let t = match p.mode {
        PadMode::Constant => {
            let v = match opt_inp(n, 2) {
                Some(v) => cx.get(v, Layout::Same)?,
                None => {
                    let z = Tensor::zeros(dt, &[]);
                    cx.constant(&format!("{}/value", n.name), &z)
                }
            };
            cx.b.node(&n.name, "PadV2", vec![xt, pt, v], vec![("T", ty(dt)), ("Tpaddings", ty(DType::I64))])
        }
        PadMode::Reflect => cx.b.node(
            &n.name,
            "MirrorPad",
            vec![xt, pt],
            vec![("T", ty(dt)), ("Tpaddings", ty(DType::I64)), ("mode", crate::export::builder::string("REFLECT"))],
        ),
        m => return Err(format!("in {m:?} mode has no TensorFlow form")),
    };
    cx.bind(y, t, layout);
    Ok(())
}

pub(super) fn shape_of(cx: &mut Cx<'_>, n: &Node) -> Result<(), String> {
    let (x, y) = (inp(n, 0)?, out(n, 0)?);
    let rank = cx.rank(x)?;
    let (xt, held) = cx.held(x)?;
    let dt = cx.dtype(x)?;
    let mut t =
        cx.b.node(&format!("{}/shape", n.name), "Shape", vec![xt], vec![("T", ty(dt)), ("out_type", ty(DType::I64))]);
    // The dims in IR order: a channels-last tensor's shape is permuted back.
    let mut order: Vec<i64> = if held == Layout::Last { TO_FIRST.to_vec() } else { (0..rank as i64).collect() };
    if let ptq_ir::Op::ShapeOf(s) = &n.op {
        let clamp = |v: i64| if v < 0 { (v + rank as i64).max(0) } else { v.min(rank as i64) } as usize;
        let (a, b) = (clamp(s.start.unwrap_or(0)), clamp(s.end.unwrap_or(rank as i64)));
        order = order.get(a..b.max(a)).unwrap_or(&[]).to_vec();
    }
    let identity = order.len() == rank && order.iter().enumerate().all(|(i, &a)| a == i as i64);
    if !identity {
        let idx = cx.i64s(&format!("{}/dims", n.name), &order);
        let ax = cx.b.constant(&format!("{}/axis", n.name), &Tensor::I32(ndarray::arr0(0).into_dyn()));
        t = cx.b.node(
            &n.name,
            "GatherV2",
            vec![t, idx, ax],
            vec![
                ("Tparams", ty(DType::I64)),
                ("Tindices", ty(DType::I64)),
                ("Taxis", ty(DType::I32)),
                ("batch_dims", int(0)),
            ],
        );
    }
    cx.bind(y, t, Layout::Same);
    Ok(())
}

pub(super) fn cast(cx: &mut Cx<'_>, n: &Node, to: DType) -> Result<(), String> {
    let (x, y) = (inp(n, 0)?, out(n, 0)?);
    let (xt, layout) = cx.held(x)?;
    let from = cx.dtype(x)?;
    let t =
        cx.b.node(&n.name, "Cast", vec![xt], vec![("SrcT", ty(from)), ("DstT", ty(to)), ("Truncate", boolean(false))]);
    cx.bind(y, t, layout);
    Ok(())
}

pub(super) fn where_(cx: &mut Cx<'_>, n: &Node) -> Result<(), String> {
    let y = out(n, 0)?;
    let mut ins = vec![];
    for i in 0..3 {
        ins.push(cx.get(inp(n, i)?, Layout::Same)?);
    }
    let dt = cx.dtype(y)?;
    let t = typed(cx, &n.name, "SelectV2", ins, dt);
    cx.bind(y, t, Layout::Same);
    Ok(())
}

pub(super) fn identity(cx: &mut Cx<'_>, n: &Node) -> Result<(), String> {
    let (x, y) = (inp(n, 0)?, single_output(n)?);
    let (xt, layout) = cx.held(x)?;
    let t = typed(cx, &n.name, "Identity", vec![xt], cx.dtype(x)?);
    cx.bind(y, t, layout);
    Ok(())
}

pub(super) fn range(cx: &mut Cx<'_>, n: &Node) -> Result<(), String> {
    let y = out(n, 0)?;
    let mut ins = vec![];
    for i in 0..3 {
        ins.push(cx.get(inp(n, i)?, Layout::Same)?);
    }
    let dt = cx.dtype(y)?;
    let t = cx.b.node(&n.name, "Range", ins, vec![("Tidx", ty(dt))]);
    cx.bind(y, t, Layout::Same);
    Ok(())
}

pub(super) fn constant_of_shape(cx: &mut Cx<'_>, n: &Node, c: &ConstantOfShape) -> Result<(), String> {
    let (s, y) = (inp(n, 0)?, out(n, 0)?);
    let st = cx.get(s, Layout::Same)?;
    let v = c.value.clone().unwrap_or_else(|| Tensor::zeros(DType::F32, &[]));
    let v = crate::ops::reshaped(&v, &[]).ok_or("value is not one element")?;
    let dt = v.dtype();
    let vt = cx.constant(&format!("{}/value", n.name), &v);
    let sdt = cx.dtype(s)?;
    let t = cx.b.node(&n.name, "Fill", vec![st, vt], vec![("T", ty(dt)), ("index_type", ty(sdt))]);
    cx.bind(y, t, Layout::Same);
    Ok(())
}
