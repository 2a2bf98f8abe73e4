//! Tiny IR files built in memory for the lowering tests: Parameters, Consts
//! (their bytes in a `.bin`), the layers under test and Results, written to a
//! temporary folder, imported, and run with ptq-exec.

use std::fmt::Write as _;

use ndarray::{ArrayD, IxDyn};
use ptq_exec::{ExecOptions, Plan};
use ptq_ir::{DType, Tensor};

use crate::element;
use crate::import::IrModel;

/// An output port: (layer id, port id).
#[derive(Clone, Copy, Debug)]
pub struct Port(u32, u32);

#[derive(Debug, Default)]
pub struct Ir {
    layers: Vec<String>,
    edges: Vec<(Port, Port)>,
    bin: Vec<u8>,
    /// Precision and dims of every output port, for the ports it feeds.
    ports: Vec<(Port, DType, Vec<i64>)>,
    next: u32,
}

fn dims_xml(dims: &[i64]) -> String {
    dims.iter().map(|d| format!("<dim>{d}</dim>")).collect()
}

fn prec(d: DType) -> &'static str {
    element::precision(d).unwrap_or("FP32")
}

impl Ir {
    pub fn new() -> Ir {
        Ir::default()
    }

    fn id(&mut self) -> u32 {
        self.next += 1;
        self.next - 1
    }

    fn port_info(&self, p: Port) -> (DType, Vec<i64>) {
        let (_, d, dims) = self.ports.iter().find(|(q, _, _)| q.0 == p.0 && q.1 == p.1).expect("known port");
        (*d, dims.clone())
    }

    /// A graph input named `name`.
    pub fn param(&mut self, name: &str, dtype: DType, dims: &[i64]) -> Port {
        let id = self.id();
        let shape = dims.iter().map(|d| if *d < 0 { "?".to_string() } else { d.to_string() }).collect::<Vec<_>>();
        self.layers.push(format!(
            r#"<layer id="{id}" name="{name}" type="Parameter" version="opset1"><data shape="{}" element_type="{}"/><output><port id="0" precision="{}" names="{name}">{}</port></output></layer>"#,
            shape.join(","),
            element::element_type(dtype).unwrap_or("f32"),
            prec(dtype),
            dims_xml(dims)
        ));
        let p = Port(id, 0);
        self.ports.push((p, dtype, dims.to_vec()));
        p
    }

    /// A Const holding `t`.
    pub fn constant(&mut self, t: &Tensor) -> Port {
        let id = self.id();
        let bytes = t.to_le_bytes().expect("numeric constant");
        let (offset, size) = (self.bin.len(), bytes.len());
        self.bin.extend_from_slice(&bytes);
        let dims: Vec<i64> = t.shape().iter().map(|&d| d as i64).collect();
        let shape = dims.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        self.layers.push(format!(
            r#"<layer id="{id}" name="c{id}" type="Const" version="opset1"><data element_type="{}" shape="{shape}" offset="{offset}" size="{size}"/><output><port id="0" precision="{}">{}</port></output></layer>"#,
            element::element_type(t.dtype()).unwrap_or("f32"),
            prec(t.dtype()),
            dims_xml(&dims)
        ));
        let p = Port(id, 0);
        self.ports.push((p, t.dtype(), dims));
        p
    }

    /// A rank-1 i64 Const.
    pub fn ints(&mut self, v: &[i64]) -> Port {
        self.constant(&Tensor::from_i64s(v))
    }

    /// A layer named `name` with `<data>` attributes `data`, fed by `inputs`,
    /// with outputs of the given dtypes and dims.
    pub fn layer(
        &mut self,
        name: &str,
        kind: &str,
        version: &str,
        data: &[(&str, &str)],
        inputs: &[Port],
        outputs: &[(DType, &[i64])],
    ) -> Vec<Port> {
        let id = self.id();
        let mut s = format!(r#"<layer id="{id}" name="{name}" type="{kind}" version="{version}"><data"#);
        for (k, v) in data {
            let _ = write!(s, r#" {k}="{v}""#);
        }
        s.push_str("/><input>");
        for (i, &from) in inputs.iter().enumerate() {
            let (d, dims) = self.port_info(from);
            let _ = write!(s, r#"<port id="{i}" precision="{}">{}</port>"#, prec(d), dims_xml(&dims));
            self.edges.push((from, Port(id, i as u32)));
        }
        s.push_str("</input><output>");
        let mut outs = vec![];
        for (j, (d, dims)) in outputs.iter().enumerate() {
            let pid = (inputs.len() + j) as u32;
            let _ = write!(s, r#"<port id="{pid}" precision="{}">{}</port>"#, prec(*d), dims_xml(dims));
            let p = Port(id, pid);
            self.ports.push((p, *d, dims.to_vec()));
            outs.push(p);
        }
        s.push_str("</output></layer>");
        self.layers.push(s);
        outs
    }

    /// A Result reading `from`.
    pub fn result(&mut self, from: Port) {
        let id = self.id();
        let (d, dims) = self.port_info(from);
        self.layers.push(format!(
            r#"<layer id="{id}" name="r{id}" type="Result" version="opset1"><input><port id="0" precision="{}">{}</port></input></layer>"#,
            prec(d),
            dims_xml(&dims)
        ));
        self.edges.push((from, Port(id, 0)));
    }

    pub fn xml(&self) -> String {
        let mut s = String::from(r#"<?xml version="1.0"?><net name="t" version="11"><layers>"#);
        s.extend(self.layers.iter().cloned());
        s.push_str("</layers><edges>");
        for (f, t) in &self.edges {
            let _ =
                write!(s, r#"<edge from-layer="{}" from-port="{}" to-layer="{}" to-port="{}"/>"#, f.0, f.1, t.0, t.1);
        }
        s.push_str("</edges></net>");
        s
    }

    /// Writes the `.xml` and `.bin` to a temporary folder and imports them;
    /// checks that importing the same bytes from memory
    /// ([`crate::import_bytes`]) gives the same model or the same error.
    pub fn load(&self) -> Result<IrModel, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let xml = dir.path().join("m.xml");
        std::fs::write(&xml, self.xml()).expect("write xml");
        std::fs::write(dir.path().join("m.bin"), &self.bin).expect("write bin");
        let from_file = crate::load(&xml).map_err(|e| e.to_string());
        let label = xml.to_str().expect("UTF-8 temp path");
        let from_memory = crate::import_bytes(self.xml().as_bytes(), &self.bin, label).map_err(|e| e.to_string());
        assert_eq!(from_file, from_memory, "file and in-memory imports differ");
        from_file
    }

    /// The import error's text (panics when the import succeeds).
    pub fn load_err(&self) -> String {
        match self.load() {
            Ok(_) => panic!("the import should fail"),
            Err(e) => e,
        }
    }

    /// Imports and runs the graph; the outputs in Result order.
    pub fn run(&self, inputs: Vec<(&str, Tensor)>) -> Vec<Tensor> {
        let m = self.load().expect("import");
        let plan =
            Plan::new(&m.graph, &ExecOptions { threads: 1, optimize: false, integer: false, ..Default::default() })
                .expect("plan");
        let inputs = inputs.into_iter().map(|(n, t)| (n.to_string(), t)).collect();
        plan.run(inputs).expect("run").into_iter().map(|(_, t)| t).collect()
    }
}

/// An f32 tensor of `shape`.
pub fn f32s(shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::F32(ArrayD::from_shape_vec(IxDyn(shape), v.to_vec()).expect("shape matches"))
}

/// `0, 1, 2, ..` as f32 of `shape`.
pub fn iota(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    f32s(shape, &(0..n).map(|v| v as f32).collect::<Vec<_>>())
}

/// Asserts `t` has `shape` and values within 1e-4 of `want`.
pub fn assert_close(t: &Tensor, shape: &[usize], want: &[f64]) {
    assert_eq!(t.shape(), shape, "shape");
    let got = t.to_f64_vec();
    assert_eq!(got.len(), want.len(), "length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-4 * (1.0 + w.abs()), "element {i}: got {g}, want {w}\n{got:?}");
    }
}
