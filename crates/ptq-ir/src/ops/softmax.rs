//! Softmax-family normalisations (ONNX `Softmax`, `LogSoftmax`, `Hardmax`).

use super::util::{pad_outputs, req};
use super::{InferInput, OpDef};
use crate::fact::{Fact, norm_axis};

/// Which function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SoftmaxKind {
    Softmax,
    LogSoftmax,
    Hardmax,
}

/// Normalises along `axis`. With `coerce_2d` (ONNX opsets below 13) the input is
/// viewed as a matrix `[prod(dims[..axis]), prod(dims[axis..])]` and normalised
/// along its rows; otherwise along the single axis.
#[derive(Clone, Debug, PartialEq)]
pub struct Softmax {
    pub kind: SoftmaxKind,
    pub axis: i64,
    pub coerce_2d: bool,
}

impl Softmax {
    /// Whether both semantics agree for an input of this rank (the axis is the last one).
    pub fn is_last_axis(&self, rank: usize) -> bool {
        norm_axis(self.axis, rank).is_ok_and(|a| a + 1 == rank)
    }
}

impl OpDef for Softmax {
    fn op_name(&self) -> &'static str {
        match self.kind {
            SoftmaxKind::Softmax => "Softmax",
            SoftmaxKind::LogSoftmax => "LogSoftmax",
            SoftmaxKind::Hardmax => "Hardmax",
        }
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let x = req(inputs, 0)?;
        if let Some(r) = x.fact.rank() {
            norm_axis(self.axis, r)?;
        }
        Ok(pad_outputs(vec![x.fact.clone()], n))
    }
}
