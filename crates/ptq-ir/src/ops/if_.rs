//! If: runs one of two subgraphs.

use super::body::{Body, join};
use super::{InferInput, OpDef};
use crate::fact::Fact;

/// Inputs: `cond` (a one-element bool tensor), then the captures of
/// `then_branch`, then those of `else_branch` (see [`super::body`]). Outputs:
/// the outputs of the branch `cond` selects (`then_branch` when true); both
/// branches have the same number of outputs and no formal inputs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct If {
    pub then_branch: Body,
    pub else_branch: Body,
}

impl If {
    /// The bodies in node-input order of their captures.
    pub fn bodies(&self) -> [&Body; 2] {
        [&self.then_branch, &self.else_branch]
    }
}

impl OpDef for If {
    fn op_name(&self) -> &'static str {
        "If"
    }

    fn infer(&self, _inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let (t, e) = (self.then_branch.graph.outputs.len(), self.else_branch.graph.outputs.len());
        if t != e {
            return Err(format!("then_branch has {t} outputs but else_branch has {e}"));
        }
        if n > t {
            return Err(format!("the node has {n} outputs but its branches have {t}"));
        }
        Ok((0..n).map(|i| join(&self.then_branch.output_fact(i), &self.else_branch.output_fact(i))).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::fact::Dim;
    use crate::graph::{Graph, Value};

    fn branch(fact: Fact) -> Body {
        let mut g = Graph::default();
        let v = g.add_value(Value { name: "y".into(), fact, ..Value::default() });
        g.inputs.push(v);
        g.outputs.push(v);
        Body::new(g, 1)
    }

    #[test]
    fn outputs_join_the_branch_facts() {
        let op = If {
            then_branch: branch(Fact::new(DType::F32, vec![Dim::Known(2)])),
            else_branch: branch(Fact::new(DType::F32, vec![Dim::Known(3)])),
        };
        assert_eq!(op.infer(&[], 1).unwrap(), vec![Fact::new(DType::F32, vec![Dim::Unknown])]);
        assert!(op.infer(&[], 2).is_err());
    }
}
