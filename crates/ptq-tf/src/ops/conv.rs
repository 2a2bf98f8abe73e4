//! Conv2D, DepthwiseConv2dNative, Conv2DBackpropInput, MaxPool, AvgPool:
//! NCHW IR ops on the channels-first value of their input; the filter
//! (HWIO) is transposed to OIHW, at import when it is a constant.

use ptq_ir::ops::conv::Conv;
use ptq_ir::ops::conv_transpose::ConvTranspose;
use ptq_ir::ops::pool::{Pool, PoolKind};
use ptq_ir::ops::spatial::AutoPad;
use ptq_ir::{Tensor, ValueId};

use super::{attr_ints, attr_s, channels_last, const_ints, reshaped};
use crate::flatten::FlatNode;
use crate::import::Cx;

/// Padding and the spatial parts of strides/dilations (`[h, w]`), pads in
/// ONNX order (begins, then ends).
struct Spatial {
    auto_pad: AutoPad,
    pads: Option<Vec<i64>>,
    strides: Vec<i64>,
    dilations: Vec<i64>,
}

/// The H and W entries of a 4-entry NHWC or NCHW list.
fn hw(v: &[i64], last: bool, what: &str) -> Result<Vec<i64>, String> {
    match (v.len(), last) {
        (0, _) => Ok(vec![1, 1]),
        (4, true) => Ok(vec![v[1], v[2]]),
        (4, false) => Ok(vec![v[2], v[3]]),
        (n, _) => Err(format!("{what} has {n} entries, want 4")),
    }
}

fn spatial(n: &FlatNode, last: bool, strides_key: &str) -> Result<Spatial, String> {
    let strides = hw(&attr_ints(n, strides_key), last, strides_key)?;
    let dilations = hw(&attr_ints(n, "dilations"), last, "dilations")?;
    if strides.iter().chain(&dilations).any(|&s| s < 1) {
        return Err("strides and dilations must be positive".into());
    }
    let (auto_pad, pads) = match attr_s(n, "padding", "VALID").as_str() {
        "SAME" => (AutoPad::SameUpper, None),
        "VALID" => (AutoPad::NotSet, Some(vec![0; 4])),
        "EXPLICIT" => {
            let e = attr_ints(n, "explicit_paddings");
            if e.len() != 8 || e.iter().any(|&p| p < 0) {
                return Err("explicit_paddings must be 8 non-negative integers".into());
            }
            let (h, w) = if last { (2, 4) } else { (4, 6) };
            (AutoPad::NotSet, Some(vec![e[h], e[w], e[h + 1], e[w + 1]]))
        }
        other => return Err(format!("padding {other}")),
    };
    Ok(Spatial { auto_pad, pads, strides, dilations })
}

/// HWIO filter → OIHW (`[3, 2, 0, 1]`).
fn oihw(cx: &mut Cx<'_>, n: &FlatNode, w: ValueId) -> ValueId {
    cx.transpose(&format!("{}/filter", n.name), w, &[3, 2, 0, 1])
}

/// The channels-first input, and whether the op's data is NHWC.
fn data_in(cx: &mut Cx<'_>, n: &FlatNode) -> Result<(ValueId, bool), String> {
    let last = channels_last(n)?;
    let x = if last { cx.input_nchw(n, 0)? } else { cx.input(n, 0)? };
    Ok((x, last))
}

/// Records an NCHW result.
fn data_out(cx: &mut Cx<'_>, idx: usize, y: ValueId, last: bool) {
    if last { cx.set_nchw(idx, 0, y) } else { cx.set(idx, 0, y) }
}

pub fn lower(cx: &mut Cx<'_>, idx: usize, n: &FlatNode) -> Result<bool, String> {
    match n.op {
        "Conv2D" => {
            let (x, last) = data_in(cx, n)?;
            let s = spatial(n, last, "strides")?;
            let w = cx.input(n, 1)?;
            let filter_in = cx.fact(w).shape.as_ref().and_then(|s| s.get(2)?.known());
            let x_in = cx.fact(x).shape.as_ref().and_then(|s| s.get(1)?.known());
            let group = match (x_in, filter_in) {
                (Some(c), Some(f)) if f > 0 && c % f == 0 => (c / f) as i64,
                (Some(c), Some(f)) => return Err(format!("{c} input channels for a filter of {f}")),
                _ => 1,
            };
            let w = oihw(cx, n, w);
            let op = Conv {
                auto_pad: s.auto_pad,
                dilations: Some(s.dilations),
                group,
                kernel_shape: None,
                pads: s.pads,
                strides: Some(s.strides),
            };
            let y = cx.node1(&n.name, op, vec![Some(x), Some(w)]);
            data_out(cx, idx, y, last);
        }
        "DepthwiseConv2dNative" => {
            let (x, last) = data_in(cx, n)?;
            let s = spatial(n, last, "strides")?;
            let w = cx.input(n, 1)?;
            // [KH, KW, C, M] → [KH, KW, 1, C·M] → [C·M, 1, KH, KW], group C.
            let t = cx.constant_of(w).cloned().ok_or("a depthwise filter must be a constant")?;
            let &[kh, kw, c, m] = t.shape() else { return Err(format!("depthwise filter of shape {:?}", t.shape())) };
            let flat = reshaped(&t, &[kh, kw, 1, c * m]).ok_or("depthwise filter reshape")?;
            let flat = cx.constant(&format!("{}/filter_hwio", n.name), flat);
            let w = oihw(cx, n, flat);
            let op = Conv {
                auto_pad: s.auto_pad,
                dilations: Some(s.dilations),
                group: c as i64,
                kernel_shape: None,
                pads: s.pads,
                strides: Some(s.strides),
            };
            let y = cx.node1(&n.name, op, vec![Some(x), Some(w)]);
            data_out(cx, idx, y, last);
        }
        "Conv2DBackpropInput" => {
            // Inputs: output sizes, filter [KH, KW, out C, in C], data.
            let last = channels_last(n)?;
            let x = if last { cx.input_nchw(n, 2)? } else { cx.input(n, 2)? };
            let sizes = cx.input(n, 0)?;
            let sizes = const_ints(cx, sizes, "input_sizes")?;
            let out_hw = hw(&sizes, last, "input_sizes")?;
            let s = spatial(n, last, "strides")?;
            let w = cx.input(n, 1)?;
            let w = oihw(cx, n, w);
            let op = ConvTranspose {
                auto_pad: AutoPad::NotSet,
                dilations: Some(s.dilations.clone()),
                group: 1,
                kernel_shape: None,
                output_padding: None,
                output_shape: Some(out_hw),
                pads: if s.auto_pad == AutoPad::NotSet { s.pads } else { None },
                strides: Some(s.strides),
            };
            let y = cx.node1(&n.name, op, vec![Some(x), Some(w)]);
            data_out(cx, idx, y, last);
        }
        "MaxPool" | "AvgPool" => {
            let (x, last) = data_in(cx, n)?;
            let s = spatial(n, last, "strides")?;
            let kernel = hw(&attr_ints(n, "ksize"), last, "ksize")?;
            let op = Pool {
                kind: if n.op == "MaxPool" { PoolKind::Max } else { PoolKind::Avg },
                auto_pad: s.auto_pad,
                ceil_mode: false,
                // TF's AvgPool divides by the number of real (unpadded) elements.
                count_include_pad: false,
                dilations: None,
                kernel_shape: kernel,
                pads: s.pads,
                storage_order: 0,
                strides: Some(s.strides),
            };
            let y = cx.node1(&n.name, op, vec![Some(x)]);
            data_out(cx, idx, y, last);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// A constant `[C]` vector as `[C, 1, 1]`, to broadcast over NCHW.
pub fn channel_column(t: &Tensor) -> Option<Tensor> {
    match t.shape() {
        [] | [1] => Some(t.clone()),
        [c] => reshaped(t, &[*c, 1, 1]),
        [1, 1, 1, c] => reshaped(t, &[1, *c, 1, 1]),
        _ => None,
    }
}
