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
    let traced = match (&n.op, opt_inp(n, 1)) {
        (ptq_ir::Op::Reshape(r), Some(s)) => target_dims(cx, s, x, r.allowzero),
        _ => None,
    };
    let shape = if yd.iter().filter(|&&d| d < 0).count() <= 1 {
        cx.i64s(&format!("{}/shape", n.name), &yd)
    } else if let Some(t) = traced.filter(|t| t.iter().filter(|d| d.is_none()).count() <= 1) {
        // A computed shape whose parts are known but one (Keras's `[batch, 1, 1, C]`).
        let dims: Vec<i64> = t.iter().map(|d| d.unwrap_or(-1)).collect();
        cx.i64s(&format!("{}/shape", n.name), &dims)
    } else if let (ptq_ir::Op::Reshape(r), Some(s)) = (&n.op, opt_inp(n, 1)) {
        match const_ints(cx, s) {
            // ONNX's 0 copies the input's dim; TensorFlow's would be 0.
            Some(v) if v.contains(&0) && !r.allowzero => {
                let dt = cx.dtype(x)?;
                let sh = cx.b.node(
                    &format!("{}/input_shape", n.name),
                    "Shape",
                    vec![xt.clone()],
                    vec![("T", ty(dt)), ("out_type", ty(DType::I64))],
                );
                let picks: Vec<Option<i64>> = v.iter().map(|&d| (d != 0).then_some(d)).collect();
                pieces(cx, &format!("{}/shape", n.name), &picks, |cx, i, base| {
                    Ok(element(cx, base, sh.clone(), i as i64))
                })?
            }
            _ => cx.get(s, Layout::Same)?,
        }
    } else {
        return squeeze_or_expand(cx, n, x, y, xt);
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

/// Element `i` of the 1-D int64 tensor `t`, as a 1-D tensor of one.
fn element(cx: &mut Cx<'_>, base: &str, t: String, i: i64) -> String {
    let (b, e, st) = (
        cx.i64s(&format!("{base}/b"), &[i]),
        cx.i64s(&format!("{base}/e"), &[i + 1]),
        cx.i64s(&format!("{base}/s"), &[1]),
    );
    strided_slice(cx, base, [t, b, e, st], DType::I64, 0, 0)
}

/// A `StridedSlice` of `[data, begin, end, strides]` (int64 bounds) with
/// these begin and end masks.
fn strided_slice(
    cx: &mut Cx<'_>,
    base: &str,
    inputs: [String; 4],
    dt: DType,
    begin_mask: i64,
    end_mask: i64,
) -> String {
    cx.b.node(
        base,
        "StridedSlice",
        inputs.to_vec(),
        vec![
            ("T", ty(dt)),
            ("Index", ty(DType::I64)),
            ("begin_mask", int(begin_mask)),
            ("end_mask", int(end_mask)),
            ("ellipsis_mask", int(0)),
            ("new_axis_mask", int(0)),
            ("shrink_axis_mask", int(0)),
        ],
    )
}

/// A 1-D int64 vector: each `Some(c)` a constant, each `None` at position
/// `i` what `dynamic(cx, i, name)` gives (a 1-D tensor of one); runs of
/// constants share one `Const`.
fn pieces(
    cx: &mut Cx<'_>,
    base: &str,
    picks: &[Option<i64>],
    mut dynamic: impl FnMut(&mut Cx<'_>, usize, &str) -> Result<String, String>,
) -> Result<String, String> {
    let mut parts = vec![];
    let mut run = vec![];
    for (i, p) in picks.iter().enumerate() {
        match p {
            Some(c) => run.push(*c),
            None => {
                if !run.is_empty() {
                    parts.push(cx.i64s(&format!("{base}/const"), &std::mem::take(&mut run)));
                }
                parts.push(dynamic(cx, i, &format!("{base}/{i}"))?);
            }
        }
    }
    if !run.is_empty() {
        parts.push(cx.i64s(&format!("{base}/const"), &run));
    }
    let count = parts.len() as i64;
    let ax = cx.b.constant(&format!("{base}/axis"), &Tensor::I32(ndarray::arr0(0).into_dyn()));
    parts.push(ax);
    Ok(cx.b.node(base, "ConcatV2", parts, vec![("T", ty(DType::I64)), ("N", int(count)), ("Tidx", ty(DType::I32))]))
}

pub(super) fn slice(cx: &mut Cx<'_>, n: &Node) -> Result<(), String> {
    let (x, y) = (inp(n, 0)?, out(n, 0)?);
    let rank = cx.rank(x)?;
    let bounds_const = (1..5).all(|i| opt_inp(n, i).is_none_or(|v| cx.g.constant(v).is_some()));
    if !bounds_const {
        return dynamic_slice(cx, n, x, y, rank);
    }
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
    let t = strided_slice(cx, &n.name, [xt, bt, et, st], dt, bmask, emask);
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

/// A Slice whose starts or ends are computed: the begin, end and stride
/// vectors are assembled from the bound tensors (axes must be constant).
fn dynamic_slice(cx: &mut Cx<'_>, n: &Node, x: ptq_ir::ValueId, y: ptq_ir::ValueId, rank: usize) -> Result<(), String> {
    let (starts, ends) = (inp(n, 1)?, inp(n, 2)?);
    let count = cx.dims(starts)?.first().copied().filter(|&c| c >= 0).ok_or("with bounds of unknown length")? as usize;
    let axes: Vec<usize> = match opt_inp(n, 3) {
        Some(a) => const_ints(cx, a)
            .ok_or("with computed axes has no TensorFlow form")?
            .iter()
            .map(|&a| norm_axis(a, rank))
            .collect::<Result<_, _>>()?,
        None => (0..count).collect(),
    };
    if axes.len() != count {
        return Err("axes and bounds differ in length".into());
    }
    let steps = match opt_inp(n, 4) {
        Some(v) => Some(const_ints(cx, v).ok_or("with computed steps has no TensorFlow form")?),
        None => None,
    };
    let vector = |cx: &mut Cx<'_>, v: ptq_ir::ValueId, what: &str| -> Result<String, String> {
        let mut t = cx.get(v, Layout::Same)?;
        if cx.dtype(v)? != DType::I64 {
            let from = cx.dtype(v)?;
            t = cx.b.node(
                &format!("{}/{what}_i64", n.name),
                "Cast",
                vec![t],
                vec![("SrcT", ty(from)), ("DstT", ty(DType::I64)), ("Truncate", boolean(false))],
            );
        }
        let picks: Vec<Option<i64>> = (0..rank).map(|a| if axes.contains(&a) { None } else { Some(0) }).collect();
        pieces(cx, &format!("{}/{what}", n.name), &picks, |cx, a, base| {
            let k = axes.iter().position(|&b| b == a).ok_or("axis")?;
            Ok(element(cx, base, t.clone(), k as i64))
        })
    };
    let (b, e) = (vector(cx, starts, "begin")?, vector(cx, ends, "end")?);
    let mut strides = vec![1i64; rank];
    if let Some(st) = steps {
        for (k, &a) in axes.iter().enumerate() {
            strides[a] = *st.get(k).ok_or("fewer steps than axes")?;
        }
    }
    let st = cx.i64s(&format!("{}/strides", n.name), &strides);
    let untouched: i64 = (0..rank).filter(|a| !axes.contains(a)).map(|a| 1i64 << a).sum();
    let xt = cx.get(x, Layout::Same)?;
    let dt = cx.dtype(x)?;
    let t = strided_slice(cx, &n.name, [xt, b, e, st], dt, untouched, untouched);
    cx.bind(y, t, Layout::Same);
    Ok(())
}

/// Squeeze and Unsqueeze of a value with several unknown dims: TensorFlow's
/// `Squeeze` and `ExpandDims` (axes must be constant).
fn squeeze_or_expand(
    cx: &mut Cx<'_>,
    n: &Node,
    x: ptq_ir::ValueId,
    y: ptq_ir::ValueId,
    xt: String,
) -> Result<(), String> {
    let axes = |cx: &Cx<'_>, rank: usize| -> Result<Vec<usize>, String> {
        let v = opt_inp(n, 1)
            .and_then(|a| const_ints(cx, a))
            .ok_or("with computed axes and several unknown dims has no TensorFlow form")?;
        let mut a: Vec<usize> = v.iter().map(|&a| norm_axis(a, rank)).collect::<Result<_, _>>()?;
        a.sort_unstable();
        Ok(a)
    };
    let dt = cx.dtype(x)?;
    let t = match &n.op {
        ptq_ir::Op::Squeeze(_) => {
            let a = axes(cx, cx.rank(x)?)?;
            let dims: Vec<i64> = a.iter().map(|&a| a as i64).collect();
            cx.b.node(
                &n.name,
                "Squeeze",
                vec![xt],
                vec![("T", ty(dt)), ("squeeze_dims", crate::export::builder::ints(&dims))],
            )
        }
        ptq_ir::Op::Unsqueeze(_) => {
            let a = axes(cx, cx.rank(y)?)?;
            let mut t = xt;
            for (k, &axis) in a.iter().enumerate() {
                let d =
                    cx.b.constant(&format!("{}/axis{k}", n.name), &Tensor::I32(ndarray::arr0(axis as i32).into_dyn()));
                let base = if k + 1 == a.len() { n.name.clone() } else { format!("{}/expand{k}", n.name) };
                t = cx.b.node(&base, "ExpandDims", vec![t, d], vec![("T", ty(dt)), ("Tdim", ty(DType::I32))]);
            }
            t
        }
        _ => return Err("to a shape with more than one unknown dim has no TensorFlow form".into()),
    };
    cx.bind(y, t, Layout::Same);
    Ok(())
}

/// ONNX CumSum (kept opaque by the IR) as TensorFlow's `Cumsum`.
pub(super) fn cum_sum(cx: &mut Cx<'_>, n: &Node, o: &ptq_ir::ops::opaque::Opaque) -> Result<(), String> {
    let (x, a, y) = (inp(n, 0)?, inp(n, 1)?, single_output(n)?);
    let flag = |k: &str| o.attrs.iter().any(|(name, v)| name == k && matches!(v, ptq_ir::Attr::Int(1)));
    let xt = cx.get(x, Layout::Same)?;
    let at = cx.get(a, Layout::Same)?;
    let (dt, adt) = (cx.dtype(x)?, cx.dtype(a)?);
    let t = cx.b.node(
        &n.name,
        "Cumsum",
        vec![xt, at],
        vec![
            ("T", ty(dt)),
            ("Tidx", ty(adt)),
            ("exclusive", boolean(flag("exclusive"))),
            ("reverse", boolean(flag("reverse"))),
        ],
    );
    cx.bind(y, t, Layout::Same);
    Ok(())
}

/// The target dims of a Reshape of `x` to the computed shape `s`, where the
/// computation can be followed: `None` for a dim that stays unknown.
fn target_dims(cx: &Cx<'_>, s: ptq_ir::ValueId, x: ptq_ir::ValueId, allowzero: bool) -> Option<Vec<Option<i64>>> {
    let v = elements(cx, s, 0)?;
    let xd = cx.dims(x).ok()?;
    Some(
        v.iter()
            .enumerate()
            .map(|(i, d)| match d {
                Some(0) if !allowzero => xd.get(i).copied().filter(|&k| k >= 0),
                Some(-1) => None,
                d => *d,
            })
            .collect(),
    )
}

/// The elements of a small integer vector `v` as far as they are known: a
/// constant, or dims of known values taken through Shape, Slice, Gather,
/// Concat and element-preserving ops (Cast, Squeeze, Unsqueeze, Reshape).
fn elements(cx: &Cx<'_>, v: ptq_ir::ValueId, depth: usize) -> Option<Vec<Option<i64>>> {
    if let Some(c) = const_ints(cx, v) {
        return Some(c.into_iter().map(Some).collect());
    }
    if depth > 16 {
        return None;
    }
    let &(pid, _) = cx.producers.get(&v)?;
    let p = cx.g.node(pid)?;
    let first = p.inputs.first().copied().flatten()?;
    match &p.op {
        ptq_ir::Op::Cast(_) | ptq_ir::Op::Squeeze(_) | ptq_ir::Op::Unsqueeze(_) | ptq_ir::Op::Reshape(_) => {
            elements(cx, first, depth + 1)
        }
        ptq_ir::Op::ShapeOf(so) => {
            let d = cx.dims(first).ok()?;
            let r = d.len() as i64;
            let clamp = |k: i64| (if k < 0 { k + r } else { k }).clamp(0, r) as usize;
            let (a, b) = (clamp(so.start.unwrap_or(0)), clamp(so.end.unwrap_or(r)));
            Some(d.get(a..b.max(a))?.iter().map(|&k| (k >= 0).then_some(k)).collect())
        }
        ptq_ir::Op::Concat(c) if c.axis == 0 || c.axis == -1 => {
            let mut out = vec![];
            for i in p.inputs.iter().flatten() {
                out.extend(elements(cx, *i, depth + 1)?);
            }
            Some(out)
        }
        ptq_ir::Op::Gather(g) if g.axis == 0 => {
            let data = elements(cx, first, depth + 1)?;
            let idx = const_ints(cx, p.inputs.get(1).copied().flatten()?)?;
            let n = data.len() as i64;
            idx.iter().map(|&k| data.get(usize::try_from(if k < 0 { k + n } else { k }).ok()?).copied()).collect()
        }
        ptq_ir::Op::Slice(_) => {
            let data = elements(cx, first, depth + 1)?;
            let c = |i: usize| p.inputs.get(i).copied().flatten().map(|v| const_ints(cx, v));
            let (starts, ends) = (c(1)??, c(2)??);
            if let Some(a) = c(3)
                && a? != [0]
            {
                return None;
            }
            let step = match c(4) {
                Some(s) => *s?.first()?,
                None => 1,
            };
            let n = data.len() as i64;
            let norm = |k: i64| (if k < 0 { k + n } else { k }).clamp(0, n);
            let (a, b) = (norm(*starts.first()?), norm(*ends.first()?));
            if step != 1 || starts.len() != 1 {
                return None;
            }
            Some(data.get(a as usize..b.max(a) as usize)?.to_vec())
        }
        _ => None,
    }
}
