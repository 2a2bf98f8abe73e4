//! IR → ptq-ir: values from ports, constants from Const layers and the
//! `.bin`, graph inputs from Parameters, outputs from Results, and the other
//! layers lowered by [`crate::ops`].

use ptq_ir::names::NameSet;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use ptq_ir::{ConstSource, Dim, Fact, Graph, Node, Op, Tensor, Value, ValueId};

use crate::bin::Weights;
use crate::doc::{self, Layer, Net, int_list};
use crate::element;
use crate::error::OpenVinoError;

/// An imported IR: the graph plus what export needs.
#[derive(Clone, Debug, PartialEq)]
pub struct IrModel {
    pub graph: Graph,
    pub info: IrInfo,
}

/// What the IR holds that the graph does not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IrInfo {
    pub name: String,
    pub version: u32,
    /// Result layer names, in graph output order.
    pub results: Vec<String>,
    /// The model's `<rt_info>`, written back on export.
    pub rt_info: Vec<crate::doc::RtNode>,
}

/// The `.bin` beside an `.xml`.
pub fn bin_path(xml: &Path) -> PathBuf {
    xml.with_extension("bin")
}

/// Reads `path` (`.xml`) and the `.bin` beside it.
pub fn load(path: impl AsRef<Path>) -> Result<IrModel, OpenVinoError> {
    let path = path.as_ref();
    let net = doc::read(path)?;
    let mut weights = Weights::open(&bin_path(path));
    import(&net, &mut weights)
}

/// Imports an IR held in memory: `xml` is the `.xml` text, `bin` the
/// weights; `label` names the model in errors (its `.bin` twin names the
/// weights). The in-memory twin of [`load`], for fuzzing and embedding.
pub fn import_bytes(xml: &[u8], bin: &[u8], label: &str) -> Result<IrModel, OpenVinoError> {
    let path = Path::new(label);
    if xml.len() as u64 > doc::MAX_XML_BYTES {
        let msg = format!("{} bytes is too large for IR XML", xml.len());
        return Err(OpenVinoError::Xml { path: path.into(), msg });
    }
    let text = std::str::from_utf8(xml)
        .map_err(|e| OpenVinoError::Xml { path: path.into(), msg: format!("not UTF-8: {e}") })?;
    let net = doc::parse(text, path)?;
    let mut weights = Weights::from_bytes(&bin_path(path), bin.to_vec());
    import(&net, &mut weights)
}

/// What lowering a layer may use.
#[derive(Debug)]
pub struct Cx<'a> {
    pub g: Graph,
    pub net: &'a Net,
    names: NameSet,
    /// Every layer's name, and the node names used so far.
    layer_names: HashSet<String>,
    node_names: HashSet<String>,
}

impl Cx<'_> {
    /// A value name not used yet, based on `base`.
    pub fn fresh(&mut self, base: &str) -> String {
        self.names.fresh(base)
    }

    /// Adds a derived constant.
    pub fn constant(&mut self, base: &str, t: Tensor) -> ValueId {
        let name = self.fresh(base);
        self.g.add_constant(name, t, ConstSource::Derived)
    }

    /// Adds an intermediate value.
    pub fn value(&mut self, base: &str, fact: Fact) -> ValueId {
        let name = self.fresh(base);
        self.g.add_value(Value { name, fact, ..Value::default() })
    }

    /// Adds a node. A layer's own node keeps the layer's name; the nodes a
    /// layer is decomposed into get names no layer and no node has.
    pub fn node(&mut self, name: &str, op: impl Into<Op>, inputs: Vec<Option<ValueId>>, outputs: Vec<ValueId>) {
        let mut unique = name.to_string();
        if !self.layer_names.contains(name) || self.node_names.contains(name) {
            let mut i = 1;
            while self.node_names.contains(&unique) || self.layer_names.contains(&unique) {
                unique = format!("{name}_{i}");
                i += 1;
            }
        }
        self.node_names.insert(unique.clone());
        self.g.add_node(Node {
            name: unique,
            op: op.into(),
            inputs,
            outputs: outputs.into_iter().map(Some).collect(),
            doc: String::new(),
            meta: vec![],
        });
    }

    /// The constant behind `v`, if it is one.
    pub fn constant_of(&self, v: ValueId) -> Option<&Tensor> {
        self.g.constant(v)
    }
}

fn dims_shape(dims: &[i64]) -> Vec<Dim> {
    dims.iter().map(|&d| if d < 0 { Dim::Unknown } else { Dim::Known(d as u64) }).collect()
}

/// Builds the graph of `net`, reading weights from `weights`.
pub fn import(net: &Net, weights: &mut Weights) -> Result<IrModel, OpenVinoError> {
    let mut cx = Cx {
        g: Graph::named(net.name.clone()),
        net,
        names: NameSet::new(),
        layer_names: net.layers.iter().map(|l| l.name.clone()).collect(),
        node_names: HashSet::new(),
    };
    let by_id: HashMap<u32, &Layer> = {
        let mut m = HashMap::new();
        for l in &net.layers {
            if m.insert(l.id, l).is_some() {
                return Err(net.layer_err(l, "duplicate layer id"));
            }
        }
        m
    };
    // Input edges: (layer, input port) → (layer, output port).
    let mut feeds: HashMap<(u32, u32), (u32, u32)> = HashMap::new();
    for e in &net.edges {
        let edge = format!("{}:{} -> {}:{}", e.from_layer, e.from_port, e.to_layer, e.to_port);
        let bad = |msg: &str| OpenVinoError::Edge { path: net.path.clone(), edge: edge.clone(), msg: msg.into() };
        let from = by_id.get(&e.from_layer).ok_or_else(|| bad("no such source layer"))?;
        let to = by_id.get(&e.to_layer).ok_or_else(|| bad("no such target layer"))?;
        if !from.outputs.iter().any(|p| p.id == e.from_port) {
            return Err(bad("the source layer has no such output port"));
        }
        if !to.inputs.iter().any(|p| p.id == e.to_port) {
            return Err(bad("the target layer has no such input port"));
        }
        if feeds.insert((e.to_layer, e.to_port), (e.from_layer, e.from_port)).is_some() {
            return Err(bad("input port fed twice"));
        }
    }
    // One value per output port.
    let mut port_value: HashMap<(u32, u32), ValueId> = HashMap::new();
    let mut results: BTreeMap<u32, (String, ValueId)> = BTreeMap::new();
    for l in &net.layers {
        for (i, p) in l.outputs.iter().enumerate() {
            let base = p
                .names
                .first()
                .cloned()
                .unwrap_or_else(|| if l.outputs.len() == 1 { l.name.clone() } else { format!("{}:{i}", l.name) });
            let dtype = p.precision.as_deref().and_then(element::from_precision);
            let fact = Fact { dtype, shape: Some(dims_shape(&p.dims)) };
            let name = cx.fresh(&base);
            let v = cx.g.add_value(Value { name, fact, declared: true, ..Value::default() });
            port_value.insert((l.id, p.id), v);
        }
    }
    for l in &net.layers {
        let inputs: Vec<ValueId> = l
            .inputs
            .iter()
            .map(|p| {
                let src = feeds
                    .get(&(l.id, p.id))
                    .ok_or_else(|| net.layer_err(l, format!("input port {} is not connected", p.id)))?;
                port_value.get(src).copied().ok_or_else(|| net.layer_err(l, "input from an unknown port"))
            })
            .collect::<Result<_, _>>()?;
        let outputs: Vec<ValueId> = l.outputs.iter().filter_map(|p| port_value.get(&(l.id, p.id)).copied()).collect();
        match l.kind.as_str() {
            "Parameter" => {
                let v = *outputs.first().ok_or_else(|| net.layer_err(l, "Parameter without output"))?;
                let et = l.attr("element_type").ok_or_else(|| net.layer_err(l, "no element_type"))?;
                let dtype = element::dtype(et).ok_or_else(|| net.layer_err(l, format!("element type {et}")))?;
                let value = cx.g.value_mut(v);
                value.fact.dtype = Some(dtype);
                if let Some(p) = l.outputs.first().and_then(|p| p.names.first()) {
                    value.name.clone_from(p);
                }
                cx.g.inputs_mut().push(v);
            }
            "Const" => {
                let v = *outputs.first().ok_or_else(|| net.layer_err(l, "Const without output"))?;
                let t = read_const(net, l, weights)?;
                let value = cx.g.value_mut(v);
                value.fact = Fact::new(t.dtype(), ptq_ir::fact::known_shape(t.shape()));
                value.constant = Some(std::sync::Arc::new(t));
                value.const_source = ConstSource::Node { name: l.name.clone() };
            }
            "Result" => {
                let v = *inputs.first().ok_or_else(|| net.layer_err(l, "Result without input"))?;
                results.insert(l.id, (l.name.clone(), v));
            }
            _ => crate::ops::lower(&mut cx, l, &inputs, &outputs).map_err(|msg| net.layer_err(l, msg))?,
        }
    }
    // Results in file order of their ids (OpenVINO keeps model outputs in layer order).
    let mut info =
        IrInfo { name: net.name.clone(), version: net.version, results: vec![], rt_info: net.rt_info.clone() };
    for (_, (name, v)) in results {
        cx.g.outputs_mut().push(v);
        info.results.push(name);
    }
    ptq_ir::validate::validate(&cx.g).map_err(|e| OpenVinoError::Xml { path: net.path.clone(), msg: e.to_string() })?;
    Ok(IrModel { graph: cx.g, info })
}

/// A Const layer's tensor from the `.bin`.
fn read_const(net: &Net, l: &Layer, weights: &mut Weights) -> Result<Tensor, OpenVinoError> {
    let attr = |k: &str| l.attr(k).ok_or_else(|| net.layer_err(l, format!("no {k}")));
    let et = attr("element_type")?;
    let dtype = element::dtype(et).ok_or_else(|| net.layer_err(l, format!("element type {et} is not supported")))?;
    let shape = int_list(attr("shape")?).map_err(|m| net.layer_err(l, m))?;
    let shape: Vec<usize> = shape
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| net.layer_err(l, format!("negative dim {d} in a Const"))))
        .collect::<Result<_, _>>()?;
    let num = |k: &str| -> Result<u64, OpenVinoError> {
        attr(k)?.trim().parse().map_err(|_| net.layer_err(l, format!("{k} is not a number")))
    };
    let (offset, size) = (num("offset")?, num("size")?);
    let numel = ptq_ir::tensor::checked_numel(&shape).ok_or_else(|| net.layer_err(l, "shape too large"))?;
    let want = dtype.packed_len(numel).map(|b| b as u64);
    if want != Some(size) {
        return Err(net.layer_err(l, format!("size {size} does not match shape {shape:?} of {et}")));
    }
    let bytes = weights.read(offset, size, &l.label())?;
    Tensor::from_le_bytes(dtype, &shape, &bytes).map_err(|e| net.layer_err(l, e.to_string()))
}
