//! Pad (constant, reflect, edge, wrap; negative pads crop).

use ndarray::{ArrayD, IxDyn};
use ptq_ir::Tensor;
use ptq_ir::ops::pad::{Pad, PadMode};

use super::{Out, one};
use crate::inputs::Inputs;

fn source(o: i64, begin: i64, d: i64, mode: PadMode) -> Option<usize> {
    let c = o - begin;
    if (0..d).contains(&c) {
        return Some(c as usize);
    }
    if d == 0 {
        return None;
    }
    Some(match mode {
        PadMode::Constant => return None,
        PadMode::Edge => c.clamp(0, d - 1) as usize,
        PadMode::Wrap => c.rem_euclid(d) as usize,
        PadMode::Reflect => {
            if d == 1 {
                0
            } else {
                let period = 2 * (d - 1);
                let m = c.rem_euclid(period);
                (if m < d { m } else { period - m }) as usize
            }
        }
    })
}

fn pad<T: Clone>(a: &ArrayD<T>, begins: &[i64], ends: &[i64], mode: PadMode, fill: T) -> Result<ArrayD<T>, String> {
    let src: Vec<i64> = a.shape().iter().map(|&d| d as i64).collect();
    let shape: Vec<usize> = (0..src.len())
        .map(|i| usize::try_from(src[i] + begins[i] + ends[i]).map_err(|_| format!("pads make axis {i} negative")))
        .collect::<Result<_, _>>()?;
    let mut p = vec![0usize; src.len()];
    Ok(ArrayD::from_shape_fn(IxDyn(&shape), |ix| {
        for i in 0..src.len() {
            match source(ix[i] as i64, begins[i], src[i], mode) {
                Some(c) => p[i] = c,
                None => return fill.clone(),
            }
        }
        a[IxDyn(&p)].clone()
    }))
}

/// Runs Pad.
pub fn run(op: &Pad, ins: &mut Inputs, _n: usize) -> Out {
    let pads = ins.ints(1)?;
    let value = ins.opt(2).filter(|t| t.len() == 1).cloned();
    let axes = ins.opt_ints(3)?;
    let x = ins.shared(0)?;
    let rank = x.shape().len();
    let axes: Vec<usize> = match axes {
        Some(a) => a.iter().map(|&v| crate::util::axis(v, rank)).collect::<Result<_, _>>()?,
        None => (0..rank).collect(),
    };
    if pads.len() != 2 * axes.len() {
        return Err(format!("{} pads for {} axes", pads.len(), axes.len()));
    }
    let (mut b, mut e) = (vec![0i64; rank], vec![0i64; rank]);
    for (i, &a) in axes.iter().enumerate() {
        b[a] = pads[i];
        e[a] = pads[i + axes.len()];
    }
    let v = value.as_ref().map(|t| t.to_f64_vec()[0]).unwrap_or(0.0);
    one(match &*x {
        Tensor::F32(a) => Tensor::F32(pad(a, &b, &e, op.mode, v as f32)?),
        Tensor::F64(a) => Tensor::F64(pad(a, &b, &e, op.mode, v)?),
        Tensor::I32(a) => Tensor::I32(pad(a, &b, &e, op.mode, v as i32)?),
        Tensor::I64(a) => Tensor::I64(pad(a, &b, &e, op.mode, v as i64)?),
        Tensor::U8(a) => Tensor::U8(pad(a, &b, &e, op.mode, v as u8)?),
        Tensor::I8(a) => Tensor::I8(pad(a, &b, &e, op.mode, v as i8)?),
        Tensor::Bool(a) => Tensor::Bool(pad(a, &b, &e, op.mode, v != 0.0)?),
        t => return Err(format!("Pad of {} is not supported", t.dtype())),
    })
}
