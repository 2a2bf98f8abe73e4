//! Det, which the IR keeps opaque: the determinant of each square matrix in
//! the last two axes of X (`[*, M, M]` → `[*]`), by LU decomposition with
//! partial pivoting in f64. Floats.

use super::nll_loss::{as_dtype, floats};
use super::opaque::{Attrs, kern};
use super::{Kernel, Out, one};
use crate::inputs::Inputs;

/// Needs no settings.
pub fn prepare(_a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    kern((), run)
}

/// The determinant of the row-major `m × m` matrix `a`, which it overwrites.
fn det(a: &mut [f64], m: usize) -> f64 {
    let mut d = 1.0;
    for c in 0..m {
        let p = (c..m).max_by(|&i, &j| a[i * m + c].abs().total_cmp(&a[j * m + c].abs())).unwrap_or(c);
        if a[p * m + c] == 0.0 {
            return 0.0;
        }
        if p != c {
            for k in 0..m {
                a.swap(p * m + k, c * m + k);
            }
            d = -d;
        }
        let pivot = a[c * m + c];
        d *= pivot;
        for r in c + 1..m {
            let f = a[r * m + c] / pivot;
            for k in c..m {
                a[r * m + k] -= f * a[c * m + k];
            }
        }
    }
    d
}

/// Runs Det.
pub fn run(_op: &(), ins: &mut Inputs, _n: usize) -> Out {
    let x = ins.get(0)?;
    let s = x.shape();
    let r = s.len();
    if r < 2 || s[r - 1] != s[r - 2] {
        return Err(format!("input must hold square matrices, has shape {s:?}"));
    }
    let m = s[r - 1];
    let mut v = floats(x, "input")?;
    let dets: Vec<f64> =
        if m == 0 { vec![1.0; s[..r - 2].iter().product()] } else { v.chunks_mut(m * m).map(|a| det(a, m)).collect() };
    one(as_dtype(crate::util::array(&s[..r - 2], dets)?, x)?)
}

#[cfg(test)]
mod tests {
    use ptq_ir::Tensor;

    use crate::ops::opaque::{assert_close, test_run};

    #[test]
    fn determinants_of_a_batch() {
        let x = Tensor::F32(crate::util::array(&[2, 2, 2], vec![1.0, 2.0, 3.0, 4.0, 0.0, 1.0, 1.0, 0.0]).unwrap());
        assert_close(&test_run("Det", &[], vec![x]).unwrap()[0], &[2], &[-2.0, -1.0]);
        let x = Tensor::F32(crate::util::array(&[3, 3], vec![2.0, 0.0, 1.0, 1.0, 3.0, 2.0, 1.0, 1.0, 2.0]).unwrap());
        assert_close(&test_run("Det", &[], vec![x]).unwrap()[0], &[], &[6.0]);
    }
}
