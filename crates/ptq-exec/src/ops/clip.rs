//! Clip with optional scalar bounds.

use ptq_ir::Tensor;
use ptq_ir::ops::clip::Clip;

use super::{Out, one};
use crate::inputs::Inputs;

/// Runs Clip.
pub fn run(_op: &Clip, ins: &mut Inputs, _n: usize) -> Out {
    let lo = ins.opt_scalar(1)?;
    let hi = ins.opt_scalar(2)?;
    match ins.take(0)? {
        Tensor::F32(mut a) => {
            let (l, h) = (lo.map_or(f32::NEG_INFINITY, |v| v as f32), hi.map_or(f32::INFINITY, |v| v as f32));
            a.mapv_inplace(|x| {
                if x < l {
                    l
                } else if x > h {
                    h
                } else {
                    x
                }
            });
            one(Tensor::F32(a))
        }
        Tensor::F64(mut a) => {
            let (l, h) = (lo.unwrap_or(f64::NEG_INFINITY), hi.unwrap_or(f64::INFINITY));
            a.mapv_inplace(|x| {
                if x < l {
                    l
                } else if x > h {
                    h
                } else {
                    x
                }
            });
            one(Tensor::F64(a))
        }
        Tensor::I64(mut a) => {
            let (l, h) = (lo.map_or(i64::MIN, |v| v as i64), hi.map_or(i64::MAX, |v| v as i64));
            a.mapv_inplace(|x| x.clamp(l, h.max(l)));
            one(Tensor::I64(a))
        }
        Tensor::I32(mut a) => {
            let (l, h) = (lo.map_or(i32::MIN, |v| v as i32), hi.map_or(i32::MAX, |v| v as i32));
            a.mapv_inplace(|x| x.clamp(l, h.max(l)));
            one(Tensor::I32(a))
        }
        Tensor::U8(mut a) => {
            let (l, h) = (lo.map_or(u8::MIN, |v| v as u8), hi.map_or(u8::MAX, |v| v as u8));
            a.mapv_inplace(|x| x.clamp(l, h.max(l)));
            one(Tensor::U8(a))
        }
        Tensor::I8(mut a) => {
            let (l, h) = (lo.map_or(i8::MIN, |v| v as i8), hi.map_or(i8::MAX, |v| v as i8));
            a.mapv_inplace(|x| x.clamp(l, h.max(l)));
            one(Tensor::I8(a))
        }
        t => Err(format!("Clip of {} is not supported", t.dtype())),
    }
}
