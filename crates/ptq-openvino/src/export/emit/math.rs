//! MatMul, Gemm, elementwise ops, softmax, layer norm and reductions.

use ptq_ir::Node;
use ptq_ir::ops::binary::Binary;
use ptq_ir::ops::binary::BinaryKind;
use ptq_ir::ops::gemm::Gemm;
use ptq_ir::ops::layer_norm::LayerNorm;
use ptq_ir::ops::reduce::Reduce;
use ptq_ir::ops::reduce::ReduceKind;
use ptq_ir::ops::softmax::Softmax;
use ptq_ir::ops::softmax::SoftmaxKind;
use ptq_ir::ops::unary::UnaryKind;
use ptq_ir::ops::variadic::Variadic;
use ptq_ir::ops::variadic::VariadicKind;

use super::{Cx, inp, inputs, norm_axis, numpy, opt_inp, out, single, step};
use crate::export::builder::attrs;

fn matmul_attrs(ta: bool, tb: bool) -> Vec<(String, String)> {
    attrs([("transpose_a", ta.to_string()), ("transpose_b", tb.to_string())])
}

pub(super) fn mat_mul(cx: &mut Cx<'_>, n: &Node) -> Result<(), String> {
    let a = cx.src(inp(n, 0)?)?;
    let b = super::quant::weight(cx, inp(n, 1)?, None)?;
    single(cx, n, "MatMul", "opset1", matmul_attrs(false, false), &[a, b])
}

pub(super) fn gemm(cx: &mut Cx<'_>, n: &Node, o: &Gemm) -> Result<(), String> {
    let y = out(n, 0)?;
    let port = cx.port(y)?;
    let name = n.name.clone();
    let a = cx.src(inp(n, 0)?)?;
    let b = super::quant::weight(cx, inp(n, 1)?, None)?;
    let c = opt_inp(n, 2);
    let mut last =
        step(cx, &format!("{name}/matmul"), "MatMul", matmul_attrs(o.trans_a, o.trans_b), &[a, b], port.clone())?;
    if o.alpha != 1.0 {
        let s = cx.scalar(&format!("{name}/alpha"), port.dtype, f64::from(o.alpha))?;
        last = step(cx, &format!("{name}/scaled"), "Multiply", numpy(), &[last, s], port.clone())?;
    }
    if let Some(c) = c.filter(|_| o.beta != 0.0) {
        let mut cs = cx.src(c)?;
        if o.beta != 1.0 {
            let s = cx.scalar(&format!("{name}/beta"), port.dtype, f64::from(o.beta))?;
            let cp = cx.port(c)?;
            cs = step(cx, &format!("{name}/c_scaled"), "Multiply", numpy(), &[cs, s], cp)?;
        }
        last = step(cx, &format!("{name}/add"), "Add", numpy(), &[last, cs], port.clone())?;
    }
    cx.bind(y, last);
    Ok(())
}

pub(super) fn binary(cx: &mut Cx<'_>, n: &Node, b: &Binary) -> Result<(), String> {
    let y = out(n, 0)?;
    let port = cx.port(y)?;
    let (a, bb) = (cx.src(inp(n, 0)?)?, cx.src(inp(n, 1)?)?);
    let kind = match b.kind {
        BinaryKind::Add => "Add",
        BinaryKind::Sub => "Subtract",
        BinaryKind::Mul => "Multiply",
        BinaryKind::Div => "Divide",
        BinaryKind::Pow => "Power",
        BinaryKind::Mod { fmod: true } => "Mod",
        BinaryKind::Mod { fmod: false } => "FloorMod",
        BinaryKind::Equal => "Equal",
        BinaryKind::Greater => "Greater",
        BinaryKind::GreaterOrEqual => "GreaterEqual",
        BinaryKind::Less => "Less",
        BinaryKind::LessOrEqual => "LessEqual",
        BinaryKind::And => "LogicalAnd",
        BinaryKind::Or => "LogicalOr",
        BinaryKind::Xor => "LogicalXor",
        BinaryKind::PRelu => {
            // OpenVINO applies a 1-D slope along axis 1; ONNX broadcasts it numpy-style.
            let slope = cx.port(inp(n, 1)?)?;
            let numel: i64 = slope.dims.iter().product();
            if numel != 1 && slope.dims.len() != port.dims.len() {
                return Err("a PRelu slope must be a scalar or of the input's rank".into());
            }
            return single(cx, n, "PRelu", "opset1", vec![], &[a, bb]);
        }
    };
    single(cx, n, kind, "opset1", numpy(), &[a, bb])
}

pub(super) fn variadic(cx: &mut Cx<'_>, n: &Node, v: &Variadic) -> Result<(), String> {
    let y = out(n, 0)?;
    let port = cx.port(y)?;
    let name = n.name.clone();
    let ins = inputs(cx, n)?;
    let (first, rest) = ins.split_first().ok_or("no inputs")?;
    let kind = match v.kind {
        VariadicKind::Sum | VariadicKind::Mean => "Add",
        VariadicKind::Max => "Maximum",
        VariadicKind::Min => "Minimum",
    };
    let mut acc = *first;
    for (i, &s) in rest.iter().enumerate() {
        acc = step(cx, &format!("{name}/{i}"), kind, numpy(), &[acc, s], port.clone())?;
    }
    if v.kind == VariadicKind::Mean {
        let k = cx.scalar(&format!("{name}/count"), port.dtype, ins.len() as f64)?;
        acc = step(cx, &format!("{name}/mean"), "Divide", numpy(), &[acc, k], port.clone())?;
    }
    cx.bind(y, acc);
    Ok(())
}

pub(super) fn clip(cx: &mut Cx<'_>, n: &Node) -> Result<(), String> {
    let x = cx.src(inp(n, 0)?)?;
    let bound = |i: usize| -> Result<Option<f64>, String> {
        match opt_inp(n, i) {
            None => Ok(None),
            Some(v) => match cx.g.constant(v).map(|t| t.to_f64_vec()) {
                Some(b) if b.len() == 1 => Ok(Some(b[0])),
                _ => Err("Clip bounds must be scalar constants".into()),
            },
        }
    };
    let lo = bound(1)?.unwrap_or(f64::from(f32::MIN));
    let hi = bound(2)?.unwrap_or(f64::from(f32::MAX));
    single(cx, n, "Clamp", "opset1", attrs([("min", lo.to_string()), ("max", hi.to_string())]), &[x])
}

pub(super) fn softmax(cx: &mut Cx<'_>, n: &Node, s: &Softmax) -> Result<(), String> {
    let x = inp(n, 0)?;
    let rank = cx.rank(x)?;
    let axis = norm_axis(s.axis, rank)?;
    if s.coerce_2d && axis != rank as i64 - 1 {
        return Err("opset < 13 softmax over a non-last axis has no OpenVINO form".into());
    }
    let xs = cx.src(x)?;
    let (kind, version) = match s.kind {
        SoftmaxKind::Softmax => ("SoftMax", "opset8"),
        SoftmaxKind::LogSoftmax => ("LogSoftmax", "opset5"),
        SoftmaxKind::Hardmax => return Err("Hardmax has no OpenVINO form".into()),
    };
    single(cx, n, kind, version, attrs([("axis", axis.to_string())]), &[xs])
}

pub(super) fn layer_norm(cx: &mut Cx<'_>, n: &Node, l: &LayerNorm) -> Result<(), String> {
    let y = out(n, 0)?;
    let port = cx.port(y)?;
    let name = n.name.clone();
    let x = inp(n, 0)?;
    let rank = cx.rank(x)?;
    let axis = norm_axis(l.axis, rank)?;
    let axes: Vec<i64> = (axis..rank as i64).collect();
    let xs = cx.src(x)?;
    let a = cx.ints(&format!("{name}/axes"), &axes)?;
    let data = attrs([
        ("normalize_variance", "true".into()),
        ("eps", l.epsilon.to_string()),
        ("eps_mode", "inside_sqrt".into()),
    ]);
    let mut last = cx.b.layer1(&format!("{name}/mvn"), "MVN", "opset6", data, &[xs, a], port.clone())?;
    if let Some(s) = opt_inp(n, 1) {
        let s = cx.src(s)?;
        last = step(cx, &format!("{name}/scale"), "Multiply", numpy(), &[last, s], port.clone())?;
    }
    if let Some(b) = opt_inp(n, 2) {
        let b = cx.src(b)?;
        last = step(cx, &format!("{name}/bias"), "Add", numpy(), &[last, b], port.clone())?;
    }
    cx.bind(y, last);
    Ok(())
}

pub(super) fn reduce(cx: &mut Cx<'_>, n: &Node, r: &Reduce) -> Result<(), String> {
    let y = out(n, 0)?;
    let port = cx.port(y)?;
    let name = n.name.clone();
    let x = inp(n, 0)?;
    let xp = cx.port(x)?;
    let mut xs = cx.src(x)?;
    let axes = match opt_inp(n, 1) {
        Some(a) => cx.src(a)?,
        None if r.noop_with_empty_axes => {
            cx.bind(y, xs);
            return Ok(());
        }
        None => {
            let all: Vec<i64> = (0..xp.dims.len() as i64).collect();
            cx.ints(&format!("{name}/axes"), &all)?
        }
    };
    let kind = match r.kind {
        ReduceKind::Mean => "ReduceMean",
        ReduceKind::Sum | ReduceKind::SumSquare | ReduceKind::LogSum | ReduceKind::LogSumExp => "ReduceSum",
        ReduceKind::Max => "ReduceMax",
        ReduceKind::Min => "ReduceMin",
        ReduceKind::Prod => "ReduceProd",
        ReduceKind::L1 => "ReduceL1",
        ReduceKind::L2 => "ReduceL2",
    };
    let version = if matches!(r.kind, ReduceKind::L1 | ReduceKind::L2) { "opset4" } else { "opset1" };
    let data = attrs([("keep_dims", r.keepdims.to_string())]);
    match r.kind {
        ReduceKind::SumSquare => xs = step(cx, &format!("{name}/square"), "Multiply", numpy(), &[xs, xs], xp)?,
        ReduceKind::LogSumExp => xs = step(cx, &format!("{name}/exp"), "Exp", vec![], &[xs], xp)?,
        _ => {}
    }
    if matches!(r.kind, ReduceKind::LogSum | ReduceKind::LogSumExp) {
        let sum = cx.b.layer1(&format!("{name}/sum"), kind, version, data, &[xs, axes], port.clone())?;
        let s = step(cx, &name, "Log", vec![], &[sum], port)?;
        cx.bind(y, s);
        Ok(())
    } else {
        single(cx, n, kind, version, data, &[xs, axes])
    }
}

pub(super) fn unary(cx: &mut Cx<'_>, n: &Node, kind: &UnaryKind) -> Result<(), String> {
    let y = out(n, 0)?;
    let port = cx.port(y)?;
    let x = cx.src(inp(n, 0)?)?;
    let name = n.name.clone();
    let simple = |k: &str| Some((k.to_string(), "opset1"));
    let op = match kind {
        UnaryKind::Identity => {
            cx.bind(y, x);
            return Ok(());
        }
        UnaryKind::Relu => simple("Relu"),
        UnaryKind::Sigmoid => simple("Sigmoid"),
        UnaryKind::Tanh => simple("Tanh"),
        UnaryKind::Sqrt => simple("Sqrt"),
        UnaryKind::Exp => simple("Exp"),
        UnaryKind::Log => simple("Log"),
        UnaryKind::Neg => simple("Negative"),
        UnaryKind::Abs => simple("Abs"),
        UnaryKind::Floor => simple("Floor"),
        UnaryKind::Ceil => simple("Ceiling"),
        UnaryKind::Erf => simple("Erf"),
        UnaryKind::Sign => simple("Sign"),
        UnaryKind::Sin => simple("Sin"),
        UnaryKind::Cos => simple("Cos"),
        UnaryKind::Not => simple("LogicalNot"),
        UnaryKind::Softplus => Some(("SoftPlus".into(), "opset4")),
        UnaryKind::Softsign => Some(("SoftSign".into(), "opset9")),
        UnaryKind::HardSwish => Some(("HSwish".into(), "opset4")),
        UnaryKind::Mish => Some(("Mish".into(), "opset4")),
        UnaryKind::IsNaN => Some(("IsNaN".into(), "opset10")),
        _ => None,
    };
    if let Some((k, v)) = op {
        return single(cx, n, &k, v, vec![], &[x]);
    }
    let dt = port.dtype;
    match *kind {
        UnaryKind::Round => single(cx, n, "Round", "opset5", attrs([("mode", "half_to_even".into())]), &[x]),
        UnaryKind::Reciprocal => {
            let one = cx.scalar(&format!("{name}/one"), dt, 1.0)?;
            single(cx, n, "Divide", "opset1", numpy(), &[one, x])
        }
        UnaryKind::LeakyRelu { alpha } => {
            let a = cx.constant(&format!("{name}/alpha"), &crate::export::filled(dt, &[1], f64::from(alpha))?)?;
            single(cx, n, "PRelu", "opset1", vec![], &[x, a])
        }
        UnaryKind::HardSigmoid { alpha, beta } => {
            let a = cx.scalar(&format!("{name}/alpha"), dt, f64::from(alpha))?;
            let b = cx.scalar(&format!("{name}/beta"), dt, f64::from(beta))?;
            single(cx, n, "HardSigmoid", "opset1", vec![], &[x, a, b])
        }
        UnaryKind::Elu { alpha } => single(cx, n, "Elu", "opset1", attrs([("alpha", alpha.to_string())]), &[x]),
        UnaryKind::Selu { alpha, gamma } => {
            let a = cx.constant(&format!("{name}/alpha"), &crate::export::filled(dt, &[1], f64::from(alpha))?)?;
            let g = cx.constant(&format!("{name}/lambda"), &crate::export::filled(dt, &[1], f64::from(gamma))?)?;
            single(cx, n, "Selu", "opset1", vec![], &[x, a, g])
        }
        UnaryKind::Gelu { tanh } => {
            let mode = if tanh { "tanh" } else { "erf" };
            single(cx, n, "Gelu", "opset7", attrs([("approximation_mode", mode.into())]), &[x])
        }
        ref k => Err(format!("{k:?} has no OpenVINO form")),
    }
}
