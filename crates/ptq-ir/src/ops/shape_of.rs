//! The shape of a tensor as an i64 vector (ONNX `Shape`).

use super::util::{pad_outputs, req};
use super::{InferInput, OpDef};
use crate::dtype::DType;
use crate::fact::{Dim, Fact};

/// Output `shape[start..end]` with numpy-style clamped bounds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShapeOf {
    pub start: Option<i64>,
    pub end: Option<i64>,
}

impl ShapeOf {
    /// The selected range of axes for `rank`.
    pub fn range(&self, rank: usize) -> std::ops::Range<usize> {
        let r = rank as i64;
        let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
        let s = clamp(self.start.unwrap_or(0));
        let e = clamp(self.end.unwrap_or(r));
        s..e.max(s)
    }
}

impl OpDef for ShapeOf {
    fn op_name(&self) -> &'static str {
        "Shape"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let x = req(inputs, 0)?;
        let len = x.fact.rank().map_or(Dim::Unknown, |r| Dim::Known(self.range(r).len() as u64));
        Ok(pad_outputs(vec![Fact::new(DType::I64, vec![len])], n))
    }
}
