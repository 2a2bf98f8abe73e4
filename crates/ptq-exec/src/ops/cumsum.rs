//! CumSum, which the IR keeps opaque: it matters to execution, not quantization.

use ndarray::Axis;
use ptq_ir::{Attr, Tensor};

use super::{Out, one};
use crate::inputs::Inputs;

/// CumSum's attributes, read from the opaque node.
#[derive(Clone, Debug)]
pub struct CumSum {
    exclusive: bool,
    reverse: bool,
}

impl CumSum {
    /// Reads `exclusive` and `reverse`.
    pub fn from_attrs(attrs: &[(String, Attr)]) -> Result<CumSum, String> {
        let flag = |name: &str| match attrs.iter().find(|(k, _)| k == name) {
            None => Ok(false),
            Some((_, Attr::Int(v))) => Ok(*v != 0),
            Some(_) => Err(format!("attribute {name} must be an int")),
        };
        Ok(CumSum { exclusive: flag("exclusive")?, reverse: flag("reverse")? })
    }
}

macro_rules! scan {
    ($a:expr, $ax:expr, $op:expr, $zero:expr, $add:expr) => {{
        let add = $add;
        let mut a = $a;
        for mut lane in a.lanes_mut(Axis($ax)) {
            let n = lane.len();
            let mut acc = $zero;
            for step in 0..n {
                let i = if $op.reverse { n - 1 - step } else { step };
                let v = lane[i];
                if $op.exclusive {
                    lane[i] = acc;
                    acc = add(acc, v);
                } else {
                    acc = add(acc, v);
                    lane[i] = acc;
                }
            }
        }
        a
    }};
}

/// Runs CumSum on f32, f64, i32, i64, u32 and u64 (integer sums wrap).
pub fn run(op: &CumSum, ins: &mut Inputs, _n: usize) -> Out {
    let axis = ins.ints(1)?;
    let x = ins.take(0)?;
    let ax = crate::util::axis(*axis.first().ok_or("axis must have one element")?, x.shape().len())?;
    one(match x {
        Tensor::F32(a) => Tensor::F32(scan!(a, ax, op, 0.0f32, |p: f32, q: f32| p + q)),
        Tensor::F64(a) => Tensor::F64(scan!(a, ax, op, 0.0f64, |p: f64, q: f64| p + q)),
        Tensor::I32(a) => Tensor::I32(scan!(a, ax, op, 0i32, i32::wrapping_add)),
        Tensor::I64(a) => Tensor::I64(scan!(a, ax, op, 0i64, i64::wrapping_add)),
        Tensor::U32(a) => Tensor::U32(scan!(a, ax, op, 0u32, u32::wrapping_add)),
        Tensor::U64(a) => Tensor::U64(scan!(a, ax, op, 0u64, u64::wrapping_add)),
        t => return Err(format!("CumSum of {} is not supported", t.dtype())),
    })
}
