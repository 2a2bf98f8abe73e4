//! Plan-time constant folding.
//!
//! A quantized model dequantizes its int8 weights (DequantizeLinear, or an
//! OpenVINO FakeQuantize on f32 weights) on every run unless the plan does it
//! once. Folding evaluates every node whose inputs are all constants with its
//! own kernel and stores the results as constants.

use std::collections::HashSet;

use ptq_ir::{Graph, IrError, NodeId, Patch, Rule, View};
use ptq_kernels::Threads;

use crate::inputs::{Inputs, Slot};
use crate::ops::prepare;

/// Largest folded value (elements): a node that would make a bigger constant
/// (an Expand or ConstantOfShape, say) keeps running per call instead of
/// holding that memory for the plan's lifetime.
const MAX_FOLDED: usize = 1 << 24;

/// Replaces every node whose present inputs are all constants (and which has
/// at least one) by constants holding its outputs, in topological order, so
/// chains of them fold too. A node is left alone if its kernel fails (the run
/// then reports the error as usual), if an output is a graph output, or if an
/// output would exceed [`MAX_FOLDED`] elements. Returns how many nodes were
/// folded.
pub fn fold_constants(g: &mut Graph) -> Result<usize, IrError> {
    let mut rule = FoldConstants::default();
    ptq_ir::rewrite::rewrite(g, &mut [&mut rule])
}

/// The rule of [`fold_constants`]; it remembers the nodes it evaluated and
/// kept, so a later sweep does not evaluate them again.
#[derive(Debug, Default)]
pub struct FoldConstants {
    kept: HashSet<NodeId>,
}

impl Rule for FoldConstants {
    fn name(&self) -> &'static str {
        "fold constants"
    }

    fn rewrite(&mut self, view: &View<'_>, id: NodeId) -> Option<Patch> {
        let g = view.graph;
        let node = g.node(id)?;
        if self.kept.contains(&id)
            || node.inputs.iter().flatten().next().is_none()
            || node.inputs.iter().flatten().any(|&v| g.value(v).constant.is_none())
            || node.outputs.iter().flatten().any(|v| g.outputs().contains(v))
        {
            return None;
        }
        let patch = evaluate(g, id);
        if patch.is_none() {
            self.kept.insert(id);
        }
        patch
    }
}

/// Runs node `id`, whose inputs are constants: a patch making its outputs
/// constants and removing it, or None if it fails or an output is too big.
fn evaluate(g: &Graph, id: NodeId) -> Option<Patch> {
    let node = g.node(id)?;
    let kernel = prepare(node, g).ok()?;
    let slots = node
        .inputs
        .iter()
        .map(|v| v.and_then(|v| g.value(v).constant.clone()).map(|tensor| Slot { tensor, reusable: false }))
        .collect();
    let results = kernel.run(&mut Inputs { slots, threads: Threads::Single, bodies: None }, node.outputs.len()).ok()?;
    let mut p = Patch::removing([id]);
    for (slot, out) in node.outputs.iter().enumerate() {
        let Some(v) = out else { continue };
        match results.get(slot).and_then(Option::as_ref) {
            Some(t) if t.len() <= MAX_FOLDED => p.set_constant(*v, t.clone()),
            _ => return None,
        }
    }
    Some(p)
}

#[cfg(test)]
mod tests {
    use ptq_ir::fact::known_shape;
    use ptq_ir::ops::binary::{Binary, BinaryKind};
    use ptq_ir::ops::unary::{Unary, UnaryKind};
    use ptq_ir::{ConstSource, DType, Fact, Node, Op, Tensor, Value, ValueId};

    use super::*;
    use crate::{ExecOptions, Plan};

    fn node(g: &mut Graph, name: &str, op: Op, inputs: &[ValueId]) -> ValueId {
        let out = g.add_value(Value { name: format!("{name}_out"), ..Value::default() });
        let inputs = inputs.iter().map(|&v| Some(v)).collect();
        g.add_node(Node { name: name.into(), op, inputs, outputs: vec![Some(out)], doc: String::new(), meta: vec![] });
        out
    }

    #[test]
    fn chains_of_constant_nodes_fold_and_runs_agree() {
        // y = x + neg(abs(c)): abs and neg fold, the add stays.
        let mut g = Graph::default();
        let fact = Fact::new(DType::F32, known_shape(&[3]));
        let x = g.add_value(Value { name: "x".into(), fact, ..Value::default() });
        g.inputs_mut().push(x);
        let c = g.add_constant("c", Tensor::F32(ndarray::arr1(&[-1.0f32, 2.0, -3.0]).into_dyn()), ConstSource::Stored);
        let a = node(&mut g, "abs", Op::Unary(Unary { kind: UnaryKind::Abs }), &[c]);
        let n = node(&mut g, "neg", Op::Unary(Unary { kind: UnaryKind::Neg }), &[a]);
        let y = node(&mut g, "add", Op::Binary(Binary { kind: BinaryKind::Add }), &[x, n]);
        g.outputs_mut().push(y);
        let mut folded = g.clone();
        assert_eq!(fold_constants(&mut folded).unwrap(), 2);
        assert_eq!(folded.node_count(), 1);
        let input = vec![("x".to_string(), Tensor::F32(ndarray::arr1(&[1.0f32, 1.0, 1.0]).into_dyn()))];
        let run = |g: &Graph| {
            Plan::new(g, &ExecOptions { threads: 1, ..ExecOptions::default() }).unwrap().run(input.clone()).unwrap()
        };
        let want = Tensor::F32(ndarray::arr1(&[0.0f32, -1.0, -2.0]).into_dyn());
        assert_eq!(run(&g)[0].1, want);
        assert_eq!(run(&folded)[0].1, want);
    }
}
