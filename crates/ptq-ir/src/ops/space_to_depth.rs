//! Space to depth rearrangement (ONNX `SpaceToDepth`).

use super::util::{dim_mul, pad_outputs, req};
use super::{InferInput, OpDef};
use crate::fact::{Dim, Fact};

/// `[N, C, H, W]` to `[N, C·b², H/b, W/b]`.
#[derive(Clone, Debug, PartialEq)]
pub struct SpaceToDepth {
    pub blocksize: i64,
}

impl OpDef for SpaceToDepth {
    fn op_name(&self) -> &'static str {
        "SpaceToDepth"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let x = req(inputs, 0)?;
        let b = u64::try_from(self.blocksize).ok().filter(|&b| b > 0).ok_or("blocksize must be positive")?;
        let div = |d: &Dim| -> Result<Dim, String> {
            match d {
                Dim::Known(v) if v % b != 0 => Err(format!("spatial size {v} not divisible by {b}")),
                Dim::Known(v) => Ok(Dim::Known(v / b)),
                _ => Ok(Dim::Unknown),
            }
        };
        let shape = match &x.fact.shape {
            Some(s) if s.len() != 4 => return Err(format!("input rank {} != 4", s.len())),
            Some(s) => Some(vec![s[0].clone(), dim_mul(&s[1], &Dim::Known(b * b)), div(&s[2])?, div(&s[3])?]),
            None => Some(vec![Dim::Unknown; 4]),
        };
        Ok(pad_outputs(vec![Fact { dtype: x.fact.dtype, shape }], n))
    }
}
