//! [`OnnxModel`] to `ModelProto`, and atomic saving.
//!
//! Constants go back the way the file stored them (`ConstSource`:
//! initializer or `Constant` node); constants an importer derived from an
//! older opset's attributes are dropped when the node takes the attribute
//! again. A value whose dtype is unknown is written without a type, as
//! exporters write If branch outputs. Model-local functions are written
//! back as they were read, beside the graph they were inlined into.

use std::collections::HashSet;
use std::path::Path;

use onnx_protobuf::tensor_proto::DataLocation;
use onnx_protobuf::tensor_shape_proto::Dimension;
use onnx_protobuf::tensor_shape_proto::dimension::Value as DimValue;
use onnx_protobuf::type_proto::{Tensor as TensorType, Value as TypeValue};
use onnx_protobuf::{
    FunctionProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorAnnotation,
    TensorShapeProto, TrainingInfoProto, TypeProto, ValueInfoProto,
};
use protobuf::Message;
use ptq_ir::{ConstSource, Dim, Graph, ValueId};

use crate::attrs::AttrOut;
use crate::error::OnnxError;
use crate::model::{ModelInfo, OnnxModel};
use crate::ops::{ExportCtx, export};

/// How to write a model.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    /// Store weights in a `<file>.data` file next to the model. `None`: do so
    /// when the source model did.
    pub external_data: Option<bool>,
    /// Tensors smaller than this many bytes stay inline when writing external data.
    pub external_threshold: usize,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions { external_data: None, external_threshold: 1024 }
    }
}

fn kv(pairs: &[(String, String)]) -> Vec<StringStringEntryProto> {
    pairs
        .iter()
        .map(|(k, v)| {
            let mut e = StringStringEntryProto::new();
            e.key = k.clone();
            e.value = v.clone();
            e
        })
        .collect()
}

fn value_info(g: &Graph, id: ValueId) -> ValueInfoProto {
    let v = g.value(id);
    let mut vi = ValueInfoProto::new();
    vi.name = v.name.clone();
    vi.doc_string = v.doc.clone();
    if let Some(tp) = v.non_tensor.as_ref().and_then(|nt| TypeProto::parse_from_bytes(&nt.encoded).ok()) {
        vi.type_ = Some(tp).into();
        return vi;
    }
    // Without a dtype there is no valid tensor type (onnxruntime refuses
    // element type 0): write the value untyped, as exporters write
    // control-flow body outputs.
    let Some(dtype) = v.fact.dtype else { return vi };
    let mut tt = TensorType::new();
    tt.elem_type = crate::dtype::to_onnx(dtype);
    if let Some(shape) = &v.fact.shape {
        let mut sp = TensorShapeProto::new();
        sp.dim = shape
            .iter()
            .map(|d| {
                let mut dim = Dimension::new();
                dim.value = match d {
                    Dim::Known(k) => Some(DimValue::DimValue(*k as i64)),
                    Dim::Sym(s) => Some(DimValue::DimParam(s.clone())),
                    Dim::Unknown => None,
                };
                dim
            })
            .collect();
        tt.shape = Some(sp).into();
    }
    let mut tp = TypeProto::new();
    tp.value = Some(TypeValue::TensorType(tt));
    vi.type_ = Some(tp).into();
    vi
}

fn parse_all<M: Message>(items: &[Vec<u8>], file: &str) -> Result<Vec<M>, OnnxError> {
    items
        .iter()
        .map(|b| M::parse_from_bytes(b).map_err(|e| OnnxError::Model { file: file.into(), msg: e.to_string() }))
        .collect()
}

/// The `GraphProto` of a graph (the main graph or a control-flow body) in
/// `opset`; `file` names the destination in errors.
pub(crate) fn graph_proto(g: &Graph, opset: i64, file: &str) -> Result<GraphProto, OnnxError> {
    let order = ptq_ir::topo::topo_order(g)
        .map_err(|source| OnnxError::Graph { file: file.into(), source: Box::new(source) })?;
    let mut nodes = Vec::with_capacity(order.len());
    let mut used: HashSet<ValueId> = g.outputs().iter().copied().collect();
    for id in order {
        let Some(node) = g.node(id) else { continue };
        let cx = ExportCtx { opset, graph: g, node };
        let e = export(&cx).map_err(|msg| OnnxError::Export {
            file: file.into(),
            node: g.node_label(id),
            op: node.op.name().to_string(),
            opset,
            msg,
        })?;
        let mut np = NodeProto::new();
        np.name = node.name.clone();
        np.op_type = e.op_type;
        np.domain = e.domain;
        np.attribute = e.attrs;
        np.doc_string = node.doc.clone();
        np.metadata_props = kv(&node.meta);
        let mut inputs: Vec<Option<ValueId>> = match &e.input_order {
            Some(order) => order.iter().map(|&i| node.inputs.get(i).copied().flatten()).collect(),
            None => node
                .inputs
                .iter()
                .enumerate()
                .map(|(i, v)| if e.drop_inputs.contains(&i) { None } else { *v })
                .collect(),
        };
        while inputs.last() == Some(&None) {
            inputs.pop();
        }
        used.extend(inputs.iter().flatten());
        // A control-flow node's captures are read by name inside its bodies.
        let captures = ptq_ir::ops::body::capture_count(node.op.bodies());
        used.extend(node.inputs[node.inputs.len().saturating_sub(captures)..].iter().flatten());
        np.input = inputs.iter().map(|v| v.map_or_else(String::new, |v| g.value(v).name.clone())).collect();
        let mut outputs = node.outputs.clone();
        while outputs.last() == Some(&None) {
            outputs.pop();
        }
        np.output = outputs.iter().map(|v| v.map_or_else(String::new, |v| g.value(v).name.clone())).collect();
        nodes.push(np);
    }
    let mut gp = GraphProto::new();
    let mut constant_nodes = Vec::new();
    for (i, v) in g.values().iter().enumerate() {
        let id = ValueId(i);
        let Some(t) = &v.constant else { continue };
        let is_input = g.inputs().contains(&id);
        match &v.const_source {
            ConstSource::Node { name } if !is_input => {
                if used.contains(&id) {
                    let mut np = NodeProto::new();
                    np.name = name.clone();
                    np.op_type = "Constant".into();
                    np.output = vec![v.name.clone()];
                    np.attribute = AttrOut::default().tensor("value", t).0.drain(..).collect();
                    constant_nodes.push(np);
                }
            }
            ConstSource::Derived if !is_input && !used.contains(&id) => {}
            _ => gp.initializer.push(crate::tensor::encode(&v.name, t)),
        }
    }
    constant_nodes.extend(nodes);
    gp.node = constant_nodes;
    gp.name = g.name().to_string();
    gp.doc_string = g.doc().to_string();
    gp.input = g.inputs().iter().map(|&i| value_info(g, i)).collect();
    gp.output = g.outputs().iter().map(|&i| value_info(g, i)).collect();
    let producers = g.producers();
    gp.value_info = (0..g.values().len())
        .map(ValueId)
        .filter(|id| g.value(*id).declared && producers.contains_key(id) && !g.outputs().contains(id))
        .map(|id| value_info(g, id))
        .collect();
    Ok(gp)
}

/// Builds the `ModelProto` of a model, in the opset it was imported with.
/// `file` names the destination in errors. Tensor data is inline.
pub fn export_model(g: &Graph, info: &ModelInfo, file: &str) -> Result<ModelProto, OnnxError> {
    let mut gp = graph_proto(g, info.opset(), file)?;
    gp.quantization_annotation = parse_all::<TensorAnnotation>(&info.quantization_annotation, file)?;

    let mut mp = ModelProto::new();
    mp.ir_version = info.ir_version;
    mp.opset_import = info
        .opset_import
        .iter()
        .map(|(d, v)| {
            let mut o = OperatorSetIdProto::new();
            o.domain = d.clone();
            o.version = *v;
            o
        })
        .collect();
    mp.producer_name = info.producer_name.clone();
    mp.producer_version = info.producer_version.clone();
    mp.domain = info.domain.clone();
    mp.model_version = info.model_version;
    mp.doc_string = info.doc_string.clone();
    mp.metadata_props = kv(g.meta());
    mp.functions = parse_all::<FunctionProto>(&info.functions, file)?;
    mp.training_info = parse_all::<TrainingInfoProto>(&info.training_info, file)?;
    mp.graph = Some(gp).into();
    Ok(mp)
}

/// Moves tensors of at least `threshold` bytes into one data blob referenced as `location`.
fn externalize(gp: &mut GraphProto, location: &str, threshold: usize) -> Vec<u8> {
    let mut data = Vec::new();
    for t in gp.initializer.iter_mut().filter(|t| t.raw_data.len() >= threshold) {
        while data.len() % 64 != 0 {
            data.push(0);
        }
        let offset = data.len();
        data.append(&mut t.raw_data);
        let entry = |k: &str, v: String| {
            let mut e = StringStringEntryProto::new();
            e.key = k.into();
            e.value = v;
            e
        };
        t.external_data = vec![
            entry("location", location.into()),
            entry("offset", offset.to_string()),
            entry("length", (data.len() - offset).to_string()),
        ];
        t.data_location = DataLocation::EXTERNAL.into();
    }
    data
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), OnnxError> {
    let file = path.display().to_string();
    let io = |source| OnnxError::Io { file: file.clone(), source };
    let name =
        path.file_name().ok_or_else(|| OnnxError::Model { file: file.clone(), msg: "not a file path".into() })?;
    let tmp = path.with_file_name(format!(".{}.tmp{}", name.to_string_lossy(), std::process::id()));
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}

/// The model as ONNX bytes, every tensor stored inline (protobuf's 2 GiB
/// limit applies). `label` names the model in errors.
pub fn to_bytes(g: &Graph, info: &ModelInfo, label: &str) -> Result<Vec<u8>, OnnxError> {
    let mp = export_model(g, info, label)?;
    crate::wire::model_bytes(&mp).map_err(|e| OnnxError::Model { file: label.to_string(), msg: e.to_string() })
}

/// Saves a model with default options; see [`save_with`].
pub fn save(m: &OnnxModel, path: impl AsRef<Path>) -> Result<(), OnnxError> {
    save_with(&m.graph, &m.info, path, &ExportOptions::default())
}

/// Saves a model to `path` atomically (temporary file, then rename). With
/// external data, weights go to `<file name>.data` beside it, written first.
pub fn save_with(g: &Graph, info: &ModelInfo, path: impl AsRef<Path>, opts: &ExportOptions) -> Result<(), OnnxError> {
    let path = path.as_ref();
    let file = path.display().to_string();
    let mut mp = export_model(g, info, &file)?;
    if opts.external_data.unwrap_or(info.had_external_data) {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let location = format!("{name}.data");
        let gp = mp.graph.as_mut().ok_or_else(|| OnnxError::Model { file: file.clone(), msg: "no graph".into() })?;
        let data = externalize(gp, &location, opts.external_threshold);
        write_atomic(&path.with_file_name(&location), &data)?;
    }
    let bytes =
        crate::wire::model_bytes(&mp).map_err(|e| OnnxError::Model { file: file.clone(), msg: e.to_string() })?;
    write_atomic(path, &bytes)
}
