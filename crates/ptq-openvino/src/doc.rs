//! The IR XML as plain data: layers with their `<data>` attributes and
//! ports, and edges. No semantics here, only structure, with every
//! attribute checked for presence and syntax as it is read.
//!
//! The file is parsed with roxmltree with DTDs refused; its size, port
//! ranks and `<rt_info>` nesting are bounded ([`MAX_XML_BYTES`],
//! [`MAX_RANK`], [`MAX_RT_DEPTH`]). The model's `<rt_info>` is kept as a
//! tree of [`RtNode`]s so export can write it back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use roxmltree::{Document, Node, ParsingOptions};

use crate::error::OpenVinoError;

/// Largest XML file read (bytes): an IR's XML holds no weights.
pub const MAX_XML_BYTES: u64 = 256 << 20;

/// Largest rank accepted for a port or a shape attribute.
pub const MAX_RANK: usize = 64;

/// One port of a layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    pub id: u32,
    /// `precision` attribute (`FP32`, `I64`...), if present.
    pub precision: Option<String>,
    /// Tensor names (`names` attribute, comma separated).
    pub names: Vec<String>,
    /// Dims; -1 is dynamic.
    pub dims: Vec<i64>,
}

/// One `<layer>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    pub id: u32,
    pub name: String,
    pub kind: String,
    /// `version` attribute (`opset1`...).
    pub version: String,
    /// Attributes of `<data>`.
    pub data: BTreeMap<String, String>,
    pub inputs: Vec<Port>,
    pub outputs: Vec<Port>,
}

/// One `<edge>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    pub from_layer: u32,
    pub from_port: u32,
    pub to_layer: u32,
    pub to_port: u32,
}

/// The parsed `<net>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Net {
    pub path: PathBuf,
    pub name: String,
    /// IR version (10 or 11).
    pub version: u32,
    pub layers: Vec<Layer>,
    pub edges: Vec<Edge>,
    /// The model's `<rt_info>` children, kept for export.
    pub rt_info: Vec<RtNode>,
}

/// One element of `<rt_info>`: its tag, attributes and children.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RtNode {
    pub tag: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<RtNode>,
}

impl RtNode {
    /// `<tag value="v"/>`.
    pub fn value(tag: &str, v: impl Into<String>) -> RtNode {
        RtNode { tag: tag.into(), attrs: vec![("value".into(), v.into())], children: vec![] }
    }

    /// `<tag>children</tag>`.
    pub fn group(tag: &str, children: Vec<RtNode>) -> RtNode {
        RtNode { tag: tag.into(), attrs: vec![], children }
    }
}

/// Deepest `<rt_info>` nesting read.
pub const MAX_RT_DEPTH: usize = 32;

impl Net {
    /// An error about `layer`.
    pub fn layer_err(&self, layer: &Layer, msg: impl Into<String>) -> OpenVinoError {
        OpenVinoError::Layer { path: self.path.clone(), layer: layer.label(), msg: msg.into() }
    }
}

impl Layer {
    /// `name (id N, Type)` for messages.
    pub fn label(&self) -> String {
        format!("'{}' (id {}, {})", self.name, self.id, self.kind)
    }

    /// A `<data>` attribute.
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.data.get(key).map(String::as_str)
    }
}

/// Reads and parses an IR XML file.
pub fn read(path: &Path) -> Result<Net, OpenVinoError> {
    let io = |e: std::io::Error| OpenVinoError::Io { path: path.to_path_buf(), msg: e.to_string() };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_XML_BYTES {
        return Err(OpenVinoError::Xml { path: path.into(), msg: format!("{len} bytes is too large for IR XML") });
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    parse(&text, path)
}

/// Parses IR XML text; `path` only labels errors.
pub fn parse(text: &str, path: &Path) -> Result<Net, OpenVinoError> {
    let xml = |msg: String| OpenVinoError::Xml { path: path.into(), msg };
    let opts = ParsingOptions { allow_dtd: false, nodes_limit: 50_000_000, ..ParsingOptions::default() };
    let doc = Document::parse_with_options(text, opts).map_err(|e| xml(e.to_string()))?;
    let net = doc.root_element();
    if net.tag_name().name() != "net" {
        return Err(xml(format!("root element is <{}>, not <net>", net.tag_name().name())));
    }
    let version: u32 = net
        .attribute("version")
        .ok_or_else(|| xml("<net> has no version".into()))?
        .parse()
        .map_err(|_| xml("<net> version is not a number".into()))?;
    if !(10..=11).contains(&version) {
        return Err(xml(format!("IR version {version} is not supported (10 and 11 are)")));
    }
    let mut out = Net {
        path: path.into(),
        name: net.attribute("name").unwrap_or_default().to_string(),
        version,
        layers: vec![],
        edges: vec![],
        rt_info: vec![],
    };
    let layers = child(net, "layers").ok_or_else(|| xml("no <layers>".into()))?;
    for l in layers.children().filter(|c| c.is_element() && c.tag_name().name() == "layer") {
        out.layers.push(parse_layer(l, path)?);
    }
    if let Some(edges) = child(net, "edges") {
        for e in edges.children().filter(|c| c.is_element() && c.tag_name().name() == "edge") {
            let num = |key: &str| -> Result<u32, OpenVinoError> {
                e.attribute(key).and_then(|v| v.parse().ok()).ok_or_else(|| OpenVinoError::Edge {
                    path: path.into(),
                    edge: format!("at byte {}", e.range().start),
                    msg: format!("missing or non-numeric {key}"),
                })
            };
            out.edges.push(Edge {
                from_layer: num("from-layer")?,
                from_port: num("from-port")?,
                to_layer: num("to-layer")?,
                to_port: num("to-port")?,
            });
        }
    }
    if let Some(rt) = child(net, "rt_info") {
        out.rt_info = rt_children(rt, 0).map_err(xml)?;
    }
    Ok(out)
}

fn rt_children(n: Node<'_, '_>, depth: usize) -> Result<Vec<RtNode>, String> {
    if depth > MAX_RT_DEPTH {
        return Err(format!("<rt_info> is nested deeper than {MAX_RT_DEPTH} levels"));
    }
    n.children()
        .filter(Node::is_element)
        .map(|c| {
            Ok(RtNode {
                tag: c.tag_name().name().to_string(),
                attrs: c.attributes().map(|a| (a.name().to_string(), a.value().to_string())).collect(),
                children: rt_children(c, depth + 1)?,
            })
        })
        .collect()
}

/// The first child element of `n` named `tag`.
fn child<'a, 'i>(n: Node<'a, 'i>, tag: &str) -> Option<Node<'a, 'i>> {
    n.children().find(|c| c.is_element() && c.tag_name().name() == tag)
}

fn parse_layer(l: Node<'_, '_>, path: &Path) -> Result<Layer, OpenVinoError> {
    let name = l.attribute("name").unwrap_or_default().to_string();
    let err = |msg: String| OpenVinoError::Layer { path: path.into(), layer: format!("'{name}'"), msg };
    let id: u32 = l.attribute("id").and_then(|v| v.parse().ok()).ok_or_else(|| err("missing or bad id".into()))?;
    let kind = l.attribute("type").ok_or_else(|| err("no type".into()))?.to_string();
    let version = l.attribute("version").unwrap_or_default().to_string();
    let mut data = BTreeMap::new();
    let mut inputs = vec![];
    let mut outputs = vec![];
    for c in l.children().filter(Node::is_element) {
        match c.tag_name().name() {
            "data" => {
                for a in c.attributes() {
                    data.insert(a.name().to_string(), a.value().to_string());
                }
            }
            "input" => inputs = parse_ports(c, &err)?,
            "output" => outputs = parse_ports(c, &err)?,
            _ => {}
        }
    }
    Ok(Layer { id, name, kind, version, data, inputs, outputs })
}

fn parse_ports(n: Node<'_, '_>, err: &dyn Fn(String) -> OpenVinoError) -> Result<Vec<Port>, OpenVinoError> {
    let mut ports = vec![];
    for p in n.children().filter(|c| c.is_element() && c.tag_name().name() == "port") {
        let id: u32 = p.attribute("id").and_then(|v| v.parse().ok()).ok_or_else(|| err("port without id".into()))?;
        let mut dims = vec![];
        for d in p.children().filter(|c| c.is_element() && c.tag_name().name() == "dim") {
            let text = d.text().unwrap_or_default().trim();
            let v: i64 = text.parse().map_err(|_| err(format!("port {id}: dim '{text}' is not an integer")))?;
            if v < -1 {
                return Err(err(format!("port {id}: dim {v}")));
            }
            dims.push(v);
            if dims.len() > MAX_RANK {
                return Err(err(format!("port {id}: more than {MAX_RANK} dims")));
            }
        }
        let names = p
            .attribute("names")
            .map(|s| s.split(',').map(|n| n.trim().replace("\\,", ",")).filter(|n| !n.is_empty()).collect())
            .unwrap_or_default();
        ports.push(Port { id, precision: p.attribute("precision").map(str::to_string), names, dims });
    }
    Ok(ports)
}

/// Parses a comma-separated list of integers (`shape`, `strides`...); an
/// empty string is an empty list.
pub fn int_list(s: &str) -> Result<Vec<i64>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(vec![]);
    }
    let v: Vec<i64> = s
        .split(',')
        .map(|x| x.trim().parse::<i64>().map_err(|_| format!("'{x}' is not an integer in '{s}'")))
        .collect::<Result<_, _>>()?;
    if v.len() > MAX_RANK {
        return Err(format!("list '{s}' is longer than {MAX_RANK}"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NET: &str = r#"<?xml version="1.0"?>
<net name="tiny" version="11">
  <layers>
    <layer id="0" name="x" type="Parameter" version="opset1">
      <data shape="?,3" element_type="f32"/>
      <output><port id="0" precision="FP32" names="x,input"><dim>-1</dim><dim>3</dim></port></output>
    </layer>
    <layer id="1" name="y" type="Relu" version="opset1">
      <input><port id="0"><dim>-1</dim><dim>3</dim></port></input>
      <output><port id="1" precision="FP32"><dim>-1</dim><dim>3</dim></port></output>
    </layer>
  </layers>
  <edges><edge from-layer="0" from-port="0" to-layer="1" to-port="0"/></edges>
</net>"#;

    #[test]
    fn parses_layers_ports_and_edges() {
        let n = parse(NET, Path::new("t.xml")).unwrap();
        assert_eq!((n.version, n.layers.len(), n.edges.len()), (11, 2, 1));
        assert_eq!(n.layers[0].attr("element_type"), Some("f32"));
        assert_eq!(n.layers[0].outputs[0].names, ["x", "input"]);
        assert_eq!(n.layers[1].inputs[0].dims, [-1, 3]);
        assert_eq!(int_list("1, 2,3").unwrap(), [1, 2, 3]);
        assert!(int_list("1,x").is_err());
    }

    #[test]
    fn malformed_documents_are_errors_naming_the_file() {
        for (text, want) in [
            ("<net", "t.xml"),
            ("<model/>", "not <net>"),
            ("<net version='7'><layers/></net>", "version 7"),
            ("<net version='11'></net>", "no <layers>"),
            ("<net version='11'><layers><layer name='a' type='Relu'/></layers></net>", "bad id"),
            (
                "<net version='11'><layers><layer id='1' name='a' type='Relu'><output><port id='0'><dim>x</dim></port></output></layer></layers></net>",
                "not an integer",
            ),
            ("<net version='11'><layers/><edges><edge from-layer='1'/></edges></net>", "from-port"),
            ("<!DOCTYPE net [<!ENTITY a 'b'>]><net version='11'><layers/></net>", "t.xml"),
        ] {
            let e = parse(text, Path::new("t.xml")).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("t.xml"), "{text}: {e}");
        }
    }
}
