//! Dropout (ONNX `Dropout`): the identity at inference.

use super::util::{pad_outputs, req};
use super::{InferInput, OpDef};
use crate::dtype::DType;
use crate::fact::Fact;

/// Inputs: data, optional ratio, optional training_mode. Outputs: output, optional mask.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dropout {
    pub seed: Option<i64>,
}

impl OpDef for Dropout {
    fn op_name(&self) -> &'static str {
        "Dropout"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let x = req(inputs, 0)?;
        let mask = Fact { dtype: Some(DType::Bool), shape: x.fact.shape.clone() };
        Ok(pad_outputs(vec![x.fact.clone(), mask], n))
    }
}
