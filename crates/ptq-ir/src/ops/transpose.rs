//! Axis permutation (ONNX `Transpose`).

use super::util::{pad_outputs, req};
use super::{InferInput, OpDef};
use crate::fact::Fact;

/// Output axis `i` is input axis `perm[i]`; no `perm` reverses the axes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Transpose {
    pub perm: Option<Vec<i64>>,
}

impl Transpose {
    /// The permutation for an input of `rank`, validated.
    pub fn resolved_perm(&self, rank: usize) -> Result<Vec<usize>, String> {
        let perm: Vec<usize> = match &self.perm {
            None => (0..rank).rev().collect(),
            Some(p) => p
                .iter()
                .map(|&a| usize::try_from(a).map_err(|_| format!("negative perm entry {a}")))
                .collect::<Result<_, _>>()?,
        };
        let mut seen = vec![false; rank];
        if perm.len() != rank {
            return Err(format!("perm has {} entries for rank {rank}", perm.len()));
        }
        for &p in &perm {
            if p >= rank || std::mem::replace(&mut seen[p], true) {
                return Err(format!("perm {perm:?} is not a permutation of 0..{rank}"));
            }
        }
        Ok(perm)
    }
}

impl OpDef for Transpose {
    fn op_name(&self) -> &'static str {
        "Transpose"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let x = req(inputs, 0)?;
        let shape = match &x.fact.shape {
            Some(s) => Some(self.resolved_perm(s.len())?.iter().map(|&p| s[p].clone()).collect()),
            None => self.perm.as_ref().map(|p| vec![crate::fact::Dim::Unknown; p.len()]),
        };
        Ok(pad_outputs(vec![Fact { dtype: x.fact.dtype, shape }], n))
    }
}
