//! FakeQuantize (OpenVINO), in f32 or f64.

use ndarray::{ArrayD, IxDyn, Zip};
use ptq_ir::Tensor;
use ptq_ir::ops::fake_quantize::FakeQuantize;

use super::{Out, one};
use crate::inputs::Inputs;
use crate::util::Elem;

/// One element: see [`FakeQuantize`] for the formula. Rounding is half to
/// even, as in OpenVINO's reference implementation.
fn fq(x: f64, il: f64, ih: f64, ol: f64, oh: f64, steps: f64) -> f64 {
    if x <= il.min(ih) {
        ol
    } else if x > il.max(ih) {
        oh
    } else {
        ((x - il) / (ih - il) * steps).round_ties_even() / steps * (oh - ol) + ol
    }
}

fn run_typed<T: Elem>(x: ArrayD<T>, ranges: [ArrayD<T>; 4], levels: u32) -> Result<ArrayD<T>, String> {
    let s = IxDyn(x.shape());
    for a in &ranges {
        if a.ndim() > x.ndim() {
            return Err(format!("a range of shape {:?} is wider than X {:?}", a.shape(), x.shape()));
        }
    }
    let b = |i: usize| {
        ranges[i]
            .broadcast(s.clone())
            .ok_or_else(|| format!("a range of shape {:?} does not broadcast to {:?}", ranges[i].shape(), x.shape()))
    };
    let (il, ih, ol, oh) = (b(0)?, b(1)?, b(2)?, b(3)?);
    let steps = f64::from(levels - 1);
    Ok(Zip::from(&x).and(&il).and(&ih).and(&ol).and(&oh).map_collect(|&x, &a, &b, &c, &d| {
        T::from_f64(fq(x.to_f64(), a.to_f64(), b.to_f64(), c.to_f64(), d.to_f64(), steps))
    }))
}

macro_rules! ranges {
    ($ins:expr, $v:ident) => {{
        let r = |i: usize| match $ins.get(i)? {
            Tensor::$v(a) => Ok(a.clone()),
            t => Err(format!("range input {i} is {}, not X's dtype", t.dtype())),
        };
        [r(1)?, r(2)?, r(3)?, r(4)?]
    }};
}

/// Runs FakeQuantize: X and the four ranges must share one float dtype
/// (f32 or f64).
pub fn run(op: &FakeQuantize, ins: &mut Inputs, _n: usize) -> Out {
    if op.levels < 2 {
        return Err(format!("levels must be at least 2, got {}", op.levels));
    }
    match ins.take(0)? {
        Tensor::F32(x) => one(Tensor::F32(run_typed(x, ranges!(ins, F32), op.levels)?)),
        Tensor::F64(x) => one(Tensor::F64(run_typed(x, ranges!(ins, F64), op.levels)?)),
        t => Err(format!("FakeQuantize of {} is not supported", t.dtype())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equals_a_quantize_dequantize_pair() {
        // u8, zero point 128, scale 0.1: range [-12.8, 12.7].
        let (s, zp) = (0.1f64, 128.0);
        let (lo, hi) = ((0.0 - zp) * s, (255.0 - zp) * s);
        // Exact ties (x/s = k + 0.5) are left out: the two formulas round them apart by float error.
        for &x in &[-20.0, -12.8, -12.76, -0.04, 0.0, 0.07, 0.16, 3.17, 12.7, 12.71, 50.0] {
            let q = ((x / s).round_ties_even() + zp).clamp(0.0, 255.0);
            let want = (q - zp) * s;
            let got = fq(x, lo, hi, lo, hi, 255.0);
            assert!((got - want).abs() < 1e-9, "x {x}: {got} vs {want}");
        }
    }

    #[test]
    fn per_channel_ranges_broadcast_and_map_to_the_output_range() {
        let x = ArrayD::from_shape_vec(IxDyn(&[1, 2, 2]), vec![0.5f32, 2.0, 0.5, 2.0]).unwrap();
        let r = |v: [f32; 2]| ArrayD::from_shape_vec(IxDyn(&[2, 1]), v.to_vec()).unwrap();
        let y = run_typed(x, [r([0.0, 0.0]), r([1.0, 4.0]), r([0.0, 10.0]), r([1.0, 20.0])], 3).unwrap();
        // Channel 0: 0.5 → step 1 of 2 → 0.5; 2.0 → above → 1.0. Channel 1: 0.5/4*2 = 0.25 → 0 → 10; 2.0 → 1 → 15.
        assert_eq!(y.as_slice().unwrap(), &[0.5, 1.0, 10.0, 15.0]);
    }

    #[test]
    fn a_range_wider_than_x_is_an_error() {
        let x = ArrayD::from_elem(IxDyn(&[2]), 1.0f32);
        let wide = ArrayD::from_elem(IxDyn(&[1, 2]), 1.0f32);
        let s = ArrayD::from_elem(IxDyn(&[]), 0.0f32);
        assert!(run_typed(x, [wide, s.clone(), s.clone(), s], 256).is_err());
    }
}
