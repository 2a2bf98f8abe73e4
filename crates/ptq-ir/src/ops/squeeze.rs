//! Remove size-1 axes (ONNX `Squeeze`).

use super::util::{const_ints, norm_axes, opt, pad_outputs, req};
use super::{InferInput, OpDef};
use crate::fact::{Dim, Fact};

/// Inputs: data, optional axes (i64). Without axes, every size-1 axis goes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Squeeze;

impl OpDef for Squeeze {
    fn op_name(&self) -> &'static str {
        "Squeeze"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let x = req(inputs, 0)?;
        let shape = match (&x.fact.shape, const_ints(inputs, 1), opt(inputs, 1).is_some()) {
            (Some(s), Some(axes), _) => {
                let axes = norm_axes(&axes, s.len())?;
                for &a in &axes {
                    if matches!(s[a], Dim::Known(d) if d != 1) {
                        return Err(format!("cannot squeeze axis {a} of size {}", s[a]));
                    }
                }
                Some(s.iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, d)| d.clone()).collect())
            }
            (Some(s), None, false) if s.iter().all(|d| d.known().is_some()) => {
                Some(s.iter().filter(|d| **d != Dim::Known(1)).cloned().collect())
            }
            _ => None,
        };
        Ok(pad_outputs(vec![Fact { dtype: x.fact.dtype, shape }], n))
    }
}
