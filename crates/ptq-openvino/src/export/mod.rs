//! ptq-ir → IR v11 (`.xml` + `.bin`).
//!
//! Every node becomes one or more opset layers ([`emit`]); constants are
//! written where they are read; a QuantizeLinear→DequantizeLinear pair on an
//! activation becomes one `FakeQuantize`, and an integer constant read by a
//! DequantizeLinear (a quantized weight) stays integer in the `.bin`:
//! `Const (i8) → Convert (f32) → [Subtract zero point] → Multiply scale`,
//! the form OpenVINO's low-precision transformations run as int8 layers.
//! Both files are written through temporary files and renamed into place.

mod builder;
mod emit;
mod xml;

use std::collections::HashMap;
use std::path::Path;

use ptq_ir::{DType, Graph, NodeId, Tensor, ValueId};

pub use crate::doc::RtNode;
use crate::error::OpenVinoError;
use crate::import::{IrInfo, bin_path};
use builder::{Builder, Port, Src, attrs};

/// What to add when writing.
#[derive(Clone, Debug, Default)]
pub struct ExportOptions {
    /// Model `<rt_info>` entries; each replaces a kept entry of the same tag.
    pub rt_info: Vec<RtNode>,
}

/// The written IR: XML text and `.bin` bytes.
#[derive(Clone, Debug)]
pub struct IrFiles {
    pub xml: String,
    pub bin: Vec<u8>,
}

/// Writes `g` as `path` (`.xml`) and the `.bin` beside it, atomically.
pub fn save(g: &Graph, info: &IrInfo, path: impl AsRef<Path>, opts: &ExportOptions) -> Result<(), OpenVinoError> {
    let path = path.as_ref();
    let files = to_ir(g, info, opts).map_err(|msg| OpenVinoError::Xml { path: path.into(), msg })?;
    write_atomic(&bin_path(path), &files.bin)?;
    write_atomic(path, files.xml.as_bytes())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), OpenVinoError> {
    let io = |e: std::io::Error| OpenVinoError::Io { path: path.into(), msg: e.to_string() };
    let name =
        path.file_name().ok_or_else(|| OpenVinoError::Io { path: path.into(), msg: "not a file path".into() })?;
    let tmp = path.with_file_name(format!(".{}.tmp{}", name.to_string_lossy(), std::process::id()));
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}

/// The IR text and weights of `g`. Errors name the node that has no IR form.
pub fn to_ir(g: &Graph, info: &IrInfo, opts: &ExportOptions) -> Result<IrFiles, String> {
    let mut g = g.clone();
    ptq_ir::infer::infer_facts(&mut g).map_err(|e| e.to_string())?;
    let order = ptq_ir::topo::topo_order(&g).map_err(|e| e.to_string())?;
    let mut cx = Cx::new(&g);
    for &v in g.inputs() {
        let port = cx.port(v)?;
        let et = crate::element::element_type(port.dtype).ok_or("input dtype has no IR element type")?;
        let shape = port.dims.iter().map(|&d| if d < 0 { "?".to_string() } else { d.to_string() });
        let data = attrs([("shape", shape.collect::<Vec<_>>().join(",")), ("element_type", et.into())]);
        let name = g.value(v).name.clone();
        let s = cx.b.layer1(&name, "Parameter", "opset1", data, &[], port)?;
        cx.bind(v, s);
    }
    for &id in &order {
        let Some(node) = g.node(id) else { continue };
        emit::emit(&mut cx, node).map_err(|e| format!("node '{}' ({}): {e}", node.name, node.op.name()))?;
    }
    for (i, &v) in g.outputs().iter().enumerate() {
        let s = cx.src(v)?;
        let name = info.results.get(i).cloned().unwrap_or_else(|| format!("{}/sink_port_0", g.value(v).name));
        cx.b.layer(&name, "Result", "opset1", vec![], &[s], vec![])?;
    }
    let mut rt_info: Vec<RtNode> =
        info.rt_info.iter().filter(|n| !opts.rt_info.iter().any(|o| o.tag == n.tag)).cloned().collect();
    rt_info.extend(opts.rt_info.iter().cloned());
    let name = if info.name.is_empty() { g.name().to_string() } else { info.name.clone() };
    Ok(IrFiles { xml: xml::to_xml(&name, &cx.b, &rt_info), bin: cx.b.bin })
}

/// What emitting a node may use.
pub(crate) struct Cx<'g> {
    pub b: Builder,
    pub g: &'g Graph,
    vals: HashMap<ValueId, Src>,
    pub producers: HashMap<ValueId, (NodeId, usize)>,
    pub consumers: HashMap<ValueId, Vec<(NodeId, usize)>>,
}

impl<'g> Cx<'g> {
    fn new(g: &'g Graph) -> Cx<'g> {
        Cx { b: Builder::default(), g, vals: HashMap::new(), producers: g.producers(), consumers: g.consumers() }
    }

    /// The port type of value `v`, from its facts.
    pub fn port(&self, v: ValueId) -> Result<Port, String> {
        let val = self.g.value(v);
        let dtype = val.fact.dtype.ok_or_else(|| format!("value '{}' has no known dtype", val.name))?;
        let shape = val.fact.shape.as_ref().ok_or_else(|| format!("value '{}' has no known rank", val.name))?;
        Ok(Port { dtype, dims: ptq_ir::fact::signed_dims(shape) })
    }

    /// The rank of value `v`.
    pub fn rank(&self, v: ValueId) -> Result<usize, String> {
        Ok(self.port(v)?.dims.len())
    }

    /// The layer output holding value `v`; a constant is written on first use.
    pub fn src(&mut self, v: ValueId) -> Result<Src, String> {
        if let Some(&s) = self.vals.get(&v) {
            return Ok(s);
        }
        let val = self.g.value(v);
        let t = val.constant.as_ref().ok_or_else(|| format!("value '{}' is read before it is written", val.name))?;
        let s = self.b.constant(&val.name.clone(), &t.clone())?;
        self.vals.insert(v, s);
        Ok(s)
    }

    /// Records that value `v` is output `s`, naming the tensor.
    pub fn bind(&mut self, v: ValueId, s: Src) {
        self.b.name_tensor(s, &self.g.value(v).name);
        self.vals.insert(v, s);
    }

    /// A constant tensor written now (not a graph value).
    pub fn constant(&mut self, name: &str, t: &Tensor) -> Result<Src, String> {
        self.b.constant(name, t)
    }

    /// A 1-D i64 constant.
    pub fn ints(&mut self, name: &str, v: &[i64]) -> Result<Src, String> {
        self.constant(name, &Tensor::from_i64s(v))
    }

    /// A scalar of `dtype`.
    pub fn scalar(&mut self, name: &str, dtype: DType, v: f64) -> Result<Src, String> {
        self.constant(name, &filled(dtype, &[], v)?)
    }
}

/// A tensor of `shape` filled with `v` in `dtype` (float or integer).
pub(crate) fn filled(dtype: DType, shape: &[usize], v: f64) -> Result<Tensor, String> {
    use ndarray::{ArrayD, IxDyn};
    let s = IxDyn(shape);
    Ok(match dtype {
        DType::F32 => Tensor::F32(ArrayD::from_elem(s, v as f32)),
        DType::F64 => Tensor::F64(ArrayD::from_elem(s, v)),
        DType::F16 => Tensor::F16(ArrayD::from_elem(s, half::f16::from_f64(v))),
        DType::BF16 => Tensor::BF16(ArrayD::from_elem(s, half::bf16::from_f64(v))),
        DType::I64 => Tensor::I64(ArrayD::from_elem(s, v as i64)),
        DType::I32 => Tensor::I32(ArrayD::from_elem(s, v as i32)),
        DType::I8 => Tensor::I8(ArrayD::from_elem(s, v as i8)),
        DType::U8 => Tensor::U8(ArrayD::from_elem(s, v as u8)),
        d => return Err(format!("no constant of {d} can be written")),
    })
}
