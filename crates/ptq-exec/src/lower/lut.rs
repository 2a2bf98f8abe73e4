//! Quantized elementwise activations as a 256-entry table (part of
//! [`ExecOptions::integer`](crate::ExecOptions::integer), lowered by
//! [`lower`]).
//!
//! `DequantizeLinear (u8, per tensor) → f(x) → QuantizeLinear (u8, per
//! tensor, or per channel along axis 1 with one zero point)`, with f any
//! elementwise Unary op (HardSwish, Sigmoid, Tanh, GELU...), maps each of
//! the 256 input bytes to one output byte (one table per channel for a
//! per-channel quantizer). So does the gated form `x · f(x)`, a Mul of the
//! dequantized value and the Unary's output (SiLU as exporters write it,
//! `x · sigmoid(x)`), when the two are all that read them. The table
//! is computed at plan time with the same dequantize, f32 op and quantize
//! code the float path runs, so the node gives exactly the bytes the three
//! nodes give, in one pass over u8 data. The table reads either layout (see
//! [`crate::lower::layout`]): it takes part there as an addition with one
//! input does.

use ptq_ir::ops::binary::BinaryKind;
use ptq_ir::ops::unary::{Unary, UnaryKind};
use ptq_ir::pattern::{Consumers, Producers};
use ptq_ir::{Graph, NodeId, Op, Patch, Tensor, ValueId, View};
use ptq_kernels::int8::Int8Kernels;

use crate::inputs::{Inputs, Slot};
use crate::lower::add::relayout;
use crate::lower::{IntKernel, Lowered, activation, dequantizer, sole_channel_quantizer, sole_quantizer};
use crate::ops::{Kernel, Out, one};
use crate::util::{array, contiguous, sole_reader};

/// A u8 → u8 table lookup.
pub struct IntLut {
    /// One table, or one per channel.
    pub tables: Vec<[u8; 256]>,
    /// The input is `[N, H, W, C]`.
    pub in_nhwc: bool,
    /// The output is written `[N, H, W, C]` (then the input is too).
    pub out_nhwc: bool,
}

impl std::fmt::Debug for IntLut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntLut").field("in_nhwc", &self.in_nhwc).field("out_nhwc", &self.out_nhwc).finish()
    }
}

impl Kernel for IntLut {
    fn run(&self, ins: &mut Inputs, _n: usize) -> Out {
        let Tensor::U8(x) = ins.get(0)? else {
            return Err("integer path: a table lookup's input is not u8".into());
        };
        let x = relayout(x, self.in_nhwc, self.out_nhwc)?;
        let xs = contiguous(&x);
        let y: Vec<u8> = match self.tables.as_slice() {
            [t] => xs.iter().map(|&v| t[usize::from(v)]).collect(),
            tables => {
                // Channels are the last axis channels-last, else axis 1.
                let c = tables.len();
                let axis = if self.out_nhwc { x.ndim().saturating_sub(1) } else { 1 };
                if x.shape().get(axis) != Some(&c) {
                    return Err(format!("integer path: {c} tables for a table lookup of shape {:?}", x.shape()));
                }
                let inner: usize = x.shape()[axis + 1..].iter().product::<usize>().max(1);
                let mut y = Vec::with_capacity(xs.len());
                if inner == 1 {
                    for pixel in xs.chunks(c) {
                        y.extend(pixel.iter().zip(tables).map(|(&v, t)| t[usize::from(v)]));
                    }
                } else {
                    for (k, run) in xs.chunks(inner).enumerate() {
                        let t = &tables[k % c];
                        y.extend(run.iter().map(|&v| t[usize::from(v)]));
                    }
                }
                y
            }
        };
        one(Tensor::U8(array(x.shape(), y)?))
    }
}

/// A match: the kernel, the u8 value it reads, the QuantizeLinear output it
/// writes, the DequantizeLinear and QuantizeLinear it replaces.
pub struct LutMatch {
    pub kernel: IntLut,
    pub input: ValueId,
    pub output: ValueId,
    pub dq: NodeId,
    pub q: NodeId,
    /// The Mul of the gated form `x · f(x)`, which goes too.
    pub gate: Option<NodeId>,
}

/// The table step for the Unary node `id` (see [`match_lut`]): it reads
/// the u8 input and writes the QuantizeLinear's output, which goes.
pub(crate) fn lower(view: &View<'_>, id: NodeId, kernels: &'static Int8Kernels) -> Option<Lowered> {
    let m = match_lut(view.graph, view.producers(), view.consumers(), id, kernels)?;
    let mut patch = Patch::removing(std::iter::once(m.q).chain(m.gate));
    patch.set_output(id, 0, m.output);
    patch.set_inputs(id, vec![Some(m.input.into())]);
    Some(Lowered { patch, kernel: IntKernel::Lut(m.kernel), bypassed: vec![m.dq] })
}

/// The table for the Unary node `id`, if it sits between a per-tensor u8
/// DequantizeLinear that only it reads and a per-tensor u8 QuantizeLinear
/// that is its only reader.
pub fn match_lut(
    g: &Graph,
    producers: &Producers,
    consumers: &Consumers,
    id: NodeId,
    kernels: &'static Int8Kernels,
) -> Option<LutMatch> {
    let node = g.node(id)?;
    let Op::Unary(op) = &node.op else { return None };
    if matches!(op.kind, UnaryKind::IsNaN | UnaryKind::Not) || node.output_ids().count() != 1 {
        return None;
    }
    let x = node.inputs.first().copied().flatten()?;
    let dq = dequantizer(g, producers, x)?;
    let y = node.outputs.first().copied().flatten()?;
    let gate = match sole_reader(g, consumers, x) {
        Some(_) => None,
        None => Some(gate_mul(g, consumers, id, x, y)?),
    };
    let (xq, za, sa) = activation(g, dq)?;
    let quantized = gate.and_then(|m| g.node(m)?.outputs.first().copied().flatten()).unwrap_or(y);
    let (q, output, scales, zo) = match sole_quantizer(g, consumers, quantized) {
        Some((q, output, so, zo)) => (q, output, vec![so], zo),
        None => sole_channel_quantizer(g, consumers, quantized, None)?,
    };
    let tables =
        scales.iter().map(|&so| table(op, gate.is_some(), (sa, za), (so, zo), kernels)).collect::<Option<Vec<_>>>()?;
    Some(LutMatch { kernel: IntLut { tables, in_nhwc: false, out_nhwc: false }, input: xq, output, dq, q, gate })
}

/// The Mul of `x · f(x)`: `x` is read by the Unary `unary` and that Mul
/// only, and the Unary's output `y` by the Mul only.
fn gate_mul(g: &Graph, consumers: &Consumers, unary: NodeId, x: ValueId, y: ValueId) -> Option<NodeId> {
    let (mul, _) = sole_reader(g, consumers, y)?;
    let readers = consumers.get(&x)?;
    if g.outputs().contains(&x) || readers.len() != 2 || !readers.iter().all(|&(r, _)| r == unary || r == mul) {
        return None;
    }
    let m = g.node(mul)?;
    let Op::Binary(b) = &m.op else { return None };
    let ins: Vec<ValueId> = m.inputs.iter().copied().flatten().collect();
    (b.kind == BinaryKind::Mul && (ins == [x, y] || ins == [y, x]) && m.output_ids().count() == 1).then_some(mul)
}

/// quantize(f(dequantize(b))), or with `gated` quantize(x · f(x)) for
/// x = dequantize(b), for every byte b, with the float path's code.
fn table(
    op: &Unary,
    gated: bool,
    (sa, za): (f32, u8),
    (so, zo): (f32, u8),
    kernels: &Int8Kernels,
) -> Option<[u8; 256]> {
    let bytes: Vec<u8> = (0..=255).collect();
    let mut x = vec![0f32; 256];
    kernels.dequantize_u8(&bytes, sa, za, &mut x);
    let slot = Slot { tensor: std::sync::Arc::new(Tensor::from_f32s(&x)), reusable: true };
    let mut ins = Inputs { slots: vec![Some(slot)], threads: ptq_kernels::Threads::Single, bodies: None };
    let y = crate::ops::unary::run(op, &mut ins, 1).ok()?.into_iter().next()??;
    let Tensor::F32(y) = y else { return None };
    // The Mul's f32 product: the same one multiplication, in either order.
    let y: Vec<f32> = if gated { y.iter().zip(&x).map(|(f, x)| x * f).collect() } else { y.iter().copied().collect() };
    let mut out = [0u8; 256];
    kernels.quantize_u8(&y, so, zo, &mut out);
    Some(out)
}
