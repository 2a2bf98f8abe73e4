//! The k largest or smallest elements along an axis (ONNX `TopK`).

use super::util::{const_ints, dim_from_i64, pad_outputs, req};
use super::{InferInput, OpDef};
use crate::dtype::DType;
use crate::fact::{Dim, Fact, norm_axis};

/// Inputs: X, K (i64 `[1]`). Outputs: values and i64 indices.
#[derive(Clone, Debug, PartialEq)]
pub struct TopK {
    pub axis: i64,
    pub largest: bool,
    pub sorted: bool,
}

impl OpDef for TopK {
    fn op_name(&self) -> &'static str {
        "TopK"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let x = req(inputs, 0)?;
        req(inputs, 1)?;
        let shape = match &x.fact.shape {
            Some(s) => {
                let a = norm_axis(self.axis, s.len())?;
                let mut o = s.clone();
                o[a] = match const_ints(inputs, 1).as_deref() {
                    Some([k]) => dim_from_i64(*k)?,
                    _ => Dim::Unknown,
                };
                Some(o)
            }
            None => None,
        };
        Ok(pad_outputs(
            vec![Fact { dtype: x.fact.dtype, shape: shape.clone() }, Fact { dtype: Some(DType::I64), shape }],
            n,
        ))
    }
}
