//! The graph: values, nodes, inputs and outputs.

use std::collections::HashMap;
use std::sync::Arc;

use crate::fact::Fact;
use crate::ops::Op;
use crate::tensor::Tensor;

/// Index of a value in [`Graph::values`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId(pub usize);

/// Index of a node in [`Graph::nodes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub usize);

/// How a constant was stored in the source model, so export can write it the same way.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum ConstSource {
    /// A stored weight (ONNX initializer, IR `Const`, TF variable).
    #[default]
    Stored,
    /// A constant-producing node of the source model, with that node's name.
    Node { name: String },
    /// Made by an importer or a pass (e.g. an attribute that later opsets take as an input).
    Derived,
}

/// What a non-tensor value holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonTensorKind {
    /// A sequence of tensors (ONNX `SequenceType`).
    Sequence,
    /// A value that may be absent (ONNX `OptionalType`).
    Optional,
    /// A map (ONNX `MapType`).
    Map,
}

/// The type of a value that is not a tensor. The IR does not model these
/// types beyond their kind; the frontend keeps its own encoding of the full
/// type so export writes it back unchanged. Such values pass through
/// import, passes and export; the executor runs only tensors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NonTensor {
    pub kind: NonTensorKind,
    /// The frontend's encoding of the type (ONNX: a serialized `TypeProto`).
    pub encoded: Vec<u8>,
}

/// A named value: a graph input, a constant, or a node output.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Value {
    pub name: String,
    pub fact: Fact,
    /// Constant data, if the value is a constant (or a graph input with a default).
    pub constant: Option<Arc<Tensor>>,
    /// Where the constant came from; meaningful only when `constant` is set.
    pub const_source: ConstSource,
    pub doc: String,
    /// Whether the source model declared facts for this value (value_info).
    pub declared: bool,
    /// Set for a sequence, optional or map value; `fact` is then unknown.
    pub non_tensor: Option<NonTensor>,
}

/// One operator application.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub name: String,
    pub op: Op,
    /// Inputs in operator order; `None` is an omitted optional input.
    pub inputs: Vec<Option<ValueId>>,
    /// Outputs in operator order; `None` is an omitted optional output.
    pub outputs: Vec<Option<ValueId>>,
    pub doc: String,
    /// Free-form key/value metadata carried through export.
    pub meta: Vec<(String, String)>,
}

impl Node {
    /// The present inputs.
    pub fn input_ids(&self) -> impl Iterator<Item = ValueId> + '_ {
        self.inputs.iter().flatten().copied()
    }

    /// The present outputs.
    pub fn output_ids(&self) -> impl Iterator<Item = ValueId> + '_ {
        self.outputs.iter().flatten().copied()
    }
}

/// A dataflow graph. Nodes are kept in source order; [`crate::topo`] orders them.
///
/// The fields are private. Values are added with [`Graph::add_value`] and
/// edited in place ([`Graph::value_mut`]); ids stay stable. Nodes are added
/// with [`Graph::add_node`], and every later edit to them (rewiring,
/// replacing an op, removing) goes through a [`crate::Patch`], which checks
/// it first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Graph {
    pub(crate) name: String,
    pub(crate) doc: String,
    pub(crate) values: Vec<Value>,
    /// `None` marks a node removed by a patch; ids stay stable.
    pub(crate) nodes: Vec<Option<Node>>,
    pub(crate) inputs: Vec<ValueId>,
    pub(crate) outputs: Vec<ValueId>,
    /// Model-level key/value metadata.
    pub(crate) meta: Vec<(String, String)>,
}

impl Graph {
    /// An empty graph named `name`.
    pub fn named(name: impl Into<String>) -> Graph {
        Graph { name: name.into(), ..Graph::default() }
    }

    /// The graph's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Renames the graph.
    pub fn set_name(&mut self, name: impl Into<String>) {
        self.name = name.into();
    }

    /// The graph's documentation string.
    pub fn doc(&self) -> &str {
        &self.doc
    }

    /// Sets the graph's documentation string.
    pub fn set_doc(&mut self, doc: impl Into<String>) {
        self.doc = doc.into();
    }

    /// Model-level key/value metadata.
    pub fn meta(&self) -> &[(String, String)] {
        &self.meta
    }

    /// Model-level metadata, to edit.
    pub fn meta_mut(&mut self) -> &mut Vec<(String, String)> {
        &mut self.meta
    }

    /// Every value, indexed by [`ValueId`].
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// Every value, to edit in place (a slice: ids stay stable).
    pub fn values_mut(&mut self) -> &mut [Value] {
        &mut self.values
    }

    /// The value with this id, to edit in place.
    pub fn value_mut(&mut self, id: ValueId) -> &mut Value {
        &mut self.values[id.0]
    }

    /// The graph inputs, in order.
    pub fn inputs(&self) -> &[ValueId] {
        &self.inputs
    }

    /// The graph inputs, to edit.
    pub fn inputs_mut(&mut self) -> &mut Vec<ValueId> {
        &mut self.inputs
    }

    /// The graph outputs, in order.
    pub fn outputs(&self) -> &[ValueId] {
        &self.outputs
    }

    /// The graph outputs, to edit.
    pub fn outputs_mut(&mut self) -> &mut Vec<ValueId> {
        &mut self.outputs
    }

    /// The number of node slots, removed ones included: every [`NodeId`]
    /// of the graph is below it.
    pub fn node_slots(&self) -> usize {
        self.nodes.len()
    }

    /// Adds a value and returns its id.
    pub fn add_value(&mut self, value: Value) -> ValueId {
        self.values.push(value);
        ValueId(self.values.len() - 1)
    }

    /// Adds a constant value.
    pub fn add_constant(&mut self, name: impl Into<String>, tensor: Tensor, source: ConstSource) -> ValueId {
        let fact = Fact::new(tensor.dtype(), crate::fact::known_shape(tensor.shape()));
        self.add_value(Value {
            name: name.into(),
            fact,
            constant: Some(Arc::new(tensor)),
            const_source: source,
            ..Value::default()
        })
    }

    /// Adds a node and returns its id.
    pub fn add_node(&mut self, node: Node) -> NodeId {
        self.nodes.push(Some(node));
        NodeId(self.nodes.len() - 1)
    }

    /// The value with this id.
    pub fn value(&self, id: ValueId) -> &Value {
        &self.values[id.0]
    }

    /// The node with this id, if it was not removed.
    pub fn node(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(id.0).and_then(Option::as_ref)
    }

    /// Live nodes with their ids, in source order.
    pub fn iter_nodes(&self) -> impl Iterator<Item = (NodeId, &Node)> {
        self.nodes.iter().enumerate().filter_map(|(i, n)| n.as_ref().map(|n| (NodeId(i), n)))
    }

    /// Number of live nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.iter().flatten().count()
    }

    /// The constant data of a value that is a true constant (not an input with a default).
    pub fn constant(&self, id: ValueId) -> Option<&Tensor> {
        if self.inputs.contains(&id) {
            return None;
        }
        self.values[id.0].constant.as_deref()
    }

    /// For each value, the node and output slot that produces it.
    pub fn producers(&self) -> HashMap<ValueId, (NodeId, usize)> {
        let mut map = HashMap::new();
        for (id, node) in self.iter_nodes() {
            for (slot, out) in node.outputs.iter().enumerate() {
                if let Some(v) = out {
                    map.insert(*v, (id, slot));
                }
            }
        }
        map
    }

    /// For each value, the (node, input slot) pairs that read it.
    pub fn consumers(&self) -> HashMap<ValueId, Vec<(NodeId, usize)>> {
        let mut map: HashMap<ValueId, Vec<(NodeId, usize)>> = HashMap::new();
        for (id, node) in self.iter_nodes() {
            for (slot, inp) in node.inputs.iter().enumerate() {
                if let Some(v) = inp {
                    map.entry(*v).or_default().push((id, slot));
                }
            }
        }
        map
    }

    /// Finds a value by name (linear scan).
    pub fn find_value(&self, name: &str) -> Option<ValueId> {
        self.values.iter().position(|v| v.name == name).map(ValueId)
    }

    /// Finds a live node by name (linear scan).
    pub fn find_node(&self, name: &str) -> Option<NodeId> {
        self.iter_nodes().find(|(_, n)| n.name == name).map(|(id, _)| id)
    }

    /// A node's display name: its name, or `#index` when unnamed.
    pub fn node_label(&self, id: NodeId) -> String {
        match self.node(id) {
            Some(n) if !n.name.is_empty() => n.name.clone(),
            _ => format!("#{}", id.0),
        }
    }
}
