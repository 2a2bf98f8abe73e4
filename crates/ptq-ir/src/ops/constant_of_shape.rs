//! A tensor filled with one value (ONNX `ConstantOfShape`).

use super::util::{const_ints, dim_from_i64, pad_outputs, req};
use super::{InferInput, OpDef};
use crate::dtype::DType;
use crate::fact::{Dim, Fact};
use crate::tensor::Tensor;

/// Input: shape (i64). `value` is a one-element tensor (f32 zero when absent).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConstantOfShape {
    pub value: Option<Tensor>,
}

impl OpDef for ConstantOfShape {
    fn op_name(&self) -> &'static str {
        "ConstantOfShape"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let s = req(inputs, 0)?;
        if self.value.as_ref().is_some_and(|v| v.len() != 1) {
            return Err("value must have exactly one element".into());
        }
        let dtype = self.value.as_ref().map_or(DType::F32, Tensor::dtype);
        let shape = match const_ints(inputs, 0) {
            Some(v) => Some(v.iter().map(|&d| dim_from_i64(d)).collect::<Result<_, _>>()?),
            None => match s.fact.shape.as_deref() {
                Some([Dim::Known(r)]) => Some(vec![Dim::Unknown; *r as usize]),
                _ => None,
            },
        };
        Ok(pad_outputs(vec![Fact { dtype: Some(dtype), shape }], n))
    }
}
