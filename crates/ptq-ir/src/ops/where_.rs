//! Elementwise selection (ONNX `Where`).

use super::util::{pad_outputs, req};
use super::{InferInput, OpDef};
use crate::fact::{Fact, broadcast};

/// Inputs: condition (bool), X, Y, broadcast together.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Where;

impl OpDef for Where {
    fn op_name(&self) -> &'static str {
        "Where"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let c = req(inputs, 0)?;
        let x = req(inputs, 1)?;
        let y = req(inputs, 2)?;
        let shape = match (&c.fact.shape, &x.fact.shape, &y.fact.shape) {
            (Some(a), Some(b), Some(d)) => Some(broadcast(&broadcast(a, b)?, d)?),
            _ => None,
        };
        Ok(pad_outputs(vec![Fact { dtype: x.fact.dtype.or(y.fact.dtype), shape }], n))
    }
}
