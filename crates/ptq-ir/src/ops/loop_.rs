//! Loop: runs a subgraph until a trip count or a condition stops it.

use super::body::{Body, capture_count, join};
use super::{InferInput, OpDef};
use crate::fact::{Dim, Fact};

/// ONNX `Loop`. Inputs: `M` (optional i64 max trip count), `cond` (optional
/// bool), the `N` initial loop-carried values, then the body's captures (see
/// [`super::body`]). The body's formal inputs are the iteration number (i64
/// scalar), the condition (bool scalar) and the `N` carried values; its
/// outputs are the next condition, the `N` next carried values and `K` scan
/// outputs. The node's outputs are the `N` final carried values, then the
/// `K` scan outputs: each iteration's value stacked along a new first axis.
/// The loop runs while the iteration number is below `M` (when given) and
/// the condition holds (when given; it is checked before each iteration).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Loop {
    pub body: Body,
}

impl Loop {
    /// The number of loop-carried values `N` of a node with `n_inputs` inputs.
    pub fn carried(&self, n_inputs: usize) -> Result<usize, String> {
        n_inputs
            .checked_sub(2 + capture_count([&self.body]))
            .ok_or_else(|| format!("Loop needs at least 2 inputs before its {} captures", self.body.captures().len()))
    }
}

impl OpDef for Loop {
    fn op_name(&self) -> &'static str {
        "Loop"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let carried = self.carried(inputs.len())?;
        if self.body.formal != 2 + carried {
            return Err(format!("the body takes {} inputs, expected 2 + {carried}", self.body.formal));
        }
        let outs = self.body.graph.outputs.len();
        if outs < 1 + carried || n > outs - 1 {
            return Err(format!("the body has {outs} outputs; the node has {carried} carried values and {n} outputs"));
        }
        Ok((0..n)
            .map(|i| {
                let body = self.body.output_fact(1 + i);
                if i < carried {
                    let init = inputs.get(2 + i).copied().flatten().map(|x| x.fact.clone()).unwrap_or_default();
                    join(&init, &body)
                } else {
                    let shape = body.shape.map(|s| std::iter::once(Dim::Unknown).chain(s).collect());
                    Fact { dtype: body.dtype, shape }
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::graph::{Graph, Value};

    #[test]
    fn scan_outputs_get_a_leading_unknown_dim() {
        let mut g = Graph::default();
        let mut add = |name: &str, fact: Fact| g.add_value(Value { name: name.into(), fact, ..Value::default() });
        let i = add("i", Fact::new(DType::I64, vec![]));
        let c = add("c", Fact::new(DType::Bool, vec![]));
        let x = add("x", Fact::new(DType::F32, vec![Dim::Known(2)]));
        let s = add("s", Fact::new(DType::F32, vec![Dim::Known(3)]));
        g.inputs = vec![i, c, x];
        g.outputs = vec![c, x, s];
        let op = Loop { body: Body::new(g, 3) };
        let init = Fact::new(DType::F32, vec![Dim::Known(2)]);
        let ins = [None, None, Some(InferInput { fact: &init, value: None })];
        let facts = op.infer(&ins, 2).unwrap();
        assert_eq!(facts[0], init);
        assert_eq!(facts[1], Fact::new(DType::F32, vec![Dim::Unknown, Dim::Known(3)]));
    }
}
