//! General matrix multiply (ONNX `Gemm`): `Y = alpha * A' * B' + beta * C`.

use super::util::{pad_outputs, req, shape_of};
use super::{InferInput, OpDef};
use crate::fact::{Dim, Fact};

/// Inputs: A `[M, K]` (or `[K, M]` with `trans_a`), B `[K, N]` (or `[N, K]`), optional C.
#[derive(Clone, Debug, PartialEq)]
pub struct Gemm {
    pub alpha: f32,
    pub beta: f32,
    pub trans_a: bool,
    pub trans_b: bool,
}

impl Default for Gemm {
    fn default() -> Self {
        Gemm { alpha: 1.0, beta: 1.0, trans_a: false, trans_b: false }
    }
}

impl OpDef for Gemm {
    fn op_name(&self) -> &'static str {
        "Gemm"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let a = req(inputs, 0)?;
        req(inputs, 1)?;
        let pick = |s: Option<&Vec<Dim>>, t: bool, which: usize| -> Result<Dim, String> {
            match s {
                Some(s) if s.len() != 2 => Err(format!("Gemm operand has rank {}, expected 2", s.len())),
                Some(s) => Ok(s[if t { 1 - which } else { which }].clone()),
                None => Ok(Dim::Unknown),
            }
        };
        let m = pick(shape_of(inputs, 0), self.trans_a, 0)?;
        let ka = pick(shape_of(inputs, 0), self.trans_a, 1)?;
        let kb = pick(shape_of(inputs, 1), self.trans_b, 0)?;
        let nn = pick(shape_of(inputs, 1), self.trans_b, 1)?;
        if let (Dim::Known(x), Dim::Known(y)) = (&ka, &kb)
            && x != y
        {
            return Err(format!("inner dimensions differ: {x} vs {y}"));
        }
        Ok(pad_outputs(vec![Fact { dtype: a.fact.dtype, shape: Some(vec![m, nn]) }], n))
    }
}
