//! Slice with numpy semantics (negative indices, clamping, negative steps).

use ndarray::{Axis, Slice as NdSlice};
use ptq_ir::Tensor;
use ptq_ir::ops::slice::Slice;

use super::{Out, one};
use crate::inputs::Inputs;
use crate::util::map_tensor;

/// The ndarray slice selecting `start:end:step` of an axis of length `dim`.
fn nd_slice(dim: usize, start: i64, end: i64, step: i64) -> Result<NdSlice, String> {
    if step == 0 {
        return Err("slice step 0".into());
    }
    let d = dim as i64;
    let norm = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
    let (s, e) = (norm(start), norm(end));
    Ok(if step > 0 {
        let (s, e) = (s.clamp(0, d), e.clamp(0, d));
        NdSlice::new(s as isize, Some(e.max(s) as isize), step as isize)
    } else {
        let (s, e) = (s.clamp(-1, d - 1), e.clamp(-1, d - 1));
        let (lo, hi) = (e + 1, (s + 1).max(e + 1));
        NdSlice::new(lo as isize, Some(hi as isize), step as isize)
    })
}

/// Runs Slice.
pub fn run(_op: &Slice, ins: &mut Inputs, _n: usize) -> Out {
    let starts = ins.ints(1)?;
    let ends = ins.ints(2)?;
    let axes = ins.opt_ints(3)?;
    let steps = ins.opt_ints(4)?;
    let x = ins.shared(0)?;
    let rank = x.shape().len();
    let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err("starts, ends, axes and steps differ in length".into());
    }
    let mut slices = Vec::with_capacity(axes.len());
    for i in 0..axes.len() {
        let ax = crate::util::axis(axes[i], rank)?;
        slices.push((ax, nd_slice(x.shape()[ax], starts[i], ends[i], steps[i])?));
    }
    one(map_tensor!(&*x, |a| {
        let mut v = a.view();
        for (ax, s) in &slices {
            v.slice_axis_inplace(Axis(*ax), *s);
        }
        v.to_owned()
    }))
}

#[cfg(test)]
mod tests {
    use super::nd_slice;

    #[test]
    fn numpy_semantics() {
        let pick = |d: usize, s, e, st| {
            let a = ndarray::Array1::from_iter(0..d as i64);
            a.slice_axis(ndarray::Axis(0), nd_slice(d, s, e, st).unwrap()).to_vec()
        };
        assert_eq!(pick(5, 4, i64::MIN, -1), vec![4, 3, 2, 1, 0]);
        assert_eq!(pick(5, -1, 0, -2), vec![4, 2]);
        assert_eq!(pick(5, 1, 10, 2), vec![1, 3]);
        assert_eq!(pick(5, 3, 1, 1), Vec::<i64>::new());
    }
}
