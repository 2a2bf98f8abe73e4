//! [`IntMatMul`]: a MatMul or Gemm lowered to the u8×s8 GEMM with its
//! epilogue (lowered by [`lower`]).
//!
//! The activation is a per-tensor DequantizeLinear of u8, or of i8 with
//! zero point 0 (NNCF's symmetric form, read as u8 with zero point 128);
//! the weight is a DequantizeLinear of a constant i8 matrix with zero point
//! 0 and one scale or one per output column. The weights are packed once
//! at plan time (`ptq_kernels::int8::PackedB`). Each run is one call of
//! `Int8Kernels::linear_*`, which multiplies a block of rows and applies
//! the epilogue to it while it is in cache: `acc·(sx·sw[n]) + bias[n]`;
//! then a Relu (fused by `optimize`) or the Relu or exact GELU that reads
//! the bias Add; then, without an activation, a residual Add of another
//! f32 tensor (`linear_f32_add_extend`; an addend that broadcasts is added
//! after the product), or else a QuantizeLinear that is the output's only
//! reader besides Shape nodes (the step then writes u8). The bias is a
//! Gemm's C (a constant, or a DequantizeLinear of constants, evaluated at
//! plan time) or the constant-vector Add an exporter writes after a
//! MatMul. A Gemm with `transA`, an alpha other than 1 or a beta other
//! than 0 or 1 stays on the f32 path.

use ptq_ir::patch::PatchValue;
use ptq_ir::{NodeId, Op, Patch, Tensor, View};
use ptq_kernels::int8::{Activation, Dequant, Int8Kernels, PackedB, TierError};

use super::{
    ActBytes, IntKernel, Lowered, Weights, as_u8, bias, bias_add, dequantizer, quantized_activation,
    quantizer_beside_shapes, relu_activation, residual_add, sole_activation, weights,
};
use crate::error::ExecError;
use crate::inputs::Inputs;
use crate::ops::{Kernel, Out, one};
use crate::util::{array, contiguous};
use crate::work::Cost;

/// The integer step for the MatMul or Gemm `id` whose operands are
/// DequantizeLinear outputs: of two activations ([`super::act_matmul`]), or
/// of an activation and a constant i8 weight, taking over its epilogue (see
/// the module docs). An error only when the pattern matches and the int8
/// kernels are unavailable (`kernels`), which a caller asked for by name.
pub(crate) fn lower(
    view: &View<'_>,
    id: NodeId,
    relu: bool,
    kernels: &Result<&'static Int8Kernels, TierError>,
) -> Result<Option<Lowered>, ExecError> {
    let g = view.graph;
    let Some(node) = g.node(id) else { return Ok(None) };
    let (transposed, gemm) = match &node.op {
        Op::MatMul(_) => (false, None),
        Op::Gemm(o) if !o.trans_a && o.alpha == 1.0 => (o.trans_b, Some(o.clone())),
        _ => return Ok(None),
    };
    if node.output_ids().count() != 1 {
        return Ok(None);
    }
    let (Some(a), Some(b)) = (node.inputs.first().copied().flatten(), node.inputs.get(1).copied().flatten()) else {
        return Ok(None);
    };
    let producers = view.producers();
    let (Some(adq), Some(bdq)) = (dequantizer(g, producers, a), dequantizer(g, producers, b)) else {
        return Ok(None);
    };
    if gemm.is_none()
        && let Ok(k) = kernels
        && let Some(l) = super::act_matmul::lower(view, id, (adq, bdq), relu, k)
    {
        return Ok(Some(l));
    }
    // u8, or NNCF's symmetric i8 (read as u8 with zero point 128).
    let Some((xq, a_bytes, sa)) = quantized_activation(g, adq) else { return Ok(None) };
    let Some(Weights { b: w, k, n, scales: sw }) = weights(g, bdq, transposed) else { return Ok(None) };
    let mut bypassed = vec![adq, bdq];
    let mut bias_vals = None;
    if let (Some(gemm), Some(c)) = (&gemm, node.inputs.get(2).copied().flatten())
        && gemm.beta != 0.0
    {
        if gemm.beta != 1.0 {
            return Ok(None);
        }
        let Some((vals, cdq)) = bias(g, producers, c, n) else { return Ok(None) };
        bias_vals = Some(vals);
        bypassed.extend(cdq);
    }
    let kernels = kernels.as_ref().map_err(|e| ExecError::Node {
        node: g.node_label(id),
        op: node.op.name().to_string(),
        msg: format!("integer path: {e}"),
    })?;
    let consumers = view.consumers();
    let mut act = relu_activation(relu);
    let mut out = node.outputs.first().copied().flatten();
    // The nodes fused into the step go.
    let mut p = Patch::new();
    // The bias Add a linear layer's export puts after its MatMul runs in the
    // epilogue (not after a fused Relu: the Add comes first there), then a
    // Relu or GELU that is the Add's only reader, and a QuantizeLinear that
    // is then the only reader: the node takes over the last fused node's
    // output.
    if let Some(v) = out.filter(|_| act == Activation::Identity)
        && let Some((add, add_out, b)) = bias_add(g, consumers, v, n)
    {
        bias_vals = Some(match bias_vals {
            Some(c) => c.iter().zip(&b).map(|(c, b)| c + b).collect(),
            None => b,
        });
        p.remove_node(add);
        out = Some(add_out);
        if let Some((r, r_out, a)) = sole_activation(g, consumers, add_out) {
            act = a;
            p.remove_node(r);
            out = Some(r_out);
        }
    }
    // A residual Add of another f32 tensor (not after an activation).
    let mut residual = None;
    if act == Activation::Identity
        && let Some(v) = out
        && let Some((add, add_out, r)) = residual_add(g, consumers, v)
    {
        p.remove_node(add);
        out = Some(add_out);
        residual = Some(r);
    }
    let mut out_q = None;
    if let Some(v) = out.filter(|_| residual.is_none())
        && let Some(((q, q_out, scale, zp), shapes)) = quantizer_beside_shapes(g, consumers, v)
    {
        out_q = Some((scale, zp));
        p.remove_node(q);
        for s in shapes {
            p.set_input(s, 0, PatchValue::Existing(q_out));
        }
        out = Some(q_out);
    }
    if let Some(v) = out.filter(|&v| node.outputs.first().copied().flatten() != Some(v)) {
        p.set_output(id, 0, v);
    }
    p.set_inputs(id, [Some(xq)].into_iter().chain(residual.map(Some)).map(|v| v.map(PatchValue::Existing)).collect());
    let kernel = IntMatMul {
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
    };
    Ok(Some(Lowered { patch: p, kernel: IntKernel::Other(Box::new(kernel)), bypassed }))
}

/// A MatMul or Gemm run on the int8 kernels.
pub struct IntMatMul {
    /// Packed weights, `K × N`.
    pub(super) packed: PackedB,
    /// How the activation's bytes read, and its scale.
    pub(super) a: ActBytes,
    pub(super) sa: f32,
    /// Weight scale per output column.
    pub(super) sw: Vec<f32>,
    /// f32 bias per output column.
    pub(super) bias: Option<Vec<f32>>,
    /// A fused Relu or GELU.
    pub(super) act: Activation,
    /// A fused QuantizeLinear `(scale, zero point)`: the node then writes u8.
    pub(super) out_q: Option<(f32, u8)>,
    /// A fused residual Add: the step's second input is added to its f32
    /// output.
    pub(super) residual: bool,
    /// Gemm: the activation must be a matrix.
    pub(super) matrix_only: bool,
    pub(super) kernels: &'static Int8Kernels,
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
    fn cost(&self, ins: &Inputs) -> Option<Cost> {
        let x = ins.opt(0)?.len();
        let (k, n) = (self.packed.k().max(1), self.packed.n());
        Some(Cost { work: x.saturating_mul(n), output_elements: (x / k).saturating_mul(n) })
    }

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
        match ins.get(1)? {
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
