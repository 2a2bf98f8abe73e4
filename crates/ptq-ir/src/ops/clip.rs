//! Clamping (ONNX `Clip`): bounds are optional scalar inputs.

use super::util::{pad_outputs, same_as_first};
use super::{InferInput, OpDef};
use crate::fact::Fact;

/// Inputs: X, optional min, optional max (scalars).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Clip;

impl OpDef for Clip {
    fn op_name(&self) -> &'static str {
        "Clip"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        Ok(pad_outputs(same_as_first(inputs)?, n))
    }
}
