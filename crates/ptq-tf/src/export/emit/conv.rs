//! Convolutions, pools and the other channel-wise spatial ops, written
//! channels-last (NHWC), as TensorFlow runs them on CPU.

use ptq_ir::ops::batch_norm::BatchNorm;
use ptq_ir::ops::conv::Conv;
use ptq_ir::ops::global_pool::GlobalPool;
use ptq_ir::ops::pool::{Pool, PoolKind};
use ptq_ir::ops::resize::Resize;
use ptq_ir::ops::spatial::AutoPad;
use ptq_ir::{DType, Node, Tensor};

use super::quant::weight;
use super::{const_f32s, inp, opt_inp, out, single_output, typed};
use crate::export::builder::{boolean, int, ints, string, ty};
use crate::export::{Cx, Layout};

/// How a window op pads.
enum Padding {
    Valid,
    Same,
    /// `[begin, end]` for H and W.
    Explicit([[i64; 2]; 2]),
}

/// The padding of a 2-D window op over input `hw` with effective kernel
/// `k`: TensorFlow's SAME or VALID where they give the same pads.
fn padding(auto_pad: AutoPad, pads: Option<&[i64]>, hw: [i64; 2], k: [i64; 2], s: [i64; 2]) -> Result<Padding, String> {
    let same = |i: usize| -> Option<[i64; 2]> {
        if hw[i] < 0 {
            return None;
        }
        let out = (hw[i] + s[i] - 1) / s[i];
        let total = ((out - 1) * s[i] + k[i] - hw[i]).max(0);
        Some([total / 2, total - total / 2])
    };
    match auto_pad {
        AutoPad::Valid => return Ok(Padding::Valid),
        AutoPad::SameUpper => return Ok(Padding::Same),
        AutoPad::SameLower => {
            let (a, b) = (
                same(0).ok_or("SAME_LOWER needs a known input size")?,
                same(1).ok_or("SAME_LOWER needs a known input size")?,
            );
            return Ok(Padding::Explicit([[a[1], a[0]], [b[1], b[0]]]));
        }
        AutoPad::NotSet => {}
    }
    let p = match pads {
        None => return Ok(Padding::Valid),
        Some(p) if p.len() == 4 => [[p[0], p[2]], [p[1], p[3]]],
        Some(p) => return Err(format!("pads {p:?} are not 2-D")),
    };
    if p.iter().flatten().all(|&x| x == 0) {
        return Ok(Padding::Valid);
    }
    if same(0) == Some(p[0]) && same(1) == Some(p[1]) {
        return Ok(Padding::Same);
    }
    Ok(Padding::Explicit(p))
}

/// `x` (NHWC) padded explicitly with `value`.
fn pad_nhwc(cx: &mut Cx<'_>, base: &str, x: String, p: [[i64; 2]; 2], value: f32) -> String {
    let pads = Tensor::I32(
        ndarray::Array2::from_shape_vec(
            (4, 2),
            vec![0, 0, p[0][0] as i32, p[0][1] as i32, p[1][0] as i32, p[1][1] as i32, 0, 0],
        )
        .expect("4×2")
        .into_dyn(),
    );
    let pads = cx.constant(&format!("{base}/paddings"), &pads);
    let v = cx.f32(&format!("{base}/pad_value"), value);
    cx.b.node(
        &format!("{base}/pad"),
        "PadV2",
        vec![x, pads, v],
        vec![("T", ty(DType::F32)), ("Tpaddings", ty(DType::I32))],
    )
}

fn two(v: &Option<Vec<i64>>, what: &str) -> Result<[i64; 2], String> {
    match v.as_deref() {
        None => Ok([1, 1]),
        Some([a, b]) => Ok([*a, *b]),
        Some(v) => Err(format!("{what} {v:?} are not 2-D")),
    }
}

/// The spatial dims of rank-4 `v`.
fn hw(cx: &Cx<'_>, v: ptq_ir::ValueId) -> Result<[i64; 2], String> {
    match cx.dims(v)?.as_slice() {
        [_, _, h, w] => Ok([*h, *w]),
        d => Err(format!("only 2-D (rank-4) inputs have a TensorFlow form here, not rank {}", d.len())),
    }
}

pub(super) fn conv(cx: &mut Cx<'_>, n: &Node, c: &Conv) -> Result<(), String> {
    let (x, w, y) = (inp(n, 0)?, inp(n, 1)?, single_output(n)?);
    let in_hw = hw(cx, x)?;
    let wd = cx.dims(w)?;
    let &[o, ipg, kh, kw] = wd.as_slice() else { return Err("weight is not rank 4".into()) };
    let cin = cx.dims(x)?[1];
    let s = two(&c.strides, "strides")?;
    let d = two(&c.dilations, "dilations")?;
    let k = [(kh - 1) * d[0] + 1, (kw - 1) * d[1] + 1];
    let mut xt = cx.get(x, Layout::Last)?;
    let pad = match padding(c.auto_pad, c.pads.as_deref(), in_hw, k, s)? {
        Padding::Valid => "VALID",
        Padding::Same => "SAME",
        Padding::Explicit(p) => {
            xt = pad_nhwc(cx, &n.name, xt, p, 0.0);
            "VALID"
        }
    };
    let attrs = vec![
        ("T", ty(DType::F32)),
        ("strides", ints(&[1, s[0], s[1], 1])),
        ("dilations", ints(&[1, d[0], d[1], 1])),
        ("padding", string(pad)),
        ("data_format", string("NHWC")),
    ];
    let conv = if c.group == 1 {
        let wt = weight(cx, w, &[2, 3, 1, 0])?;
        cx.b.node(&n.name, "Conv2D", vec![xt, wt], attrs)
    } else if c.group == cin && ipg == 1 && o % cin == 0 {
        // [O, 1, kh, kw] → [kh, kw, 1, O] (channel-last for the fake quant) → [kh, kw, C, M].
        let wt = weight(cx, w, &[2, 3, 1, 0])?;
        let shape = cx.i32s(&format!("{}/filter_shape", n.name), &[kh, kw, cin, o / cin]);
        let wt = cx.b.node(
            &format!("{}/filter", n.name),
            "Reshape",
            vec![wt, shape],
            vec![("T", ty(DType::F32)), ("Tshape", ty(DType::I32))],
        );
        cx.b.node(&n.name, "DepthwiseConv2dNative", vec![xt, wt], attrs)
    } else {
        return Err(format!("with {} groups has no TensorFlow form in this writer", c.group));
    };
    let t = match opt_inp(n, 2) {
        Some(b) => {
            let bt = weight(cx, b, &[0])?;
            cx.b.node(
                &format!("{}/bias", n.name),
                "BiasAdd",
                vec![conv, bt],
                vec![("T", ty(DType::F32)), ("data_format", string("NHWC"))],
            )
        }
        None => conv,
    };
    cx.bind(y, t, Layout::Last);
    Ok(())
}

pub(super) fn pool(cx: &mut Cx<'_>, n: &Node, p: &Pool) -> Result<(), String> {
    let (x, y) = (inp(n, 0)?, single_output(n)?);
    let in_hw = hw(cx, x)?;
    let k = match p.kernel_shape.as_slice() {
        [a, b] => [*a, *b],
        k => return Err(format!("kernel {k:?} is not 2-D")),
    };
    let s = two(&p.strides, "strides")?;
    if two(&p.dilations, "dilations")? != [1, 1] {
        return Err("with dilations has no TensorFlow form".into());
    }
    let mut xt = cx.get(x, Layout::Last)?;
    let mut pad = match padding(p.auto_pad, p.pads.as_deref(), in_hw, k, s)? {
        Padding::Valid => "VALID",
        Padding::Same => "SAME",
        Padding::Explicit(q) => {
            let fill = match (p.kind, p.count_include_pad) {
                (PoolKind::Max, _) => f32::MIN,
                (PoolKind::Avg, true) => 0.0,
                (PoolKind::Avg, false) => return Err("with pads that are not SAME has no TensorFlow form".into()),
            };
            xt = pad_nhwc(cx, &n.name, xt, q, fill);
            "VALID"
        }
    };
    if pad == "SAME" && p.kind == PoolKind::Avg && p.count_include_pad {
        let same = padding(AutoPad::SameLower, None, in_hw, k, s)?;
        if let Padding::Explicit([a, b]) = same {
            xt = pad_nhwc(cx, &n.name, xt, [[a[1], a[0]], [b[1], b[0]]], 0.0);
            pad = "VALID";
        }
    }
    if p.ceil_mode {
        let yd = cx.dims(y)?;
        let floor = |i: usize| (in_hw[i] - k[i]) / s[i] + 1;
        if pad != "VALID" || in_hw.iter().any(|&d| d < 0) || yd[2] != floor(0) || yd[3] != floor(1) {
            return Err("with ceil_mode changing the output size has no TensorFlow form".into());
        }
    }
    let op = if p.kind == PoolKind::Max { "MaxPool" } else { "AvgPool" };
    let t = cx.b.node(
        &n.name,
        op,
        vec![xt],
        vec![
            ("T", ty(DType::F32)),
            ("ksize", ints(&[1, k[0], k[1], 1])),
            ("strides", ints(&[1, s[0], s[1], 1])),
            ("padding", string(pad)),
            ("data_format", string("NHWC")),
        ],
    );
    cx.bind(y, t, Layout::Last);
    Ok(())
}

pub(super) fn global_pool(cx: &mut Cx<'_>, n: &Node, p: &GlobalPool) -> Result<(), String> {
    let (x, y) = (inp(n, 0)?, out(n, 0)?);
    hw(cx, x)?;
    let xt = cx.get(x, Layout::Last)?;
    let axes = cx.i32s(&format!("{}/axes", n.name), &[1, 2]);
    let op = if p.kind == PoolKind::Max { "Max" } else { "Mean" };
    let t = cx.b.node(
        &n.name,
        op,
        vec![xt, axes],
        vec![("T", ty(DType::F32)), ("Tidx", ty(DType::I32)), ("keep_dims", boolean(true))],
    );
    cx.bind(y, t, Layout::Last);
    Ok(())
}

pub(super) fn batch_norm(cx: &mut Cx<'_>, n: &Node, b: &BatchNorm) -> Result<(), String> {
    let (x, y) = (inp(n, 0)?, single_output(n)?);
    let c: Vec<Vec<f32>> = (1..5)
        .map(|i| {
            const_f32s(cx, inp(n, i)?).ok_or_else(|| "with non-constant statistics has no TensorFlow form".to_string())
        })
        .collect::<Result<_, _>>()?;
    let a: Vec<f32> = (0..c[0].len()).map(|i| c[0][i] / (c[3][i] + b.epsilon).sqrt()).collect();
    let sh: Vec<f32> = (0..c[0].len()).map(|i| c[1][i] - c[2][i] * a[i]).collect();
    let rank = cx.rank(x)?;
    let (xt, layout, shape) = if rank == 4 {
        (cx.get(x, Layout::Last)?, Layout::Last, vec![a.len()])
    } else {
        let mut s = vec![1; rank.saturating_sub(1)];
        if let Some(s1) = s.first_mut() {
            *s1 = a.len();
        }
        (cx.get(x, Layout::Same)?, Layout::Same, s)
    };
    let vec = |v: Vec<f32>| Tensor::F32(ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&shape), v).expect("C values"));
    let at = cx.constant(&format!("{}/scale", n.name), &vec(a));
    let bt = cx.constant(&format!("{}/shift", n.name), &vec(sh));
    let m = typed(cx, &format!("{}/mul", n.name), "Mul", vec![xt, at], DType::F32);
    let t = typed(cx, &n.name, "AddV2", vec![m, bt], DType::F32);
    cx.bind(y, t, layout);
    Ok(())
}

pub(super) fn resize(cx: &mut Cx<'_>, n: &Node, r: &Resize) -> Result<(), String> {
    let (x, y) = (inp(n, 0)?, out(n, 0)?);
    hw(cx, x)?;
    let (xd, yd) = (cx.dims(x)?, cx.dims(y)?);
    if xd[..2] != yd[..2] || yd[2] < 0 || yd[3] < 0 {
        return Err("other than on H and W to a known size has no TensorFlow form".into());
    }
    let ctm = r.coordinate_transformation_mode.as_deref().unwrap_or("half_pixel");
    let mode = r.mode.as_deref().unwrap_or("nearest");
    let (op, align, half) = match (mode, ctm) {
        ("nearest", "asymmetric") => ("ResizeNearestNeighbor", false, false),
        ("nearest", "tf_half_pixel_for_nn" | "half_pixel") => ("ResizeNearestNeighbor", false, true),
        ("nearest", "align_corners") => ("ResizeNearestNeighbor", true, false),
        ("linear", "half_pixel" | "pytorch_half_pixel") => ("ResizeBilinear", false, true),
        ("linear", "align_corners") => ("ResizeBilinear", true, false),
        ("linear", "asymmetric") => ("ResizeBilinear", false, false),
        (m, c) => return Err(format!("mode {m} with {c} coordinates has no TensorFlow form")),
    };
    if op == "ResizeNearestNeighbor"
        && !matches!(r.nearest_mode.as_deref(), None | Some("round_prefer_floor" | "floor"))
    {
        return Err("nearest mode other than floor has no TensorFlow form".into());
    }
    let xt = cx.get(x, Layout::Last)?;
    let size = cx.i32s(&format!("{}/size", n.name), &yd[2..]);
    let t = cx.b.node(
        &n.name,
        op,
        vec![xt, size],
        vec![("T", ty(DType::F32)), ("align_corners", boolean(align)), ("half_pixel_centers", boolean(half))],
    );
    cx.bind(y, t, Layout::Last);
    Ok(())
}

pub(super) fn depth_to_space(cx: &mut Cx<'_>, n: &Node, block: i64, crd: bool, op: &str) -> Result<(), String> {
    let (x, y) = (inp(n, 0)?, out(n, 0)?);
    if crd {
        return Err("in CRD mode has no TensorFlow form".into());
    }
    let xt = cx.get(x, Layout::Last)?;
    let dt = cx.dtype(x)?;
    let t = cx.b.node(
        &n.name,
        op,
        vec![xt],
        vec![("T", ty(dt)), ("block_size", int(block)), ("data_format", string("NHWC"))],
    );
    cx.bind(y, t, Layout::Last);
    Ok(())
}
