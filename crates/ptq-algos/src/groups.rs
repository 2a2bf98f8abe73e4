//! Quantizer groups for accuracy control (NNCF's
//! `find_quantizer_nodes_to_cut`): the quantizable ops an activation
//! quantizer feeds (through quantization-agnostic ops), and every quantizer
//! feeding those ops. Reverting a whole group to float leaves a consistent
//! graph: no op keeps a quantized input whose partner input went float, and
//! a shared quantizer is never half removed.

use std::collections::{BTreeSet, HashMap};

use ptq_ir::{Graph, NodeId, ValueId};

use crate::hw::Role;
use crate::pipeline::{Exclusions, Setup};

/// One group: the ops it reverts and the quantizers it removes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// The quantizable ops (Conv, MatMul, Gemm...) that go back to float.
    pub ops: Vec<NodeId>,
    /// Indices into [`Setup::acts`].
    pub acts: Vec<usize>,
    /// Indices into [`Setup::weights`].
    pub weights: Vec<usize>,
}

impl Group {
    /// Node names of the ops, for reports.
    pub fn names(&self, g: &Graph) -> Vec<String> {
        self.ops.iter().filter_map(|&n| g.node(n).map(|n| n.name.clone())).collect()
    }
}

/// How much of a group reverting restores.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RestoreMode {
    /// Activation and weight quantizers, and the float biases (NNCF's
    /// `ACTIVATIONS_AND_WEIGHTS`).
    #[default]
    ActivationsAndWeights,
    /// Activation quantizers only: int8 weights and corrected biases stay.
    OnlyActivations,
}

/// The quantizable ops downstream of `value` through agnostic ops.
fn targets(
    g: &Graph,
    consumers: &HashMap<ValueId, Vec<(NodeId, usize)>>,
    readers: &[(NodeId, usize)],
) -> BTreeSet<NodeId> {
    let mut out = BTreeSet::new();
    let mut stack: Vec<NodeId> = readers.iter().map(|&(n, _)| n).collect();
    let mut seen = BTreeSet::new();
    while let Some(n) = stack.pop() {
        if !seen.insert(n) {
            continue;
        }
        let Some(node) = g.node(n) else { continue };
        match node.op.quant_role() {
            Role::Agnostic | Role::Concat => {
                for v in node.outputs.iter().flatten() {
                    stack.extend(consumers.get(v).into_iter().flatten().map(|&(c, _)| c));
                }
            }
            _ => {
                out.insert(n);
            }
        }
    }
    out
}

/// The groups of `setup`, in the float graph's topological order of their
/// first op. Every quantizer belongs to exactly one group.
pub fn groups(setup: &Setup) -> Vec<Group> {
    let g = &setup.float;
    let consumers = g.consumers();
    let act_targets: Vec<BTreeSet<NodeId>> =
        setup.acts.iter().map(|(q, _)| targets(g, &consumers, &q.readers)).collect();
    let weight_ops: Vec<BTreeSet<NodeId>> =
        setup.weights.iter().map(|(w, _)| w.readers.iter().map(|&(n, _)| n).collect()).collect();
    let mut act_done = vec![false; setup.acts.len()];
    let mut weight_done = vec![false; setup.weights.len()];
    let mut out = vec![];
    // Seeds: activation quantizers, then weights whose ops have no activation quantizer.
    let seeds: Vec<(bool, usize)> =
        (0..setup.acts.len()).map(|i| (true, i)).chain((0..setup.weights.len()).map(|i| (false, i))).collect();
    for (is_act, i) in seeds {
        if (is_act && act_done[i]) || (!is_act && weight_done[i]) {
            continue;
        }
        let mut ops: BTreeSet<NodeId> = if is_act { act_targets[i].clone() } else { weight_ops[i].clone() };
        let (mut acts, mut weights) = (BTreeSet::new(), BTreeSet::new());
        if is_act {
            acts.insert(i);
        } else {
            weights.insert(i);
        }
        // Closure: every quantizer touching an op of the group, and every op those quantizers feed.
        loop {
            let before = (ops.len(), acts.len(), weights.len());
            for (j, t) in act_targets.iter().enumerate() {
                if !act_done[j] && !t.is_disjoint(&ops) {
                    acts.insert(j);
                    ops.extend(t.iter().copied());
                }
            }
            for (j, t) in weight_ops.iter().enumerate() {
                if !weight_done[j] && !t.is_disjoint(&ops) {
                    weights.insert(j);
                    ops.extend(t.iter().copied());
                }
            }
            if before == (ops.len(), acts.len(), weights.len()) {
                break;
            }
        }
        for &j in &acts {
            act_done[j] = true;
        }
        for &j in &weights {
            weight_done[j] = true;
        }
        out.push(Group {
            ops: ops.into_iter().collect(),
            acts: acts.into_iter().collect(),
            weights: weights.into_iter().collect(),
        });
    }
    let order: HashMap<NodeId, usize> =
        ptq_ir::topo::topo_order(g).unwrap_or_default().into_iter().enumerate().map(|(i, n)| (n, i)).collect();
    out.sort_by_key(|grp| grp.ops.iter().filter_map(|n| order.get(n)).min().copied().unwrap_or(usize::MAX));
    out
}

/// What reverting `reverted` (indices into `groups`) leaves out.
pub fn exclusions(groups: &[Group], reverted: &[usize], mode: RestoreMode) -> Exclusions {
    let mut ex = Exclusions::default();
    for grp in reverted.iter().filter_map(|&i| groups.get(i)) {
        ex.acts.extend(&grp.acts);
        if mode == RestoreMode::ActivationsAndWeights {
            ex.weights.extend(&grp.weights);
            ex.bias_nodes.extend(&grp.ops);
        }
    }
    ex
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::QuantizeOptions;

    #[test]
    fn every_quantizer_is_in_one_group_and_reverting_all_gives_the_float_graph() {
        let (g, items) = crate::testgraph::conv_chain();
        let mut it = items.into_iter().map(Ok);
        let q = crate::quantize_graph(&g, &mut it, &QuantizeOptions::default(), &mut |_| {}).unwrap();
        let gs = groups(&q.setup);
        assert!(gs.len() >= 2, "{gs:?}");
        let names: Vec<Vec<String>> = gs.iter().map(|grp| grp.names(&q.setup.float)).collect();
        // conv2 and conv3 read one quantized tensor: they revert together, in one group.
        assert!(
            names.iter().any(|n| n.contains(&"conv2".to_string()) && n.contains(&"conv3".to_string())),
            "{names:?}"
        );
        assert!(names.iter().any(|n| n == &["conv1".to_string()]), "{names:?}");
        let mut acts: Vec<usize> = gs.iter().flat_map(|g| g.acts.clone()).collect();
        acts.sort();
        assert_eq!(acts, (0..q.setup.acts.len()).collect::<Vec<_>>());
        let mut ws: Vec<usize> = gs.iter().flat_map(|g| g.weights.clone()).collect();
        ws.sort();
        assert_eq!(ws, (0..q.setup.weights.len()).collect::<Vec<_>>());
        let all: Vec<usize> = (0..gs.len()).collect();
        let float = q.setup.build(&exclusions(&gs, &all, RestoreMode::ActivationsAndWeights)).unwrap();
        assert!(float.iter_nodes().all(|(_, n)| !matches!(n.op.name(), "QuantizeLinear" | "DequantizeLinear")));
        let only_acts = q.setup.build(&exclusions(&gs, &all, RestoreMode::OnlyActivations)).unwrap();
        let n_q = only_acts.iter_nodes().filter(|(_, n)| n.op.name() == "QuantizeLinear").count();
        let n_dq = only_acts.iter_nodes().filter(|(_, n)| n.op.name() == "DequantizeLinear").count();
        assert_eq!(n_q, 0);
        assert!(n_dq >= q.setup.weights.len(), "weights stay int8");
    }
}
