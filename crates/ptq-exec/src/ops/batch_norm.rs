//! BatchNormalization, inference and training forms.

use ndarray::ArrayD;
use ptq_ir::Tensor;
use ptq_ir::ops::batch_norm::BatchNorm;

use super::Out;
use crate::inputs::Inputs;
use crate::util::{Elem, array};

/// `x * mul[c] + add[c]` per channel (axis 1), in place on a standard-layout array.
fn affine<T: Elem>(x: ArrayD<T>, mul: &[f64], add: &[f64]) -> Result<ArrayD<T>, String> {
    let mut x = x.as_standard_layout().into_owned();
    let c = mul.len();
    let spatial: usize = x.shape().iter().skip(2).product();
    let data = x.as_slice_mut().ok_or("layout")?;
    if spatial > 0 {
        for (j, plane) in data.chunks_mut(spatial).enumerate() {
            let (m, a) = (mul[j % c], add[j % c]);
            plane.iter_mut().for_each(|v| *v = T::from_f64(v.to_f64() * m + a));
        }
    }
    Ok(x)
}

/// [`affine`] in f32 arithmetic, the common case.
fn affine_f32(x: ArrayD<f32>, mul: &[f64], add: &[f64]) -> Result<ArrayD<f32>, String> {
    let mut x = x.as_standard_layout().into_owned();
    let c = mul.len();
    let spatial: usize = x.shape().iter().skip(2).product();
    let data = x.as_slice_mut().ok_or("layout")?;
    if spatial > 0 {
        for (j, plane) in data.chunks_mut(spatial).enumerate() {
            let (m, a) = (mul[j % c] as f32, add[j % c] as f32);
            plane.iter_mut().for_each(|v| *v = *v * m + a);
        }
    }
    Ok(x)
}

/// Per-channel mean and population variance over every axis but 1.
fn batch_stats(x: &Tensor, c: usize) -> (Vec<f64>, Vec<f64>) {
    let spatial: usize = x.shape().iter().skip(2).product();
    let v = x.to_f64_vec();
    let (mut sum, mut sq, mut cnt) = (vec![0f64; c], vec![0f64; c], vec![0usize; c]);
    if spatial > 0 {
        for (j, plane) in v.chunks(spatial).enumerate() {
            sum[j % c] += plane.iter().sum::<f64>();
            cnt[j % c] += plane.len();
        }
    }
    let mean: Vec<f64> = (0..c).map(|i| sum[i] / cnt[i].max(1) as f64).collect();
    if spatial > 0 {
        for (j, plane) in v.chunks(spatial).enumerate() {
            let m = mean[j % c];
            sq[j % c] += plane.iter().map(|&x| (x - m) * (x - m)).sum::<f64>();
        }
    }
    let var = (0..c).map(|i| sq[i] / cnt[i].max(1) as f64).collect();
    (mean, var)
}

/// Runs `y = (x - mean) / sqrt(var + eps) * scale + b` per channel (axis 1)
/// on f32, f64, f16 or bf16 data; the parameters may have any float dtype.
///
/// In training mode the mean and (population) variance come from the batch,
/// and the optional outputs 1 and 2 are the updated running statistics
/// `running * momentum + batch * (1 - momentum)` in the dtype of the given ones.
pub fn run(op: &BatchNorm, ins: &mut Inputs, _n: usize) -> Out {
    let p: Vec<Vec<f64>> = (1..5).map(|i| Ok(ins.get(i)?.to_f64_vec())).collect::<Result<_, String>>()?;
    let x = ins.take(0)?;
    let shape = x.shape().to_vec();
    let c = *shape.get(1).unwrap_or(&1);
    if p.iter().any(|v| v.len() != c) {
        return Err(format!("parameters must have {c} entries"));
    }
    let (mean, var, running) = if op.training_mode {
        let (bm, bv) = batch_stats(&x, c);
        let m = f64::from(op.momentum);
        let upd = |run: &[f64], batch: &[f64]| -> Vec<f64> {
            run.iter().zip(batch).map(|(r, b)| r * m + b * (1.0 - m)).collect()
        };
        let running = (upd(&p[2], &bm), upd(&p[3], &bv));
        (bm, bv, Some(running))
    } else {
        (p[2].clone(), p[3].clone(), None)
    };
    let eps = f64::from(op.epsilon);
    let (mul, add): (Vec<f64>, Vec<f64>) = (0..c)
        .map(|i| {
            let m = p[0][i] / (var[i] + eps).sqrt();
            (m, p[1][i] - mean[i] * m)
        })
        .unzip();
    let y = match x {
        Tensor::F32(a) => Tensor::F32(affine_f32(a, &mul, &add)?),
        Tensor::F64(a) => Tensor::F64(affine(a, &mul, &add)?),
        Tensor::F16(a) => Tensor::F16(affine(a, &mul, &add)?),
        Tensor::BF16(a) => Tensor::BF16(affine(a, &mul, &add)?),
        t => return Err(format!("BatchNormalization of {} is not supported", t.dtype())),
    };
    let mut outs = vec![Some(y)];
    if let Some((rm, rv)) = running {
        let like = |i: usize, v: Vec<f64>| -> Result<Tensor, String> {
            let t = ins.get(i)?;
            let a = array(t.shape(), v)?;
            Ok(match t {
                Tensor::F64(_) => Tensor::F64(a),
                Tensor::F16(_) => Tensor::F16(a.mapv(half::f16::from_f64)),
                Tensor::BF16(_) => Tensor::BF16(a.mapv(half::bf16::from_f64)),
                _ => Tensor::F32(a.mapv(|v| v as f32)),
            })
        };
        outs.push(Some(like(3, rm)?));
        outs.push(Some(like(4, rv)?));
    }
    Ok(outs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::Slot;

    #[test]
    fn training_mode_normalises_with_batch_statistics() {
        let slot = |v: Vec<f32>, shape: &[usize]| {
            Some(Slot { tensor: std::sync::Arc::new(Tensor::F32(array(shape, v).unwrap())), reusable: false })
        };
        // Two channels over a batch of two, one value each: channel 0 holds 1 and 3, channel 1 holds 2 and 6.
        let mut ins = Inputs::new(vec![
            slot(vec![1.0, 2.0, 3.0, 6.0], &[2, 2]),
            slot(vec![1.0, 2.0], &[2]),
            slot(vec![0.0, 1.0], &[2]),
            slot(vec![10.0, 10.0], &[2]),
            slot(vec![1.0, 1.0], &[2]),
        ]);
        let op = BatchNorm { epsilon: 0.0, momentum: 0.5, training_mode: true };
        let out = run(&op, &mut ins, 3).unwrap();
        let y = vec![-1.0, -1.0, 1.0, 3.0];
        assert_eq!(out[0], Some(Tensor::F32(array(&[2, 2], y).unwrap())));
        assert_eq!(out[1], Some(Tensor::F32(array(&[2], vec![6.0, 7.0]).unwrap())));
        assert_eq!(out[2], Some(Tensor::F32(array(&[2], vec![1.0, 2.5]).unwrap())));
    }
}
