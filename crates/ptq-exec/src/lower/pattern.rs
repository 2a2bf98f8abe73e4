//! What the matchers read off the graph: constants, the parts of a
//! DequantizeLinear, quantizers and their scales, weights and biases.

use std::borrow::Cow;
use std::collections::HashMap;

use ndarray::IxDyn;
use ptq_ir::ops::binary::BinaryKind;
use ptq_ir::ops::dequantize::DequantizeLinear;
use ptq_ir::{DType, Graph, NodeId, Op, Tensor, ValueId};
use ptq_kernels::int8::Activation;

use crate::inputs::{Inputs, Slot};
use crate::util::{contiguous, sole_reader};

pub(crate) use ptq_ir::pattern::{dequantize_parts as dq_parts, dequantizer};

/// f32 scales of a constant f32 tensor, all positive and finite.
pub(crate) fn scales(t: &Tensor) -> Option<Vec<f32>> {
    if t.dtype() != DType::F32 {
        return None;
    }
    let s: Vec<f32> = t.to_f64_vec().iter().map(|&v| v as f32).collect();
    s.iter().all(|v| v.is_finite() && *v > 0.0).then_some(s)
}

/// Activation side: `(x_q, zero point, scale)` for a u8 per-tensor DequantizeLinear.
pub(crate) fn activation(g: &Graph, dq: NodeId) -> Option<(ValueId, u8, f32)> {
    match quantized_activation(g, dq)? {
        (xq, ActBytes::U8(za), s) => Some((xq, za, s)),
        (_, ActBytes::I8, _) => None,
    }
}

/// Activation side of a u8 DequantizeLinear with one scale per channel
/// along axis 1 of a rank-`rank` tensor of `channels` channels, all with
/// the same zero point: `(x_q, zero point, scales)`. A per-tensor one gives
/// its scale repeated.
pub(crate) fn channel_activation(
    g: &Graph,
    dq: NodeId,
    rank: usize,
    channels: usize,
) -> Option<(ValueId, u8, Vec<f32>)> {
    if let Some((xq, za, s)) = activation(g, dq) {
        return Some((xq, za, vec![s; channels]));
    }
    let (op, xq, s, z) = dq_parts(g, dq)?;
    let axis = op.axis.unwrap_or(1);
    if rank < 2 || axis != 1 && axis != 1 - rank as i64 {
        return None;
    }
    let s = scales(g.constant(s)?)?;
    let za = match z.map(|z| g.constant(z)) {
        None if g.value(xq).fact.dtype == Some(DType::U8) => 0,
        Some(Some(t)) => one_u8_zero_point(t, channels)?,
        _ => return None,
    };
    (s.len() == channels).then_some((xq, za, s))
}

/// How a quantized activation's bytes read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ActBytes {
    /// u8 with this zero point.
    U8(u8),
    /// i8 with zero point 0.
    I8,
}

/// `(the quantized value, its bytes, its scale)` of a per-tensor
/// DequantizeLinear of a u8 or symmetric i8 value.
pub(crate) fn quantized_activation(g: &Graph, dq: NodeId) -> Option<(ValueId, ActBytes, f32)> {
    let (_, xq, s, z) = dq_parts(g, dq)?;
    let s = scales(g.constant(s)?)?;
    let &[s] = s.as_slice() else { return None };
    let bytes = match z.map(|z| g.constant(z)) {
        None => match g.value(xq).fact.dtype? {
            DType::U8 => ActBytes::U8(0),
            DType::I8 => ActBytes::I8,
            _ => return None,
        },
        Some(Some(Tensor::U8(a))) if a.len() == 1 => ActBytes::U8(*a.iter().next()?),
        Some(Some(Tensor::I8(a))) if a.len() == 1 && a.iter().all(|&v| v == 0) => ActBytes::I8,
        _ => return None,
    };
    Some((xq, bytes, s))
}

/// The bytes of a u8 or i8 tensor as u8 with a zero point: i8 `v` reads as
/// u8 `v + 128` with zero point 128.
pub(crate) fn as_u8(t: &Tensor, q: ActBytes) -> Result<(Cow<'_, [u8]>, u8), String> {
    match (t, q) {
        (Tensor::U8(a), ActBytes::U8(z)) => Ok((contiguous(a), z)),
        (Tensor::I8(a), ActBytes::I8) => Ok((contiguous(a).iter().map(|&v| (v as u8) ^ 0x80).collect(), 128)),
        (t, q) => Err(format!("integer path: a {} activation where {q:?} was expected", t.dtype())),
    }
}

/// A constant positive finite scalar scale and a constant u8 scalar zero
/// point (0 when absent), as per-tensor u8 Q/DQ nodes carry them.
pub(crate) fn per_tensor_u8(g: &Graph, scale: ValueId, zero_point: Option<ValueId>) -> Option<(f32, u8)> {
    let s = scales(g.constant(scale)?)?;
    let &[s] = s.as_slice() else { return None };
    let zp = match zero_point {
        None => 0,
        Some(z) => match g.constant(z)? {
            Tensor::U8(a) if a.len() == 1 => *a.iter().next()?,
            _ => return None,
        },
    };
    Some((s, zp))
}

/// A QuantizeLinear: `(node, its output, scale, zero point)`.
pub(crate) type Quantizer = (NodeId, ValueId, f32, u8);

/// The QuantizeLinear that is the only reader of `v` (not a graph output),
/// with a per-tensor scale and a u8 (or absent) zero point: `(node, its
/// output, scale, zero point)`.
pub(crate) fn sole_quantizer(
    g: &Graph,
    consumers: &HashMap<ValueId, Vec<(NodeId, usize)>>,
    v: ValueId,
) -> Option<Quantizer> {
    match quantizer_beside_shapes(g, consumers, v)? {
        (q, shapes) if shapes.is_empty() => Some(q),
        _ => None,
    }
}

/// The zero point of a u8 per-channel quantizer whose `channels` zero
/// points are all the same.
pub(crate) fn one_u8_zero_point(t: &Tensor, channels: usize) -> Option<u8> {
    let Tensor::U8(a) = t else { return None };
    let first = *a.iter().next()?;
    (a.len() == channels && a.iter().all(|&z| z == first)).then_some(first)
}

/// The QuantizeLinear that is the only reader of `v` (not a graph output),
/// to u8 with one scale per channel along axis 1 (`channels` of them, or
/// any number above one) and one zero point: `(node, its output, scales,
/// zero point)`.
pub(crate) fn sole_channel_quantizer(
    g: &Graph,
    consumers: &HashMap<ValueId, Vec<(NodeId, usize)>>,
    v: ValueId,
    channels: Option<usize>,
) -> Option<(NodeId, ValueId, Vec<f32>, u8)> {
    if g.outputs().contains(&v) {
        return None;
    }
    let &[(q, 0)] = consumers.get(&v)?.as_slice() else { return None };
    let node = g.node(q)?;
    let Op::QuantizeLinear(op) = &node.op else { return None };
    let axis = op.axis.unwrap_or(1);
    let axis_ok = match g.value(v).fact.shape.as_ref().map(|s| s.len()) {
        Some(rank) => rank >= 2 && (axis == 1 || axis == 1 - rank as i64),
        None => axis == 1,
    };
    if op.block_size.is_some_and(|b| b != 0)
        || op.output_dtype.is_some_and(|d| d != DType::U8)
        || node.output_ids().count() != 1
        || !axis_ok
    {
        return None;
    }
    let st = g.constant(node.inputs.get(1).copied().flatten()?)?;
    let s = scales(st)?;
    let channels = channels.unwrap_or(s.len());
    let zp = one_u8_zero_point(g.constant(node.inputs.get(2).copied().flatten()?)?, channels)?;
    (channels > 1 && s.len() == channels && st.shape() == [channels]).then_some((
        q,
        node.outputs.first().copied().flatten()?,
        s,
        zp,
    ))
}

/// As [`sole_quantizer`], but `v` may also be read by Shape nodes (which
/// the quantizer's output would serve as well, its shape being the same):
/// the quantizer and those Shape nodes.
pub(crate) fn quantizer_beside_shapes(
    g: &Graph,
    consumers: &HashMap<ValueId, Vec<(NodeId, usize)>>,
    v: ValueId,
) -> Option<(Quantizer, Vec<NodeId>)> {
    if g.outputs().contains(&v) {
        return None;
    }
    let (shapes, rest): (Vec<_>, Vec<_>) =
        consumers.get(&v)?.iter().partition(|(n, _)| g.node(*n).is_some_and(|n| matches!(n.op, Op::ShapeOf(_))));
    let &[(q, 0)] = rest.as_slice() else { return None };
    let node = g.node(q)?;
    let Op::QuantizeLinear(op) = &node.op else { return None };
    if op.block_size.is_some_and(|b| b != 0) || op.output_dtype.is_some_and(|d| d != DType::U8) {
        return None;
    }
    if node.output_ids().count() != 1 {
        return None;
    }
    let (s, zp) = per_tensor_u8(g, node.inputs.get(1).copied().flatten()?, node.inputs.get(2).copied().flatten())?;
    Some(((q, node.outputs.first().copied().flatten()?, s, zp), shapes.into_iter().map(|(n, _)| n).collect()))
}

/// The Add that is the only reader of `v` (not a graph output) and adds an
/// f32 constant whose shape `shape_ok` accepts: `(node, its output, the
/// constant's values)`.
fn constant_add(
    g: &Graph,
    consumers: &HashMap<ValueId, Vec<(NodeId, usize)>>,
    v: ValueId,
    shape_ok: impl Fn(&[usize]) -> bool,
) -> Option<(NodeId, ValueId, Vec<f32>)> {
    let (add, slot) = sole_reader(g, consumers, v)?;
    let node = g.node(add)?;
    if !matches!(&node.op, Op::Binary(b) if b.kind == BinaryKind::Add) || slot > 1 || node.output_ids().count() != 1 {
        return None;
    }
    let Tensor::F32(b) = g.constant(node.inputs.get(1 - slot).copied().flatten()?)? else { return None };
    shape_ok(b.shape()).then_some(())?;
    Some((add, node.outputs.first().copied().flatten()?, b.iter().copied().collect()))
}

/// The Add that is the only reader of `v` (not a graph output) and adds a
/// constant f32 vector of `n` values to it, as exporters write a linear
/// layer's bias: `(node, its output, the values)`.
pub(crate) fn bias_add(
    g: &Graph,
    consumers: &HashMap<ValueId, Vec<(NodeId, usize)>>,
    v: ValueId,
    n: usize,
) -> Option<(NodeId, ValueId, Vec<f32>)> {
    // Only a vector: a higher-rank constant could widen the output's shape.
    constant_add(g, consumers, v, |s| s == [n])
}

/// The Add that is the only reader of `v`, an NCHW tensor of `channels`
/// channels (not a graph output), and adds an f32 constant of shape
/// `[1, channels, 1, 1]` or `[channels, 1, 1]` to it, as OpenVINO IR writes
/// a convolution's bias: `(node, its output, the bias per channel)`.
pub(crate) fn channel_bias_add(
    g: &Graph,
    consumers: &HashMap<ValueId, Vec<(NodeId, usize)>>,
    v: ValueId,
    channels: usize,
) -> Option<(NodeId, ValueId, Vec<f32>)> {
    // Only these shapes: any other could widen or reorder the output.
    constant_add(g, consumers, v, |s| s == [1, channels, 1, 1] || s == [channels, 1, 1])
}

/// The Add that is the only reader of `v` (not a graph output) and adds
/// another computed tensor to it, as a residual connection does: `(node,
/// its output, the other operand)`.
pub(crate) fn residual_add(
    g: &Graph,
    consumers: &HashMap<ValueId, Vec<(NodeId, usize)>>,
    v: ValueId,
) -> Option<(NodeId, ValueId, ValueId)> {
    let (add, slot) = sole_reader(g, consumers, v)?;
    let node = g.node(add)?;
    if !matches!(&node.op, Op::Binary(b) if b.kind == BinaryKind::Add) || slot > 1 || node.inputs.len() != 2 {
        return None;
    }
    let other = node.inputs.get(1 - slot).copied().flatten()?;
    (other != v && g.constant(other).is_none() && node.output_ids().count() == 1).then_some(())?;
    Some((add, node.outputs.first().copied().flatten()?, other))
}

/// The epilogue activation for a fused Relu flag.
pub(crate) fn relu_activation(relu: bool) -> Activation {
    if relu { Activation::Relu } else { Activation::Identity }
}

/// The Relu or exact GELU that is the only reader of `v` (not a graph
/// output): `(node, its output, the epilogue's activation)`.
pub(crate) fn sole_activation(
    g: &Graph,
    consumers: &HashMap<ValueId, Vec<(NodeId, usize)>>,
    v: ValueId,
) -> Option<(NodeId, ValueId, Activation)> {
    use ptq_ir::ops::unary::UnaryKind;
    let (r, 0) = sole_reader(g, consumers, v)? else { return None };
    let node = g.node(r)?;
    let act = match &node.op {
        Op::Unary(u) if u.kind == UnaryKind::Relu => Activation::Relu,
        Op::Unary(u) if u.kind == (UnaryKind::Gelu { tanh: false }) => Activation::Gelu,
        _ => return None,
    };
    Some((r, node.outputs.first().copied().flatten()?, act))
}

/// The HardSwish that is the only reader of `v` (not a graph output):
/// `(node, its output)`.
pub(crate) fn sole_hard_swish(
    g: &Graph,
    consumers: &HashMap<ValueId, Vec<(NodeId, usize)>>,
    v: ValueId,
) -> Option<(NodeId, ValueId)> {
    use ptq_ir::ops::unary::UnaryKind;
    let (r, 0) = sole_reader(g, consumers, v)? else { return None };
    let node = g.node(r)?;
    matches!(&node.op, Op::Unary(u) if u.kind == UnaryKind::HardSwish).then_some(())?;
    Some((r, node.outputs.first().copied().flatten()?))
}

/// The Div by (or Mul with) a finite, non-zero f32 scalar constant that is
/// the only reader of `v`: `(node, its output, the factor it multiplies by)`.
pub(crate) fn scalar_scaling(
    g: &Graph,
    consumers: &HashMap<ValueId, Vec<(NodeId, usize)>>,
    v: ValueId,
) -> Option<(NodeId, ValueId, f32)> {
    let (r, slot) = sole_reader(g, consumers, v)?;
    let node = g.node(r)?;
    let Op::Binary(b) = &node.op else { return None };
    let other = node.inputs.get(1 - slot.min(1)).copied().flatten()?;
    // A scalar of rank 0 or 1 cannot raise the output's rank.
    let c = g.constant(other).filter(|t| t.dtype() == DType::F32 && t.len() == 1 && t.shape().len() <= 1)?;
    let c = c.to_f64_vec()[0] as f32;
    let factor = match (b.kind, slot) {
        (BinaryKind::Mul, _) => c,
        (BinaryKind::Div, 0) => 1.0 / c,
        _ => return None,
    };
    (factor.is_finite() && factor != 0.0 && node.inputs.len() == 2).then_some(())?;
    Some((r, node.outputs.first().copied().flatten()?, factor))
}

/// Weights ready to pack.
pub(crate) struct Weights {
    /// Row-major `K × N`.
    pub(crate) b: Vec<i8>,
    pub(crate) k: usize,
    pub(crate) n: usize,
    /// One scale per column.
    pub(crate) scales: Vec<f32>,
}

/// Weight side: row-major `K × N` i8 weights and `N` scales, from a
/// DequantizeLinear of a constant i8 matrix (`[N, K]` when `transposed`) with
/// zero point 0 and one scale or one per output column.
pub(crate) fn weights(g: &Graph, dq: NodeId, transposed: bool) -> Option<Weights> {
    let (op, wq, s, z) = dq_parts(g, dq)?;
    let Tensor::I8(w) = g.constant(wq)? else { return None };
    let &[r, c] = w.shape() else { return None };
    let (k, n) = if transposed { (c, r) } else { (r, c) };
    let sw = weight_scales(g, op, s, z, (2, if transposed { 0 } else { 1 }), n)?;
    let b: Vec<i8> = if transposed { w.t().iter().copied().collect() } else { w.iter().copied().collect() };
    Some(Weights { b, k, n, scales: sw })
}

/// The `n` scales of a weight DequantizeLinear whose zero point (if any) is
/// all zeros: one scale repeated, or one per entry along `axis.1` of the
/// rank-`axis.0` weight (the op's axis, negative counting from the end).
pub(crate) fn weight_scales(
    g: &Graph,
    op: &DequantizeLinear,
    s: ValueId,
    z: Option<ValueId>,
    (rank, out_axis): (usize, usize),
    n: usize,
) -> Option<Vec<f32>> {
    if let Some(z) = z {
        match g.constant(z)? {
            Tensor::I8(a) if a.iter().all(|&v| v == 0) => {}
            _ => return None,
        }
    }
    let st = g.constant(s)?;
    let s = scales(st)?;
    if s.len() == 1 && st.shape().iter().all(|&d| d == 1) {
        return Some(vec![s[0]; n]);
    }
    let axis = op.axis.unwrap_or(1);
    let axis = if axis < 0 { axis + rank as i64 } else { axis };
    (axis == out_axis as i64 && st.shape() == [n]).then_some(s)
}

/// A Gemm bias as `N` f32 values: a constant f32, or a DequantizeLinear of
/// constants evaluated now (exactly as the f32 path would).
pub(crate) fn bias(
    g: &Graph,
    producers: &HashMap<ValueId, (NodeId, usize)>,
    c: ValueId,
    n: usize,
) -> Option<(Vec<f32>, Option<NodeId>)> {
    let (t, dq) = match g.constant(c) {
        Some(t) => (t.clone(), None),
        None => {
            let dq = dequantizer(g, producers, c)?;
            let node = g.node(dq)?;
            let Op::DequantizeLinear(op) = &node.op else { return None };
            let mut slots = vec![];
            for v in &node.inputs {
                slots.push(match v {
                    None => None,
                    Some(v) => Some(Slot { tensor: std::sync::Arc::new(g.constant(*v)?.clone()), reusable: false }),
                });
            }
            let mut ins = Inputs { slots, threads: ptq_kernels::Threads::Single, bodies: None };
            let t = crate::ops::dequantize::run(op, &mut ins, 1).ok()?.into_iter().next()??;
            (t, Some(dq))
        }
    };
    let Tensor::F32(a) = t else { return None };
    let row = a.broadcast(IxDyn(&[1, n]))?;
    Some((row.iter().copied().collect(), dq))
}
