//! Integer execution of quantized additions (part of
//! [`ExecOptions::integer`](crate::ExecOptions::integer), lowered by
//! [`lower`]).
//!
//! An Add of two u8 per-tensor DequantizeLinear outputs, optionally through
//! a Relu, whose result is read only by a per-tensor u8 QuantizeLinear (a
//! residual connection between quantized convolutions) reads the two u8
//! tensors and writes that QuantizeLinear's u8 output in one pass, with the
//! same float operations as the nodes it replaces.

use std::borrow::Cow;

use ndarray::ArrayD;
use ptq_ir::ops::binary::BinaryKind;
use ptq_ir::ops::unary::UnaryKind;
use ptq_ir::pattern::{Consumers, Producers};
use ptq_ir::{Graph, NodeId, Op, Patch, Tensor, ValueId, View};
use ptq_kernels::int8::{Int8Kernels, QuantAdd, U8Quant};

use crate::inputs::Inputs;
use crate::lower::layout::{to_channels_first, to_channels_last};
use crate::lower::{IntKernel, Lowered, activation, dequantizer, sole_quantizer};
use crate::ops::{Kernel, Out, one};
use crate::util::{array, contiguous, zip_inplace};

/// DequantizeLinear ×2 → Add (→ Relu) → QuantizeLinear on u8 tensors.
#[derive(Debug)]
pub struct IntAdd {
    pub params: QuantAdd,
    /// Which inputs are `[N, H, W, C]` (see [`crate::lower::layout`]).
    pub in_nhwc: [bool; 2],
    /// The output is written `[N, H, W, C]` (then an input is too).
    pub out_nhwc: bool,
    pub kernels: &'static Int8Kernels,
}

impl Kernel for IntAdd {
    fn run(&self, ins: &mut Inputs, _n: usize) -> Out {
        let (Tensor::U8(a), Tensor::U8(b)) = (ins.get(0)?, ins.get(1)?) else {
            return Err("integer path: a quantized addend is not u8".into());
        };
        // Add in the inputs' layout if they share one, else in the output's.
        let work = if self.in_nhwc[0] == self.in_nhwc[1] { self.in_nhwc[0] } else { self.out_nhwc };
        let (a, b) = (relayout(a, self.in_nhwc[0], work)?, relayout(b, self.in_nhwc[1], work)?);
        let (sum, layout) = if a.shape() == b.shape() {
            (self.add_same_shape(&a, &b)?, work)
        } else {
            // Broadcasting follows the NCHW shapes.
            let (a, b) = (relayout(&a, work, false)?, relayout(&b, work, false)?);
            (self.add_broadcast(&a, &b)?, false)
        };
        let out = if layout == self.out_nhwc { sum } else { relayout(&sum, layout, self.out_nhwc)?.into_owned() };
        one(Tensor::U8(out))
    }
}

/// `t`, channels-last if `from`, in the layout `to`.
pub(crate) fn relayout(t: &ArrayD<u8>, from: bool, to: bool) -> Result<Cow<'_, ArrayD<u8>>, String> {
    Ok(match (from, to) {
        (true, false) => Cow::Owned(to_channels_first(t)?),
        (false, true) => Cow::Owned(to_channels_last(t)?),
        _ => Cow::Borrowed(t),
    })
}

impl IntAdd {
    /// Elementwise, in one u8 pass.
    fn add_same_shape(&self, a: &ArrayD<u8>, b: &ArrayD<u8>) -> Result<ArrayD<u8>, String> {
        let (ad, bd) = (contiguous(a), contiguous(b));
        let mut out = vec![0u8; ad.len()];
        self.kernels.add_u8(&ad, &bd, &self.params, &mut out);
        array(a.shape(), out)
    }

    /// Broadcasting: the nodes' own steps, in f32.
    fn add_broadcast(&self, a: &ArrayD<u8>, b: &ArrayD<u8>) -> Result<ArrayD<u8>, String> {
        let QuantAdd { a: qa, b: qb, relu, out: qo } = self.params;
        let deq = |t: &ArrayD<u8>, q: U8Quant| t.mapv(|v| (i32::from(v) - i32::from(q.zero_point)) as f32 * q.scale);
        let sum = zip_inplace(deq(a, qa), &deq(b, qb), |x, y| x + y)?;
        let sum = if relu { sum.mapv(|x| x.max(0.0)) } else { sum };
        let flat = contiguous(&sum);
        let mut out = vec![0u8; flat.len()];
        self.kernels.quantize_u8(&flat, qo.scale, qo.zero_point, &mut out);
        array(sum.shape(), out)
    }
}

/// What [`match_add`] found.
pub struct MatchedAdd {
    pub kernel: IntAdd,
    /// The u8 tensors the Add reads instead of their dequantized forms.
    pub inputs: [ValueId; 2],
    /// The QuantizeLinear's output, which the Add now writes.
    pub output: ValueId,
    /// The Relu (if any) and QuantizeLinear nodes folded into the Add.
    pub folded: Vec<NodeId>,
    /// The DequantizeLinear nodes it bypasses.
    pub dqs: [NodeId; 2],
}

/// The integer step for the Add node `id` (see [`match_add`]): it reads the
/// two u8 inputs and writes the QuantizeLinear's output; the Relu and
/// QuantizeLinear it folds go.
pub(crate) fn lower(view: &View<'_>, id: NodeId, kernels: &'static Int8Kernels) -> Option<Lowered> {
    let m = match_add(view.graph, view.producers(), view.consumers(), id, kernels)?;
    let mut patch = Patch::removing(m.folded);
    patch.set_output(id, 0, m.output);
    patch.set_inputs(id, m.inputs.iter().map(|&v| Some(v.into())).collect());
    Some(Lowered { patch, kernel: IntKernel::Add(m.kernel), bypassed: m.dqs.to_vec() })
}

/// Matches the Add node `id` (see the module documentation).
pub fn match_add(
    g: &Graph,
    producers: &Producers,
    consumers: &Consumers,
    id: NodeId,
    kernels: &'static Int8Kernels,
) -> Option<MatchedAdd> {
    let node = g.node(id)?;
    let Op::Binary(op) = &node.op else { return None };
    if op.kind != BinaryKind::Add || node.output_ids().count() != 1 {
        return None;
    }
    let (Some(a), Some(b)) = (node.inputs.first().copied().flatten(), node.inputs.get(1).copied().flatten()) else {
        return None;
    };
    let (adq, bdq) = (dequantizer(g, producers, a)?, dequantizer(g, producers, b)?);
    let ((xa, za, sa), (xb, zb, sb)) = (activation(g, adq)?, activation(g, bdq)?);
    let sum = node.outputs.first().copied().flatten()?;
    let mut folded = vec![];
    let mut v = sum;
    if !g.outputs().contains(&sum)
        && let Some(&[(r, 0)]) = consumers.get(&sum).map(Vec::as_slice)
        && let Some(rn) = g.node(r)
        && matches!(&rn.op, Op::Unary(u) if u.kind == UnaryKind::Relu)
        && let Some(out) = rn.outputs.first().copied().flatten()
    {
        folded.push(r);
        v = out;
    }
    let (q, output, so, zo) = sole_quantizer(g, consumers, v)?;
    folded.push(q);
    let params = QuantAdd {
        a: U8Quant { scale: sa, zero_point: za },
        b: U8Quant { scale: sb, zero_point: zb },
        relu: v != sum,
        out: U8Quant { scale: so, zero_point: zo },
    };
    let kernel = IntAdd { params, in_nhwc: [false; 2], out_nhwc: false, kernels };
    Some(MatchedAdd { kernel, inputs: [xa, xb], output, folded, dqs: [adq, bdq] })
}
