//! HannWindow, HammingWindow and BlackmanWindow, which the IR keeps opaque:
//! a 1-D window of the scalar `size`, `w[n] = a0 − a1·cos(2πn/N) +
//! a2·cos(4πn/N)` with N = size when `periodic` (default 1), else size − 1;
//! (a0, a1, a2) = (0.5, 0.5, 0) for Hann, (25/46, 21/46, 0) for Hamming,
//! (0.42, 0.5, 0.08) for Blackman. Output type: the ONNX code
//! `output_datatype` (default float).

use ptq_ir::{DType, Tensor};

use super::opaque::{Attrs, kern, onnx_dtype};
use super::{Kernel, Out, one};
use crate::inputs::Inputs;

/// A window's coefficients and settings.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    a: [f64; 3],
    periodic: bool,
    dtype: DType,
}

/// The kernel for op type `t`, `None` when it is not a window.
pub fn prepare(t: &str, a: &Attrs<'_>) -> Option<Result<Box<dyn Kernel>, String>> {
    let coef = match t {
        "HannWindow" => [0.5, 0.5, 0.0],
        "HammingWindow" => [25.0 / 46.0, 21.0 / 46.0, 0.0],
        "BlackmanWindow" => [0.42, 0.5, 0.08],
        _ => return None,
    };
    let build = || -> Result<Box<dyn Kernel>, String> {
        let w =
            Window { a: coef, periodic: a.int("periodic", 1)? != 0, dtype: onnx_dtype(a.int("output_datatype", 1)?)? };
        kern(w, run)
    };
    Some(build())
}

/// Runs the window.
pub fn run(op: &Window, ins: &mut Inputs, _n: usize) -> Out {
    let size = match ins.ints(0)?.as_slice() {
        [s] if (0..=1 << 30).contains(s) => *s as usize,
        s => return Err(format!("size must be one non-negative integer, got {s:?}")),
    };
    let n = if op.periodic { size as f64 } else { size as f64 - 1.0 };
    let tau = 2.0 * std::f64::consts::PI;
    let v: Vec<f32> = (0..size)
        .map(|i| {
            let x = tau * i as f64 / n;
            (op.a[0] - op.a[1] * x.cos() + op.a[2] * (2.0 * x).cos()) as f32
        })
        .collect();
    one(super::cast::cast(Tensor::F32(crate::util::array(&[size], v)?), op.dtype, true)?)
}

#[cfg(test)]
mod tests {
    use ptq_ir::{Attr, Tensor};

    use crate::ops::opaque::{assert_close, test_run};

    #[test]
    fn periodic_and_symmetric_windows() {
        let four = Tensor::from_i64s(&[4]);
        assert_close(&test_run("HannWindow", &[], vec![four.clone()]).unwrap()[0], &[4], &[0.0, 0.5, 1.0, 0.5]);
        let sym = [("periodic", Attr::Int(0))];
        assert_close(&test_run("HannWindow", &sym, vec![Tensor::from_i64s(&[3])]).unwrap()[0], &[3], &[0.0, 1.0, 0.0]);
        let h = test_run("HammingWindow", &[], vec![Tensor::from_i64s(&[2])]).unwrap();
        assert_close(&h[0], &[2], &[4.0 / 46.0, 1.0]);
        let b = test_run("BlackmanWindow", &[], vec![Tensor::from_i64s(&[2])]).unwrap();
        assert_close(&b[0], &[2], &[0.0, 1.0]);
    }
}
