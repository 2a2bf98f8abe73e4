//! Affine quantization (ONNX `QuantizeLinear`).

use super::util::{dtype_of, pad_outputs, req};
use super::{InferInput, OpDef};
use crate::dtype::DType;
use crate::fact::Fact;

/// `y = saturate(round_half_even(x / scale) + zero_point)`. Inputs: x, y_scale,
/// optional y_zero_point (its dtype is the output dtype; u8 when absent unless
/// `output_dtype` says otherwise). Scale is a scalar, a vector along `axis`, or
/// blocked along `axis` with `block_size`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QuantizeLinear {
    pub axis: Option<i64>,
    pub saturate: Option<i64>,
    pub block_size: Option<i64>,
    pub output_dtype: Option<DType>,
}

impl OpDef for QuantizeLinear {
    fn op_name(&self) -> &'static str {
        "QuantizeLinear"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let x = req(inputs, 0)?;
        req(inputs, 1)?;
        let dtype = dtype_of(inputs, 2).or(self.output_dtype).unwrap_or(DType::U8);
        Ok(pad_outputs(vec![Fact { dtype: Some(dtype), shape: x.fact.shape.clone() }], n))
    }
}
