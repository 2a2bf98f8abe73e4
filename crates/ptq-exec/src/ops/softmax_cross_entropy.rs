//! SoftmaxCrossEntropyLoss, which the IR keeps opaque: the log-softmax of
//! `scores` (shape `[N, C, d1..]`) over axis 1, then the
//! [negative log-likelihood loss](super::nll_loss) against `labels` with the
//! optional `weights`, `ignore_index` and `reduction` (default "mean").
//! The optional second output is the log-probabilities.

use super::nll_loss::{Loss, as_dtype, floats, nll};
use super::opaque::{Attrs, kern};
use super::{Kernel, Out};
use crate::inputs::Inputs;

/// Reads the attributes.
pub fn prepare(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    kern(Loss::from_attrs(a)?, run)
}

/// Log-softmax over axis 1 of row-major `x` with shape `shape`, in place.
fn log_softmax_axis1(x: &mut [f64], shape: &[usize]) {
    let c = shape.get(1).copied().unwrap_or(1);
    let d: usize = shape.iter().skip(2).product();
    for block in x.chunks_mut((c * d).max(1)) {
        for p in 0..d {
            let max = (0..c).map(|k| block[k * d + p]).fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = (0..c).map(|k| (block[k * d + p] - max).exp()).sum();
            let lse = max + sum.ln();
            for k in 0..c {
                block[k * d + p] -= lse;
            }
        }
    }
}

/// Runs SoftmaxCrossEntropyLoss.
pub fn run(op: &Loss, ins: &mut Inputs, n: usize) -> Out {
    let x = ins.get(0)?;
    let shape = x.shape().to_vec();
    if shape.len() < 2 {
        return Err(format!("scores must have rank 2 or more, has shape {shape:?}"));
    }
    let mut logp = floats(x, "scores")?;
    log_softmax_axis1(&mut logp, &shape);
    let w = ins.opt(2).map(|w| floats(w, "weights")).transpose()?;
    let loss = nll(op, &logp, &shape, ins.get(1)?, w.as_deref())?;
    let loss = as_dtype(loss, x)?;
    let logp = if n > 1 { Some(as_dtype(crate::util::array(&shape, logp)?, x)?) } else { None };
    Ok(vec![Some(loss), logp])
}

#[cfg(test)]
mod tests {
    use ptq_ir::{Attr, Tensor};

    use crate::ops::opaque::{assert_close, test_run_opt};

    #[test]
    fn log_softmax_then_nll() {
        let x = Tensor::F32(crate::util::array(&[1, 2], vec![0.0, 0.0]).unwrap());
        let t = Tensor::from_i64s(&[1]);
        let none = ("reduction", Attr::String(b"none".to_vec()));
        let y = test_run_opt("SoftmaxCrossEntropyLoss", &[none], vec![Some(x), Some(t), None], 2).unwrap();
        let ln2 = std::f32::consts::LN_2;
        assert_close(&y[0], &[1], &[ln2]);
        assert_close(&y[1], &[1, 2], &[-ln2, -ln2]);
    }
}
