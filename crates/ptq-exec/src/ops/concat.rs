//! Concat.

use ndarray::{ArrayD, ArrayViewD, Axis};
use ptq_ir::Tensor;
use ptq_ir::ops::concat::Concat;

use super::{Out, one};
use crate::inputs::Inputs;

macro_rules! cat {
    ($ts:expr, $ax:expr, $v:ident) => {{
        let views: Vec<ArrayViewD<'_, _>> = $ts
            .iter()
            .map(|t| match &**t {
                Tensor::$v(a) => Ok(a.view()),
                t => Err(format!("inputs mix dtypes ({})", t.dtype())),
            })
            .collect::<Result<_, String>>()?;
        let r: ArrayD<_> = ndarray::concatenate(Axis($ax), &views).map_err(|e| e.to_string())?;
        Tensor::$v(r)
    }};
}

/// Concatenates all inputs along the axis.
pub fn run(op: &Concat, ins: &mut Inputs, _n: usize) -> Out {
    let ts: Vec<_> = (0..ins.len()).map(|i| ins.shared(i)).collect::<Result<_, _>>()?;
    let first = ts.first().ok_or("Concat needs inputs")?;
    let ax = crate::util::axis(op.axis, first.shape().len())?;
    one(match &**first {
        Tensor::F32(_) => cat!(ts, ax, F32),
        Tensor::F64(_) => cat!(ts, ax, F64),
        Tensor::F16(_) => cat!(ts, ax, F16),
        Tensor::BF16(_) => cat!(ts, ax, BF16),
        Tensor::I8(_) => cat!(ts, ax, I8),
        Tensor::U8(_) => cat!(ts, ax, U8),
        Tensor::I16(_) => cat!(ts, ax, I16),
        Tensor::U16(_) => cat!(ts, ax, U16),
        Tensor::I32(_) => cat!(ts, ax, I32),
        Tensor::U32(_) => cat!(ts, ax, U32),
        Tensor::I64(_) => cat!(ts, ax, I64),
        Tensor::U64(_) => cat!(ts, ax, U64),
        Tensor::Bool(_) => cat!(ts, ax, Bool),
        Tensor::F8E4M3FN(_) => cat!(ts, ax, F8E4M3FN),
        Tensor::F8E4M3FNUZ(_) => cat!(ts, ax, F8E4M3FNUZ),
        Tensor::F8E5M2(_) => cat!(ts, ax, F8E5M2),
        Tensor::F8E5M2FNUZ(_) => cat!(ts, ax, F8E5M2FNUZ),
        Tensor::I4(_) => cat!(ts, ax, I4),
        Tensor::U4(_) => cat!(ts, ax, U4),
        Tensor::String(_) => cat!(ts, ax, String),
    })
}
