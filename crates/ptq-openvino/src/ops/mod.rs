//! Lowering IR layers to ptq-ir ops, one file per op family. A layer type
//! without a lowering becomes `Op::Opaque` (type, opset version and `<data>`
//! attributes kept) so the graph still imports; the executor then names it
//! as unsupported.

mod attention;
mod conv;
mod elementwise;
mod layout;
mod linalg;
mod norm;
mod pool;
mod reduce;
mod shape_ops;

use ptq_ir::ops::opaque::Opaque;
use ptq_ir::{Attr, ValueId};

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
        || attention::lower(cx, l, inputs, outputs)?;
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
