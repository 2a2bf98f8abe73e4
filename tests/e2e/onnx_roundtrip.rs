//! Every fixture, imported and written back by `ptq convert`, runs in
//! onnxruntime with outputs bitwise equal to the original's (both run here,
//! side by side, so the kernels onnxruntime picks for this CPU are the same
//! for both), passes the ONNX checker, and re-imports to the same graph.

#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use ptq_onnx::OnnxModel;
use ptq_tests::{fixtures_dir, onnx_check, onnx_fixtures, ort_compare, ort_outputs, require_python_runtimes};

fn convert(name: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let src = fixtures_dir().join(name).join("model.onnx");
    let dst = dir.join("model.onnx");
    ptq_cli::run(["ptq", "convert", src.to_str().unwrap(), dst.to_str().unwrap()])
        .unwrap_or_else(|e| panic!("{name}: {e:#}"));
    dst
}

#[test]
fn converted_fixtures_match_onnxruntime_bitwise() {
    require_python_runtimes();
    let mut failures = vec![];
    for name in onnx_fixtures() {
        let tmp = tempfile::tempdir().unwrap();
        let out = convert(&name, tmp.path());
        let fx = fixtures_dir().join(&name);
        let original = tmp.path().join("original.npz");
        let r = ort_outputs(&fx.join("model.onnx"), &fx.join("inputs.npz"), &original);
        assert!(r.ok, "{name}: onnxruntime cannot run the original: {}", r.output);
        let r = ort_compare(&out, &fx.join("inputs.npz"), &original, "bitwise");
        if !r.ok {
            failures.push(format!("{name}: onnxruntime\n{}", r.output));
        }
        let c = onnx_check(&out);
        if !c.ok {
            failures.push(format!("{name}: onnx.checker\n{}", c.output));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn assert_same_model(name: &str, a: &OnnxModel, b: &OnnxModel) {
    assert_eq!(a.info.opset_import, b.info.opset_import, "{name}: opsets");
    assert_eq!(a.info.ir_version, b.info.ir_version, "{name}: IR version");
    assert_eq!(a.info.producer_name, b.info.producer_name, "{name}: producer");
    assert_eq!(a.info.doc_string, b.info.doc_string, "{name}: doc string");
    assert_eq!(a.graph.meta(), b.graph.meta(), "{name}: metadata");
    assert_eq!(a.graph.doc(), b.graph.doc(), "{name}: graph doc string");
    let nodes = |m: &OnnxModel| {
        m.graph
            .iter_nodes()
            .map(|(_, n)| (n.name.clone(), n.op.clone(), n.doc.clone(), n.meta.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(nodes(a), nodes(b), "{name}: nodes");
    let io = |m: &OnnxModel| {
        let g = &m.graph;
        let f = |ids: &[ptq_ir::ValueId]| {
            ids.iter().map(|&i| (g.value(i).name.clone(), g.value(i).fact.clone())).collect::<Vec<_>>()
        };
        (f(g.inputs()), f(g.outputs()))
    };
    assert_eq!(io(a), io(b), "{name}: inputs and outputs");
    let consts = |m: &OnnxModel| {
        let mut v: Vec<_> = m
            .graph
            .values()
            .iter()
            .filter(|v| v.constant.is_some() && v.const_source != ptq_ir::ConstSource::Derived)
            .map(|v| (v.name.clone(), v.constant.clone(), v.const_source.clone()))
            .collect();
        v.sort_by(|x, y| x.0.cmp(&y.0));
        v
    };
    assert_eq!(consts(a), consts(b), "{name}: constants");
}

#[test]
fn reimport_gives_the_same_graph() {
    for name in onnx_fixtures() {
        let tmp = tempfile::tempdir().unwrap();
        let out = convert(&name, tmp.path());
        let a = ptq_onnx::load(fixtures_dir().join(&name).join("model.onnx")).unwrap();
        let b = ptq_onnx::load(&out).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_same_model(&name, &a, &b);
    }
}

#[test]
fn opaque_nodes_survive_with_their_attributes() {
    let m = ptq_onnx::load(fixtures_dir().join("dynamic_dims/model.onnx")).unwrap();
    let opaque: Vec<_> =
        m.graph.iter_nodes().filter(|(_, n)| matches!(n.op, ptq_ir::Op::Opaque(_))).map(|(_, n)| n.clone()).collect();
    assert!(!opaque.is_empty(), "the fixture has an op the IR does not model");
    let tmp = tempfile::tempdir().unwrap();
    let out = convert("dynamic_dims", tmp.path());
    let b = ptq_onnx::load(out).unwrap();
    for n in opaque {
        let id = b.graph.find_node(&n.name).unwrap_or_else(|| panic!("opaque node {} lost", n.name));
        assert_eq!(b.graph.node(id).unwrap().op, n.op);
    }
}

#[test]
fn opset_11_attributes_come_back_as_attributes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = convert("residual_block", tmp.path());
    let bytes = std::fs::read(out).unwrap();
    let proto = <onnx_protobuf::ModelProto as protobuf::Message>::parse_from_bytes(&bytes).unwrap();
    let g = proto.graph.as_ref().unwrap();
    for n in g.node.iter().filter(|n| ["Squeeze", "Unsqueeze", "ReduceMean", "Split"].contains(&n.op_type.as_str())) {
        assert_eq!(n.input.len(), 1, "{} ({}) takes its axes/split as an attribute at opset 11", n.name, n.op_type);
        assert!(n.attribute.iter().any(|a| a.name == "axes" || a.name == "split"), "{}", n.name);
    }
    assert!(g.initializer.iter().all(|t| !t.name.contains("_attr")), "no synthetic initializers leak into the file");
}

#[test]
fn external_data_is_written_as_external_data() {
    let tmp = tempfile::tempdir().unwrap();
    let out = convert("external_data", tmp.path());
    let data = tmp.path().join("model.onnx.data");
    assert!(data.is_file());
    assert!(std::fs::metadata(&out).unwrap().len() < 4096, "weights left the model file");
    let a = ptq_onnx::load(fixtures_dir().join("external_data/model.onnx")).unwrap();
    let b = ptq_onnx::load(&out).unwrap();
    assert_same_model("external_data", &a, &b);
}

#[test]
fn written_onnx_files_are_recognised_by_openvino() {
    // OpenVINO's ONNX frontend decides from a file's first fields whether it
    // is ONNX; ptq writes them in field-number order, as protobuf's Python
    // and C++ writers do.
    ptq_tests::require_openvino();
    let tmp = tempfile::tempdir().unwrap();
    let fx = fixtures_dir().join("digits_cnn");
    let out = convert("digits_cnn", tmp.path());
    let r = ptq_tests::ov_outputs(&out, &fx.join("inputs.npz"), &tmp.path().join("ov.npz"));
    assert!(r.ok, "OpenVINO cannot read the written ONNX file: {}", r.output);
}
