//! Quantization with accuracy control on real fixtures: the outlier
//! classifier (plain INT8 loses several points) ends within max_drop by
//! reverting a few layers, and the exported models reproduce the reported
//! metric in onnxruntime and OpenVINO; an unreachable goal still returns the
//! best model, within the iteration limit.

#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use std::path::Path;

use ptq::accuracy::{AccuracyOptions, top1};
use ptq_tests::fixtures_dir;

/// Top-1 of `model` and of `reference` in the format's runtime.
fn runtime_top1(reference: &Path, model: &Path, valid: &Path) -> (f64, f64) {
    let v = ptq_tests::eval_in_runtime(reference, model, valid);
    (v["top1"].as_f64().unwrap(), v["ref_top1"].as_f64().unwrap())
}

/// Top-1 of the SavedModel `model` and of `reference` in TensorFlow.
fn tensorflow_top1(reference: &Path, model: &Path, valid: &Path) -> (f64, f64) {
    let py = ptq_tests::tf_python_path();
    let o = std::process::Command::new(&py)
        .arg(ptq_tests::tests_dir().join("tools/tf_bench.py"))
        .args(["eval", "--reference"])
        .arg(reference)
        .arg("--model")
        .arg(model)
        .arg("--valid")
        .arg(valid)
        .output()
        .unwrap_or_else(|e| panic!("cannot start {} ({e}); run `cargo xtask test` or set PTQ_TF_PYTHON", py.display()));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "tf_bench.py eval: {text}{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_str(text.lines().rfind(|l| l.starts_with('{')).unwrap()).unwrap();
    (v["top1"].as_f64().unwrap(), v["ref_top1"].as_f64().unwrap())
}

fn control(model_file: &str, out_name: &str) {
    let dir = fixtures_dir().join("outlier_classifier");
    control_at(&dir.join(model_file), out_name, runtime_top1);
}

/// Accuracy control on the outlier classifier stored at `path`; the result
/// is written as `out_name` and scored by `runtime`.
fn control_at(path: &Path, out_name: &str, runtime: fn(&Path, &Path, &Path) -> (f64, f64)) {
    let model_file = path.display().to_string();
    let dir = fixtures_dir().join("outlier_classifier");
    let model = ptq::load(path).unwrap();
    let calib = ptq::Dataset::open(dir.join("calib.npz")).unwrap();
    let (valid, labels) = ptq::eval::labeled(&dir.join("valid.npz")).unwrap();
    let labels = labels.unwrap();
    let opts = AccuracyOptions::default();
    let r = ptq::quantize_with_accuracy_control(
        &model,
        &calib,
        &valid,
        top1(labels, 1),
        &ptq::QuantizeOptions::default(),
        &opts,
        &mut |_| {},
    )
    .unwrap();
    let rep = &r.report;
    eprintln!("{model_file}: {}", serde_json::to_string_pretty(rep).unwrap());
    assert!(rep.int8_drop > 0.01, "plain INT8 must lose more than a point here: {}", rep.int8_drop);
    assert!(rep.reached && rep.drop <= 0.01, "drop {}", rep.drop);
    assert!(!rep.reverted_nodes.is_empty() && rep.reverted_nodes.len() <= 3, "{:?}", rep.reverted_nodes);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join(out_name);
    r.model.save(&out).unwrap();
    // The written model, run by the format's own runtime, gives the reported metric
    // (within one item: the runtime's kernels may round a borderline item differently).
    let (got, fp32) = runtime(path, &out, &dir.join("valid.npz"));
    let one_item = 1.0 / rep.validation_items as f64 + 1e-9;
    assert!((got - rep.metric).abs() <= one_item, "runtime {got} vs reported {}", rep.metric);
    assert!((fp32 - rep.fp32_metric).abs() <= one_item, "runtime FP32 {fp32} vs {}", rep.fp32_metric);
}

#[test]
fn outlier_classifier_onnx_ends_within_max_drop_and_onnxruntime_agrees() {
    ptq_tests::require_python_runtimes();
    control("model.onnx", "ac.onnx");
}

/// The classifier as a SavedModel (written by ptq from the ONNX file):
/// accuracy control reads it, writes a SavedModel, and TensorFlow gives the
/// reported metric.
#[test]
fn outlier_classifier_savedmodel_ends_within_max_drop_and_tensorflow_agrees() {
    let tmp = tempfile::tempdir().unwrap();
    let saved = tmp.path().join("outlier_classifier");
    ptq::load(fixtures_dir().join("outlier_classifier/model.onnx")).unwrap().save(&saved).unwrap();
    control_at(&saved, "ac_savedmodel", tensorflow_top1);
}

#[test]
fn outlier_classifier_ir_ends_within_max_drop_and_openvino_agrees() {
    ptq_tests::require_openvino();
    control("ir/model.xml", "ac.xml");
}

#[test]
fn an_unreachable_goal_returns_the_best_model_within_max_num_iterations() {
    let dir = fixtures_dir().join("digits_cnn");
    let model = ptq::load(dir.join("model.onnx")).unwrap();
    let calib = ptq::Dataset::open(dir.join("calib.npz")).unwrap();
    let (valid, labels) = ptq::eval::labeled(&dir.join("valid.npz")).unwrap();
    // Every model but the float original scores 0.5 lower, so no revert reaches the goal.
    let labels = labels.unwrap();
    let fp32 = model.graph().clone();
    let base = top1(labels, 1);
    let penalise_quantized = move |m: &ptq::Model, items: &ptq::accuracy::Indexed<'_>| {
        let mut v = base(m, items)?;
        if m.graph() != &fp32 {
            v.metric -= 0.5;
        }
        Ok(v)
    };
    let opts = AccuracyOptions { max_drop: 0.01, max_num_iterations: 2, ..AccuracyOptions::default() };
    let r = ptq::quantize_with_accuracy_control(
        &model,
        &calib,
        &valid,
        penalise_quantized,
        &ptq::QuantizeOptions::default(),
        &opts,
        &mut |_| {},
    )
    .unwrap();
    let rep = &r.report;
    assert!(!rep.reached, "{rep:?}");
    assert_eq!(rep.steps.len(), 2, "{rep:?}");
    assert!(rep.stop_reason.contains("max_num_iterations"), "{}", rep.stop_reason);
    assert!(rep.drop <= rep.int8_drop, "the best model is returned");
    // The returned model is usable: it saves and runs.
    let tmp = tempfile::tempdir().unwrap();
    r.model.save(tmp.path().join("best.onnx")).unwrap();
    ptq::eval::first_outputs(&r.model, &valid, 1).unwrap();
}
