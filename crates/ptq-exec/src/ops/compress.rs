//! Compress, which the IR keeps opaque: keeps the slices of `input` along
//! `axis` whose entry in the 1-D bool `condition` is true (condition may be
//! shorter than the axis: the rest is dropped); without `axis` the input is
//! flattened first. Any dtype.

use ndarray::{ArrayD, Axis};
use ptq_ir::Tensor;

use super::opaque::{Attrs, kern};
use super::{Kernel, Out, one};
use crate::inputs::Inputs;
use crate::util::try_map_tensor;

/// Compress's settings.
#[derive(Clone, Copy, Debug)]
pub struct Compress {
    axis: Option<i64>,
}

/// Reads `axis`.
pub fn prepare(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    let axis = a.ints("axis")?.map(|v| v.first().copied().unwrap_or(0));
    kern(Compress { axis }, run)
}

fn select<T: Clone>(a: &ArrayD<T>, ax: Option<usize>, keep: &[usize]) -> Result<ArrayD<T>, String> {
    match ax {
        Some(ax) => Ok(a.select(Axis(ax), keep)),
        None => {
            let flat = crate::util::contiguous(a);
            crate::util::array(&[keep.len()], keep.iter().map(|&i| flat[i].clone()).collect())
        }
    }
}

/// Runs Compress.
pub fn run(op: &Compress, ins: &mut Inputs, _n: usize) -> Out {
    let x = ins.get(0)?;
    let cond: Vec<bool> = match ins.get(1)? {
        Tensor::Bool(c) if c.ndim() == 1 => c.iter().copied().collect(),
        c => match c.to_i64_vec() {
            Some(v) if c.shape().len() == 1 => v.iter().map(|&b| b != 0).collect(),
            _ => return Err(format!("condition must be a 1-D bool tensor, got {} {:?}", c.dtype(), c.shape())),
        },
    };
    let ax = op.axis.map(|a| crate::util::axis(a, x.shape().len())).transpose()?;
    let len = ax.map_or(x.len(), |a| x.shape()[a]);
    if cond.len() > len {
        return Err(format!("condition has {} entries for an axis of {len}", cond.len()));
    }
    let keep: Vec<usize> = cond.iter().enumerate().filter(|&(_, &b)| b).map(|(i, _)| i).collect();
    let out: Result<Tensor, String> = try_map_tensor!(x, |a| select(a, ax, &keep));
    one(out?)
}

#[cfg(test)]
mod tests {
    use ptq_ir::{Attr, Tensor};

    use crate::ops::opaque::test_run;

    fn i(shape: &[usize], v: &[i64]) -> Tensor {
        Tensor::I64(crate::util::array(shape, v.to_vec()).unwrap())
    }
    fn b(v: &[bool]) -> Tensor {
        Tensor::Bool(crate::util::array(&[v.len()], v.to_vec()).unwrap())
    }

    #[test]
    fn keeps_selected_slices() {
        let x = i(&[3, 2], &[1, 2, 3, 4, 5, 6]);
        let y = test_run("Compress", &[("axis", Attr::Int(0))], vec![x.clone(), b(&[false, true, true])]).unwrap();
        assert_eq!(y[0], i(&[2, 2], &[3, 4, 5, 6]));
        let y = test_run("Compress", &[("axis", Attr::Int(-1))], vec![x.clone(), b(&[false, true])]).unwrap();
        assert_eq!(y[0], i(&[3, 1], &[2, 4, 6]));
        let y = test_run("Compress", &[], vec![x.clone(), b(&[false, true, false, false, true])]).unwrap();
        assert_eq!(y[0], i(&[2], &[2, 5]));
        assert!(test_run("Compress", &[("axis", Attr::Int(1))], vec![x, b(&[true; 3])]).is_err());
    }
}
