//! LRN, which the IR keeps opaque: local response normalisation across
//! channels of X `[N, C, ...]`: `y = x / (bias + alpha / size · Σ x²)^beta`,
//! the sum over channels `c − ⌊(size−1)/2⌋ ..= c + ⌈(size−1)/2⌉` that exist.
//! f32 and f64.

use super::opaque::{Attrs, kern};
use super::{Kernel, Out, one};
use crate::inputs::Inputs;

/// LRN's settings.
#[derive(Clone, Copy, Debug)]
pub struct Lrn {
    alpha: f64,
    beta: f64,
    bias: f64,
    size: usize,
}

/// Reads `alpha` (1e-4), `beta` (0.75), `bias` (1) and the required `size`.
pub fn prepare(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    let size = a.int("size", 0)?;
    if size < 1 {
        return Err(format!("size must be positive, got {size}"));
    }
    kern(
        Lrn {
            alpha: f64::from(a.float("alpha", 1e-4)?),
            beta: f64::from(a.float("beta", 0.75)?),
            bias: f64::from(a.float("bias", 1.0)?),
            size: size as usize,
        },
        run,
    )
}

fn lrn(op: &Lrn, x: &[f64], shape: &[usize]) -> Vec<f64> {
    let c = shape.get(1).copied().unwrap_or(1);
    let inner: usize = shape.iter().skip(2).product();
    let (lo, hi) = ((op.size - 1) / 2, op.size / 2);
    let mut out = vec![0.0; x.len()];
    let mut sq = vec![0.0; inner];
    for (block, o) in x.chunks((c * inner).max(1)).zip(out.chunks_mut((c * inner).max(1))) {
        for ch in 0..c {
            sq.iter_mut().for_each(|s| *s = 0.0);
            for k in ch.saturating_sub(lo)..ch.saturating_add(hi).saturating_add(1).min(c) {
                for (s, v) in sq.iter_mut().zip(&block[k * inner..(k + 1) * inner]) {
                    *s += v * v;
                }
            }
            let (xs, ys) = (&block[ch * inner..(ch + 1) * inner], &mut o[ch * inner..(ch + 1) * inner]);
            for ((y, &x), &s) in ys.iter_mut().zip(xs).zip(&sq) {
                *y = x / (op.bias + op.alpha / op.size as f64 * s).powf(op.beta);
            }
        }
    }
    out
}

/// Runs LRN.
pub fn run(op: &Lrn, ins: &mut Inputs, _n: usize) -> Out {
    let x = ins.get(0)?;
    if x.shape().len() < 2 {
        return Err(format!("input must have rank 2 or more, has shape {:?}", x.shape()));
    }
    let y = lrn(op, &super::nll_loss::floats(x, "input")?, x.shape());
    one(super::nll_loss::as_dtype(crate::util::array(x.shape(), y)?, x)?)
}

#[cfg(test)]
mod tests {
    use ptq_ir::{Attr, Tensor};

    use crate::ops::opaque::{assert_close, test_run};

    #[test]
    fn normalises_across_channels() {
        let x = Tensor::F32(crate::util::array(&[1, 3, 1], vec![1.0, 2.0, 3.0]).unwrap());
        let attrs = [("size", Attr::Int(3)), ("alpha", Attr::Float(3.0)), ("beta", Attr::Float(1.0))];
        // Sums of squares: 1+4, 1+4+9, 4+9; y = x / (1 + sum).
        let y = test_run("LRN", &attrs, vec![x]).unwrap();
        assert_close(&y[0], &[1, 3, 1], &[1.0 / 6.0, 2.0 / 15.0, 3.0 / 14.0]);
    }
}
