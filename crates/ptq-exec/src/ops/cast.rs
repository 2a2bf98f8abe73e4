//! Cast between element types.

use half::{bf16, f16};
use ptq_ir::ops::cast::Cast;
use ptq_ir::{DType, Tensor};

use super::{Out, one};
use crate::inputs::Inputs;

macro_rules! from_f64 {
    ($a:expr, $to:expr) => {{
        let v = $a;
        match $to {
            DType::F32 => Tensor::F32(v.mapv(|x| x as f32)),
            DType::F64 => Tensor::F64(v),
            DType::F16 => Tensor::F16(v.mapv(f16::from_f64)),
            DType::BF16 => Tensor::BF16(v.mapv(bf16::from_f64)),
            DType::I8 => Tensor::I8(v.mapv(|x| x as i8)),
            DType::U8 => Tensor::U8(v.mapv(|x| x as u8)),
            DType::I16 => Tensor::I16(v.mapv(|x| x as i16)),
            DType::U16 => Tensor::U16(v.mapv(|x| x as u16)),
            DType::I32 => Tensor::I32(v.mapv(|x| x as i32)),
            DType::U32 => Tensor::U32(v.mapv(|x| x as u32)),
            DType::I64 => Tensor::I64(v.mapv(|x| x as i64)),
            DType::U64 => Tensor::U64(v.mapv(|x| x as u64)),
            DType::Bool => Tensor::Bool(v.mapv(|x| x != 0.0)),
        }
    }};
}

/// Runs Cast; see [`cast_to`].
pub fn run(op: &Cast, ins: &mut Inputs, _n: usize) -> Out {
    one(cast_to(ins.take(0)?, op.to)?)
}

/// Converts `x` to dtype `to`. Integer-to-integer casts wrap (two's
/// complement); float to integer truncates toward zero and saturates (NaN
/// becomes 0); floats to f16/bf16 round to nearest even; to bool is `x != 0`.
pub fn cast_to(x: Tensor, to: DType) -> Result<Tensor, String> {
    if x.dtype() == to {
        return Ok(x);
    }
    let shape = x.shape().to_vec();
    let out = match (&x, to) {
        (Tensor::F32(a), DType::F16) => Tensor::F16(a.mapv(f16::from_f32)),
        (Tensor::F32(a), DType::BF16) => Tensor::BF16(a.mapv(bf16::from_f32)),
        (Tensor::F16(a), DType::F32) => Tensor::F32(a.mapv(f16::to_f32)),
        (Tensor::BF16(a), DType::F32) => Tensor::F32(a.mapv(bf16::to_f32)),
        _ if x.dtype().is_int() && to.is_int() => {
            let v = x.to_i64_vec().ok_or("u64 value beyond i64")?;
            let a = crate::util::array(&shape, v)?;
            match to {
                DType::I8 => Tensor::I8(a.mapv(|x| x as i8)),
                DType::U8 => Tensor::U8(a.mapv(|x| x as u8)),
                DType::I16 => Tensor::I16(a.mapv(|x| x as i16)),
                DType::U16 => Tensor::U16(a.mapv(|x| x as u16)),
                DType::I32 => Tensor::I32(a.mapv(|x| x as i32)),
                DType::U32 => Tensor::U32(a.mapv(|x| x as u32)),
                DType::I64 => Tensor::I64(a),
                _ => Tensor::U64(a.mapv(|x| x as u64)),
            }
        }
        _ => {
            let a = crate::util::array(&shape, x.to_f64_vec())?;
            from_f64!(a, to)
        }
    };
    Ok(out)
}
