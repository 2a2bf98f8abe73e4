//! Concatenation along an axis (ONNX `Concat`).

use super::util::{pad_outputs, req};
use super::{InferInput, OpDef};
use crate::fact::{Dim, Fact, norm_axis};

/// All inputs agree on every axis but `axis`, whose sizes add up.
#[derive(Clone, Debug, PartialEq)]
pub struct Concat {
    pub axis: i64,
}

impl OpDef for Concat {
    fn op_name(&self) -> &'static str {
        "Concat"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let first = req(inputs, 0)?;
        let mut shape: Option<Vec<Dim>> = first.fact.shape.clone();
        let rank = inputs.iter().flatten().find_map(|x| x.fact.rank());
        let axis = match rank {
            Some(r) => norm_axis(self.axis, r)?,
            None => return Ok(pad_outputs(vec![Fact::dtype_only(first.fact.dtype)], n)),
        };
        let mut total = Dim::Known(0);
        for x in inputs.iter() {
            let x = x.ok_or("Concat inputs cannot be omitted")?;
            let Some(s) = &x.fact.shape else {
                total = Dim::Unknown;
                continue;
            };
            if s.len() != rank.unwrap_or(0) {
                return Err(format!("inputs have ranks {} and {}", rank.unwrap_or(0), s.len()));
            }
            total = match (&total, &s[axis]) {
                (Dim::Known(a), Dim::Known(b)) => Dim::Known(a + b),
                _ => Dim::Unknown,
            };
            if shape.is_none() {
                shape = Some(s.clone());
            }
        }
        if let Some(s) = shape.as_mut() {
            s[axis] = total;
        }
        Ok(pad_outputs(vec![Fact { dtype: first.fact.dtype, shape }], n))
    }
}
