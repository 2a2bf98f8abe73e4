//! QLinearMatMul, which the IR keeps opaque: the integer product of
//! `(a − a_zero_point)` and `(b − b_zero_point)` (see
//! [`super::matmul_integer`]) requantized as `rint(acc · (a_scale · b_scale
//! / y_scale)) + y_zero_point`, saturated to y_zero_point's type (u8 or i8).
//! The multiplier is computed in the scales' type (f32 or f16) as the ONNX
//! reference does; `a_scale` may hold one value per row of A and `b_scale`
//! one per column of B.

use ptq_ir::Tensor;

use super::matmul_integer::{corrected, int_matmul, per_line};
use super::opaque::{Attrs, kern};
use super::{Kernel, Out, one};
use crate::inputs::Inputs;

/// Needs no settings.
pub fn prepare(_a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    kern((), run)
}

/// Rounds through the scales' float type.
fn rounder(t: &Tensor) -> Result<fn(f64) -> f64, String> {
    match t {
        Tensor::F32(_) => Ok(|v| v as f32 as f64),
        Tensor::F16(_) => Ok(|v| half::f16::from_f64(v).to_f64()),
        Tensor::BF16(_) => Ok(|v| half::bf16::from_f64(v).to_f64()),
        Tensor::F64(_) => Ok(|v| v),
        t => Err(format!("scales must be floats, are {}", t.dtype())),
    }
}

/// Requantizes i32 accumulators of shape `[.., rows, cols]` with
/// multipliers `m(row, col)` and zero point `zp`, saturating to `like`'s
/// 8-bit type.
pub fn requantize(
    acc: &[i32],
    shape: &[usize],
    rows: usize,
    cols: usize,
    m: impl Fn(usize, usize) -> f64,
    zp: f64,
    like: &Tensor,
) -> Result<Tensor, String> {
    let q = |i: usize, v: i32| {
        let (r, c) = ((i / cols.max(1)) % rows.max(1), i % cols.max(1));
        (f64::from(v) * m(r, c)).round_ties_even() + zp
    };
    Ok(match like {
        Tensor::U8(_) => Tensor::U8(crate::util::array(
            shape,
            acc.iter().enumerate().map(|(i, &v)| q(i, v).clamp(0.0, 255.0) as u8).collect(),
        )?),
        Tensor::I8(_) => Tensor::I8(crate::util::array(
            shape,
            acc.iter().enumerate().map(|(i, &v)| q(i, v).clamp(-128.0, 127.0) as i8).collect(),
        )?),
        t => return Err(format!("the output zero point must be u8 or i8, is {}", t.dtype())),
    })
}

/// Runs QLinearMatMul.
pub fn run(_op: &(), ins: &mut Inputs, _n: usize) -> Out {
    let [(a, ashape), (b, bshape)] = corrected(ins, 0, 2, 3, 5)?;
    let (acc, shape) = int_matmul(&a, &ashape, &b, &bshape)?;
    let m = if ashape.len() > 1 { ashape[ashape.len() - 2] } else { 1 };
    let n = if bshape.len() > 1 { bshape[bshape.len() - 1] } else { 1 };
    let rt = rounder(ins.get(1)?)?;
    let a_scale = per_line(&ins.get(1)?.to_f64_vec(), m, "a_scale")?;
    let b_scale = per_line(&ins.get(4)?.to_f64_vec(), n, "b_scale")?;
    let y_scale = per_line(&ins.get(6)?.to_f64_vec(), n, "y_scale")?;
    let yz = ins.get(7)?;
    let zp = match yz.to_f64_vec().as_slice() {
        [z] => *z,
        z => return Err(format!("y_zero_point must be a scalar, has {} values", z.len())),
    };
    let mult = |r: usize, c: usize| rt(rt(a_scale[r] * b_scale[c]) / y_scale[c]);
    one(requantize(&acc, &shape, m, n, mult, zp, yz)?)
}

#[cfg(test)]
mod tests {
    use ptq_ir::Tensor;

    use crate::ops::opaque::test_run;

    fn u8s(shape: &[usize], v: &[u8]) -> Tensor {
        Tensor::U8(crate::util::array(shape, v.to_vec()).unwrap())
    }

    #[test]
    fn requantizes_the_integer_product() {
        let a = u8s(&[1, 2], &[3, 5]);
        let b = u8s(&[2, 1], &[2, 4]);
        let s = |v: f32| Tensor::F32(ndarray::ArrayD::from_elem(ndarray::IxDyn(&[]), v));
        // (3−1)(2−0) + (5−1)(4−0) = 20; 20 · 0.5 · 0.25 / 0.5 = 5, + 10.
        let ins = vec![a, s(0.5), u8s(&[], &[1]), b, s(0.25), u8s(&[], &[0]), s(0.5), u8s(&[], &[10])];
        assert_eq!(test_run("QLinearMatMul", &[], ins).unwrap()[0], u8s(&[1, 1], &[15]));
    }
}
