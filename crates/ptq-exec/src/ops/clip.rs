//! Clip with optional scalar bounds.

use ndarray::ArrayD;
use ptq_ir::Tensor;
use ptq_ir::ops::clip::Clip;

use super::{Out, one};
use crate::inputs::Inputs;
use crate::util::Elem;

/// `min(max(x, lo), hi)`: NaN stays NaN, and when `lo > hi` every value becomes `hi`.
fn clip<T: Elem>(mut a: ArrayD<T>, lo: Option<f64>, hi: Option<f64>) -> ArrayD<T> {
    let (lo, hi) = (lo.map(T::from_f64), hi.map(T::from_f64));
    a.mapv_inplace(|x| {
        let y = match lo {
            Some(l) if x < l => l,
            _ => x,
        };
        match hi {
            Some(h) if y > h => h,
            _ => y,
        }
    });
    a
}

/// Runs Clip on any numeric dtype; bounds convert to the input's dtype
/// (saturating for integers).
pub fn run(_op: &Clip, ins: &mut Inputs, _n: usize) -> Out {
    let lo = ins.opt_scalar(1)?;
    let hi = ins.opt_scalar(2)?;
    one(match ins.take(0)? {
        Tensor::F32(a) => Tensor::F32(clip(a, lo, hi)),
        Tensor::F64(a) => Tensor::F64(clip(a, lo, hi)),
        Tensor::F16(a) => Tensor::F16(clip(a, lo, hi)),
        Tensor::BF16(a) => Tensor::BF16(clip(a, lo, hi)),
        Tensor::I8(a) => Tensor::I8(clip(a, lo, hi)),
        Tensor::U8(a) => Tensor::U8(clip(a, lo, hi)),
        Tensor::I16(a) => Tensor::I16(clip(a, lo, hi)),
        Tensor::U16(a) => Tensor::U16(clip(a, lo, hi)),
        Tensor::I32(a) => Tensor::I32(clip(a, lo, hi)),
        Tensor::U32(a) => Tensor::U32(clip(a, lo, hi)),
        Tensor::I64(a) => Tensor::I64(clip(a, lo, hi)),
        Tensor::U64(a) => Tensor::U64(clip(a, lo, hi)),
        t => return Err(format!("Clip of {} is not supported", t.dtype())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::array;

    #[test]
    fn inverted_bounds_give_the_upper_bound_and_nan_survives() {
        let a = array(&[3], vec![-1.0f32, f32::NAN, 5.0]).unwrap();
        let y = clip(a, Some(2.0), Some(1.0));
        assert_eq!(y[0], 1.0);
        assert!(y[1].is_nan());
        assert_eq!(y[2], 1.0);
        let b = array(&[3], vec![0u8, 100, 255]).unwrap();
        assert_eq!(clip(b, Some(-5.0), Some(300.0)).iter().copied().collect::<Vec<_>>(), vec![0, 100, 255]);
    }
}
