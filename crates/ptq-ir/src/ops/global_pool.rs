//! Global pooling over all spatial axes (ONNX `GlobalAveragePool`, `GlobalMaxPool`).

use super::pool::PoolKind;
use super::util::{pad_outputs, req};
use super::{InferInput, OpDef};
use crate::fact::{Dim, Fact};

/// Input X `[N, C, D1..]`; output `[N, C, 1..]`.
#[derive(Clone, Debug, PartialEq)]
pub struct GlobalPool {
    pub kind: PoolKind,
}

impl OpDef for GlobalPool {
    fn op_name(&self) -> &'static str {
        match self.kind {
            PoolKind::Max => "GlobalMaxPool",
            PoolKind::Avg => "GlobalAveragePool",
        }
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let x = req(inputs, 0)?;
        let shape = match &x.fact.shape {
            Some(s) if s.len() < 2 => return Err(format!("input rank {} < 2", s.len())),
            Some(s) => Some(s.iter().enumerate().map(|(i, d)| if i < 2 { d.clone() } else { Dim::Known(1) }).collect()),
            None => None,
        };
        Ok(pad_outputs(vec![Fact { dtype: x.fact.dtype, shape }], n))
    }
}
