//! Affine dequantization (ONNX `DequantizeLinear`).

use super::util::{dtype_of, pad_outputs, req};
use super::{InferInput, OpDef};
use crate::fact::Fact;

/// `y = (x - zero_point) * scale`. Inputs: x (integer), x_scale, optional
/// x_zero_point; output has the scale's dtype.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DequantizeLinear {
    pub axis: Option<i64>,
    pub block_size: Option<i64>,
}

impl OpDef for DequantizeLinear {
    fn op_name(&self) -> &'static str {
        "DequantizeLinear"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let x = req(inputs, 0)?;
        req(inputs, 1)?;
        Ok(pad_outputs(vec![Fact { dtype: dtype_of(inputs, 1), shape: x.fact.shape.clone() }], n))
    }
}
