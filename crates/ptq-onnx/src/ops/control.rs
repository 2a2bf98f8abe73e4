//! If, Loop and Scan: export of the ops and their bodies as `GRAPH`
//! attributes (import is in `import/subgraph.rs`, which needs the importer).

use onnx_protobuf::AttributeProto;
use onnx_protobuf::attribute_proto::AttributeType;
use ptq_ir::ops::body::{Body, capture_count};
use ptq_ir::ops::scan::Scan;

use super::{Emitted, ExportCtx};
use crate::attrs::AttrOut;

/// Writes an `If`, `Loop` or `Scan` node as `op_type` with attributes
/// `out`: the node's own inputs (its captures are read by name inside the
/// bodies) and each body as a graph attribute, named by `names` in
/// [`ptq_ir::Op::bodies`] order.
pub fn export(cx: &ExportCtx<'_>, op_type: &str, mut out: AttrOut, names: &[&str]) -> Result<Emitted, String> {
    let bodies = cx.node.op.bodies();
    let own = cx.node.inputs.len().checked_sub(capture_count(bodies.iter().copied())).ok_or("too few inputs")?;
    let mut next = own;
    let mut graphs = Vec::with_capacity(bodies.len());
    for b in &bodies {
        let n = b.captures().len();
        graphs.push(body_proto(cx, b, next)?);
        next += n;
    }
    for (name, g) in names.iter().zip(graphs) {
        let mut a = AttributeProto::new();
        a.name = (*name).to_string();
        a.type_ = AttributeType::GRAPH.into();
        a.g = Some(g).into();
        out.0.push(a);
    }
    let mut e = Emitted::new(op_type, out);
    e.input_order = Some((0..own).collect());
    Ok(e)
}

/// Scan's attributes (`directions` in the batched opset-8 form).
pub fn scan_attrs(s: &Scan) -> AttrOut {
    let mut out = AttrOut::default();
    out.int("num_scan_inputs", s.num_scan_inputs as i64);
    if s.batched {
        out.ints_opt("directions", &s.scan_input_directions);
    } else {
        out.ints_opt("scan_input_directions", &s.scan_input_directions);
        out.ints_opt("scan_input_axes", &s.scan_input_axes);
        out.ints_opt("scan_output_axes", &s.scan_output_axes);
        out.ints_opt("scan_output_directions", &s.scan_output_directions);
    }
    out
}

/// A body as a `GraphProto`: its formal inputs only, each capture renamed
/// to the outer value the node reads at input `first + k`, so the body reads
/// it by that name.
fn body_proto(cx: &ExportCtx<'_>, body: &Body, first: usize) -> Result<onnx_protobuf::GraphProto, String> {
    let mut g = body.graph.clone();
    for (k, &c) in body.captures().iter().enumerate() {
        let outer = cx.node.inputs.get(first + k).copied().flatten().ok_or("a capture input is missing")?;
        let name = cx.graph.value(outer).name.clone();
        if g.values().iter().enumerate().any(|(i, v)| i != c.0 && v.name == name) {
            return Err(format!("the body defines {name:?}, which it also reads from the enclosing graph"));
        }
        g.value_mut(c).name = name;
    }
    g.inputs_mut().truncate(body.formal);
    crate::export::graph_proto(&g, cx.opset, "").map_err(|e| e.to_string().trim_start_matches(": ").to_string())
}
