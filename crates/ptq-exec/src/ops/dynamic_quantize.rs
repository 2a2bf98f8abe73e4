//! DynamicQuantizeLinear, which the IR keeps opaque: quantizes f32 X to u8
//! with a scale and zero point from its own range, which is widened to hold
//! 0: `scale = (max(0, max x) − min(0, min x)) / 255`, `zero_point =
//! clamp(round(−min / scale), 0, 255)`, `y = clamp(round(x / scale) +
//! zero_point, 0, 255)`, rounding half to even. Outputs y, the f32 scale and
//! the u8 zero point (scalars).

use ndarray::{ArrayD, IxDyn};
use ptq_ir::Tensor;

use super::opaque::{Attrs, kern};
use super::{Kernel, Out};
use crate::inputs::Inputs;

/// Needs no settings.
pub fn prepare(_a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    kern((), run)
}

/// Runs DynamicQuantizeLinear.
pub fn run(_op: &(), ins: &mut Inputs, _n: usize) -> Out {
    let x = crate::util::f32s(ins.get(0)?)?;
    let (lo, hi) = x.iter().fold((0.0f32, 0.0f32), |(l, h), &v| (l.min(v), h.max(v)));
    let scale = (hi - lo) / 255.0;
    let zp = if scale == 0.0 { 0.0 } else { (-lo / scale).round_ties_even().clamp(0.0, 255.0) };
    let y = x.mapv(|v| {
        let q = if scale == 0.0 { 0.0 } else { (v / scale).round_ties_even() };
        (q + zp).clamp(0.0, 255.0) as u8
    });
    let (scale, zp) = (ArrayD::from_elem(IxDyn(&[]), scale), ArrayD::from_elem(IxDyn(&[]), zp as u8));
    Ok(vec![Some(Tensor::U8(y)), Some(Tensor::F32(scale)), Some(Tensor::U8(zp))])
}

#[cfg(test)]
mod tests {
    use ndarray::{ArrayD, IxDyn};
    use ptq_ir::Tensor;

    use crate::ops::opaque::test_run_opt;

    #[test]
    fn quantizes_with_its_own_range() {
        let x = Tensor::from_f32s(&[0.0, 2.0, -3.0, 1000.0, -4.0, 51.0]);
        let y = test_run_opt("DynamicQuantizeLinear", &[], vec![Some(x)], 3).unwrap();
        // scale = 1004 / 255, zero point = round(4 / scale) = 1.
        assert_eq!(y[0], Tensor::U8(ArrayD::from_shape_vec(IxDyn(&[6]), vec![1, 2, 0, 255, 0, 14]).unwrap()));
        assert_eq!(y[2], Tensor::U8(ArrayD::from_elem(IxDyn(&[]), 1)));
    }
}
