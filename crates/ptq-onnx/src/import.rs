//! `ModelProto` to [`OnnxModel`].

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use onnx_protobuf::tensor_shape_proto::dimension::Value as DimValue;
use onnx_protobuf::type_proto::Value as TypeValue;
use onnx_protobuf::{GraphProto, ModelProto, NodeProto, ValueInfoProto};
use protobuf::Message;
use ptq_ir::ops::opaque::Opaque;
use ptq_ir::{ConstSource, Dim, Fact, Graph, Node, Op, Tensor, Value, ValueId};

use crate::attrs::Attrs;
use crate::error::OnnxError;
use crate::external::ExternalData;
use crate::model::{ModelInfo, OnnxModel};
use crate::{MAX_OPSET, MIN_OPSET};

mod functions;
mod subgraph;
mod types;

/// Reads an ONNX model file, with its external data, into the IR.
pub fn load(path: impl AsRef<Path>) -> Result<OnnxModel, OnnxError> {
    let path = path.as_ref();
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| OnnxError::Io { file: file.clone(), source })?;
    let base = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    import(&bytes, &file, ExternalData::new(Some(base)))
}

/// Imports a serialized model held in memory; `label` names it in errors.
/// External data is read relative to `base`; without one it is an error.
pub fn import_bytes(bytes: &[u8], label: &str, base: Option<&Path>) -> Result<OnnxModel, OnnxError> {
    import(bytes, label, ExternalData::new(base.map(Path::to_path_buf)))
}

fn import(bytes: &[u8], file: &str, ext: ExternalData) -> Result<OnnxModel, OnnxError> {
    let proto =
        ModelProto::parse_from_bytes(bytes).map_err(|e| OnnxError::Decode { file: file.into(), msg: e.to_string() })?;
    let model_err = |msg: String| OnnxError::Model { file: file.into(), msg };
    let opset_import: Vec<(String, i64)> = proto.opset_import.iter().map(|o| (o.domain.clone(), o.version)).collect();
    let info = ModelInfo {
        ir_version: proto.ir_version,
        opset_import,
        producer_name: proto.producer_name.clone(),
        producer_version: proto.producer_version.clone(),
        domain: proto.domain.clone(),
        model_version: proto.model_version,
        doc_string: proto.doc_string.clone(),
        functions: proto
            .functions
            .iter()
            .map(|f| f.write_to_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| model_err(e.to_string()))?,
        training_info: proto
            .training_info
            .iter()
            .map(|f| f.write_to_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| model_err(e.to_string()))?,
        quantization_annotation: vec![],
        had_external_data: false,
    };
    let mut warnings = vec![];
    let defaults: Vec<i64> =
        info.opset_import.iter().filter(|(d, _)| d.is_empty() || d == "ai.onnx").map(|(_, v)| *v).collect();
    if defaults.iter().any(|&v| v != defaults[0]) {
        let newest = defaults.iter().copied().max().unwrap_or_default();
        warnings.push(format!(
            "{file}: the model imports the default (ai.onnx) opset more than once ({defaults:?}); using {newest}"
        ));
    }
    let opset = defaults.iter().copied().max().unwrap_or_default();
    if !info.opset_import.iter().any(|(d, _)| d.is_empty() || d == "ai.onnx") {
        return Err(model_err("the model imports no default-domain (ai.onnx) opset".into()));
    }
    if !(MIN_OPSET..=MAX_OPSET).contains(&opset) {
        return Err(OnnxError::UnsupportedOpset { file: file.into(), version: opset, min: MIN_OPSET, max: MAX_OPSET });
    }
    let gp = proto.graph.as_ref().ok_or_else(|| model_err("the model has no graph".into()))?;
    let inlined = functions::inline(gp, &proto.functions).map_err(model_err)?;
    let gp = inlined.as_ref().unwrap_or(gp);
    let mut im = Importer {
        file,
        opset,
        graph: Graph::default(),
        names: HashMap::new(),
        ext,
        had_external: false,
        warnings,
        depth: 0,
    };
    im.graph_proto(gp)?;
    let mut info = info;
    info.had_external_data = im.had_external;
    if inlined.is_some() {
        // The inlined bodies may use domains only the functions imported.
        for o in proto.functions.iter().flat_map(|f| &f.opset_import) {
            let norm = |d: &str| if d == "ai.onnx" { String::new() } else { d.to_string() };
            if !info.opset_import.iter().any(|(d, _)| norm(d) == norm(&o.domain)) {
                info.opset_import.push((o.domain.clone(), o.version));
            }
        }
    }
    info.quantization_annotation = gp
        .quantization_annotation
        .iter()
        .map(|a| a.write_to_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| model_err(e.to_string()))?;
    let mut graph = im.graph;
    let mut warnings = im.warnings;
    *graph.meta_mut() = proto.metadata_props.iter().map(|kv| (kv.key.clone(), kv.value.clone())).collect();
    ptq_ir::validate::validate(&graph)
        .map_err(|source| OnnxError::Graph { file: file.into(), source: Box::new(source) })?;
    let overruled = ptq_ir::infer::infer_facts_overruling(&mut graph)
        .map_err(|source| OnnxError::Graph { file: file.into(), source: Box::new(source) })?;
    warnings.extend(overruled.iter().map(|o| format!("{file}: {o}")));
    Ok(OnnxModel { graph, info, warnings })
}

struct Importer<'a> {
    file: &'a str,
    opset: i64,
    graph: Graph,
    names: HashMap<String, ValueId>,
    ext: ExternalData,
    had_external: bool,
    /// Subgraph nesting depth: 0 for the main graph. In a subgraph, a name
    /// defined nowhere in it is an outer-scope value and becomes a capture.
    depth: usize,
    warnings: Vec<String>,
}

struct Pending<'p> {
    proto: &'p NodeProto,
    name: String,
    op: Op,
    moved: Vec<(usize, Tensor)>,
    slots: Option<Vec<usize>>,
    outputs: Vec<Option<ValueId>>,
}

fn label(np: &NodeProto, i: usize) -> String {
    if np.name.is_empty() { format!("#{i}") } else { np.name.clone() }
}

impl Importer<'_> {
    fn node_err(&self, np: &NodeProto, i: usize, msg: impl Into<String>) -> OnnxError {
        OnnxError::Node { file: self.file.into(), node: label(np, i), op_type: np.op_type.clone(), msg: msg.into() }
    }

    fn value_err(&self, value: &str, msg: impl Into<String>) -> OnnxError {
        OnnxError::Value { file: self.file.into(), value: value.into(), msg: msg.into() }
    }

    /// The fact `vi` declares; a negative dim (paddle2onnx writes `-1` for a
    /// dynamic one, which onnxruntime reads as unknown) becomes unknown with
    /// a warning.
    fn declared_fact(&mut self, vi: &ValueInfoProto) -> Result<Fact, OnnxError> {
        let (fact, negative) = fact_of(vi).map_err(|m| self.value_err(&vi.name, m))?;
        if !negative.is_empty() {
            self.warnings.push(format!(
                "{}: value {:?}: negative dimension {} read as unknown",
                self.file,
                vi.name,
                negative.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            ));
        }
        Ok(fact)
    }

    fn define(&mut self, name: &str, value: Value) -> Option<ValueId> {
        if self.names.contains_key(name) {
            return None;
        }
        let id = self.graph.add_value(value);
        self.names.insert(name.to_string(), id);
        Some(id)
    }

    fn graph_proto(&mut self, gp: &GraphProto) -> Result<(), OnnxError> {
        self.graph.set_name(gp.name.clone());
        self.graph.set_doc(gp.doc_string.clone());
        for vi in &gp.input {
            let fact = self.declared_fact(vi)?;
            let v =
                Value { name: vi.name.clone(), fact, doc: vi.doc_string.clone(), declared: true, ..Value::default() };
            let id = self.define(&vi.name, v).ok_or_else(|| self.value_err(&vi.name, "graph input listed twice"))?;
            self.graph.inputs_mut().push(id);
        }
        if !gp.sparse_initializer.is_empty() {
            return Err(OnnxError::Model {
                file: self.file.into(),
                msg: "sparse initializers are not supported".into(),
            });
        }
        for t in &gp.initializer {
            let tensor = crate::tensor::decode(t, &mut self.ext).map_err(|msg| OnnxError::Tensor {
                file: self.file.into(),
                tensor: t.name.clone(),
                msg,
            })?;
            self.had_external |= !t.external_data.is_empty();
            match self.names.get(&t.name) {
                Some(&id) if self.graph.inputs().contains(&id) && self.graph.value(id).constant.is_none() => {
                    self.graph.value_mut(id).constant = Some(Arc::new(tensor));
                }
                Some(_) => return Err(self.value_err(&t.name, "initializer defined twice")),
                None => {
                    let id = self.graph.add_constant(t.name.clone(), tensor, ConstSource::Stored);
                    self.names.insert(t.name.clone(), id);
                }
            }
        }
        let mut pending = Vec::with_capacity(gp.node.len());
        let mut node_names = HashSet::new();
        for (i, np) in gp.node.iter().enumerate() {
            if let Some(p) = self.node_pass1(np, i, &mut node_names)? {
                pending.push(p);
            }
        }
        for (i, p) in pending.into_iter().enumerate() {
            self.node_pass2(p, i)?;
        }
        let mut described = HashMap::new();
        for vi in &gp.value_info {
            let Some(&id) = self.names.get(&vi.name) else { continue };
            let Ok(fact) = self.declared_fact(vi) else { continue };
            if let Some(earlier) = described.insert(id, fact.clone())
                && earlier != fact
            {
                self.warnings.push(format!(
                    "{}: value {:?}: value_info given twice ({earlier} and {fact}); using the last",
                    self.file, vi.name
                ));
            }
            let v = self.graph.value_mut(id);
            if v.constant.is_none() {
                v.fact = fact;
                v.declared = true;
            }
        }
        for vi in &gp.output {
            let id = self
                .resolve(&vi.name)
                .ok_or_else(|| self.value_err(&vi.name, "graph output is not produced by anything"))?;
            let fact = self.declared_fact(vi)?;
            let is_input = self.graph.inputs().contains(&id);
            let v = self.graph.value_mut(id);
            if v.constant.is_none() && !is_input {
                v.fact = fact;
                v.declared = true;
            }
            if v.doc.is_empty() {
                v.doc = vi.doc_string.clone();
            }
            self.graph.outputs_mut().push(id);
        }
        self.mark_non_tensors(gp);
        Ok(())
    }

    /// Lowers a node and defines its outputs; `Constant` nodes become constants.
    fn node_pass1<'p>(
        &mut self,
        np: &'p NodeProto,
        i: usize,
        used: &mut HashSet<String>,
    ) -> Result<Option<Pending<'p>>, OnnxError> {
        let default_domain = np.domain.is_empty() || np.domain == "ai.onnx";
        if default_domain
            && np.op_type == "Constant"
            && let Some(t) = constant_value(np).map_err(|m| self.node_err(np, i, m))?
        {
            let [out] = np.output.as_slice() else {
                return Err(self.node_err(np, i, "Constant must have exactly one output"));
            };
            let fact = Fact::new(t.dtype(), ptq_ir::fact::known_shape(t.shape()));
            let v = Value {
                name: out.clone(),
                fact,
                constant: Some(Arc::new(t)),
                const_source: ConstSource::Node { name: np.name.clone() },
                ..Value::default()
            };
            self.define(out, v).ok_or_else(|| self.node_err(np, i, format!("output {out:?} is already defined")))?;
            return Ok(None);
        }
        let lowered = if default_domain && subgraph::is_control(&np.op_type) {
            Some(self.control(np, i)?)
        } else if default_domain {
            crate::ops::import(np, self.opset).map_err(|m| self.node_err(np, i, m))?
        } else {
            None
        };
        let (op, moved, slots) = match lowered {
            Some(l) => (l.op, l.moved, l.slots),
            None => {
                let attrs = Attrs::new(np).all_generic().map_err(|m| self.node_err(np, i, m))?;
                (Op::Opaque(Opaque { op_type: np.op_type.clone(), domain: np.domain.clone(), attrs }), vec![], None)
            }
        };
        let mut outputs = Vec::with_capacity(np.output.len());
        for out in &np.output {
            if out.is_empty() {
                outputs.push(None);
                continue;
            }
            let id = self
                .define(out, Value { name: out.clone(), ..Value::default() })
                .ok_or_else(|| self.node_err(np, i, format!("output {out:?} is already defined")))?;
            outputs.push(Some(id));
        }
        let mut name = np.name.clone();
        if !name.is_empty() {
            let mut k = 1;
            while !used.insert(name.clone()) {
                k += 1;
                name = format!("{}__{k}", np.name);
            }
        }
        Ok(Some(Pending { proto: np, name, op, moved, slots, outputs }))
    }

    fn node_pass2(&mut self, p: Pending<'_>, i: usize) -> Result<(), OnnxError> {
        let np = p.proto;
        let mut inputs = Vec::with_capacity(np.input.len());
        for (k, inp) in np.input.iter().enumerate() {
            let slot = match &p.slots {
                Some(s) => *s.get(k).ok_or_else(|| self.node_err(np, i, "too many inputs for this opset"))?,
                None => k,
            };
            if inputs.len() <= slot {
                inputs.resize(slot + 1, None);
            }
            if inp.is_empty() {
                continue;
            }
            let id = self.resolve(inp).ok_or_else(|| self.node_err(np, i, format!("input {inp:?} is not defined")))?;
            inputs[slot] = Some(id);
        }
        for (slot, tensor) in p.moved {
            if inputs.get(slot).is_some_and(Option::is_some) {
                return Err(self.node_err(
                    np,
                    i,
                    format!("input {slot} is given both as an attribute and as an input"),
                ));
            }
            if inputs.len() <= slot {
                inputs.resize(slot + 1, None);
            }
            let mut cname = format!("{}_attr{slot}", label(np, i));
            while self.names.contains_key(&cname) {
                cname.push('_');
            }
            let id = self.graph.add_constant(cname.clone(), tensor, ConstSource::Derived);
            self.names.insert(cname, id);
            inputs[slot] = Some(id);
        }
        self.capture_inputs(&p.op, &mut inputs).map_err(|m| self.node_err(np, i, m))?;
        self.graph.add_node(Node {
            name: p.name,
            op: p.op,
            inputs,
            outputs: p.outputs,
            doc: np.doc_string.clone(),
            meta: np.metadata_props.iter().map(|kv| (kv.key.clone(), kv.value.clone())).collect(),
        });
        Ok(())
    }
}

/// The value of a `Constant` node, or `None` for forms the IR cannot hold
/// (strings, sparse tensors), which stay opaque nodes.
fn constant_value(np: &NodeProto) -> Result<Option<Tensor>, String> {
    let a = Attrs::new(np);
    if let Some(t) = a.tensor("value")? {
        return Ok(Some(t));
    }
    if let Some(f) = a.float("value_float")? {
        return Ok(Some(Tensor::scalar_f32(f)));
    }
    if let Some(f) = a.floats("value_floats")? {
        return Ok(Some(Tensor::from_f32s(&f)));
    }
    if let Some(i) = a.int("value_int")? {
        return Ok(Some(Tensor::I64(ndarray::arr0(i).into_dyn())));
    }
    if let Some(i) = a.ints("value_ints")? {
        return Ok(Some(Tensor::from_i64s(&i)));
    }
    Ok(None)
}

/// The fact a `ValueInfoProto` declares, and the negative dims it gave
/// (read as unknown).
fn fact_of(vi: &ValueInfoProto) -> Result<(Fact, Vec<i64>), String> {
    let mut negative = vec![];
    let Some(tp) = vi.type_.as_ref() else { return Ok((Fact::default(), negative)) };
    let tt = match &tp.value {
        Some(TypeValue::TensorType(t)) => t,
        None => return Ok((Fact::default(), negative)),
        // Sequences, optionals and maps: recorded by `mark_non_tensors`.
        Some(_) => return Ok(Default::default()),
    };
    let dtype = match tt.elem_type {
        0 => None,
        c => Some(
            crate::dtype::from_onnx(c)
                .ok_or_else(|| format!("element type {} is not supported", crate::dtype::code_name(c)))?,
        ),
    };
    let shape = tt.shape.as_ref().map(|s| {
        s.dim
            .iter()
            .map(|d| match &d.value {
                Some(DimValue::DimValue(v)) => u64::try_from(*v).map_or_else(
                    |_| {
                        negative.push(*v);
                        Dim::Unknown
                    },
                    Dim::Known,
                ),
                Some(DimValue::DimParam(p)) if !p.is_empty() => Dim::Sym(p.clone()),
                _ => Dim::Unknown,
            })
            .collect()
    });
    Ok((Fact { dtype, shape }, negative))
}
