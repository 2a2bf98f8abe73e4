//! Quantizers as TensorFlow's fake-quant ops: a QuantizeLinear →
//! DequantizeLinear pair on an activation is `FakeQuantWithMinMaxVars`; an
//! int8 constant read by a DequantizeLinear (a weight) is its float values
//! through `FakeQuantWithMinMaxVarsPerChannel` along the quantized axis,
//! which must then be the last; any other dequantized constant (an int32
//! bias) is folded to float.

use ndarray::{ArrayD, IxDyn};
use ptq_ir::pattern::{quant_axis, quant_params};
use ptq_ir::{DType, Node, Op, Tensor, ValueId};

use super::{inp, out};
use crate::export::builder::{boolean, int};
use crate::export::{Cx, Layout};

/// The integer range of an 8-bit quantized dtype.
fn qrange(d: DType) -> Result<(f64, f64), String> {
    match d {
        DType::U8 => Ok((0.0, 255.0)),
        DType::I8 => Ok((-128.0, 127.0)),
        d => Err(format!("{d} quantization has no TensorFlow fake-quant form (8 bits only)")),
    }
}

/// Min and max constants and the fake-quant op reading `x` with them.
fn fake_quant(
    cx: &mut Cx<'_>,
    base: &str,
    x: String,
    min: &[f32],
    max: &[f32],
    narrow: bool,
    per_channel: bool,
) -> String {
    let vec = |v: &[f32]| {
        if per_channel { Tensor::from_f32s(v) } else { Tensor::scalar_f32(v[0]) }
    };
    let lo = cx.constant(&format!("{base}/min"), &vec(min));
    let hi = cx.constant(&format!("{base}/max"), &vec(max));
    let op = if per_channel { "FakeQuantWithMinMaxVarsPerChannel" } else { "FakeQuantWithMinMaxVars" };
    let t = cx.b.node(base, op, vec![x, lo, hi], vec![("num_bits", int(8)), ("narrow_range", boolean(narrow))]);
    cx.fake_quantized.insert(t.clone(), (min.to_vec(), max.to_vec()));
    t
}

pub(super) fn quantize_linear(cx: &mut Cx<'_>, n: &Node) -> Result<(), String> {
    // Written by the DequantizeLinear nodes that read it.
    let y = out(n, 0)?;
    let only_dq = ptq_ir::pattern::read_only_by_dequantizers(cx.g, &cx.consumers, y);
    if only_dq { Ok(()) } else { Err("not followed by DequantizeLinear has no TensorFlow form".into()) }
}

pub(super) fn dequantize_linear(cx: &mut Cx<'_>, n: &Node) -> Result<(), String> {
    let x = inp(n, 0)?;
    let y = out(n, 0)?;
    if cx.g.constant(x).is_some() {
        // Written where it is read: a weight in its reader's layout.
        return Ok(());
    }
    let (qid, _) = *cx.producers.get(&x).ok_or("of a graph input has no TensorFlow form")?;
    let q =
        cx.g.node(qid)
            .filter(|q| matches!(q.op, Op::QuantizeLinear(_)))
            .ok_or("must read a QuantizeLinear or a constant")?;
    let src = inp(q, 0)?;
    let (qs, qz) = quant_params(cx.g, q)?;
    let (ds, dz) = quant_params(cx.g, n)?;
    if qs != ds || qz != dz {
        return Err("with other parameters than its QuantizeLinear has no TensorFlow form".into());
    }
    let (lo, hi) = qrange(cx.dtype(x)?)?;
    let min: Vec<f32> = qs.iter().zip(&qz).map(|(s, z)| ((lo - z) * s) as f32).collect();
    let max: Vec<f32> = qs.iter().zip(&qz).map(|(s, z)| ((hi - z) * s) as f32).collect();
    let (t, layout) = cx.held(src)?;
    if cx.fake_quantized.get(&t).is_some_and(|(a, b)| *a == min && *b == max) {
        // The same quantizer again (repeated after a layout change that is free here).
        cx.bind(y, t, layout);
        return Ok(());
    }
    if qs.len() == 1 {
        let t = fake_quant(cx, &n.name, t, &min, &max, false, false);
        cx.bind(y, t, layout);
        return Ok(());
    }
    // Per channel: TensorFlow's op quantizes along the last axis.
    let rank = cx.rank(src)?;
    let axis = super::norm_axis(quant_axis(q).unwrap_or(1), rank)?;
    let want = if layout == Layout::Last && crate::export::tf_axis(layout, axis) == 3 { layout } else { Layout::Same };
    if crate::export::tf_axis(want, axis) != rank - 1 {
        return Err("per-channel on an axis that is not last has no TensorFlow form".into());
    }
    let t = cx.get(src, want)?;
    let r = fake_quant(cx, &n.name, t, &min, &max, false, true);
    cx.bind(y, r, want);
    Ok(())
}

/// Whether `v` is a DequantizeLinear of a constant; that node if so.
pub(super) fn dequantizer_of_constant<'a>(cx: &'a Cx<'_>, v: ValueId) -> Option<&'a Node> {
    let &(pid, _) = cx.producers.get(&v)?;
    let p = cx.g.node(pid).filter(|p| matches!(p.op, Op::DequantizeLinear(_)))?;
    cx.g.constant(p.inputs.first().copied().flatten()?)?;
    Some(p)
}

/// A weight input `v` transposed by `perm`: a dequantized int8 constant
/// through a fake-quant op (its axis must land last), a constant on the
/// host, anything else through a `Transpose` node.
pub(super) fn weight(cx: &mut Cx<'_>, v: ValueId, perm: &[i64]) -> Result<String, String> {
    if let Some(p) = dequantizer_of_constant(cx, v) {
        let p = p.clone();
        return dequantized_constant(cx, &p, perm, None);
    }
    let identity = perm.iter().enumerate().all(|(i, &p)| p == i as i64);
    if let Some(t) = cx.g.constant(v) {
        if identity {
            return cx.get(v, Layout::Same);
        }
        let t = crate::ops::permuted(t, perm).ok_or("cannot transpose the weight")?;
        let name = cx.name(v);
        return Ok(cx.constant(&name, &t));
    }
    let t = cx.get(v, Layout::Same)?;
    if identity {
        return Ok(t);
    }
    let name = format!("{}_transposed", cx.name(v));
    let dt = cx.dtype(v)?;
    Ok(cx.transpose(&name, t, perm, dt))
}

/// The DequantizeLinear of a constant that writes `v`, read as is: the
/// quantized axis is moved last for the fake-quant op and back after.
pub(crate) fn dequantized_as_is(cx: &mut Cx<'_>, v: ValueId) -> Result<Option<String>, String> {
    let Some(n) = dequantizer_of_constant(cx, v).cloned() else { return Ok(None) };
    let rank = cx.rank(inp(&n, 0)?)?;
    let per_axis = quant_params(cx.g, &n)?.0.len() > 1;
    let axis = if per_axis { super::norm_axis(quant_axis(&n).unwrap_or(1), rank)? } else { rank.saturating_sub(1) };
    let mut perm: Vec<i64> = (0..rank as i64).filter(|&a| a != axis as i64).collect();
    perm.push(axis as i64);
    let t = dequantized_constant(cx, &n, &perm, None)?;
    if axis + 1 == rank || !per_axis {
        return Ok(Some(t));
    }
    let mut back = vec![0i64; rank];
    for (i, &p) in perm.iter().enumerate() {
        back[p as usize] = i as i64;
    }
    let name = format!("{}_restored", cx.name(v));
    Ok(Some(cx.transpose(&name, t, &back, DType::F32)))
}

/// Whether `v` is a weight quantized per channel (a DequantizeLinear of an
/// 8-bit constant with one scale per channel).
pub(super) fn is_per_channel_weight(cx: &Cx<'_>, v: ValueId) -> bool {
    dequantizer_of_constant(cx, v).is_some_and(|n| {
        n.inputs.get(1).copied().flatten().and_then(|s| cx.g.constant(s)).is_some_and(|s| s.len() > 1)
            && n.inputs
                .first()
                .copied()
                .flatten()
                .and_then(|x| cx.g.constant(x))
                .is_some_and(|x| matches!(x.dtype(), DType::I8 | DType::U8))
    })
}

/// A per-channel weight `v` transposed by `perm` (its axis landing last)
/// and then reshaped to `shape` (the last dim kept).
pub(super) fn weight_reshaped(cx: &mut Cx<'_>, v: ValueId, perm: &[i64], shape: &[usize]) -> Result<String, String> {
    let n = dequantizer_of_constant(cx, v).cloned().ok_or("is not a quantized constant")?;
    dequantized_constant(cx, &n, perm, Some(shape))
}

/// DequantizeLinear `n` of a constant, transposed by `perm` (and reshaped
/// to `shape`, whose last dim must stay the quantized axis). An 8-bit one
/// keeps its grid through a fake-quant op; others are folded to float.
fn dequantized_constant(cx: &mut Cx<'_>, n: &Node, perm: &[i64], shape_to: Option<&[usize]>) -> Result<String, String> {
    let x = inp(n, 0)?;
    let t = cx.g.constant(x).ok_or("not a constant")?.clone();
    let (scale, zp) = quant_params(cx.g, n)?;
    let shape = t.shape().to_vec();
    let rank = shape.len();
    let axis = if scale.len() > 1 { super::norm_axis(quant_axis(n).unwrap_or(1), rank)? } else { 0 };
    let inner: usize = shape.get(axis + 1..).unwrap_or(&[]).iter().product::<usize>().max(1);
    let per = |i: usize| if scale.len() == 1 { 0 } else { (i / inner) % scale.len() };
    let q = t.to_f64_vec();
    let vals: Vec<f32> = q.iter().enumerate().map(|(i, &v)| ((v - zp[per(i)]) * scale[per(i)]) as f32).collect();
    let f = Tensor::F32(ArrayD::from_shape_vec(IxDyn(&shape), vals).map_err(|e| e.to_string())?);
    let mut f = crate::ops::permuted(&f, perm).ok_or("cannot transpose the weight")?;
    if let Some(to) = shape_to {
        if to.last() != f.shape().last() {
            return Err("a reshaped weight must keep its last dim".into());
        }
        f = crate::ops::reshaped(&f, to).ok_or("cannot reshape the weight")?;
    }
    let name = cx.name(out(n, 0)?);
    let data = cx.constant(&format!("{name}/float"), &f);
    let (lo, hi) = match t.dtype() {
        DType::I8 | DType::U8 => qrange(t.dtype())?,
        _ => return Ok(data),
    };
    // Narrow range when the grid's lowest level is unused and symmetric.
    let narrow = t.dtype() == DType::I8 && zp.iter().all(|&z| z == 0.0) && q.iter().all(|&v| v >= -127.0);
    let lo = if narrow { lo + 1.0 } else { lo };
    let min: Vec<f32> = scale.iter().zip(&zp).map(|(s, z)| ((lo - z) * s) as f32).collect();
    let max: Vec<f32> = scale.iter().zip(&zp).map(|(s, z)| ((hi - z) * s) as f32).collect();
    if scale.len() == 1 {
        return Ok(fake_quant(cx, &name, data, &min, &max, narrow, false));
    }
    let last = perm.last().copied().unwrap_or(-1);
    if last != axis as i64 {
        return Err(format!("a weight quantized along axis {axis} is not channels-last here"));
    }
    Ok(fake_quant(cx, &name, data, &min, &max, narrow, true))
}
