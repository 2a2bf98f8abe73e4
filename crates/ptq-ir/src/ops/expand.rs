//! Broadcast to a shape (ONNX `Expand`).

use super::util::{const_ints, dim_from_i64, pad_outputs, req};
use super::{InferInput, OpDef};
use crate::fact::{Dim, Fact, broadcast};

/// Inputs: data, shape (i64); the output is the broadcast of both shapes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Expand;

impl OpDef for Expand {
    fn op_name(&self) -> &'static str {
        "Expand"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let x = req(inputs, 0)?;
        let s = req(inputs, 1)?;
        let shape = match (&x.fact.shape, const_ints(inputs, 1)) {
            (Some(xs), Some(t)) => {
                let t: Vec<Dim> = t.iter().map(|&v| dim_from_i64(v)).collect::<Result<_, _>>()?;
                Some(broadcast(xs, &t)?)
            }
            (xs, _) => match s.fact.shape.as_deref() {
                Some([Dim::Known(r)]) => Some(vec![Dim::Unknown; (*r as usize).max(xs.as_ref().map_or(0, Vec::len))]),
                _ => None,
            },
        };
        Ok(pad_outputs(vec![Fact { dtype: x.fact.dtype, shape }], n))
    }
}
