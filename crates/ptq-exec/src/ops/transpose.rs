//! Transpose.

use ptq_ir::Tensor;
use ptq_ir::ops::transpose::Transpose;

use super::{Out, one};
use crate::inputs::Inputs;
use crate::util::map_tensor;

/// Copies `src` (row-major, shape `shape`) into `dst` permuted by `perm`,
/// walking the output in order with the innermost axis as a strided gather.
pub fn permute_into<T: Copy>(src: &[T], shape: &[usize], perm: &[usize], dst: &mut Vec<T>) {
    let rank = shape.len();
    let mut strides = vec![1usize; rank];
    for a in (0..rank.saturating_sub(1)).rev() {
        strides[a] = strides[a + 1] * shape[a + 1];
    }
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let out_strides: Vec<usize> = perm.iter().map(|&p| strides[p]).collect();
    let total: usize = out_shape.iter().product();
    dst.clear();
    dst.reserve(total);
    if total == 0 {
        return;
    }
    if rank == 0 {
        dst.push(src[0]);
        return;
    }
    let (inner, inner_stride) = (out_shape[rank - 1], out_strides[rank - 1]);
    let mut idx = vec![0usize; rank - 1];
    let mut base = 0usize;
    // Whole output rows at a time, appended: a row that stays contiguous is
    // one slice copy (an element loop when short, where a `memcpy` call
    // costs more than the copy), a gathered one an element loop.
    for _ in 0..total / inner {
        if inner_stride == 1 && inner >= 32 {
            dst.extend_from_slice(&src[base..base + inner]);
        } else if inner_stride == 1 && inner == 8 {
            // Attention's head dims: a copy of known size, not a call.
            copy_row::<T, 8>(&src[base..base + 8], dst);
        } else if inner_stride == 1 && inner == 16 {
            copy_row::<T, 16>(&src[base..base + 16], dst);
        } else if inner_stride == 1 {
            dst.extend(src[base..base + inner].iter().copied());
        } else {
            dst.extend((0..inner).map(|i| src[base + i * inner_stride]));
        }
        let mut a = rank - 1;
        while a > 0 {
            a -= 1;
            idx[a] += 1;
            base += out_strides[a];
            if idx[a] < out_shape[a] {
                break;
            }
            base -= out_strides[a] * out_shape[a];
            idx[a] = 0;
        }
    }
}

/// Appends a row of exactly `N` elements as one fixed-size copy.
#[inline(always)]
fn copy_row<T: Copy, const N: usize>(row: &[T], dst: &mut Vec<T>) {
    if let Ok(row) = <&[T; N]>::try_from(row) {
        dst.extend_from_slice(row);
    }
}

/// `a` permuted by `perm` with [`permute_into`], when `a` is contiguous.
fn permuted<T: Copy>(a: &ndarray::ArrayD<T>, perm: &[usize]) -> Option<Result<ndarray::ArrayD<T>, String>> {
    let src = a.as_slice()?;
    let mut out = Vec::new();
    permute_into(src, a.shape(), perm, &mut out);
    let shape: Vec<usize> = perm.iter().map(|&p| a.shape()[p]).collect();
    Some(crate::util::array(&shape, out))
}

/// Permutes axes and materialises the result in standard layout.
pub fn run(op: &Transpose, ins: &mut Inputs, _n: usize) -> Out {
    let x = ins.take(0)?;
    let perm = op.resolved_perm(x.shape().len())?;
    one(permute(x, &perm)?)
}

/// `x` with its axes permuted by `perm` (a permutation of its rank), in
/// standard layout.
pub(crate) fn permute(x: Tensor, perm: &[usize]) -> Result<Tensor, String> {
    // Contiguous f32, u8 and i8 (the integer path's quantized activations)
    // take the row-wise copy; the rest go through ndarray.
    let fast = match &x {
        Tensor::F32(a) => permuted(a, perm).map(|r| r.map(Tensor::F32)),
        Tensor::U8(a) => permuted(a, perm).map(|r| r.map(Tensor::U8)),
        Tensor::I8(a) => permuted(a, perm).map(|r| r.map(Tensor::I8)),
        _ => None,
    };
    if let Some(t) = fast {
        return t;
    }
    Ok(map_tensor!(x, |a| a.permuted_axes(perm.to_vec()).as_standard_layout().into_owned()))
}

#[cfg(test)]
mod tests {
    use super::permute_into;

    #[test]
    fn matches_ndarray_permutation() {
        // Rows of 5 (element loop), 8 and 16 (fixed-size copies) and 40 (slice copy).
        for shape in [[2, 3, 4, 5], [2, 3, 4, 8], [2, 3, 2, 16], [2, 3, 2, 40]] {
            let n: usize = shape.iter().product();
            let src: Vec<f32> = (0..n).map(|i| i as f32).collect();
            let a = ndarray::ArrayD::from_shape_vec(shape.to_vec(), src.clone()).unwrap();
            for perm in [[0, 1, 2, 3], [0, 2, 1, 3], [3, 2, 1, 0], [1, 3, 0, 2], [0, 1, 3, 2], [1, 0, 2, 3]] {
                let mut out = vec![];
                permute_into(&src, &shape, &perm, &mut out);
                let want: Vec<f32> = a.clone().permuted_axes(perm.to_vec()).iter().copied().collect();
                assert_eq!(out, want, "{shape:?} {perm:?}");
            }
        }
    }
}
