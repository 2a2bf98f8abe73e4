//! ReverseSequence, which the IR keeps opaque: for each batch entry b (along
//! `batch_axis`, default 1) the first `sequence_lens[b]` slices along
//! `time_axis` (default 0) are reversed; the rest are copied. Any dtype.

use ndarray::{ArrayD, Axis};
use ptq_ir::Tensor;

use super::opaque::{Attrs, kern};
use super::{Kernel, Out, one};
use crate::inputs::Inputs;
use crate::util::try_map_tensor;

/// ReverseSequence's axes.
#[derive(Clone, Copy, Debug)]
pub struct ReverseSequence {
    batch_axis: i64,
    time_axis: i64,
}

/// Reads `batch_axis` and `time_axis`.
pub fn prepare(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    kern(ReverseSequence { batch_axis: a.int("batch_axis", 1)?, time_axis: a.int("time_axis", 0)? }, run)
}

fn reverse<T: Clone>(a: &ArrayD<T>, b_ax: usize, t_ax: usize, lens: &[usize]) -> Result<ArrayD<T>, String> {
    let mut out = a.clone();
    for (b, &len) in lens.iter().enumerate() {
        let src = a.index_axis(Axis(b_ax), b);
        let mut dst = out.index_axis_mut(Axis(b_ax), b);
        let t = if t_ax > b_ax { t_ax - 1 } else { t_ax };
        for i in 0..len {
            dst.index_axis_mut(Axis(t), i).assign(&src.index_axis(Axis(t), len - 1 - i));
        }
    }
    Ok(out)
}

/// Runs ReverseSequence.
pub fn run(op: &ReverseSequence, ins: &mut Inputs, _n: usize) -> Out {
    let x = ins.get(0)?;
    let r = x.shape().len();
    let (b_ax, t_ax) = (crate::util::axis(op.batch_axis, r)?, crate::util::axis(op.time_axis, r)?);
    if b_ax == t_ax {
        return Err("batch_axis and time_axis must differ".into());
    }
    let lens = ins.ints(1)?;
    if lens.len() != x.shape()[b_ax] {
        return Err(format!("{} sequence lengths for a batch of {}", lens.len(), x.shape()[b_ax]));
    }
    let steps = x.shape()[t_ax];
    let lens = lens
        .iter()
        .map(|&l| usize::try_from(l).ok().filter(|&l| l <= steps).ok_or(format!("sequence length {l} is out of range")))
        .collect::<Result<Vec<_>, _>>()?;
    let out: Result<Tensor, String> = try_map_tensor!(x, |a| reverse(a, b_ax, t_ax, &lens));
    one(out?)
}

#[cfg(test)]
mod tests {
    use ptq_ir::Tensor;

    use crate::ops::opaque::test_run;

    #[test]
    fn reverses_each_prefix() {
        // time × batch = 3 × 2.
        let x = Tensor::I64(crate::util::array(&[3, 2], vec![0, 1, 2, 3, 4, 5]).unwrap());
        let y = test_run("ReverseSequence", &[], vec![x.clone(), Tensor::from_i64s(&[3, 2])]).unwrap();
        assert_eq!(y[0], Tensor::I64(crate::util::array(&[3, 2], vec![4, 3, 2, 1, 0, 5]).unwrap()));
        assert!(test_run("ReverseSequence", &[], vec![x, Tensor::from_i64s(&[4, 1])]).is_err());
    }
}
