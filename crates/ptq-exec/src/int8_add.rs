//! Integer execution of quantized additions (part of
//! [`ExecOptions::integer`](crate::ExecOptions::integer), matched in
//! [`crate::int8::rewrite`]).
//!
//! An Add of two u8 per-tensor DequantizeLinear outputs, optionally through
//! a Relu, whose result is read only by a per-tensor u8 QuantizeLinear (a
//! residual connection between quantized convolutions) reads the two u8
//! tensors and writes that QuantizeLinear's u8 output in one pass, with the
//! same float operations as the nodes it replaces.

use std::collections::HashMap;

use ndarray::ArrayD;
use ptq_ir::ops::binary::BinaryKind;
use ptq_ir::ops::unary::UnaryKind;
use ptq_ir::{Graph, NodeId, Op, Tensor, ValueId};
use ptq_kernels::int8::{Int8Kernels, QuantAdd, U8Quant};

use crate::inputs::Inputs;
use crate::int8::{activation, dequantizer, sole_quantizer};
use crate::ops::{Kernel, Out, one};
use crate::util::{array, contiguous, zip_inplace};

/// DequantizeLinear ×2 → Add (→ Relu) → QuantizeLinear on u8 tensors.
#[derive(Debug)]
pub struct IntAdd {
    pub params: QuantAdd,
    pub kernels: &'static Int8Kernels,
}

impl Kernel for IntAdd {
    fn run(&self, ins: &mut Inputs, _n: usize) -> Out {
        let (Tensor::U8(a), Tensor::U8(b)) = (ins.get(0)?, ins.get(1)?) else {
            return Err("integer path: a quantized addend is not u8".into());
        };
        if a.shape() == b.shape() {
            let (ad, bd) = (contiguous(a), contiguous(b));
            let mut out = vec![0u8; ad.len()];
            self.kernels.add_u8(&ad, &bd, &self.params, &mut out);
            return one(Tensor::U8(array(a.shape(), out)?));
        }
        // Broadcasting: the nodes' own steps, in f32.
        let QuantAdd { a: qa, b: qb, relu, out: qo } = self.params;
        let deq = |t: &ArrayD<u8>, q: U8Quant| t.mapv(|v| (i32::from(v) - i32::from(q.zero_point)) as f32 * q.scale);
        let sum = zip_inplace(deq(a, qa), &deq(b, qb), |x, y| x + y)?;
        let sum = if relu { sum.mapv(|x| x.max(0.0)) } else { sum };
        let flat = contiguous(&sum);
        let mut out = vec![0u8; flat.len()];
        self.kernels.quantize_u8(&flat, qo.scale, qo.zero_point, &mut out);
        one(Tensor::U8(array(sum.shape(), out)?))
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

/// Matches the Add node `id` (see the module documentation).
pub fn match_add(
    g: &Graph,
    producers: &HashMap<ValueId, (NodeId, usize)>,
    consumers: &HashMap<ValueId, Vec<(NodeId, usize)>>,
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
    if !g.outputs.contains(&sum)
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
    let kernel = IntAdd { params, kernels };
    Some(MatchedAdd { kernel, inputs: [xa, xb], output, folded, dqs: [adq, bdq] })
}
