//! Serialising the written layers, edges and rt_info as IR v11 XML.

use std::fmt::Write;

use super::builder::{Builder, Port};
use crate::doc::RtNode;
use crate::element;

/// XML attribute escaping.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

fn port(out: &mut String, id: usize, p: &Port, names: &[String]) {
    let precision = element::precision(p.dtype).unwrap_or("UNSPECIFIED");
    let _ = write!(out, "\t\t\t\t<port id=\"{id}\" precision=\"{precision}\"");
    // Tensor names are comma separated; a comma inside a name is escaped.
    let names: Vec<String> = names.iter().map(|n| n.replace(',', "\\,")).collect();
    if !names.is_empty() {
        let _ = write!(out, " names=\"{}\"", escape(&names.join(",")));
    }
    if p.dims.is_empty() {
        out.push_str(" />\n");
        return;
    }
    out.push_str(">\n");
    for d in &p.dims {
        let _ = writeln!(out, "\t\t\t\t\t<dim>{d}</dim>");
    }
    out.push_str("\t\t\t\t</port>\n");
}

fn rt_node(out: &mut String, n: &RtNode, depth: usize) {
    let tabs = "\t".repeat(depth);
    let _ = write!(out, "{tabs}<{}", n.tag);
    for (k, v) in &n.attrs {
        let _ = write!(out, " {k}=\"{}\"", escape(v));
    }
    if n.children.is_empty() {
        out.push_str(" />\n");
        return;
    }
    out.push_str(">\n");
    for c in &n.children {
        rt_node(out, c, depth + 1);
    }
    let _ = writeln!(out, "{tabs}</{}>", n.tag);
}

/// The whole `.xml` text.
pub fn to_xml(name: &str, b: &Builder, rt_info: &[RtNode]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "<?xml version=\"1.0\"?>\n<net name=\"{}\" version=\"11\">\n\t<layers>", escape(name));
    for l in &b.layers {
        let _ = writeln!(
            out,
            "\t\t<layer id=\"{}\" name=\"{}\" type=\"{}\" version=\"{}\">",
            l.id,
            escape(&l.name),
            escape(&l.kind),
            escape(&l.version)
        );
        if !l.data.is_empty() {
            out.push_str("\t\t\t<data");
            for (k, v) in &l.data {
                let _ = write!(out, " {k}=\"{}\"", escape(v));
            }
            out.push_str(" />\n");
        }
        if !l.inputs.is_empty() {
            out.push_str("\t\t\t<input>\n");
            for (i, p) in l.inputs.iter().enumerate() {
                port(&mut out, i, p, &[]);
            }
            out.push_str("\t\t\t</input>\n");
        }
        if !l.outputs.is_empty() {
            out.push_str("\t\t\t<output>\n");
            for (i, (p, names)) in l.outputs.iter().enumerate() {
                port(&mut out, l.inputs.len() + i, p, names);
            }
            out.push_str("\t\t\t</output>\n");
        }
        out.push_str("\t\t</layer>\n");
    }
    out.push_str("\t</layers>\n\t<edges>\n");
    for (s, to, tp) in &b.edges {
        let _ = writeln!(
            out,
            "\t\t<edge from-layer=\"{}\" from-port=\"{}\" to-layer=\"{to}\" to-port=\"{tp}\" />",
            s.layer, s.port
        );
    }
    out.push_str("\t</edges>\n");
    if !rt_info.is_empty() {
        out.push_str("\t<rt_info>\n");
        for n in rt_info {
            rt_node(&mut out, n, 2);
        }
        out.push_str("\t</rt_info>\n");
    }
    out.push_str("</net>\n");
    out
}
