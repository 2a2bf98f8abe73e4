//! Building the ptq-ir graph from a [`Source`]: inlining, variables, then
//! one lowering per primitive node the signature's outputs need.
//!
//! Layout: TensorFlow's convolutions and pools take NHWC data; the IR's take
//! NCHW. [`Cx`] keeps up to two IR values per TF tensor, one in TF's layout
//! and one channels-first. Convolutions and pools read and write the
//! channels-first one; channel-wise and elementwise ops (BiasAdd,
//! FusedBatchNorm, activations, binary ops on such tensors, spatial Mean)
//! keep it; a transpose is made only where an op needs the other layout
//! (a Reshape, a MatMul, a signature output). So the transposes that
//! wrapping every convolution would add cancel at import, and the executor
//! and the quantizer see convolutions feeding each other directly. Per-channel
//! constant Adds and Muls after a convolution (BiasAdd, Keras 3's inference
//! BatchNorm) are folded into it ([`ptq_ir::passes::fold_channel_affine`]).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use ptq_ir::names::NameSet;
use ptq_ir::ops::InferInput;
use ptq_ir::ops::transpose::Transpose;
use ptq_ir::{ConstSource, Dim, Fact, Graph, Node, Op, Tensor, Value, ValueId};

use crate::bundle::Checkpoint;
use crate::flatten::{FlatNode, Flattener, Src};
use crate::saved_model::Source;
use crate::{TfError, dtype, pb};

/// What lowering a node may use.
#[derive(Debug)]
pub struct Cx<'a> {
    pub g: Graph,
    pub flat: &'a [FlatNode<'a>],
    names: NameSet,
    node_names: NameSet,
    /// TF tensor → IR value in TF's layout.
    tf: HashMap<Src, ValueId>,
    /// TF tensor (4-D, NHWC in TF) → IR value in NCHW.
    nchw: HashMap<Src, ValueId>,
    /// Variable handle (flat node) → the constant its reads give, so a
    /// variable read twice is stored once.
    variables: HashMap<usize, ValueId>,
}

/// NHWC → NCHW.
pub const TO_NCHW: [i64; 4] = [0, 3, 1, 2];
/// NCHW → NHWC.
pub const TO_NHWC: [i64; 4] = [0, 2, 3, 1];

impl<'a> Cx<'a> {
    /// A value name not used yet, based on `base`.
    pub fn fresh(&mut self, base: &str) -> String {
        self.names.fresh(base)
    }

    /// Adds a derived constant.
    pub fn constant(&mut self, base: &str, t: Tensor) -> ValueId {
        let name = self.fresh(base);
        self.g.add_constant(name, t, ConstSource::Derived)
    }

    /// The constant behind `v`, if it is one.
    pub fn constant_of(&self, v: ValueId) -> Option<&Tensor> {
        self.g.constant(v)
    }

    /// The fact inferred so far for `v`.
    pub fn fact(&self, v: ValueId) -> &Fact {
        &self.g.value(v).fact
    }

    /// The rank of `v`, if known.
    pub fn rank(&self, v: ValueId) -> Option<usize> {
        self.fact(v).rank()
    }

    /// Adds a node named `name` (made unique) computing `n_out` new values,
    /// whose facts are inferred now from the inputs' (unknown on failure).
    pub fn node(&mut self, name: &str, op: impl Into<Op>, inputs: Vec<Option<ValueId>>, n_out: usize) -> Vec<ValueId> {
        let op: Op = op.into();
        let facts: Vec<Fact> = {
            let ins: Vec<Option<InferInput<'_>>> = inputs
                .iter()
                .map(|i| i.map(|v| InferInput { fact: &self.g.value(v).fact, value: self.g.constant(v) }))
                .collect();
            op.infer(&ins, n_out).unwrap_or_else(|_| vec![Fact::default(); n_out])
        };
        if n_out == 1 {
            let present: Vec<Option<&Tensor>> = inputs.iter().flatten().map(|&v| self.g.constant(v)).collect();
            let facts_in: Vec<Option<&Fact>> = inputs.iter().map(|i| i.map(|v| &self.g.value(v).fact)).collect();
            let out = facts.first().cloned().unwrap_or_default();
            if let Some(t) = crate::fold::fold(&op, &present, &facts_in, &out) {
                return vec![self.constant(name, t)];
            }
        }
        let unique = self.node_names.fresh(name);
        let outs: Vec<ValueId> = (0..n_out)
            .map(|k| {
                let base = if n_out == 1 { unique.clone() } else { format!("{unique}:{k}") };
                let vname = self.fresh(&base);
                let fact = facts.get(k).cloned().unwrap_or_default();
                self.g.add_value(Value { name: vname, fact, ..Value::default() })
            })
            .collect();
        self.g.add_node(Node {
            name: unique,
            op,
            inputs,
            outputs: outs.iter().map(|&v| Some(v)).collect(),
            doc: String::new(),
            meta: vec![],
        });
        outs
    }

    /// One-output [`Cx::node`].
    pub fn node1(&mut self, name: &str, op: impl Into<Op>, inputs: Vec<Option<ValueId>>) -> ValueId {
        self.node(name, op, inputs, 1)[0]
    }

    /// `v` transposed by `perm`: a constant is transposed now.
    pub fn transpose(&mut self, name: &str, v: ValueId, perm: &[i64]) -> ValueId {
        if let Some(t) = self.constant_of(v)
            && let Some(p) = crate::ops::permuted(t, perm)
        {
            return self.constant(name, p);
        }
        self.node1(name, Transpose { perm: Some(perm.to_vec()) }, vec![Some(v)])
    }

    /// Input `i` of `n` in TF's layout.
    pub fn input(&mut self, n: &FlatNode, i: usize) -> Result<ValueId, String> {
        let s = *n.inputs.get(i).ok_or_else(|| format!("missing input {i}"))?;
        self.tf_value(s)
    }

    /// A TF tensor in TF's layout, transposing its NCHW value back if that is all there is.
    pub fn tf_value(&mut self, s: Src) -> Result<ValueId, String> {
        if let Some(&v) = self.tf.get(&s) {
            return Ok(v);
        }
        let &c = self.nchw.get(&s).ok_or_else(|| self.missing(s))?;
        let name = format!("{}/to_nhwc", self.flat[s.node].name);
        let v = self.transpose(&name, c, &TO_NHWC);
        self.tf.insert(s, v);
        Ok(v)
    }

    /// Whether input `i` of `n` has a channels-first value already.
    pub fn has_nchw(&self, n: &FlatNode, i: usize) -> bool {
        n.inputs.get(i).is_some_and(|s| self.nchw.contains_key(s))
    }

    /// Input `i` of `n` (a 4-D NHWC tensor in TF) in NCHW.
    pub fn input_nchw(&mut self, n: &FlatNode, i: usize) -> Result<ValueId, String> {
        let s = *n.inputs.get(i).ok_or_else(|| format!("missing input {i}"))?;
        if let Some(&v) = self.nchw.get(&s) {
            return Ok(v);
        }
        let t = self.tf_value(s)?;
        if self.rank(t).is_some_and(|r| r != 4) {
            return Err(format!("input {i} must be 4-D"));
        }
        let name = format!("{}/to_nchw", self.flat[s.node].name);
        let v = self.transpose(&name, t, &TO_NCHW);
        self.nchw.insert(s, v);
        Ok(v)
    }

    fn missing(&self, s: Src) -> String {
        format!("output {} of {} ({}) has no value", s.out, self.flat[s.node].name, self.flat[s.node].op)
    }

    /// Sets output `k` of flat node `idx` (TF layout).
    pub fn set(&mut self, idx: usize, k: usize, v: ValueId) {
        self.tf.insert(Src { node: idx, out: k }, v);
    }

    /// Sets output `k` of flat node `idx` as its NCHW value.
    pub fn set_nchw(&mut self, idx: usize, k: usize, v: ValueId) {
        self.nchw.insert(Src { node: idx, out: k }, v);
    }

    /// Makes output `k` of `idx` the same tensor as `s` (Identity and kin), in both layouts.
    pub fn alias(&mut self, idx: usize, k: usize, s: Src) -> Result<(), String> {
        let (t, c) = (self.tf.get(&s).copied(), self.nchw.get(&s).copied());
        if t.is_none() && c.is_none() {
            return Err(self.missing(s));
        }
        if let Some(v) = t {
            self.set(idx, k, v);
        }
        if let Some(v) = c {
            self.set_nchw(idx, k, v);
        }
        Ok(())
    }
}

/// Builds the graph.
pub fn import(src: &Source) -> Result<Graph, TfError> {
    let path = src.path.as_path();
    let node_err = |node: &str, msg: String| TfError::Node { path: path.to_path_buf(), node: node.to_string(), msg };
    let mut fl = Flattener::new(src.graph.library.as_ref());
    let wanted: Vec<&str> = src.outputs.iter().map(|p| p.tensor.as_str()).collect();
    let resolved = fl.instantiate_graph(&src.graph.node, &wanted).map_err(|(n, m)| node_err(&n, m))?;
    let flat = fl.nodes;
    // Needed nodes, backward from the outputs.
    let mut needed = vec![false; flat.len()];
    let mut stack: Vec<usize> = resolved.values().map(|s| s.node).collect();
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut needed[i], true) {
            continue;
        }
        // A variable read needs its handle only as a key, not as data.
        stack.extend(flat[i].inputs.iter().map(|s| s.node));
    }
    let ckpt = match &src.checkpoint {
        Some(p) if flat.iter().zip(&needed).any(|(n, &k)| k && n.op == "VarHandleOp") => Some(Checkpoint::open(p)?),
        _ => None,
    };
    let mut cx = Cx {
        g: Graph::named(src.signature.clone().unwrap_or_else(|| file_stem(path))),
        flat: &flat,
        names: NameSet::new(),
        node_names: NameSet::new(),
        tf: HashMap::new(),
        nchw: HashMap::new(),
        variables: HashMap::new(),
    };
    // Graph inputs, named by their signature keys.
    let input_nodes: HashMap<String, &crate::saved_model::Port> =
        src.inputs.iter().map(|p| (p.tensor.split(':').next().unwrap_or(&p.tensor).to_string(), p)).collect();
    for (idx, n) in flat.iter().enumerate() {
        if !needed[idx] {
            continue;
        }
        let res: Result<(), String> = match n.op {
            "Placeholder" => {
                let port = input_nodes.get(&n.name);
                let key = port.map(|p| p.key.clone()).unwrap_or_else(|| n.name.clone());
                let dt = port.map(|p| p.dtype).filter(|&d| d != 0).or_else(|| crate::ops::attr_type(n, "dtype"));
                let dtype = dt.and_then(dtype::from_tf);
                let shape = port
                    .and_then(|p| p.shape.as_ref())
                    .or_else(|| crate::ops::attr_shape(n, "shape"))
                    .and_then(shape_of);
                let name = cx.fresh(&key);
                let v = cx.g.add_value(Value { name, fact: Fact { dtype, shape }, declared: true, ..Value::default() });
                cx.g.inputs_mut().push(v);
                cx.set(idx, 0, v);
                Ok(())
            }
            "VarHandleOp" => Ok(()),
            "ReadVariableOp" => read_variable(&mut cx, src, ckpt.as_ref(), idx, n),
            "Const" => crate::ops::attr_tensor(n, "value").map(|t| {
                let name = cx.fresh(&n.name);
                let v = cx.g.add_constant(name, t, ConstSource::Node { name: n.name.clone() });
                cx.set(idx, 0, v);
            }),
            _ => crate::ops::lower(&mut cx, idx, n),
        };
        res.map_err(|m| match m.strip_prefix(crate::ops::UNSUPPORTED) {
            Some(_) => TfError::Unsupported { path: path.to_path_buf(), node: n.name.clone(), op: n.op.to_string() },
            None => node_err(&n.name, m),
        })?;
    }
    for p in &src.outputs {
        let s = resolved[p.tensor.as_str()];
        let v = cx.tf_value(s).map_err(|m| node_err(&p.tensor, m))?;
        // Graph outputs carry their signature keys: an Identity when the
        // value is an input, a constant or another output already.
        let taken = cx.g.inputs().contains(&v) || cx.g.outputs().contains(&v) || cx.g.constant(v).is_some();
        let out = if taken {
            cx.node1(&p.key, ptq_ir::ops::unary::Unary { kind: ptq_ir::ops::unary::UnaryKind::Identity }, vec![Some(v)])
        } else {
            v
        };
        let name = p.key.clone();
        if cx.g.values().iter().any(|x| x.name == name) && cx.g.value(out).name != name {
            // A signature key that an internal value already uses: rename that one.
            if let Some(other) = cx.g.find_value(&name) {
                let fresh = cx.fresh(&format!("{name}_internal"));
                cx.g.value_mut(other).name = fresh;
            }
        }
        cx.g.value_mut(out).name = name;
        cx.g.outputs_mut().push(out);
    }
    let mut g = cx.g;
    // Variables and constants that folding consumed are read by nothing:
    // mark them derived, which exporters drop when unused.
    let used: HashSet<ValueId> = g
        .iter_nodes()
        .flat_map(|(_, n)| n.input_ids().collect::<Vec<_>>())
        .chain(g.outputs().iter().copied())
        .collect();
    for (i, v) in g.values_mut().iter_mut().enumerate() {
        if v.constant.is_some() && !used.contains(&ValueId(i)) {
            v.const_source = ConstSource::Derived;
        }
    }
    ptq_ir::infer::infer_facts_overruling(&mut g)
        .map_err(|e| TfError::Proto { path: path.to_path_buf(), msg: e.to_string() })?;
    // BiasAdd, and Keras 3's BatchNorm as Mul and Add, into the convolutions.
    ptq_ir::passes::fold_channel_affine(&mut g)
        .map_err(|e| TfError::Proto { path: path.to_path_buf(), msg: e.to_string() })?;
    ptq_ir::validate::validate(&g).map_err(|e| TfError::Proto { path: path.to_path_buf(), msg: e.to_string() })?;
    Ok(g)
}

/// ReadVariableOp of a top-level variable handle: the checkpoint tensor, as a constant.
fn read_variable(
    cx: &mut Cx<'_>,
    src: &Source,
    ckpt: Option<&Checkpoint>,
    idx: usize,
    n: &FlatNode,
) -> Result<(), String> {
    let h = n.inputs.first().ok_or("missing input 0")?;
    if let Some(&v) = cx.variables.get(&h.node) {
        cx.set(idx, 0, v);
        return Ok(());
    }
    let handle = &cx.flat[h.node];
    if handle.op != "VarHandleOp" {
        return Err(format!("reads a variable through {} ({}), not a variable handle", handle.name, handle.op));
    }
    let key =
        src.variables.get(&handle.name).ok_or_else(|| format!("variable {} has no checkpoint key", handle.name))?;
    let ckpt = ckpt.ok_or("the model has no variables/ checkpoint")?;
    let t = ckpt.read(key).map_err(|e| e.to_string())?;
    let name = cx.fresh(key);
    let v = cx.g.add_value(Value {
        name,
        fact: Fact::new(t.dtype(), ptq_ir::fact::known_shape(t.shape())),
        constant: Some(Arc::new(t)),
        const_source: ConstSource::Stored,
        ..Value::default()
    });
    cx.variables.insert(h.node, v);
    cx.set(idx, 0, v);
    Ok(())
}

/// A TF shape as an IR shape (`None` for unknown rank).
pub fn shape_of(s: &pb::TensorShapeProto) -> Option<Vec<Dim>> {
    if s.unknown_rank {
        return None;
    }
    Some(s.dim.iter().map(|d| if d.size < 0 { Dim::Unknown } else { Dim::Known(d.size as u64) }).collect())
}

fn file_stem(p: &Path) -> String {
    p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}
