//! Binarizer (ai.onnx.ml), which the IR keeps opaque: 1 where `x >
//! threshold` (default 0), else 0, in X's numeric dtype.

use ptq_ir::Tensor;

use super::opaque::{Attrs, kern};
use super::{Kernel, Out, one};
use crate::inputs::Inputs;
use crate::util::Elem;

/// Binarizer's threshold.
#[derive(Clone, Copy, Debug)]
pub struct Binarizer {
    threshold: f64,
}

/// Reads `threshold`.
pub fn prepare(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    kern(Binarizer { threshold: f64::from(a.float("threshold", 0.0)?) }, run)
}

fn binarize<T: Elem>(a: &mut ndarray::ArrayD<T>, t: f64) {
    a.mapv_inplace(|v| T::from_f64(if v.to_f64() > t { 1.0 } else { 0.0 }));
}

/// Runs Binarizer, reusing the input buffer when it dies here.
pub fn run(op: &Binarizer, ins: &mut Inputs, _n: usize) -> Out {
    let mut x = ins.take(0)?;
    let t = op.threshold;
    match &mut x {
        Tensor::F32(a) => binarize(a, t),
        Tensor::F64(a) => binarize(a, t),
        Tensor::I32(a) => binarize(a, t),
        Tensor::I64(a) => binarize(a, t),
        t => return Err(format!("Binarizer of {} is not supported", t.dtype())),
    }
    one(x)
}

#[cfg(test)]
mod tests {
    use ptq_ir::{Attr, Tensor};

    use crate::ops::opaque::{assert_close, test_run_ml};

    #[test]
    fn thresholds() {
        let x = Tensor::from_f32s(&[0.5, 1.0, 1.5]);
        let y = test_run_ml("Binarizer", &[("threshold", Attr::Float(1.0))], vec![x]).unwrap();
        assert_close(&y[0], &[3], &[0.0, 0.0, 1.0]);
    }
}
