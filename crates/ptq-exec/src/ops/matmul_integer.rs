//! MatMulInteger, which the IR keeps opaque: `(A − a_zero_point) ·
//! (B − b_zero_point)` with MatMul's shapes and batch broadcasting, on 8-bit
//! integers (u8 or i8), accumulated exactly into i32. `a_zero_point` is a
//! scalar or one value per row of A (M), `b_zero_point` a scalar or one per
//! column of B (N). Also the integer product QLinearMatMul shares.

use ptq_ir::Tensor;

use super::opaque::{Attrs, kern};
use super::{Kernel, Out, one};
use crate::inputs::Inputs;

/// Needs no settings.
pub fn prepare(_a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    kern((), run)
}

/// An 8-bit tensor's values widened to i32.
pub fn int8_values(t: &Tensor, what: &str) -> Result<Vec<i32>, String> {
    match t {
        Tensor::U8(a) => Ok(a.iter().map(|&v| i32::from(v)).collect()),
        Tensor::I8(a) => Ok(a.iter().map(|&v| i32::from(v)).collect()),
        t => Err(format!("{what} must be u8 or i8, is {}", t.dtype())),
    }
}

/// Zero points (or scales) for `rows` lines: one value for all or one per line.
pub fn per_line<T: Copy>(v: &[T], lines: usize, what: &str) -> Result<Vec<T>, String> {
    match v {
        [x] => Ok(vec![*x; lines]),
        v if v.len() == lines => Ok(v.to_vec()),
        v => Err(format!("{what} has {} values, expected 1 or {lines}", v.len())),
    }
}

/// The operands' shapes as matrices: (batch shape, rows, cols), promoting a
/// 1-D left operand to one row and a 1-D right operand to one column.
fn as_matrix(shape: &[usize], left: bool) -> Result<(Vec<usize>, usize, usize), String> {
    match shape.len() {
        0 => Err("MatMul operands must have rank 1 or more".into()),
        1 if left => Ok((vec![], 1, shape[0])),
        1 => Ok((vec![], shape[0], 1)),
        r => Ok((shape[..r - 2].to_vec(), shape[r - 2], shape[r - 1])),
    }
}

/// The i32 product of integer matrices `a` (shape `ashape`) and `b` (shape
/// `bshape`), with MatMul's broadcasting; the result's shape is returned
/// beside it. `a` and `b` are the zero-point-corrected values.
pub fn int_matmul(a: &[i32], ashape: &[usize], b: &[i32], bshape: &[usize]) -> Result<(Vec<i32>, Vec<usize>), String> {
    let (ab, m, k) = as_matrix(ashape, true)?;
    let (bb, k2, n) = as_matrix(bshape, false)?;
    if k != k2 {
        return Err(format!("shapes {ashape:?} and {bshape:?} do not multiply"));
    }
    let batch = crate::util::broadcast_shape(&ab, &bb)?;
    let nb: usize = batch.iter().product();
    let offset = |bs: &[usize], i: usize| {
        // Flat batch index i of `batch`, mapped into an operand batch shape `bs` (broadcast).
        let (mut rem, mut off, mut stride) = (i, 0usize, 1usize);
        for (ax, &d) in batch.iter().enumerate().rev() {
            let c = rem % d.max(1);
            rem /= d.max(1);
            let pad = batch.len() - bs.len();
            if ax >= pad {
                let od = bs[ax - pad];
                if od != 1 {
                    off += c * stride;
                }
                stride *= od;
            }
        }
        off
    };
    let mut out = vec![0i32; nb * m * n];
    let mut row = vec![0i32; n];
    for bi in 0..nb {
        let ao = offset(&ab, bi) * m * k;
        let bo = offset(&bb, bi) * k * n;
        for i in 0..m {
            row.iter_mut().for_each(|v| *v = 0);
            for p in 0..k {
                let x = a[ao + i * k + p];
                if x == 0 {
                    continue;
                }
                for (acc, &y) in row.iter_mut().zip(&b[bo + p * n..bo + (p + 1) * n]) {
                    *acc = acc.wrapping_add(x.wrapping_mul(y));
                }
            }
            out[(bi * m + i) * n..(bi * m + i + 1) * n].copy_from_slice(&row);
        }
    }
    let mut shape = batch;
    if ashape.len() > 1 {
        shape.push(m);
    }
    if bshape.len() > 1 {
        shape.push(n);
    }
    Ok((out, shape))
}

/// Subtracts per-row (`per_col` false: the row is `(i / cols) % rows`) or
/// per-column zero points from `v`, a stack of `rows × cols` matrices.
pub fn subtract(v: &mut [i32], zp: &[i32], rows: usize, cols: usize, per_col: bool) {
    for (i, x) in v.iter_mut().enumerate() {
        let line = if per_col { i % cols.max(1) } else { (i / cols.max(1)) % rows.max(1) };
        *x -= zp[line];
    }
}

/// An operand's zero-point-corrected values and its shape.
pub type Operand = (Vec<i32>, Vec<usize>);

/// A and B with their zero points subtracted; `zp` are the zero-point input slots.
pub fn corrected(ins: &Inputs, a_slot: usize, a_zp: usize, b_slot: usize, b_zp: usize) -> Result<[Operand; 2], String> {
    let (a, b) = (ins.get(a_slot)?, ins.get(b_slot)?);
    let (_, m, ka) = as_matrix(a.shape(), true)?;
    let (_, _, n) = as_matrix(b.shape(), false)?;
    let mut av = int8_values(a, "A")?;
    let mut bv = int8_values(b, "B")?;
    if let Some(z) = ins.opt(a_zp) {
        subtract(&mut av, &per_line(&int8_values(z, "a_zero_point")?, m, "a_zero_point")?, m, ka, false);
    }
    if let Some(z) = ins.opt(b_zp) {
        subtract(&mut bv, &per_line(&int8_values(z, "b_zero_point")?, n, "b_zero_point")?, ka, n, true);
    }
    Ok([(av, a.shape().to_vec()), (bv, b.shape().to_vec())])
}

/// Runs MatMulInteger.
pub fn run(_op: &(), ins: &mut Inputs, _n: usize) -> Out {
    let [(a, ashape), (b, bshape)] = corrected(ins, 0, 2, 1, 3)?;
    let (v, shape) = int_matmul(&a, &ashape, &b, &bshape)?;
    one(Tensor::I32(crate::util::array(&shape, v)?))
}

#[cfg(test)]
mod tests {
    use ptq_ir::Tensor;

    use crate::ops::opaque::test_run;

    fn u8s(shape: &[usize], v: &[u8]) -> Tensor {
        Tensor::U8(crate::util::array(shape, v.to_vec()).unwrap())
    }

    #[test]
    fn subtracts_zero_points_and_broadcasts_batches() {
        let a = u8s(&[2, 2], &[11, 7, 3, 10]);
        let b = u8s(&[2, 1], &[1, 2]);
        let y = test_run("MatMulInteger", &[], vec![a.clone(), b.clone(), u8s(&[], &[1]), u8s(&[1], &[1])]).unwrap();
        // (A − 1) · (B − 1) = [[10, 6], [2, 9]] · [[0], [1]].
        assert_eq!(y[0], Tensor::I32(crate::util::array(&[2, 1], vec![6, 9]).unwrap()));
        let batched = u8s(&[2, 1, 2], &[1, 2, 3, 4]);
        let y = test_run("MatMulInteger", &[], vec![batched, b]).unwrap();
        assert_eq!(y[0], Tensor::I32(crate::util::array(&[2, 1, 1], vec![5, 11]).unwrap()));
        assert!(test_run("MatMulInteger", &[], vec![a.clone(), a]).is_ok());
        assert!(test_run("MatMulInteger", &[], vec![u8s(&[2, 3], &[0; 6]), u8s(&[2, 3], &[0; 6])]).is_err());
    }
}
