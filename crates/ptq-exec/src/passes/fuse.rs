//! Relu fused into the op producing its input (plan-time optimization).

use std::collections::HashSet;

use ptq_ir::ops::unary::UnaryKind;
use ptq_ir::pattern::sole_reader;
use ptq_ir::{Graph, IrError, NodeId, Op, Patch, Rule, Tensor, View};

use crate::inputs::Inputs;
use crate::ops::{Kernel, Out};

/// Removes every Relu whose input is the only output of a Conv, Gemm or
/// MatMul, read by nothing else and not a graph output: the producer writes
/// the Relu's output value instead. Returns the producers that must apply
/// the Relu.
pub fn fuse_relus(g: &mut Graph) -> Result<HashSet<NodeId>, IrError> {
    let mut rule = FuseRelu::default();
    ptq_ir::rewrite::rewrite(g, &mut [&mut rule])?;
    Ok(rule.fused)
}

/// The rule of [`fuse_relus`], anchored at the Relu; it collects the
/// producers that took a Relu over.
#[derive(Debug, Default)]
pub struct FuseRelu {
    pub fused: HashSet<NodeId>,
}

impl Rule for FuseRelu {
    fn name(&self) -> &'static str {
        "fuse Relu"
    }

    fn rewrite(&mut self, view: &View<'_>, r: NodeId) -> Option<Patch> {
        let g = view.graph;
        let node = g.node(r)?;
        if !matches!(&node.op, Op::Unary(u) if u.kind == UnaryKind::Relu) {
            return None;
        }
        let (x, y) = (node.inputs.first().copied().flatten()?, node.outputs.first().copied().flatten()?);
        let &(p, 0) = view.producers().get(&x)? else { return None };
        sole_reader(g, view.consumers(), x)?;
        let pn = g.node(p)?;
        let fusable = matches!(pn.op, Op::Conv(_) | Op::Gemm(_) | Op::MatMul(_)) && pn.output_ids().count() == 1;
        if !fusable || self.fused.contains(&p) {
            return None;
        }
        self.fused.insert(p);
        let mut patch = Patch::removing([r]);
        patch.set_output(p, 0, y);
        Some(patch)
    }
}

/// A kernel followed by an in-place Relu on its first (f32) output.
#[derive(Debug)]
pub struct WithRelu(pub Box<dyn Kernel>);

impl Kernel for WithRelu {
    fn run(&self, inputs: &mut Inputs, n_outputs: usize) -> Out {
        let mut out = self.0.run(inputs, n_outputs)?;
        match out.first_mut() {
            Some(Some(Tensor::F32(a))) => match a.as_slice_mut() {
                Some(s) => ptq_kernels::relu(s),
                None => a.mapv_inplace(|v| v.max(0.0)),
            },
            Some(Some(t)) => return Err(format!("fused Relu on a {} output", t.dtype())),
            _ => {}
        }
        Ok(out)
    }
}
