//! Models at old opsets, whose attributes later became inputs (Clip and Pad
//! before 11, Slice and TopK before 10, Resize at 10): they import, run in
//! ptq-exec like in onnxruntime, and convert back to a model onnxruntime runs
//! with bitwise equal outputs.

#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use onnx_protobuf::attribute_proto::AttributeType;
use onnx_protobuf::tensor_proto::DataType;
use onnx_protobuf::{AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto};
use protobuf::Message;
use ptq_ir::Tensor;
use ptq_tests::{ort_compare, require_python_runtimes};

use ptq_tests::onnx_build::value_info as vi;

fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.into();
    a.type_ = AttributeType::INTS.into();
    a.ints = v.to_vec();
    a
}

fn attr_float(name: &str, v: f32) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.into();
    a.type_ = AttributeType::FLOAT.into();
    a.f = v;
    a
}

fn attr_int(name: &str, v: i64) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.into();
    a.type_ = AttributeType::INT.into();
    a.i = v;
    a
}

fn attr_str(name: &str, v: &str) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.into();
    a.type_ = AttributeType::STRING.into();
    a.s = v.as_bytes().to_vec();
    a
}

fn node(op: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<AttributeProto>) -> NodeProto {
    let mut n = ptq_tests::onnx_build::node(&format!("/{op}"), op, inputs, outputs);
    n.attribute = attrs;
    n
}

/// x [1,2,6,6] -> Clip -> Pad -> Slice -> Resize(x2, nearest) -> y; TopK on a flattened view -> k values.
fn model(opset: i64) -> ModelProto {
    let ints = |name: &str, v: &[i64]| {
        let mut t = TensorProto::new();
        t.name = name.into();
        t.data_type = DataType::INT64 as i32;
        t.dims = vec![v.len() as i64];
        t.int64_data = v.to_vec();
        t
    };
    let mut nodes = vec![
        node("Clip", &["x"], &["c"], vec![attr_float("min", -0.5), attr_float("max", 0.75)]),
        node(
            "Pad",
            &["c"],
            &["p"],
            vec![attr_ints("pads", &[0, 0, 1, 2, 0, 0, 2, 1]), attr_float("value", 0.25), attr_str("mode", "constant")],
        ),
        node("Flatten", &["s"], &["f"], vec![attr_int("axis", 1)]),
    ];
    let mut inits = vec![];
    if opset < 10 {
        nodes.push(node(
            "Slice",
            &["p"],
            &["s"],
            vec![attr_ints("starts", &[1, 0]), attr_ints("ends", &[8, 7]), attr_ints("axes", &[2, 3])],
        ));
        nodes.push(node("TopK", &["f"], &["k", "ki"], vec![attr_int("k", 5)]));
    } else {
        nodes.push(node("Slice", &["p", "starts", "ends", "axes"], &["s"], vec![]));
        nodes.push(node("TopK", &["f", "K"], &["k", "ki"], vec![]));
        inits.extend([ints("starts", &[1, 0]), ints("ends", &[8, 7]), ints("axes", &[2, 3]), ints("K", &[5])]);
    }
    if opset == 10 {
        nodes.push(node("Resize", &["s", "scales"], &["y"], vec![attr_str("mode", "nearest")]));
        let mut t = TensorProto::new();
        t.name = "scales".into();
        t.data_type = DataType::FLOAT as i32;
        t.dims = vec![4];
        t.float_data = vec![1.0, 1.0, 2.0, 2.0];
        inits.push(t);
    } else {
        nodes.push(node("Identity", &["s"], &["y"], vec![]));
    }
    let mut g = GraphProto::new();
    g.name = "legacy".into();
    g.node = nodes;
    g.initializer = inits;
    g.input = vec![vi("x", &[1, 2, 6, 6], DataType::FLOAT)];
    g.output = vec![vi("y", &[], DataType::FLOAT), vi("k", &[], DataType::FLOAT), vi("ki", &[], DataType::INT64)];
    for o in &mut g.output {
        o.type_.as_mut().unwrap().value = match o.type_.as_ref().unwrap().value.clone() {
            Some(onnx_protobuf::type_proto::Value::TensorType(mut t)) => {
                t.shape = None.into();
                Some(onnx_protobuf::type_proto::Value::TensorType(t))
            }
            v => v,
        };
    }
    let mut m = ModelProto::new();
    m.ir_version = 5;
    let mut o = OperatorSetIdProto::new();
    o.version = opset;
    m.opset_import = vec![o];
    m.graph = Some(g).into();
    m
}

#[test]
fn old_opset_attribute_forms_round_trip() {
    require_python_runtimes();
    for opset in [9, 10] {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("legacy.onnx");
        std::fs::write(&src, model(opset).write_to_bytes().unwrap()).unwrap();
        let x: Vec<f32> = (0..72).map(|i| ((i * 37 % 29) as f32 - 14.0) / 10.0).collect();
        let inputs =
            vec![("x".to_string(), Tensor::F32(ndarray::ArrayD::from_shape_vec(vec![1, 2, 6, 6], x).unwrap()))];
        let inp = dir.path().join("in.npz");
        ptq::npz::write(&inp, &inputs).unwrap();
        let expected = dir.path().join("expected.npz");
        let r = ptq_tests::ort_outputs(&src, &inp, &expected);
        assert!(r.ok, "opset {opset}: {}", r.output);

        let m = ptq_onnx::load(&src).unwrap_or_else(|e| panic!("opset {opset}: {e}"));
        let plan = ptq_exec::Plan::new(&m.graph, &ptq_exec::ExecOptions::default()).unwrap();
        let got = plan.run(inputs.clone()).unwrap();
        let want = ptq::npz::read(&expected).unwrap();
        for (name, w) in &want {
            let g = &got.iter().find(|(n, _)| n == name).unwrap().1;
            assert_eq!(g, w, "opset {opset}: output {name}");
        }

        let dst = dir.path().join("converted.onnx");
        ptq_onnx::save(&m, &dst).unwrap();
        let r = ort_compare(&dst, &inp, &expected, "bitwise");
        assert!(r.ok, "opset {opset}: {}", r.output);
        let back = onnx_protobuf::ModelProto::parse_from_bytes(&std::fs::read(&dst).unwrap()).unwrap();
        let g = back.graph.as_ref().unwrap();
        for n in &g.node {
            let expected_inputs = match n.op_type.as_str() {
                "Clip" | "Pad" => 1,
                "Slice" | "TopK" if opset < 10 => 1,
                "Resize" => 2,
                _ => n.input.len(),
            };
            assert_eq!(n.input.len(), expected_inputs, "opset {opset}: {} keeps its attribute form", n.op_type);
        }
    }
}
