//! One ptq-ir node → IR layers, one file per op family.

mod conv;
mod layout;
mod math;
mod quant;
mod resize;

use ptq_ir::{Node, Op, ValueId};

use super::Cx;
use super::builder::{Port, Src};

/// Writes node `n` (`id`), binding its outputs.
pub(crate) fn emit(cx: &mut Cx<'_>, n: &Node) -> Result<(), String> {
    match &n.op {
        Op::Conv(c) => conv::conv(cx, n, c),
        Op::ConvTranspose(c) => conv::conv_transpose(cx, n, c),
        Op::Pool(p) => conv::pool(cx, n, p),
        Op::GlobalPool(p) => conv::global_pool(cx, n, p),
        Op::BatchNorm(b) => conv::batch_norm(cx, n, b),
        Op::MatMul(_) => math::mat_mul(cx, n),
        Op::Gemm(o) => math::gemm(cx, n, o),
        Op::Unary(u) => math::unary(cx, n, &u.kind),
        Op::Binary(b) => math::binary(cx, n, b),
        Op::Variadic(v) => math::variadic(cx, n, v),
        Op::Clip(_) => math::clip(cx, n),
        Op::Softmax(s) => math::softmax(cx, n, s),
        Op::LayerNorm(l) => math::layer_norm(cx, n, l),
        Op::Reduce(r) => math::reduce(cx, n, r),
        Op::FakeQuantize(f) => quant::fake_quantize(cx, n, f),
        Op::QuantizeLinear(_) => quant::quantize_linear(cx, n),
        Op::DequantizeLinear(_) => quant::dequantize_linear(cx, n),
        Op::Reshape(r) => layout::reshape(cx, n, r),
        Op::Flatten(f) => layout::flatten(cx, n, f),
        Op::Transpose(t) => layout::transpose(cx, n, t),
        Op::Squeeze(_) => layout::squeeze(cx, n, "Squeeze"),
        Op::Unsqueeze(_) => layout::squeeze(cx, n, "Unsqueeze"),
        Op::Concat(c) => layout::concat(cx, n, c),
        Op::Split(s) => layout::split(cx, n, s),
        Op::Slice(_) => layout::slice(cx, n),
        Op::Gather(g) => layout::gather(cx, n, g),
        Op::GatherElements(g) => layout::gather_elements(cx, n, g),
        Op::Expand(_) => layout::expand(cx, n),
        Op::Tile(_) => layout::tile(cx, n),
        Op::Pad(p) => layout::pad(cx, n, p),
        Op::DepthToSpace(d) => layout::depth_to_space(cx, n, d),
        Op::SpaceToDepth(d) => layout::space_to_depth(cx, n, d),
        Op::ShapeOf(s) => layout::shape_of(cx, n, s),
        Op::Size(_) => layout::size(cx, n),
        Op::ConstantOfShape(c) => layout::constant_of_shape(cx, n, c),
        Op::Range(_) => layout::range(cx, n),
        Op::Cast(c) => layout::cast(cx, n, c),
        Op::Where(_) => layout::where_(cx, n),
        Op::Dropout(_) => layout::dropout(cx, n),
        Op::TopK(t) => layout::top_k(cx, n, t),
        Op::Resize(r) => resize::emit(cx, n, r),
        Op::Opaque(o) if o.domain.starts_with("opset") || o.domain.starts_with("extension") => {
            let mut data = vec![];
            for (k, v) in &o.attrs {
                match v {
                    ptq_ir::Attr::String(b) => data.push((k.clone(), String::from_utf8_lossy(b).into_owned())),
                    _ => return Err(format!("attribute {k} of an OpenVINO layer is not a string")),
                }
            }
            let ins = inputs(cx, n)?;
            let outs: Vec<ValueId> =
                n.outputs.iter().map(|o| o.ok_or("an output is absent")).collect::<Result<_, _>>()?;
            let ports = outs.iter().map(|&v| cx.port(v)).collect::<Result<Vec<_>, _>>()?;
            let srcs = cx.b.layer(&n.name, &o.op_type, &o.domain, data, &ins, ports)?;
            for (v, s) in outs.into_iter().zip(srcs) {
                cx.bind(v, s);
            }
            Ok(())
        }
        Op::Opaque(o) => Err(format!("{} (domain '{}') has no OpenVINO form", o.op_type, o.domain)),
        Op::InstanceNorm(_) | Op::ArgReduce(_) | Op::Rnn(_) | Op::If(_) | Op::Loop(_) | Op::Scan(_) => {
            Err(format!("{} has no OpenVINO form in this writer", n.op.name()))
        }
    }
}

/// Input `i`, which must be present.
pub(crate) fn inp(n: &Node, i: usize) -> Result<ValueId, String> {
    n.inputs.get(i).copied().flatten().ok_or_else(|| format!("input {i} is missing"))
}

/// Input `i` if present.
pub(crate) fn opt_inp(n: &Node, i: usize) -> Option<ValueId> {
    n.inputs.get(i).copied().flatten()
}

/// Output `i`, which must be present.
pub(crate) fn out(n: &Node, i: usize) -> Result<ValueId, String> {
    n.outputs.get(i).copied().flatten().ok_or_else(|| format!("output {i} is missing"))
}

/// The layer outputs of every present input, in order (absent trailing inputs dropped).
pub(crate) fn inputs(cx: &mut Cx<'_>, n: &Node) -> Result<Vec<Src>, String> {
    n.inputs.iter().flatten().map(|&v| cx.src(v)).collect()
}

/// One layer whose single output is node output 0.
pub(crate) fn single(
    cx: &mut Cx<'_>,
    n: &Node,
    kind: &str,
    version: &str,
    data: Vec<(String, String)>,
    ins: &[Src],
) -> Result<(), String> {
    let y = out(n, 0)?;
    let port = cx.port(y)?;
    let s = cx.b.layer1(&n.name, kind, version, data, ins, port)?;
    cx.bind(y, s);
    Ok(())
}

/// An intermediate layer of a decomposition, typed like `like`.
pub(crate) fn step(
    cx: &mut Cx<'_>,
    name: &str,
    kind: &str,
    data: Vec<(String, String)>,
    ins: &[Src],
    like: Port,
) -> Result<Src, String> {
    cx.b.layer1(name, kind, "opset1", data, ins, like)
}

/// `auto_broadcast="numpy"`.
pub(crate) fn numpy() -> Vec<(String, String)> {
    vec![("auto_broadcast".into(), "numpy".into())]
}

/// An axis in `[0, rank)`.
pub(crate) fn norm_axis(axis: i64, rank: usize) -> Result<i64, String> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if (0..r).contains(&a) { Ok(a) } else { Err(format!("axis {axis} is out of range for rank {rank}")) }
}
