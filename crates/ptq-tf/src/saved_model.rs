//! Reading a SavedModel directory or a frozen GraphDef: the meta graph, the
//! signature, and which checkpoint tensor each variable handle reads.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use prost::Message;

use crate::TfError;
use crate::pb;

/// Largest `saved_model.pb` or GraphDef read (protobuf's own limit is 2 GiB).
const MAX_PROTO_BYTES: u64 = 2 << 30;

/// One signature input or output: its key, and the tensor (`node:i`) in the
/// meta graph's GraphDef.
#[derive(Clone, Debug)]
pub struct Port {
    pub key: String,
    pub tensor: String,
    pub dtype: i32,
    pub shape: Option<pb::TensorShapeProto>,
}

/// What import needs from a SavedModel or a GraphDef.
#[derive(Debug)]
pub struct Source {
    /// The `saved_model.pb` or `.pb` file, for error messages.
    pub path: PathBuf,
    pub graph: pb::GraphDef,
    /// The signature's name (`None` for a GraphDef).
    pub signature: Option<String>,
    pub inputs: Vec<Port>,
    pub outputs: Vec<Port>,
    /// Variable-handle node (in the top-level GraphDef) → checkpoint key.
    pub variables: HashMap<String, String>,
    /// The checkpoint prefix (`<dir>/variables/variables`) if the model has variables.
    pub checkpoint: Option<PathBuf>,
}

pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, TfError> {
    let io = |e: std::io::Error| TfError::Io { path: path.to_path_buf(), msg: e.to_string() };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_PROTO_BYTES {
        return Err(TfError::Proto {
            path: path.to_path_buf(),
            msg: format!("{len} bytes: larger than protobuf allows"),
        });
    }
    std::fs::read(path).map_err(io)
}

/// The `serve` meta graph of a `saved_model.pb` (`bytes`, read from
/// `path`) and its signature `name` (default `serving_default`, or the only
/// one).
pub fn read_saved_model(bytes: &[u8], path: &Path, name: Option<&str>) -> Result<(pb::MetaGraphDef, String), TfError> {
    let proto = |msg: String| TfError::Proto { path: path.to_path_buf(), msg };
    let sm = pb::SavedModel::decode(bytes).map_err(|e| proto(format!("not a SavedModel: {e}")))?;
    let tags = |m: &pb::MetaGraphDef| m.meta_info_def.as_ref().map(|i| i.tags.clone()).unwrap_or_default();
    let mut metas = sm.meta_graphs;
    let pick = match metas.iter().position(|m| tags(m).iter().any(|t| t == "serve")) {
        Some(i) => i,
        None if metas.len() == 1 => 0,
        None => {
            let all: Vec<String> = metas.iter().map(|m| tags(m).join(",")).collect();
            return Err(proto(format!("no meta graph tagged serve (tags: {})", all.join("; "))));
        }
    };
    let meta = metas.swap_remove(pick);
    let sig = match name {
        Some(n) => n.to_string(),
        None if meta.signature_def.contains_key("serving_default") => "serving_default".into(),
        None => {
            let real: Vec<&String> = meta.signature_def.keys().filter(|k| !k.starts_with("__")).collect();
            match real[..] {
                [one] => one.clone(),
                _ => {
                    return Err(proto(format!(
                        "no serving_default signature; choose one of: {}",
                        real.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                    )));
                }
            }
        }
    };
    if !meta.signature_def.contains_key(&sig) {
        let all: Vec<&str> = meta.signature_def.keys().map(String::as_str).collect();
        return Err(proto(format!("no signature {sig} (signatures: {})", all.join(", "))));
    }
    Ok((meta, sig))
}

fn ports(map: &std::collections::BTreeMap<String, pb::TensorInfo>, path: &Path) -> Result<Vec<Port>, TfError> {
    map.iter()
        .map(|(key, info)| match &info.encoding {
            Some(pb::tensor_info::Encoding::Name(t)) => {
                Ok(Port { key: key.clone(), tensor: t.clone(), dtype: info.dtype, shape: info.tensor_shape.clone() })
            }
            _ => Err(TfError::Proto {
                path: path.to_path_buf(),
                msg: format!("signature tensor {key}: sparse and composite tensors are not supported"),
            }),
        })
        .collect()
}

/// Loads a SavedModel directory with signature `name`.
pub fn load_saved_model(dir: &Path, name: Option<&str>) -> Result<Source, TfError> {
    let path = dir.join("saved_model.pb");
    let bytes = read_file(&path)?;
    let prefix = dir.join("variables").join("variables");
    saved_model_source(&bytes, &path, name, Some(prefix))
}

/// A SavedModel's `saved_model.pb` (`bytes`, from `path`) with its
/// checkpoint at `prefix`; `None` for a model read without one, whose
/// variable reads are then errors.
pub fn saved_model_source(
    bytes: &[u8],
    path: &Path,
    name: Option<&str>,
    prefix: Option<PathBuf>,
) -> Result<Source, TfError> {
    let (meta, sig) = read_saved_model(bytes, path, name)?;
    let def = &meta.signature_def[&sig];
    let inputs = ports(&def.inputs, path)?;
    let outputs = ports(&def.outputs, path)?;
    let graph = meta.graph_def.clone().unwrap_or_default();
    let has_vars = graph.node.iter().any(|n| n.op == "VarHandleOp");
    let (variables, checkpoint) = match prefix {
        Some(p) if has_vars => (variable_keys(&meta, &graph, &p)?, Some(p)),
        _ => (HashMap::new(), None),
    };
    Ok(Source { path: path.to_path_buf(), graph, signature: Some(sig), inputs, outputs, variables, checkpoint })
}

/// Maps each top-level `VarHandleOp` to its checkpoint key. A call of a
/// saved concrete function passes the variables it captured after the
/// caller's arguments, in the order of the function's `bound_inputs`
/// (object-graph node ids); the checkpoint's object graph, whose node ids
/// are the same, gives each object's `VARIABLE_VALUE` key.
fn variable_keys(
    meta: &pb::MetaGraphDef,
    graph: &pb::GraphDef,
    prefix: &Path,
) -> Result<HashMap<String, String>, TfError> {
    let objects = meta.object_graph_def.as_ref();
    let ckpt = crate::bundle::Checkpoint::open(prefix)?;
    let trackable = ckpt.object_graph()?;
    let key_of = |id: i32| -> Option<String> {
        let t = trackable.as_ref()?;
        let node = t.nodes.get(usize::try_from(id).ok()?)?;
        node.attributes.iter().find(|a| a.name == "VARIABLE_VALUE").map(|a| a.checkpoint_key.clone())
    };
    let handles: HashMap<&str, &pb::NodeDef> =
        graph.node.iter().filter(|n| n.op == "VarHandleOp").map(|n| (n.name.as_str(), n)).collect();
    let mut keys = HashMap::new();
    for call in graph.node.iter().filter(|n| n.op == "StatefulPartitionedCall" || n.op == "PartitionedCall") {
        let Some(pb::attr_value::Value::Func(f)) = call.attr.get("f").and_then(|a| a.value.as_ref()) else {
            continue;
        };
        let Some(bound) = objects.and_then(|o| o.concrete_functions.get(&f.name)).map(|c| &c.bound_inputs) else {
            continue;
        };
        let data: Vec<&str> = call.input.iter().filter(|i| !i.starts_with('^')).map(|i| i.as_str()).collect();
        if bound.len() > data.len() {
            continue;
        }
        for (input, &id) in data[data.len() - bound.len()..].iter().zip(bound) {
            let node = input.split(':').next().unwrap_or(input);
            if handles.contains_key(node)
                && let Some(k) = key_of(id)
            {
                keys.insert(node.to_string(), k);
            }
        }
    }
    // Handles no call passes on keep their shared_name as key, the TF1 convention.
    for (name, node) in handles {
        if !keys.contains_key(name)
            && let Some(pb::attr_value::Value::S(s)) = node.attr.get("shared_name").and_then(|a| a.value.as_ref())
            && ckpt.entry(&String::from_utf8_lossy(s)).is_some()
        {
            keys.insert(name.to_string(), String::from_utf8_lossy(s).into_owned());
        }
    }
    Ok(keys)
}

/// Loads a frozen GraphDef. `inputs` and `outputs` name tensors (`node` or
/// `node:i`); empty means every Placeholder, and every node no other node
/// reads (Const, NoOp and Assert excluded).
pub fn load_graph_def(path: &Path, inputs: &[String], outputs: &[String]) -> Result<Source, TfError> {
    graph_def_source(&read_file(path)?, path, inputs, outputs)
}

/// [`load_graph_def`] on the file's `bytes`.
pub fn graph_def_source(bytes: &[u8], path: &Path, inputs: &[String], outputs: &[String]) -> Result<Source, TfError> {
    let graph = pb::GraphDef::decode(bytes)
        .map_err(|e| TfError::Proto { path: path.to_path_buf(), msg: format!("not a GraphDef: {e}") })?;
    // Tensors are named as TensorFlow names them, `node:0`.
    let port = |t: &String| {
        let key = if t.contains(':') { t.clone() } else { format!("{t}:0") };
        Port { key, tensor: t.clone(), dtype: 0, shape: None }
    };
    let ins: Vec<Port> = if inputs.is_empty() {
        graph.node.iter().filter(|n| n.op == "Placeholder").map(|n| port(&n.name)).collect()
    } else {
        inputs.iter().map(port).collect()
    };
    let outs: Vec<Port> = if outputs.is_empty() {
        let read: std::collections::HashSet<&str> = graph
            .node
            .iter()
            .flat_map(|n| n.input.iter())
            .map(|i| i.trim_start_matches('^').split(':').next().unwrap_or(i))
            .collect();
        graph
            .node
            .iter()
            .filter(|n| {
                !read.contains(n.name.as_str()) && !matches!(n.op.as_str(), "Const" | "NoOp" | "Assert" | "Placeholder")
            })
            .map(|n| port(&n.name))
            .collect()
    } else {
        outputs.iter().map(port).collect()
    };
    Ok(Source {
        path: path.to_path_buf(),
        graph,
        signature: None,
        inputs: ins,
        outputs: outs,
        variables: HashMap::new(),
        checkpoint: None,
    })
}
