//! Elementwise math, activations, reductions, softmax, layer norm and
//! matrix products.

use ptq_ir::ops::binary::BinaryKind;
use ptq_ir::ops::gemm::Gemm;
use ptq_ir::ops::layer_norm::LayerNorm;
use ptq_ir::ops::reduce::{Reduce, ReduceKind};
use ptq_ir::ops::softmax::{Softmax, SoftmaxKind};
use ptq_ir::ops::unary::UnaryKind;
use ptq_ir::ops::variadic::VariadicKind;
use ptq_ir::{DType, Node, ValueId};

use super::quant::{is_per_channel_weight, weight};
use super::{const_ints, elementwise_input, elementwise_layout, inp, norm_axis, opt_inp, out, single_output, typed};
use crate::export::builder::{boolean, float, ty};
use crate::export::{Cx, Layout, tf_axis};

pub(super) fn unary(cx: &mut Cx<'_>, n: &Node, kind: UnaryKind) -> Result<(), String> {
    let (x, y) = (inp(n, 0)?, out(n, 0)?);
    let (xt, layout) = cx.held(x)?;
    let dt = cx.dtype(x)?;
    let b = n.name.as_str();
    let f = |cx: &mut Cx<'_>, op: &str, x: String| typed(cx, b, op, vec![x], dt);
    let t = match kind {
        UnaryKind::Identity => f(cx, "Identity", xt),
        UnaryKind::Relu => f(cx, "Relu", xt),
        UnaryKind::Sigmoid => f(cx, "Sigmoid", xt),
        UnaryKind::Tanh => f(cx, "Tanh", xt),
        UnaryKind::Sqrt => f(cx, "Sqrt", xt),
        UnaryKind::Exp => f(cx, "Exp", xt),
        UnaryKind::Log => f(cx, "Log", xt),
        UnaryKind::Neg => f(cx, "Neg", xt),
        UnaryKind::Abs => f(cx, "Abs", xt),
        UnaryKind::Reciprocal => f(cx, "Reciprocal", xt),
        UnaryKind::Floor => f(cx, "Floor", xt),
        UnaryKind::Ceil => f(cx, "Ceil", xt),
        UnaryKind::Round => f(cx, "Round", xt),
        UnaryKind::Erf => f(cx, "Erf", xt),
        UnaryKind::Sign => f(cx, "Sign", xt),
        UnaryKind::Sin => f(cx, "Sin", xt),
        UnaryKind::Cos => f(cx, "Cos", xt),
        UnaryKind::Softplus => f(cx, "Softplus", xt),
        UnaryKind::Softsign => f(cx, "Softsign", xt),
        UnaryKind::IsNaN => cx.b.node(b, "IsNan", vec![xt], vec![("T", ty(dt))]),
        UnaryKind::Not => cx.b.node(b, "LogicalNot", vec![xt], vec![]),
        UnaryKind::LeakyRelu { alpha } => {
            cx.b.node(b, "LeakyRelu", vec![xt], vec![("T", ty(dt)), ("alpha", float(alpha))])
        }
        UnaryKind::Elu { alpha: 1.0 } => f(cx, "Elu", xt),
        UnaryKind::Selu { alpha, gamma } if (alpha - 1.673_263_2).abs() < 1e-6 && (gamma - 1.050_701).abs() < 1e-6 => {
            f(cx, "Selu", xt)
        }
        UnaryKind::HardSigmoid { alpha, beta } => {
            let a = cx.f32(&format!("{b}/alpha"), alpha);
            let m = typed(cx, &format!("{b}/mul"), "Mul", vec![xt, a], dt);
            let bb = cx.f32(&format!("{b}/beta"), beta);
            let s = typed(cx, &format!("{b}/add"), "AddV2", vec![m, bb], dt);
            let six = cx.f32(&format!("{b}/six"), 6.0);
            let s6 = typed(cx, &format!("{b}/scale"), "Mul", vec![s, six], dt);
            let r = typed(cx, &format!("{b}/relu6"), "Relu6", vec![s6], dt);
            let inv = cx.f32(&format!("{b}/sixth"), 1.0 / 6.0);
            typed(cx, b, "Mul", vec![r, inv], dt)
        }
        UnaryKind::HardSwish => {
            let three = cx.f32(&format!("{b}/three"), 3.0);
            let s = typed(cx, &format!("{b}/add"), "AddV2", vec![xt.clone(), three], dt);
            let r = typed(cx, &format!("{b}/relu6"), "Relu6", vec![s], dt);
            let inv = cx.f32(&format!("{b}/sixth"), 1.0 / 6.0);
            let g = typed(cx, &format!("{b}/gate"), "Mul", vec![r, inv], dt);
            typed(cx, b, "Mul", vec![xt, g], dt)
        }
        UnaryKind::Mish => {
            let sp = typed(cx, &format!("{b}/softplus"), "Softplus", vec![xt.clone()], dt);
            let th = typed(cx, &format!("{b}/tanh"), "Tanh", vec![sp], dt);
            typed(cx, b, "Mul", vec![xt, th], dt)
        }
        UnaryKind::Gelu { tanh } => {
            let half = cx.f32(&format!("{b}/half"), 0.5);
            let inner = if tanh {
                // tanh(√(2/π)·(x + 0.044715·x³))
                let x3a = typed(cx, &format!("{b}/square"), "Square", vec![xt.clone()], dt);
                let c = cx.f32(&format!("{b}/c"), 0.044_715);
                let x2c = typed(cx, &format!("{b}/x2c"), "Mul", vec![x3a, c], dt);
                let one = cx.f32(&format!("{b}/one"), 1.0);
                let p = typed(cx, &format!("{b}/poly"), "AddV2", vec![x2c, one], dt);
                let xp = typed(cx, &format!("{b}/xpoly"), "Mul", vec![xt.clone(), p], dt);
                let k = cx.f32(&format!("{b}/k"), (2.0 / std::f32::consts::PI).sqrt());
                let a = typed(cx, &format!("{b}/arg"), "Mul", vec![xp, k], dt);
                typed(cx, &format!("{b}/tanh"), "Tanh", vec![a], dt)
            } else {
                let k = cx.f32(&format!("{b}/rsqrt2"), std::f32::consts::FRAC_1_SQRT_2);
                let a = typed(cx, &format!("{b}/arg"), "Mul", vec![xt.clone(), k], dt);
                typed(cx, &format!("{b}/erf"), "Erf", vec![a], dt)
            };
            let one = cx.f32(&format!("{b}/one"), 1.0);
            let p = typed(cx, &format!("{b}/plus1"), "AddV2", vec![inner, one], dt);
            let h = typed(cx, &format!("{b}/halfx"), "Mul", vec![xt, half], dt);
            typed(cx, b, "Mul", vec![h, p], dt)
        }
        k => return Err(format!("({k:?}) has no TensorFlow form in this writer")),
    };
    cx.bind(y, t, layout);
    Ok(())
}

/// TensorFlow's op for a binary kind on `dt`.
fn binary_op(kind: BinaryKind, dt: DType) -> Result<&'static str, String> {
    let float = dt.is_float();
    Ok(match kind {
        BinaryKind::Add => "AddV2",
        BinaryKind::Sub => "Sub",
        BinaryKind::Mul => "Mul",
        BinaryKind::Div if float => "RealDiv",
        BinaryKind::Div => "TruncateDiv",
        BinaryKind::Pow => "Pow",
        BinaryKind::Mod { fmod: true } => "TruncateMod",
        BinaryKind::Mod { fmod: false } => "FloorMod",
        BinaryKind::Equal => "Equal",
        BinaryKind::Greater => "Greater",
        BinaryKind::GreaterOrEqual => "GreaterEqual",
        BinaryKind::Less => "Less",
        BinaryKind::LessOrEqual => "LessEqual",
        BinaryKind::And => "LogicalAnd",
        BinaryKind::Or => "LogicalOr",
        BinaryKind::Xor => "NotEqual",
        BinaryKind::PRelu => return Err("PRelu is written apart".into()),
    })
}

pub(super) fn binary(cx: &mut Cx<'_>, n: &Node, kind: BinaryKind) -> Result<(), String> {
    let (a, b, y) = (inp(n, 0)?, inp(n, 1)?, out(n, 0)?);
    let layout = elementwise_layout(cx, &[a, b], cx.rank(y)?)?;
    let (at, bt) = (elementwise_input(cx, a, layout)?, elementwise_input(cx, b, layout)?);
    let dt = cx.dtype(a)?;
    let name = n.name.as_str();
    let t = match kind {
        BinaryKind::PRelu => {
            // max(0, x) + slope · min(0, x)
            let pos = typed(cx, &format!("{name}/relu"), "Relu", vec![at.clone()], dt);
            let neg = typed(cx, &format!("{name}/neg"), "Neg", vec![at], dt);
            let nr = typed(cx, &format!("{name}/neg_relu"), "Relu", vec![neg], dt);
            let m = typed(cx, &format!("{name}/slope"), "Mul", vec![bt, nr], dt);
            typed(cx, name, "Sub", vec![pos, m], dt)
        }
        BinaryKind::And | BinaryKind::Or => cx.b.node(name, binary_op(kind, dt)?, vec![at, bt], vec![]),
        BinaryKind::Xor => cx.b.node(
            name,
            "NotEqual",
            vec![at, bt],
            vec![("T", ty(DType::Bool)), ("incompatible_shape_error", boolean(true))],
        ),
        BinaryKind::Equal => {
            cx.b.node(name, "Equal", vec![at, bt], vec![("T", ty(dt)), ("incompatible_shape_error", boolean(true))])
        }
        k => typed(cx, name, binary_op(k, dt)?, vec![at, bt], dt),
    };
    cx.bind(y, t, layout);
    Ok(())
}

pub(super) fn variadic(cx: &mut Cx<'_>, n: &Node, kind: VariadicKind) -> Result<(), String> {
    let ins: Vec<ValueId> = n.inputs.iter().flatten().copied().collect();
    let y = out(n, 0)?;
    let layout = elementwise_layout(cx, &ins, cx.rank(y)?)?;
    let dt = cx.dtype(y)?;
    let op = match kind {
        VariadicKind::Sum | VariadicKind::Mean => "AddV2",
        VariadicKind::Max => "Maximum",
        VariadicKind::Min => "Minimum",
    };
    let mut acc = elementwise_input(cx, *ins.first().ok_or("has no inputs")?, layout)?;
    for (i, &v) in ins.iter().enumerate().skip(1) {
        let t = elementwise_input(cx, v, layout)?;
        acc = typed(cx, &format!("{}/{i}", n.name), op, vec![acc, t], dt);
    }
    if kind == VariadicKind::Mean {
        let k = cx.f32(&format!("{}/count", n.name), 1.0 / ins.len() as f32);
        acc = typed(cx, &n.name, "Mul", vec![acc, k], dt);
    } else {
        acc = typed(cx, &n.name, "Identity", vec![acc], dt);
    }
    cx.bind(y, acc, layout);
    Ok(())
}

pub(super) fn clip(cx: &mut Cx<'_>, n: &Node) -> Result<(), String> {
    let (x, y) = (inp(n, 0)?, out(n, 0)?);
    let (mut t, layout) = cx.held(x)?;
    let dt = cx.dtype(x)?;
    let bound = |cx: &Cx<'_>, i| opt_inp(n, i).map(|v| super::const_f32s(cx, v).and_then(|c| c.first().copied()));
    let (lo, hi) = (bound(cx, 1), bound(cx, 2));
    if matches!(lo, Some(None)) || matches!(hi, Some(None)) {
        return Err("with non-constant bounds has no TensorFlow form".into());
    }
    let (lo, hi) = (lo.flatten(), hi.flatten());
    if lo == Some(0.0) && hi == Some(6.0) {
        t = typed(cx, &n.name, "Relu6", vec![t], dt);
    } else {
        if let Some(l) = lo {
            let c = cx.f32(&format!("{}/min", n.name), l);
            t = typed(cx, &format!("{}/max", n.name), "Maximum", vec![t, c], dt);
        }
        if let Some(h) = hi {
            let c = cx.f32(&format!("{}/max", n.name), h);
            t = typed(cx, &format!("{}/min", n.name), "Minimum", vec![t, c], dt);
        }
        t = typed(cx, &n.name, "Identity", vec![t], dt);
    }
    cx.bind(y, t, layout);
    Ok(())
}

pub(super) fn softmax(cx: &mut Cx<'_>, n: &Node, s: &Softmax) -> Result<(), String> {
    let (x, y) = (inp(n, 0)?, out(n, 0)?);
    let rank = cx.rank(x)?;
    let axis = norm_axis(s.axis, rank)?;
    let (_, held) = cx.held(x)?;
    let layout = if tf_axis(held, axis) == rank - 1 {
        held
    } else if axis == rank - 1 {
        Layout::Same
    } else {
        return Err(format!("over axis {axis} (not the last) has no TensorFlow form in this writer"));
    };
    let xt = cx.get(x, layout)?;
    let op = match s.kind {
        SoftmaxKind::Softmax => "Softmax",
        SoftmaxKind::LogSoftmax => "LogSoftmax",
        SoftmaxKind::Hardmax => return Err("Hardmax has no TensorFlow form".into()),
    };
    let t = typed(cx, &n.name, op, vec![xt], cx.dtype(x)?);
    cx.bind(y, t, layout);
    Ok(())
}

pub(super) fn layer_norm(cx: &mut Cx<'_>, n: &Node, l: &LayerNorm) -> Result<(), String> {
    let (x, scale, y) = (inp(n, 0)?, inp(n, 1)?, single_output(n)?);
    let rank = cx.rank(x)?;
    let axis = norm_axis(l.axis, rank)?;
    let xt = cx.get(x, Layout::Same)?;
    let dt = cx.dtype(x)?;
    let b = n.name.as_str();
    let axes: Vec<i64> = (axis as i64..rank as i64).collect();
    let ax = cx.i32s(&format!("{b}/axes"), &axes);
    let keep = |cx: &mut Cx<'_>, name: &str, x: String| {
        cx.b.node(
            name,
            "Mean",
            vec![x, ax.clone()],
            vec![("T", ty(dt)), ("Tidx", ty(DType::I32)), ("keep_dims", boolean(true))],
        )
    };
    let mean = keep(cx, &format!("{b}/mean"), xt.clone());
    let d = typed(cx, &format!("{b}/centered"), "Sub", vec![xt, mean], dt);
    let sq = typed(cx, &format!("{b}/square"), "Square", vec![d.clone()], dt);
    let var = keep(cx, &format!("{b}/variance"), sq);
    let eps = cx.f32(&format!("{b}/epsilon"), l.epsilon);
    let ve = typed(cx, &format!("{b}/add_eps"), "AddV2", vec![var, eps], dt);
    let r = typed(cx, &format!("{b}/rsqrt"), "Rsqrt", vec![ve], dt);
    let norm = typed(cx, &format!("{b}/normalized"), "Mul", vec![d, r], dt);
    let st = cx.get(scale, Layout::Same)?;
    let mut t = typed(cx, &format!("{b}/scaled"), "Mul", vec![norm, st], dt);
    if let Some(bias) = opt_inp(n, 2) {
        let bt = cx.get(bias, Layout::Same)?;
        t = typed(cx, b, "AddV2", vec![t, bt], dt);
    }
    cx.bind(y, t, Layout::Same);
    Ok(())
}

pub(super) fn reduce(cx: &mut Cx<'_>, n: &Node, r: &Reduce) -> Result<(), String> {
    let (x, y) = (inp(n, 0)?, out(n, 0)?);
    let rank = cx.rank(x)?;
    let axes: Vec<usize> = match opt_inp(n, 1) {
        Some(a) => {
            let v = const_ints(cx, a).ok_or("with non-constant axes has no TensorFlow form")?;
            v.iter().map(|&a| norm_axis(a, rank)).collect::<Result<_, _>>()?
        }
        None => (0..rank).collect(),
    };
    if axes.is_empty() && r.noop_with_empty_axes {
        let (t, layout) = cx.held(x)?;
        let t = typed(cx, &n.name, "Identity", vec![t], cx.dtype(x)?);
        cx.bind(y, t, layout);
        return Ok(());
    }
    let axes: Vec<usize> = if axes.is_empty() { (0..rank).collect() } else { axes };
    let (_, held) = cx.held(x)?;
    // Channels-last stays when the kept dims keep their order.
    let kept: Vec<usize> = (0..rank).filter(|a| !axes.contains(a)).collect();
    let in_order = (0..rank)
        .map(|i| crate::export::ir_axis(Layout::Last, i))
        .filter(|a| kept.contains(a))
        .eq(kept.iter().copied());
    let layout = if held == Layout::Last && (r.keepdims || in_order) { Layout::Last } else { Layout::Same };
    let mut xt = cx.get(x, layout)?;
    let dt = cx.dtype(x)?;
    let tf_axes: Vec<i64> = axes.iter().map(|&a| tf_axis(layout, a) as i64).collect();
    let ax = cx.i32s(&format!("{}/axes", n.name), &tf_axes);
    let b = n.name.as_str();
    let (op, post) = match r.kind {
        ReduceKind::Mean => ("Mean", None),
        ReduceKind::Sum => ("Sum", None),
        ReduceKind::Max => ("Max", None),
        ReduceKind::Min => ("Min", None),
        ReduceKind::Prod => ("Prod", None),
        ReduceKind::SumSquare => {
            xt = typed(cx, &format!("{b}/square"), "Square", vec![xt], dt);
            ("Sum", None)
        }
        ReduceKind::L2 => {
            xt = typed(cx, &format!("{b}/square"), "Square", vec![xt], dt);
            ("Sum", Some("Sqrt"))
        }
        ReduceKind::L1 => {
            xt = typed(cx, &format!("{b}/abs"), "Abs", vec![xt], dt);
            ("Sum", None)
        }
        ReduceKind::LogSum => ("Sum", Some("Log")),
        ReduceKind::LogSumExp => return Err("has no TensorFlow form in this writer".into()),
    };
    let base = if post.is_some() { format!("{b}/reduce") } else { b.to_string() };
    let mut t = cx.b.node(
        &base,
        op,
        vec![xt, ax],
        vec![("T", ty(dt)), ("Tidx", ty(DType::I32)), ("keep_dims", boolean(r.keepdims))],
    );
    if let Some(p) = post {
        t = typed(cx, b, p, vec![t], dt);
    }
    let out_layout = if r.keepdims { layout } else { Layout::Same };
    cx.bind(y, t, out_layout);
    Ok(())
}

pub(super) fn mat_mul(cx: &mut Cx<'_>, n: &Node) -> Result<(), String> {
    let (a, b, y) = (inp(n, 0)?, inp(n, 1)?, out(n, 0)?);
    let (ra, rb) = (cx.rank(a)?, cx.rank(b)?);
    if ra < 2 || rb < 2 {
        return Err("of a 1-D operand has no TensorFlow form in this writer".into());
    }
    let at = cx.get(a, Layout::Same)?;
    let dt = cx.dtype(y)?;
    if rb == 2 && is_per_channel_weight(cx, b) {
        let t = linear_as_conv(cx, &n.name, at, b, &[0, 1], &cx.dims(y)?)?;
        cx.bind(y, t, Layout::Same);
        return Ok(());
    }
    let identity: Vec<i64> = (0..rb as i64).collect();
    let bt = weight(cx, b, &identity)?;
    let t = if ra == 2 && rb == 2 {
        cx.b.node(
            &n.name,
            "MatMul",
            vec![at, bt],
            vec![("T", ty(dt)), ("transpose_a", boolean(false)), ("transpose_b", boolean(false))],
        )
    } else {
        cx.b.node(
            &n.name,
            "BatchMatMulV2",
            vec![at, bt],
            vec![("T", ty(dt)), ("adj_x", boolean(false)), ("adj_y", boolean(false))],
        )
    };
    cx.bind(y, t, Layout::Same);
    Ok(())
}

/// `a · W` for a weight quantized per output channel, as a 1×1 `Conv2D`
/// on `a` reshaped to `[-1, 1, 1, K]`: TFLite's converter keeps a
/// convolution's per-channel weight quantization, while a `MatMul`'s
/// per-channel weight fails its transposition to a fully-connected layer.
/// `perm` puts the weight as `[K, N]`; `out` is the result's shape.
fn linear_as_conv(
    cx: &mut Cx<'_>,
    base: &str,
    a: String,
    w: ValueId,
    perm: &[i64],
    out: &[i64],
) -> Result<String, String> {
    let wd = cx.dims(w)?;
    let (k, n) = (wd[perm[0] as usize], wd[perm[1] as usize]);
    if k < 0 || n < 0 || out.iter().filter(|&&d| d < 0).count() > 1 {
        return Err("needs known weight dims and at most one unknown output dim".into());
    }
    let wt = super::quant::weight_reshaped(cx, w, perm, &[1, 1, k as usize, n as usize])?;
    let s4 = cx.i64s(&format!("{base}/rows"), &[-1, 1, 1, k]);
    let f = DType::F32;
    let x4 =
        cx.b.node(&format!("{base}/as_image"), "Reshape", vec![a, s4], vec![("T", ty(f)), ("Tshape", ty(DType::I64))]);
    let c = cx.b.node(
        &format!("{base}/conv"),
        "Conv2D",
        vec![x4, wt],
        vec![
            ("T", ty(f)),
            ("strides", crate::export::builder::ints(&[1, 1, 1, 1])),
            ("dilations", crate::export::builder::ints(&[1, 1, 1, 1])),
            ("padding", crate::export::builder::string("VALID")),
            ("data_format", crate::export::builder::string("NHWC")),
        ],
    );
    let so = cx.i64s(&format!("{base}/shape"), out);
    Ok(cx.b.node(base, "Reshape", vec![c, so], vec![("T", ty(f)), ("Tshape", ty(DType::I64))]))
}

pub(super) fn gemm(cx: &mut Cx<'_>, n: &Node, o: &Gemm) -> Result<(), String> {
    let (a, b, y) = (inp(n, 0)?, inp(n, 1)?, out(n, 0)?);
    let at = cx.get(a, Layout::Same)?;
    // B as [K, N], so a per-output-channel weight quantizer is on the last axis.
    let perm: &[i64] = if o.trans_b { &[1, 0] } else { &[0, 1] };
    let dt = cx.dtype(y)?;
    let name = n.name.as_str();
    let mm = if o.alpha != 1.0 || opt_inp(n, 2).is_some() { format!("{name}/matmul") } else { name.to_string() };
    let mut t = if !o.trans_a && is_per_channel_weight(cx, b) {
        linear_as_conv(cx, &mm, at, b, perm, &cx.dims(y)?)?
    } else {
        let bt = weight(cx, b, perm)?;
        cx.b.node(
            &mm,
            "MatMul",
            vec![at, bt],
            vec![("T", ty(dt)), ("transpose_a", boolean(o.trans_a)), ("transpose_b", boolean(false))],
        )
    };
    if o.alpha != 1.0 {
        let k = cx.f32(&format!("{name}/alpha"), o.alpha);
        let base = if opt_inp(n, 2).is_some() { format!("{name}/scaled") } else { name.to_string() };
        t = typed(cx, &base, "Mul", vec![t, k], dt);
    }
    if let Some(c) = opt_inp(n, 2) {
        let ct = weight(cx, c, &(0..cx.rank(c)? as i64).collect::<Vec<_>>())?;
        let ct = if o.beta != 1.0 {
            let k = cx.f32(&format!("{name}/beta"), o.beta);
            typed(cx, &format!("{name}/bias_scaled"), "Mul", vec![ct, k], dt)
        } else {
            ct
        };
        t = if cx.rank(c)? == 1 {
            cx.b.node(
                name,
                "BiasAdd",
                vec![t, ct],
                vec![("T", ty(dt)), ("data_format", crate::export::builder::string("NHWC"))],
            )
        } else {
            typed(cx, name, "AddV2", vec![t, ct], dt)
        };
    }
    cx.bind(y, t, Layout::Same);
    Ok(())
}
