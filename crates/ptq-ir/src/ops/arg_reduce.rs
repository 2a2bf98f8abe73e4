//! Index of the extreme value along an axis (ONNX `ArgMax`, `ArgMin`).

use super::util::{pad_outputs, req};
use super::{InferInput, OpDef};
use crate::dtype::DType;
use crate::fact::{Dim, Fact, norm_axis};

/// Output is i64 with `axis` kept as size 1 or removed.
#[derive(Clone, Debug, PartialEq)]
pub struct ArgReduce {
    pub max: bool,
    pub axis: i64,
    pub keepdims: bool,
    pub select_last_index: bool,
}

impl OpDef for ArgReduce {
    fn op_name(&self) -> &'static str {
        if self.max { "ArgMax" } else { "ArgMin" }
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let x = req(inputs, 0)?;
        let shape = match &x.fact.shape {
            Some(s) => {
                let a = norm_axis(self.axis, s.len())?;
                let mut o = s.clone();
                if self.keepdims {
                    o[a] = Dim::Known(1);
                } else {
                    o.remove(a);
                }
                Some(o)
            }
            None => None,
        };
        Ok(pad_outputs(vec![Fact { dtype: Some(DType::I64), shape }], n))
    }
}
