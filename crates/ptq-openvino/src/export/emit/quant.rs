//! Quantizers: a QuantizeLinear→DequantizeLinear pair on an activation
//! becomes `FakeQuantize`; an integer constant read by a DequantizeLinear
//! stays integer (`Const → Convert → [Subtract] → Multiply`); any other
//! dequantized constant (an int32 bias) is folded to f32.

use ndarray::{ArrayD, IxDyn};
use ptq_ir::pattern::{quant_axis, quant_params};
use ptq_ir::{DType, Node, Op, Tensor, ValueId};

use super::{Cx, inp, numpy, out, single, step};
use crate::export::builder::{Port, Src, attrs};

/// Integer range of a quantized dtype.
fn qrange(d: DType) -> Result<(f64, f64), String> {
    Ok(match d {
        DType::U8 => (0.0, 255.0),
        DType::I8 => (-128.0, 127.0),
        DType::U4 => (0.0, 15.0),
        DType::I4 => (-8.0, 7.0),
        DType::U16 => (0.0, 65535.0),
        DType::I16 => (-32768.0, 32767.0),
        d => return Err(format!("{d} quantization has no FakeQuantize form")),
    })
}

/// `v` as a constant shaped to broadcast along `axis` of a rank-`rank`
/// tensor (a scalar when `v` has one element).
fn along(v: &[f64], axis: i64, rank: usize) -> Result<Tensor, String> {
    let data: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    if data.len() == 1 {
        return Ok(Tensor::F32(ArrayD::from_elem(IxDyn(&[]), data[0])));
    }
    let a = super::norm_axis(axis, rank)? as usize;
    let mut shape = vec![1; rank];
    shape[a] = data.len();
    Ok(Tensor::F32(ArrayD::from_shape_vec(IxDyn(&shape), data).map_err(|e| e.to_string())?))
}

pub(super) fn fake_quantize(
    cx: &mut Cx<'_>,
    n: &Node,
    f: &ptq_ir::ops::fake_quantize::FakeQuantize,
) -> Result<(), String> {
    let ins = super::inputs(cx, n)?;
    single(
        cx,
        n,
        "FakeQuantize",
        "opset1",
        attrs([("levels", f.levels.to_string()), ("auto_broadcast", "numpy".into())]),
        &ins,
    )
}

pub(super) fn quantize_linear(cx: &mut Cx<'_>, n: &Node) -> Result<(), String> {
    // Written by the DequantizeLinear nodes that read it.
    let y = out(n, 0)?;
    let only_dq = ptq_ir::pattern::read_only_by_dequantizers(cx.g, &cx.consumers, y);
    if only_dq { Ok(()) } else { Err("a QuantizeLinear not followed by DequantizeLinear has no IR form".into()) }
}

pub(super) fn dequantize_linear(cx: &mut Cx<'_>, n: &Node) -> Result<(), String> {
    let x = inp(n, 0)?;
    let y = out(n, 0)?;
    if cx.g.constant(x).is_some() {
        let s = dequantized_constant(cx, n, None)?;
        cx.bind(y, s);
        return Ok(());
    }
    let (qid, _) = *cx.producers.get(&x).ok_or("DequantizeLinear of a graph input has no IR form")?;
    let q =
        cx.g.node(qid)
            .filter(|q| matches!(q.op, Op::QuantizeLinear(_)))
            .ok_or("DequantizeLinear must read a QuantizeLinear or a constant")?;
    let src = inp(q, 0)?;
    let rank = cx.rank(src)?;
    let qdt = cx.port(x)?.dtype;
    let (lo, hi) = qrange(qdt)?;
    let (qs, qz) = quant_params(cx.g, q)?;
    let (ds, dz) = quant_params(cx.g, n)?;
    let range =
        |s: &[f64], z: &[f64], bound: f64| -> Vec<f64> { s.iter().zip(z).map(|(s, z)| (bound - z) * s).collect() };
    let name = n.name.clone();
    let xs = cx.src(src)?;
    let il =
        cx.constant(&format!("{name}/input_low"), &along(&range(&qs, &qz, lo), quant_axis(q).unwrap_or(1), rank)?)?;
    let ih =
        cx.constant(&format!("{name}/input_high"), &along(&range(&qs, &qz, hi), quant_axis(q).unwrap_or(1), rank)?)?;
    let ol =
        cx.constant(&format!("{name}/output_low"), &along(&range(&ds, &dz, lo), quant_axis(n).unwrap_or(1), rank)?)?;
    let oh =
        cx.constant(&format!("{name}/output_high"), &along(&range(&ds, &dz, hi), quant_axis(n).unwrap_or(1), rank)?)?;
    let levels = (hi - lo) as u64 + 1;
    let data = attrs([("levels", levels.to_string()), ("auto_broadcast", "numpy".into())]);
    single(cx, n, "FakeQuantize", "opset1", data, &[xs, il, ih, ol, oh])
}

/// A weight input `v` reshaped to `shape` when given: a constant is
/// reshaped in place, a dequantized integer constant keeps its integer
/// `.bin` form with the scale reshaped alongside, anything else goes
/// through a Reshape layer.
pub(crate) fn weight(cx: &mut Cx<'_>, v: ValueId, shape: Option<&[usize]>) -> Result<Src, String> {
    if let Some(&(pid, _)) = cx.producers.get(&v)
        && let Some(p) = cx.g.node(pid).filter(|p| matches!(p.op, Op::DequantizeLinear(_)))
        && cx.g.constant(inp(p, 0)?).is_some()
    {
        if shape.is_none() {
            return cx.src(v);
        }
        let p = p.clone();
        return dequantized_constant(cx, &p, shape);
    }
    let Some(shape) = shape else { return cx.src(v) };
    if let Some(t) = cx.g.constant(v) {
        let t = reshaped(t, shape)?;
        let name = cx.g.value(v).name.clone();
        return cx.constant(&name, &t);
    }
    let s = cx.src(v)?;
    let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
    let target = cx.ints(&format!("{}/shape", cx.g.value(v).name), &dims)?;
    let dt = cx.port(v)?.dtype;
    step(
        cx,
        &format!("{}/reshape", cx.g.value(v).name),
        "Reshape",
        attrs([("special_zero", "false".into())]),
        &[s, target],
        Port::new(dt, dims),
    )
}

fn reshaped(t: &Tensor, shape: &[usize]) -> Result<Tensor, String> {
    if t.len() != shape.iter().product::<usize>() {
        return Err(format!("cannot reshape {:?} to {shape:?}", t.shape()));
    }
    let bytes = t.to_le_bytes().ok_or("constant without a byte form")?;
    Tensor::from_le_bytes(t.dtype(), shape, &bytes).map_err(|e| e.to_string())
}

/// DequantizeLinear `n` of a constant, optionally reshaped (per-axis scales
/// must then be on axis 0, which the reshape may split into leading dims).
fn dequantized_constant(cx: &mut Cx<'_>, n: &Node, shape: Option<&[usize]>) -> Result<Src, String> {
    let x = inp(n, 0)?;
    let t = cx.g.constant(x).ok_or("not a constant")?.clone();
    let (scale, zp) = quant_params(cx.g, n)?;
    let src_shape = t.shape().to_vec();
    let axis =
        if scale.len() > 1 { super::norm_axis(quant_axis(n).unwrap_or(1), src_shape.len())? as usize } else { 0 };
    let target: Vec<usize> = shape.map_or_else(|| src_shape.clone(), <[usize]>::to_vec);
    // The scale's broadcast shape in the target layout.
    let scale_shape: Vec<usize> = if scale.len() == 1 {
        vec![]
    } else if shape.is_none() {
        (0..src_shape.len()).map(|i| if i == axis { scale.len() } else { 1 }).collect()
    } else {
        if axis != 0 {
            return Err("a reshaped weight must be quantized along axis 0".into());
        }
        let mut acc = 1;
        let mut s = vec![];
        for &d in &target {
            if acc < scale.len() {
                acc *= d;
                s.push(d);
            } else {
                s.push(1);
            }
        }
        if acc != scale.len() {
            return Err(format!("cannot split {} scales over {target:?}", scale.len()));
        }
        s
    };
    let name = cx.g.value(out(n, 0)?).name.clone();
    let f32s = |v: &[f64]| -> Result<Tensor, String> {
        Ok(Tensor::F32(
            ArrayD::from_shape_vec(IxDyn(&scale_shape), v.iter().map(|&x| x as f32).collect())
                .map_err(|e| e.to_string())?,
        ))
    };
    let fport = Port::of(DType::F32, &target);
    if matches!(t.dtype(), DType::I8 | DType::U8) {
        // Compressed weight: stays integer in the .bin.
        let q = cx.constant(&cx.g.value(x).name.clone(), &reshaped(&t, &target)?)?;
        let mut last = step(
            cx,
            &format!("{name}/convert"),
            "Convert",
            attrs([("destination_type", "f32".into())]),
            &[q],
            fport.clone(),
        )?;
        if zp.iter().any(|&z| z != 0.0) {
            let z = cx.constant(&format!("{name}/zero_point"), &f32s(&zp)?)?;
            last = step(cx, &format!("{name}/subtract"), "Subtract", numpy(), &[last, z], fport.clone())?;
        }
        let s = cx.constant(&format!("{name}/scale"), &f32s(&scale)?)?;
        return step(cx, &name, "Multiply", numpy(), &[last, s], fport);
    }
    // Anything else (int32 biases, int4): folded to f32.
    let q = t.to_f64_vec();
    let inner: usize = src_shape.get(axis + 1..).unwrap_or(&[]).iter().product::<usize>().max(1);
    let per = |i: usize| if scale.len() == 1 { 0 } else { (i / inner) % scale.len() };
    let vals: Vec<f32> = q.iter().enumerate().map(|(i, &v)| ((v - zp[per(i)]) * scale[per(i)]) as f32).collect();
    let f = Tensor::F32(ArrayD::from_shape_vec(IxDyn(&target), vals).map_err(|e| e.to_string())?);
    cx.constant(&name, &f)
}
