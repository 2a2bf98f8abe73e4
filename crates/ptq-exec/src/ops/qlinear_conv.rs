//! QLinearConv, which the IR keeps opaque: the integer convolution of
//! [`super::conv_integer`] plus the optional i32 bias, requantized as
//! `rint(acc · x_scale · w_scale[m] / y_scale) + y_zero_point`, saturated to
//! y_zero_point's type (u8 or i8); `w_scale` is a scalar or one value per
//! output channel.

use super::conv_integer::{ConvGeometry, corrected, int_conv};
use super::matmul_integer::per_line;
use super::opaque::{Attrs, kern};
use super::qlinear_matmul::requantize;
use super::{Kernel, Out, one};
use crate::inputs::Inputs;

/// Reads the attributes.
pub fn prepare(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    kern(ConvGeometry::from_attrs(a)?, run)
}

/// Runs QLinearConv.
pub fn run(op: &ConvGeometry, ins: &mut Inputs, _n: usize) -> Out {
    let (x, w) = corrected(ins, 0, 2, 3, 5)?;
    let (mut acc, shape) = int_conv(op, &x, ins.get(0)?.shape(), &w, ins.get(3)?.shape())?;
    let m = shape[1];
    let inner: usize = shape[2..].iter().product();
    if let Some(b) = ins.opt(8) {
        let b = b.to_i64_vec().ok_or("B must be integers")?;
        if b.len() != m {
            return Err(format!("B has {} values for {m} output channels", b.len()));
        }
        for (i, v) in acc.iter_mut().enumerate() {
            *v = v.wrapping_add(b[(i / inner.max(1)) % m] as i32);
        }
    }
    let xs = match ins.get(1)?.to_f64_vec().as_slice() {
        [s] => *s,
        s => return Err(format!("x_scale must be a scalar, has {} values", s.len())),
    };
    let ws = per_line(&ins.get(4)?.to_f64_vec(), m, "w_scale")?;
    let ys = match ins.get(6)?.to_f64_vec().as_slice() {
        [s] => *s,
        s => return Err(format!("y_scale must be a scalar, has {} values", s.len())),
    };
    let yz = ins.get(7)?;
    let zp = match yz.to_f64_vec().as_slice() {
        [z] => *z,
        z => return Err(format!("y_zero_point must be a scalar, has {} values", z.len())),
    };
    // Rows are output channels, columns the positions of one channel.
    let mult = |ch: usize, _| f64::from((xs * ws[ch] / ys) as f32);
    one(requantize(&acc, &shape, m, inner, mult, zp, yz)?)
}

#[cfg(test)]
mod tests {
    use ptq_ir::Tensor;

    use crate::ops::opaque::test_run;

    fn u8s(shape: &[usize], v: &[u8]) -> Tensor {
        Tensor::U8(crate::util::array(shape, v.to_vec()).unwrap())
    }

    #[test]
    fn requantizes_with_bias() {
        let s = |v: f32| Tensor::F32(ndarray::ArrayD::from_elem(ndarray::IxDyn(&[]), v));
        let x = u8s(&[1, 1, 2], &[3, 5]);
        let w = u8s(&[1, 1, 1], &[2]);
        // (x − 1) · 2 + 4 = [8, 12]; · 0.5 · 1 / 2 = [2, 3]; + 10.
        let b = Tensor::I32(crate::util::array(&[1], vec![4]).unwrap());
        let ins = vec![x, s(0.5), u8s(&[], &[1]), w, s(1.0), u8s(&[], &[0]), s(2.0), u8s(&[], &[10]), b];
        assert_eq!(test_run("QLinearConv", &[], ins).unwrap()[0], u8s(&[1, 1, 2], &[12, 13]));
    }
}
