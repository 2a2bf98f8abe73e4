//! A GraphDef under construction: unique, valid node names, `Const` nodes
//! and attribute values.

use ptq_ir::names::NameSet;
use ptq_ir::{DType, Tensor};

use crate::dtype::to_tf;
use crate::pb::{self, attr_value::Value as AV};

/// The nodes written so far.
#[derive(Debug, Default)]
pub(crate) struct Builder {
    pub nodes: Vec<pb::NodeDef>,
    names: NameSet,
}

/// A node name TensorFlow accepts (`[A-Za-z0-9.][A-Za-z0-9_.\-/>]*`) made from `base`.
pub(crate) fn valid_name(base: &str) -> String {
    let mut s: String =
        base.chars().map(|c| if c.is_ascii_alphanumeric() || "_.-/>".contains(c) { c } else { '_' }).collect();
    if !s.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '.') {
        s.insert(0, 'n');
    }
    s
}

impl Builder {
    /// Adds node `op` named after `base`, reading `inputs` (`node` or
    /// `node:i`); returns its name.
    pub fn node(&mut self, base: &str, op: &str, inputs: Vec<String>, attrs: Vec<(&str, pb::AttrValue)>) -> String {
        let name = self.names.fresh(&valid_name(base));
        self.node_named(name, op, inputs, attrs)
    }

    /// Takes `name` (made valid) for a node added later with [`Builder::node_named`].
    pub fn reserve(&mut self, name: &str) -> String {
        self.names.fresh(&valid_name(name))
    }

    /// Adds node `op` under a name [`Builder::reserve`] gave.
    pub fn node_named(
        &mut self,
        name: String,
        op: &str,
        inputs: Vec<String>,
        attrs: Vec<(&str, pb::AttrValue)>,
    ) -> String {
        self.nodes.push(pb::NodeDef {
            name: name.clone(),
            op: op.into(),
            input: inputs,
            attr: attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            ..Default::default()
        });
        name
    }

    /// A `Const` node holding `t`.
    pub fn constant(&mut self, base: &str, t: &Tensor) -> String {
        self.node(base, "Const", vec![], vec![("dtype", ty(t.dtype())), ("value", tensor(t))])
    }
}

/// `type` attribute.
pub(crate) fn ty(d: DType) -> pb::AttrValue {
    pb::AttrValue { value: Some(AV::Type(to_tf(d) as i32)) }
}

/// `int` attribute.
pub(crate) fn int(i: i64) -> pb::AttrValue {
    pb::AttrValue { value: Some(AV::I(i)) }
}

/// `float` attribute.
pub(crate) fn float(f: f32) -> pb::AttrValue {
    pb::AttrValue { value: Some(AV::F(f)) }
}

/// `bool` attribute.
pub(crate) fn boolean(b: bool) -> pb::AttrValue {
    pb::AttrValue { value: Some(AV::B(b)) }
}

/// `string` attribute.
pub(crate) fn string(s: &str) -> pb::AttrValue {
    pb::AttrValue { value: Some(AV::S(s.as_bytes().to_vec())) }
}

/// `list(int)` attribute.
pub(crate) fn ints(v: &[i64]) -> pb::AttrValue {
    pb::AttrValue { value: Some(AV::List(pb::attr_value::ListValue { i: v.to_vec(), ..Default::default() })) }
}

/// `shape` attribute; -1 for an unknown dim.
pub(crate) fn shape(dims: &[i64]) -> pb::AttrValue {
    pb::AttrValue { value: Some(AV::Shape(shape_proto(dims))) }
}

/// A shape proto; -1 for an unknown dim.
pub(crate) fn shape_proto(dims: &[i64]) -> pb::TensorShapeProto {
    pb::TensorShapeProto {
        dim: dims.iter().map(|&d| pb::tensor_shape_proto::Dim { size: d, name: String::new() }).collect(),
        unknown_rank: false,
    }
}

/// `tensor` attribute.
pub(crate) fn tensor(t: &Tensor) -> pb::AttrValue {
    pb::AttrValue { value: Some(AV::Tensor(crate::tensor::encode(t))) }
}
