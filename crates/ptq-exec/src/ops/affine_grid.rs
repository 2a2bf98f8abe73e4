//! AffineGrid, which the IR keeps opaque: for `theta` `[N, 2, 3]` (2-D) or
//! `[N, 3, 4]` (3-D) and `size` `[N, C, H, W]` or `[N, C, D, H, W]`, the grid
//! `[N, H, W, 2]` or `[N, D, H, W, 3]` of `theta · (x, y[, z], 1)` over the
//! normalised coordinates of each output pixel: `−1 + 2i / (L − 1)` when
//! `align_corners`, else `(2i + 1) / L − 1` (x along W). Floats.

use super::nll_loss::{as_dtype, floats};
use super::opaque::{Attrs, kern};
use super::{Kernel, Out, one};
use crate::inputs::Inputs;

/// AffineGrid's alignment.
#[derive(Clone, Copy, Debug)]
pub struct AffineGrid {
    align: bool,
}

/// Reads `align_corners`.
pub fn prepare(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    kern(AffineGrid { align: a.int("align_corners", 0)? != 0 }, run)
}

fn coords(len: usize, align: bool) -> Vec<f64> {
    (0..len)
        .map(|i| {
            if align {
                if len > 1 { -1.0 + 2.0 * i as f64 / (len - 1) as f64 } else { 0.0 }
            } else {
                (2 * i + 1) as f64 / len as f64 - 1.0
            }
        })
        .collect()
}

/// Runs AffineGrid.
pub fn run(op: &AffineGrid, ins: &mut Inputs, _n: usize) -> Out {
    let theta = ins.get(0)?;
    let size = ins.ints(1)?;
    let k = size.len().saturating_sub(2);
    let n = theta.shape().first().copied().unwrap_or(0);
    if !(2..=3).contains(&k) || theta.shape() != [n, k, k + 1] || size[0] != n as i64 {
        return Err(format!("theta {:?} and size {size:?} do not fit", theta.shape()));
    }
    let sp = size[2..].iter().map(|&d| crate::util::to_usize(d, "size")).collect::<Result<Vec<_>, _>>()?;
    let total = ptq_ir::tensor::checked_numel(&sp).unwrap_or(usize::MAX);
    if total.checked_mul(n * k).is_none_or(|t| t > 1 << 31) {
        return Err(format!("size {size:?} is too large"));
    }
    // Per axis in x, y[, z] order (reversed spatial axes).
    let axes: Vec<Vec<f64>> = sp.iter().rev().map(|&l| coords(l, op.align)).collect();
    let t = floats(theta, "theta")?;
    let mut out = Vec::with_capacity(n * total * k);
    let mut p = vec![0f64; k];
    for b in 0..n {
        let tm = &t[b * k * (k + 1)..(b + 1) * k * (k + 1)];
        for flat in 0..total {
            // Row-major over sp: the last spatial axis (x) varies fastest.
            let mut rem = flat;
            for (j, ax) in axes.iter().enumerate() {
                p[j] = ax[rem % ax.len()];
                rem /= ax.len();
            }
            for r in 0..k {
                let row = &tm[r * (k + 1)..(r + 1) * (k + 1)];
                out.push(row[..k].iter().zip(&p).map(|(a, b)| a * b).sum::<f64>() + row[k]);
            }
        }
    }
    let mut shape = vec![n];
    shape.extend(&sp);
    shape.push(k);
    one(as_dtype(crate::util::array(&shape, out)?, theta)?)
}

#[cfg(test)]
mod tests {
    use ptq_ir::{Attr, Tensor};

    use crate::ops::opaque::{assert_close, test_run};

    #[test]
    fn identity_theta_gives_the_base_grid() {
        let theta = Tensor::F32(crate::util::array(&[1, 2, 3], vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0]).unwrap());
        let size = Tensor::from_i64s(&[1, 1, 1, 2]);
        let y = test_run("AffineGrid", &[], vec![theta.clone(), size.clone()]).unwrap();
        assert_close(&y[0], &[1, 1, 2, 2], &[-0.5, 0.0, 0.5, 0.0]);
        let y = test_run("AffineGrid", &[("align_corners", Attr::Int(1))], vec![theta, size]).unwrap();
        assert_close(&y[0], &[1, 1, 2, 2], &[-1.0, 0.0, 1.0, 0.0]);
    }
}
