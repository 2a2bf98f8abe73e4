//! Repeat along each axis (ONNX `Tile`).

use super::util::{const_ints, dim_from_i64, dim_mul, pad_outputs, req};
use super::{InferInput, OpDef};
use crate::fact::Fact;

/// Inputs: data, repeats (i64, one per axis).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tile;

impl OpDef for Tile {
    fn op_name(&self) -> &'static str {
        "Tile"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let x = req(inputs, 0)?;
        req(inputs, 1)?;
        let shape = match (&x.fact.shape, const_ints(inputs, 1)) {
            (Some(s), Some(r)) => {
                if r.len() != s.len() {
                    return Err(format!("{} repeats for rank {}", r.len(), s.len()));
                }
                Some(
                    s.iter()
                        .zip(&r)
                        .map(|(d, &k)| dim_from_i64(k).map(|k| dim_mul(d, &k)))
                        .collect::<Result<_, _>>()?,
                )
            }
            (s, _) => s.as_ref().map(|s| vec![crate::fact::Dim::Unknown; s.len()]),
        };
        Ok(pad_outputs(vec![Fact { dtype: x.fact.dtype, shape }], n))
    }
}
