//! Element type conversion (ONNX `Cast`).

use super::util::{pad_outputs, req};
use super::{InferInput, OpDef};
use crate::dtype::DType;
use crate::fact::Fact;

/// Converts to `to`; `saturate` (opset 19) only matters for float8 targets.
#[derive(Clone, Debug, PartialEq)]
pub struct Cast {
    pub to: DType,
    pub saturate: Option<i64>,
}

impl OpDef for Cast {
    fn op_name(&self) -> &'static str {
        "Cast"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let x = req(inputs, 0)?;
        Ok(pad_outputs(vec![Fact { dtype: Some(self.to), shape: x.fact.shape.clone() }], n))
    }
}
