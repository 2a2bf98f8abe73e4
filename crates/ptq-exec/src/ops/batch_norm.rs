//! BatchNormalization (inference form).

use ptq_ir::Tensor;
use ptq_ir::ops::batch_norm::BatchNorm;

use super::{Out, one};
use crate::inputs::Inputs;
use crate::util::{f32s, into_f32s};

/// Runs `y = (x - mean) / sqrt(var + eps) * scale + b` per channel (axis 1).
pub fn run(op: &BatchNorm, ins: &mut Inputs, _n: usize) -> Out {
    if op.training_mode {
        return Err("training-mode batch normalization is not supported".into());
    }
    let p: Vec<Vec<f32>> =
        (1..5).map(|i| Ok(f32s(ins.get(i)?)?.iter().copied().collect())).collect::<Result<_, String>>()?;
    let mut x = into_f32s(ins.take(0)?)?.as_standard_layout().into_owned();
    let shape = x.shape().to_vec();
    let c = *shape.get(1).unwrap_or(&1);
    if p.iter().any(|v| v.len() != c) {
        return Err(format!("parameters must have {c} entries"));
    }
    let spatial: usize = shape.iter().skip(2).product();
    let (mul, add): (Vec<f32>, Vec<f32>) = (0..c)
        .map(|i| {
            let m = p[0][i] / (p[3][i] + op.epsilon).sqrt();
            (m, p[1][i] - p[2][i] * m)
        })
        .unzip();
    let data = x.as_slice_mut().ok_or("layout")?;
    if spatial > 0 {
        for (j, plane) in data.chunks_mut(spatial).enumerate() {
            let ch = j % c;
            let (m, a) = (mul[ch], add[ch]);
            plane.iter_mut().for_each(|v| *v = *v * m + a);
        }
    }
    one(Tensor::F32(x))
}
