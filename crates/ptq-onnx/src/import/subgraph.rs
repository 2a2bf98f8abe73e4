//! Control-flow ops (`If`, `Loop`, `Scan`): their `GraphProto` attributes
//! become IR subgraphs ([`Body`]), imported recursively by the same
//! importer, and the outer-scope names a subgraph reads become captures:
//! trailing graph inputs of the body and trailing inputs of the node, which
//! the enclosing graph resolves like any other input. Subgraphs nest at
//! most [`MAX_DEPTH`] deep.

use onnx_protobuf::attribute_proto::AttributeType;
use onnx_protobuf::{GraphProto, NodeProto};
use ptq_ir::ops::body::Body;
use ptq_ir::ops::if_::If;
use ptq_ir::ops::loop_::Loop;
use ptq_ir::ops::scan::Scan;
use ptq_ir::{Op, Value, ValueId};

use super::{Importer, label};
use crate::attrs::Attrs;
use crate::error::OnnxError;
use crate::ops::Lowered;

/// Deepest nesting of subgraphs accepted (the main graph is depth 0).
pub const MAX_DEPTH: usize = 32;

/// Whether a default-domain op type carries subgraphs the IR models.
pub fn is_control(op_type: &str) -> bool {
    matches!(op_type, "If" | "Loop" | "Scan")
}

/// The `GRAPH` attribute `name` of a node.
fn graph_attr<'p>(np: &'p NodeProto, name: &str) -> Result<&'p GraphProto, String> {
    let a = np.attribute.iter().find(|a| a.name == name).ok_or_else(|| format!("missing attribute {name:?}"))?;
    if a.type_.enum_value().ok() != Some(AttributeType::GRAPH) || !a.ref_attr_name.is_empty() {
        return Err(format!("attribute {name:?} must be a graph"));
    }
    a.g.as_ref().ok_or_else(|| format!("attribute {name:?} holds no graph"))
}

impl Importer<'_> {
    /// The value named `name` in this graph; in a subgraph, a name defined
    /// nowhere in it becomes a capture (a new trailing graph input) that the
    /// enclosing graph resolves in turn.
    pub(super) fn resolve(&mut self, name: &str) -> Option<ValueId> {
        if let Some(&id) = self.names.get(name) {
            return Some(id);
        }
        if self.depth == 0 {
            return None;
        }
        let id = self.define(name, Value { name: name.to_string(), ..Value::default() })?;
        self.graph.inputs_mut().push(id);
        Some(id)
    }

    /// Appends to a node's inputs the outer values its bodies capture, body
    /// after body, resolved in this graph.
    pub(super) fn capture_inputs(&mut self, op: &Op, inputs: &mut Vec<Option<ValueId>>) -> Result<(), String> {
        let names: Vec<String> =
            op.bodies().iter().flat_map(|b| b.captures().iter().map(|&v| b.graph.value(v).name.clone())).collect();
        for name in names {
            let id = self.resolve(&name).ok_or_else(|| format!("a subgraph reads {name:?}, which is not defined"))?;
            inputs.push(Some(id));
        }
        Ok(())
    }

    /// Lowers an `If`, `Loop` or `Scan` node with its subgraphs.
    pub(super) fn control(&mut self, np: &NodeProto, i: usize) -> Result<Lowered, OnnxError> {
        let err = |s: &Self, m: String| s.node_err(np, i, m);
        let op: Op = match np.op_type.as_str() {
            "If" => {
                let then_branch = self.body(np, i, "then_branch")?;
                let else_branch = self.body(np, i, "else_branch")?;
                if then_branch.formal + else_branch.formal != 0 {
                    return Err(err(self, "If branches take no inputs".into()));
                }
                If { then_branch, else_branch }.into()
            }
            "Loop" => Loop { body: self.body(np, i, "body")? }.into(),
            "Scan" => {
                let a = Attrs::new(np);
                let read = || -> Result<_, String> {
                    let n = a.int("num_scan_inputs")?.ok_or("missing attribute num_scan_inputs")?;
                    let n = usize::try_from(n).map_err(|_| format!("num_scan_inputs {n} is negative"))?;
                    let batched = self.opset < 9;
                    let dirs = if batched { a.ints("directions")? } else { a.ints("scan_input_directions")? };
                    Ok((n, batched, dirs, a.ints("scan_input_axes")?, a.ints("scan_output_axes")?))
                };
                let (num_scan_inputs, batched, dirs, in_axes, out_axes) = read().map_err(|m| err(self, m))?;
                let out_dirs = a.ints("scan_output_directions").map_err(|m| err(self, m))?;
                Scan {
                    body: self.body(np, i, "body")?,
                    num_scan_inputs,
                    scan_input_axes: in_axes,
                    scan_input_directions: dirs,
                    scan_output_axes: out_axes,
                    scan_output_directions: out_dirs,
                    batched,
                }
                .into()
            }
            t => return Err(err(self, format!("{t} is not a control-flow op"))),
        };
        Ok(Lowered { op, slots: None, moved: vec![] })
    }

    /// Imports graph attribute `attr` of a node as a body: a fresh scope of
    /// this importer, validated and with inferred facts.
    fn body(&mut self, np: &NodeProto, i: usize, attr: &str) -> Result<Body, OnnxError> {
        let gp = graph_attr(np, attr).map_err(|m| self.node_err(np, i, m))?;
        if self.depth >= MAX_DEPTH {
            return Err(self.node_err(np, i, format!("subgraphs are nested more than {MAX_DEPTH} deep")));
        }
        let graph = std::mem::take(&mut self.graph);
        let names = std::mem::take(&mut self.names);
        self.depth += 1;
        let result = self.graph_proto(gp);
        self.depth -= 1;
        let mut sub = std::mem::replace(&mut self.graph, graph);
        self.names = names;
        let in_body =
            |e: OnnxError| self.node_err(np, i, format!("in {attr}: {}", strip_file(&e.to_string(), self.file)));
        result.map_err(in_body)?;
        let overruled = ptq_ir::validate::validate(&sub)
            .and_then(|()| ptq_ir::infer::infer_facts_overruling(&mut sub))
            .map_err(|e| self.node_err(np, i, format!("in {attr}: {e}")))?;
        let node = label(np, i);
        self.warnings.extend(overruled.iter().map(|o| format!("{}: node {node:?}, {attr}: {o}", self.file)));
        Ok(Body::new(sub, gp.input.len()))
    }
}

/// An error message without its leading `file: `, to nest it in another.
fn strip_file(msg: &str, file: &str) -> String {
    msg.strip_prefix(file).and_then(|m| m.strip_prefix(": ")).unwrap_or(msg).to_string()
}
