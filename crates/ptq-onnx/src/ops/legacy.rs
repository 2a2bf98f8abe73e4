//! Older opsets: the first opset from which each op's IR lowering holds, and
//! conversions for ops whose attributes later became inputs (Clip before 11,
//! Pad before 11, Slice before 10, TopK before 10, Resize at 10).

use ptq_ir::Tensor;

use super::ExportCtx;
use crate::attrs::{AttrOut, Attrs};

/// The lowest opset at which `op_type` is lowered to the IR (older forms had
/// different semantics, e.g. the `broadcast` attribute of arithmetic before 7).
pub fn min_opset(op_type: &str) -> i64 {
    match op_type {
        "Add" | "Sub" | "Mul" | "Div" | "Pow" | "PRelu" | "Equal" | "Greater" | "Less" | "And" | "Or" | "Xor"
        | "Gemm" | "Dropout" | "BatchNormalization" | "LSTM" | "GRU" | "Sin" | "Cos" => 7,
        "Reshape" => 5,
        "Concat" => 4,
        "Split" | "Pad" => 2,
        "Sum" | "Mean" | "Max" | "Min" | "Clip" | "Tile" | "Cast" | "InstanceNormalization" => 6,
        "Expand" => 8,
        "Sign" | "Erf" | "Where" | "ConstantOfShape" | "IsNaN" => 9,
        "Mod" | "ThresholdedRelu" | "QuantizeLinear" | "DequantizeLinear" | "Resize" => 10,
        "Range" | "Round" | "GatherElements" => 11,
        "GreaterOrEqual" | "LessOrEqual" | "Celu" => 12,
        "HardSwish" => 14,
        "LayerNormalization" => 17,
        "Mish" => 18,
        "Gelu" => 20,
        _ => 1,
    }
}

/// Constant inputs that opsets before the change took as attributes.
pub fn moved_inputs(t: &str, a: &Attrs, opset: i64) -> Result<Vec<(usize, Tensor)>, String> {
    let ints = |name: &str, slot: usize| -> Result<Option<(usize, Tensor)>, String> {
        Ok(a.ints(name)?.map(|v| (slot, Tensor::from_i64s(&v))))
    };
    Ok(match t {
        "Clip" if opset < 11 => {
            let lo = a.float_or("min", f32::MIN)?;
            let hi = a.float_or("max", f32::MAX)?;
            vec![(1, Tensor::scalar_f32(lo)), (2, Tensor::scalar_f32(hi))]
        }
        "Pad" if opset < 11 => {
            let pads = a.ints("pads")?.ok_or("missing attribute pads")?;
            vec![(1, Tensor::from_i64s(&pads)), (2, Tensor::scalar_f32(a.float_or("value", 0.0)?))]
        }
        "Slice" if opset < 10 => {
            let mut v: Vec<(usize, Tensor)> = vec![];
            v.extend(ints("starts", 1)?);
            v.extend(ints("ends", 2)?);
            v.extend(ints("axes", 3)?);
            if v.len() < 2 {
                return Err("missing attribute starts or ends".into());
            }
            v
        }
        "TopK" if opset < 10 => vec![(1, Tensor::from_i64s(&[a.int("k")?.ok_or("missing attribute k")?]))],
        _ => vec![],
    })
}

/// Where the source's inputs go in the IR op, when they moved (Resize-10 has no roi).
pub fn input_slots(t: &str, opset: i64) -> Option<Vec<usize>> {
    (t == "Resize" && opset < 11).then(|| vec![0, 2])
}

fn scalar(cx: &ExportCtx<'_>, slot: usize) -> Result<Option<f32>, String> {
    if !cx.has_input(slot) {
        return Ok(None);
    }
    let t = cx.const_input(slot).ok_or_else(|| format!("input {slot} must be a constant for this opset"))?;
    t.to_f64_vec().first().map(|&v| Some(v as f32)).ok_or_else(|| format!("input {slot} is empty"))
}

/// Attributes and dropped input slots for writing `op_type` at an older opset.
pub fn export_moved(op_type: &str, cx: &ExportCtx<'_>, out: &mut super::Emitted) -> Result<(), String> {
    let opset = cx.opset;
    let mut attrs = AttrOut::default();
    match op_type {
        "Clip" if opset < 11 => {
            if let Some(v) = scalar(cx, 1)? {
                attrs.float("min", v);
            }
            if let Some(v) = scalar(cx, 2)? {
                attrs.float("max", v);
            }
            out.drop_inputs.extend([1, 2]);
        }
        "Pad" if opset < 11 => {
            cx.ints_from_input(1, "pads", out)?;
            if let Some(v) = scalar(cx, 2)? {
                attrs.float("value", v);
            }
            out.drop_inputs.push(2);
        }
        "Slice" if opset < 10 => {
            if cx.const_input(4).and_then(Tensor::to_i64_vec).is_some_and(|s| s.iter().any(|&x| x != 1)) {
                return Err("Slice steps need opset 10".into());
            }
            cx.ints_from_input(1, "starts", out)?;
            cx.ints_from_input(2, "ends", out)?;
            cx.ints_from_input(3, "axes", out)?;
            out.drop_inputs.push(4);
        }
        "TopK" if opset < 10 => {
            let k = cx.const_input(1).and_then(Tensor::to_i64_vec).ok_or("K must be a constant before opset 10")?;
            attrs.int("k", *k.first().ok_or("K is empty")?);
            out.drop_inputs.push(1);
        }
        "Resize" if opset < 11 => {
            if cx.has_input(3) {
                return Err("Resize sizes need opset 11".into());
            }
            out.input_order = Some(vec![0, 2]);
        }
        _ => {}
    }
    out.attrs.extend(attrs.0);
    Ok(())
}
