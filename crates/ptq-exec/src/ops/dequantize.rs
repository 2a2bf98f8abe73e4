//! DequantizeLinear (per tensor or per axis).

use ptq_ir::Tensor;
use ptq_ir::ops::dequantize::DequantizeLinear;

use super::quantize::param_index;
use super::{Out, one};
use crate::inputs::Inputs;
use crate::util::{array, f32s};

/// Runs DequantizeLinear: `(x - zero_point) * scale` in f32.
pub fn run(op: &DequantizeLinear, ins: &mut Inputs, _n: usize) -> Out {
    if op.block_size.is_some_and(|b| b != 0) {
        return Err("blocked quantization is not supported".into());
    }
    let x = ins.get(0)?;
    if !x.dtype().is_int() {
        return Err(format!("input must be integer, is {}", x.dtype()));
    }
    let scale: Vec<f32> = f32s(ins.get(1)?)?.iter().copied().collect();
    let zp: Vec<i64> = match ins.opt(2) {
        Some(t) => t.to_i64_vec().ok_or("zero point must be integer")?,
        None => vec![0; scale.len()],
    };
    if zp.len() != scale.len() {
        return Err("scale and zero point differ in length".into());
    }
    let idx = param_index(x.shape(), op.axis, scale.len())?;
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
    one(Tensor::F32(array(x.shape(), v)?))
}
