//! Trilu, which the IR keeps opaque: keeps the upper (`upper` ≠ 0, the
//! default) or lower triangle of each matrix in the last two axes of X and
//! zeroes the rest. Element (i, j) is kept when `j − i ≥ k` (upper) or
//! `j − i ≤ k` (lower), `k` the optional scalar second input (default 0).
//! Any dtype.

use ndarray::{ArrayD, Axis};
use ptq_ir::Tensor;

use super::opaque::{Attrs, kern};
use super::{Kernel, Out, one};
use crate::inputs::Inputs;
use crate::util::try_map_tensor;

/// Which triangle.
#[derive(Clone, Copy, Debug)]
pub struct Trilu {
    upper: bool,
}

/// Reads `upper`.
pub fn prepare(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    kern(Trilu { upper: a.int("upper", 1)? != 0 }, run)
}

fn mask<T: Clone + Default>(mut a: ArrayD<T>, k: i64, upper: bool) -> Result<ArrayD<T>, String> {
    let r = a.ndim();
    if r < 2 {
        return Err(format!("input must have rank 2 or more, has {r}"));
    }
    let rows = a.shape()[r - 2];
    for (i, mut lane) in a.lanes_mut(Axis(r - 1)).into_iter().enumerate() {
        let row = (i % rows.max(1)) as i64;
        for (j, v) in lane.iter_mut().enumerate() {
            let d = j as i64 - row;
            if (upper && d < k) || (!upper && d > k) {
                *v = T::default();
            }
        }
    }
    Ok(a)
}

/// Runs Trilu, reusing the input buffer when it dies here.
pub fn run(op: &Trilu, ins: &mut Inputs, _n: usize) -> Out {
    let k = match ins.opt_ints(1)? {
        None => 0,
        Some(v) if v.len() == 1 => v[0],
        Some(v) => return Err(format!("k must be a scalar, has {} elements", v.len())),
    };
    let x = ins.take(0)?;
    let out: Result<Tensor, String> = try_map_tensor!(x, |a| mask(a, k, op.upper));
    one(out?)
}

#[cfg(test)]
mod tests {
    use ndarray::{ArrayD, IxDyn};
    use ptq_ir::{Attr, Tensor};

    use crate::ops::opaque::test_run;

    fn i64s(shape: &[usize], v: &[i64]) -> Tensor {
        Tensor::I64(ArrayD::from_shape_vec(IxDyn(shape), v.to_vec()).unwrap())
    }

    #[test]
    fn keeps_the_chosen_triangle() {
        let x = i64s(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        assert_eq!(test_run("Trilu", &[], vec![x.clone()]).unwrap()[0], i64s(&[2, 3], &[1, 2, 3, 0, 5, 6]));
        let k = Tensor::I64(ArrayD::from_elem(IxDyn(&[]), 1));
        assert_eq!(test_run("Trilu", &[], vec![x.clone(), k.clone()]).unwrap()[0], i64s(&[2, 3], &[0, 2, 3, 0, 0, 6]));
        let lower = [("upper", Attr::Int(0))];
        assert_eq!(test_run("Trilu", &lower, vec![x.clone()]).unwrap()[0], i64s(&[2, 3], &[1, 0, 0, 4, 5, 0]));
        assert_eq!(test_run("Trilu", &lower, vec![x, k]).unwrap()[0], i64s(&[2, 3], &[1, 2, 0, 4, 5, 6]));
        let batched = i64s(&[2, 2, 1], &[1, 2, 3, 4]);
        assert_eq!(test_run("Trilu", &[], vec![batched]).unwrap()[0], i64s(&[2, 2, 1], &[1, 0, 3, 0]));
        assert!(test_run("Trilu", &[], vec![i64s(&[2], &[1, 2])]).is_err());
    }
}
