//! Shape and dtype inference over a whole graph.

use crate::error::{IrError, Result};
use crate::fact::{Fact, FactConflict};
use crate::graph::Graph;
use crate::ops::InferInput;
use crate::topo::topo_order;

/// Infers facts for every node output in topological order. Facts the source
/// declared are refined, never overwritten; a contradiction between a declared
/// and an inferred fact is an error naming the value and the node.
pub fn infer_facts(graph: &mut Graph) -> Result<()> {
    for id in topo_order(graph)? {
        let Some(node) = graph.node(id) else { continue };
        let inferred = {
            let inputs: Vec<Option<InferInput<'_>>> = node
                .inputs
                .iter()
                .map(|i| i.map(|v| InferInput { fact: &graph.value(v).fact, value: graph.constant(v) }))
                .collect();
            node.op.infer(&inputs, node.outputs.len()).map_err(|msg| IrError::Infer {
                node: graph.node_label(id),
                op: node.op.name().to_string(),
                msg,
            })?
        };
        let outputs: Vec<_> = node.outputs.clone();
        let label = graph.node_label(id);
        for (slot, out) in outputs.iter().enumerate() {
            let (Some(v), Some(fact)) = (out, inferred.get(slot)) else { continue };
            refine(graph, *v, fact, &label)?;
        }
    }
    Ok(())
}

fn refine(graph: &mut Graph, v: crate::graph::ValueId, fact: &Fact, node: &str) -> Result<()> {
    let value = &mut graph.values[v.0];
    value.fact.refine(fact).map_err(|c| match c {
        FactConflict::DType(d, i) => IrError::DTypeClash {
            value: value.name.clone(),
            node: node.to_string(),
            declared: d.to_string(),
            inferred: i.to_string(),
        },
        FactConflict::Shape(d, i) => {
            IrError::ShapeClash { value: value.name.clone(), node: node.to_string(), declared: d, inferred: i }
        }
    })
}
