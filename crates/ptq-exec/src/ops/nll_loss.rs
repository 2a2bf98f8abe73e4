//! NegativeLogLikelihoodLoss, which the IR keeps opaque. Input `x` has shape
//! `[N, C, d1..]` (log-probabilities), `target` `[N, d1..]` (integer class
//! indices), `weight` an optional `[C]`. Each position's loss is
//! `−x[n, t, d..] · w[t]` (w = 1 without weights), 0 where `t =
//! ignore_index`. `reduction`: "none" keeps target's shape, "sum" adds, and
//! "mean" (the default) divides the sum by the sum of the weights of the
//! positions not ignored. Floats (computed in f64), output in x's dtype.

use ndarray::ArrayD;
use ptq_ir::Tensor;

use super::opaque::{Attrs, kern};
use super::{Kernel, Out, one};
use crate::inputs::Inputs;

/// How per-position losses are combined.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LossReduction {
    None,
    Sum,
    Mean,
}

/// The settings both loss ops share.
#[derive(Clone, Copy, Debug)]
pub struct Loss {
    pub reduction: LossReduction,
    pub ignore_index: Option<i64>,
}

impl Loss {
    /// Reads `reduction` and `ignore_index`.
    pub fn from_attrs(a: &Attrs<'_>) -> Result<Loss, String> {
        let reduction = match a.string("reduction", "mean")?.as_str() {
            "none" => LossReduction::None,
            "sum" => LossReduction::Sum,
            "mean" => LossReduction::Mean,
            r => return Err(format!("unknown reduction {r:?}")),
        };
        let ignore_index = a.ints("ignore_index")?.and_then(|v| v.first().copied());
        Ok(Loss { reduction, ignore_index })
    }
}

/// Reads the attributes.
pub fn prepare(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    kern(Loss::from_attrs(a)?, run)
}

/// The loss of log-probabilities `x` (shape `[N, C, D..]`, row-major) against
/// `target` (shape `[N, D..]`), reduced per `op`.
pub fn nll(
    op: &Loss,
    x: &[f64],
    shape: &[usize],
    target: &Tensor,
    weight: Option<&[f64]>,
) -> Result<ArrayD<f64>, String> {
    if shape.len() < 2 {
        return Err(format!("input must have rank 2 or more, has shape {shape:?}"));
    }
    let (n, c) = (shape[0], shape[1]);
    let want: Vec<usize> = [n].iter().chain(&shape[2..]).copied().collect();
    if target.shape() != want.as_slice() {
        return Err(format!("target has shape {:?}, expected {want:?}", target.shape()));
    }
    if let Some(w) = weight
        && w.len() != c
    {
        return Err(format!("weight has {} elements for {c} classes", w.len()));
    }
    let t = target.to_i64_vec().ok_or("target must be integers")?;
    let d: usize = shape[2..].iter().product();
    let mut loss = Vec::with_capacity(t.len());
    let mut wsum = 0.0;
    for (i, &cls) in t.iter().enumerate() {
        if Some(cls) == op.ignore_index {
            loss.push(0.0);
            continue;
        }
        let k = usize::try_from(cls)
            .ok()
            .filter(|&k| k < c)
            .ok_or(format!("target {cls} is out of range for {c} classes"))?;
        let w = weight.map_or(1.0, |w| w[k]);
        let (b, p) = (i / d.max(1), i % d.max(1));
        loss.push(-x[(b * c + k) * d + p] * w);
        wsum += w;
    }
    Ok(match op.reduction {
        LossReduction::None => crate::util::array(target.shape(), loss)?,
        LossReduction::Sum => ArrayD::from_elem(ndarray::IxDyn(&[]), loss.iter().sum()),
        LossReduction::Mean => ArrayD::from_elem(ndarray::IxDyn(&[]), loss.iter().sum::<f64>() / wsum),
    })
}

/// A float tensor's values as f64, or an error naming `what`.
pub fn floats(t: &Tensor, what: &str) -> Result<Vec<f64>, String> {
    match t {
        Tensor::F32(_) | Tensor::F64(_) | Tensor::F16(_) | Tensor::BF16(_) => Ok(t.to_f64_vec()),
        t => Err(format!("{what} must be floats, is {}", t.dtype())),
    }
}

/// An f64 array as a tensor of `like`'s float dtype.
pub fn as_dtype(a: ArrayD<f64>, like: &Tensor) -> Result<Tensor, String> {
    Ok(match like {
        Tensor::F32(_) => Tensor::F32(a.mapv(|v| v as f32)),
        Tensor::F64(_) => Tensor::F64(a),
        Tensor::F16(_) => Tensor::F16(a.mapv(half::f16::from_f64)),
        Tensor::BF16(_) => Tensor::BF16(a.mapv(half::bf16::from_f64)),
        t => return Err(format!("{} is not a float type", t.dtype())),
    })
}

/// Runs NegativeLogLikelihoodLoss.
pub fn run(op: &Loss, ins: &mut Inputs, _n: usize) -> Out {
    let x = ins.get(0)?;
    let w = ins.opt(2).map(|w| floats(w, "weight")).transpose()?;
    let loss = nll(op, &floats(x, "input")?, x.shape(), ins.get(1)?, w.as_deref())?;
    one(as_dtype(loss, x)?)
}

#[cfg(test)]
mod tests {
    use ptq_ir::{Attr, Tensor};

    use crate::ops::opaque::{assert_close, test_run};

    #[test]
    fn weighs_ignores_and_reduces() {
        // N = 2, C = 3.
        let x = Tensor::F32(crate::util::array(&[2, 3], vec![-1.0, -2.0, -3.0, -4.0, -5.0, -6.0]).unwrap());
        let t = Tensor::from_i64s(&[2, 0]);
        let none = ("reduction", Attr::String(b"none".to_vec()));
        assert_close(
            &test_run("NegativeLogLikelihoodLoss", std::slice::from_ref(&none), vec![x.clone(), t.clone()]).unwrap()[0],
            &[2],
            &[3.0, 4.0],
        );
        assert_close(&test_run("NegativeLogLikelihoodLoss", &[], vec![x.clone(), t.clone()]).unwrap()[0], &[], &[3.5]);
        let w = Tensor::from_f32s(&[1.0, 0.0, 2.0]);
        // (3·2 + 4·1) / (2 + 1)
        let y = test_run("NegativeLogLikelihoodLoss", &[], vec![x.clone(), t.clone(), w.clone()]).unwrap();
        assert_close(&y[0], &[], &[10.0 / 3.0]);
        let ii = ("ignore_index", Attr::Int(0));
        let y = test_run("NegativeLogLikelihoodLoss", &[ii], vec![x.clone(), t, w]).unwrap();
        assert_close(&y[0], &[], &[3.0]);
        assert!(test_run("NegativeLogLikelihoodLoss", &[], vec![x, Tensor::from_i64s(&[3, 0])]).is_err());
    }
}
