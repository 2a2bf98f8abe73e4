//! Shrink, which the IR keeps opaque: `y = x + bias` where `x < −lambd`,
//! `x − bias` where `x > lambd`, else 0 (`lambd` default 0.5, `bias` default
//! 0); floats and integers, same dtype.

use ptq_ir::Tensor;

use super::opaque::{Attrs, kern};
use super::{Kernel, Out, one};
use crate::inputs::Inputs;
use crate::util::Elem;

/// Shrink's settings.
#[derive(Clone, Copy, Debug)]
pub struct Shrink {
    lambd: f64,
    bias: f64,
}

/// Reads `lambd` and `bias`.
pub fn prepare(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    kern(Shrink { lambd: f64::from(a.float("lambd", 0.5)?), bias: f64::from(a.float("bias", 0.0)?) }, run)
}

fn shrink<T: Elem>(a: &mut ndarray::ArrayD<T>, op: &Shrink) {
    a.mapv_inplace(|v| {
        let x = v.to_f64();
        T::from_f64(if x < -op.lambd {
            x + op.bias
        } else if x > op.lambd {
            x - op.bias
        } else {
            0.0
        })
    });
}

/// Runs Shrink, reusing the input buffer when it dies here.
pub fn run(op: &Shrink, ins: &mut Inputs, _n: usize) -> Out {
    let mut x = ins.take(0)?;
    match &mut x {
        Tensor::F32(a) => shrink(a, op),
        Tensor::F64(a) => shrink(a, op),
        Tensor::F16(a) => shrink(a, op),
        Tensor::BF16(a) => shrink(a, op),
        Tensor::I8(a) => shrink(a, op),
        Tensor::U8(a) => shrink(a, op),
        Tensor::I16(a) => shrink(a, op),
        Tensor::U16(a) => shrink(a, op),
        Tensor::I32(a) => shrink(a, op),
        Tensor::U32(a) => shrink(a, op),
        Tensor::I64(a) => shrink(a, op),
        Tensor::U64(a) => shrink(a, op),
        t => return Err(format!("Shrink of {} is not supported", t.dtype())),
    }
    one(x)
}

#[cfg(test)]
mod tests {
    use ptq_ir::{Attr, Tensor};

    use crate::ops::opaque::{assert_close, test_run};

    #[test]
    fn shrinks_toward_zero() {
        let x = Tensor::from_f32s(&[-2.0, -1.0, 0.0, 1.0, 2.0]);
        let soft = [("lambd", Attr::Float(1.5)), ("bias", Attr::Float(1.5))];
        assert_close(&test_run("Shrink", &soft, vec![x.clone()]).unwrap()[0], &[5], &[-0.5, 0.0, 0.0, 0.0, 0.5]);
        assert_close(&test_run("Shrink", &[], vec![x]).unwrap()[0], &[5], &[-2.0, -1.0, 0.0, 1.0, 2.0]);
    }
}
