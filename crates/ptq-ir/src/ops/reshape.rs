//! Reshape (ONNX `Reshape`): target shape from an i64 input.

use super::util::{const_ints, dim_from_i64, dim_product, pad_outputs, req, shape_of};
use super::{InferInput, OpDef};
use crate::fact::{Dim, Fact};

/// Inputs: data, shape (i64). A 0 copies the input dim (unless `allowzero`),
/// one -1 is inferred from the element count.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reshape {
    pub allowzero: bool,
}

/// Resolves a reshape target against the input shape.
pub fn reshape_dims(input: Option<&Vec<Dim>>, target: &[i64], allowzero: bool) -> Result<Vec<Dim>, String> {
    let mut out = Vec::with_capacity(target.len());
    let mut infer_at = None;
    for (i, &t) in target.iter().enumerate() {
        out.push(match t {
            -1 => {
                if infer_at.replace(i).is_some() {
                    return Err("more than one -1 in reshape target".into());
                }
                Dim::Unknown
            }
            0 if !allowzero => match input.and_then(|s| s.get(i)) {
                Some(d) => d.clone(),
                None if input.is_some() => return Err(format!("0 at position {i} beyond input rank")),
                None => Dim::Unknown,
            },
            t => dim_from_i64(t)?,
        });
    }
    if let (Some(at), Some(inp)) = (infer_at, input)
        && let (Dim::Known(total), Dim::Known(rest)) = (
            dim_product(inp),
            dim_product(&out.iter().enumerate().filter(|(i, _)| *i != at).map(|(_, d)| d.clone()).collect::<Vec<_>>()),
        )
    {
        if rest == 0 || total % rest != 0 {
            return Err(format!("cannot reshape {total} elements into a multiple of {rest}"));
        }
        out[at] = Dim::Known(total / rest);
    }
    Ok(out)
}

impl OpDef for Reshape {
    fn op_name(&self) -> &'static str {
        "Reshape"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let x = req(inputs, 0)?;
        let s = req(inputs, 1)?;
        let shape = match const_ints(inputs, 1) {
            Some(t) => Some(reshape_dims(shape_of(inputs, 0), &t, self.allowzero)?),
            None => match s.fact.shape.as_deref() {
                Some([Dim::Known(r)]) => Some(vec![Dim::Unknown; *r as usize]),
                _ => None,
            },
        };
        Ok(pad_outputs(vec![Fact { dtype: x.fact.dtype, shape }], n))
    }
}
