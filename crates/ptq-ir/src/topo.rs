//! Topological ordering of nodes.

use std::collections::{HashMap, VecDeque};

use crate::error::{IrError, Result};
use crate::graph::{Graph, NodeId};

/// Live nodes in an order where every producer precedes its consumers, ties
/// broken by source order. Fails with [`IrError::Cycle`] naming a node on a cycle.
pub fn topo_order(graph: &Graph) -> Result<Vec<NodeId>> {
    let producers = graph.producers();
    let mut indegree: HashMap<NodeId, usize> = HashMap::new();
    let mut dependents: HashMap<NodeId, Vec<NodeId>> = HashMap::new();
    for (id, node) in graph.iter_nodes() {
        let mut deps: Vec<NodeId> = node.input_ids().filter_map(|v| producers.get(&v).map(|p| p.0)).collect();
        deps.sort();
        deps.dedup();
        indegree.insert(id, deps.len());
        for d in deps {
            dependents.entry(d).or_default().push(id);
        }
    }
    let mut ready: VecDeque<NodeId> = graph.iter_nodes().map(|(id, _)| id).filter(|id| indegree[id] == 0).collect();
    let mut order = Vec::with_capacity(indegree.len());
    while let Some(id) = ready.pop_front() {
        order.push(id);
        for &d in dependents.get(&id).map(Vec::as_slice).unwrap_or(&[]) {
            let e = indegree.get_mut(&d).unwrap_or_else(|| unreachable!("every live node has an entry"));
            *e -= 1;
            if *e == 0 {
                ready.push_back(d);
            }
        }
    }
    if order.len() != indegree.len() {
        let stuck = graph.iter_nodes().map(|(id, _)| id).find(|id| indegree[id] > 0).unwrap_or(NodeId(0));
        return Err(IrError::Cycle { node: graph.node_label(stuck) });
    }
    Ok(order)
}
