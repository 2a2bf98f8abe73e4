//! Convolutions, pooling and batch norm.

use ptq_ir::Node;
use ptq_ir::ops::batch_norm::BatchNorm;
use ptq_ir::ops::conv::Conv;
use ptq_ir::ops::global_pool::GlobalPool;
use ptq_ir::ops::pool::Pool;
use ptq_ir::ops::pool::PoolKind;
use ptq_ir::ops::spatial::AutoPad;

use super::{Cx, inp, numpy, opt_inp, out, single, step};
use crate::export::builder::{attrs, list};

fn auto_pad(a: AutoPad) -> &'static str {
    match a {
        AutoPad::NotSet => "explicit",
        AutoPad::SameUpper => "same_upper",
        AutoPad::SameLower => "same_lower",
        AutoPad::Valid => "valid",
    }
}

/// strides, dilations, pads_begin, pads_end for `rank` spatial axes.
fn spatial(
    strides: &Option<Vec<i64>>,
    dilations: &Option<Vec<i64>>,
    pads: &Option<Vec<i64>>,
    rank: usize,
) -> Result<[String; 4], String> {
    let or_ones = |v: &Option<Vec<i64>>| v.clone().unwrap_or_else(|| vec![1; rank]);
    let (s, d) = (or_ones(strides), or_ones(dilations));
    let p = pads.clone().unwrap_or_else(|| vec![0; 2 * rank]);
    if s.len() != rank || d.len() != rank || p.len() != 2 * rank {
        return Err(format!("strides/dilations/pads do not match {rank} spatial axes"));
    }
    Ok([list(&s), list(&d), list(&p[..rank]), list(&p[rank..])])
}

/// Weights `[A, B, k..]` split into groups: `[G, A/G, B, k..]` (the first
/// dim is output channels for convolutions, input channels for transposed ones).
fn grouped(ws: &[i64], g: i64) -> Result<Vec<usize>, String> {
    let a = *ws.first().ok_or("weights without dims")?;
    if g <= 0 || a < 0 || a % g != 0 {
        return Err(format!("group {g} does not divide the weights' first dim {a}"));
    }
    let mut shape: Vec<usize> = vec![g as usize, (a / g) as usize];
    for &d in &ws[1..] {
        shape.push(usize::try_from(d).map_err(|_| "grouped weights must have a known shape")?);
    }
    Ok(shape)
}

pub(super) fn conv(cx: &mut Cx<'_>, n: &Node, c: &Conv) -> Result<(), String> {
    let sp = (&c.strides, &c.dilations, &c.pads, c.auto_pad);
    conv_like(cx, n, ["Convolution", "GroupConvolution"], sp, c.group, |_| vec![])
}

pub(super) fn conv_transpose(
    cx: &mut Cx<'_>,
    n: &Node,
    c: &ptq_ir::ops::conv_transpose::ConvTranspose,
) -> Result<(), String> {
    if c.output_shape.is_some() {
        return Err("output_shape has no OpenVINO form; give explicit pads".into());
    }
    // Without an output_shape input OpenVINO ignores same_upper/same_lower
    // (no padding), which would change the layer.
    if matches!(c.auto_pad, AutoPad::SameUpper | AutoPad::SameLower) {
        return Err("SAME auto_pad on a transposed convolution has no OpenVINO form; give explicit pads".into());
    }
    let sp = (&c.strides, &c.dilations, &c.pads, c.auto_pad);
    // Grouped weights: [C_in, C_out/G, k..] → [G, C_in/G, C_out/G, k..].
    conv_like(cx, n, ["ConvolutionBackpropData", "GroupConvolutionBackpropData"], sp, c.group, |rank| {
        let op = c.output_padding.clone().unwrap_or_else(|| vec![0; rank]);
        vec![("output_padding".into(), list(&op))]
    })
}

pub(super) fn pool(cx: &mut Cx<'_>, n: &Node, p: &Pool) -> Result<(), String> {
    if n.outputs.get(1).copied().flatten().is_some() {
        return Err("MaxPool indices have no OpenVINO opset1 form".into());
    }
    let rank = p.kernel_shape.len();
    if p.dilations.as_ref().is_some_and(|d| d.iter().any(|&v| v != 1)) {
        return Err("dilated pooling is not written yet".into());
    }
    let [s, _, pb, pe] = spatial(&p.strides, &None, &p.pads, rank)?;
    let rounding = if p.ceil_mode { "ceil" } else { "floor" };
    let mut data = attrs([
        ("strides", s),
        ("pads_begin", pb),
        ("pads_end", pe),
        ("kernel", list(&p.kernel_shape)),
        ("rounding_type", rounding.into()),
        ("auto_pad", auto_pad(p.auto_pad).into()),
    ]);
    let x = cx.src(inp(n, 0)?)?;
    let kind = match p.kind {
        PoolKind::Max => "MaxPool",
        PoolKind::Avg => {
            data.push(("exclude-pad".into(), (!p.count_include_pad).to_string()));
            "AvgPool"
        }
    };
    single(cx, n, kind, "opset1", data, &[x])
}

pub(super) fn global_pool(cx: &mut Cx<'_>, n: &Node, p: &GlobalPool) -> Result<(), String> {
    let x = inp(n, 0)?;
    let rank = cx.rank(x)?;
    let axes: Vec<i64> = (2..rank as i64).collect();
    let xs = cx.src(x)?;
    let a = cx.ints(&format!("{}/axes", n.name), &axes)?;
    let kind = if p.kind == PoolKind::Max { "ReduceMax" } else { "ReduceMean" };
    single(cx, n, kind, "opset1", attrs([("keep_dims", "true".into())]), &[xs, a])
}

pub(super) fn batch_norm(cx: &mut Cx<'_>, n: &Node, b: &BatchNorm) -> Result<(), String> {
    if b.training_mode || n.outputs.iter().skip(1).any(Option::is_some) {
        return Err("training-mode batch norm has no OpenVINO form".into());
    }
    // BatchNormInference v5: data, gamma, beta, mean, variance.
    let ins = super::inputs(cx, n)?;
    if ins.len() != 5 {
        return Err("batch norm needs 5 inputs".into());
    }
    single(cx, n, "BatchNormInference", "opset5", attrs([("epsilon", b.epsilon.to_string())]), &ins)
}

/// Strides, dilations, pads and auto_pad of a convolution.
type SpatialAttrs<'a> = (&'a Option<Vec<i64>>, &'a Option<Vec<i64>>, &'a Option<Vec<i64>>, AutoPad);

/// A convolution or transposed convolution: `kinds[0]` for one group,
/// `kinds[1]` with the weights split into groups; `extra(rank)` adds
/// attributes; then the bias (input 2).
fn conv_like(
    cx: &mut Cx<'_>,
    n: &Node,
    kinds: [&str; 2],
    (strides, dilations, pads, pad): SpatialAttrs<'_>,
    group: i64,
    extra: impl FnOnce(usize) -> Vec<(String, String)>,
) -> Result<(), String> {
    let (x, w) = (inp(n, 0)?, inp(n, 1)?);
    let ws = cx.port(w)?.dims;
    let rank = ws.len().checked_sub(2).filter(|&r| r > 0).ok_or("weights of rank < 3")?;
    let [s, d, pb, pe] = spatial(strides, dilations, pads, rank)?;
    let mut data = attrs([
        ("strides", s),
        ("dilations", d),
        ("pads_begin", pb),
        ("pads_end", pe),
        ("auto_pad", auto_pad(pad).into()),
    ]);
    data.extend(extra(rank));
    let xs = cx.src(x)?;
    let (kind, ws_src) = if group == 1 {
        (kinds[0], super::quant::weight(cx, w, None)?)
    } else {
        (kinds[1], super::quant::weight(cx, w, Some(&grouped(&ws, group)?))?)
    };
    with_bias(cx, n, kind, "opset1", data, &[xs, ws_src], 2)
}

/// The layer, then `+ bias` (input `slot`, shape `[C]`) reshaped to
/// `[1, C, 1, ...]` when there is one.
fn with_bias(
    cx: &mut Cx<'_>,
    n: &Node,
    kind: &str,
    version: &str,
    data: Vec<(String, String)>,
    ins: &[crate::export::builder::Src],
    slot: usize,
) -> Result<(), String> {
    let Some(b) = opt_inp(n, slot) else { return single(cx, n, kind, version, data, ins) };
    let y = out(n, 0)?;
    let port = cx.port(y)?;
    let conv = cx.b.layer1(&format!("{}/conv", n.name), kind, version, data, ins, port.clone())?;
    let mut shape = vec![1usize; port.dims.len()];
    let bias = match cx.g.constant(b).and_then(|t| t.to_f64_vec().into_iter().map(Some).collect::<Option<Vec<_>>>()) {
        Some(v) if port.dims.len() >= 2 => {
            shape[1] = v.len();
            let t = ptq_ir::Tensor::F32(
                ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&shape), v.iter().map(|&x| x as f32).collect())
                    .map_err(|e| e.to_string())?,
            );
            cx.constant(&format!("{}/bias", n.name), &t)?
        }
        _ => {
            let bs = cx.src(b)?;
            let mut target = vec![1i64; port.dims.len()];
            if let Some(t) = target.get_mut(1) {
                *t = -1;
            }
            let s = cx.ints(&format!("{}/bias_shape", n.name), &target)?;
            let bp = crate::export::builder::Port::new(cx.port(b)?.dtype, vec![-1; port.dims.len()]);
            step(
                cx,
                &format!("{}/bias_reshape", n.name),
                "Reshape",
                attrs([("special_zero", "false".into())]),
                &[bs, s],
                bp,
            )?
        }
    };
    let s = cx.b.layer1(&n.name, "Add", "opset1", numpy(), &[conv, bias], port)?;
    cx.bind(y, s);
    Ok(())
}
