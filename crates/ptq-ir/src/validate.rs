//! Structural validation of a graph.

use std::collections::{HashMap, HashSet};

use crate::error::{IrError, Result};
use crate::graph::{Graph, ValueId};

/// Checks that every value has exactly one definition (graph input, constant or
/// node output), that every node input and graph output is defined, that node
/// names are unique, and that the graph is acyclic.
pub fn validate(graph: &Graph) -> Result<()> {
    let mut defined: HashMap<ValueId, String> = HashMap::new();
    let mut define = |v: ValueId, by: String| -> Result<()> {
        if defined.insert(v, by.clone()).is_some() {
            return Err(IrError::DuplicateValue { value: graph.value(v).name.clone(), by });
        }
        Ok(())
    };
    for &i in &graph.inputs {
        define(i, "graph input".into())?;
    }
    for (i, v) in graph.values.iter().enumerate() {
        if v.constant.is_some() && !graph.inputs.contains(&ValueId(i)) {
            define(ValueId(i), "constant".into())?;
        }
    }
    let mut names = HashSet::new();
    for (id, node) in graph.iter_nodes() {
        if !node.name.is_empty() && !names.insert(node.name.as_str()) {
            return Err(IrError::DuplicateNode { node: node.name.clone() });
        }
        for o in node.output_ids() {
            define(o, graph.node_label(id))?;
        }
    }
    for (id, node) in graph.iter_nodes() {
        for v in node.input_ids() {
            if v.0 >= graph.values.len() || !defined.contains_key(&v) {
                let value = graph.values.get(v.0).map_or_else(|| format!("#{}", v.0), |x| x.name.clone());
                return Err(IrError::DanglingInput { node: graph.node_label(id), value });
            }
        }
    }
    for &o in &graph.outputs {
        if !defined.contains_key(&o) {
            return Err(IrError::DanglingOutput { value: graph.value(o).name.clone() });
        }
    }
    crate::topo::topo_order(graph).map(|_| ())
}
