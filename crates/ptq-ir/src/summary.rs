//! Counts for `inspect`: op histogram, parameters.

use std::collections::BTreeMap;

use crate::graph::{ConstSource, Graph};

/// What a graph contains, in numbers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Node count per op name, sorted by name.
    pub op_histogram: BTreeMap<String, usize>,
    /// Elements in stored and node-produced constants.
    pub param_count: u64,
    /// Bytes in stored and node-produced constants.
    pub param_bytes: u64,
    pub node_count: usize,
}

impl Summary {
    /// Summarises `graph`.
    pub fn of(graph: &Graph) -> Summary {
        let mut s = Summary { node_count: graph.node_count(), ..Summary::default() };
        for (_, n) in graph.iter_nodes() {
            *s.op_histogram.entry(n.op.name().to_string()).or_default() += 1;
        }
        for v in &graph.values {
            if let (Some(t), false) = (&v.constant, v.const_source == ConstSource::Derived) {
                s.param_count += t.len() as u64;
                s.param_bytes += t.byte_size() as u64;
            }
        }
        s
    }
}
