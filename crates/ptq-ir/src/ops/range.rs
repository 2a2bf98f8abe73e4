//! Arithmetic sequence (ONNX `Range`).

use super::util::{opt, pad_outputs, req};
use super::{InferInput, OpDef};
use crate::fact::{Dim, Fact};

/// Inputs: start, limit, delta (scalars of one type); output
/// `max(ceil((limit - start) / delta), 0)` elements.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Range;

impl OpDef for Range {
    fn op_name(&self) -> &'static str {
        "Range"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let start = req(inputs, 0)?;
        req(inputs, 1)?;
        req(inputs, 2)?;
        let scalar =
            |i: usize| opt(inputs, i).and_then(|x| x.value).map(|t| t.to_f64_vec()).and_then(|v| v.first().copied());
        let len = match (scalar(0), scalar(1), scalar(2)) {
            (Some(s), Some(l), Some(d)) if d != 0.0 => Dim::Known(((l - s) / d).ceil().max(0.0) as u64),
            (_, _, Some(0.0)) => return Err("delta is 0".into()),
            _ => Dim::Unknown,
        };
        Ok(pad_outputs(vec![Fact { dtype: start.fact.dtype, shape: Some(vec![len]) }], n))
    }
}
