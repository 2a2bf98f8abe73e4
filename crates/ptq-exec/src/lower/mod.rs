//! Lowering: the graph a [`crate::Plan`] holds becomes the steps it runs
//! ([`program`]), and with
//! [`ExecOptions::integer`](crate::ExecOptions::integer) quantized patterns
//! become integer steps.
//!
//! The graph arrives with its quantizers in QuantizeLinear /
//! DequantizeLinear form ([`crate::passes::canon`]). On a scratch copy,
//! [`rewrite`] runs one rule on `ptq_ir`'s rewriter that hands each node to
//! the matcher for its op, one file per pattern, each returning the step's
//! kernel and a patch ([`Lowered`]): a Conv ([`conv`]); an elementwise
//! Unary between a per-tensor u8 DequantizeLinear and a u8 QuantizeLinear
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

use ptq_ir::{Graph, NodeId, Op, Patch, Rule, View};
use ptq_kernels::int8::{Int8Kernels, TierError, int8_kernels};

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

use add::IntAdd;
use conv::IntConv;
use lut::IntLut;
pub(crate) use pattern::*;
pub(crate) use program::{Exec, LoweredStep, lower};

/// A kernel a matcher built, kept by kind while the layouts are chosen.
pub(crate) enum IntKernel {
    Conv(Box<IntConv>),
    Add(IntAdd),
    Lut(IntLut),
    Other(Box<dyn Kernel>),
}

/// What a matcher returns: the integer step's kernel; the patch that makes
/// its node read the quantized tensors and write its fused output, removing
/// the nodes it absorbs; and the DequantizeLinear nodes it bypasses (they
/// go at the end if nothing else reads them).
pub(crate) struct Lowered {
    pub patch: Patch,
    pub kernel: IntKernel,
    pub bypassed: Vec<NodeId>,
}

/// The rule that asks each matcher, by the op at the node: [`conv`],
/// [`lut`], [`add`], [`matmul`] (and through it [`act_matmul`]).
struct LowerInteger<'a> {
    relu_after: &'a HashSet<NodeId>,
    kernels: Result<&'static Int8Kernels, TierError>,
    found: HashMap<NodeId, IntKernel>,
    bypassed: Vec<NodeId>,
    error: Option<ExecError>,
}

impl Rule for LowerInteger<'_> {
    fn name(&self) -> &'static str {
        "integer lowering"
    }

    fn rewrite(&mut self, view: &View<'_>, id: NodeId) -> Option<Patch> {
        if self.found.contains_key(&id) || self.error.is_some() {
            return None;
        }
        let relu = self.relu_after.contains(&id);
        let kernels = self.kernels.as_ref().ok().copied();
        let lowered = match &view.graph.node(id)?.op {
            Op::Conv(_) => conv::lower(view, id, relu, kernels?),
            Op::Unary(_) => lut::lower(view, id, kernels?),
            Op::Binary(_) => add::lower(view, id, kernels?),
            Op::MatMul(_) | Op::Gemm(_) => match matmul::lower(view, id, relu, &self.kernels) {
                Ok(l) => l,
                Err(e) => {
                    self.error = Some(e);
                    None
                }
            },
            _ => None,
        }?;
        self.found.insert(id, lowered.kernel);
        self.bypassed.extend(lowered.bypassed);
        Some(lowered.patch)
    }
}

/// Lowers every matching MatMul, Gemm, Conv, residual Add and quantized
/// activation of `g` (the lowering's scratch copy, whose quantizers are in
/// Q/DQ form, see [`crate::passes::canon`]) with the matchers' patches,
/// removes the DequantizeLinear nodes left unread, and returns the
/// kernels. `relu_after` lists the nodes that apply a fused Relu.
pub(crate) fn rewrite(
    g: &mut Graph,
    relu_after: &HashSet<NodeId>,
) -> Result<HashMap<NodeId, Box<dyn Kernel>>, ExecError> {
    let mut rule =
        LowerInteger { relu_after, kernels: int8_kernels(), found: HashMap::new(), bypassed: vec![], error: None };
    ptq_ir::rewrite::rewrite(g, &mut [&mut rule])?;
    if let Some(e) = rule.error {
        return Err(e);
    }
    let consumers = g.consumers();
    let unread: HashSet<NodeId> = rule
        .bypassed
        .into_iter()
        .filter(|&dq| {
            g.node(dq)
                .and_then(|n| n.outputs.first().copied().flatten())
                .is_some_and(|out| !consumers.contains_key(&out) && !g.outputs().contains(&out))
        })
        .collect();
    Patch::removing(unread).apply(g)?;
    let (mut convs, mut adds, mut luts) = (HashMap::new(), HashMap::new(), HashMap::new());
    let mut found: HashMap<NodeId, Box<dyn Kernel>> = HashMap::new();
    for (id, k) in rule.found {
        match k {
            IntKernel::Conv(k) => _ = convs.insert(id, *k),
            IntKernel::Add(k) => _ = adds.insert(id, k),
            IntKernel::Lut(k) => _ = luts.insert(id, k),
            IntKernel::Other(k) => _ = found.insert(id, k),
        }
    }
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
    convs: &mut HashMap<NodeId, IntConv>,
    adds: &mut HashMap<NodeId, IntAdd>,
    luts: &mut HashMap<NodeId, IntLut>,
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
