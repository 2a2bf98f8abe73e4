//! InstanceNormalization.

use ptq_ir::Tensor;
use ptq_ir::ops::instance_norm::InstanceNorm;

use super::{Out, one};
use crate::inputs::Inputs;
use crate::util::{f32s, into_f32s};

/// Normalises each (n, c) plane, then applies per-channel scale and bias.
pub fn run(op: &InstanceNorm, ins: &mut Inputs, _n: usize) -> Out {
    let scale: Vec<f32> = f32s(ins.get(1)?)?.iter().copied().collect();
    let bias: Vec<f32> = f32s(ins.get(2)?)?.iter().copied().collect();
    let mut x = into_f32s(ins.take(0)?)?.as_standard_layout().into_owned();
    let shape = x.shape().to_vec();
    let c = *shape.get(1).ok_or("input rank must be >= 2")?;
    if scale.len() != c || bias.len() != c {
        return Err(format!("scale and B must have {c} entries"));
    }
    let spatial: usize = shape.iter().skip(2).product();
    let data = x.as_slice_mut().ok_or("layout")?;
    if spatial > 0 {
        for (j, plane) in data.chunks_mut(spatial).enumerate() {
            let mean = plane.iter().map(|&v| f64::from(v)).sum::<f64>() / spatial as f64;
            let var = plane.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / spatial as f64;
            let inv = 1.0 / (var + f64::from(op.epsilon)).sqrt();
            let (s, b) = (f64::from(scale[j % c]), f64::from(bias[j % c]));
            plane.iter_mut().for_each(|v| *v = ((f64::from(*v) - mean) * inv * s + b) as f32);
        }
    }
    one(Tensor::F32(x))
}
