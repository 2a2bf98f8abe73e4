//! Scan: runs a subgraph once per slice of its scan inputs.

use super::body::{Body, capture_count, join};
use super::{InferInput, OpDef};
use crate::fact::{Dim, Fact, norm_axis};

/// ONNX `Scan` (opset 9 and later unless `batched`). Inputs: the `N`
/// initial state values, the `M = num_scan_inputs` scan inputs, then the
/// body's captures (see [`super::body`]). The body's formal inputs are the
/// `N` states and one slice of each scan input (the input with its scan axis
/// removed); its outputs are the `N` next states and `K` slices. Scan input
/// `j` is sliced along `scan_input_axes[j]` (default 0), from the end when
/// `scan_input_directions[j]` is 1; every scan input must have the same
/// length there. The node's outputs are the `N` final states and the `K`
/// scan outputs: the slices stacked along `scan_output_axes[k]` (default 0;
/// negative counts from the end of the output's rank), in reverse order when
/// `scan_output_directions[k]` is 1.
///
/// `batched` is opset 8's form: a first input `sequence_lens` (optional; only
/// full lengths are supported), every state and scan input with a leading
/// batch axis that the body does not see, scan inputs sliced along axis 1
/// (of the batched tensor), directions in `scan_input_directions` (opset 8's
/// `directions`), scan outputs stacked along axis 1.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scan {
    pub body: Body,
    pub num_scan_inputs: usize,
    pub scan_input_axes: Option<Vec<i64>>,
    pub scan_input_directions: Option<Vec<i64>>,
    pub scan_output_axes: Option<Vec<i64>>,
    pub scan_output_directions: Option<Vec<i64>>,
    pub batched: bool,
}

impl Scan {
    /// The number of state values `N` of a node with `n_inputs` inputs.
    pub fn states(&self, n_inputs: usize) -> Result<usize, String> {
        let fixed = self.num_scan_inputs + usize::from(self.batched) + capture_count([&self.body]);
        n_inputs.checked_sub(fixed).ok_or_else(|| {
            format!("Scan has {n_inputs} inputs, fewer than its {} scan inputs and captures", self.num_scan_inputs)
        })
    }

    /// Input `j`'s scan axis (not normalised) and direction.
    pub fn input_axis(&self, j: usize) -> (i64, i64) {
        let get = |v: &Option<Vec<i64>>| v.as_ref().and_then(|v| v.get(j).copied()).unwrap_or(0);
        (get(&self.scan_input_axes), get(&self.scan_input_directions))
    }

    /// Scan output `k`'s axis (not normalised) and direction.
    pub fn output_axis(&self, k: usize) -> (i64, i64) {
        let get = |v: &Option<Vec<i64>>| v.as_ref().and_then(|v| v.get(k).copied()).unwrap_or(0);
        (get(&self.scan_output_axes), get(&self.scan_output_directions))
    }
}

impl OpDef for Scan {
    fn op_name(&self) -> &'static str {
        "Scan"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let states = self.states(inputs.len())?;
        let first = usize::from(self.batched);
        if self.body.formal != states + self.num_scan_inputs {
            return Err(format!(
                "the body takes {} inputs, expected {states} states + {} scan inputs",
                self.body.formal, self.num_scan_inputs
            ));
        }
        let outs = self.body.graph.outputs.len();
        if outs < states || n > outs {
            return Err(format!("the body has {outs} outputs; the node has {states} states and {n} outputs"));
        }
        let fact = |i: usize| inputs.get(i).copied().flatten().map(|x| x.fact.clone()).unwrap_or_default();
        let length = if self.num_scan_inputs == 0 {
            Dim::Unknown
        } else {
            let f = fact(first + states);
            let axis = if self.batched { 1 } else { self.input_axis(0).0 };
            match &f.shape {
                Some(s) => norm_axis(axis, s.len()).map_or(Dim::Unknown, |a| s[a].clone()),
                None => Dim::Unknown,
            }
        };
        let batch = if self.batched {
            fact(first).shape.and_then(|s| s.first().cloned()).unwrap_or(Dim::Unknown)
        } else {
            Dim::Unknown
        };
        (0..n)
            .map(|i| {
                let body = self.body.output_fact(i);
                if i < states {
                    let body = match (self.batched, body.shape) {
                        (true, Some(s)) => Fact { dtype: body.dtype, shape: Some(prepend(&batch, s)) },
                        (true, None) => Fact::dtype_only(body.dtype),
                        (false, shape) => Fact { dtype: body.dtype, shape },
                    };
                    return Ok(join(&fact(first + i), &body));
                }
                let Some(mut shape) = body.shape else { return Ok(Fact::dtype_only(body.dtype)) };
                if self.batched {
                    shape.insert(0, length.clone());
                    return Ok(Fact { dtype: body.dtype, shape: Some(prepend(&batch, shape)) });
                }
                let axis = norm_axis(self.output_axis(i - states).0, shape.len() + 1)?;
                shape.insert(axis, length.clone());
                Ok(Fact { dtype: body.dtype, shape: Some(shape) })
            })
            .collect()
    }
}

fn prepend(d: &Dim, s: Vec<Dim>) -> Vec<Dim> {
    std::iter::once(d.clone()).chain(s).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::graph::{Graph, Value};

    #[test]
    fn scan_outputs_take_the_scan_length_at_their_axis() {
        let mut g = Graph::default();
        let mut add = |name: &str, fact: Fact| g.add_value(Value { name: name.into(), fact, ..Value::default() });
        let s = add("s", Fact::new(DType::F32, vec![Dim::Known(2)]));
        let x = add("x", Fact::new(DType::F32, vec![Dim::Known(2)]));
        g.inputs = vec![s, x];
        g.outputs = vec![s, x];
        let op = Scan {
            body: Body::new(g, 2),
            num_scan_inputs: 1,
            scan_input_axes: Some(vec![1]),
            scan_output_axes: Some(vec![-1]),
            ..Scan::default()
        };
        let init = Fact::new(DType::F32, vec![Dim::Known(2)]);
        let xs = Fact::new(DType::F32, vec![Dim::Known(2), Dim::Known(5)]);
        let ins = [Some(InferInput { fact: &init, value: None }), Some(InferInput { fact: &xs, value: None })];
        let facts = op.infer(&ins, 2).unwrap();
        assert_eq!(facts[0], init);
        assert_eq!(facts[1], Fact::new(DType::F32, vec![Dim::Known(2), Dim::Known(5)]));
    }
}
