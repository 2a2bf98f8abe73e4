//! CenterCropPad, which the IR keeps opaque: each axis in `axes` (default
//! all) is brought to the length in `shape` by cropping its centre (start
//! `⌊(len − target) / 2⌋`) or padding with zeros around it (before:
//! `⌊(target − len) / 2⌋`). Any dtype.

use ndarray::{ArrayD, IxDyn, Slice};
use ptq_ir::Tensor;

use super::opaque::{Attrs, kern};
use super::{Kernel, Out, one};
use crate::inputs::Inputs;
use crate::util::try_map_tensor;

/// The axes to resize.
#[derive(Clone, Debug)]
pub struct CenterCropPad {
    axes: Option<Vec<i64>>,
}

/// Reads `axes`.
pub fn prepare(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    kern(CenterCropPad { axes: a.ints("axes")? }, run)
}

fn crop_pad<T: Clone + Default>(a: &ArrayD<T>, target: &[usize]) -> Result<ArrayD<T>, String> {
    let mut out = ArrayD::from_elem(IxDyn(target), T::default());
    let mut src = a.view();
    let mut dst = out.view_mut();
    for (ax, (&len, &t)) in a.shape().iter().zip(target).enumerate() {
        if len >= t {
            let s = (len - t) / 2;
            src.slice_axis_inplace(ndarray::Axis(ax), Slice::from(s..s + t));
        } else {
            let s = (t - len) / 2;
            dst.slice_axis_inplace(ndarray::Axis(ax), Slice::from(s..s + len));
        }
    }
    dst.assign(&src);
    Ok(out)
}

/// Runs CenterCropPad.
pub fn run(op: &CenterCropPad, ins: &mut Inputs, _n: usize) -> Out {
    let x = ins.get(0)?;
    let r = x.shape().len();
    let shape = ins.ints(1)?;
    let axes: Vec<usize> = match &op.axes {
        None => (0..r).collect(),
        Some(a) => a.iter().map(|&v| crate::util::axis(v, r)).collect::<Result<_, _>>()?,
    };
    if shape.len() != axes.len() {
        return Err(format!("shape has {} entries for {} axes", shape.len(), axes.len()));
    }
    let mut target = x.shape().to_vec();
    for (&ax, &s) in axes.iter().zip(&shape) {
        target[ax] = crate::util::to_usize(s, "shape")?;
    }
    if ptq_ir::tensor::checked_numel(&target).is_none_or(|n| n > 1 << 31) {
        return Err(format!("shape {target:?} is too large"));
    }
    let out: Result<Tensor, String> = try_map_tensor!(x, |a| crop_pad(a, &target));
    one(out?)
}

#[cfg(test)]
mod tests {
    use ptq_ir::{Attr, Tensor};

    use crate::ops::opaque::test_run;

    fn i(shape: &[usize], v: &[i64]) -> Tensor {
        Tensor::I64(crate::util::array(shape, v.to_vec()).unwrap())
    }

    #[test]
    fn crops_and_pads_around_the_centre() {
        let x = i(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        let y = test_run("CenterCropPad", &[], vec![x.clone(), Tensor::from_i64s(&[4, 1])]).unwrap();
        assert_eq!(y[0], i(&[4, 1], &[0, 2, 5, 0]));
        let y = test_run("CenterCropPad", &[("axes", Attr::Ints(vec![-1]))], vec![x, Tensor::from_i64s(&[2])]).unwrap();
        assert_eq!(y[0], i(&[2, 2], &[1, 2, 4, 5]));
    }
}
