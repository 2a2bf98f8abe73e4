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
    infer(graph, None)
}

/// A declared shape that inference contradicted and replaced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overruled {
    /// The value whose declared shape gave way.
    pub value: String,
    /// The node that produces it.
    pub node: String,
    /// The shape the file declared.
    pub declared: String,
    /// The shape inference gave it instead.
    pub inferred: String,
}

impl std::fmt::Display for Overruled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "value {:?}: declared shape {} but node {:?} produces {}; using the inferred shape",
            self.value, self.declared, self.node, self.inferred
        )
    }
}

/// Like [`infer_facts`], but as liberal as onnxruntime with files that
/// declare shapes their nodes do not produce: the inferred shape wins and
/// each such value is returned (the caller warns). A dtype contradiction is
/// still an error.
pub fn infer_facts_overruling(graph: &mut Graph) -> Result<Vec<Overruled>> {
    let mut overruled = vec![];
    infer(graph, Some(&mut overruled))?;
    Ok(overruled)
}

fn infer(graph: &mut Graph, mut overruled: Option<&mut Vec<Overruled>>) -> Result<()> {
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
            match overruled.as_deref_mut() {
                None => refine(graph, *v, fact, &label)?,
                Some(list) => {
                    let value = &mut graph.values[v.0];
                    match value.fact.refine_overruling(fact) {
                        Ok(None) => {}
                        Ok(Some(declared)) => list.push(Overruled {
                            value: value.name.clone(),
                            node: label.clone(),
                            declared,
                            inferred: value.fact.shape.as_deref().map(crate::fact::shape_string).unwrap_or_default(),
                        }),
                        Err(_) => refine(graph, *v, fact, &label)?,
                    }
                }
            }
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
