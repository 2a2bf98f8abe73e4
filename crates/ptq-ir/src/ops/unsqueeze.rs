//! Insert size-1 axes (ONNX `Unsqueeze`).

use super::util::{const_ints, norm_axes, pad_outputs, req};
use super::{InferInput, OpDef};
use crate::fact::{Dim, Fact};

/// Inputs: data, axes (i64, positions in the output).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Unsqueeze;

impl OpDef for Unsqueeze {
    fn op_name(&self) -> &'static str {
        "Unsqueeze"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let x = req(inputs, 0)?;
        req(inputs, 1)?;
        let shape = match (&x.fact.shape, const_ints(inputs, 1)) {
            (Some(s), Some(axes)) => {
                let rank = s.len() + axes.len();
                let axes = norm_axes(&axes, rank)?;
                let mut src = s.iter();
                Some(
                    (0..rank)
                        .map(|i| {
                            if axes.contains(&i) { Dim::Known(1) } else { src.next().cloned().unwrap_or(Dim::Unknown) }
                        })
                        .collect(),
                )
            }
            _ => None,
        };
        Ok(pad_outputs(vec![Fact { dtype: x.fact.dtype, shape }], n))
    }
}
