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

fn control(model_file: &str, out_name: &str) {
    let dir = fixtures_dir().join("outlier_classifier");
    let model = ptq::load(dir.join(model_file)).unwrap();
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
    let (got, fp32) = runtime_top1(&dir.join(model_file), &out, &dir.join("valid.npz"));
    let one_item = 1.0 / rep.validation_items as f64 + 1e-9;
    assert!((got - rep.metric).abs() <= one_item, "runtime {got} vs reported {}", rep.metric);
    assert!((fp32 - rep.fp32_metric).abs() <= one_item, "runtime FP32 {fp32} vs {}", rep.fp32_metric);
}

#[test]
fn outlier_classifier_onnx_ends_within_max_drop_and_onnxruntime_agrees() {
    ptq_tests::require_python_runtimes();
    control("model.onnx", "ac.onnx");
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
