//! IsInf, which the IR keeps opaque: a bool tensor of X's shape, true where
//! X is +∞ (when `detect_positive` ≠ 0, default 1) or −∞ (when
//! `detect_negative` ≠ 0, default 1); floats only.

use ptq_ir::Tensor;

use super::opaque::{Attrs, kern};
use super::{Kernel, Out, one};
use crate::inputs::Inputs;

/// The signs detected.
#[derive(Clone, Copy, Debug)]
pub struct IsInf {
    pos: bool,
    neg: bool,
}

/// Reads `detect_positive` and `detect_negative`.
pub fn prepare(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    kern(IsInf { pos: a.int("detect_positive", 1)? != 0, neg: a.int("detect_negative", 1)? != 0 }, run)
}

/// Runs IsInf.
pub fn run(op: &IsInf, ins: &mut Inputs, _n: usize) -> Out {
    let test = |v: f64| (op.pos && v == f64::INFINITY) || (op.neg && v == f64::NEG_INFINITY);
    one(Tensor::Bool(match ins.get(0)? {
        Tensor::F32(a) => a.mapv(|v| test(f64::from(v))),
        Tensor::F64(a) => a.mapv(test),
        Tensor::F16(a) => a.mapv(|v| test(v.to_f64())),
        Tensor::BF16(a) => a.mapv(|v| test(v.to_f64())),
        t => return Err(format!("IsInf of {} is not supported", t.dtype())),
    }))
}

#[cfg(test)]
mod tests {
    use ndarray::{ArrayD, IxDyn};
    use ptq_ir::{Attr, Tensor};

    use crate::ops::opaque::test_run;

    #[test]
    fn detects_the_chosen_signs() {
        let x = Tensor::from_f32s(&[1.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN]);
        let b = |v: &[bool]| Tensor::Bool(ArrayD::from_shape_vec(IxDyn(&[4]), v.to_vec()).unwrap());
        assert_eq!(test_run("IsInf", &[], vec![x.clone()]).unwrap()[0], b(&[false, true, true, false]));
        let pos = [("detect_negative", Attr::Int(0))];
        assert_eq!(test_run("IsInf", &pos, vec![x]).unwrap()[0], b(&[false, true, false, false]));
    }
}
