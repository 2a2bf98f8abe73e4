//! Topological ordering of nodes.

use crate::error::{IrError, Result};
use crate::graph::{Graph, NodeId};

/// Live nodes in an order where every producer precedes its consumers. Source
/// order is kept wherever it is already valid (an unmodified import comes back
/// in file order). Fails with [`IrError::Cycle`] naming a node on a cycle.
pub fn topo_order(graph: &Graph) -> Result<Vec<NodeId>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let producers = graph.producers();
    let mut mark = vec![Mark::New; graph.nodes.len()];
    let mut order = Vec::with_capacity(graph.nodes.len());
    for (root, _) in graph.iter_nodes() {
        if mark[root.0] != Mark::New {
            continue;
        }
        mark[root.0] = Mark::Active;
        let mut stack: Vec<(NodeId, usize)> = vec![(root, 0)];
        while let Some(&mut (id, ref mut next)) = stack.last_mut() {
            let node = graph.node(id).unwrap_or_else(|| unreachable!("stack holds live nodes"));
            let dep = node.inputs.get(*next).copied();
            *next += 1;
            match dep {
                None => {
                    mark[id.0] = Mark::Done;
                    order.push(id);
                    stack.pop();
                }
                Some(None) => {}
                Some(Some(v)) => {
                    if let Some(&(p, _)) = producers.get(&v) {
                        match mark[p.0] {
                            Mark::Done => {}
                            Mark::Active => return Err(IrError::Cycle { node: graph.node_label(p) }),
                            Mark::New => {
                                mark[p.0] = Mark::Active;
                                stack.push((p, 0));
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(order)
}
