//! LayerNormalization.

use ptq_ir::Tensor;
use ptq_ir::ops::layer_norm::LayerNorm;

use super::Out;
use crate::inputs::Inputs;
use crate::util::{array, axis, f32s, into_f32s, into_vec};

/// Runs LayerNormalization over axes `axis..`, with Scale and optional B
/// broadcast over the normalised axes.
pub fn run(op: &LayerNorm, ins: &mut Inputs, n: usize) -> Out {
    let scale_t = ins.shared(1)?;
    let bias_t = ins.opt(2).map(|_| ins.shared(2)).transpose()?;
    let x = into_f32s(ins.take(0)?)?;
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
    let mut data = into_vec(x);
    let mut means = vec![0f32; outer];
    let mut inv_stds = vec![0f32; outer];
    if inner > 0 && outer > 0 {
        let (m, v) = if n > 1 { (Some(&mut means[..]), Some(&mut inv_stds[..])) } else { (None, None) };
        ptq_kernels::layer_norm_rows(&mut data, &scale, bias.as_deref(), op.epsilon, m, v);
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
