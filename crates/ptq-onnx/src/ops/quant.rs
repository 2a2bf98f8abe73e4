//! QuantizeLinear and DequantizeLinear.

use ptq_ir::Op;
use ptq_ir::ops::dequantize::DequantizeLinear;
use ptq_ir::ops::quantize::QuantizeLinear;

use super::{Emitted, ExportCtx, Lowered};
use crate::attrs::{AttrOut, Attrs};

pub fn import(t: &str, a: &Attrs) -> Result<Option<Lowered>, String> {
    if t == "QuantizeLinear" {
        return Lowered::op(QuantizeLinear {
            axis: a.int("axis")?,
            saturate: a.int("saturate")?,
            block_size: a.int("block_size")?,
            output_dtype: a.dtype("output_dtype")?,
        });
    }
    Lowered::op(DequantizeLinear { axis: a.int("axis")?, block_size: a.int("block_size")? })
}

pub fn export(cx: &ExportCtx<'_>) -> Result<Emitted, String> {
    let mut o = AttrOut::default();
    let (axis, block) = match &cx.node.op {
        Op::QuantizeLinear(q) => {
            o.int_opt("saturate", q.saturate);
            if let Some(d) = q.output_dtype {
                o.int("output_dtype", i64::from(crate::dtype::to_onnx(d)));
            }
            (q.axis, q.block_size)
        }
        Op::DequantizeLinear(d) => (d.axis, d.block_size),
        _ => return Err("not a quantization op".into()),
    };
    if axis.is_some() && cx.opset < 13 {
        return Err("per-axis quantization needs opset 13".into());
    }
    if block.is_some() && cx.opset < 21 {
        return Err("blocked quantization needs opset 21".into());
    }
    o.int_opt("axis", axis).int_opt("block_size", block);
    Ok(Emitted::new(cx.node.op.name(), o))
}
