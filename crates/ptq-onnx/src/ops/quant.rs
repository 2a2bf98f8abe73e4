//! QuantizeLinear and DequantizeLinear.

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

pub fn export_quantize(q: &QuantizeLinear, cx: &ExportCtx<'_>) -> Result<Emitted, String> {
    let mut o = AttrOut::default();
    o.int_opt("saturate", q.saturate);
    if let Some(d) = q.output_dtype {
        o.int("output_dtype", i64::from(crate::dtype::to_onnx(d)));
    }
    axis_and_block(o, q.axis, q.block_size, "QuantizeLinear", cx)
}

pub fn export_dequantize(d: &DequantizeLinear, cx: &ExportCtx<'_>) -> Result<Emitted, String> {
    axis_and_block(AttrOut::default(), d.axis, d.block_size, "DequantizeLinear", cx)
}

fn axis_and_block(
    mut o: AttrOut,
    axis: Option<i64>,
    block: Option<i64>,
    op_type: &str,
    cx: &ExportCtx<'_>,
) -> Result<Emitted, String> {
    if axis.is_some() && cx.opset < 13 {
        return Err("per-axis quantization needs opset 13".into());
    }
    if block.is_some() && cx.opset < 21 {
        return Err("blocked quantization needs opset 21".into());
    }
    o.int_opt("axis", axis).int_opt("block_size", block);
    Ok(Emitted::new(op_type, o))
}
