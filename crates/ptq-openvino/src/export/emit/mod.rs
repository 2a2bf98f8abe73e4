//! One ptq-ir node → IR layers, one file per op family.

mod conv;
mod layout;
mod math;
mod quant;
mod resize;

use ptq_ir::{Node, NodeId, Op, ValueId};

use super::Cx;
use super::builder::{Port, Src};

/// Writes node `n` (`id`), binding its outputs.
pub(crate) fn emit(cx: &mut Cx<'_>, id: NodeId, n: &Node) -> Result<(), String> {
    match &n.op {
        Op::Conv(_) | Op::ConvTranspose(_) | Op::Pool(_) | Op::GlobalPool(_) | Op::BatchNorm(_) => conv::emit(cx, n),
        Op::Gemm(_)
        | Op::MatMul(_)
        | Op::Unary(_)
        | Op::Binary(_)
        | Op::Variadic(_)
        | Op::Clip(_)
        | Op::Softmax(_)
        | Op::LayerNorm(_)
        | Op::Reduce(_) => math::emit(cx, n),
        Op::QuantizeLinear(_) | Op::DequantizeLinear(_) | Op::FakeQuantize(_) => quant::emit(cx, id, n),
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
        _ => layout::emit(cx, n),
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
