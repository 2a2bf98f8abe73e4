//! OneHot, which the IR keeps opaque: `indices` (any numeric type, negative
//! values count from `depth`), a scalar `depth` and `values = [off, on]`;
//! the output inserts an axis of length depth at `axis` (default −1, counted
//! in the output's rank) holding `on` at each index and `off` elsewhere
//! (indices outside [−depth, depth) give an all-off row). Output dtype:
//! values'.

use ptq_ir::Tensor;

use super::opaque::{Attrs, kern};
use super::{Kernel, Out, one};
use crate::inputs::Inputs;
use crate::util::try_map_tensor;

/// OneHot's settings.
#[derive(Clone, Copy, Debug)]
pub struct OneHot {
    axis: i64,
}

/// Reads `axis`.
pub fn prepare(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    kern(OneHot { axis: a.int("axis", -1)? }, run)
}

fn fill<T: Clone>(
    v: &ndarray::ArrayD<T>,
    idx: &[i64],
    shape: &[usize],
    depth: usize,
    inner: usize,
) -> Result<ndarray::ArrayD<T>, String> {
    if v.len() != 2 {
        return Err(format!("values must have 2 elements, has {}", v.len()));
    }
    let vals = crate::util::contiguous(v);
    let (off, on) = (&vals[0], &vals[1]);
    let mut out = vec![off.clone(); idx.len() * depth];
    for (n, &i) in idx.iter().enumerate() {
        let j = if i < 0 { i + depth as i64 } else { i };
        if (0..depth as i64).contains(&j) {
            let (outer, k) = (n / inner.max(1), n % inner.max(1));
            out[(outer * depth + j as usize) * inner + k] = on.clone();
        }
    }
    crate::util::array(shape, out)
}

/// Runs OneHot.
pub fn run(op: &OneHot, ins: &mut Inputs, _n: usize) -> Out {
    let it = ins.get(0)?;
    let idx: Vec<i64> = match it.to_i64_vec() {
        Some(v) => v,
        None => it.to_f64_vec().into_iter().map(|x| x as i64).collect(),
    };
    let depth = match ins.get(1)?.to_f64_vec().as_slice() {
        [d] if *d >= 1.0 && *d <= 1e9 => *d as usize,
        d => return Err(format!("depth must be one positive number, got {d:?}")),
    };
    if idx.len().checked_mul(depth).is_none_or(|n| n > 1 << 31) {
        return Err(format!("{} indices of depth {depth} are too large", idx.len()));
    }
    let ishape = it.shape().to_vec();
    let ax = crate::util::axis(op.axis, ishape.len() + 1)?;
    let mut shape = ishape.clone();
    shape.insert(ax, depth);
    let inner: usize = ishape[ax..].iter().product();
    let out: Result<Tensor, String> = try_map_tensor!(ins.get(2)?, |v| fill(v, &idx, &shape, depth, inner));
    one(out?)
}

#[cfg(test)]
mod tests {
    use ptq_ir::{Attr, Tensor};

    use crate::ops::opaque::{assert_close, test_run};

    #[test]
    fn inserts_the_depth_axis() {
        let idx = Tensor::from_i64s(&[0, -1, 5]);
        let depth = Tensor::from_i64s(&[3]);
        let vals = Tensor::from_f32s(&[0.0, 2.0]);
        let y = test_run("OneHot", &[], vec![idx.clone(), depth.clone(), vals.clone()]).unwrap();
        assert_close(&y[0], &[3, 3], &[2.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0]);
        let y = test_run("OneHot", &[("axis", Attr::Int(0))], vec![idx, depth.clone(), vals.clone()]).unwrap();
        assert_close(&y[0], &[3, 3], &[2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0]);
        assert!(test_run("OneHot", &[], vec![Tensor::from_i64s(&[0]), depth, Tensor::from_f32s(&[1.0])]).is_err());
    }
}
