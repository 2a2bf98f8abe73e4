//! The IR writer, checked in OpenVINO runtime: an unmodified import→export
//! of every IR fixture gives OpenVINO's outputs for the original bit for bit
//! (both run here, side by side), and a
//! quantized digits IR keeps its accuracy and runs its convolutions in int8.

#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use ptq_tests::{eval_in_runtime, fixtures_dir, ir_fixture_dirs, ir_inputs, ov_compare, ov_outputs, require_openvino};

#[test]
fn unmodified_roundtrip_gives_openvinos_outputs() {
    require_openvino();
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = vec![];
    for dir in ir_fixture_dirs() {
        let label = dir.parent().unwrap().file_name().unwrap().to_string_lossy().to_string();
        let m = ptq_openvino::load(dir.join("model.xml")).unwrap();
        let out = tmp.path().join(format!("{label}.xml"));
        if let Err(e) = ptq_openvino::save(&m.graph, &m.info, &out, &Default::default()) {
            failures.push(format!("{label}: {e}"));
            continue;
        }
        // The rewritten IR imports again to the same graph structure.
        let again = ptq_openvino::load(&out).unwrap();
        assert_eq!(again.graph.outputs().len(), m.graph.outputs().len(), "{label}");
        // The original runs here too, side by side: outputs stored on another
        // CPU would hold that CPU's kernels' rounding.
        let original = tmp.path().join(format!("{label}.original.npz"));
        let r = ov_outputs(&dir.join("model.xml"), &ir_inputs(&dir), &original);
        assert!(r.ok, "{label}: OpenVINO cannot run the original: {}", r.output);
        let r = ov_compare(&out, &ir_inputs(&dir), &original, "bitwise", 0.0, 0.0);
        eprintln!("{label}:\n{}", r.output);
        if !r.ok {
            failures.push(format!("{label}: {}", r.output));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn quantized_digits_ir_keeps_accuracy_and_runs_int8_convolutions_in_openvino() {
    require_openvino();
    let dir = fixtures_dir().join("digits_cnn");
    let model = ptq::load(dir.join("ir/model.xml")).unwrap();
    let calib = ptq::Dataset::open(dir.join("calib.npz")).unwrap();
    let q = ptq::quantize(&model, &calib, &ptq::QuantizeOptions::default()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("digits_int8.xml");
    q.model.save(&out).unwrap();

    // Accuracy in OpenVINO runtime.
    let r = eval_in_runtime(&dir.join("ir/model.xml"), &out, &dir.join("valid.npz"));
    let (top1, ref_top1) = (r["top1"].as_f64().unwrap(), r["ref_top1"].as_f64().unwrap());
    eprintln!("{r}");
    assert!(ref_top1 - top1 <= 0.005, "top-1 {top1} vs FP32 {ref_top1}");
    // Weights stay int8 in the .bin: at most 30 % of the FP32 weights plus the f32 scales and biases.
    let (fp32_bin, int8_bin) = (
        std::fs::metadata(dir.join("ir/model.bin")).unwrap().len(),
        std::fs::metadata(out.with_extension("bin")).unwrap().len(),
    );
    eprintln!("bin: {fp32_bin} → {int8_bin} bytes");
    assert!((int8_bin as f64) < 0.45 * fp32_bin as f64, "{int8_bin} vs {fp32_bin}");

    // The compiled model runs every convolution and the classifier in int8.
    let layers = ptq_tests::ov_exec_precisions(&out, &dir.join("inputs.npz")).unwrap();
    let convs: Vec<_> = layers.iter().filter(|l| l[1] == "Convolution" || l[1] == "FullyConnected").collect();
    assert!(!convs.is_empty(), "{layers:?}");
    for l in &convs {
        assert!(matches!(l[2].as_str(), "u8" | "i8"), "{} runs in {} ({})", l[0], l[2], l[3]);
    }

    // rt_info records the settings.
    let xml = std::fs::read_to_string(&out).unwrap();
    assert!(xml.contains("<ptq>") && xml.contains("<preset value=\"performance\""), "rt_info missing");
    // The input model is untouched.
    assert!(ptq::load(dir.join("ir/model.xml")).is_ok());
}

/// ONNX's Flatten of `[N, S, 3, T]` at axis 2, with N, S and T unknown:
/// neither side of the axis has a known size, so the IR computes the target
/// shape from ShapeOf. OpenVINO runs it as ptq does.
#[test]
fn flatten_with_dynamic_dims_on_both_sides_runs_in_openvino() {
    use ptq_ir::fact::Dim;
    use ptq_ir::ops::flatten::Flatten;
    use ptq_ir::{DType, Fact, Graph, Node, Tensor, Value};
    require_openvino();
    let mut g = Graph::default();
    let shape = vec![Dim::Sym("n".into()), Dim::Sym("s".into()), Dim::Known(3), Dim::Sym("t".into())];
    let x = g.add_value(Value { name: "x".into(), fact: Fact::new(DType::F32, shape), ..Value::default() });
    g.inputs_mut().push(x);
    let y = g.add_value(Value { name: "y".into(), fact: Fact::dtype_only(Some(DType::F32)), ..Value::default() });
    g.add_node(Node {
        name: "flat".into(),
        op: Flatten { axis: 2 }.into(),
        inputs: vec![Some(x)],
        outputs: vec![Some(y)],
        doc: String::new(),
        meta: vec![],
    });
    g.outputs_mut().push(y);
    ptq_ir::infer::infer_facts(&mut g).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let xml = tmp.path().join("flat.xml");
    ptq_openvino::save(&g, &Default::default(), &xml, &Default::default()).unwrap();
    let data: Vec<f32> = (0..2 * 5 * 3 * 4).map(|i| i as f32 * 0.5 - 7.0).collect();
    let input = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[2, 5, 3, 4]), data).unwrap();
    let inputs = tmp.path().join("in.npz");
    let feed = vec![("x".to_string(), Tensor::F32(input))];
    ptq::npz::write(&inputs, &feed).unwrap();
    let plan = ptq_exec::Plan::new(&g, &Default::default()).unwrap();
    let out = plan.run(feed).unwrap();
    assert_eq!(out[0].1.shape(), [10, 12]);
    let expected = tmp.path().join("want.npz");
    ptq::npz::write(&expected, &out).unwrap();
    let r = ov_compare(&xml, &inputs, &expected, "bitwise", 0.0, 0.0);
    assert!(r.ok, "{}", r.output);
}
