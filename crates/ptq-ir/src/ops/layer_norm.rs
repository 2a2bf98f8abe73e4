//! Layer normalization (ONNX `LayerNormalization`).

use super::util::{pad_outputs, req};
use super::{InferInput, OpDef};
use crate::dtype::DType;
use crate::fact::{Dim, Fact, norm_axis};

/// Normalises over axes `axis..rank`. Inputs X, Scale, optional B. Outputs Y,
/// optional Mean and InvStdDev (reduced axes kept as size 1).
#[derive(Clone, Debug, PartialEq)]
pub struct LayerNorm {
    pub axis: i64,
    pub epsilon: f32,
    /// ONNX element type code of the computation (1 = f32).
    pub stash_type: i64,
}

impl Default for LayerNorm {
    fn default() -> Self {
        LayerNorm { axis: -1, epsilon: 1e-5, stash_type: 1 }
    }
}

impl OpDef for LayerNorm {
    fn op_name(&self) -> &'static str {
        "LayerNormalization"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let x = req(inputs, 0)?;
        req(inputs, 1)?;
        let stat_shape = match &x.fact.shape {
            Some(s) => {
                let a = norm_axis(self.axis, s.len())?;
                Some(s.iter().enumerate().map(|(i, d)| if i < a { d.clone() } else { Dim::Known(1) }).collect())
            }
            None => None,
        };
        let stat = Fact { dtype: Some(DType::F32), shape: stat_shape };
        Ok(pad_outputs(vec![x.fact.clone(), stat.clone(), stat], n))
    }
}
