//! Model-local functions (`ModelProto.functions`) inlined before import:
//! each call becomes the function's body with its values renamed apart,
//! its formal inputs and outputs bound to the call's, and attribute
//! references (`ref_attr_name`) replaced by the call's attributes or the
//! function's defaults. The main graph and every subgraph are rewritten,
//! calls inside function bodies too, to a bounded depth and size (a hostile
//! file must not expand without bound): calls nest at most 16 deep, and the
//! expansion may add at most 64 times the file's node count (plus 10,000)
//! nodes. Export writes the inlined graph and keeps the functions.

use std::collections::HashMap;

use onnx_protobuf::attribute_proto::AttributeType;
use onnx_protobuf::{AttributeProto, FunctionProto, GraphProto, NodeProto};

/// Deepest chain of calls inside function bodies.
const MAX_CALL_DEPTH: usize = 16;

/// Rewrites `graph` with every call of a function in `functions` inlined.
/// Returns `None` when nothing was called (the graph is used as it is).
/// Errors name the calling node.
pub fn inline(graph: &GraphProto, functions: &[FunctionProto]) -> Result<Option<GraphProto>, String> {
    if functions.is_empty() {
        return Ok(None);
    }
    let table: HashMap<(&str, &str), &FunctionProto> =
        functions.iter().map(|f| ((f.domain.as_str(), f.name.as_str()), f)).collect();
    let file_nodes = count_nodes(graph) + functions.iter().map(|f| f.node.len()).sum::<usize>();
    let mut cx = Inliner { table, budget: file_nodes.saturating_mul(64).saturating_add(10_000), fresh: 0, calls: 0 };
    let out = cx.graph(graph, 0)?;
    Ok((cx.calls > 0).then_some(out))
}

fn count_nodes(g: &GraphProto) -> usize {
    g.node.iter().map(|n| 1 + n.attribute.iter().filter_map(|a| a.g.as_ref()).map(count_nodes).sum::<usize>()).sum()
}

fn domain_key(d: &str) -> &str {
    if d == "ai.onnx" { "" } else { d }
}

struct Inliner<'f> {
    table: HashMap<(&'f str, &'f str), &'f FunctionProto>,
    /// Nodes the rewritten model may still hold.
    budget: usize,
    /// Counter for fresh value names.
    fresh: usize,
    calls: usize,
}

impl Inliner<'_> {
    fn graph(&mut self, g: &GraphProto, depth: usize) -> Result<GraphProto, String> {
        let mut out = g.clone();
        out.node = self.nodes(&g.node, depth)?;
        Ok(out)
    }

    /// Nodes with calls expanded (and subgraph attributes rewritten).
    fn nodes(&mut self, nodes: &[NodeProto], depth: usize) -> Result<Vec<NodeProto>, String> {
        let mut out = Vec::with_capacity(nodes.len());
        for (i, n) in nodes.iter().enumerate() {
            let label = if n.name.is_empty() { format!("#{i}") } else { n.name.clone() };
            let mut n = n.clone();
            for a in &mut n.attribute {
                if let Some(g) = a.g.as_ref() {
                    let g = self.graph(g, depth).map_err(|e| format!("in attribute {:?}: {e}", a.name))?;
                    a.g = Some(g).into();
                }
                let mut graphs = std::mem::take(&mut a.graphs);
                for g in &mut graphs {
                    *g = self.graph(g, depth)?;
                }
                a.graphs = graphs;
            }
            let key = (domain_key(&n.domain), n.op_type.as_str());
            match self.table.get(&key).copied() {
                None => {
                    self.spend(1)?;
                    out.push(n);
                }
                Some(f) => {
                    if depth >= MAX_CALL_DEPTH {
                        return Err(format!(
                            "node {label:?} ({}): function calls nest more than {MAX_CALL_DEPTH} deep",
                            n.op_type
                        ));
                    }
                    self.calls += 1;
                    let body =
                        self.expand(&n, f, &label).map_err(|e| format!("node {label:?} ({}): {e}", n.op_type))?;
                    out.extend(self.nodes(&body, depth + 1)?);
                }
            }
        }
        Ok(out)
    }

    fn spend(&mut self, n: usize) -> Result<(), String> {
        self.budget =
            self.budget.checked_sub(n).ok_or("inlining functions expands the model beyond 64 times its size")?;
        Ok(())
    }

    /// The body of `f` for the call `call`, renamed and with attributes bound.
    fn expand(&mut self, call: &NodeProto, f: &FunctionProto, label: &str) -> Result<Vec<NodeProto>, String> {
        if call.input.len() > f.input.len() || call.output.len() > f.output.len() {
            return Err(format!(
                "calls function {:?} with {} inputs and {} outputs; it has {} and {}",
                f.name,
                call.input.len(),
                call.output.len(),
                f.input.len(),
                f.output.len()
            ));
        }
        let mut names: HashMap<String, String> = HashMap::new();
        for (k, formal) in f.input.iter().enumerate() {
            names.insert(formal.clone(), call.input.get(k).cloned().unwrap_or_default());
        }
        for (k, formal) in f.output.iter().enumerate() {
            names.insert(formal.clone(), call.output.get(k).cloned().unwrap_or_default());
        }
        self.fresh += 1;
        let prefix = format!("{label}__{}", self.fresh);
        let mut attrs: HashMap<&str, &AttributeProto> =
            f.attribute_proto.iter().map(|a| (a.name.as_str(), a)).collect();
        for a in &call.attribute {
            attrs.insert(a.name.as_str(), a);
        }
        let mut body = f.node.clone();
        for n in &mut body {
            for o in n.output.iter_mut().filter(|o| !o.is_empty()) {
                if !names.contains_key(o.as_str()) {
                    names.insert(o.clone(), format!("{prefix}/{o}"));
                }
            }
        }
        for n in &mut body {
            n.name = format!("{prefix}/{}", n.name);
            rename_node(n, &names);
            bind_attrs(n, &attrs);
        }
        Ok(body)
    }
}

/// Renames the values a node (and, by name, its subgraphs) reads and writes.
fn rename_node(n: &mut NodeProto, names: &HashMap<String, String>) {
    for v in n.input.iter_mut().chain(n.output.iter_mut()) {
        if let Some(new) = names.get(v.as_str()) {
            *v = new.clone();
        }
    }
    for a in &mut n.attribute {
        if let Some(g) = a.g.as_mut() {
            rename_graph(g, names);
        }
        for g in &mut a.graphs {
            rename_graph(g, names);
        }
    }
}

/// Renames the outer values a subgraph reads (its own values keep their names).
fn rename_graph(g: &mut GraphProto, names: &HashMap<String, String>) {
    let own: std::collections::HashSet<String> = g
        .input
        .iter()
        .map(|v| v.name.clone())
        .chain(g.initializer.iter().map(|t| t.name.clone()))
        .chain(g.node.iter().flat_map(|n| n.output.iter().cloned()))
        .collect();
    let outer: HashMap<String, String> =
        names.iter().filter(|(k, _)| !own.contains(k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
    for n in &mut g.node {
        rename_node(n, &outer);
    }
    for o in &mut g.output {
        if let Some(new) = outer.get(&o.name) {
            o.name = new.clone();
        }
    }
}

/// Replaces attribute references by the call's attributes (or the
/// function's defaults); a reference to an attribute given nowhere is
/// dropped, as the ONNX spec says. Also inside subgraphs.
fn bind_attrs(n: &mut NodeProto, attrs: &HashMap<&str, &AttributeProto>) {
    let mut out = Vec::with_capacity(n.attribute.len());
    for a in n.attribute.drain(..) {
        if a.ref_attr_name.is_empty() {
            out.push(a);
            continue;
        }
        if let Some(v) = attrs.get(a.ref_attr_name.as_str()) {
            let mut bound = (*v).clone();
            bound.name = a.name.clone();
            if bound.type_.enum_value().ok() == Some(AttributeType::UNDEFINED) {
                bound.type_ = a.type_;
            }
            out.push(bound);
        }
    }
    for a in &mut out {
        if let Some(g) = a.g.as_mut() {
            for m in &mut g.node {
                bind_attrs(m, attrs);
            }
        }
    }
    n.attribute = out;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(op: &str, domain: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
        let mut n = NodeProto::new();
        n.op_type = op.into();
        n.domain = domain.into();
        n.input = inputs.iter().map(|s| s.to_string()).collect();
        n.output = outputs.iter().map(|s| s.to_string()).collect();
        n
    }

    fn float_attr(name: &str, v: f32) -> AttributeProto {
        let mut a = AttributeProto::new();
        a.name = name.into();
        a.type_ = AttributeType::FLOAT.into();
        a.f = v;
        a
    }

    /// `y = LeakyRelu(x · x, alpha = @alpha)`.
    fn square_leaky() -> FunctionProto {
        let mut f = FunctionProto::new();
        f.name = "SquareLeaky".into();
        f.domain = "local".into();
        f.input = vec!["a".into()];
        f.output = vec!["b".into()];
        f.attribute = vec!["alpha".into()];
        let mut lr = node("LeakyRelu", "", &["sq"], &["b"]);
        let mut r = AttributeProto::new();
        r.name = "alpha".into();
        r.type_ = AttributeType::FLOAT.into();
        r.ref_attr_name = "alpha".into();
        lr.attribute = vec![r];
        f.node = vec![node("Mul", "", &["a", "a"], &["sq"]), lr];
        f
    }

    #[test]
    fn calls_become_renamed_bodies_with_bound_attributes() {
        let mut g = GraphProto::new();
        let mut c1 = node("SquareLeaky", "local", &["x"], &["y1"]);
        c1.name = "c1".into();
        c1.attribute = vec![float_attr("alpha", 0.5)];
        let mut c2 = node("SquareLeaky", "local", &["y1"], &["y2"]);
        c2.name = "c2".into();
        g.node = vec![c1, c2];
        let out = inline(&g, &[square_leaky()]).unwrap().unwrap();
        let ops: Vec<&str> = out.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["Mul", "LeakyRelu", "Mul", "LeakyRelu"]);
        assert_eq!(out.node[0].input, ["x", "x"]);
        assert_eq!(out.node[1].output, ["y1"]);
        assert_ne!(out.node[0].output, out.node[2].output, "internal values are renamed apart");
        assert_eq!(out.node[1].attribute[0].f, 0.5);
        assert!(out.node[3].attribute.is_empty(), "an unbound reference is dropped");
    }

    #[test]
    fn recursion_is_bounded() {
        let mut f = FunctionProto::new();
        f.name = "F".into();
        f.domain = "local".into();
        f.input = vec!["a".into()];
        f.output = vec!["b".into()];
        f.node = vec![node("F", "local", &["a"], &["b"])];
        let mut g = GraphProto::new();
        g.node = vec![node("F", "local", &["x"], &["y"])];
        let e = inline(&g, &[f]).unwrap_err();
        assert!(e.contains("nest more than"), "{e}");
    }
}
