//! Lowering IR layers to ptq-ir ops, one file per op family. A layer type
//! without a lowering becomes `Op::Opaque` (type, opset version and `<data>`
//! attributes kept) so the graph still imports; the executor then names it
//! as unsupported.

mod attention;
mod conv;
mod conv_transpose;
mod elementwise;
mod interpolate;
mod layout;
mod linalg;
mod norm;
mod pool;
mod reduce;
mod shape_ops;
mod strided_slice;
#[cfg(test)]
mod testutil;
mod topk;

use ndarray::{ArrayD, IxDyn};
use ptq_ir::ops::cast::Cast;
use ptq_ir::ops::opaque::Opaque;
use ptq_ir::{Attr, DType, Fact, Tensor, ValueId};

use crate::doc::Layer;
use crate::import::Cx;

/// Lowers layer `l` reading `inputs` and writing `outputs`.
pub fn lower(cx: &mut Cx<'_>, l: &Layer, inputs: &[ValueId], outputs: &[ValueId]) -> Result<(), String> {
    let done = conv::lower(cx, l, inputs, outputs)?
        || elementwise::lower(cx, l, inputs, outputs)?
        || pool::lower(cx, l, inputs, outputs)?
        || reduce::lower(cx, l, inputs, outputs)?
        || linalg::lower(cx, l, inputs, outputs)?
        || layout::lower(cx, l, inputs, outputs)?
        || shape_ops::lower(cx, l, inputs, outputs)?
        || norm::lower(cx, l, inputs, outputs)?
        || attention::lower(cx, l, inputs, outputs)?
        || conv_transpose::lower(cx, l, inputs, outputs)?
        || strided_slice::lower(cx, l, inputs, outputs)?
        || interpolate::lower(cx, l, inputs, outputs)?
        || topk::lower(cx, l, inputs, outputs)?;
    if !done {
        let attrs = l.data.iter().map(|(k, v)| (k.clone(), Attr::String(v.as_bytes().to_vec()))).collect();
        let op = Opaque { op_type: l.kind.clone(), domain: l.version.clone(), attrs };
        cx.node(&l.name, op, inputs.iter().map(|&v| Some(v)).collect(), outputs.to_vec());
    }
    Ok(())
}

/// A `<data>` attribute that must be there.
pub(crate) fn req<'a>(l: &'a Layer, key: &str) -> Result<&'a str, String> {
    l.attr(key).ok_or_else(|| format!("no {key} attribute"))
}

/// A list attribute (`strides="1,1"`), or `default` when absent.
pub(crate) fn ints(l: &Layer, key: &str, default: &[i64]) -> Result<Vec<i64>, String> {
    match l.attr(key) {
        Some(s) => crate::doc::int_list(s),
        None => Ok(default.to_vec()),
    }
}

/// Input `i`.
pub(crate) fn input(inputs: &[ValueId], i: usize) -> Result<ValueId, String> {
    inputs.get(i).copied().ok_or_else(|| format!("missing input {i}"))
}

/// Output `i`.
pub(crate) fn output(outputs: &[ValueId], i: usize) -> Result<ValueId, String> {
    outputs.get(i).copied().ok_or_else(|| format!("missing output {i}"))
}

/// The integers of a constant input (axes, shapes, perms).
pub(crate) fn const_ints(cx: &Cx<'_>, v: ValueId, what: &str) -> Result<Vec<i64>, String> {
    cx.constant_of(v).and_then(|t| t.to_i64_vec()).ok_or_else(|| format!("{what} must be an integer constant"))
}

/// The one integer of a constant input (a scalar or a one-element list).
pub(crate) fn const_int(cx: &Cx<'_>, v: ValueId, what: &str) -> Result<i64, String> {
    match const_ints(cx, v, what)?[..] {
        [x] => Ok(x),
        _ => Err(format!("{what} must be one integer")),
    }
}

/// A numeric attribute that must be there.
pub(crate) fn req_num<T: std::str::FromStr>(l: &Layer, key: &str) -> Result<T, String> {
    req(l, key)?.trim().parse().map_err(|_| format!("{key} is not a number"))
}

/// `v` as a tensor of `dtype` (the types ONNX semantics want for shapes,
/// sizes and scales): a constant is converted at import, anything else gets a
/// Cast named `name`.
pub(crate) fn converted(cx: &mut Cx<'_>, v: ValueId, dtype: DType, name: &str) -> Result<ValueId, String> {
    if let Some(t) = cx.constant_of(v) {
        if t.dtype() == dtype {
            return Ok(v);
        }
        let shape = IxDyn(t.shape());
        let t = match dtype {
            DType::I64 => Tensor::I64(
                ArrayD::from_shape_vec(shape, t.to_i64_vec().ok_or_else(|| format!("{name} must be integers"))?)
                    .map_err(|e| e.to_string())?,
            ),
            DType::F32 => Tensor::F32(
                ArrayD::from_shape_vec(shape, t.to_f64_vec().iter().map(|&x| x as f32).collect())
                    .map_err(|e| e.to_string())?,
            ),
            other => return Err(format!("cannot convert {name} to {other}")),
        };
        return Ok(cx.constant(name, t));
    }
    if cx.g.value(v).fact.dtype == Some(dtype) {
        return Ok(v);
    }
    let out = cx.value(name, Fact::dtype_only(Some(dtype)));
    cx.node(name, Cast { to: dtype, saturate: None }, vec![Some(v)], vec![out]);
    Ok(out)
}
