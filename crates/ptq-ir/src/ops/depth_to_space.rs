//! Depth to space rearrangement (ONNX `DepthToSpace`).

use super::util::{dim_mul, pad_outputs, req};
use super::{InferInput, OpDef};
use crate::fact::{Dim, Fact};

/// `[N, C, H, W]` to `[N, C/b², H·b, W·b]`; `crd` selects column-row-depth order
/// (ONNX mode "CRD"), otherwise depth-column-row ("DCR").
#[derive(Clone, Debug, PartialEq)]
pub struct DepthToSpace {
    pub blocksize: i64,
    pub crd: bool,
}

impl OpDef for DepthToSpace {
    fn op_name(&self) -> &'static str {
        "DepthToSpace"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let x = req(inputs, 0)?;
        let b = u64::try_from(self.blocksize).ok().filter(|&b| b > 0).ok_or("blocksize must be positive")?;
        let shape = match &x.fact.shape {
            Some(s) if s.len() != 4 => return Err(format!("input rank {} != 4", s.len())),
            Some(s) => {
                let c = match s[1] {
                    Dim::Known(c) if c % (b * b) != 0 => {
                        return Err(format!("channels {c} not divisible by {}", b * b));
                    }
                    Dim::Known(c) => Dim::Known(c / (b * b)),
                    _ => Dim::Unknown,
                };
                Some(vec![s[0].clone(), c, dim_mul(&s[2], &Dim::Known(b)), dim_mul(&s[3], &Dim::Known(b))])
            }
            None => Some(vec![Dim::Unknown; 4]),
        };
        Ok(pad_outputs(vec![Fact { dtype: x.fact.dtype, shape }], n))
    }
}
