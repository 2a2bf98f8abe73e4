//! Malformed and hostile models give typed errors that name the file and,
//! where there is one, the node or tensor.

#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use onnx_protobuf::attribute_proto::AttributeType;
use onnx_protobuf::tensor_proto::{DataLocation, DataType};
use onnx_protobuf::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto,
    ValueInfoProto,
};
use protobuf::Message;
use ptq_onnx::OnnxError;
use ptq_tests::fixtures_dir;

fn vi(name: &str, dims: &[i64]) -> ValueInfoProto {
    ptq_tests::onnx_build::value_info(name, dims, DataType::FLOAT)
}

use ptq_tests::onnx_build::node;

fn model(opset: i64, nodes: Vec<NodeProto>, inits: Vec<TensorProto>) -> ModelProto {
    let mut g = GraphProto::new();
    g.name = "g".into();
    g.node = nodes;
    g.initializer = inits;
    g.input = vec![vi("x", &[1, 4])];
    g.output = vec![vi("y", &[1, 4])];
    let mut m = ModelProto::new();
    m.ir_version = 8;
    let mut o = OperatorSetIdProto::new();
    o.version = opset;
    m.opset_import = vec![o];
    m.graph = Some(g).into();
    m
}

fn load(m: &ModelProto) -> Result<ptq_onnx::OnnxModel, OnnxError> {
    ptq_onnx::import_bytes(&m.write_to_bytes().unwrap(), "hostile.onnx", None)
}

fn load_in(dir: &std::path::Path, m: &ModelProto) -> Result<ptq_onnx::OnnxModel, OnnxError> {
    let p = dir.join("hostile.onnx");
    std::fs::write(&p, m.write_to_bytes().unwrap()).unwrap();
    ptq_onnx::load(&p)
}

fn f32_tensor(name: &str, dims: &[i64], raw: Vec<u8>) -> TensorProto {
    let mut t = TensorProto::new();
    t.name = name.into();
    t.data_type = DataType::FLOAT as i32;
    t.dims = dims.to_vec();
    t.raw_data = raw;
    t
}

fn i64_tensor(name: &str, dims: &[i64], values: &[i64]) -> TensorProto {
    let mut t = TensorProto::new();
    t.name = name.into();
    t.data_type = DataType::INT64 as i32;
    t.dims = dims.to_vec();
    t.int64_data = values.to_vec();
    t
}

fn relu_model() -> ModelProto {
    model(13, vec![node("relu0", "Relu", &["x"], &["y"])], vec![])
}

#[test]
fn a_valid_hand_built_model_loads() {
    load(&relu_model()).unwrap();
}

#[test]
fn garbage_is_a_decode_error_naming_the_file() {
    let e = ptq_onnx::import_bytes(b"\x0a\xff\xff\xff\xff\x0fgarbage", "bad.onnx", None).unwrap_err();
    assert!(matches!(e, OnnxError::Decode { .. }), "{e}");
    assert!(e.to_string().contains("bad.onnx"));
}

#[test]
fn truncated_file_is_an_error() {
    let bytes = std::fs::read(fixtures_dir().join("digits_cnn/model.onnx")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("cut.onnx");
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let e = ptq_onnx::load(&p).unwrap_err();
    assert!(e.to_string().contains("cut.onnx"), "{e}");
}

#[test]
fn missing_external_data_file_names_the_tensor() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(fixtures_dir().join("external_data/model.onnx"), tmp.path().join("model.onnx")).unwrap();
    let e = ptq_onnx::load(tmp.path().join("model.onnx")).unwrap_err();
    assert!(matches!(e, OnnxError::Tensor { .. }), "{e}");
    assert!(e.to_string().contains("model.onnx.data"), "{e}");
}

#[test]
fn external_data_outside_the_model_folder_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for location in ["../secret.bin", "/etc/hostname", "a/../../b"] {
        let mut t = f32_tensor("w", &[4], vec![]);
        t.data_location = DataLocation::EXTERNAL.into();
        let mut kv = StringStringEntryProto::new();
        kv.key = "location".into();
        kv.value = location.into();
        t.external_data = vec![kv];
        let m = model(13, vec![node("add0", "Add", &["x", "w"], &["y"])], vec![t]);
        let e = load_in(tmp.path(), &m).unwrap_err();
        assert!(e.to_string().contains("relative path inside"), "{location}: {e}");
    }
}

#[test]
fn external_range_past_the_end_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("w.bin"), [0u8; 8]).unwrap();
    let mut t = f32_tensor("w", &[4], vec![]);
    t.data_location = DataLocation::EXTERNAL.into();
    let entry = |k: &str, v: &str| {
        let mut kv = StringStringEntryProto::new();
        kv.key = k.into();
        kv.value = v.into();
        kv
    };
    t.external_data = vec![entry("location", "w.bin"), entry("offset", "4")];
    let m = model(13, vec![node("add0", "Add", &["x", "w"], &["y"])], vec![t]);
    let e = load_in(tmp.path(), &m).unwrap_err();
    assert!(matches!(e, OnnxError::Tensor { ref tensor, .. } if tensor == "w"), "{e}");
}

#[test]
fn short_tensor_data_names_the_tensor() {
    let m = model(13, vec![node("add0", "Add", &["x", "w"], &["y"])], vec![f32_tensor("w", &[1, 4], vec![0; 12])]);
    let e = load(&m).unwrap_err();
    assert!(matches!(e, OnnxError::Tensor { ref tensor, .. } if tensor == "w"), "{e}");
    assert!(e.to_string().contains("hostile.onnx"));
}

#[test]
fn negative_and_huge_dims_are_errors_without_allocating() {
    for dims in [vec![-1, 4], vec![1 << 40, 1 << 40], vec![i64::MAX, 2]] {
        let m = model(13, vec![node("add0", "Add", &["x", "w"], &["y"])], vec![f32_tensor("w", &dims, vec![])]);
        let e = load(&m).unwrap_err();
        assert!(matches!(e, OnnxError::Tensor { .. }), "{dims:?}: {e}");
    }
}

#[test]
fn negative_declared_dims_are_unknown_with_a_warning() {
    // paddle2onnx writes -1 for a dynamic dim; onnxruntime reads it as unknown.
    let mut m = relu_model();
    m.graph.as_mut().unwrap().input = vec![vi("x", &[-1, 4])];
    let loaded = load(&m).unwrap();
    let x = loaded.graph.value(loaded.graph.inputs()[0]);
    assert_eq!(x.fact.shape, Some(vec![ptq_ir::Dim::Unknown, ptq_ir::Dim::Known(4)]));
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    let w = &loaded.warnings[0];
    assert!(w.contains("hostile.onnx") && w.contains("\"x\"") && w.contains("-1"), "{w}");
}

#[test]
fn huge_declared_shapes_are_only_facts() {
    let mut m = relu_model();
    m.graph.as_mut().unwrap().input = vec![vi("x", &[1 << 40, 1 << 40])];
    m.graph.as_mut().unwrap().output = vec![vi("y", &[1 << 40, 1 << 40])];
    load(&m).unwrap();
}

#[test]
fn cycles_name_a_node() {
    let m = model(
        13,
        vec![
            node("a", "Add", &["x", "c"], &["b"]),
            node("b_node", "Relu", &["b"], &["c"]),
            node("out", "Relu", &["c"], &["y"]),
        ],
        vec![],
    );
    let e = load(&m).unwrap_err();
    assert!(
        matches!(e, OnnxError::Graph { ref source, .. } if matches!(**source, ptq_ir::IrError::Cycle { .. })),
        "{e}"
    );
    assert!(e.to_string().contains("hostile.onnx"));
}

#[test]
fn unsupported_opsets_are_refused() {
    for v in [0, 23, 1000] {
        let mut m = relu_model();
        m.opset_import[0].version = v;
        assert!(matches!(load(&m).unwrap_err(), OnnxError::UnsupportedOpset { version, .. } if version == v));
    }
}

#[test]
fn undefined_input_names_the_node() {
    let m = model(13, vec![node("add0", "Add", &["x", "nowhere"], &["y"])], vec![]);
    let e = load(&m).unwrap_err();
    assert!(matches!(e, OnnxError::Node { ref node, .. } if node == "add0"), "{e}");
}

#[test]
fn doubly_defined_value_names_the_node() {
    let m = model(13, vec![node("r1", "Relu", &["x"], &["y"]), node("r2", "Relu", &["x"], &["y"])], vec![]);
    let e = load(&m).unwrap_err();
    assert!(matches!(e, OnnxError::Node { ref node, .. } if node == "r2"), "{e}");
}

#[test]
fn wrongly_typed_attribute_names_the_node() {
    let mut n = node("conv0", "Conv", &["x", "w"], &["y"]);
    let mut a = AttributeProto::new();
    a.name = "group".into();
    a.type_ = AttributeType::FLOAT.into();
    a.f = 2.0;
    n.attribute.push(a);
    let m = model(13, vec![n], vec![f32_tensor("w", &[4, 4], vec![0; 64])]);
    let e = load(&m).unwrap_err();
    assert!(matches!(e, OnnxError::Node { ref node, .. } if node == "conv0"), "{e}");
}

#[test]
fn shape_contradictions_are_overruled_with_a_warning_naming_value_and_node() {
    // onnxruntime warns and runs such files; inference wins, as there.
    let mut m = model(13, vec![node("mm", "MatMul", &["x", "w"], &["y"])], vec![f32_tensor("w", &[4, 3], vec![0; 48])]);
    m.graph.as_mut().unwrap().output = vec![vi("y", &[1, 4])];
    let loaded = load(&m).unwrap();
    let y = loaded.graph.value(loaded.graph.outputs()[0]);
    assert_eq!(y.fact.shape, Some(vec![ptq_ir::Dim::Known(1), ptq_ir::Dim::Known(3)]));
    let [w] = loaded.warnings.as_slice() else { panic!("{:?}", loaded.warnings) };
    assert!(w.contains("\"y\"") && w.contains("\"mm\"") && w.contains("[1,4]") && w.contains("[1,3]"), "{w}");

    // A rank that contradicts (a declared [1,seq] of a rank-3 Reshape) too.
    let mut m = model(13, vec![node("r", "Reshape", &["x", "s"], &["y"])], vec![i64_tensor("s", &[3], &[2, 1, 2])]);
    m.graph.as_mut().unwrap().output = vec![vi("y", &[1, 4])];
    let loaded = load(&m).unwrap();
    let y = loaded.graph.value(loaded.graph.outputs()[0]);
    assert_eq!(y.fact.rank(), Some(3));
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);

    // A dtype contradiction is still an error naming the node.
    let mut m = model(13, vec![node("mm", "MatMul", &["x", "w"], &["y"])], vec![f32_tensor("w", &[4, 3], vec![0; 48])]);
    m.graph.as_mut().unwrap().output = vec![ptq_tests::onnx_build::value_info("y", &[1, 3], DataType::INT64)];
    let e = load(&m).unwrap_err();
    assert!(e.to_string().contains("mm"), "{e}");
}

#[test]
fn conflicting_value_info_and_opset_imports_are_warnings() {
    let mut m = model(13, vec![node("r0", "Relu", &["x"], &["h"]), node("r1", "Relu", &["h"], &["y"])], vec![]);
    let g = m.graph.as_mut().unwrap();
    g.value_info = vec![vi("h", &[1, 4]), vi("h", &[2, 4]), vi("nowhere", &[1])];
    let mut dup = OperatorSetIdProto::new();
    dup.domain = "ai.onnx".into();
    dup.version = 14;
    m.opset_import.push(dup);
    let loaded = load(&m).unwrap();
    assert_eq!(loaded.info.opset(), 14);
    let text = loaded.warnings.join("\n");
    assert!(text.contains("opset") && text.contains("[13, 14]"), "{text}");
    assert!(text.contains("value_info given twice"), "{text}");
    // The last value_info ([2,4]) contradicts inference ([1,4]) and gives way.
    assert!(text.contains("\"h\"") && text.contains("\"r0\""), "{text}");
    let h = loaded.graph.values().iter().find(|v| v.name == "h").unwrap();
    assert_eq!(h.fact.shape, Some(vec![ptq_ir::Dim::Known(1), ptq_ir::Dim::Known(4)]));
}

#[test]
fn saving_never_leaves_a_partial_file() {
    let tmp = tempfile::tempdir().unwrap();
    let m = load(&relu_model()).unwrap();
    let out = tmp.path().join("out.onnx");
    ptq_onnx::save(&m, &out).unwrap();
    let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("out.onnx")], "no temporary files remain");
}

/// Two small ConstantOfShape outputs, [65536, 1] and [1, 65536], whose Add
/// broadcasts to 2^32 elements (16 GiB of f32): the plan refuses the Add
/// before it allocates, with an error naming it, and a lower
/// `max_elements` refuses smaller outputs the same way.
fn broadcast_bomb(n: i64) -> ModelProto {
    let mut m = model(
        13,
        vec![
            node("rows", "ConstantOfShape", &["s1"], &["a"]),
            node("cols", "ConstantOfShape", &["s2"], &["b"]),
            node("outer", "Add", &["a", "b"], &["c"]),
            node("use_x", "Add", &["c", "x0"], &["y"]),
        ],
        vec![i64_tensor("s1", &[2], &[n, 1]), i64_tensor("s2", &[2], &[1, n]), f32_tensor("x0", &[1], vec![0; 4])],
    );
    m.graph.as_mut().unwrap().output = vec![vi("y", &[n, n])];
    m
}

#[test]
fn outputs_past_the_element_limit_are_refused_before_allocating() {
    use ptq_exec::{ExecOptions, Plan};
    let x = ptq_ir::Tensor::F32(ndarray::ArrayD::zeros(vec![1, 4]));
    let loaded = load(&broadcast_bomb(1 << 16)).unwrap();
    for optimize in [false, true] {
        let opts = ExecOptions { threads: 1, optimize, ..Default::default() };
        let e = Plan::new(&loaded.graph, &opts).and_then(|p| p.run(vec![("x".into(), x.clone())])).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("outer") && msg.contains("4294967296 elements"), "optimize {optimize}: {msg}");
    }
    // A 1000 x 1000 broadcast runs by default and is refused under a limit of 10^5.
    let small = load(&broadcast_bomb(1000)).unwrap();
    let run = |max: Option<usize>| {
        let opts = ExecOptions { threads: 1, max_elements: max, ..Default::default() };
        Plan::new(&small.graph, &opts).and_then(|p| p.run(vec![("x".into(), x.clone())]))
    };
    assert_eq!(run(None).unwrap()[0].1.shape(), &[1000, 1000]);
    let msg = run(Some(100_000)).unwrap_err().to_string();
    assert!(msg.contains("outer") && msg.contains("1000000 elements"), "{msg}");
}

/// The inputs the plan fuzz target feeds: unknown and symbolic dims are 2,
/// floats and integers a small pattern.
fn fuzz_inputs(g: &ptq_ir::Graph) -> Vec<(String, ptq_ir::Tensor)> {
    use ptq_ir::{DType, Dim, Tensor};
    g.inputs()
        .iter()
        .map(|&id| g.value(id))
        .filter(|v| v.constant.is_none())
        .map(|v| {
            let shape: Vec<usize> =
                v.fact.shape.as_ref().map_or(vec![2], |s| {
                    s.iter().map(|d| if let Dim::Known(n) = d { *n as usize } else { 2 }).collect()
                });
            let t = match v.fact.dtype.unwrap_or(DType::F32) {
                DType::F32 => Tensor::F32(ndarray::ArrayD::from_shape_fn(ndarray::IxDyn(&shape), |ix| {
                    (ndarray::Dimension::slice(&ix).iter().sum::<usize>() % 7) as f32 * 0.5 - 1.5
                })),
                d => Tensor::zeros(d, &shape),
            };
            (v.name.clone(), t)
        })
        .collect()
}

#[test]
fn inputs_the_fuzzer_found_are_errors_naming_the_node() {
    // tests/fixtures/fuzz/: a Pad of 5.5·10^10 on an axis (aborted on a
    // failed 893 GB allocation), and an attention over a sequence of 25,601
    // whose scores would take 21 GB (ran out of memory).
    for (file, node, words) in [
        ("plan_run_pad_crash.onnx", "Pad", "too large"),
        ("plan_run_attention_oom.onnx", "/attn/MatMul", "more than the limit"),
    ] {
        let m = ptq_onnx::load(fixtures_dir().join("fuzz").join(file)).unwrap();
        let plan = ptq_exec::Plan::new(&m.graph, &ptq_exec::ExecOptions { threads: 1, ..Default::default() }).unwrap();
        let e = plan.run(fuzz_inputs(&m.graph)).unwrap_err().to_string();
        assert!(e.contains(node) && e.contains(words), "{file}: {e}");
    }
}

#[test]
fn an_npz_the_fuzzer_found_slow_is_refused_at_once() {
    // 264 end-of-central-directory signatures in 258 KB: the zip reader tried
    // each (0.7 s, over libFuzzer's 1 s limit under load).
    let p = fixtures_dir().join("fuzz").join("npz_read_many_eocd.npz");
    let e = ptq::npz::read(&p).unwrap_err().to_string();
    assert!(e.contains("npz_read_many_eocd.npz") && e.contains("end-of-central-directory"), "{e}");
}
