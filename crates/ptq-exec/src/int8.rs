//! Integer execution of quantized MatMul and Gemm ([`ExecOptions::integer`](crate::ExecOptions::integer)).
//!
//! At plan time, a MatMul or Gemm whose activation is `DequantizeLinear(x_q:
//! u8, per-tensor sx, zx)` and whose weight is `DequantizeLinear(W_q: constant
//! i8 2-D, sw per tensor or per output channel, zero point 0)` is rewritten to
//! read `x_q` directly: B is packed once ([`PackedB`]), and each run is one
//! u8×s8→i32 GEMM followed by the dequantize epilogue
//! `acc·(sx·sw[n]) + bias[n]` (and the Relu that `optimize` fused, if any).
//! A Gemm's bias (a constant f32, or a DequantizeLinear of constants) is
//! folded to f32 at plan time. DequantizeLinear nodes left without readers
//! are removed, so their outputs are no longer seen by probes. Anything else
//! stays on the f32 path. Convolutions are matched in [`crate::int8_conv`],
//! residual additions in [`crate::int8_add`]; OpenVINO-style quantizers are
//! first put in Q/DQ form ([`crate::int8_canon`]) and the u8 tensors the
//! integer kernels exchange are then kept channels-last
//! ([`crate::int8_layout`]).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use ndarray::IxDyn;
use ptq_ir::ops::binary::BinaryKind;
use ptq_ir::ops::dequantize::DequantizeLinear;
use ptq_ir::{DType, Graph, NodeId, Op, Tensor, ValueId};
use ptq_kernels::int8::{Activation, Dequant, Int8Kernels, PackedB, int8_kernels};

use crate::error::ExecError;
use crate::inputs::{Inputs, Slot};
use crate::ops::{Kernel, Out, one};
use crate::util::{array, contiguous, sole_reader};

/// A MatMul or Gemm run on the int8 kernels.
pub struct IntMatMul {
    /// Packed weights, `K × N`.
    packed: PackedB,
    /// How the activation's bytes read, and its scale.
    a: ActBytes,
    sa: f32,
    /// Weight scale per output column.
    sw: Vec<f32>,
    /// f32 bias per output column.
    bias: Option<Vec<f32>>,
    /// A fused Relu or GELU.
    act: Activation,
    /// A fused QuantizeLinear `(scale, zero point)`: the node then writes u8.
    out_q: Option<(f32, u8)>,
    /// A fused residual Add: the node's third input is added to its f32
    /// output.
    residual: bool,
    /// Gemm: the activation must be a matrix.
    matrix_only: bool,
    kernels: &'static Int8Kernels,
}

impl std::fmt::Debug for IntMatMul {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntMatMul")
            .field("k", &self.packed.k())
            .field("n", &self.packed.n())
            .field("a", &self.a)
            .field("sa", &self.sa)
            .field("bias", &self.bias.is_some())
            .field("act", &self.act)
            .field("out_q", &self.out_q)
            .field("residual", &self.residual)
            .field("tier", &self.kernels.tier())
            .finish()
    }
}

impl Kernel for IntMatMul {
    fn run(&self, ins: &mut Inputs, _n: usize) -> Out {
        let (k, n) = (self.packed.k(), self.packed.n());
        let x = ins.get(0)?;
        let shape = x.shape();
        let (ad, za) = as_u8(x, self.a)?;
        let Some((&last, lead)) = shape.split_last() else {
            return Err("integer path: the activation is a scalar".into());
        };
        if last != k || (self.matrix_only && shape.len() != 2) {
            return Err(format!("integer path: activation of shape {shape:?} does not fit weights {k}x{n}"));
        }
        let m: usize = lead.iter().product();
        let d = Dequant { scale_a: self.sa, scale_b: &self.sw, bias: self.bias.as_deref(), act: self.act };
        let mut out_shape = lead.to_vec();
        out_shape.push(n);
        if let Some(q) = self.out_q {
            let mut y = Vec::new();
            self.kernels.linear_u8_extend(&ad, m, za, &self.packed, &d, q, &mut y, ins.threads);
            return one(Tensor::U8(array(&out_shape, y)?));
        }
        let mut y = Vec::new();
        if !self.residual {
            self.kernels.linear_f32_extend(&ad, m, za, &self.packed, &d, &mut y, ins.threads);
            return one(Tensor::F32(array(&out_shape, y)?));
        }
        match ins.get(2)? {
            Tensor::F32(r) if r.shape() == out_shape.as_slice() => {
                self.kernels.linear_f32_add_extend(&ad, m, za, &self.packed, &d, &contiguous(r), &mut y, ins.threads);
                one(Tensor::F32(array(&out_shape, y)?))
            }
            // An addend that broadcasts: the product, then the Add.
            Tensor::F32(r) => {
                self.kernels.linear_f32_extend(&ad, m, za, &self.packed, &d, &mut y, ins.threads);
                let (y, r) = (array(&out_shape, y)?, r.view());
                let shape = crate::util::broadcast_shape(y.shape(), r.shape())?;
                let sum = &y.broadcast(shape.clone()).ok_or("broadcast")? + &r.broadcast(shape).ok_or("broadcast")?;
                one(Tensor::F32(sum))
            }
            t => Err(format!("integer path: a {} residual where f32 was expected", t.dtype())),
        }
    }
}

/// A constant that a caller cannot override (not a graph input).
pub(crate) fn constant(g: &Graph, v: ValueId) -> Option<&Tensor> {
    if g.inputs.contains(&v) {
        return None;
    }
    g.values.get(v.0).and_then(|x| x.constant.as_deref())
}

/// The DequantizeLinear node producing `v`, if any.
pub(crate) fn dequantizer(g: &Graph, producers: &HashMap<ValueId, (NodeId, usize)>, v: ValueId) -> Option<NodeId> {
    let &(p, slot) = producers.get(&v)?;
    let node = g.node(p)?;
    (slot == 0 && matches!(node.op, Op::DequantizeLinear(_))).then_some(p)
}

/// The node's DequantizeLinear attributes and inputs `(x, scale, zero point)`.
pub(crate) fn dq_parts(g: &Graph, id: NodeId) -> Option<(&DequantizeLinear, ValueId, ValueId, Option<ValueId>)> {
    let node = g.node(id)?;
    let Op::DequantizeLinear(op) = &node.op else { return None };
    if op.block_size.is_some_and(|b| b != 0) {
        return None;
    }
    let x = node.inputs.first().copied().flatten()?;
    let s = node.inputs.get(1).copied().flatten()?;
    Some((op, x, s, node.inputs.get(2).copied().flatten()))
}

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
    let s = scales(constant(g, s)?)?;
    let za = match z.map(|z| constant(g, z)) {
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
    let s = scales(constant(g, s)?)?;
    let &[s] = s.as_slice() else { return None };
    let bytes = match z.map(|z| constant(g, z)) {
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
fn per_tensor_u8(g: &Graph, scale: ValueId, zero_point: Option<ValueId>) -> Option<(f32, u8)> {
    let s = scales(constant(g, scale)?)?;
    let &[s] = s.as_slice() else { return None };
    let zp = match zero_point {
        None => 0,
        Some(z) => match constant(g, z)? {
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
fn one_u8_zero_point(t: &Tensor, channels: usize) -> Option<u8> {
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
    if g.outputs.contains(&v) {
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
    let st = constant(g, node.inputs.get(1).copied().flatten()?)?;
    let s = scales(st)?;
    let channels = channels.unwrap_or(s.len());
    let zp = one_u8_zero_point(constant(g, node.inputs.get(2).copied().flatten()?)?, channels)?;
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
fn quantizer_beside_shapes(
    g: &Graph,
    consumers: &HashMap<ValueId, Vec<(NodeId, usize)>>,
    v: ValueId,
) -> Option<(Quantizer, Vec<NodeId>)> {
    if g.outputs.contains(&v) {
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

/// The Add that is the only reader of `v` (not a graph output) and adds a
/// constant f32 vector of `n` values to it, as exporters write a linear
/// layer's bias: `(node, its output, the values)`.
fn bias_add(
    g: &Graph,
    consumers: &HashMap<ValueId, Vec<(NodeId, usize)>>,
    v: ValueId,
    n: usize,
) -> Option<(NodeId, ValueId, Vec<f32>)> {
    let (add, slot) = sole_reader(g, consumers, v)?;
    let node = g.node(add)?;
    if !matches!(&node.op, Op::Binary(b) if b.kind == BinaryKind::Add) || slot > 1 || node.output_ids().count() != 1 {
        return None;
    }
    let Tensor::F32(b) = constant(g, node.inputs.get(1 - slot).copied().flatten()?)? else { return None };
    // Only a vector: a higher-rank constant could widen the output's shape.
    if b.shape() != [n] {
        return None;
    }
    Some((add, node.outputs.first().copied().flatten()?, b.iter().copied().collect()))
}

/// The Add that is the only reader of `v` (not a graph output) and adds
/// another computed tensor to it, as a residual connection does: `(node,
/// its output, the other operand)`.
fn residual_add(
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
    (other != v && constant(g, other).is_none() && node.output_ids().count() == 1).then_some(())?;
    Some((add, node.outputs.first().copied().flatten()?, other))
}

/// The epilogue activation for a fused Relu flag.
pub(crate) fn relu_activation(relu: bool) -> Activation {
    if relu { Activation::Relu } else { Activation::Identity }
}

/// The Relu or exact GELU that is the only reader of `v` (not a graph
/// output): `(node, its output, the epilogue's activation)`.
fn sole_activation(
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

/// The Div by (or Mul with) a finite, non-zero f32 scalar constant that is
/// the only reader of `v`: `(node, its output, the factor it multiplies by)`.
fn scalar_scaling(
    g: &Graph,
    consumers: &HashMap<ValueId, Vec<(NodeId, usize)>>,
    v: ValueId,
) -> Option<(NodeId, ValueId, f32)> {
    let (r, slot) = sole_reader(g, consumers, v)?;
    let node = g.node(r)?;
    let Op::Binary(b) = &node.op else { return None };
    let other = node.inputs.get(1 - slot.min(1)).copied().flatten()?;
    // A scalar of rank 0 or 1 cannot raise the output's rank.
    let c = constant(g, other).filter(|t| t.dtype() == DType::F32 && t.len() == 1 && t.shape().len() <= 1)?;
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
struct Weights {
    /// The i8 constant.
    value: ValueId,
    /// Row-major `K × N`.
    b: Vec<i8>,
    k: usize,
    n: usize,
    /// One scale per column.
    scales: Vec<f32>,
}

/// Weight side: row-major `K × N` i8 weights and `N` scales, from a
/// DequantizeLinear of a constant i8 matrix (`[N, K]` when `transposed`) with
/// zero point 0 and one scale or one per output column.
fn weights(g: &Graph, dq: NodeId, transposed: bool) -> Option<Weights> {
    let (op, wq, s, z) = dq_parts(g, dq)?;
    let Tensor::I8(w) = constant(g, wq)? else { return None };
    let &[r, c] = w.shape() else { return None };
    let (k, n) = if transposed { (c, r) } else { (r, c) };
    let sw = weight_scales(g, op, s, z, (2, if transposed { 0 } else { 1 }), n)?;
    let b: Vec<i8> = if transposed { w.t().iter().copied().collect() } else { w.iter().copied().collect() };
    Some(Weights { value: wq, b, k, n, scales: sw })
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
        match constant(g, z)? {
            Tensor::I8(a) if a.iter().all(|&v| v == 0) => {}
            _ => return None,
        }
    }
    let st = constant(g, s)?;
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
    let (t, dq) = match constant(g, c) {
        Some(t) => (t.clone(), None),
        None => {
            let dq = dequantizer(g, producers, c)?;
            let node = g.node(dq)?;
            let Op::DequantizeLinear(op) = &node.op else { return None };
            let mut slots = vec![];
            for v in &node.inputs {
                slots.push(match v {
                    None => None,
                    Some(v) => Some(Slot { tensor: std::sync::Arc::new(constant(g, *v)?.clone()), reusable: false }),
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

/// Rewrites every matching MatMul, Gemm, Conv and residual Add of `g` to
/// read its quantized inputs (after putting OpenVINO-style quantizers in
/// Q/DQ form) and returns their kernels. `relu_after` lists the nodes that
/// apply a fused Relu.
pub fn rewrite(g: &mut Graph, relu_after: &HashSet<NodeId>) -> Result<HashMap<NodeId, Box<dyn Kernel>>, ExecError> {
    crate::int8_canon::canonicalize(g);
    let producers = g.producers();
    let consumers = g.consumers();
    let mut found: HashMap<NodeId, Box<dyn Kernel>> = HashMap::new();
    let mut convs: HashMap<NodeId, crate::int8_conv::IntConv> = HashMap::new();
    let mut adds: HashMap<NodeId, crate::int8_add::IntAdd> = HashMap::new();
    let mut luts: HashMap<NodeId, crate::int8_lut::IntLut> = HashMap::new();
    let mut new_inputs: Vec<(NodeId, Vec<Option<ValueId>>)> = vec![];
    let mut dqs: Vec<NodeId> = vec![];
    let ids: Vec<NodeId> = g.iter_nodes().map(|(id, _)| id).collect();
    for id in ids {
        let Some(node) = g.node(id) else { continue };
        if matches!(node.op, Op::Conv(_)) {
            let Ok(kernels) = int8_kernels() else { continue };
            if let Some(mut m) = crate::int8_conv::match_conv(g, &producers, id, relu_after.contains(&id), kernels) {
                // A QuantizeLinear that is the output's only reader runs in
                // the convolution's epilogue: the node then writes its u8
                // output directly.
                let out = node.outputs.first().copied().flatten();
                let fused = out.and_then(|out| match sole_quantizer(g, &consumers, out) {
                    Some(q) => Some(q),
                    None => {
                        let (q, q_out, scales, zp) =
                            sole_channel_quantizer(g, &consumers, out, Some(m.kernel.sw.len()))?;
                        let first = scales[0];
                        m.kernel.out_q_cols = Some(scales);
                        Some((q, q_out, first, zp))
                    }
                });
                if let Some((q, q_out, scale, zp)) = fused {
                    m.kernel.out_q = Some((scale, zp));
                    if let Some(Some(conv)) = g.nodes.get_mut(id.0) {
                        conv.outputs[0] = Some(q_out);
                    }
                    g.nodes[q.0] = None;
                }
                convs.insert(id, m.kernel);
                new_inputs.push((id, vec![Some(m.xq), Some(m.wq)]));
                dqs.extend(m.dqs);
            }
            continue;
        }
        if matches!(node.op, Op::Unary(_)) {
            let Ok(kernels) = int8_kernels() else { continue };
            if let Some(m) = crate::int8_lut::match_lut(g, &producers, &consumers, id, kernels) {
                luts.insert(id, m.kernel);
                new_inputs.push((id, vec![Some(m.input)]));
                if let Some(Some(n)) = g.nodes.get_mut(id.0) {
                    n.outputs[0] = Some(m.output);
                }
                g.nodes[m.q.0] = None;
                dqs.push(m.dq);
            }
            continue;
        }
        if matches!(node.op, Op::Binary(_)) {
            let Ok(kernels) = int8_kernels() else { continue };
            if let Some(m) = crate::int8_add::match_add(g, &producers, &consumers, id, kernels) {
                adds.insert(id, m.kernel);
                new_inputs.push((id, vec![Some(m.inputs[0]), Some(m.inputs[1])]));
                if let Some(Some(add)) = g.nodes.get_mut(id.0) {
                    add.outputs[0] = Some(m.output);
                }
                for f in m.folded {
                    g.nodes[f.0] = None;
                }
                dqs.extend(m.dqs);
            }
            continue;
        }
        let (transposed, gemm) = match &node.op {
            Op::MatMul(_) => (false, None),
            Op::Gemm(o) if !o.trans_a && o.alpha == 1.0 => (o.trans_b, Some(o.clone())),
            _ => continue,
        };
        if node.output_ids().count() != 1 {
            continue;
        }
        let (Some(a), Some(b)) = (node.inputs.first().copied().flatten(), node.inputs.get(1).copied().flatten()) else {
            continue;
        };
        let Some(adq) = dequantizer(g, &producers, a) else { continue };
        let Some(bdq) = dequantizer(g, &producers, b) else { continue };
        if gemm.is_none()
            && let Ok(kernels) = int8_kernels()
            && let Some((k, xs)) =
                crate::int8_act_matmul::match_act_matmul(g, (adq, bdq), relu_after.contains(&id), kernels)
        {
            let (mut k, mut xs, mm_out) = (k, xs, node.outputs.first().copied().flatten());
            if let Some((t, input)) =
                crate::int8_act_matmul::transposed_operand(g, &producers, &consumers, (id, bdq, xs[1]))
            {
                g.nodes[t.0] = None;
                xs[1] = input;
                k.b_transposed = true;
            }
            // Attention divides the scores by √d right after Q·Kᵀ: the
            // factor joins the dequantize scale.
            let mut out = mm_out;
            if !k.relu
                && let Some(v) = mm_out
                && let Some((div, div_out, factor)) = scalar_scaling(g, &consumers, v)
            {
                k.sa *= factor;
                g.nodes[div.0] = None;
                out = Some(div_out);
            }
            // Then its mask Add and Softmax run on each matrix of scores.
            let mut inputs = xs.map(Some).to_vec();
            if !k.relu
                && let Some(v) = out
                && let Some(tail) = crate::int8_scores::match_scores_tail(g, &consumers, v)
            {
                for r in tail.removed {
                    g.nodes[r.0] = None;
                }
                k.softmax = true;
                k.masked = tail.mask.is_some();
                inputs.extend(tail.mask.map(Some));
                out = Some(tail.output);
            }
            if let Some(Some(mm)) = g.nodes.get_mut(id.0) {
                mm.outputs[0] = out;
            }
            found.insert(id, Box::new(k));
            new_inputs.push((id, inputs));
            dqs.extend([adq, bdq]);
            continue;
        }
        // u8, or NNCF's symmetric i8 (read as u8 with zero point 128).
        let Some((xq, a_bytes, sa)) = quantized_activation(g, adq) else { continue };
        let Some(Weights { value: wq, b: w, k, n, scales: sw }) = weights(g, bdq, transposed) else { continue };
        let mut bias_vals = None;
        if let (Some(gemm), Some(c)) = (&gemm, node.inputs.get(2).copied().flatten())
            && gemm.beta != 0.0
        {
            if gemm.beta != 1.0 {
                continue;
            }
            let Some((vals, cdq)) = bias(g, &producers, c, n) else { continue };
            bias_vals = Some(vals);
            dqs.extend(cdq);
        }
        let kernels = int8_kernels().map_err(|e| ExecError::Node {
            node: g.node_label(id),
            op: node.op.name().to_string(),
            msg: format!("integer path: {e}"),
        })?;
        let mut act = relu_activation(relu_after.contains(&id));
        let mut out = node.outputs.first().copied().flatten();
        // The bias Add a linear layer's export puts after its MatMul runs in
        // the epilogue (not after a fused Relu: the Add comes first there),
        // then a Relu or GELU that is the Add's only reader, and a
        // QuantizeLinear that is then the only reader: the node takes over
        // the last fused node's output.
        if let Some(v) = out.filter(|_| act == Activation::Identity)
            && let Some((add, add_out, b)) = bias_add(g, &consumers, v, n)
        {
            bias_vals = Some(match bias_vals {
                Some(c) => c.iter().zip(&b).map(|(c, b)| c + b).collect(),
                None => b,
            });
            g.nodes[add.0] = None;
            out = Some(add_out);
            if let Some((r, r_out, a)) = sole_activation(g, &consumers, add_out) {
                act = a;
                g.nodes[r.0] = None;
                out = Some(r_out);
            }
        }
        // A residual Add of another f32 tensor (not after an activation).
        let mut residual = None;
        if act == Activation::Identity
            && let Some(v) = out
            && let Some((add, add_out, r)) = residual_add(g, &consumers, v)
        {
            g.nodes[add.0] = None;
            out = Some(add_out);
            residual = Some(r);
        }
        let mut out_q = None;
        if let Some(v) = out.filter(|_| residual.is_none())
            && let Some(((q, q_out, scale, zp), shapes)) = quantizer_beside_shapes(g, &consumers, v)
        {
            out_q = Some((scale, zp));
            g.nodes[q.0] = None;
            for s in shapes {
                if let Some(Some(shape)) = g.nodes.get_mut(s.0) {
                    shape.inputs[0] = Some(q_out);
                }
            }
            out = Some(q_out);
        }
        if let (Some(v), Some(Some(mm))) = (out, g.nodes.get_mut(id.0)) {
            mm.outputs[0] = Some(v);
        }
        found.insert(
            id,
            Box::new(IntMatMul {
                packed: PackedB::new(&w, k, n),
                a: a_bytes,
                sa,
                sw,
                bias: bias_vals,
                act,
                out_q,
                residual: residual.is_some(),
                matrix_only: gemm.is_some(),
                kernels,
            }),
        );
        // The weights stay an input only so the work estimate sees N (or K).
        new_inputs.push((id, [Some(xq), Some(wq)].into_iter().chain(residual.map(Some)).collect()));
        dqs.extend([adq, bdq]);
    }
    for (id, inputs) in new_inputs {
        if let Some(Some(node)) = g.nodes.get_mut(id.0) {
            node.inputs = inputs;
        }
    }
    let consumers = g.consumers();
    for dq in dqs {
        let Some(out) = g.node(dq).and_then(|n| n.outputs.first().copied().flatten()) else { continue };
        if !consumers.contains_key(&out) && !g.outputs.contains(&out) {
            g.nodes[dq.0] = None;
        }
    }
    set_layouts(g, &mut convs, &mut adds, &mut luts);
    found.extend(convs.into_iter().map(|(id, k)| (id, Box::new(k) as Box<dyn Kernel>)));
    found.extend(adds.into_iter().map(|(id, k)| (id, Box::new(k) as Box<dyn Kernel>)));
    found.extend(luts.into_iter().map(|(id, k)| (id, Box::new(k) as Box<dyn Kernel>)));
    Ok(found)
}

/// Keeps the u8 tensors that only integer convolutions and additions
/// exchange channels-last ([`crate::int8_layout`]).
fn set_layouts(
    g: &Graph,
    convs: &mut HashMap<NodeId, crate::int8_conv::IntConv>,
    adds: &mut HashMap<NodeId, crate::int8_add::IntAdd>,
    luts: &mut HashMap<NodeId, crate::int8_lut::IntLut>,
) {
    use crate::int8_layout::{Kernels, channels_last, layouts};
    let conv_ids: HashSet<NodeId> = convs.keys().copied().collect();
    let quantized: HashSet<NodeId> = convs.iter().filter(|(_, k)| k.out_q.is_some()).map(|(id, _)| *id).collect();
    // A table lookup follows its input's layout as an addition does.
    let add_ids: HashSet<NodeId> = adds.keys().chain(luts.keys()).copied().collect();
    let set = channels_last(g, &Kernels { convs: &conv_ids, quantized_convs: &quantized, adds: &add_ids });
    for (id, (ins, out)) in layouts(g, &set, &conv_ids) {
        if let Some(k) = convs.get_mut(&id) {
            k.in_nhwc = ins.first().copied().unwrap_or(false);
            k.out_nhwc = out;
        }
    }
    for (id, (ins, out)) in layouts(g, &set, &add_ids) {
        if let Some(k) = adds.get_mut(&id) {
            k.in_nhwc = [0, 1].map(|i| ins.get(i).copied().unwrap_or(false));
            k.out_nhwc = out;
        }
        if let Some(k) = luts.get_mut(&id) {
            k.in_nhwc = ins.first().copied().unwrap_or(false);
            k.out_nhwc = out;
        }
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{ArrayD, IxDyn};
    use ptq_ir::ops::gemm::Gemm;
    use ptq_ir::ops::matmul::MatMul;
    use ptq_ir::ops::quantize::QuantizeLinear;
    use ptq_ir::ops::unary::{Unary, UnaryKind};
    use ptq_ir::{ConstSource, Graph, Node, Op, Tensor, Value, ValueId};

    use super::*;
    use crate::{ExecOptions, Plan, Probe};

    /// Deterministic values in `[lo, hi)`.
    fn values(len: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                lo + (hi - lo) * ((s >> 40) as f32 / (1u64 << 24) as f32)
            })
            .collect()
    }

    fn tensor<T>(shape: &[usize], v: Vec<T>) -> ArrayD<T> {
        ArrayD::from_shape_vec(IxDyn(shape), v).unwrap()
    }

    fn value(g: &mut Graph, name: &str) -> ValueId {
        g.add_value(Value { name: name.into(), ..Value::default() })
    }

    fn node(g: &mut Graph, name: &str, op: Op, inputs: Vec<Option<ValueId>>, out: &str) -> ValueId {
        let y = value(g, out);
        g.add_node(Node { name: name.into(), op, inputs, outputs: vec![Some(y)], doc: String::new(), meta: vec![] });
        y
    }

    fn konst(g: &mut Graph, name: &str, t: Tensor) -> Option<ValueId> {
        Some(g.add_constant(name, t, ConstSource::Stored))
    }

    /// x → QuantizeLinear(sx, zx) → DequantizeLinear → x_dq; returns (x, x_dq).
    fn quantized_input(g: &mut Graph, sx: f32, zx: u8) -> (ValueId, ValueId) {
        let x = value(g, "x");
        g.inputs.push(x);
        let s = konst(g, "sx", Tensor::scalar_f32(sx));
        let z = konst(g, "zx", Tensor::U8(tensor(&[], vec![zx])));
        let q = node(g, "q", Op::QuantizeLinear(QuantizeLinear::default()), vec![Some(x), s, z], "x_q");
        let s = konst(g, "sx2", Tensor::scalar_f32(sx));
        let z = konst(g, "zx2", Tensor::U8(tensor(&[], vec![zx])));
        let dq = node(g, "dq_x", Op::DequantizeLinear(DequantizeLinear::default()), vec![Some(q), s, z], "x_dq");
        (x, dq)
    }

    /// DequantizeLinear of a constant weight.
    fn dq_weight(g: &mut Graph, w: Tensor, scale: Tensor, zp: Option<Tensor>, axis: Option<i64>) -> ValueId {
        let w = konst(g, "w", w);
        let s = konst(g, "sw", scale);
        let z = zp.and_then(|z| konst(g, "zw", z));
        node(g, "dq_w", Op::DequantizeLinear(DequantizeLinear { axis, block_size: None }), vec![w, s, z], "w_dq")
    }

    fn i8s(shape: &[usize], seed: u64) -> Tensor {
        let v = values(shape.iter().product(), seed, -128.0, 128.0).iter().map(|v| v.floor() as i8).collect();
        Tensor::I8(tensor(shape, v))
    }

    fn run(g: &Graph, integer: bool, optimize: bool, x: &Tensor) -> (Vec<f32>, Vec<String>, Vec<String>) {
        let plan = Plan::new(g, &ExecOptions { threads: 1, optimize, integer, ..Default::default() }).unwrap();
        let mut seen = vec![];
        let names: Vec<String> = plan.graph().values.iter().map(|v| v.name.clone()).collect();
        let out = plan
            .run_with_probe(vec![("x".into(), x.clone())], &Probe::All, &mut |v, _| seen.push(names[v.0].clone()))
            .unwrap();
        let y = out[0].1.to_f64_vec().iter().map(|&v| v as f32).collect();
        (y, plan.integer_nodes().to_vec(), seen)
    }

    /// Integer and f32 results agree up to f32 summation rounding.
    fn assert_close(int: &[f32], float: &[f32]) {
        assert_eq!(int.len(), float.len());
        let max = float.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(max > 0.0);
        for (i, (a, b)) in int.iter().zip(float).enumerate() {
            assert!((a - b).abs() <= 1e-4 * max, "element {i}: integer {a}, f32 {b} (max {max})");
        }
    }

    #[test]
    fn batched_matmul_runs_in_integers_and_matches_f32() {
        let (k, n) = (37, 45);
        let mut g = Graph::default();
        let (_, xdq) = quantized_input(&mut g, 0.05, 120);
        let sw: Vec<f32> = values(n, 7, 0.001, 0.01);
        let wdq = dq_weight(
            &mut g,
            i8s(&[k, n], 3),
            Tensor::from_f32s(&sw),
            Some(Tensor::I8(tensor(&[n], vec![0; n]))),
            Some(1),
        );
        let y = node(&mut g, "mm", Op::MatMul(MatMul), vec![Some(xdq), Some(wdq)], "y");
        g.outputs.push(y);
        let x = Tensor::F32(tensor(&[2, 3, k], values(6 * k, 11, -6.0, 6.5)));
        let (yf, nf, seen_f) = run(&g, false, false, &x);
        let (yi, ni, seen_i) = run(&g, true, false, &x);
        assert!(nf.is_empty());
        assert_eq!(ni, vec!["mm".to_string()]);
        assert_close(&yi, &yf);
        assert!(seen_f.contains(&"x_dq".to_string()) && seen_f.contains(&"w_dq".to_string()));
        assert!(!seen_i.contains(&"x_dq".to_string()) && !seen_i.contains(&"w_dq".to_string()), "{seen_i:?}");
        assert!(seen_i.contains(&"x_q".to_string()) && seen_i.contains(&"y".to_string()));
    }

    /// Gemm with transB, an int32 bias dequantized at scale sx·sw, and a Relu
    /// that `optimize` fuses into it.
    fn gemm_graph(k: usize, n: usize, relu: bool, w_zp: i8) -> Graph {
        let (sx, swv) = (0.04f32, 0.003f32);
        let mut g = Graph::default();
        let (_, xdq) = quantized_input(&mut g, sx, 131);
        let wdq = dq_weight(
            &mut g,
            i8s(&[n, k], 5),
            Tensor::scalar_f32(swv),
            Some(Tensor::I8(tensor(&[], vec![w_zp]))),
            None,
        );
        let b: Vec<i32> = values(n, 9, -2000.0, 2000.0).iter().map(|&v| v as i32).collect();
        let bq = konst(&mut g, "b_q", Tensor::I32(tensor(&[n], b)));
        let bs = konst(&mut g, "b_s", Tensor::scalar_f32(sx * swv));
        let bdq = node(&mut g, "dq_b", Op::DequantizeLinear(DequantizeLinear::default()), vec![bq, bs], "b_dq");
        let gemm = Gemm { trans_b: true, ..Gemm::default() };
        let mut y = node(&mut g, "gemm", Op::Gemm(gemm), vec![Some(xdq), Some(wdq), Some(bdq)], "g");
        if relu {
            y = node(&mut g, "relu", Op::Unary(Unary { kind: UnaryKind::Relu }), vec![Some(y)], "y");
        }
        g.outputs.push(y);
        g
    }

    #[test]
    fn gemm_trans_b_with_int32_bias_and_fused_relu() {
        let (k, n) = (70, 33);
        let x = Tensor::F32(tensor(&[5, k], values(5 * k, 13, -5.0, 5.0)));
        for (relu, optimize) in [(false, false), (true, false), (true, true)] {
            let g = gemm_graph(k, n, relu, 0);
            let (yf, _, _) = run(&g, false, optimize, &x);
            let (yi, ni, seen) = run(&g, true, optimize, &x);
            assert_eq!(ni, vec!["gemm".to_string()], "relu {relu}, optimize {optimize}");
            assert_close(&yi, &yf);
            assert!(!seen.contains(&"b_dq".to_string()));
            if relu {
                assert!(yi.iter().all(|&v| v >= 0.0) && yi.contains(&0.0));
            }
        }
    }

    #[test]
    fn unsupported_weights_stay_in_f32() {
        let (k, n) = (8, 6);
        let x = Tensor::F32(tensor(&[5, k], values(5 * k, 1, -1.0, 1.0)));
        // Nonzero weight zero point.
        let g = gemm_graph(k, n, false, 3);
        let (yf, _, _) = run(&g, false, false, &x);
        let (yi, ni, _) = run(&g, true, false, &x);
        assert!(ni.is_empty());
        assert_eq!(yi, yf);
        // u8 weights, and per-row (axis 0) scales on a MatMul weight.
        for (w, axis, scales) in
            [(Tensor::U8(tensor(&[k, n], vec![3; k * n])), Some(1), n), (i8s(&[k, n], 2), Some(0), k)]
        {
            let mut g = Graph::default();
            let (_, xdq) = quantized_input(&mut g, 0.01, 128);
            let wdq = dq_weight(&mut g, w, Tensor::from_f32s(&vec![0.5; scales]), None, axis);
            let y = node(&mut g, "mm", Op::MatMul(MatMul), vec![Some(xdq), Some(wdq)], "y");
            g.outputs.push(y);
            let (yf, _, _) = run(&g, false, false, &x);
            let (yi, ni, _) = run(&g, true, false, &x);
            assert!(ni.is_empty());
            assert_eq!(yi, yf);
        }
    }

    /// `cargo test -p ptq-exec --release -- --ignored --nocapture int8_matmul_timing`
    #[test]
    #[ignore]
    fn int8_matmul_timing() {
        let (m, k, n) = (128, 768, 3072);
        let mut g = Graph::default();
        let (_, xdq) = quantized_input(&mut g, 0.05, 128);
        let sw = values(n, 7, 0.001, 0.01);
        let wdq = dq_weight(&mut g, i8s(&[k, n], 3), Tensor::from_f32s(&sw), None, Some(1));
        let y = node(&mut g, "mm", Op::MatMul(MatMul), vec![Some(xdq), Some(wdq)], "y");
        g.outputs.push(y);
        let x = Tensor::F32(tensor(&[m, k], values(m * k, 11, -6.0, 6.0)));
        for integer in [false, true] {
            let plan =
                Plan::new(&g, &ExecOptions { threads: 1, optimize: true, integer, ..Default::default() }).unwrap();
            let mut best = f64::INFINITY;
            for _ in 0..10 {
                let t = std::time::Instant::now();
                plan.run(vec![("x".into(), x.clone())]).unwrap();
                best = best.min(t.elapsed().as_secs_f64());
            }
            let (_, steps) = plan.run_profiled(vec![("x".into(), x.clone())]).unwrap();
            println!("integer {integer}: best {:.2} ms per run; steps {steps:?}", best * 1e3);
        }
    }

    #[test]
    fn quantized_convolutions_run_on_int8_kernels_and_match_fake_quant() {
        use ptq_ir::ops::conv::Conv;
        // C·KH·KW = 288, enough for the integer path; padding, strides,
        // dilations and per-channel or per-tensor weight scales.
        let (n, c, h, w, m) = (2, 32, 7, 6, 5);
        let cases = [
            (Conv { pads: Some(vec![1, 1, 1, 1]), ..Conv::default() }, true, true),
            (Conv { strides: Some(vec![2, 1]), pads: Some(vec![0, 2, 1, 0]), ..Conv::default() }, false, false),
            (Conv { dilations: Some(vec![2, 2]), pads: Some(vec![2, 2, 2, 2]), ..Conv::default() }, true, false),
        ];
        for (ci, (op, per_channel, with_bias)) in cases.into_iter().enumerate() {
            let mut g = Graph::default();
            let (_, xdq) = quantized_input(&mut g, 0.04, 120);
            let scale =
                if per_channel { Tensor::from_f32s(&values(m, 5, 0.001, 0.01)) } else { Tensor::scalar_f32(0.004) };
            let wdq = dq_weight(&mut g, i8s(&[m, c, 3, 3], 9), scale, None, per_channel.then_some(0));
            let b = with_bias.then(|| konst(&mut g, "b", Tensor::from_f32s(&values(m, 3, -1.0, 1.0)))).flatten();
            let y = node(&mut g, "conv", Op::Conv(op), vec![Some(xdq), Some(wdq), b], "y");
            g.outputs.push(y);
            let x = Tensor::F32(tensor(&[n, c, h, w], values(n * c * h * w, 13, -4.0, 6.0)));
            let (yf, _, _) = run(&g, false, true, &x);
            let plan = Plan::new(&g, &ExecOptions { threads: 1, optimize: true, integer: true, ..Default::default() })
                .unwrap();
            assert_eq!(plan.integer_nodes(), ["conv"], "case {ci}");
            let (yi, _, _) = run(&g, true, true, &x);
            assert_eq!(yi.len(), yf.len(), "case {ci}");
            let peak = yf.iter().fold(0f32, |a, v| a.max(v.abs()));
            for (a, b) in yi.iter().zip(&yf) {
                assert!((a - b).abs() <= 1e-5 * peak.max(1.0), "case {ci}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn depthwise_convolutions_run_on_int8_kernels_and_match_fake_quant() {
        use ptq_ir::ops::conv::Conv;
        let (n, c, h, w) = (2, 19, 7, 9);
        for (ci, (strides, pads)) in
            [(vec![1, 1], vec![1, 1, 1, 1]), (vec![2, 1], vec![0, 1, 2, 0])].into_iter().enumerate()
        {
            let mut g = Graph::default();
            let (_, xdq) = quantized_input(&mut g, 0.04, 120);
            let scale = Tensor::from_f32s(&values(c, 5, 0.001, 0.01));
            let wdq = dq_weight(&mut g, i8s(&[c, 1, 3, 3], 9), scale, None, Some(0));
            let b = konst(&mut g, "b", Tensor::from_f32s(&values(c, 3, -1.0, 1.0)));
            let op = Conv { group: c as i64, strides: Some(strides), pads: Some(pads), ..Conv::default() };
            let y = node(&mut g, "conv", Op::Conv(op), vec![Some(xdq), Some(wdq), b], "y");
            g.outputs.push(y);
            let x = Tensor::F32(tensor(&[n, c, h, w], values(n * c * h * w, 13, -4.0, 6.0)));
            let (yf, _, _) = run(&g, false, true, &x);
            let (yi, nodes, _) = run(&g, true, true, &x);
            assert_eq!(nodes, ["conv"], "case {ci}");
            assert_close(&yi, &yf);
        }
    }

    #[test]
    fn depthwise_convolutions_take_a_per_channel_input_scale_with_one_zero_point() {
        use ptq_ir::ops::conv::Conv;
        let (n, c, h, w) = (2, 11, 6, 7);
        for (zps, integer) in [(vec![128u8; c], true), ((0..c).map(|i| 120 + i as u8).collect::<Vec<_>>(), false)] {
            let mut g = Graph::default();
            let x = value(&mut g, "x");
            g.inputs.push(x);
            let per_axis = |g: &mut Graph, tag: &str| {
                let s = konst(g, &format!("s{tag}"), Tensor::from_f32s(&values(c, 7, 0.01, 0.08)));
                let z = konst(g, &format!("z{tag}"), Tensor::U8(tensor(&[c], zps.clone())));
                (s, z)
            };
            let (s, z) = per_axis(&mut g, "q");
            let q = QuantizeLinear { axis: Some(1), ..QuantizeLinear::default() };
            let xq = node(&mut g, "q", Op::QuantizeLinear(q), vec![Some(x), s, z], "x_q");
            let (s, z) = per_axis(&mut g, "dq");
            let dq = Op::DequantizeLinear(DequantizeLinear { axis: Some(1), block_size: None });
            let xdq = node(&mut g, "dq_x", dq, vec![Some(xq), s, z], "x_dq");
            let wdq =
                dq_weight(&mut g, i8s(&[c, 1, 3, 3], 5), Tensor::from_f32s(&values(c, 5, 0.001, 0.01)), None, Some(0));
            let b = konst(&mut g, "b", Tensor::from_f32s(&values(c, 3, -1.0, 1.0)));
            let op = Conv { group: c as i64, pads: Some(vec![1, 1, 1, 1]), ..Conv::default() };
            let y = node(&mut g, "conv", Op::Conv(op), vec![Some(xdq), Some(wdq), b], "y");
            g.outputs.push(y);
            let x = Tensor::F32(tensor(&[n, c, h, w], values(n * c * h * w, 13, -4.0, 6.0)));
            let (yf, _, _) = run(&g, false, true, &x);
            let (yi, nodes, _) = run(&g, true, true, &x);
            // Zero points that differ by channel would change the padding: float.
            assert_eq!(nodes.len(), usize::from(integer), "{nodes:?}");
            assert_close(&yi, &yf);
        }
    }

    #[test]
    fn a_sole_quantizer_after_an_integer_convolution_runs_in_its_epilogue() {
        use ptq_ir::ops::conv::Conv;
        use ptq_ir::ops::unary::{Unary, UnaryKind};
        let (n, c, h, w, m) = (2, 32, 6, 5, 7);
        let mut g = Graph::default();
        let (_, xdq) = quantized_input(&mut g, 0.04, 120);
        let wdq =
            dq_weight(&mut g, i8s(&[m, c, 3, 3], 4), Tensor::from_f32s(&values(m, 5, 0.001, 0.01)), None, Some(0));
        let b = konst(&mut g, "b", Tensor::from_f32s(&values(m, 3, -1.0, 1.0)));
        let op = Conv { pads: Some(vec![1, 1, 1, 1]), ..Conv::default() };
        let y = node(&mut g, "conv", Op::Conv(op), vec![Some(xdq), Some(wdq), b], "y");
        let r = node(&mut g, "relu", Op::Unary(Unary { kind: UnaryKind::Relu }), vec![Some(y)], "r");
        let (so, zo) = (0.05, 3);
        let s = konst(&mut g, "so", Tensor::scalar_f32(so));
        let z = konst(&mut g, "zo", Tensor::U8(tensor(&[], vec![zo])));
        let q = node(&mut g, "q_out", Op::QuantizeLinear(QuantizeLinear::default()), vec![Some(r), s, z], "r_q");
        let s = konst(&mut g, "so2", Tensor::scalar_f32(so));
        let z = konst(&mut g, "zo2", Tensor::U8(tensor(&[], vec![zo])));
        let out = node(&mut g, "dq_out", Op::DequantizeLinear(DequantizeLinear::default()), vec![Some(q), s, z], "out");
        g.outputs.push(out);
        let x = Tensor::F32(tensor(&[n, c, h, w], values(n * c * h * w, 13, -4.0, 6.0)));
        let (yf, _, _) = run(&g, false, true, &x);
        let (yi, nodes, seen) = run(&g, true, true, &x);
        assert_eq!(nodes, ["conv"]);
        // The u8 output comes from the convolution; its f32 output is gone.
        assert!(seen.contains(&"r_q".to_string()) && !seen.contains(&"r".to_string()), "{seen:?}");
        assert_eq!(yi.len(), yf.len());
        let mut moved = 0;
        for (a, b) in yi.iter().zip(&yf) {
            assert!((a - b).abs() <= so * 1.001, "{a} vs {b}");
            moved += usize::from(a != b);
        }
        assert!(moved * 100 <= yi.len(), "{moved} of {} outputs moved a step", yi.len());
    }

    #[test]
    fn quantized_residual_additions_run_in_one_u8_pass() {
        use ptq_ir::ops::binary::{Binary, BinaryKind};
        use ptq_ir::ops::unary::{Unary, UnaryKind};
        let (n, c, h, w) = (2, 3, 4, 5);
        // Same shapes, with and without Relu; then a [1, C, 1, 1] addend that broadcasts.
        for (relu, b_shape) in [(true, vec![n, c, h, w]), (false, vec![n, c, h, w]), (true, vec![1, c, 1, 1])] {
            let mut g = Graph::default();
            let (_, xdq) = quantized_input(&mut g, 0.04, 120);
            let len: usize = b_shape.iter().product();
            let bq =
                konst(&mut g, "bq", Tensor::U8(tensor(&b_shape, (0..len).map(|i| (i * 37 % 251) as u8).collect())));
            let s = konst(&mut g, "sb", Tensor::scalar_f32(0.03));
            let z = konst(&mut g, "zb", Tensor::U8(tensor(&[], vec![100])));
            let bdq = node(&mut g, "dq_b", Op::DequantizeLinear(DequantizeLinear::default()), vec![bq, s, z], "b_dq");
            let mut v =
                node(&mut g, "add", Op::Binary(Binary { kind: BinaryKind::Add }), vec![Some(xdq), Some(bdq)], "sum");
            if relu {
                v = node(&mut g, "relu", Op::Unary(Unary { kind: UnaryKind::Relu }), vec![Some(v)], "r");
            }
            let s = konst(&mut g, "so", Tensor::scalar_f32(0.05));
            let z = konst(&mut g, "zo", Tensor::U8(tensor(&[], vec![90])));
            let q = node(&mut g, "q_out", Op::QuantizeLinear(QuantizeLinear::default()), vec![Some(v), s, z], "s_q");
            let s = konst(&mut g, "so2", Tensor::scalar_f32(0.05));
            let z = konst(&mut g, "zo2", Tensor::U8(tensor(&[], vec![90])));
            let out =
                node(&mut g, "dq_out", Op::DequantizeLinear(DequantizeLinear::default()), vec![Some(q), s, z], "out");
            g.outputs.push(out);
            let x = Tensor::F32(tensor(&[n, c, h, w], values(n * c * h * w, 21, -5.0, 5.0)));
            let (yf, _, _) = run(&g, false, true, &x);
            let (yi, nodes, seen) = run(&g, true, true, &x);
            assert_eq!(nodes, ["add"], "relu {relu} {b_shape:?}");
            assert!(seen.contains(&"s_q".to_string()) && !seen.contains(&"sum".to_string()), "{seen:?}");
            // The same float operations in the same order: exactly equal.
            assert_eq!(yi, yf, "relu {relu} {b_shape:?}");
        }
    }

    /// QuantizeLinear then DequantizeLinear of `v` at (`s`, `z`); returns the
    /// u8 and the dequantized values.
    fn requantized(g: &mut Graph, v: ValueId, name: &str, s: f32, z: u8) -> (ValueId, ValueId) {
        let (s1, z1) = (
            konst(g, &format!("{name}_s"), Tensor::scalar_f32(s)),
            konst(g, &format!("{name}_z"), Tensor::U8(tensor(&[], vec![z]))),
        );
        let q = node(
            g,
            &format!("{name}_q"),
            Op::QuantizeLinear(QuantizeLinear::default()),
            vec![Some(v), s1, z1],
            &format!("{name}_u8"),
        );
        let (s2, z2) = (
            konst(g, &format!("{name}_s2"), Tensor::scalar_f32(s)),
            konst(g, &format!("{name}_z2"), Tensor::U8(tensor(&[], vec![z]))),
        );
        let dq = node(
            g,
            &format!("{name}_dq"),
            Op::DequantizeLinear(DequantizeLinear::default()),
            vec![Some(q), s2, z2],
            &format!("{name}_f"),
        );
        (q, dq)
    }

    /// A linear layer as exporters write it — MatMul → Add(bias) → Relu or
    /// GELU → QuantizeLinear, with a Shape reading the activation's output —
    /// whose result goes through Reshape and Transpose, each wrapped in a
    /// Q/DQ pair of the same parameters: the integer path runs the bias, the
    /// activation and the quantizer in the MatMul's epilogue, moves u8
    /// through the Reshape and the Transpose, and dequantizes once at the
    /// end. It agrees with the fake-quant path within one step. The tanh
    /// GELU has no epilogue: it and its quantizer stay separate nodes.
    #[test]
    fn a_linear_layer_fuses_bias_activation_and_quantizer_and_moves_u8_through_reshapes() {
        for (kind, fused) in
            [(UnaryKind::Relu, true), (UnaryKind::Gelu { tanh: false }, true), (UnaryKind::Gelu { tanh: true }, false)]
        {
            linear_layer_with(kind, fused);
        }
    }

    fn linear_layer_with(kind: UnaryKind, fused: bool) {
        use ptq_ir::ops::binary::Binary;
        use ptq_ir::ops::reshape::Reshape;
        use ptq_ir::ops::shape_of::ShapeOf;
        use ptq_ir::ops::transpose::Transpose;
        let (k, n) = (40, 24);
        let mut g = Graph::default();
        let (_, xdq) = quantized_input(&mut g, 0.05, 120);
        let sw: Vec<f32> = values(n, 7, 0.001, 0.01);
        let wdq = dq_weight(&mut g, i8s(&[k, n], 3), Tensor::from_f32s(&sw), None, Some(1));
        let mm = node(&mut g, "mm", Op::MatMul(MatMul), vec![Some(xdq), Some(wdq)], "mm_out");
        let b = konst(&mut g, "b", Tensor::from_f32s(&values(n, 5, -0.5, 0.5)));
        let lin = node(&mut g, "bias", Op::Binary(Binary { kind: BinaryKind::Add }), vec![b, Some(mm)], "lin");
        let act = node(&mut g, "act", Op::Unary(Unary { kind }), vec![Some(lin)], "act");
        let shape = node(&mut g, "shape", Op::ShapeOf(ShapeOf::default()), vec![Some(act)], "shape");
        let step = 0.02;
        let (_, a) = requantized(&mut g, act, "a", step, 3);
        let to = konst(&mut g, "to", Tensor::I64(tensor(&[4], vec![2, 3, 4, 6])));
        let r = node(&mut g, "reshape", Op::Reshape(Reshape::default()), vec![Some(a), to], "r");
        let (_, r) = requantized(&mut g, r, "b", step, 3);
        let t =
            node(&mut g, "transpose", Op::Transpose(Transpose { perm: Some(vec![0, 2, 1, 3]) }), vec![Some(r)], "t");
        let (_, y) = requantized(&mut g, t, "c", step, 3);
        g.outputs.extend([y, shape]);
        let x = Tensor::F32(tensor(&[2, 3, k], values(6 * k, 11, -6.0, 6.5)));
        let (yf, _, _) = run(&g, false, false, &x);
        let (yi, ni, seen) = run(&g, true, false, &x);
        assert_eq!(ni, vec!["mm".to_string()]);
        assert_eq!(yi.len(), yf.len());
        let worst = yi.iter().zip(&yf).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst <= step * 1.0001, "{kind:?}: worst difference {worst} exceeds one step {step}");
        assert!(yf.iter().any(|&v| v > 0.0) && yf.contains(&0.0), "the activation should clip some values");
        let epilogue = ["lin", "act"];
        for gone in ["mm_out", "a_f", "r", "b_u8", "b_f", "t", "c_u8"].iter().chain(epilogue.iter().filter(|_| fused)) {
            assert!(!seen.contains(&gone.to_string()), "{kind:?}: {gone} is still computed: {seen:?}");
        }
        for kept in ["a_u8", "shape", "c_f"].iter().chain(epilogue.iter().filter(|_| !fused)) {
            assert!(seen.contains(&kept.to_string()), "{kind:?}: {kept} is not computed: {seen:?}");
        }
        let plan =
            Plan::new(&g, &ExecOptions { threads: 1, optimize: false, integer: true, ..Default::default() }).unwrap();
        let out = plan.run(vec![("x".into(), x)]).unwrap();
        assert_eq!(out[1].1.to_f64_vec(), vec![2.0, 3.0, 24.0]);
    }

    /// A residual connection after a linear layer — MatMul → Add(bias) →
    /// Add(another tensor) — runs in the MatMul's epilogue, with an addend
    /// of the output's shape and with one that broadcasts, and agrees with
    /// the fake-quant path up to f32 summation rounding.
    #[test]
    fn a_residual_add_after_a_linear_layer_runs_in_the_epilogue() {
        use ptq_ir::ops::binary::Binary;
        let (k, n) = (40, 24);
        for r_shape in [vec![2, 3, n], vec![n]] {
            let mut g = Graph::default();
            let (_, xdq) = quantized_input(&mut g, 0.05, 120);
            let r = g.add_value(Value { name: "r".into(), ..Value::default() });
            g.inputs.push(r);
            let sw: Vec<f32> = values(n, 7, 0.001, 0.01);
            let wdq = dq_weight(&mut g, i8s(&[k, n], 3), Tensor::from_f32s(&sw), None, Some(1));
            let mm = node(&mut g, "mm", Op::MatMul(MatMul), vec![Some(xdq), Some(wdq)], "mm_out");
            let b = konst(&mut g, "b", Tensor::from_f32s(&values(n, 5, -0.5, 0.5)));
            let lin = node(&mut g, "bias", Op::Binary(Binary { kind: BinaryKind::Add }), vec![Some(mm), b], "lin");
            let y = node(&mut g, "res", Op::Binary(Binary { kind: BinaryKind::Add }), vec![Some(r), Some(lin)], "y");
            g.outputs.push(y);
            let x = Tensor::F32(tensor(&[2, 3, k], values(6 * k, 11, -6.0, 6.5)));
            let rv = Tensor::F32(tensor(&r_shape, values(r_shape.iter().product(), 3, -2.0, 2.0)));
            let plan = |integer: bool| {
                Plan::new(&g, &ExecOptions { threads: 1, optimize: false, integer, ..Default::default() }).unwrap()
            };
            let (float, int) = (plan(false), plan(true));
            let inputs = vec![("x".to_string(), x.clone()), ("r".to_string(), rv.clone())];
            let (yf, yi) = (float.run(inputs.clone()).unwrap(), int.run(inputs).unwrap());
            assert_eq!(int.integer_nodes(), ["mm".to_string()]);
            assert_eq!(int.graph().iter_nodes().count(), 2, "the quantizer and the MatMul only");
            assert_eq!(yi[0].1.shape(), [2, 3, n]);
            let (yf, yi) = (yf[0].1.to_f64_vec(), yi[0].1.to_f64_vec());
            let max = yf.iter().fold(0f64, |m, v| m.max(v.abs()));
            for (a, b) in yi.iter().zip(&yf) {
                assert!((a - b).abs() <= 1e-5 * max, "{r_shape:?}: integer {a}, f32 {b}");
            }
        }
    }

    /// A QuantizeLinear after a Transpose of floats (attention's context
    /// before its output projection) moves before it on the integer path:
    /// the Transpose then moves bytes, the outputs are the same bits, and a
    /// Shape of the transposed tensor still gives its shape.
    #[test]
    fn a_quantizer_after_a_transpose_moves_before_it() {
        use ptq_ir::ops::shape_of::ShapeOf;
        use ptq_ir::ops::transpose::Transpose;
        let mut g = Graph::default();
        let x = g.add_value(Value { name: "x".into(), ..Value::default() });
        g.inputs.push(x);
        let t = node(&mut g, "transpose", Op::Transpose(Transpose { perm: Some(vec![0, 2, 1]) }), vec![Some(x)], "t");
        let shape = node(&mut g, "shape", Op::ShapeOf(ShapeOf::default()), vec![Some(t)], "shape");
        let (q, y) = requantized(&mut g, t, "o", 0.03, 7);
        g.outputs.extend([q, y, shape]);
        let x = Tensor::F32(tensor(&[2, 3, 5], values(30, 5, -3.0, 3.0)));
        let plan = |integer: bool| {
            Plan::new(&g, &ExecOptions { threads: 1, optimize: false, integer, ..Default::default() }).unwrap()
        };
        let (float, int) = (plan(false), plan(true));
        let (yf, yi) = (float.run(vec![("x".into(), x.clone())]).unwrap(), int.run(vec![("x".into(), x)]).unwrap());
        for (f, i) in yf.iter().zip(&yi) {
            assert_eq!((f.1.dtype(), f.1.shape()), (i.1.dtype(), i.1.shape()), "{}", f.0);
            assert_eq!(f.1.to_f64_vec(), i.1.to_f64_vec(), "{}", f.0);
        }
        assert_eq!(yi[2].1.to_f64_vec(), vec![2.0, 5.0, 3.0]);
        let ig = int.graph();
        let producers = ig.producers();
        let (_, tn) = ig.iter_nodes().find(|(_, n)| matches!(n.op, Op::Transpose(_))).unwrap();
        let (qn, _) = producers[&tn.inputs[0].unwrap()];
        assert!(matches!(ig.node(qn).unwrap().op, Op::QuantizeLinear(_)), "the Transpose reads the quantizer");
    }

    /// DequantizeLinear → HardSwish → QuantizeLinear on u8 runs as one
    /// table lookup that gives exactly the float path's bytes.
    #[test]
    fn a_quantized_activation_runs_as_a_table_with_the_float_paths_bytes() {
        let mut g = Graph::default();
        let (_, xdq) = quantized_input(&mut g, 0.05, 120);
        let h = node(&mut g, "hswish", Op::Unary(Unary { kind: UnaryKind::HardSwish }), vec![Some(xdq)], "h");
        let (q, y) = requantized(&mut g, h, "o", 0.03, 10);
        g.outputs.extend([q, y]);
        let x = Tensor::F32(tensor(&[2, 3, 7], values(42, 5, -7.0, 7.0)));
        let plan = |integer: bool| {
            Plan::new(&g, &ExecOptions { threads: 1, optimize: false, integer, ..Default::default() }).unwrap()
        };
        let (float, int) = (plan(false), plan(true));
        assert_eq!(int.integer_nodes(), ["hswish".to_string()]);
        let (yf, yi) =
            (float.run(vec![("x".into(), x.clone())]).unwrap(), int.run(vec![("x".into(), x.clone())]).unwrap());
        assert_eq!(yf[0].1.to_i64_vec(), yi[0].1.to_i64_vec(), "u8 bytes");
        assert_eq!(yf[1].1.to_f64_vec(), yi[1].1.to_f64_vec());
        let (_, _, seen) = run(&g, true, false, &x);
        assert!(!seen.contains(&"x_dq".to_string()) && !seen.contains(&"h".to_string()), "{seen:?}");
    }

    /// Per-channel (axis 1) u8 Q/DQ pair on `v` with one zero point.
    fn channel_requantized(g: &mut Graph, v: ValueId, name: &str, scales: &[f32], z: u8) -> ValueId {
        let c = scales.len();
        let params = |g: &mut Graph, tag: &str| {
            let s = konst(g, &format!("{name}_s{tag}"), Tensor::from_f32s(scales));
            let zt = konst(g, &format!("{name}_z{tag}"), Tensor::U8(tensor(&[c], vec![z; c])));
            (s, zt)
        };
        let (s, zt) = params(g, "q");
        let q = QuantizeLinear { axis: Some(1), ..QuantizeLinear::default() };
        let xq = node(g, &format!("{name}_q"), Op::QuantizeLinear(q), vec![Some(v), s, zt], &format!("{name}_u8"));
        let (s, zt) = params(g, "dq");
        let dq = Op::DequantizeLinear(DequantizeLinear { axis: Some(1), block_size: None });
        node(g, &format!("{name}_dq"), dq, vec![Some(xq), s, zt], &format!("{name}_f32"))
    }

    /// MobileNetV3's order: conv → per-channel Q/DQ → depthwise, and
    /// HardSwish → per-channel Q/DQ → depthwise. The convolution quantizes
    /// per channel in its epilogue, the HardSwish is one table per channel,
    /// and every node runs on the integer path, within a step of the
    /// fake-quant path.
    #[test]
    fn per_channel_quantizers_after_convolutions_and_tables_stay_on_the_integer_path() {
        use ptq_ir::ops::conv::Conv;
        let (n, c, h, w) = (2, 24, 6, 5);
        let mut g = Graph::default();
        let (_, xdq) = quantized_input(&mut g, 0.04, 120);
        let weight = |g: &mut Graph, tag: &str, shape: &[usize], seed: u64| {
            let wq = konst(g, &format!("w_{tag}"), i8s(shape, seed));
            let sw = konst(g, &format!("sw_{tag}"), Tensor::from_f32s(&values(c, 5, 0.001, 0.01)));
            let dq = Op::DequantizeLinear(DequantizeLinear { axis: Some(0), block_size: None });
            node(g, &format!("dq_w_{tag}"), dq, vec![wq, sw], &format!("w_dq_{tag}"))
        };
        let wdq = weight(&mut g, "pw", &[c, c, 1, 1], 3);
        let y1 = node(&mut g, "pw", Op::Conv(Conv::default()), vec![Some(xdq), Some(wdq), None], "y1");
        let s1 = values(c, 7, 0.01, 0.05);
        let d1 = channel_requantized(&mut g, y1, "a", &s1, 128);
        let dw = |g: &mut Graph, x: ValueId, tag: &str| {
            let wdq = weight(g, tag, &[c, 1, 3, 3], 9);
            let op = Conv { group: c as i64, pads: Some(vec![1, 1, 1, 1]), ..Conv::default() };
            node(g, tag, Op::Conv(op), vec![Some(x), Some(wdq), None], &format!("{tag}_out"))
        };
        let y2 = dw(&mut g, d1, "dw1");
        let (_, y2dq) = requantized(&mut g, y2, "b", 0.02, 128);
        let hs = node(&mut g, "hswish", Op::Unary(Unary { kind: UnaryKind::HardSwish }), vec![Some(y2dq)], "hs");
        let d3 = channel_requantized(&mut g, hs, "c", &values(c, 3, 0.005, 0.03), 0);
        let y4 = dw(&mut g, d3, "dw2");
        g.outputs.push(y4);
        let x = Tensor::F32(tensor(&[n, c, h, w], values(n * c * h * w, 13, -4.0, 6.0)));
        let (yf, _, _) = run(&g, false, true, &x);
        let (yi, nodes, _) = run(&g, true, true, &x);
        let mut nodes = nodes;
        nodes.sort();
        assert_eq!(nodes, ["dw1", "dw2", "hswish", "pw"]);
        // A byte one step off in the epilogue moves a depthwise output by
        // at most 9 taps · 127 · its weight scale · the channel's step.
        let bound = 9.0 * 127.0 * 0.01 * 0.05 * 1.01 + 1e-4;
        for (a, b) in yi.iter().zip(&yf) {
            assert!((a - b).abs() <= bound, "{a} vs {b}");
        }
    }

    /// Two residual blocks (conv → Relu → Q/DQ → conv → Q/DQ → Add with the
    /// block input → Relu → Q/DQ): the u8 tensors the integer kernels pass
    /// to each other stay channels-last, the others (the first block's
    /// input, the second block's output) NCHW, and the result equals the
    /// fake-quant path's within one step.
    #[test]
    fn integer_kernels_exchange_channels_last_tensors() {
        use ptq_ir::ops::binary::{Binary, BinaryKind};
        use ptq_ir::ops::conv::Conv;
        let (n, c, h, w) = (2, 32, 5, 6);
        let mut g = Graph::default();
        let (_, mut xdq) = quantized_input(&mut g, 0.04, 120);
        for b in 0..2 {
            let mut v = xdq;
            for (i, relu) in [(0, true), (1, false)] {
                let scale = Tensor::from_f32s(&values(c, 5 + i, 0.0005, 0.002));
                let wq = konst(&mut g, &format!("w{b}{i}"), i8s(&[c, c, 3, 3], 4 + 10 * b + i));
                let sw = konst(&mut g, &format!("sw{b}{i}"), scale);
                let dq = Op::DequantizeLinear(DequantizeLinear { axis: Some(0), block_size: None });
                let wdq = node(&mut g, &format!("dq_w{b}{i}"), dq, vec![wq, sw], &format!("w_dq{b}{i}"));
                let bias = konst(&mut g, &format!("bias{b}{i}"), Tensor::from_f32s(&values(c, 3 + i, -0.5, 0.5)));
                let op = Conv { pads: Some(vec![1, 1, 1, 1]), ..Conv::default() };
                v = node(
                    &mut g,
                    &format!("conv{b}{i}"),
                    Op::Conv(op),
                    vec![Some(v), Some(wdq), bias],
                    &format!("y{b}{i}"),
                );
                if relu {
                    v = node(
                        &mut g,
                        &format!("relu{b}{i}"),
                        Op::Unary(Unary { kind: UnaryKind::Relu }),
                        vec![Some(v)],
                        &format!("r{b}{i}"),
                    );
                }
                v = requantized(&mut g, v, &format!("c{b}{i}"), 0.03, if relu { 0 } else { 128 }).1;
            }
            let sum = node(
                &mut g,
                &format!("add{b}"),
                Op::Binary(Binary { kind: BinaryKind::Add }),
                vec![Some(v), Some(xdq)],
                &format!("sum{b}"),
            );
            let r = node(
                &mut g,
                &format!("relu_add{b}"),
                Op::Unary(Unary { kind: UnaryKind::Relu }),
                vec![Some(sum)],
                &format!("ra{b}"),
            );
            xdq = requantized(&mut g, r, &format!("a{b}"), 0.05, 0).1;
        }
        g.outputs.push(xdq);
        let x = Tensor::F32(tensor(&[n, c, h, w], values(n * c * h * w, 17, -4.0, 6.0)));
        let (yf, _, _) = run(&g, false, true, &x);
        let plan =
            Plan::new(&g, &ExecOptions { threads: 1, optimize: true, integer: true, ..Default::default() }).unwrap();
        assert_eq!(plan.integer_nodes().len(), 6, "{:?}", plan.integer_nodes());
        let names: Vec<String> = plan.graph().values.iter().map(|v| v.name.clone()).collect();
        let mut shapes = HashMap::new();
        let out = plan
            .run_with_probe(vec![("x".into(), x.clone())], &Probe::All, &mut |v, t| {
                shapes.insert(names[v.0].clone(), t.shape().to_vec());
            })
            .unwrap();
        let (nchw, nhwc) = (vec![n, c, h, w], vec![n, h, w, c]);
        // Written and read by integer kernels only: channels-last.
        for v in ["c00_u8", "c01_u8", "a0_u8", "c10_u8", "c11_u8"] {
            assert_eq!(shapes[v], nhwc, "{v}");
        }
        // The first block's input and the second block's output are NCHW.
        assert_eq!(shapes["x_q"], nchw);
        assert_eq!(shapes["a1_u8"], nchw);
        let yi: Vec<f32> = out[0].1.to_f64_vec().iter().map(|&v| v as f32).collect();
        assert_eq!(yi.len(), yf.len());
        let mut moved = 0;
        for (a, b) in yi.iter().zip(&yf) {
            assert!((a - b).abs() <= 0.05 * 1.001, "{a} vs {b}");
            moved += usize::from(a != b);
        }
        assert!(moved * 100 <= yi.len(), "{moved} of {} outputs moved a step", yi.len());
        assert!(yf.iter().filter(|&&v| v > 0.0).count() * 4 > yf.len(), "the output is mostly zero");
    }
}
