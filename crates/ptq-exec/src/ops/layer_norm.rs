//! LayerNormalization.

use ptq_ir::Tensor;
use ptq_ir::ops::layer_norm::LayerNorm;

use super::Out;
use crate::inputs::Inputs;
use crate::util::{array, axis, contiguous, f32s, into_f32s};

/// Runs LayerNormalization over axes `axis..`, with Scale and optional B
/// broadcast over the normalised axes.
pub fn run(op: &LayerNorm, ins: &mut Inputs, n: usize) -> Out {
    let scale_t = ins.shared(1)?;
    let bias_t = ins.opt(2).map(|_| ins.shared(2)).transpose()?;
    let x = into_f32s(ins.take(0)?)?.as_standard_layout().into_owned();
    let shape = x.shape().to_vec();
    let ax = axis(op.axis, shape.len())?;
    let inner: usize = shape[ax..].iter().product();
    let outer: usize = shape[..ax].iter().product();
    let bcast = |t: &Tensor| -> Result<Vec<f32>, String> {
        let a = f32s(t)?;
        let b = a
            .broadcast(ndarray::IxDyn(&shape[ax..]))
            .ok_or_else(|| format!("cannot broadcast {:?} to {:?}", a.shape(), &shape[ax..]))?;
        Ok(b.iter().copied().collect())
    };
    let scale = bcast(&scale_t)?;
    let bias = bias_t.as_deref().map(bcast).transpose()?;
    let mut data = contiguous(&x).into_owned();
    let mut means = Vec::with_capacity(outer);
    let mut inv_stds = Vec::with_capacity(outer);
    if inner > 0 {
        for row in data.chunks_mut(inner) {
            let mean = row.iter().map(|&v| f64::from(v)).sum::<f64>() / inner as f64;
            let var = row.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / inner as f64;
            let inv = 1.0 / (var + f64::from(op.epsilon)).sqrt();
            for (i, v) in row.iter_mut().enumerate() {
                let y = ((f64::from(*v) - mean) * inv) as f32 * scale[i];
                *v = match &bias {
                    Some(b) => y + b[i],
                    None => y,
                };
            }
            means.push(mean as f32);
            inv_stds.push(inv as f32);
        }
    }
    let stat_shape: Vec<usize> = shape.iter().enumerate().map(|(i, &d)| if i < ax { d } else { 1 }).collect();
    let mut out = vec![Some(Tensor::F32(array(&shape, data)?))];
    if n > 1 {
        out.push(Some(Tensor::F32(array(&stat_shape, means)?)));
    }
    if n > 2 {
        out.push(Some(Tensor::F32(array(&stat_shape, inv_stds)?)));
    }
    Ok(out)
}
