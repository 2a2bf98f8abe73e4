//! ScatterND, which the IR keeps opaque: a copy of `data` (rank r) in which
//! each index tuple of `indices` (shape `[..., k]`, k ≤ r, negative counts
//! from the end) selects a slice `data[i0, .., ik-1]`, which receives the
//! matching slice of `updates` (shape `indices.shape[:-1] + data.shape[k:]`),
//! combined per `reduction` (see [`super::scatter_elements`]).

use ptq_ir::Tensor;

use super::opaque::{Attrs, kern};
use super::scatter_elements::{Reduction, scatter};
use super::{Kernel, Out, one};
use crate::inputs::Inputs;

/// ScatterND's settings.
#[derive(Clone, Copy, Debug)]
pub struct ScatterNd {
    reduction: Reduction,
}

/// Reads `reduction`.
pub fn prepare(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    kern(ScatterNd { reduction: Reduction::from_attrs(a)? }, run)
}

/// For index tuples of length `k` (the last axis of `ishape`) into `shape`:
/// the flat offset of each selected slice and the slice's length.
pub fn slice_offsets(shape: &[usize], idx: &[i64], ishape: &[usize]) -> Result<(Vec<usize>, usize), String> {
    let k = *ishape.last().ok_or("indices must have rank 1 or more")?;
    if k > shape.len() {
        return Err(format!("index tuples of length {k} exceed data rank {}", shape.len()));
    }
    let block: usize = shape[k..].iter().product();
    let mut offsets = Vec::with_capacity(idx.len() / k.max(1));
    for t in idx.chunks(k.max(1)) {
        let mut o = 0usize;
        for (a, &i) in t.iter().enumerate().take(k) {
            let d = shape[a] as i64;
            let j = if i < 0 { i + d } else { i };
            if !(0..d).contains(&j) {
                return Err(format!("index {i} out of range for axis {a} of size {d}"));
            }
            o = o * shape[a] + j as usize;
        }
        offsets.push(o * block);
    }
    if k == 0 {
        offsets = vec![0; ishape[..ishape.len() - 1].iter().product()];
    }
    Ok((offsets, block))
}

/// Runs ScatterND.
pub fn run(op: &ScatterNd, ins: &mut Inputs, _n: usize) -> Out {
    let shape = ins.get(0)?.shape().to_vec();
    let it = ins.get(1)?;
    let idx = it.to_i64_vec().ok_or("indices must be integers")?;
    let (dst, block) = slice_offsets(&shape, &idx, it.shape())?;
    let k = it.shape()[it.shape().len() - 1];
    let want: Vec<usize> = it.shape()[..it.shape().len() - 1].iter().chain(&shape[k..]).copied().collect();
    let upd = ins.shared(2)?;
    if upd.shape() != want.as_slice() {
        return Err(format!("updates have shape {:?}, expected {want:?}", upd.shape()));
    }
    let data = ins.take(0)?;
    let out: Tensor = scatter(data, &upd, &dst, block, op.reduction)?;
    one(out)
}

#[cfg(test)]
mod tests {
    use ptq_ir::{Attr, Tensor};

    use crate::ops::opaque::{assert_close, test_run};

    fn f(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::F32(crate::util::array(shape, v.to_vec()).unwrap())
    }
    fn i(shape: &[usize], v: &[i64]) -> Tensor {
        Tensor::I64(crate::util::array(shape, v.to_vec()).unwrap())
    }

    #[test]
    fn scatters_elements_and_slices() {
        let data = f(&[4], &[1.0, 2.0, 3.0, 4.0]);
        let y = test_run("ScatterND", &[], vec![data.clone(), i(&[2, 1], &[3, 1]), f(&[2], &[9.0, 8.0])]).unwrap();
        assert_close(&y[0], &[4], &[1.0, 8.0, 3.0, 9.0]);
        let rows = f(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let mul = ("reduction", Attr::String(b"mul".to_vec()));
        let y = test_run("ScatterND", &[mul], vec![rows.clone(), i(&[1, 1], &[-1]), f(&[1, 2], &[2.0, 3.0])]).unwrap();
        assert_close(&y[0], &[2, 2], &[1.0, 2.0, 6.0, 12.0]);
        assert!(test_run("ScatterND", &[], vec![rows.clone(), i(&[1, 1], &[2]), f(&[1, 2], &[0.0, 0.0])]).is_err());
        assert!(test_run("ScatterND", &[], vec![rows, i(&[1, 1], &[0]), f(&[1, 3], &[0.0; 3])]).is_err());
    }
}
