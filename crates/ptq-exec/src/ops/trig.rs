//! The trigonometric and hyperbolic functions the IR keeps opaque (Tan,
//! Sinh, Cosh, Asin, Acos, Atan, Asinh, Acosh, Atanh): `Y = f(X)` elementwise
//! on f32, f64, f16 and bf16, same shape; f32 and the 16-bit types are
//! computed in f64 and rounded once.

use ptq_ir::Tensor;

use super::Out;
use super::opaque::{Attrs, kern};
use crate::inputs::Inputs;

/// Which function.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Trig {
    Tan,
    Sinh,
    Cosh,
    Asin,
    Acos,
    Atan,
    Asinh,
    Acosh,
    Atanh,
}

impl Trig {
    /// The function for an ONNX op type.
    pub fn from_op_type(t: &str) -> Option<Trig> {
        use Trig::*;
        Some(match t {
            "Tan" => Tan,
            "Sinh" => Sinh,
            "Cosh" => Cosh,
            "Asin" => Asin,
            "Acos" => Acos,
            "Atan" => Atan,
            "Asinh" => Asinh,
            "Acosh" => Acosh,
            "Atanh" => Atanh,
            _ => return None,
        })
    }

    fn f(self) -> fn(f64) -> f64 {
        use Trig::*;
        match self {
            Tan => f64::tan,
            Sinh => f64::sinh,
            Cosh => f64::cosh,
            Asin => f64::asin,
            Acos => f64::acos,
            Atan => f64::atan,
            Asinh => f64::asinh,
            Acosh => f64::acosh,
            Atanh => f64::atanh,
        }
    }
}

/// The kernel for one of the functions.
pub fn prepare(t: Trig, _a: &Attrs<'_>) -> Result<Box<dyn super::Kernel>, String> {
    kern(t, run)
}

/// Applies the function, reusing the input buffer when it dies here.
pub fn run(op: &Trig, ins: &mut Inputs, _n: usize) -> Out {
    let f = op.f();
    super::one(match ins.take(0)? {
        Tensor::F32(mut a) => {
            a.mapv_inplace(|x| f(f64::from(x)) as f32);
            Tensor::F32(a)
        }
        Tensor::F64(mut a) => {
            a.mapv_inplace(f);
            Tensor::F64(a)
        }
        Tensor::F16(mut a) => {
            a.mapv_inplace(|x| half::f16::from_f64(f(x.to_f64())));
            Tensor::F16(a)
        }
        Tensor::BF16(mut a) => {
            a.mapv_inplace(|x| half::bf16::from_f64(f(x.to_f64())));
            Tensor::BF16(a)
        }
        t => return Err(format!("{op:?} of {} is not supported", t.dtype())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::opaque::{assert_close, test_run};

    #[test]
    fn computes_each_function() {
        let x = Tensor::from_f32s(&[0.0, 0.5]);
        let cases = [
            ("Tan", [0.0, 0.546_302_5]),
            ("Sinh", [0.0, 0.521_095_3]),
            ("Cosh", [1.0, 1.127_626]),
            ("Asin", [0.0, std::f32::consts::FRAC_PI_6]),
            ("Acos", [std::f32::consts::FRAC_PI_2, std::f32::consts::FRAC_PI_3]),
            ("Atan", [0.0, 0.463_647_6]),
            ("Asinh", [0.0, 0.481_211_8]),
            ("Atanh", [0.0, 0.549_306_1]),
        ];
        for (t, want) in cases {
            let y = test_run(t, &[], vec![x.clone()]).unwrap();
            assert_close(&y[0], &[2], &want);
        }
        let y = test_run("Acosh", &[], vec![Tensor::from_f32s(&[1.0])]).unwrap();
        assert_close(&y[0], &[1], &[0.0]);
        assert!(test_run("Tan", &[], vec![Tensor::from_i64s(&[1])]).is_err());
    }
}
