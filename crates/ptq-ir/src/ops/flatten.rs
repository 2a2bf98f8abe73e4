//! Flatten to a matrix (ONNX `Flatten`).

use super::util::{dim_product, pad_outputs, req};
use super::{InferInput, OpDef};
use crate::fact::Fact;

/// Output `[prod(dims[..axis]), prod(dims[axis..])]`; negative axes count from the end.
#[derive(Clone, Debug, PartialEq)]
pub struct Flatten {
    pub axis: i64,
}

impl OpDef for Flatten {
    fn op_name(&self) -> &'static str {
        "Flatten"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let x = req(inputs, 0)?;
        let shape = match &x.fact.shape {
            Some(s) => {
                let r = s.len() as i64;
                let a = if self.axis < 0 { self.axis + r } else { self.axis };
                if !(0..=r).contains(&a) {
                    return Err(format!("axis {} out of range for rank {r}", self.axis));
                }
                let (l, rr) = s.split_at(a as usize);
                Some(vec![dim_product(l), dim_product(rr)])
            }
            None => Some(vec![crate::fact::Dim::Unknown; 2]),
        };
        Ok(pad_outputs(vec![Fact { dtype: x.fact.dtype, shape }], n))
    }
}
