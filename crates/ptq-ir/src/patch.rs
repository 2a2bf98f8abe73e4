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

#[derive(Clone, Debug, PartialEq)]
struct NewNode {
    name: String,
    op: Op,
    inputs: Vec<Option<PatchValue>>,
    outputs: Vec<Option<PatchValue>>,
}

#[derive(Clone, Debug, PartialEq)]
enum Step {
    SetInput { node: NodeId, slot: usize, value: PatchValue },
    SetInputs { node: NodeId, inputs: Vec<Option<PatchValue>> },
    SetOutput { node: NodeId, slot: usize, value: ValueId },
    SetOp { node: NodeId, op: Box<Op> },
    ReplaceNode { node: NodeId, with: Box<Node> },
    ReplaceUses { old: ValueId, new: PatchValue, except: Vec<NodeId> },
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

    /// Adds a node reading and writing the given values.
    pub fn add_node(
        &mut self,
        name: impl Into<String>,
        op: impl Into<Op>,
        inputs: Vec<Option<PatchValue>>,
        outputs: Vec<Option<PatchValue>>,
    ) {
        self.nodes.push(NewNode { name: name.into(), op: op.into(), inputs, outputs });
    }

    /// Makes input `slot` of an existing node read `value`.
    pub fn set_input(&mut self, node: NodeId, slot: usize, value: PatchValue) {
        self.steps.push(Step::SetInput { node, slot, value });
    }

    /// Makes an existing node read `inputs`, in place of all its inputs.
    pub fn set_inputs(&mut self, node: NodeId, inputs: Vec<Option<PatchValue>>) {
        self.steps.push(Step::SetInputs { node, inputs });
    }

    /// Makes output `slot` of an existing node write the existing `value`
    /// (whose former producer the patch removes, or which had none).
    pub fn set_output(&mut self, node: NodeId, slot: usize, value: ValueId) {
        self.steps.push(Step::SetOutput { node, slot, value });
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
        let mut produced = HashSet::new();
        for n in &self.nodes {
            if !n.inputs.iter().flatten().all(value_ok) || !n.outputs.iter().flatten().all(value_ok) {
                return Err(IrError::Patch(format!("node {:?} refers to an unknown value", n.name)));
            }
            for o in n.outputs.iter().flatten() {
                if matches!(o, PatchValue::Existing(_)) || !produced.insert(*o) {
                    return Err(IrError::Patch(format!("node {:?} must write new values, each once", n.name)));
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
                    g.node(*node).is_some_and(|n| *slot < n.outputs.len()) && value.0 < g.values.len()
                }
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
                Step::RemoveNode(n) => g.node(*n).is_some(),
            };
            if !ok {
                return Err(IrError::Patch(format!("step {s:?} refers to a missing node, slot or value")));
            }
        }
        Ok(())
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
                    doc: String::new(),
                    meta: Vec::new(),
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
                        n.outputs[*slot] = Some(*value);
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
