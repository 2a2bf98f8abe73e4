//! A control-flow op's subgraph ([`Body`]) and helpers shared by `If`,
//! `Loop` and `Scan`.
//!
//! A body is a real [`Graph`]. Its inputs are the op's formal parameters
//! (`formal` of them: a loop's iteration number and condition, a scan's
//! slices...) followed by its *captures*: values of the enclosing graph the
//! body reads by name (ONNX lexical scoping). The node reading the body
//! receives the captured values as trailing inputs, after its own inputs,
//! one per capture, body after body in the op's body order. So topological
//! order, liveness, validation and patches of the enclosing graph see the
//! dependency, and rewiring a node input rewires what the body reads.

use crate::fact::{Dim, Fact};
use crate::graph::{Graph, ValueId};

/// A subgraph of a control-flow op.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Body {
    pub graph: Graph,
    /// How many leading `graph.inputs` are formal parameters; the rest are captures.
    pub formal: usize,
}

impl Body {
    /// A body whose inputs are all formal parameters.
    pub fn new(graph: Graph, formal: usize) -> Body {
        Body { graph, formal }
    }

    /// The graph inputs standing for outer-scope values, in node-input order.
    pub fn captures(&self) -> &[ValueId] {
        self.graph.inputs.get(self.formal..).unwrap_or(&[])
    }

    /// The formal parameters.
    pub fn params(&self) -> &[ValueId] {
        &self.graph.inputs[..self.formal.min(self.graph.inputs.len())]
    }

    /// The declared or inferred fact of body output `i`.
    pub fn output_fact(&self, i: usize) -> Fact {
        self.graph.outputs.get(i).map(|&v| self.graph.value(v).fact.clone()).unwrap_or_default()
    }
}

/// Number of node inputs the captures of `bodies` take (they come last).
pub fn capture_count<'a>(bodies: impl IntoIterator<Item = &'a Body>) -> usize {
    bodies.into_iter().map(|b| b.captures().len()).sum()
}

/// The most precise fact that holds for both `a` and `b` (the facts of two
/// branches that may produce the value): dtype when equal, rank when equal,
/// each dim when equal.
pub fn join(a: &Fact, b: &Fact) -> Fact {
    let dtype = if a.dtype == b.dtype { a.dtype } else { None };
    let shape = match (&a.shape, &b.shape) {
        (Some(x), Some(y)) if x.len() == y.len() => {
            Some(x.iter().zip(y).map(|(p, q)| if p == q { p.clone() } else { Dim::Unknown }).collect())
        }
        _ => None,
    };
    Fact { dtype, shape }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;

    #[test]
    fn join_keeps_what_both_facts_agree_on() {
        let a = Fact::new(DType::F32, vec![Dim::Known(2), Dim::Known(3)]);
        let b = Fact::new(DType::F32, vec![Dim::Known(2), Dim::Known(4)]);
        assert_eq!(join(&a, &b), Fact::new(DType::F32, vec![Dim::Known(2), Dim::Unknown]));
        let c = Fact::new(DType::I64, vec![Dim::Known(2)]);
        assert_eq!(join(&a, &c), Fact::default());
    }
}
