//! QuantizeLinear (per tensor or per axis; u8, i8, u16, i16 outputs).

use ptq_ir::ops::quantize::QuantizeLinear;
use ptq_ir::{DType, Tensor};

use super::{Out, one};
use crate::inputs::Inputs;
use crate::util::{array, contiguous, f32s};

/// For each element, the index into a per-axis parameter vector (all zero for per-tensor).
pub fn param_index(shape: &[usize], axis: Option<i64>, params: usize) -> Result<Box<dyn Fn(usize) -> usize>, String> {
    if params == 1 {
        return Ok(Box::new(|_| 0));
    }
    let ax = crate::util::axis(axis.unwrap_or(1), shape.len())?;
    if shape[ax] != params {
        return Err(format!("{params} scales for axis {ax} of size {}", shape[ax]));
    }
    let inner: usize = shape[ax + 1..].iter().product();
    let dim = shape[ax];
    Ok(Box::new(move |i| (i / inner.max(1)) % dim))
}

fn quantize_to(x: &[f32], idx: &dyn Fn(usize) -> usize, scale: &[f32], zp: &[f64], lo: f64, hi: f64) -> Vec<f64> {
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = idx(i);
            let q = (f64::from(v / scale[c])).round_ties_even() + zp[c];
            q.clamp(lo, hi)
        })
        .collect()
}

/// Runs QuantizeLinear.
pub fn run(op: &QuantizeLinear, ins: &mut Inputs, _n: usize) -> Out {
    if op.block_size.is_some_and(|b| b != 0) {
        return Err("blocked quantization is not supported".into());
    }
    let x = ins.shared(0)?;
    let xs = f32s(&x)?;
    let scale: Vec<f32> = f32s(ins.get(1)?)?.iter().copied().collect();
    let zp_t = ins.opt(2);
    let dtype = zp_t.map(Tensor::dtype).or(op.output_dtype).unwrap_or(DType::U8);
    let zp: Vec<f64> = zp_t.map(Tensor::to_f64_vec).unwrap_or_else(|| vec![0.0; scale.len()]);
    if zp.len() != scale.len() {
        return Err("scale and zero point differ in length".into());
    }
    let idx = param_index(xs.shape(), op.axis, scale.len())?;
    let (lo, hi) = match dtype {
        DType::U8 => (0.0, 255.0),
        DType::I8 => (-128.0, 127.0),
        DType::U16 => (0.0, 65535.0),
        DType::I16 => (-32768.0, 32767.0),
        d => return Err(format!("quantization to {d} is not supported")),
    };
    let q = quantize_to(&contiguous(xs), &*idx, &scale, &zp, lo, hi);
    let shape = xs.shape();
    one(match dtype {
        DType::U8 => Tensor::U8(array(shape, q.iter().map(|&v| v as u8).collect())?),
        DType::I8 => Tensor::I8(array(shape, q.iter().map(|&v| v as i8).collect())?),
        DType::U16 => Tensor::U16(array(shape, q.iter().map(|&v| v as u16).collect())?),
        _ => Tensor::I16(array(shape, q.iter().map(|&v| v as i16).collect())?),
    })
}
