//! DequantizeLinear (per tensor, per axis or blocked).

use ptq_ir::Tensor;
use ptq_ir::ops::dequantize::DequantizeLinear;

use super::quantize::param_index;
use super::{Out, one};
use crate::inputs::Inputs;
use crate::util::array;

/// Runs DequantizeLinear: `(x - zero_point) * scale` for integer `x`,
/// computed in f32 and returned in the scale's dtype (f32, f16 or bf16).
pub fn run(op: &DequantizeLinear, ins: &mut Inputs, _n: usize) -> Out {
    let x = ins.get(0)?;
    if !x.dtype().is_int() {
        return Err(format!("input must be integer, is {}", x.dtype()));
    }
    let scale_t = ins.get(1)?;
    let scale: Vec<f32> = scale_t.to_f64_vec().iter().map(|&v| v as f32).collect();
    let zp: Vec<i64> = match ins.opt(2) {
        Some(t) => t.to_i64_vec().ok_or("zero point must be integer")?,
        None => vec![0; scale.len()],
    };
    if zp.len() != scale.len() {
        return Err("scale and zero point differ in length".into());
    }
    let idx = param_index(x.shape(), scale_t.shape(), op.axis, op.block_size)?;
    let v: Vec<f32> = x
        .to_i64_vec()
        .ok_or("input beyond i64")?
        .iter()
        .enumerate()
        .map(|(i, &q)| {
            let c = idx(i);
            (q - zp[c]) as f32 * scale[c]
        })
        .collect();
    let y = array(x.shape(), v)?;
    one(match scale_t {
        Tensor::F32(_) => Tensor::F32(y),
        Tensor::F16(_) => Tensor::F16(y.mapv(half::f16::from_f32)),
        Tensor::BF16(_) => Tensor::BF16(y.mapv(half::bf16::from_f32)),
        t => return Err(format!("scale must be f32, f16 or bf16, is {}", t.dtype())),
    })
}
