//! Indexing along an axis (ONNX `Gather`).

use super::util::{pad_outputs, req};
use super::{InferInput, OpDef};
use crate::fact::{Fact, norm_axis};

/// Inputs: data, indices (i32/i64). Output shape:
/// `data[..axis] ++ indices ++ data[axis+1..]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Gather {
    pub axis: i64,
}

impl OpDef for Gather {
    fn op_name(&self) -> &'static str {
        "Gather"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let x = req(inputs, 0)?;
        let idx = req(inputs, 1)?;
        let shape = match (&x.fact.shape, &idx.fact.shape) {
            (Some(d), Some(i)) => {
                let a = norm_axis(self.axis, d.len())?;
                Some(d[..a].iter().chain(i.iter()).chain(d[a + 1..].iter()).cloned().collect())
            }
            _ => None,
        };
        Ok(pad_outputs(vec![Fact { dtype: x.fact.dtype, shape }], n))
    }
}
