//! Relu fused into the op producing its input (plan-time optimization).

use std::collections::HashSet;

use ptq_ir::ops::unary::UnaryKind;
use ptq_ir::{Graph, IrError, NodeId, Op, Patch, Tensor};

use crate::inputs::Inputs;
use crate::ops::{Kernel, Out};

/// Removes every Relu whose input is the only output of a Conv, Gemm or
/// MatMul, read by nothing else and not a graph output: the producer writes
/// the Relu's output value instead. Returns the producers that must apply
/// the Relu.
pub fn fuse_relus(g: &mut Graph) -> Result<HashSet<NodeId>, IrError> {
    let producers = g.producers();
    let consumers = g.consumers();
    let mut fused = HashSet::new();
    let relus: Vec<NodeId> = g
        .iter_nodes()
        .filter(|(_, n)| matches!(&n.op, Op::Unary(u) if u.kind == UnaryKind::Relu))
        .map(|(id, _)| id)
        .collect();
    for r in relus {
        let Some(node) = g.node(r) else { continue };
        let (Some(x), Some(y)) = (node.inputs.first().copied().flatten(), node.outputs.first().copied().flatten())
        else {
            continue;
        };
        let Some(&(p, 0)) = producers.get(&x) else { continue };
        let sole_reader = consumers.get(&x).is_some_and(|c| c.len() == 1) && !g.outputs().contains(&x);
        let Some(pn) = g.node(p) else { continue };
        let fusable = matches!(pn.op, Op::Conv(_) | Op::Gemm(_) | Op::MatMul(_)) && pn.output_ids().count() == 1;
        if !(sole_reader && fusable) || fused.contains(&p) {
            continue;
        }
        let mut patch = Patch::removing([r]);
        patch.set_output(p, 0, y);
        patch.apply(g)?;
        fused.insert(p);
    }
    Ok(fused)
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
