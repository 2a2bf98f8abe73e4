//! Structural facts placement needs: attention blocks (for transformer
//! detection and the attention-output MatMul), and elementwise
//! decompositions of activations and normalizations (GELU, Swish,
//! HardSwish, LayerNorm written out in primitive ops), whose inner ops must
//! not be quantized.

use std::collections::HashSet;

use ptq_ir::{Graph, NodeId, Op, ValueId};

use crate::hw::Role;

/// Graph lookups shared by the placement passes.
#[derive(Debug)]
pub struct Links<'g> {
    pub g: &'g Graph,
    pub producers: ptq_ir::pattern::Producers,
    pub consumers: ptq_ir::pattern::Consumers,
    /// Values computed from constants alone (a bias that paddle2onnx writes
    /// as `Reshape(Constant)`, say): they do not vary with the input.
    pub const_derived: HashSet<ValueId>,
}

impl<'g> Links<'g> {
    pub fn new(g: &'g Graph) -> Links<'g> {
        Links { g, producers: g.producers(), consumers: g.consumers(), const_derived: const_derived(g) }
    }

    /// True when `v` varies with the model's inputs: an activation
    /// ([`Links::is_activation`]) that is not computed from constants alone.
    pub fn is_varying(&self, v: ValueId) -> bool {
        self.is_activation(v) && !self.const_derived.contains(&v)
    }

    /// The node producing `v`, if any.
    pub fn producer(&self, v: ValueId) -> Option<NodeId> {
        self.producers.get(&v).map(|&(n, _)| n)
    }

    /// Every (node, input slot) reading `v`.
    pub fn readers(&self, v: ValueId) -> &[(NodeId, usize)] {
        self.consumers.get(&v).map_or(&[], Vec::as_slice)
    }

    /// The one (node, input slot) reading `v` when `v` is not a graph
    /// output ([`ptq_ir::pattern::sole_reader`]).
    pub fn sole_reader(&self, v: ValueId) -> Option<(NodeId, usize)> {
        ptq_ir::pattern::sole_reader(self.g, &self.consumers, v)
    }

    /// True when `v` is a non-constant f32 tensor (or of unknown dtype).
    pub fn is_activation(&self, v: ValueId) -> bool {
        let val = self.g.value(v);
        val.constant.is_none() && matches!(val.fact.dtype, Some(ptq_ir::DType::F32) | None)
    }

    /// The op of node `id`.
    pub fn op(&self, id: NodeId) -> Option<&Op> {
        self.g.node(id).map(|n| &n.op)
    }
}

/// The outputs of nodes (with at least one input, no subgraph) whose inputs
/// are all constants or such outputs, in topological order (empty for a
/// graph with a cycle, which placement reports).
fn const_derived(g: &Graph) -> HashSet<ValueId> {
    let mut out = HashSet::new();
    let Ok(order) = ptq_ir::topo::topo_order(g) else { return out };
    let inputs: HashSet<ValueId> = g.inputs().iter().copied().collect();
    for id in order {
        let Some(n) = g.node(id) else { continue };
        let fixed = n.op.bodies().is_empty()
            && n.input_ids().next().is_some()
            && n.input_ids().all(|v| out.contains(&v) || (g.value(v).constant.is_some() && !inputs.contains(&v)));
        if fixed {
            out.extend(n.output_ids());
        }
    }
    out
}

fn is_act_matmul(l: &Links<'_>, id: NodeId) -> bool {
    let Some(n) = l.g.node(id) else { return false };
    matches!(n.op, Op::MatMul(_)) && n.inputs.iter().take(2).all(|v| v.is_some_and(|v| l.is_activation(v)))
}

/// An attention block found in the graph: activation×activation MatMul →
/// (scale, mask, reshape) → Softmax → activation×activation MatMul.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attention {
    pub scores: NodeId,
    pub softmax: NodeId,
    pub output: NodeId,
}

/// Every attention block.
pub fn attention_blocks(l: &Links<'_>) -> Vec<Attention> {
    let mut found = vec![];
    for (sid, n) in l.g.iter_nodes() {
        if n.op.name() != "Softmax" {
            continue;
        }
        let Some(x) = n.inputs.first().copied().flatten() else { continue };
        // Up: through agnostic ops and elementwise scale/mask ops.
        let mut v = x;
        let mut scores = None;
        for _ in 0..16 {
            let Some(p) = l.producer(v) else { break };
            if is_act_matmul(l, p) {
                scores = Some(p);
                break;
            }
            let Some(pn) = l.g.node(p) else { break };
            let passes =
                pn.op.quant_role() == Role::Agnostic || matches!(pn.op, Op::Binary(_) | Op::Cast(_) | Op::Where(_));
            let next = pn.inputs.iter().flatten().copied().find(|&i| l.is_activation(i));
            match (passes, next) {
                (true, Some(i)) => v = i,
                _ => break,
            }
        }
        let Some(scores) = scores else { continue };
        // Down: through agnostic ops to an activation×activation MatMul.
        let mut frontier: Vec<ValueId> = n.output_ids().collect();
        let mut output = None;
        let mut seen = HashSet::new();
        while let Some(v) = frontier.pop() {
            for &(c, _) in l.readers(v) {
                if !seen.insert(c) {
                    continue;
                }
                if is_act_matmul(l, c) {
                    output = Some(c);
                } else if l.op(c).is_some_and(|op| op.quant_role() == Role::Agnostic || matches!(op, Op::Cast(_))) {
                    frontier.extend(l.g.node(c).into_iter().flat_map(|cn| cn.output_ids()));
                }
            }
        }
        if let Some(output) = output {
            found.push(Attention { scores, softmax: sid, output });
        }
    }
    found
}

/// Elementwise ops whose two activation operands come from one value through
/// short chains of elementwise ops and nothing else (x·sigmoid(x),
/// x·relu6(x+3)/6, 0.5·x·(1+erf(x/√2)), (x−mean)/sqrt(var+ε)...): the node
/// is the inside of an activation or normalization written out in
/// primitive ops, which runtimes fuse and NNCF's fused patterns keep
/// unquantized. Walking up from each operand through elementwise ops (at
/// most DEPTH steps), both must end at the same values: x + x·gate(x),
/// where the gate comes through a convolution, is a residual add, not a
/// decomposition.
pub fn decompositions(l: &Links<'_>) -> HashSet<NodeId> {
    const DEPTH: usize = 8;
    let elementwise = |op: &Op| {
        matches!(op, Op::Unary(_) | Op::Binary(_) | Op::Clip(_) | Op::Reduce(_) | Op::Variadic(_) | Op::Cast(_))
    };
    // The values where the walk up from `v` through elementwise ops stops:
    // produced by another op, a graph input, or DEPTH steps away.
    let sources = |v: ValueId| {
        let mut seen = HashSet::from([v]);
        let mut out = HashSet::new();
        let mut layer = vec![v];
        for depth in 0..=DEPTH {
            let mut next = vec![];
            for u in layer {
                let pn = l.producer(u).and_then(|p| l.g.node(p));
                match pn {
                    Some(pn) if depth < DEPTH && elementwise(&pn.op) => {
                        for i in pn.input_ids() {
                            if l.is_varying(i) && seen.insert(i) {
                                next.push(i);
                            }
                        }
                    }
                    _ => {
                        out.insert(u);
                    }
                }
            }
            layer = next;
        }
        out
    };
    let mut found = HashSet::new();
    for (id, n) in l.g.iter_nodes() {
        if !matches!(n.op, Op::Binary(_) | Op::Variadic(_)) {
            continue;
        }
        let acts: Vec<ValueId> = n.input_ids().filter(|&v| l.is_activation(v)).collect();
        if acts.len() != 2 || acts[0] == acts[1] {
            if acts.len() == 2 {
                found.insert(id); // x * x, x + x
            }
            continue;
        }
        let (a, b) = (sources(acts[0]), sources(acts[1]));
        if !a.is_empty() && a == b {
            found.insert(id);
        }
    }
    found
}

/// Why the graph looks like a transformer, if it does: the first attention
/// block, or a layer normalization (an op or its decomposition).
pub fn transformer_evidence(l: &Links<'_>) -> Option<String> {
    if let Some(a) = attention_blocks(l).first() {
        return Some(format!(
            "attention block MatMul '{}' -> Softmax '{}' -> MatMul '{}'",
            l.g.node_label(a.scores),
            l.g.node_label(a.softmax),
            l.g.node_label(a.output)
        ));
    }
    let ln = l.g.iter_nodes().find(|(_, n)| matches!(n.op, Op::LayerNorm(_)));
    if let Some((id, _)) = ln {
        return Some(format!("LayerNormalization '{}'", l.g.node_label(id)));
    }
    None
}
