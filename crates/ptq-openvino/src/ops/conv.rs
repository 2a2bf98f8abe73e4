//! Convolution, GroupConvolution.

use ptq_ir::ops::conv::Conv;
use ptq_ir::ops::reshape::Reshape;
use ptq_ir::ops::spatial::AutoPad;
use ptq_ir::{Dim, Fact, Tensor, ValueId};

use super::{input, ints, output};
use crate::doc::Layer;
use crate::import::Cx;

pub(crate) fn auto_pad(l: &Layer) -> Result<AutoPad, String> {
    Ok(match l.attr("auto_pad").unwrap_or("explicit") {
        "explicit" | "notset" | "" => AutoPad::NotSet,
        "same_upper" => AutoPad::SameUpper,
        "same_lower" => AutoPad::SameLower,
        "valid" => AutoPad::Valid,
        other => return Err(format!("auto_pad '{other}'")),
    })
}

/// Spatial attributes shared by convolutions and pooling.
pub(crate) struct Spatial {
    pub strides: Vec<i64>,
    pub dilations: Vec<i64>,
    /// ONNX order: begins then ends.
    pub pads: Vec<i64>,
    pub auto_pad: AutoPad,
}

/// Reads [`Spatial`] for `rank` spatial axes.
pub(crate) fn spatial(l: &Layer, rank: usize) -> Result<Spatial, String> {
    let strides = ints(l, "strides", &vec![1; rank])?;
    let dilations = ints(l, "dilations", &vec![1; rank])?;
    let mut pads = ints(l, "pads_begin", &vec![0; rank])?;
    pads.extend(ints(l, "pads_end", &vec![0; rank])?);
    if strides.len() != rank || dilations.len() != rank || pads.len() != 2 * rank {
        return Err(format!("strides/dilations/pads do not match {rank} spatial axes"));
    }
    Ok(Spatial { strides, dilations, pads, auto_pad: auto_pad(l)? })
}

/// Grouped weights `[G, A, B, k..]` merged into `[G·A, B, k..]`, and G: a
/// constant is reshaped now; computed weights (an INT8 model's dequantized
/// ones, say) get a Reshape node, which needs their port's static shape.
pub(crate) fn merge_groups(cx: &mut Cx<'_>, l: &Layer, w: ValueId, layout: &str) -> Result<(ValueId, i64), String> {
    let Some(t) = cx.constant_of(w).cloned() else {
        let dims = l.inputs.get(1).map(|p| p.dims.clone()).unwrap_or_default();
        if dims.len() < 4 || dims.iter().any(|&d| d <= 0) {
            return Err(format!("{} weights must be constant or of a static shape {layout}, not {dims:?}", l.kind));
        }
        let mut merged = vec![dims[0].checked_mul(dims[1]).ok_or("weight dims overflow")?];
        merged.extend_from_slice(&dims[2..]);
        let name = format!("{}/merge_groups", l.name);
        let shape = cx.constant(&format!("{name}/shape"), Tensor::from_i64s(&merged));
        let fact = Fact { dtype: None, shape: Some(merged.iter().map(|&d| Dim::Known(d as u64)).collect()) };
        let merged_w = cx.value(&name, fact);
        cx.node(&name, Reshape { allowzero: false }, vec![Some(w), Some(shape)], vec![merged_w]);
        return Ok((merged_w, dims[0]));
    };
    let s = t.shape().to_vec();
    if s.len() < 4 {
        return Err(format!("{} weights have shape {s:?}, want {layout}", l.kind));
    }
    let mut merged = vec![s[0] * s[1]];
    merged.extend_from_slice(&s[2..]);
    let bytes = t.to_le_bytes().ok_or("weights of a non-numeric type")?;
    let reshaped = Tensor::from_le_bytes(t.dtype(), &merged, &bytes).map_err(|e| e.to_string())?;
    Ok((cx.constant(&format!("{}.weight", l.name), reshaped), s[0] as i64))
}

pub fn lower(cx: &mut Cx<'_>, l: &Layer, inputs: &[ValueId], outputs: &[ValueId]) -> Result<bool, String> {
    let grouped = match l.kind.as_str() {
        "Convolution" => false,
        "GroupConvolution" => true,
        _ => return Ok(false),
    };
    let (x, w, y) = (input(inputs, 0)?, input(inputs, 1)?, output(outputs, 0)?);
    let w_rank = l.inputs.get(1).map(|p| p.dims.len()).or(cx.constant_of(w).map(|t| t.shape().len())).unwrap_or(0);
    let spatial_rank =
        w_rank.checked_sub(if grouped { 3 } else { 2 }).filter(|&r| r > 0).ok_or("weights of too low rank")?;
    let Spatial { strides, dilations, pads, auto_pad } = spatial(l, spatial_rank)?;
    let (weight, group) = if grouped {
        // [G, O/G, I/G, k..] → [O, I/G, k..]: a reshape of the constant.
        merge_groups(cx, l, w, "[G, O/G, I/G, k..]")?
    } else {
        (w, 1)
    };
    let op = Conv {
        auto_pad,
        dilations: Some(dilations),
        group,
        kernel_shape: None,
        pads: if auto_pad == AutoPad::NotSet { Some(pads) } else { None },
        strides: Some(strides),
    };
    cx.node(&l.name, op, vec![Some(x), Some(weight)], vec![y]);
    Ok(true)
}
