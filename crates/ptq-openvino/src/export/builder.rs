//! The IR being written: layers with their ports, edges between ports and
//! the `.bin` holding constants (identical constants are stored once).

use ptq_ir::names::NameSet;
use std::collections::HashMap;

use ptq_ir::{DType, Tensor};

use crate::element;

/// A port's element type and dims (-1: dynamic).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    pub dtype: DType,
    pub dims: Vec<i64>,
}

impl Port {
    pub fn new(dtype: DType, dims: Vec<i64>) -> Port {
        Port { dtype, dims }
    }

    /// A known shape.
    pub fn of(dtype: DType, shape: &[usize]) -> Port {
        Port { dtype, dims: shape.iter().map(|&d| d as i64).collect() }
    }
}

/// An output port of a written layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Src {
    pub layer: u32,
    pub port: u32,
}

/// One written `<layer>`.
#[derive(Clone, Debug)]
pub struct LayerOut {
    pub id: u32,
    pub name: String,
    pub kind: String,
    pub version: String,
    pub data: Vec<(String, String)>,
    pub inputs: Vec<Port>,
    /// Output ports with their tensor names.
    pub outputs: Vec<(Port, Vec<String>)>,
}

type ConstKey = (DType, Vec<usize>, Vec<u8>);

/// Layers, edges and weights of the IR being written.
#[derive(Debug, Default)]
pub struct Builder {
    pub layers: Vec<LayerOut>,
    /// (source port, target layer, target port).
    pub edges: Vec<(Src, u32, u32)>,
    pub bin: Vec<u8>,
    /// (dtype, shape, bytes) → (offset, size) in `bin`.
    consts: HashMap<ConstKey, (u64, u64)>,
    names: NameSet,
}

impl Builder {
    /// A layer name not used yet, based on `base`.
    pub fn fresh(&mut self, base: &str) -> String {
        self.names.fresh(base)
    }

    /// The port behind `s`.
    pub fn port(&self, s: Src) -> Result<&Port, String> {
        self.layers
            .get(s.layer as usize)
            .and_then(|l| l.outputs.get((s.port as usize).checked_sub(l.inputs.len())?))
            .map(|(p, _)| p)
            .ok_or_else(|| format!("internal: no output port {}:{}", s.layer, s.port))
    }

    /// Adds a layer reading `inputs` and returns its output ports.
    pub fn layer(
        &mut self,
        name: &str,
        kind: &str,
        version: &str,
        data: Vec<(String, String)>,
        inputs: &[Src],
        outputs: Vec<Port>,
    ) -> Result<Vec<Src>, String> {
        let id = self.layers.len() as u32;
        let in_ports: Vec<Port> = inputs.iter().map(|&s| self.port(s).cloned()).collect::<Result<_, _>>()?;
        for (i, &s) in inputs.iter().enumerate() {
            self.edges.push((s, id, i as u32));
        }
        let n_in = in_ports.len() as u32;
        let srcs = (0..outputs.len() as u32).map(|p| Src { layer: id, port: n_in + p }).collect();
        let name = self.fresh(name);
        self.layers.push(LayerOut {
            id,
            name,
            kind: kind.to_string(),
            version: version.to_string(),
            data,
            inputs: in_ports,
            outputs: outputs.into_iter().map(|p| (p, vec![])).collect(),
        });
        Ok(srcs)
    }

    /// Adds a one-output layer.
    pub fn layer1(
        &mut self,
        name: &str,
        kind: &str,
        version: &str,
        data: Vec<(String, String)>,
        inputs: &[Src],
        output: Port,
    ) -> Result<Src, String> {
        let out = self.layer(name, kind, version, data, inputs, vec![output])?;
        out.first().copied().ok_or_else(|| "internal: no output".into())
    }

    /// Adds a Const layer; identical tensors share their `.bin` bytes.
    pub fn constant(&mut self, name: &str, t: &Tensor) -> Result<Src, String> {
        let dtype = t.dtype();
        let et = element::element_type(dtype).ok_or_else(|| format!("constant '{name}' of {dtype} has no IR type"))?;
        let bytes = t.to_le_bytes().ok_or_else(|| format!("constant '{name}' of {dtype} has no byte form"))?;
        let key = (dtype, t.shape().to_vec(), bytes);
        let (offset, size) = match self.consts.get(&key) {
            Some(&r) => r,
            None => {
                let r = (self.bin.len() as u64, key.2.len() as u64);
                self.bin.extend_from_slice(&key.2);
                self.consts.insert(key, r);
                r
            }
        };
        let shape = t.shape().iter().map(usize::to_string).collect::<Vec<_>>().join(", ");
        let data = vec![
            ("element_type".into(), et.to_string()),
            ("shape".into(), shape),
            ("offset".into(), offset.to_string()),
            ("size".into(), size.to_string()),
        ];
        self.layer1(name, "Const", "opset1", data, &[], Port::of(dtype, t.shape()))
    }

    /// Gives output `s` its tensor names.
    pub fn name_tensor(&mut self, s: Src, name: &str) {
        if let Some(l) = self.layers.get_mut(s.layer as usize) {
            let n_in = l.inputs.len();
            if let Some((_, names)) = (s.port as usize).checked_sub(n_in).and_then(|i| l.outputs.get_mut(i)) {
                names.push(name.to_string());
            }
        }
    }
}

/// `key="value"` attribute pairs from string slices.
pub fn attrs<const N: usize>(pairs: [(&str, String); N]) -> Vec<(String, String)> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// `1, 2, 3`: IR's spelling of an integer list.
pub fn list(v: &[i64]) -> String {
    v.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
}
