//! Elementwise reductions over any number of broadcast inputs.

use super::util::{pad_outputs, req};
use super::{InferInput, OpDef};
use crate::fact::{Fact, broadcast};

/// The reduction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VariadicKind {
    Sum,
    Mean,
    Min,
    Max,
}

/// `Y = f(X1, .., Xn)` with numpy broadcasting (ONNX `Sum`, `Mean`, `Min`, `Max`).
#[derive(Clone, Debug, PartialEq)]
pub struct Variadic {
    pub kind: VariadicKind,
}

impl OpDef for Variadic {
    fn op_name(&self) -> &'static str {
        match self.kind {
            VariadicKind::Sum => "Sum",
            VariadicKind::Mean => "Mean",
            VariadicKind::Min => "Min",
            VariadicKind::Max => "Max",
        }
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let first = req(inputs, 0)?;
        let mut shape = first.fact.shape.clone();
        for x in inputs.iter().skip(1) {
            let x = x.ok_or("inputs of a variadic op cannot be omitted")?;
            shape = match (shape, &x.fact.shape) {
                (Some(a), Some(b)) => Some(broadcast(&a, b)?),
                _ => None,
            };
        }
        Ok(pad_outputs(vec![Fact { dtype: first.fact.dtype, shape }], n))
    }
}
