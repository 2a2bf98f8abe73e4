//! Graph edits as data: build a [`Patch`], then apply it to a graph.
//!
//! A patch is checked against the graph before anything changes, so applying
//! either succeeds completely or leaves the graph untouched. Keeping patches as
//! values lets accuracy control revert an edit by not applying it.

use std::collections::HashSet;
use std::sync::Arc;

use crate::error::{IrError, Result};
use crate::graph::{ConstSource, Graph, Node, NodeId, Value, ValueId};
use crate::ops::Op;
use crate::tensor::Tensor;

/// A value referred to by a patch: one in the graph or one the patch creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PatchValue {
    Existing(ValueId),
    New(usize),
}

impl From<ValueId> for PatchValue {
    fn from(v: ValueId) -> PatchValue {
        PatchValue::Existing(v)
    }
}

#[derive(Clone, Debug, PartialEq)]
struct NewNode {
    name: String,
    op: Op,
    inputs: Vec<Option<PatchValue>>,
    outputs: Vec<Option<PatchValue>>,
    doc: String,
    meta: Vec<(String, String)>,
}

#[derive(Clone, Debug, PartialEq)]
enum Step {
    SetInput { node: NodeId, slot: usize, value: PatchValue },
    SetInputs { node: NodeId, inputs: Vec<Option<PatchValue>> },
    SetOutput { node: NodeId, slot: usize, value: PatchValue },
    Rename { node: NodeId, name: String },
    SetOp { node: NodeId, op: Box<Op> },
    ReplaceNode { node: NodeId, with: Box<Node> },
    ReplaceUses { old: ValueId, new: PatchValue, except: Vec<NodeId> },
    SetConstant { value: ValueId, tensor: Arc<Tensor> },
    RemoveNode(NodeId),
}

/// A set of additions and rewirings applied atomically.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Patch {
    values: Vec<Value>,
    nodes: Vec<NewNode>,
    steps: Vec<Step>,
}

/// Where the patch's new values and nodes ended up.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Applied {
    pub values: Vec<ValueId>,
    pub nodes: Vec<NodeId>,
}

impl Applied {
    /// The graph id of a patch value.
    pub fn value(&self, v: PatchValue) -> ValueId {
        resolve(&self.values, v)
    }
}

fn resolve(new: &[ValueId], v: PatchValue) -> ValueId {
    match v {
        PatchValue::Existing(id) => id,
        PatchValue::New(i) => new[i],
    }
}

impl Patch {
    /// An empty patch.
    pub fn new() -> Patch {
        Patch::default()
    }

    /// True when applying would change nothing.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty() && self.nodes.is_empty() && self.steps.is_empty()
    }

    /// Declares a new (non-constant) value, to be produced by a new node.
    pub fn add_value(&mut self, value: Value) -> PatchValue {
        self.values.push(value);
        PatchValue::New(self.values.len() - 1)
    }

    /// Declares a new constant.
    pub fn add_constant(&mut self, name: impl Into<String>, tensor: Tensor) -> PatchValue {
        let fact = crate::fact::Fact::new(tensor.dtype(), crate::fact::known_shape(tensor.shape()));
        self.add_value(Value {
            name: name.into(),
            fact,
            constant: Some(Arc::new(tensor)),
            const_source: ConstSource::Derived,
            ..Value::default()
        })
    }

    /// Adds a node reading and writing the given values. It writes new
    /// values, or existing ones whose producer the patch removes.
    pub fn add_node(
        &mut self,
        name: impl Into<String>,
        op: impl Into<Op>,
        inputs: Vec<Option<PatchValue>>,
        outputs: Vec<Option<PatchValue>>,
    ) {
        let (doc, meta) = (String::new(), Vec::new());
        self.nodes.push(NewNode { name: name.into(), op: op.into(), inputs, outputs, doc, meta });
    }

    /// [`Patch::add_node`], keeping the doc string and metadata of the node
    /// `like` that the new one stands in for.
    pub fn add_node_like(
        &mut self,
        like: &Node,
        name: impl Into<String>,
        op: impl Into<Op>,
        inputs: Vec<Option<PatchValue>>,
        outputs: Vec<Option<PatchValue>>,
    ) {
        self.add_node(name, op, inputs, outputs);
        if let Some(n) = self.nodes.last_mut() {
            n.doc.clone_from(&like.doc);
            n.meta.clone_from(&like.meta);
        }
    }

    /// Makes the existing `value` a constant holding `tensor` (its producer,
    /// if any, must be removed by the patch).
    pub fn set_constant(&mut self, value: ValueId, tensor: Tensor) {
        self.steps.push(Step::SetConstant { value, tensor: Arc::new(tensor) });
    }

    /// Makes input `slot` of an existing node read `value`.
    pub fn set_input(&mut self, node: NodeId, slot: usize, value: PatchValue) {
        self.steps.push(Step::SetInput { node, slot, value });
    }

    /// Makes an existing node read `inputs`, in place of all its inputs.
    pub fn set_inputs(&mut self, node: NodeId, inputs: Vec<Option<PatchValue>>) {
        self.steps.push(Step::SetInputs { node, inputs });
    }

    /// Makes output `slot` of an existing node write `value`: a new one,
    /// or an existing one whose producer the patch removes or points
    /// elsewhere (or which had none).
    pub fn set_output(&mut self, node: NodeId, slot: usize, value: impl Into<PatchValue>) {
        self.steps.push(Step::SetOutput { node, slot, value: value.into() });
    }

    /// Renames an existing node.
    pub fn rename(&mut self, node: NodeId, name: impl Into<String>) {
        self.steps.push(Step::Rename { node, name: name.into() });
    }

    /// Replaces the op of an existing node (its inputs and outputs stay).
    pub fn set_op(&mut self, node: NodeId, op: impl Into<Op>) {
        self.steps.push(Step::SetOp { node, op: Box::new(op.into()) });
    }

    /// Replaces an existing node (name, op, inputs and outputs) with `with`,
    /// which reads and writes existing values; the id stays.
    pub fn replace_node(&mut self, node: NodeId, with: Node) {
        self.steps.push(Step::ReplaceNode { node, with: Box::new(with) });
    }

    /// Makes every reader of `old` (nodes and graph outputs), except the nodes
    /// listed and the patch's own new nodes, read `new` instead.
    pub fn replace_uses(&mut self, old: ValueId, new: PatchValue, except: Vec<NodeId>) {
        self.steps.push(Step::ReplaceUses { old, new, except });
    }

    /// Removes an existing node.
    pub fn remove_node(&mut self, node: NodeId) {
        self.steps.push(Step::RemoveNode(node));
    }

    fn check(&self, g: &Graph) -> Result<()> {
        let value_ok = |v: &PatchValue| match v {
            PatchValue::Existing(id) => id.0 < g.values.len(),
            PatchValue::New(i) => *i < self.values.len(),
        };
        // An existing value may get a new producer only if it is not a
        // constant or graph input and every node writing it now is removed,
        // replaced, or points that output elsewhere.
        let free = |v: ValueId| {
            v.0 < g.values.len()
                && g.values[v.0].constant.is_none()
                && !g.inputs.contains(&v)
                && g.iter_nodes().all(|(id, n)| {
                    n.outputs.iter().enumerate().all(|(slot, o)| *o != Some(v) || self.releases(id, slot))
                })
        };
        let mut produced = HashSet::new();
        for n in &self.nodes {
            if !n.inputs.iter().flatten().all(value_ok) || !n.outputs.iter().flatten().all(value_ok) {
                return Err(IrError::Patch(format!("node {:?} refers to an unknown value", n.name)));
            }
            for o in n.outputs.iter().flatten() {
                let taken = matches!(o, PatchValue::Existing(v) if !free(*v));
                if taken || !produced.insert(*o) {
                    return Err(IrError::Patch(format!(
                        "node {:?} must write new values or values whose producer goes, each once",
                        n.name
                    )));
                }
            }
        }
        for s in &self.steps {
            let ok = match s {
                Step::SetInput { node, slot, value } => {
                    g.node(*node).is_some_and(|n| *slot < n.inputs.len()) && value_ok(value)
                }
                Step::SetInputs { node, inputs } => g.node(*node).is_some() && inputs.iter().flatten().all(value_ok),
                Step::SetOutput { node, slot, value } => {
                    let mut writes = |v: &PatchValue| match v {
                        PatchValue::Existing(v) => free(*v),
                        PatchValue::New(_) => value_ok(v) && produced.insert(*v),
                    };
                    g.node(*node).is_some_and(|n| *slot < n.outputs.len()) && writes(value)
                }
                Step::Rename { node, .. } => g.node(*node).is_some(),
                Step::SetOp { node, .. } => g.node(*node).is_some(),
                Step::ReplaceNode { node, with } => {
                    let known = |v: &ValueId| v.0 < g.values.len();
                    g.node(*node).is_some()
                        && with.inputs.iter().flatten().all(known)
                        && with.outputs.iter().flatten().all(known)
                }
                Step::ReplaceUses { old, new, except } => {
                    old.0 < g.values.len() && value_ok(new) && except.iter().all(|n| g.node(*n).is_some())
                }
                Step::SetConstant { value, .. } => free(*value) && !produced.contains(&PatchValue::Existing(*value)),
                Step::RemoveNode(n) => g.node(*n).is_some(),
            };
            if !ok {
                return Err(IrError::Patch(format!("step {s:?} refers to a missing node, slot or value")));
            }
        }
        Ok(())
    }

    /// True when the patch removes or replaces node `id`, or points its
    /// output `slot` at another value.
    fn releases(&self, id: NodeId, slot: usize) -> bool {
        self.steps.iter().any(|s| match s {
            Step::RemoveNode(n) => *n == id,
            Step::SetOutput { node, slot: k, .. } => *node == id && *k == slot,
            Step::ReplaceNode { node, .. } => *node == id,
            _ => false,
        })
    }

    /// A patch removing `nodes`.
    pub fn removing(nodes: impl IntoIterator<Item = NodeId>) -> Patch {
        let mut p = Patch::new();
        for n in nodes {
            p.remove_node(n);
        }
        p
    }

    /// Applies the patch. Checks every reference first; on error the graph is unchanged.
    pub fn apply(&self, g: &mut Graph) -> Result<Applied> {
        self.check(g)?;
        let values: Vec<ValueId> = self.values.iter().map(|v| g.add_value(v.clone())).collect();
        let first_new_node = g.nodes.len();
        let nodes: Vec<NodeId> = self
            .nodes
            .iter()
            .map(|n| {
                g.add_node(Node {
                    name: n.name.clone(),
                    op: n.op.clone(),
                    inputs: n.inputs.iter().map(|v| v.map(|v| resolve(&values, v))).collect(),
                    outputs: n.outputs.iter().map(|v| v.map(|v| resolve(&values, v))).collect(),
                    doc: n.doc.clone(),
                    meta: n.meta.clone(),
                })
            })
            .collect();
        for s in &self.steps {
            match s {
                Step::SetInput { node, slot, value } => {
                    if let Some(n) = g.nodes[node.0].as_mut() {
                        n.inputs[*slot] = Some(resolve(&values, *value));
                    }
                }
                Step::SetInputs { node, inputs } => {
                    if let Some(n) = g.nodes[node.0].as_mut() {
                        n.inputs = inputs.iter().map(|v| v.map(|v| resolve(&values, v))).collect();
                    }
                }
                Step::SetOutput { node, slot, value } => {
                    if let Some(n) = g.nodes[node.0].as_mut() {
                        n.outputs[*slot] = Some(resolve(&values, *value));
                    }
                }
                Step::Rename { node, name } => {
                    if let Some(n) = g.nodes[node.0].as_mut() {
                        n.name.clone_from(name);
                    }
                }
                Step::SetOp { node, op } => {
                    if let Some(n) = g.nodes[node.0].as_mut() {
                        n.op = (**op).clone();
                    }
                }
                Step::ReplaceNode { node, with } => g.nodes[node.0] = Some((**with).clone()),
                Step::ReplaceUses { old, new, except } => {
                    let new = resolve(&values, *new);
                    for (i, n) in g.nodes.iter_mut().enumerate().take(first_new_node) {
                        let Some(n) = n.as_mut() else { continue };
                        if except.contains(&NodeId(i)) {
                            continue;
                        }
                        for inp in n.inputs.iter_mut().flatten() {
                            if *inp == *old {
                                *inp = new;
                            }
                        }
                    }
                    for o in g.outputs.iter_mut() {
                        if *o == *old {
                            *o = new;
                        }
                    }
                }
                Step::SetConstant { value, tensor } => {
                    let v = &mut g.values[value.0];
                    v.constant = Some(Arc::clone(tensor));
                    v.const_source = ConstSource::Derived;
                }
                Step::RemoveNode(n) => g.nodes[n.0] = None,
            }
        }
        Ok(Applied { values, nodes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::fact::{Dim, Fact};
    use crate::ops::unary::{Unary, UnaryKind};

    fn relu_graph() -> (Graph, NodeId) {
        let mut g = Graph::default();
        let x = g.add_value(Value {
            name: "x".into(),
            fact: Fact::new(DType::F32, vec![Dim::Known(4)]),
            ..Value::default()
        });
        let y = g.add_value(Value { name: "y".into(), ..Value::default() });
        let n = g.add_node(Node {
            name: "relu".into(),
            op: Unary { kind: UnaryKind::Relu }.into(),
            inputs: vec![Some(x)],
            outputs: vec![Some(y)],
            doc: String::new(),
            meta: vec![],
        });
        g.inputs.push(x);
        g.outputs.push(y);
        (g, n)
    }

    #[test]
    fn insert_after_output_keeps_graph_valid() {
        let (mut g, _) = relu_graph();
        let y = g.outputs[0];
        let mut p = Patch::new();
        let z = p.add_value(Value { name: "z".into(), ..Value::default() });
        p.add_node("neg", Unary { kind: UnaryKind::Neg }, vec![Some(PatchValue::Existing(y))], vec![Some(z)]);
        p.replace_uses(y, z, vec![]);
        let applied = p.apply(&mut g).unwrap();
        crate::validate::validate(&g).unwrap();
        assert_eq!(g.outputs, vec![applied.value(z)]);
        crate::infer::infer_facts(&mut g).unwrap();
        assert_eq!(g.value(applied.value(z)).fact, Fact::new(DType::F32, vec![Dim::Known(4)]));
    }

    #[test]
    fn nodes_are_rewired_replaced_and_retyped_in_place() {
        let (mut g, n) = relu_graph();
        let (x, y) = (g.inputs()[0], g.outputs()[0]);
        let z = g.add_value(Value { name: "z".into(), ..Value::default() });
        let mut p = Patch::new();
        p.set_op(n, Unary { kind: UnaryKind::Neg });
        p.set_output(n, 0, z);
        p.apply(&mut g).unwrap();
        let node = g.node(n).unwrap();
        assert_eq!((node.op.name(), node.outputs.clone()), ("Neg", vec![Some(z)]));
        let mut p = Patch::new();
        p.replace_node(
            n,
            Node {
                name: "abs".into(),
                op: Unary { kind: UnaryKind::Abs }.into(),
                inputs: vec![Some(x)],
                outputs: vec![Some(y)],
                doc: String::new(),
                meta: vec![],
            },
        );
        p.set_inputs(n, vec![Some(PatchValue::Existing(x))]);
        p.apply(&mut g).unwrap();
        crate::validate::validate(&g).unwrap();
        assert_eq!(g.node(n).unwrap().name, "abs");
        // A step naming a removed node fails and changes nothing.
        Patch::removing([n]).apply(&mut g).unwrap();
        let before = g.clone();
        let mut p = Patch::new();
        p.set_output(n, 0, y);
        assert!(p.apply(&mut g).is_err());
        assert_eq!(g, before);
    }

    #[test]
    fn an_existing_value_gets_a_new_producer_only_when_its_old_one_goes() {
        let (mut g, n) = relu_graph();
        let (x, y) = (g.inputs()[0], g.outputs()[0]);
        let neg = || Unary { kind: UnaryKind::Neg };
        // y still has its producer: a second one is refused, as is writing
        // a graph input or making y a constant.
        let mut p = Patch::new();
        p.add_node("neg", neg(), vec![Some(PatchValue::Existing(x))], vec![Some(PatchValue::Existing(y))]);
        assert!(p.apply(&mut g).is_err());
        let mut p = Patch::new();
        p.set_output(n, 0, x);
        assert!(p.apply(&mut g).is_err());
        let mut p = Patch::new();
        p.set_constant(y, Tensor::from_f32s(&[1.0; 4]));
        assert!(p.apply(&mut g).is_err());
        // With the Relu removed, a new node may write y...
        let mut p = Patch::removing([n]);
        p.add_node("neg", neg(), vec![Some(PatchValue::Existing(x))], vec![Some(PatchValue::Existing(y))]);
        let applied = p.apply(&mut g).unwrap();
        crate::validate::validate(&g).unwrap();
        // ...or the value becomes a constant.
        let mut p = Patch::removing(applied.nodes.clone());
        p.set_constant(y, Tensor::from_f32s(&[1.0; 4]));
        p.apply(&mut g).unwrap();
        assert_eq!(g.node_count(), 0);
        assert!(g.value(y).constant.is_some());
    }

    #[test]
    fn bad_reference_leaves_graph_untouched() {
        let (mut g, n) = relu_graph();
        let before = g.clone();
        let mut p = Patch::new();
        p.set_input(n, 5, PatchValue::Existing(ValueId(0)));
        assert!(p.apply(&mut g).is_err());
        assert_eq!(g, before);
    }

    #[test]
    fn cycle_is_reported_by_name() {
        let (mut g, n) = relu_graph();
        let y = g.outputs[0];
        let mut p = Patch::new();
        p.set_input(n, 0, PatchValue::Existing(y));
        p.apply(&mut g).unwrap();
        let e = crate::validate::validate(&g).unwrap_err();
        assert!(matches!(e, IrError::Cycle { ref node } if node == "relu"), "{e}");
    }
}
