//! Instance normalization (ONNX `InstanceNormalization`).

use super::util::{pad_outputs, same_as_first};
use super::{InferInput, OpDef};
use crate::fact::Fact;

/// Inputs X `[N, C, ..]`, scale `[C]`, B `[C]`; normalises each (n, c) plane.
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceNorm {
    pub epsilon: f32,
}

impl OpDef for InstanceNorm {
    fn op_name(&self) -> &'static str {
        "InstanceNormalization"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        Ok(pad_outputs(same_as_first(inputs)?, n))
    }
}
