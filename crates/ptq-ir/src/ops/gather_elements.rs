//! Elementwise indexing along an axis (ONNX `GatherElements`).

use super::util::{pad_outputs, req};
use super::{InferInput, OpDef};
use crate::fact::Fact;

/// Inputs: data, indices of data's rank; output has the indices' shape.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GatherElements {
    pub axis: i64,
}

impl OpDef for GatherElements {
    fn op_name(&self) -> &'static str {
        "GatherElements"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let x = req(inputs, 0)?;
        let idx = req(inputs, 1)?;
        Ok(pad_outputs(vec![Fact { dtype: x.fact.dtype, shape: idx.fact.shape.clone() }], n))
    }
}
