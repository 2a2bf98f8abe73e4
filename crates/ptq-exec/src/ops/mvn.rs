//! MeanVarianceNormalization, which the IR keeps opaque: X minus its mean
//! over `axes` (default `[0, 2, 3]`), divided by the standard deviation over
//! the same axes plus 1e-9: `(x − E[x]) / (√(E[x²] − E[x]²) + 1e-9)`, as the
//! ONNX function body computes it. Computed in f64.

use ndarray::{ArrayD, Axis};

use super::nll_loss::{as_dtype, floats};
use super::opaque::{Attrs, kern};
use super::{Kernel, Out, one};
use crate::inputs::Inputs;

/// The normalised axes.
#[derive(Clone, Debug)]
pub struct Mvn {
    axes: Vec<i64>,
}

/// Reads `axes`.
pub fn prepare(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    kern(Mvn { axes: a.ints("axes")?.unwrap_or_else(|| vec![0, 2, 3]) }, run)
}

/// Runs MeanVarianceNormalization.
pub fn run(op: &Mvn, ins: &mut Inputs, _n: usize) -> Out {
    let x = ins.get(0)?;
    let shape = x.shape().to_vec();
    let mut axes = op.axes.iter().map(|&a| crate::util::axis(a, shape.len())).collect::<Result<Vec<_>, _>>()?;
    axes.sort_unstable();
    axes.dedup();
    let a: ArrayD<f64> = crate::util::array(&shape, floats(x, "input")?)?;
    let (mut mean, mut sq) = (a.clone(), a.mapv(|v| v * v));
    for &ax in axes.iter().rev() {
        mean = mean.mean_axis(Axis(ax)).ok_or("cannot normalise over an empty axis")?.insert_axis(Axis(ax));
        sq = sq.mean_axis(Axis(ax)).ok_or("cannot normalise over an empty axis")?.insert_axis(Axis(ax));
    }
    let std = (&sq - &mean * &mean).mapv(|v| v.max(0.0).sqrt() + 1e-9);
    let y = (&a - &mean) / &std;
    one(as_dtype(y, x)?)
}

#[cfg(test)]
mod tests {
    use ptq_ir::{Attr, Tensor};

    use crate::ops::opaque::{assert_close, test_run};

    #[test]
    fn normalises_over_the_axes() {
        let x = Tensor::F32(crate::util::array(&[2, 2], vec![1.0, 3.0, 5.0, 5.0]).unwrap());
        let y = test_run("MeanVarianceNormalization", &[("axes", Attr::Ints(vec![1]))], vec![x]).unwrap();
        assert_close(&y[0], &[2, 2], &[-1.0, 1.0, 0.0, 0.0]);
    }
}
