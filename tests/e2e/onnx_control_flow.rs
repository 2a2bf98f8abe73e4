//! If, Loop and Scan with subgraphs: hand-built models with loop-carried
//! values, a scan output, captures of outer values (one of them two scopes
//! up, through a nested If) run by ptq's executor and by onnxruntime, then
//! written back by `ptq convert` and run again by onnxruntime (bitwise
//! equal); hostile nesting gives a typed error naming the node.

#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use onnx_protobuf::attribute_proto::AttributeType;
use onnx_protobuf::tensor_proto::DataType;
use onnx_protobuf::{AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto};
use protobuf::Message;
use ptq_ir::Tensor;
use ptq_tests::onnx_build::{node, value_info as vi};
use ptq_tests::{ort_compare, ort_outputs, require_python_runtimes};

fn graph_attr(name: &str, g: GraphProto) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.into();
    a.type_ = AttributeType::GRAPH.into();
    a.g = Some(g).into();
    a
}

fn ints_attr(name: &str, v: &[i64]) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.into();
    a.type_ = AttributeType::INTS.into();
    a.ints = v.to_vec();
    a
}

fn int_attr(name: &str, v: i64) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.into();
    a.type_ = AttributeType::INT.into();
    a.i = v;
    a
}

fn with(mut n: NodeProto, attrs: Vec<AttributeProto>) -> NodeProto {
    n.attribute = attrs;
    n
}

fn graph(
    name: &str,
    nodes: Vec<NodeProto>,
    inputs: Vec<onnx_protobuf::ValueInfoProto>,
    outputs: Vec<onnx_protobuf::ValueInfoProto>,
) -> GraphProto {
    let mut g = GraphProto::new();
    g.name = name.into();
    g.node = nodes;
    g.input = inputs;
    g.output = outputs;
    g
}

fn f32_init(name: &str, dims: &[i64], v: &[f32]) -> TensorProto {
    let mut t = TensorProto::new();
    t.name = name.into();
    t.data_type = DataType::FLOAT as i32;
    t.dims = dims.to_vec();
    t.float_data = v.to_vec();
    t
}

fn model(g: GraphProto) -> ModelProto {
    let mut m = ModelProto::new();
    m.ir_version = 8;
    let mut o = OperatorSetIdProto::new();
    o.version = 13;
    m.opset_import = vec![o];
    m.graph = Some(g).into();
    m
}

/// `acc ← If(i < 1, acc·W + x, acc·W − x) + float(i)` for `n` iterations
/// (W and x captured; x from two scopes up), each iteration's `0.5·acc`
/// stacked; then `If(flag, Relu, Neg)` of the final value; and a Scan over
/// the rows of x, backwards, with a running sum as state and
/// `sum · row` stacked along axis 1.
fn control_flow_model() -> ModelProto {
    let f = DataType::FLOAT;
    let then_b =
        graph("then", vec![node("t_add", "Add", &["mm", "x"], &["t_out"])], vec![], vec![vi("t_out", &[2, 3], f)]);
    let else_b =
        graph("else", vec![node("e_sub", "Sub", &["mm", "x"], &["e_out"])], vec![], vec![vi("e_out", &[2, 3], f)]);
    let mut body = graph(
        "loop_body",
        vec![
            node("mm", "MatMul", &["acc_in", "W"], &["mm"]),
            node("first", "Less", &["iter", "one"], &["first"]),
            with(
                node("inner_if", "If", &["first"], &["branch"]),
                vec![graph_attr("then_branch", then_b), graph_attr("else_branch", else_b)],
            ),
            with(node("it_f", "Cast", &["iter"], &["it_f"]), vec![int_attr("to", DataType::FLOAT as i64)]),
            node("acc_out", "Add", &["branch", "it_f"], &["acc_out"]),
            node("half", "Mul", &["acc_out", "half_c"], &["half"]),
            node("cond_out", "Identity", &["cond_in"], &["cond_out"]),
        ],
        vec![vi("iter", &[], DataType::INT64), vi("cond_in", &[], DataType::BOOL), vi("acc_in", &[2, 3], f)],
        vec![vi("cond_out", &[], DataType::BOOL), vi("acc_out", &[2, 3], f), vi("half", &[2, 3], f)],
    );
    body.initializer = vec![f32_init("half_c", &[], &[0.5]), {
        let mut t = TensorProto::new();
        t.name = "one".into();
        t.data_type = DataType::INT64 as i32;
        t.int64_data = vec![1];
        t
    }];
    let relu_b = graph("relu", vec![node("r", "Relu", &["acc"], &["r_out"])], vec![], vec![vi("r_out", &[2, 3], f)]);
    let neg_b = graph("neg", vec![node("ng", "Neg", &["acc"], &["n_out"])], vec![], vec![vi("n_out", &[2, 3], f)]);
    let scan_body = graph(
        "scan_body",
        vec![node("s_add", "Add", &["s_in", "row"], &["s_out"]), node("s_mul", "Mul", &["s_out", "row"], &["prod"])],
        vec![vi("s_in", &[3], f), vi("row", &[3], f)],
        vec![vi("s_out", &[3], f), vi("prod", &[3], f)],
    );
    let mut g = graph(
        "control_flow",
        vec![
            with(node("loop", "Loop", &["n", "", "x"], &["acc", "halves"]), vec![graph_attr("body", body)]),
            with(
                node("if", "If", &["flag"], &["y"]),
                vec![graph_attr("then_branch", relu_b), graph_attr("else_branch", neg_b)],
            ),
            with(
                node("scan", "Scan", &["s0", "x"], &["s_final", "prods"]),
                vec![
                    graph_attr("body", scan_body),
                    int_attr("num_scan_inputs", 1),
                    ints_attr("scan_input_directions", &[1]),
                    ints_attr("scan_output_axes", &[1]),
                ],
            ),
        ],
        vec![vi("x", &[2, 3], f), vi("n", &[], DataType::INT64), vi("flag", &[], DataType::BOOL)],
        vec![vi("y", &[2, 3], f), vi("halves", &[], f), vi("s_final", &[3], f), vi("prods", &[3, 2], f)],
    );
    g.output[1].type_.as_mut().unwrap().value = {
        let mut t = onnx_protobuf::type_proto::Tensor::new();
        t.elem_type = f as i32;
        Some(onnx_protobuf::type_proto::Value::TensorType(t))
    };
    g.initializer = vec![
        f32_init("W", &[3, 3], &[0.5, -0.25, 0.125, 0.75, 0.5, -0.5, -0.125, 0.25, 1.0]),
        f32_init("s0", &[3], &[0.0, 1.0, -1.0]),
    ];
    model(g)
}

fn inputs(n: i64, flag: bool) -> Vec<(String, Tensor)> {
    let x: Vec<f32> = vec![0.5, -1.0, 2.0, 1.5, 0.25, -0.75];
    vec![
        ("x".into(), Tensor::F32(ndarray::ArrayD::from_shape_vec(vec![2, 3], x).unwrap())),
        ("n".into(), Tensor::I64(ndarray::arr0(n).into_dyn())),
        ("flag".into(), Tensor::Bool(ndarray::arr0(flag).into_dyn())),
    ]
}

#[test]
fn if_loop_and_scan_match_onnxruntime_and_round_trip() {
    require_python_runtimes();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("control_flow.onnx");
    std::fs::write(&src, control_flow_model().write_to_bytes().unwrap()).unwrap();
    let m = ptq_onnx::load(&src).unwrap();
    let plan = ptq_exec::Plan::new(&m.graph, &ptq_exec::ExecOptions::default()).unwrap();
    let dst = dir.path().join("converted.onnx");
    ptq_cli::run(["ptq", "convert", src.to_str().unwrap(), dst.to_str().unwrap()]).unwrap();
    for (n, flag) in [(3, true), (3, false), (0, true), (1, false)] {
        let case = format!("n={n} flag={flag}");
        let inp = dir.path().join(format!("in_{n}_{flag}.npz"));
        ptq::npz::write(&inp, &inputs(n, flag)).unwrap();
        let expected = dir.path().join(format!("expected_{n}_{flag}.npz"));
        let r = ort_outputs(&src, &inp, &expected);
        assert!(r.ok, "{case}: {}", r.output);
        let got = plan.run(inputs(n, flag)).unwrap();
        for (name, want) in ptq::npz::read(&expected).unwrap() {
            let g = &got.iter().find(|(k, _)| *k == name).unwrap().1;
            assert_eq!(g.shape(), want.shape(), "{case}: output {name}");
            assert_eq!(g.dtype(), want.dtype(), "{case}: output {name}");
            for (a, b) in g.to_f64_vec().iter().zip(want.to_f64_vec()) {
                assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{case}: output {name}: {a} vs {b}");
            }
        }
        let r = ort_compare(&dst, &inp, &expected, "bitwise");
        assert!(r.ok, "{case}: converted model: {}", r.output);
    }
    // The body captures W and x; the nested If reads x from two scopes up.
    let back = ptq_onnx::load(&dst).unwrap();
    let lp = back.graph.iter_nodes().find(|(_, n)| n.name == "loop").unwrap().1;
    let names: Vec<&str> = lp.input_ids().map(|v| back.graph.value(v).name.as_str()).collect();
    assert_eq!(names, ["n", "x", "W", "x"], "Loop inputs: M, the initial value, then the captures");
}

#[test]
fn deeply_nested_subgraphs_are_a_typed_error() {
    let f = DataType::FLOAT;
    let mut inner = graph("leaf", vec![node("id", "Identity", &["x"], &["y0"])], vec![], vec![vi("y0", &[1], f)]);
    for depth in 1..=34 {
        let out = format!("y{depth}");
        let leaf = graph("e", vec![node("e", "Identity", &["x"], &[&out])], vec![], vec![vi(&out, &[1], f)]);
        let n = with(
            node(&format!("if{depth}"), "If", &["c"], &[&out]),
            vec![graph_attr("then_branch", inner), graph_attr("else_branch", leaf)],
        );
        inner = graph(&format!("g{depth}"), vec![n], vec![], vec![vi(&out, &[1], f)]);
    }
    let mut g = inner;
    g.input = vec![vi("x", &[1], f), vi("c", &[], DataType::BOOL)];
    let bytes = model(g).write_to_bytes().unwrap();
    let e = ptq_onnx::import_bytes(&bytes, "nested.onnx", None).unwrap_err().to_string();
    assert!(e.starts_with("nested.onnx"), "{e}");
    assert!(e.contains("nested more than") || e.contains("recursion"), "{e}");
}

#[test]
fn a_missing_branch_names_the_node() {
    let f = DataType::FLOAT;
    let then_b = graph("t", vec![node("id", "Identity", &["x"], &["t"])], vec![], vec![vi("t", &[1], f)]);
    let mut g = graph(
        "g",
        vec![with(node("the_if", "If", &["c"], &["y"]), vec![graph_attr("then_branch", then_b)])],
        vec![vi("x", &[1], f), vi("c", &[], DataType::BOOL)],
        vec![vi("y", &[1], f)],
    );
    g.name = "g".into();
    let e = ptq_onnx::import_bytes(&model(g).write_to_bytes().unwrap(), "m.onnx", None).unwrap_err().to_string();
    assert!(e.contains("m.onnx") && e.contains("the_if") && e.contains("else_branch"), "{e}");
}

/// `y = ConcatFromSequence(SequenceConstruct(t, t))` with `t = Twice(x)`, a
/// model-local function (`Add(a, a)` times `@scale` through a constant):
/// the sequence's declared type survives `ptq convert`, the call is inlined,
/// and onnxruntime gives the same bytes for both files.
fn sequence_and_function_model() -> ModelProto {
    let f = DataType::FLOAT;
    let mut func = onnx_protobuf::FunctionProto::new();
    func.name = "Twice".into();
    func.domain = "local".into();
    func.input = vec!["a".into()];
    func.output = vec!["b".into()];
    func.attribute = vec!["scale".into()];
    let mut c = node("c", "Constant", &[], &["k"]);
    let mut r = AttributeProto::new();
    r.name = "value_float".into();
    r.type_ = AttributeType::FLOAT.into();
    r.ref_attr_name = "scale".into();
    c.attribute = vec![r];
    func.node = vec![node("add", "Add", &["a", "a"], &["s"]), c, node("mul", "Mul", &["s", "k"], &["b"])];
    let mut opset = OperatorSetIdProto::new();
    opset.version = 13;
    func.opset_import = vec![opset];
    let mut call = node("twice", "Twice", &["x"], &["t"]);
    call.domain = "local".into();
    let mut scale = AttributeProto::new();
    scale.name = "scale".into();
    scale.type_ = AttributeType::FLOAT.into();
    scale.f = 0.75;
    call.attribute = vec![scale];
    let mut g = graph(
        "seq",
        vec![
            call,
            node("construct", "SequenceConstruct", &["t", "t"], &["s"]),
            with(node("concat", "ConcatFromSequence", &["s"], &["y"]), vec![int_attr("axis", 0)]),
        ],
        vec![vi("x", &[2, 3], f)],
        vec![vi("y", &[4, 3], f)],
    );
    let mut seq = onnx_protobuf::type_proto::Sequence::new();
    let mut elem = onnx_protobuf::TypeProto::new();
    let mut tt = onnx_protobuf::type_proto::Tensor::new();
    tt.elem_type = f as i32;
    elem.value = Some(onnx_protobuf::type_proto::Value::TensorType(tt));
    seq.elem_type = Some(elem).into();
    let mut s_info = onnx_protobuf::ValueInfoProto::new();
    s_info.name = "s".into();
    let mut tp = onnx_protobuf::TypeProto::new();
    tp.value = Some(onnx_protobuf::type_proto::Value::SequenceType(seq));
    s_info.type_ = Some(tp).into();
    g.value_info = vec![s_info.clone()];
    let mut m = model(g);
    let mut local = OperatorSetIdProto::new();
    local.domain = "local".into();
    local.version = 1;
    m.opset_import.push(local);
    m.functions = vec![func];
    m
}

#[test]
fn sequences_and_local_functions_round_trip() {
    require_python_runtimes();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("seq.onnx");
    let m = sequence_and_function_model();
    std::fs::write(&src, m.write_to_bytes().unwrap()).unwrap();
    let inp = dir.path().join("in.npz");
    ptq::npz::write(&inp, &inputs(1, true)[..1]).unwrap();
    let expected = dir.path().join("expected.npz");
    let r = ort_outputs(&src, &inp, &expected);
    assert!(r.ok, "{}", r.output);
    let dst = dir.path().join("converted.onnx");
    ptq_cli::run(["ptq", "convert", src.to_str().unwrap(), dst.to_str().unwrap()]).unwrap();
    let r = ort_compare(&dst, &inp, &expected, "bitwise");
    assert!(r.ok, "converted model: {}", r.output);
    let back = ModelProto::parse_from_bytes(&std::fs::read(&dst).unwrap()).unwrap();
    let g = back.graph.as_ref().unwrap();
    assert!(g.node.iter().all(|n| n.op_type != "Twice"), "the call is inlined");
    assert_eq!(g.value_info.iter().find(|v| v.name == "s").unwrap().type_, m.graph.value_info[0].type_);
    let imported = ptq_onnx::load(&src).unwrap();
    let s = imported.graph.find_value("s").unwrap();
    assert_eq!(imported.graph.value(s).non_tensor.as_ref().unwrap().kind, ptq_ir::NonTensorKind::Sequence);
    let e = ptq_exec::Plan::new(&imported.graph, &ptq_exec::ExecOptions::default()).unwrap_err().to_string();
    assert!(e.contains("SequenceConstruct"), "{e}");
}

#[test]
fn loops_past_the_plan_limits_stop_with_an_error_naming_the_node() {
    let m = ptq_onnx::import_bytes(&control_flow_model().write_to_bytes().unwrap(), "loop.onnx", None).unwrap();
    let plan = |opts: ptq_exec::ExecOptions| ptq_exec::Plan::new(&m.graph, &opts).unwrap();
    // A trip count of 10^12 under an iteration limit of 1000.
    let capped = plan(ptq_exec::ExecOptions { threads: 1, max_loop_iterations: Some(1000), ..Default::default() });
    let e = capped.run(inputs(1_000_000_000_000, true)).unwrap_err().to_string();
    assert!(e.contains("\"loop\"") && e.contains("more than 1000 iterations"), "{e}");
    assert!(capped.run(inputs(1000, true)).is_ok());
    // The scan output (six floats per iteration) against an element limit
    // of 60: ten iterations fit, eleven do not.
    let small = plan(ptq_exec::ExecOptions { threads: 1, max_elements: Some(60), ..Default::default() });
    assert!(small.run(inputs(10, true)).is_ok());
    let e = small.run(inputs(11, true)).unwrap_err().to_string();
    assert!(e.contains("\"loop\"") && e.contains("scan outputs"), "{e}");
}
