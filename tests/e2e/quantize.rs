//! End-to-end INT8 quantization of the ONNX fixtures: accuracy, agreement
//! between onnxruntime and ptq's own evaluation of the exported models,
//! size, and errors for bad calibration data.

#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use ptq::Tensor;
use ptq::eval::{first_outputs, mean_cosine, top1};
use ptq::{Dataset, QuantizeOptions};
use ptq_tests::{fixtures_dir, onnx_check, ort_outputs, require_python_runtimes};

fn fixture(name: &str) -> PathBuf {
    fixtures_dir().join(name)
}

fn valid_split(path: &Path) -> (Dataset, Option<Vec<i64>>) {
    ptq::eval::labeled(path).unwrap()
}

fn quantize(name: &str, opts: &QuantizeOptions) -> (ptq::Model, ptq::QuantizedModel) {
    let model = ptq::load(fixture(name).join("model.onnx")).unwrap();
    let data = Dataset::from_npz_batched(fixture(name).join("calib.npz")).unwrap();
    let q = ptq::quantize(&model, &data, opts).unwrap();
    (model, q)
}

/// Largest activation quantization step in the report.
fn largest_step(r: &ptq::Report) -> f64 {
    r.quantizers.iter().filter(|q| q.kind == "activation").map(|q| q.spec.scale[0] as f64).fold(0.0, f64::max)
}

/// Saves `q`, runs it in onnxruntime on the first `n` validation items and
/// returns the largest |ort − ptq| over the first output, with the step.
///
/// onnxruntime's u8×s8 kernels for x86 CPUs without VNNI (AVX2) add pairs of
/// products in saturating 16-bit lanes, so with 8-bit weights its outputs
/// can depend on the CPU it runs on. The default overflow fix
/// (`OverflowFix::Auto`) gives 7 bits to the weights of every layer whose
/// pairs could leave 16 bits for the calibrated inputs, so the agreement
/// checked here holds on any CPU.
fn ort_agreement(q: &ptq::QuantizedModel, valid: &Path, n: usize) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("int8.onnx");
    q.model.save(&path).unwrap();
    let r = onnx_check(&path);
    assert!(r.ok, "onnx.checker rejects the INT8 model: {}", r.output);
    let (data, _) = valid_split(valid);
    let ours = first_outputs(&q.model, &data, 1).unwrap();
    let mut worst: f64 = 0.0;
    for (i, item) in data.iter().take(n).enumerate() {
        let item = item.unwrap();
        let inp = dir.path().join(format!("in{i}.npz"));
        let out = dir.path().join(format!("out{i}.npz"));
        ptq::npz::write(&inp, &item).unwrap();
        let r = ort_outputs(&path, &inp, &out);
        assert!(r.ok, "onnxruntime cannot run the INT8 model: {}", r.output);
        let theirs = ptq::npz::read(&out).unwrap().remove(0).1.to_f64_vec();
        for (a, b) in ours[i].iter().zip(&theirs) {
            worst = worst.max((a - b).abs());
        }
    }
    (worst, largest_step(&q.report))
}

#[test]
fn digits_cnn_keeps_top1_within_half_a_point_and_runs_in_onnxruntime() {
    require_python_runtimes();
    let (fp32, q) = quantize("digits_cnn", &QuantizeOptions::default());
    let (valid, labels) = valid_split(&fixture("digits_cnn").join("valid.npz"));
    let labels = labels.unwrap();
    let a = first_outputs(&fp32, &valid, 1).unwrap();
    let b = first_outputs(&q.model, &valid, 1).unwrap();
    let (f, i8) = (top1(&a, &labels), top1(&b, &labels));
    println!("digits_cnn top-1: FP32 {:.2}% INT8 {:.2}% cosine {:.5}", 100.0 * f, 100.0 * i8, mean_cosine(&a, &b));
    assert!(100.0 * (f - i8) <= 0.5, "top-1 drop {:.2} points", 100.0 * (f - i8));
    let (acts, weights) = q.report.counts();
    assert!(acts >= 3 && weights == 3, "{acts} activation / {weights} weight quantizers");
    assert_eq!(q.report.folded_batch_norms.len(), 2);
    let (worst, step) = ort_agreement(&q, &fixture("digits_cnn").join("valid.npz"), 20);
    println!("digits_cnn onnxruntime vs ptq: max |diff| {worst:.3e}, largest activation step {step:.3e}");
    assert!(worst <= step, "onnxruntime and ptq differ by {worst} > one step {step}");
}

#[test]
fn bad_calibration_data_is_an_error_naming_the_input_and_item() {
    let path = fixture("digits_cnn").join("model.onnx");
    let before = std::fs::read(&path).unwrap();
    let model = ptq::load(&path).unwrap();
    let good = ptq::npz::read(fixture("digits_cnn").join("calib.npz")).unwrap();
    let x = good[0].1.clone();
    let Tensor::F32(xa) = &x else { panic!("f32 calibration data") };
    let run = |items: Vec<ptq::Item>| {
        ptq::quantize(&model, &Dataset::from_items(items), &QuantizeOptions::default()).unwrap_err().to_string()
    };
    let one = |i: usize| Tensor::F32(xa.slice_axis(ndarray::Axis(0), ndarray::Slice::from(i..i + 1)).to_owned());
    let e = run(vec![vec![("input".into(), one(0))], vec![("pixels".into(), one(1))]]);
    assert!(e.contains("item 1") && e.contains("pixels"), "{e}");
    let e = run(vec![vec![]]);
    assert!(e.contains("item 0") && e.contains("input"), "{e}");
    let e = run(vec![vec![("input".into(), Tensor::F32(ndarray::ArrayD::zeros(ndarray::IxDyn(&[1, 1, 7, 8]))))]]);
    assert!(e.contains("item 0") && e.contains("input") && e.contains("shape"), "{e}");
    let e = run(vec![vec![("input".into(), Tensor::F64(ndarray::ArrayD::zeros(ndarray::IxDyn(&[1, 1, 8, 8]))))]]);
    assert!(e.contains("item 0") && e.contains("dtype"), "{e}");
    let mut nan = xa.slice_axis(ndarray::Axis(0), ndarray::Slice::from(2..3)).to_owned();
    nan[[0, 0, 3, 3]] = f32::NAN;
    let e = run(vec![
        vec![("input".into(), one(0))],
        vec![("input".into(), one(1))],
        vec![("input".into(), Tensor::F32(nan))],
    ]);
    assert!(e.contains("item 2") && e.contains("input") && e.contains("NaN"), "{e}");
    let e = run(vec![]);
    assert!(e.contains("empty"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), before, "the input model changed");
}

#[test]
fn saving_refuses_the_input_path_and_leaves_no_partial_files() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("model.onnx");
    std::fs::copy(fixture("digits_cnn").join("model.onnx"), &src).unwrap();
    let model = ptq::load(&src).unwrap();
    let data = Dataset::from_npz_batched(fixture("digits_cnn").join("calib.npz")).unwrap();
    let opts = QuantizeOptions { subset_size: 16, ..QuantizeOptions::default() };
    let q = ptq::quantize(&model, &data, &opts).unwrap();
    let before = std::fs::read(&src).unwrap();
    let e = q.model.save(&src).unwrap_err().to_string();
    assert!(e.contains("overwrite"), "{e}");
    assert_eq!(std::fs::read(&src).unwrap(), before);
    q.model.save(dir.path().join("int8.onnx")).unwrap();
    assert!(q.model.save(dir.path().join("missing/int8.onnx")).is_err());
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn transformer_keeps_cosine_above_0_99_and_runs_in_onnxruntime() {
    require_python_runtimes();
    // No model type given: the attention block is detected.
    let (fp32, q) = quantize("transformer_encoder", &QuantizeOptions::default());
    assert_eq!(q.report.model_type, Some(ptq::ModelType::Transformer), "{}", q.report.model_type_reason);
    assert!(q.report.model_type_reason.contains("Softmax"), "{}", q.report.model_type_reason);
    let (valid, _) = valid_split(&fixture("transformer_encoder").join("valid.npz"));
    let a = first_outputs(&fp32, &valid, 1).unwrap();
    let b = first_outputs(&q.model, &valid, 1).unwrap();
    let cos = mean_cosine(&a, &b);
    println!("transformer_encoder cosine {cos:.5}");
    assert!(cos >= 0.99, "cosine {cos}");
    // Only MatMul inputs are quantized; the attention-output MatMul stays float.
    assert!(q.report.ignored.iter().any(|i| i.reason.contains("attention-output")));
    let (worst, step) = ort_agreement(&q, &fixture("transformer_encoder").join("valid.npz"), 10);
    println!("transformer_encoder onnxruntime vs ptq: max |diff| {worst:.3e}, largest activation step {step:.3e}");
    assert!(worst <= step, "onnxruntime and ptq differ by {worst} > one step {step}");
}

#[test]
fn opset_11_model_is_written_at_opset_13_with_per_channel_weights() {
    require_python_runtimes();
    // residual_block is opset 11 (attribute forms of Squeeze, Split, Pad...).
    let model = ptq::load(fixture("residual_block").join("model.onnx")).unwrap();
    let inputs = ptq::npz::read(fixture("residual_block").join("inputs.npz")).unwrap();
    let data = Dataset::from_items(vec![inputs; 4]);
    let q = ptq::quantize(&model, &data, &QuantizeOptions::default()).unwrap();
    assert!(q.report.quantizers.iter().any(|r| r.kind == "weight" && r.spec.axis == Some(0)));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("int8.onnx");
    q.model.save(&path).unwrap();
    let r = onnx_check(&path);
    assert!(r.ok, "{}", r.output);
    let out = dir.path().join("out.npz");
    let r = ort_outputs(&path, &fixture("residual_block").join("inputs.npz"), &out);
    assert!(r.ok, "onnxruntime cannot run it: {}", r.output);
    let reloaded = ptq::load(&path).unwrap();
    assert!(reloaded.describe_source().contains("opset 13"), "{}", reloaded.describe_source());
}

#[test]
fn weight_dominated_model_shrinks_below_30_percent() {
    use ptq_ir::ops::binary::{Binary, BinaryKind};
    use ptq_ir::ops::matmul::MatMul;
    use ptq_ir::{ConstSource, DType, Fact, Graph, Node, Value};
    let mut g = Graph::default();
    let x = g.add_value(Value {
        name: "x".into(),
        fact: Fact::new(DType::F32, vec![ptq::Dim::Sym("batch".into()), ptq::Dim::Known(256)]),
        ..Value::default()
    });
    g.inputs_mut().push(x);
    let mut cur = x;
    for (i, (k, n)) in [(256usize, 256usize), (256, 128)].into_iter().enumerate() {
        let w: Vec<f32> = (0..k * n).map(|j| ((j * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.1).collect();
        let w = g.add_constant(
            format!("w{i}"),
            Tensor::F32(ndarray::ArrayD::from_shape_vec(vec![k, n], w).unwrap()),
            ConstSource::Stored,
        );
        let b = g.add_constant(format!("b{i}"), Tensor::from_f32s(&vec![0.01; n]), ConstSource::Stored);
        let (m, y) = (
            g.add_value(Value { name: format!("mm{i}"), ..Value::default() }),
            g.add_value(Value { name: format!("y{i}"), ..Value::default() }),
        );
        g.add_node(Node {
            name: format!("matmul{i}"),
            op: MatMul.into(),
            inputs: vec![Some(cur), Some(w)],
            outputs: vec![Some(m)],
            doc: String::new(),
            meta: vec![],
        });
        g.add_node(Node {
            name: format!("add{i}"),
            op: Binary { kind: BinaryKind::Add }.into(),
            inputs: vec![Some(m), Some(b)],
            outputs: vec![Some(y)],
            doc: String::new(),
            meta: vec![],
        });
        cur = y;
    }
    g.outputs_mut().push(cur);
    let dir = tempfile::tempdir().unwrap();
    let fp32 = dir.path().join("mlp.onnx");
    let info = ptq_onnx::ModelInfo { ir_version: 8, opset_import: vec![(String::new(), 17)], ..Default::default() };
    ptq_onnx::save_with(&g, &info, &fp32, &ptq_onnx::ExportOptions::default()).unwrap();
    let model = ptq::load(&fp32).unwrap();
    let items: Vec<ptq::Item> = (0..8)
        .map(|i| {
            let v: Vec<f32> = (0..256).map(|j| ((i * 256 + j) as f32 * 0.37).sin()).collect();
            vec![("x".to_string(), Tensor::F32(ndarray::ArrayD::from_shape_vec(vec![1, 256], v).unwrap()))]
        })
        .collect();
    let q = ptq::quantize(&model, &Dataset::from_items(items), &QuantizeOptions::default()).unwrap();
    let int8 = dir.path().join("mlp.int8.onnx");
    q.model.save(&int8).unwrap();
    let (a, b) = (std::fs::metadata(&fp32).unwrap().len(), std::fs::metadata(&int8).unwrap().len());
    println!("weight-dominated MLP: {a} -> {b} bytes ({:.1}%)", 100.0 * b as f64 / a as f64);
    assert!((b as f64) <= 0.30 * a as f64, "{a} -> {b}");
}

#[test]
fn every_fixture_quantizes_and_runs_in_onnxruntime() {
    require_python_runtimes();
    let dir = tempfile::tempdir().unwrap();
    let mut failures = vec![];
    for name in ptq_tests::onnx_fixtures() {
        let fx = fixture(&name);
        let model = ptq::load(fx.join("model.onnx")).unwrap();
        let inputs = fx.join("inputs.npz");
        let data = Dataset::from_items(vec![ptq::npz::read(&inputs).unwrap(); 3]);
        let q = match ptq::quantize(&model, &data, &QuantizeOptions::default()) {
            Ok(q) => q,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let path = dir.path().join(format!("{name}.onnx"));
        if let Err(e) = q.model.save(&path) {
            failures.push(format!("{name}: save: {e}"));
            continue;
        }
        let r = onnx_check(&path);
        if !r.ok {
            failures.push(format!("{name}: onnx.checker: {}", r.output));
        }
        let r = ort_outputs(&path, &inputs, &dir.path().join(format!("{name}.out.npz")));
        if !r.ok {
            failures.push(format!("{name}: onnxruntime: {}", r.output));
        }
        let (a, w) = q.report.counts();
        eprintln!("{name}: {a} activation and {w} weight quantizers");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The ONNX fixture `name` quantized with default options on three copies
/// of its inputs.npz, and those inputs.
fn quantized_on_its_inputs(name: &str) -> (ptq::QuantizedModel, Vec<(String, Tensor)>) {
    let fx = fixture(name);
    let model = ptq::load(fx.join("model.onnx")).unwrap();
    let inputs = ptq::npz::read(fx.join("inputs.npz")).unwrap();
    let data = Dataset::from_items(vec![inputs.clone(); 3]);
    (ptq::quantize(&model, &data, &QuantizeOptions::default()).unwrap(), inputs)
}

/// Runs `g` on its fake-quant f32 path and on its integer path: the number
/// of integer nodes and, per output, the largest difference.
fn integer_vs_float(g: &ptq::Graph, inputs: &[(String, Tensor)]) -> (usize, Vec<(String, f64)>) {
    use ptq::{ExecOptions, Plan};
    let run = |integer: bool| {
        let plan = Plan::new(g, &ExecOptions { threads: 1, optimize: true, integer, ..Default::default() }).unwrap();
        // The lowering leaves the graph the plan holds valid IR.
        ptq_ir::validate::validate(plan.graph()).unwrap();
        (plan.run(inputs.to_vec()).unwrap(), plan.integer_nodes().len())
    };
    let ((float, _), (int, n)) = (run(false), run(true));
    let worst = float
        .iter()
        .zip(&int)
        .map(|((out, a), (_, b))| {
            (out.clone(), a.to_f64_vec().iter().zip(b.to_f64_vec()).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max))
        })
        .collect();
    (n, worst)
}

/// ExecOptions::integer runs quantized MatMul/Gemm/Conv/Add on the int8
/// kernels; its outputs match the fake-quant f32 path within one activation
/// step.
#[test]
fn integer_path_matches_fake_quant_on_every_fixture() {
    let (mut total, mut failures) = (0, vec![]);
    for name in ptq_tests::onnx_fixtures() {
        let (q, inputs) = quantized_on_its_inputs(&name);
        let step = largest_step(&q.report);
        let (n, worst) = integer_vs_float(q.model.graph(), &inputs);
        total += n;
        for (out, worst) in worst {
            eprintln!("{name}/{out}: {n} integer nodes, worst {worst:.3e}, step {step:.3e}");
            if worst > step {
                failures.push(format!("{name}/{out}: {worst} > {step}"));
            }
        }
    }
    assert!(total > 0, "no fixture ran a MatMul/Gemm on the integer path");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The largest step of the graph's FakeQuantize nodes with constant ranges.
fn largest_fake_quantize_step(g: &ptq::Graph) -> f64 {
    let range = |v: Option<ptq::ValueId>| v.and_then(|v| g.constant(v)).map(|t| t.to_f64_vec());
    g.iter_nodes()
        .filter_map(|(_, n)| match &n.op {
            ptq::Op::FakeQuantize(f) => {
                let (lo, hi) = (range(n.inputs[3])?, range(n.inputs[4])?);
                let width = lo.iter().zip(&hi).map(|(l, h)| (h - l).abs()).fold(0.0, f64::max);
                Some(width / f64::from(f.levels - 1))
            }
            _ => None,
        })
        .fold(0.0, f64::max)
}

/// Outputs of `g` on its integer path, and how many nodes ran on it.
fn integer_outputs(g: &ptq::Graph, inputs: &[(String, Tensor)]) -> (Vec<Vec<f64>>, usize) {
    use ptq::{ExecOptions, Plan};
    let plan = Plan::new(g, &ExecOptions { threads: 1, optimize: true, integer: true, ..Default::default() }).unwrap();
    let out = plan.run(inputs.to_vec()).unwrap().iter().map(|(_, t)| t.to_f64_vec()).collect();
    (out, plan.integer_nodes().len())
}

/// INT8 OpenVINO IR (FakeQuantize activations, compressed i8 weights) runs
/// on the integer kernels too. ptq's IR export of every fixture that has
/// one runs as many integer nodes as its ONNX form and gives the same
/// outputs (to f32 rounding: the FakeQuantize ranges give the scales back);
/// NNCF's digits_cnn IR stays within one step of its FakeQuantize f32
/// path. (Against the f32 path of ptq's IR the difference can pass a step:
/// FakeQuantize rounds `(x − il) / (ih − il) · 255`, QuantizeLinear
/// `x / s`, and digits' inputs, multiples of 1/16 on a [0, 1] range, sit on
/// the ties where the two differ.)
#[test]
fn integer_path_runs_openvino_int8_models() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = vec![];
    let mut exported = vec![];
    for name in ptq_tests::onnx_fixtures() {
        let (q, inputs) = quantized_on_its_inputs(&name);
        let path = dir.path().join(format!("{name}.xml"));
        // Some fixtures hold ops OpenVINO's opsets lack.
        if let Err(e) = q.model.save(&path) {
            eprintln!("{name}: skipped: {e}");
            continue;
        }
        let (want, want_n) = integer_outputs(q.model.graph(), &inputs);
        let ir = ptq::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (got, n) = integer_outputs(ir.graph(), &inputs);
        let worst = want
            .iter()
            .flatten()
            .zip(got.iter().flatten())
            .map(|(a, b)| (a - b).abs() / a.abs().max(1.0))
            .fold(0.0, f64::max);
        eprintln!("{name}: {n} integer nodes (ONNX form {want_n}), worst relative difference {worst:.3e}");
        if n < want_n || worst > 1e-5 {
            failures.push(format!("{name}: {n} integer nodes against {want_n}, worst {worst}"));
        }
        exported.push(name);
    }
    for must in ["resnet_stage", "digits_cnn", "transformer_encoder", "mobilenet_block"] {
        assert!(exported.iter().any(|m| m == must), "{must} was not checked");
    }
    let fx = fixture("digits_cnn");
    let nncf = ptq::load(fx.join("ir/nncf_int8.xml")).unwrap();
    let step = largest_fake_quantize_step(nncf.graph());
    let (n, worst) = integer_vs_float(nncf.graph(), &ptq::npz::read(fx.join("inputs.npz")).unwrap());
    eprintln!("NNCF digits_cnn IR: {n} integer nodes, step {step:.3e}, worst {worst:?}");
    assert!(n >= 1, "NNCF's classifier MatMul is not on the integer path");
    for (out, w) in worst {
        if w > step {
            failures.push(format!("NNCF digits_cnn/{out}: {w} > {step}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// TensorFlow SavedModels (tests/fixtures/tf/) quantize with defaults on
/// their 32 calibration items; on the 32 validation items the INT8 model
/// keeps a mean cosine to FP32 of at least 0.99 (0.97 for cnn_bn, an
/// untrained 8×8 CNN with near-tie items; onnxruntime's quantize_static
/// reaches 0.987 on its tf2onnx form, ptq 0.978 from either form), and its
/// ONNX and IR forms run in onnxruntime and OpenVINO with the outputs of
/// ptq's own run of the INT8 graph.
/// The quantized SavedModel runs in TensorFlow with ptq's own answers, and
/// TFLite's converter turns it into an int8 model from its fake-quant
/// ranges alone (no representative dataset) that agrees with TensorFlow's.
#[test]
fn tensorflow_savedmodels_quantize_to_savedmodels_that_tensorflow_runs_and_tflite_converts() {
    for (name, min_cos) in [("cnn_bn", 0.97), ("mobilenet_block", 0.99), ("transformer_encoder", 0.99)] {
        let dir = fixtures_dir().join("tf").join(name);
        let model = ptq::load(dir.join("saved_model")).unwrap();
        let data = Dataset::from_npz_batched(dir.join("calib.npz")).unwrap();
        let q = ptq::quantize(&model, &data, &QuantizeOptions::default()).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let out_dir = tmp.path().join("int8");
        q.model.save(&out_dir).unwrap();
        assert!(out_dir.join("saved_model.pb").is_file() && out_dir.join("variables").is_dir());
        // Saving again replaces the SavedModel; it never writes over the source.
        q.model.save(&out_dir).unwrap();
        assert!(matches!(model.save(dir.join("saved_model")), Err(ptq::Error::WouldOverwriteInput { .. })));

        let valid = dir.join("valid.npz");
        let (fp32_out, int8_out) = (tmp.path().join("fp32.npz"), tmp.path().join("int8.npz"));
        let r = ptq_tests::tf_outputs(&dir.join("saved_model"), &valid, &fp32_out, false);
        assert!(r.ok, "{name}: {}", r.output);
        let r = ptq_tests::tf_outputs(&out_dir, &valid, &int8_out, true);
        assert!(r.ok, "{name}/int8: {}", r.output);
        let summary: serde_json::Value =
            serde_json::from_str(r.output.lines().rfind(|l| l.starts_with('{')).unwrap_or("{}")).unwrap();
        println!("{name}: TFLite {summary}");
        let int8_ops: Vec<&str> = summary["int8_ops"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
        assert!(
            int8_ops.iter().any(|o| ["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"].contains(o)),
            "{name}: TFLite ran no layer in int8: {summary}"
        );

        let read = |p: &Path, key: &str| -> Vec<Vec<f64>> {
            let arrays = ptq::npz::read(p).unwrap();
            let (_, t) =
                arrays.iter().find(|(k, _)| k == key).unwrap_or_else(|| panic!("{name}: no {key} in {}", p.display()));
            let rows = t.shape()[0];
            let v = t.to_f64_vec();
            v.chunks(v.len() / rows).map(<[f64]>::to_vec).collect()
        };
        let key = model.graph().value(model.graph().outputs()[0]).name.clone();
        let (fp32, tf_int8, tflite) =
            (read(&fp32_out, &key), read(&int8_out, &key), read(&int8_out, &format!("tflite/{key}")));
        let ours = first_outputs(&q.model, &valid_split(&valid).0, 1).unwrap();
        let cos = |a: &[Vec<f64>], b: &[Vec<f64>]| mean_cosine(a, b);
        let argmax = |r: &Vec<f64>| r.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i);
        let agree = |a: &[Vec<f64>], b: &[Vec<f64>]| {
            a.iter().zip(b).filter(|(x, y)| argmax(x) == argmax(y)).count() as f64 / a.len() as f64
        };
        let (c_ptq, c_fp32, c_tflite) = (cos(&tf_int8, &ours), cos(&tf_int8, &fp32), cos(&tflite, &tf_int8));
        let (a_fp32, a_tflite) = (agree(&tf_int8, &fp32), agree(&tflite, &tf_int8));
        println!(
            "{name}: TF INT8 to ptq's run cos {c_ptq:.6}; to TF FP32 cos {c_fp32:.5}, argmax agreement {a_fp32:.3}; TFLite to TF INT8 cos {c_tflite:.5}, argmax agreement {a_tflite:.3}"
        );
        assert!(c_ptq >= 0.999, "{name}: TensorFlow's run of the INT8 SavedModel differs from ptq's: cos {c_ptq}");
        // ptq reads its own SavedModel back: fake-quantized weights become their grid values, activations Q/DQ pairs.
        let again = ptq::load(&out_dir).unwrap_or_else(|e| panic!("{name}: reading the INT8 SavedModel back: {e}"));
        let c_back = cos(&first_outputs(&again, &valid_split(&valid).0, 1).unwrap(), &tf_int8);
        println!("{name}: ptq's run of the INT8 SavedModel read back, to TensorFlow's: cos {c_back:.6}");
        assert!(c_back >= 0.999, "{name}: read back, cos {c_back} to TensorFlow's run");
        assert!(c_fp32 >= min_cos, "{name}: INT8 to FP32 cos {c_fp32}");
        assert!(c_tflite >= 0.995 && a_tflite >= 0.9, "{name}: TFLite to TF INT8 cos {c_tflite}, agreement {a_tflite}");
    }
}

#[test]
fn tensorflow_savedmodels_quantize_to_onnx_and_ir_that_the_runtimes_run() {
    require_python_runtimes();
    ptq_tests::require_openvino();
    for (name, min_cos) in [("cnn_bn", 0.97), ("mobilenet_block", 0.99), ("transformer_encoder", 0.99)] {
        let dir = fixtures_dir().join("tf").join(name);
        let model = ptq::load(dir.join("saved_model")).unwrap();
        let data = Dataset::from_npz_batched(dir.join("calib.npz")).unwrap();
        // The default overflow fix keeps onnxruntime's and OpenVINO's answers
        // ptq's on CPUs without VNNI too (see [`ort_agreement`]).
        let q = ptq::quantize(&model, &data, &QuantizeOptions::default()).unwrap();
        let (activations, weights) = q.report.counts();
        assert!(activations > 0 && weights > 0, "{name}: {activations} activation, {weights} weight quantizers");
        let (valid, labels) = valid_split(&dir.join("valid.npz"));
        let a = first_outputs(&model, &valid, 1).unwrap();
        let b = first_outputs(&q.model, &valid, 1).unwrap();
        let cos = mean_cosine(&a, &b);
        println!("{name}: {activations} activation and {weights} weight quantizers, cosine to FP32 {cos:.5}");
        assert!(cos >= min_cos, "{name}: cosine {cos}");
        if let Some(l) = labels {
            let (t32, t8) = (top1(&a, &l), top1(&b, &l));
            println!("{name}: top-1 {t8:.4} against FP32's {t32:.4}");
            assert!(t8 >= t32 - 0.07, "{name}: top-1 {t8} against FP32's {t32}");
        }
        let tmp = tempfile::tempdir().unwrap();
        let inputs = dir.join("inputs.npz");
        let ours = ptq::eval::first_outputs(&q.model, &Dataset::open(&inputs).unwrap(), 1).unwrap();
        for file in ["int8.onnx", "int8.xml"] {
            let path = tmp.path().join(file);
            q.model.save(&path).unwrap();
            let out = tmp.path().join(format!("{file}.npz"));
            let r = if file.ends_with("onnx") {
                ort_outputs(&path, &inputs, &out)
            } else {
                ptq_tests::ov_outputs(&path, &inputs, &out)
            };
            assert!(r.ok, "{name}/{file}: {}", r.output);
            let theirs: Vec<f64> = ptq::npz::read(&out).unwrap()[0].1.to_f64_vec();
            let c = mean_cosine(&ours, &[theirs]);
            println!("{name}/{file}: cosine to ptq's run {c:.6}");
            assert!(c >= 0.999, "{name}/{file}: cosine {c} to ptq's own run");
        }
    }
}
