//! ptq-ir → TensorFlow: a SavedModel directory (`saved_model.pb` holding
//! one `serve` meta graph with a `serving_default` signature, and an empty
//! `variables/`) or a frozen GraphDef `.pb`.
//!
//! The graph is written flat, with every weight a `Const` node (as a frozen
//! graph, which is what TensorFlow's own converters hand to TFLite), in
//! TensorFlow's NHWC layout: each IR value is held either as is or, for a
//! rank-4 channels-first value, channels-last ([`Layout::Last`]).
//! Convolutions, pools and channel-wise ops read and write channels-last;
//! elementwise ops keep whatever layout their input has; everything else
//! reads the value as is. A `Transpose` is written only where a consumer
//! needs the other layout, so the IR's NHWC↔NCHW transposes (which the TF
//! importer made) disappear again, and an NCHW model from ONNX becomes
//! NHWC with one transpose at each end.
//!
//! Quantizers: a QuantizeLinear→DequantizeLinear pair on an activation
//! becomes `FakeQuantWithMinMaxVars`; an int8 weight read by a
//! DequantizeLinear becomes its float values (exactly on the grid) through
//! `FakeQuantWithMinMaxVarsPerChannel` (narrow range, 8 bits) along the
//! output channel, which TensorFlow's layouts keep last; an int32 bias is
//! folded to float. Min and max are `Const` nodes. This is the form
//! TFLite's converter reads as quantization-aware, giving an int8 model
//! without a representative dataset.

mod builder;
mod emit;
mod gelu;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::Path;

use prost::Message;
use ptq_ir::{DType, Graph, NodeId, Tensor, ValueId};

use crate::pb;
use crate::{TfError, TfInfo, TfKind};
pub(crate) use builder::Builder;
use builder::{shape, shape_proto, ty};

/// The GraphDef producer version written (TensorFlow 2.x's range).
const PRODUCER: i32 = 1286;

/// How the TF tensor of an IR value is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Layout {
    /// As in the IR.
    Same,
    /// A rank-4 IR value `[N, C, H, W]` held as `[N, H, W, C]`.
    Last,
}

/// IR `[N, C, H, W]` → TF `[N, H, W, C]`.
pub(crate) const TO_LAST: [i64; 4] = [0, 2, 3, 1];
/// TF `[N, H, W, C]` → IR `[N, C, H, W]`.
pub(crate) const TO_FIRST: [i64; 4] = [0, 3, 1, 2];

/// Writes `g` as a SavedModel directory, or as a frozen GraphDef when
/// `path` ends in `.pb`. The directory is written beside `path` and renamed
/// into place; an existing directory at `path` is replaced only if it holds
/// a `saved_model.pb`, and is kept if the new one cannot be moved in.
pub fn save(g: &Graph, info: Option<&TfInfo>, path: impl AsRef<Path>) -> Result<(), TfError> {
    let path = path.as_ref();
    let fail = |msg: String| TfError::Io { path: path.into(), msg };
    let is_pb = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("pb"));
    let signature = match info.map(|i| &i.kind) {
        Some(TfKind::SavedModel { signature }) if !signature.is_empty() => signature.clone(),
        _ => "serving_default".to_string(),
    };
    let (graph_def, sig) =
        to_graph_def(g).map_err(|msg| TfError::Node { path: path.into(), node: msg.node, msg: msg.msg })?;
    if is_pb {
        return write_atomic(path, &graph_def.encode_to_vec());
    }
    if path.exists() && !path.join("saved_model.pb").is_file() {
        return Err(fail("exists and is not a SavedModel directory; not replacing it".into()));
    }
    let model = pb::SavedModel {
        saved_model_schema_version: 1,
        meta_graphs: vec![pb::MetaGraphDef {
            meta_info_def: Some(pb::meta_graph_def::MetaInfoDef { tags: vec!["serve".into()], ..Default::default() }),
            graph_def: Some(graph_def),
            signature_def: [(signature, sig)].into_iter().collect(),
            ..Default::default()
        }],
    };
    let name = path.file_name().ok_or_else(|| fail("not a directory path".into()))?;
    let tmp = path.with_file_name(format!(".{}.tmp{}", name.to_string_lossy(), std::process::id()));
    let io = |p: &Path, e: std::io::Error| TfError::Io { path: p.into(), msg: e.to_string() };
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(tmp.join("variables")).map_err(|e| io(&tmp, e))?;
    std::fs::write(tmp.join("saved_model.pb"), model.encode_to_vec()).map_err(|e| io(&tmp, e))?;
    // An existing SavedModel is moved aside first and put back if the new one cannot take its place.
    let old = path.with_file_name(format!(".{}.old{}", name.to_string_lossy(), std::process::id()));
    let replacing = path.exists();
    if replacing {
        let _ = std::fs::remove_dir_all(&old);
        std::fs::rename(path, &old).map_err(|e| io(path, e))?;
    }
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_dir_all(&tmp);
        if replacing {
            let _ = std::fs::rename(&old, path);
        }
        return Err(io(path, e));
    }
    if replacing {
        let _ = std::fs::remove_dir_all(&old);
    }
    Ok(())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TfError> {
    let io = |e: std::io::Error| TfError::Io { path: path.into(), msg: e.to_string() };
    let name = path.file_name().ok_or_else(|| io(std::io::Error::other("not a file path")))?;
    let tmp = path.with_file_name(format!(".{}.tmp{}", name.to_string_lossy(), std::process::id()));
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}

/// Why a graph has no TensorFlow form: the node and the reason.
#[derive(Debug)]
pub struct ExportError {
    pub node: String,
    pub msg: String,
}

/// The GraphDef of `g` and its signature (inputs and outputs keyed by the
/// graph's input and output names).
pub fn to_graph_def(g: &Graph) -> Result<(pb::GraphDef, pb::SignatureDef), ExportError> {
    let whole = |msg: String| ExportError { node: "(graph)".into(), msg };
    let mut g = g.clone();
    ptq_ir::infer::infer_facts(&mut g).map_err(|e| whole(e.to_string()))?;
    gelu::fuse_keras_gelus(&mut g).map_err(|e| whole(e.to_string()))?;
    let order = ptq_ir::topo::topo_order(&g).map_err(|e| whole(e.to_string()))?;
    let mut cx = Cx::new(&g);
    let mut sig = pb::SignatureDef { method_name: "tensorflow/serving/predict".into(), ..Default::default() };
    // Inputs and outputs keep their names (`x:0` names node `x`), reserved
    // before the nodes take theirs.
    let node_of = |name: &str| name.strip_suffix(":0").unwrap_or(name).to_string();
    let in_names: Vec<String> = g.inputs().iter().map(|&v| cx.b.reserve(&node_of(&g.value(v).name))).collect();
    let out_names: Vec<String> = g
        .outputs()
        .iter()
        .map(|&v| {
            let n = &g.value(v).name;
            let base = if n.ends_with(":0") { node_of(n) } else { format!("{n}_output") };
            cx.b.reserve(&base)
        })
        .collect();
    for (&v, name) in g.inputs().iter().zip(in_names) {
        let val = g.value(v);
        let dt = val.fact.dtype.ok_or_else(|| whole(format!("input '{}' has no known dtype", val.name)))?;
        let dims = cx.dims(v).map_err(whole)?;
        let name = cx.b.node_named(name, "Placeholder", vec![], vec![("dtype", ty(dt)), ("shape", shape(&dims))]);
        sig.inputs.insert(val.name.clone(), tensor_info(&format!("{name}:0"), dt, &dims));
        cx.bind(v, name, Layout::Same);
    }
    for &id in &order {
        let Some(node) = g.node(id) else { continue };
        emit::emit(&mut cx, node)
            .map_err(|msg| ExportError { node: node.name.clone(), msg: format!("{} {msg}", node.op.name()) })?;
    }
    for (&v, name) in g.outputs().iter().zip(out_names) {
        let val = g.value(v);
        let t = cx.get(v, Layout::Same).map_err(whole)?;
        let dt = val.fact.dtype.unwrap_or(DType::F32);
        let dims = cx.dims(v).unwrap_or_default();
        let name = cx.b.node_named(name, "Identity", vec![t], vec![("T", ty(dt))]);
        sig.outputs.insert(val.name.clone(), tensor_info(&format!("{name}:0"), dt, &dims));
    }
    let graph_def = pb::GraphDef {
        node: cx.b.nodes,
        versions: Some(pb::VersionDef { producer: PRODUCER, min_consumer: 0, bad_consumers: vec![] }),
        ..Default::default()
    };
    Ok((graph_def, sig))
}

fn tensor_info(name: &str, dt: DType, dims: &[i64]) -> pb::TensorInfo {
    pb::TensorInfo {
        encoding: Some(pb::tensor_info::Encoding::Name(name.into())),
        dtype: crate::dtype::to_tf(dt) as i32,
        tensor_shape: Some(shape_proto(dims)),
    }
}

/// What emitting a node may use.
pub(crate) struct Cx<'g> {
    pub b: Builder,
    pub g: &'g Graph,
    /// The TF tensor and layout each written value is held in.
    vals: HashMap<ValueId, (String, Layout)>,
    /// Values also written in the other layout.
    other: HashMap<(ValueId, Layout), String>,
    pub producers: HashMap<ValueId, (NodeId, usize)>,
    pub consumers: HashMap<ValueId, Vec<(NodeId, usize)>>,
    /// TF tensors that are the output of a fake-quant op, with its min and
    /// max: the same quantizer repeated after an op that disappeared (a
    /// layout transpose) reuses it instead of stacking a second one.
    pub fake_quantized: HashMap<String, (Vec<f32>, Vec<f32>)>,
}

impl<'g> Cx<'g> {
    fn new(g: &'g Graph) -> Cx<'g> {
        Cx {
            b: Builder::default(),
            g,
            vals: HashMap::new(),
            other: HashMap::new(),
            producers: g.producers(),
            consumers: g.consumers(),
            fake_quantized: HashMap::new(),
        }
    }

    /// The IR dims of `v` (-1 where not known).
    pub fn dims(&self, v: ValueId) -> Result<Vec<i64>, String> {
        let val = self.g.value(v);
        let shape = val.fact.shape.as_ref().ok_or_else(|| format!("value '{}' has no known rank", val.name))?;
        Ok(ptq_ir::fact::signed_dims(shape))
    }

    /// The IR rank of `v`.
    pub fn rank(&self, v: ValueId) -> Result<usize, String> {
        Ok(self.dims(v)?.len())
    }

    /// The dtype of `v`.
    pub fn dtype(&self, v: ValueId) -> Result<DType, String> {
        let val = self.g.value(v);
        val.fact.dtype.ok_or_else(|| format!("value '{}' has no known dtype", val.name))
    }

    /// The name of `v` (for naming the nodes that write it).
    pub fn name(&self, v: ValueId) -> String {
        self.g.value(v).name.clone()
    }

    /// The TF tensor holding `v` and its layout; a constant is written (as
    /// is) on first use.
    pub fn held(&mut self, v: ValueId) -> Result<(String, Layout), String> {
        if let Some(h) = self.vals.get(&v) {
            return Ok(h.clone());
        }
        if let Some(t) = emit::dequantized_as_is(self, v)? {
            self.vals.insert(v, (t.clone(), Layout::Same));
            return Ok((t, Layout::Same));
        }
        let val = self.g.value(v);
        let t = val.constant.as_ref().ok_or_else(|| format!("value '{}' is read before it is written", val.name))?;
        let name = self.b.constant(&val.name.clone(), &t.clone());
        self.vals.insert(v, (name.clone(), Layout::Same));
        Ok((name, Layout::Same))
    }

    /// The TF tensor of `v` in layout `want`, transposing (a constant on the
    /// host) when it is held in the other one.
    pub fn get(&mut self, v: ValueId, want: Layout) -> Result<String, String> {
        if want == Layout::Last && self.rank(v)? != 4 {
            return Err(format!("value '{}' is not rank 4 and cannot be channels-last", self.name(v)));
        }
        if let Some(t) = self.other.get(&(v, want)) {
            return Ok(t.clone());
        }
        if want == Layout::Last
            && !self.vals.contains_key(&v)
            && let Some(t) = self.g.constant(v)
        {
            let p = crate::ops::permuted(t, &TO_LAST).ok_or("cannot transpose a constant")?;
            let name = self.b.constant(&format!("{}_nhwc", self.name(v)), &p);
            self.other.insert((v, want), name.clone());
            return Ok(name);
        }
        let (t, layout) = self.held(v)?;
        if layout == want {
            return Ok(t);
        }
        let perm = if want == Layout::Last { TO_LAST } else { TO_FIRST };
        let suffix = if want == Layout::Last { "nhwc" } else { "nchw" };
        let name = self.transpose(&format!("{}_{suffix}", self.name(v)), t, &perm, self.dtype(v)?);
        self.other.insert((v, want), name.clone());
        Ok(name)
    }

    /// A `Transpose` node of `t` by `perm`.
    pub fn transpose(&mut self, base: &str, t: String, perm: &[i64], dt: DType) -> String {
        let p = self.b.constant(
            &format!("{base}/perm"),
            &Tensor::I32(ndarray::arr1(&perm.iter().map(|&x| x as i32).collect::<Vec<_>>()).into_dyn()),
        );
        self.b.node(base, "Transpose", vec![t, p], vec![("T", ty(dt)), ("Tperm", ty(DType::I32))])
    }

    /// Records that `v` is held in `t`, laid out as `layout`.
    pub fn bind(&mut self, v: ValueId, t: String, layout: Layout) {
        self.vals.insert(v, (t, layout));
    }

    /// A `Const` node (not a graph value).
    pub fn constant(&mut self, base: &str, t: &Tensor) -> String {
        self.b.constant(base, t)
    }

    /// A 1-D int32 constant.
    pub fn i32s(&mut self, base: &str, v: &[i64]) -> String {
        let t = Tensor::I32(ndarray::arr1(&v.iter().map(|&x| x as i32).collect::<Vec<_>>()).into_dyn());
        self.b.constant(base, &t)
    }

    /// A 1-D int64 constant.
    pub fn i64s(&mut self, base: &str, v: &[i64]) -> String {
        self.b.constant(base, &Tensor::from_i64s(v))
    }

    /// A scalar f32 constant.
    pub fn f32(&mut self, base: &str, x: f32) -> String {
        self.b.constant(base, &Tensor::scalar_f32(x))
    }
}

/// The IR axis at TF position `i` of a value held as `layout` (rank `r`).
pub(crate) fn ir_axis(layout: Layout, i: usize) -> usize {
    match layout {
        Layout::Same => i,
        Layout::Last => TO_LAST[i] as usize,
    }
}

/// The TF position of IR axis `a` of a value held as `layout`.
pub(crate) fn tf_axis(layout: Layout, a: usize) -> usize {
    match layout {
        Layout::Same => a,
        Layout::Last => TO_FIRST[a] as usize,
    }
}
