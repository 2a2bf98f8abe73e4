//! Reductions over axes (ONNX `ReduceMean`, `ReduceSum`, ...).

use super::util::{const_ints, norm_axes, opt, pad_outputs, req};
use super::{InferInput, OpDef};
use crate::fact::{Dim, Fact};

/// The reduction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceKind {
    Mean,
    Sum,
    Max,
    Min,
    Prod,
    L1,
    L2,
    LogSum,
    LogSumExp,
    SumSquare,
}

impl ReduceKind {
    /// The ONNX op type.
    pub fn name(self) -> &'static str {
        match self {
            ReduceKind::Mean => "ReduceMean",
            ReduceKind::Sum => "ReduceSum",
            ReduceKind::Max => "ReduceMax",
            ReduceKind::Min => "ReduceMin",
            ReduceKind::Prod => "ReduceProd",
            ReduceKind::L1 => "ReduceL1",
            ReduceKind::L2 => "ReduceL2",
            ReduceKind::LogSum => "ReduceLogSum",
            ReduceKind::LogSumExp => "ReduceLogSumExp",
            ReduceKind::SumSquare => "ReduceSumSquare",
        }
    }
}

/// Inputs: data, optional axes (i64). No axes reduces everything unless
/// `noop_with_empty_axes`, in which case the op is the identity.
#[derive(Clone, Debug, PartialEq)]
pub struct Reduce {
    pub kind: ReduceKind,
    pub keepdims: bool,
    pub noop_with_empty_axes: bool,
}

impl OpDef for Reduce {
    fn op_name(&self) -> &'static str {
        self.kind.name()
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let x = req(inputs, 0)?;
        let Some(s) = &x.fact.shape else {
            return Ok(pad_outputs(vec![Fact::dtype_only(x.fact.dtype)], n));
        };
        let axes = match const_ints(inputs, 1) {
            Some(a) if !a.is_empty() => norm_axes(&a, s.len())?,
            Some(_) | None if opt(inputs, 1).is_some_and(|i| i.value.is_none()) => {
                let rank = if self.keepdims { Some(s.len()) } else { None };
                return Ok(pad_outputs(
                    vec![Fact { dtype: x.fact.dtype, shape: rank.map(|r| vec![Dim::Unknown; r]) }],
                    n,
                ));
            }
            _ if self.noop_with_empty_axes => vec![],
            _ => (0..s.len()).collect(),
        };
        let shape = s
            .iter()
            .enumerate()
            .filter_map(|(i, d)| match (axes.contains(&i), self.keepdims) {
                (false, _) => Some(d.clone()),
                (true, true) => Some(Dim::Known(1)),
                (true, false) => None,
            })
            .collect();
        Ok(pad_outputs(vec![Fact { dtype: x.fact.dtype, shape: Some(shape) }], n))
    }
}
