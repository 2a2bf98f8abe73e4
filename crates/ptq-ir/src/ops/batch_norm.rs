//! Batch normalization (ONNX `BatchNormalization`), inference form.

use super::util::{pad_outputs, req, same_as_first, shape_of};
use super::{InferInput, OpDef};
use crate::fact::{Dim, Fact};

/// Inputs: X `[N, C, ..]`, scale, B, input_mean, input_var (each `[C]`).
/// Outputs: Y, and in training mode running mean and variance.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchNorm {
    pub epsilon: f32,
    pub momentum: f32,
    pub training_mode: bool,
}

impl Default for BatchNorm {
    fn default() -> Self {
        BatchNorm { epsilon: 1e-5, momentum: 0.9, training_mode: false }
    }
}

impl OpDef for BatchNorm {
    fn op_name(&self) -> &'static str {
        "BatchNormalization"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        for i in 1..5 {
            req(inputs, i)?;
        }
        let mut out = same_as_first(inputs)?;
        let c = shape_of(inputs, 0).and_then(|s| s.get(1)).cloned().unwrap_or(Dim::Unknown);
        let dtype = out[0].dtype;
        out.push(Fact { dtype, shape: Some(vec![c.clone()]) });
        out.push(Fact { dtype, shape: Some(vec![c]) });
        Ok(pad_outputs(out, n))
    }
}
