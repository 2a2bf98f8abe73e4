//! GroupNormalization, which the IR keeps opaque: X `[N, C, ...]` split into
//! `num_groups` groups of channels; each group of each image is normalised
//! with its own mean and (biased) variance, `(x − mean) / √(var + epsilon)`,
//! then scaled and shifted per channel by `scale` and `bias` (`[C]`, opset
//! 21) or per group (`[num_groups]`, opset 18). Computed in f64.

use super::nll_loss::{as_dtype, floats};
use super::opaque::{Attrs, kern};
use super::{Kernel, Out, one};
use crate::inputs::Inputs;

/// GroupNormalization's settings.
#[derive(Clone, Copy, Debug)]
pub struct GroupNorm {
    groups: usize,
    epsilon: f64,
}

/// Reads `num_groups` and `epsilon` (1e-5).
pub fn prepare(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    let g = a.int("num_groups", 0)?;
    if g < 1 {
        return Err(format!("num_groups must be positive, got {g}"));
    }
    kern(GroupNorm { groups: g as usize, epsilon: f64::from(a.float("epsilon", 1e-5)?) }, run)
}

/// Runs GroupNormalization.
pub fn run(op: &GroupNorm, ins: &mut Inputs, _n: usize) -> Out {
    let x = ins.get(0)?;
    let shape = x.shape();
    let c = *shape.get(1).ok_or("input must have rank 2 or more")?;
    let g = op.groups;
    if c % g != 0 {
        return Err(format!("{c} channels do not split into {g} groups"));
    }
    let (scale, bias) = (floats(ins.get(1)?, "scale")?, floats(ins.get(2)?, "bias")?);
    let per_channel = scale.len() == c && bias.len() == c;
    if !(per_channel || scale.len() == g && bias.len() == g) {
        return Err(format!(
            "scale and bias have {} and {} elements for {c} channels in {g} groups",
            scale.len(),
            bias.len()
        ));
    }
    let inner: usize = shape[2..].iter().product();
    let cg = c / g;
    let mut v = floats(x, "input")?;
    for (i, grp) in v.chunks_mut((cg * inner).max(1)).enumerate() {
        let gi = i % g;
        let n = grp.len() as f64;
        let mean = grp.iter().sum::<f64>() / n;
        let var = grp.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        let inv = 1.0 / (var + op.epsilon).sqrt();
        for (k, ch) in grp.chunks_mut(inner.max(1)).enumerate() {
            let p = if per_channel { gi * cg + k } else { gi };
            ch.iter_mut().for_each(|v| *v = (*v - mean) * inv * scale[p] + bias[p]);
        }
    }
    one(as_dtype(crate::util::array(shape, v)?, x)?)
}

#[cfg(test)]
mod tests {
    use ptq_ir::{Attr, Tensor};

    use crate::ops::opaque::{assert_close, test_run};

    #[test]
    fn normalises_each_group() {
        let x = Tensor::F32(crate::util::array(&[1, 2, 2], vec![1.0, 3.0, 10.0, 12.0]).unwrap());
        let attrs = [("num_groups", Attr::Int(2)), ("epsilon", Attr::Float(0.0))];
        let y = test_run(
            "GroupNormalization",
            &attrs,
            vec![x, Tensor::from_f32s(&[2.0, 1.0]), Tensor::from_f32s(&[0.0, 5.0])],
        );
        assert_close(&y.unwrap()[0], &[1, 2, 2], &[-2.0, 2.0, 4.0, 6.0]);
    }
}
