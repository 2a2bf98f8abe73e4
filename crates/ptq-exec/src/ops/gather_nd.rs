//! GatherND, which the IR keeps opaque: with `batch_dims` b, the first b axes
//! of `data` and `indices` are matched; each index tuple (the last axis of
//! `indices`, length k, negative counts from the end) selects the slice
//! `data[batch.., i0, .., ik-1]`. Output shape:
//! `indices.shape[:-1] + data.shape[b + k:]`. Any dtype.

use ndarray::ArrayD;
use ptq_ir::Tensor;

use super::opaque::{Attrs, kern};
use super::scatter_nd::slice_offsets;
use super::{Kernel, Out, one};
use crate::inputs::Inputs;
use crate::util::try_map_tensor;

/// GatherND's settings.
#[derive(Clone, Copy, Debug)]
pub struct GatherNd {
    batch_dims: usize,
}

/// Reads `batch_dims`.
pub fn prepare(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    kern(GatherNd { batch_dims: crate::util::to_usize(a.int("batch_dims", 0)?, "batch_dims")? }, run)
}

fn gather<T: Clone>(a: &ArrayD<T>, src: &[usize], block: usize, shape: &[usize]) -> Result<ArrayD<T>, String> {
    let d = crate::util::contiguous(a);
    let mut out = Vec::with_capacity(src.len() * block);
    for &o in src {
        out.extend_from_slice(d.get(o..o + block).ok_or("index out of range")?);
    }
    crate::util::array(shape, out)
}

/// Runs GatherND.
pub fn run(op: &GatherNd, ins: &mut Inputs, _n: usize) -> Out {
    let x = ins.get(0)?;
    let it = ins.get(1)?;
    let (shape, ishape) = (x.shape(), it.shape());
    let b = op.batch_dims;
    if ishape.is_empty() || b >= ishape.len() || b >= shape.len() || shape[..b] != ishape[..b] {
        return Err(format!("indices {ishape:?} and data {shape:?} do not match with batch_dims {b}"));
    }
    let k = ishape[ishape.len() - 1];
    if b + k > shape.len() {
        return Err(format!("index tuples of length {k} exceed data {shape:?} after {b} batch axes"));
    }
    let idx = it.to_i64_vec().ok_or("indices must be integers")?;
    let batches: usize = shape[..b].iter().product();
    let per_batch = idx.len() / batches.max(1);
    let batch_len: usize = shape[b..].iter().product();
    let block: usize = shape[b + k..].iter().product();
    let mut src = Vec::with_capacity(idx.len() / k.max(1));
    for (bi, chunk) in idx.chunks(per_batch.max(1)).enumerate().take(batches) {
        let (offs, _) = slice_offsets(&shape[b..], chunk, &ishape[b..])?;
        src.extend(offs.into_iter().map(|o| o + bi * batch_len));
    }
    let out_shape: Vec<usize> = ishape[..ishape.len() - 1].iter().chain(&shape[b + k..]).copied().collect();
    let out: Result<Tensor, String> = try_map_tensor!(x, |a| gather(a, &src, block, &out_shape));
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
    fn gathers_elements_slices_and_batches() {
        let data = i(&[2, 2], &[0, 1, 2, 3]);
        assert_eq!(
            test_run("GatherND", &[], vec![data.clone(), i(&[2, 2], &[0, 0, 1, 1])]).unwrap()[0],
            i(&[2], &[0, 3])
        );
        assert_eq!(
            test_run("GatherND", &[], vec![data.clone(), i(&[2, 1], &[1, 0])]).unwrap()[0],
            i(&[2, 2], &[2, 3, 0, 1])
        );
        let cube = i(&[2, 2, 2], &[0, 1, 2, 3, 4, 5, 6, 7]);
        let b1 = [("batch_dims", Attr::Int(1))];
        assert_eq!(test_run("GatherND", &b1, vec![cube, i(&[2, 1], &[1, 0])]).unwrap()[0], i(&[2, 2], &[2, 3, 4, 5]));
        assert!(test_run("GatherND", &[], vec![data.clone(), i(&[1, 1], &[2])]).is_err());
        assert!(test_run("GatherND", &[], vec![data, i(&[1, 3], &[0, 0, 0])]).is_err());
    }
}
