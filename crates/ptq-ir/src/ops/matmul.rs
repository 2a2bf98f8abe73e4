//! Matrix product with numpy semantics (ONNX `MatMul`): batched and broadcast.

use super::util::{pad_outputs, req};
use super::{InferInput, OpDef};
use crate::fact::{Dim, Fact, broadcast};

/// Inputs A `[.., M, K]` and B `[.., K, N]`; rank-1 operands are promoted and the
/// promoted axis removed from the result.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MatMul;

/// Output shape of a numpy matmul.
pub fn matmul_shape(a: &[Dim], b: &[Dim]) -> Result<Vec<Dim>, String> {
    if a.is_empty() || b.is_empty() {
        return Err("MatMul operands must have rank >= 1".into());
    }
    let a2: Vec<Dim> = if a.len() == 1 { vec![Dim::Known(1), a[0].clone()] } else { a.to_vec() };
    let b2: Vec<Dim> = if b.len() == 1 { vec![b[0].clone(), Dim::Known(1)] } else { b.to_vec() };
    let (ka, kb) = (&a2[a2.len() - 1], &b2[b2.len() - 2]);
    if let (Dim::Known(x), Dim::Known(y)) = (ka, kb)
        && x != y
    {
        return Err(format!("inner dimensions differ: {x} vs {y}"));
    }
    let mut out = broadcast(&a2[..a2.len() - 2], &b2[..b2.len() - 2])?;
    if a.len() > 1 {
        out.push(a2[a2.len() - 2].clone());
    }
    if b.len() > 1 {
        out.push(b2[b2.len() - 1].clone());
    }
    Ok(out)
}

impl OpDef for MatMul {
    fn op_name(&self) -> &'static str {
        "MatMul"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let a = req(inputs, 0)?;
        let b = req(inputs, 1)?;
        let shape = match (&a.fact.shape, &b.fact.shape) {
            (Some(x), Some(y)) => Some(matmul_shape(x, y)?),
            _ => None,
        };
        Ok(pad_outputs(vec![Fact { dtype: a.fact.dtype, shape }], n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batched_and_vector_shapes() {
        let k = |v: &[u64]| v.iter().map(|&x| Dim::Known(x)).collect::<Vec<_>>();
        assert_eq!(matmul_shape(&k(&[2, 1, 3, 4]), &k(&[5, 4, 6])).unwrap(), k(&[2, 5, 3, 6]));
        assert_eq!(matmul_shape(&k(&[4]), &k(&[4, 6])).unwrap(), k(&[6]));
        assert_eq!(matmul_shape(&k(&[3, 4]), &k(&[4])).unwrap(), k(&[3]));
        assert!(matmul_shape(&k(&[3, 4]), &k(&[5, 6])).is_err());
    }
}
