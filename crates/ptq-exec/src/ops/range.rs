//! Range.

use ptq_ir::Tensor;
use ptq_ir::ops::range::Range;

use super::{Out, one};
use crate::inputs::Inputs;
use crate::util::array;

const MAX_ELEMENTS: f64 = (1u64 << 31) as f64;

/// Runs Range for f32, f64, i32 and i64 scalars.
pub fn run(_op: &Range, ins: &mut Inputs, _n: usize) -> Out {
    let (s, l, d) = (ins.get(0)?, ins.get(1)?, ins.get(2)?);
    let scalar = |t: &Tensor| t.to_f64_vec().first().copied().ok_or_else(|| "inputs must be scalars".to_string());
    let (fs, fl, fd) = (scalar(s)?, scalar(l)?, scalar(d)?);
    if fd == 0.0 {
        return Err("delta is 0".into());
    }
    let n = ((fl - fs) / fd).ceil().max(0.0);
    if !(n <= MAX_ELEMENTS) {
        return Err(format!("range of {n} elements is too large"));
    }
    let n = n as usize;
    one(match (s, d) {
        (Tensor::F32(a), Tensor::F32(b)) => {
            let (st, dl) = (a.iter().next().copied().unwrap_or(0.0), b.iter().next().copied().unwrap_or(1.0));
            Tensor::F32(array(&[n], (0..n).map(|i| st + i as f32 * dl).collect())?)
        }
        (Tensor::F64(_), _) => Tensor::F64(array(&[n], (0..n).map(|i| fs + i as f64 * fd).collect())?),
        (Tensor::I64(a), Tensor::I64(b)) => {
            let (st, dl) = (a.iter().next().copied().unwrap_or(0), b.iter().next().copied().unwrap_or(1));
            Tensor::I64(array(&[n], (0..n as i64).map(|i| st + i * dl).collect())?)
        }
        (Tensor::I32(a), Tensor::I32(b)) => {
            let (st, dl) = (a.iter().next().copied().unwrap_or(0), b.iter().next().copied().unwrap_or(1));
            Tensor::I32(array(&[n], (0..n as i32).map(|i| st + i * dl).collect())?)
        }
        (t, _) => return Err(format!("Range of {} is not supported", t.dtype())),
    })
}
