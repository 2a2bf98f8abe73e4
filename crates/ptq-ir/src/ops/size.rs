//! Element count as an i64 scalar (ONNX `Size`).

use super::util::{pad_outputs, req};
use super::{InferInput, OpDef};
use crate::dtype::DType;
use crate::fact::Fact;

/// Output: rank-0 i64.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Size;

impl OpDef for Size {
    fn op_name(&self) -> &'static str {
        "Size"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        req(inputs, 0)?;
        Ok(pad_outputs(vec![Fact::new(DType::I64, vec![])], n))
    }
}
