//! Lowering: the graph a [`crate::Plan`] holds becomes the steps it runs
//! ([`program`]), and with
//! [`ExecOptions::integer`](crate::ExecOptions::integer) quantized patterns
//! become integer steps.
//!
//! The graph arrives with its quantizers in QuantizeLinear /
//! DequantizeLinear form ([`crate::passes::canon`]). On a scratch copy,
//! [`rewrite`] matches each node: a Conv ([`conv`]); an elementwise Unary
//! between a per-tensor u8 DequantizeLinear and a u8 QuantizeLinear
//! ([`lut`]); an Add of two u8 DequantizeLinear outputs read by a
//! QuantizeLinear ([`add`]); a MatMul of two quantized activations, with
//! attention's scaling, mask Add and Softmax after it ([`act_matmul`],
//! [`scores`]); a MatMul or Gemm with a constant i8 weight ([`matmul`]). A
//! matched node reads the quantized tensors directly and takes over the
//! nodes fused into it (bias, Relu or GELU, residual Add, output
//! QuantizeLinear); DequantizeLinear nodes left without readers go, so
//! probes no longer see their outputs. Last, the u8 tensors that only
//! integer kernels exchange are kept channels-last ([`layout`]).
//! Everything else stays on the f32 path. [`pattern`] holds what the
//! matchers read off the graph.

use std::collections::{HashMap, HashSet};

use ptq_ir::patch::PatchValue;
use ptq_ir::{Graph, NodeId, Op, Patch, ValueId};
use ptq_kernels::int8::{Activation, PackedB, int8_kernels};

use crate::error::ExecError;
use crate::ops::Kernel;

mod act_matmul;
mod add;
mod conv;
mod layout;
mod lut;
mod matmul;
mod pattern;
mod program;
mod scores;

pub(crate) use matmul::IntMatMul;
pub(crate) use pattern::*;
pub(crate) use program::{Exec, LoweredStep, lower};

/// Rewires every matching MatMul, Gemm, Conv, residual Add and quantized
/// activation of `g` (the lowering's scratch copy, whose quantizers are in
/// Q/DQ form, see [`crate::passes::canon`]) to read its quantized inputs and
/// write its fused output, removing the nodes it absorbs, and returns their
/// kernels. `relu_after` lists the nodes that apply a fused Relu.
pub(crate) fn rewrite(
    g: &mut Graph,
    relu_after: &HashSet<NodeId>,
) -> Result<HashMap<NodeId, Box<dyn Kernel>>, ExecError> {
    let producers = g.producers();
    let consumers = g.consumers();
    let mut found: HashMap<NodeId, Box<dyn Kernel>> = HashMap::new();
    let mut convs: HashMap<NodeId, crate::lower::conv::IntConv> = HashMap::new();
    let mut adds: HashMap<NodeId, crate::lower::add::IntAdd> = HashMap::new();
    let mut luts: HashMap<NodeId, crate::lower::lut::IntLut> = HashMap::new();
    let mut new_inputs: Vec<(NodeId, Vec<Option<ValueId>>)> = vec![];
    let mut dqs: Vec<NodeId> = vec![];
    let ids: Vec<NodeId> = g.iter_nodes().map(|(id, _)| id).collect();
    for id in ids {
        let Some(node) = g.node(id) else { continue };
        if matches!(node.op, Op::Conv(_)) {
            let Ok(kernels) = int8_kernels() else { continue };
            if let Some(mut m) = crate::lower::conv::match_conv(g, &producers, id, relu_after.contains(&id), kernels) {
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
                    let mut p = Patch::removing([q]);
                    p.set_output(id, 0, q_out);
                    p.apply(g)?;
                }
                convs.insert(id, m.kernel);
                new_inputs.push((id, vec![Some(m.xq)]));
                dqs.extend(m.dqs);
            }
            continue;
        }
        if matches!(node.op, Op::Unary(_)) {
            let Ok(kernels) = int8_kernels() else { continue };
            if let Some(m) = crate::lower::lut::match_lut(g, &producers, &consumers, id, kernels) {
                luts.insert(id, m.kernel);
                new_inputs.push((id, vec![Some(m.input)]));
                let mut p = Patch::removing([m.q]);
                p.set_output(id, 0, m.output);
                p.apply(g)?;
                dqs.push(m.dq);
            }
            continue;
        }
        if matches!(node.op, Op::Binary(_)) {
            let Ok(kernels) = int8_kernels() else { continue };
            if let Some(m) = crate::lower::add::match_add(g, &producers, &consumers, id, kernels) {
                adds.insert(id, m.kernel);
                new_inputs.push((id, vec![Some(m.inputs[0]), Some(m.inputs[1])]));
                let mut p = Patch::removing(m.folded);
                p.set_output(id, 0, m.output);
                p.apply(g)?;
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
                crate::lower::act_matmul::match_act_matmul(g, (adq, bdq), relu_after.contains(&id), kernels)
        {
            let (mut k, mut xs, mm_out) = (k, xs, node.outputs.first().copied().flatten());
            // The nodes the step absorbs, removed once it is matched.
            let mut p = Patch::new();
            if let Some((t, input)) =
                crate::lower::act_matmul::transposed_operand(g, &producers, &consumers, (id, bdq, xs[1]))
            {
                p.remove_node(t);
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
                p.remove_node(div);
                out = Some(div_out);
            }
            // Then its mask Add and Softmax run on each matrix of scores.
            let mut inputs = xs.map(Some).to_vec();
            if !k.relu
                && let Some(v) = out
                && let Some(tail) = crate::lower::scores::match_scores_tail(g, &consumers, v)
            {
                for r in tail.removed {
                    p.remove_node(r);
                }
                k.softmax = true;
                k.masked = tail.mask.is_some();
                inputs.extend(tail.mask.map(Some));
                out = Some(tail.output);
            }
            if let Some(v) = out {
                p.set_output(id, 0, v);
            }
            p.apply(g)?;
            found.insert(id, Box::new(k));
            new_inputs.push((id, inputs));
            dqs.extend([adq, bdq]);
            continue;
        }
        // u8, or NNCF's symmetric i8 (read as u8 with zero point 128).
        let Some((xq, a_bytes, sa)) = quantized_activation(g, adq) else { continue };
        let Some(Weights { b: w, k, n, scales: sw }) = weights(g, bdq, transposed) else { continue };
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
        // The nodes fused into the step, removed once it is matched.
        let mut p = Patch::new();
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
            p.remove_node(add);
            out = Some(add_out);
            if let Some((r, r_out, a)) = sole_activation(g, &consumers, add_out) {
                act = a;
                p.remove_node(r);
                out = Some(r_out);
            }
        }
        // A residual Add of another f32 tensor (not after an activation).
        let mut residual = None;
        if act == Activation::Identity
            && let Some(v) = out
            && let Some((add, add_out, r)) = residual_add(g, &consumers, v)
        {
            p.remove_node(add);
            out = Some(add_out);
            residual = Some(r);
        }
        let mut out_q = None;
        if let Some(v) = out.filter(|_| residual.is_none())
            && let Some(((q, q_out, scale, zp), shapes)) = quantizer_beside_shapes(g, &consumers, v)
        {
            out_q = Some((scale, zp));
            p.remove_node(q);
            for s in shapes {
                p.set_input(s, 0, PatchValue::Existing(q_out));
            }
            out = Some(q_out);
        }
        if let Some(v) = out {
            p.set_output(id, 0, v);
        }
        p.apply(g)?;
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
        new_inputs.push((id, [Some(xq)].into_iter().chain(residual.map(Some)).collect()));
        dqs.extend([adq, bdq]);
    }
    let mut p = Patch::new();
    for (id, inputs) in new_inputs {
        p.set_inputs(id, inputs.into_iter().map(|v| v.map(PatchValue::Existing)).collect());
    }
    p.apply(g)?;
    let consumers = g.consumers();
    let unread: HashSet<NodeId> = dqs
        .into_iter()
        .filter(|&dq| {
            g.node(dq)
                .and_then(|n| n.outputs.first().copied().flatten())
                .is_some_and(|out| !consumers.contains_key(&out) && !g.outputs().contains(&out))
        })
        .collect();
    Patch::removing(unread).apply(g)?;
    set_layouts(g, &mut convs, &mut adds, &mut luts);
    found.extend(convs.into_iter().map(|(id, k)| (id, Box::new(k) as Box<dyn Kernel>)));
    found.extend(adds.into_iter().map(|(id, k)| (id, Box::new(k) as Box<dyn Kernel>)));
    found.extend(luts.into_iter().map(|(id, k)| (id, Box::new(k) as Box<dyn Kernel>)));
    Ok(found)
}

/// Keeps the u8 tensors that only integer convolutions and additions
/// exchange channels-last ([`crate::lower::layout`]).
fn set_layouts(
    g: &Graph,
    convs: &mut HashMap<NodeId, crate::lower::conv::IntConv>,
    adds: &mut HashMap<NodeId, crate::lower::add::IntAdd>,
    luts: &mut HashMap<NodeId, crate::lower::lut::IntLut>,
) {
    use crate::lower::layout::{Kernels, channels_last, layouts};
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
mod tests;
