//! Plan-time constant folding.
//!
//! A quantized model dequantizes its int8 weights (DequantizeLinear, or an
//! OpenVINO FakeQuantize on f32 weights) on every run unless the plan does it
//! once. Folding evaluates every node whose inputs are all constants with its
//! own kernel and stores the results as constants.

use std::collections::HashSet;

use ptq_ir::{Graph, IrError, NodeId, Patch, Rule, Tensor, ValueId, View};
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

/// Folds, as [`fold_constants`] does, only the nodes whose outputs take no
/// more bytes than the constants that go away with them (those no other
/// node reads), or at most [`SMALL_BYTES`]:
/// the Shape of a stored constant, a Reshape or Transpose of one, shape
/// arithmetic, but not a DequantizeLinear of int8 weights, an Expand, a
/// Cast to a wider type, or the Transpose of a table a Gather reads too. For a model about to be written again: what
/// exporters leave unfolded (tf2onnx's constants read only by Shape, a
/// weight reaching its MatMul through a Reshape) stops taking file space
/// and becomes a weight the quantizer sees, and the file never grows.
pub fn fold_shrinking_constants(g: &mut Graph) -> Result<usize, IrError> {
    let mut rule = FoldConstants { shrinking_only: true, ..FoldConstants::default() };
    ptq_ir::rewrite::rewrite(g, &mut [&mut rule])
}

/// Outputs up to this size always fold under [`fold_shrinking_constants`].
pub const SMALL_BYTES: usize = 256;

/// The rule of [`fold_constants`]; it remembers the nodes it evaluated and
/// kept, so a later sweep does not evaluate them again.
#[derive(Debug, Default)]
pub struct FoldConstants {
    kept: HashSet<NodeId>,
    /// Only nodes whose outputs are no bigger than their inputs.
    shrinking_only: bool,
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
        // The bytes that go away with the node: constants only it reads.
        let freed = self.shrinking_only.then(|| {
            let only_here = |v: &ValueId| {
                view.consumers().get(v).is_none_or(|c| c.iter().all(|&(n, _)| n == id)) && !g.outputs().contains(v)
            };
            let mut dead: Vec<ValueId> = node.inputs.iter().flatten().copied().filter(only_here).collect();
            dead.dedup();
            dead.iter().filter_map(|&v| g.value(v).constant.as_deref()).map(Tensor::byte_size).sum::<usize>()
        });
        let patch = evaluate(g, id, freed);
        // A node too big to fold now may fold once its other readers have.
        if patch.is_none() && freed.is_none() {
            self.kept.insert(id);
        }
        patch
    }
}

/// Runs node `id`, whose inputs are constants: a patch making its outputs
/// constants and removing it, or None if it fails, an output is too big, or
/// its outputs take more bytes than `freed` (when given) and
/// [`SMALL_BYTES`].
fn evaluate(g: &Graph, id: NodeId, freed: Option<usize>) -> Option<Patch> {
    let node = g.node(id)?;
    let kernel = prepare(node, g).ok()?;
    let slots = node
        .inputs
        .iter()
        .map(|v| v.and_then(|v| g.value(v).constant.clone()).map(|tensor| Slot { tensor, reusable: false }))
        .collect();
    let results = kernel.run(&mut Inputs { slots, threads: Threads::Single, bodies: None }, node.outputs.len()).ok()?;
    if let Some(freed) = freed
        && results.iter().flatten().map(Tensor::byte_size).sum::<usize>() > freed.max(SMALL_BYTES)
    {
        return None;
    }
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
    fn shrinking_folds_take_shapes_of_constants_but_never_grow_the_graph() {
        // y = x + shape(w) (w 64 floats: folds to 2 int64), z = expand(c, big)
        // (4 floats to 4096: stays).
        use ptq_ir::ops::expand::Expand;
        use ptq_ir::ops::shape_of::ShapeOf;
        let mut g = Graph::default();
        let x =
            g.add_value(Value { name: "x".into(), fact: Fact::new(DType::I64, known_shape(&[2])), ..Value::default() });
        g.inputs_mut().push(x);
        let w = g.add_constant("w", Tensor::F32(ndarray::ArrayD::zeros(ndarray::IxDyn(&[8, 8]))), ConstSource::Stored);
        let s = node(&mut g, "shape", Op::ShapeOf(ShapeOf { start: None, end: None }), &[w]);
        let y = node(&mut g, "add", Op::Binary(Binary { kind: BinaryKind::Add }), &[x, s]);
        let c = g.add_constant("c", Tensor::F32(ndarray::ArrayD::zeros(ndarray::IxDyn(&[4, 1]))), ConstSource::Stored);
        let big = g.add_constant("big", Tensor::I64(ndarray::arr1(&[4i64, 1024]).into_dyn()), ConstSource::Stored);
        let z = node(&mut g, "expand", Op::Expand(Expand), &[c, big]);
        g.outputs_mut().extend([y, z]);
        ptq_ir::infer::infer_facts(&mut g).unwrap();
        let mut all = g.clone();
        assert_eq!(fold_constants(&mut all).unwrap(), 1, "the expand feeds a graph output");
        assert_eq!(fold_shrinking_constants(&mut g).unwrap(), 1);
        let names: Vec<&str> = g.iter_nodes().map(|(_, n)| n.name.as_str()).collect();
        assert!(names.contains(&"expand") && !names.contains(&"shape"), "{names:?}");
        // Fed to a node instead of being an output, the expand still stays.
        let mut h = Graph::default();
        let x = h.add_value(Value {
            name: "x".into(),
            fact: Fact::new(DType::F32, known_shape(&[4, 1024])),
            ..Value::default()
        });
        h.inputs_mut().push(x);
        let c = h.add_constant("c", Tensor::F32(ndarray::ArrayD::zeros(ndarray::IxDyn(&[4, 1]))), ConstSource::Stored);
        let big = h.add_constant("big", Tensor::I64(ndarray::arr1(&[4i64, 1024]).into_dyn()), ConstSource::Stored);
        let e = node(&mut h, "expand", Op::Expand(Expand), &[c, big]);
        let y = node(&mut h, "add", Op::Binary(Binary { kind: BinaryKind::Add }), &[x, e]);
        h.outputs_mut().push(y);
        ptq_ir::infer::infer_facts(&mut h).unwrap();
        assert_eq!(fold_shrinking_constants(&mut h.clone()).unwrap(), 0);
        assert_eq!(fold_constants(&mut h).unwrap(), 1);
        // neg(t) of a table another node reads too would be a second copy:
        // it stays; read by it alone, it folds.
        for shared in [true, false] {
            let mut k = Graph::default();
            let fact = Fact::new(DType::F32, known_shape(&[128]));
            let x = k.add_value(Value { name: "x".into(), fact, ..Value::default() });
            k.inputs_mut().push(x);
            let t =
                k.add_constant("t", Tensor::F32(ndarray::ArrayD::ones(ndarray::IxDyn(&[128]))), ConstSource::Stored);
            let n = node(&mut k, "neg", Op::Unary(Unary { kind: UnaryKind::Neg }), &[t]);
            let y = node(&mut k, "add", Op::Binary(Binary { kind: BinaryKind::Add }), &[x, n]);
            k.outputs_mut().push(y);
            if shared {
                let z = node(&mut k, "mul", Op::Binary(Binary { kind: BinaryKind::Mul }), &[x, t]);
                k.outputs_mut().push(z);
            }
            ptq_ir::infer::infer_facts(&mut k).unwrap();
            assert_eq!(fold_shrinking_constants(&mut k).unwrap(), usize::from(!shared), "shared {shared}");
        }
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
