//! The `ptq` command line: inspect and convert through the same code as the binary.

#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use ptq_tests::fixtures_dir;

#[test]
fn inspect_every_fixture() {
    for name in ptq_tests::onnx_fixtures() {
        let p = fixtures_dir().join(&name).join("model.onnx");
        ptq_cli::run(["ptq", "inspect", p.to_str().unwrap()]).unwrap_or_else(|e| panic!("{name}: {e:#}"));
    }
}

#[test]
fn convert_refuses_to_overwrite_its_input() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("m.onnx");
    std::fs::copy(fixtures_dir().join("digits_cnn/model.onnx"), &p).unwrap();
    let before = std::fs::read(&p).unwrap();
    let e = ptq_cli::run(["ptq", "convert", p.to_str().unwrap(), p.to_str().unwrap()]).unwrap_err();
    assert!(format!("{e:#}").contains("overwrite"), "{e:#}");
    assert_eq!(std::fs::read(&p).unwrap(), before);
}

#[test]
fn unknown_output_format_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let p = fixtures_dir().join("digits_cnn/model.onnx");
    let out = tmp.path().join("m.pt");
    let e = ptq_cli::run(["ptq", "convert", p.to_str().unwrap(), out.to_str().unwrap()]).unwrap_err();
    assert!(format!("{e:#}").contains("unknown model format"), "{e:#}");
    assert!(!out.exists());
}

#[test]
fn quantize_writes_a_model_and_report_and_reuses_cached_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let fx = ptq_tests::fixtures_dir().join("digits_cnn");
    let (out, report, cache) = (dir.path().join("q.onnx"), dir.path().join("r.json"), dir.path().join("stats.json"));
    let s = |p: &std::path::Path| p.display().to_string();
    let base = vec![
        "ptq".to_string(),
        "quantize".into(),
        "--model".into(),
        s(&fx.join("model.onnx")),
        "--data".into(),
        s(&fx.join("calib.npz")),
        "--output".into(),
        s(&out),
        "--report".into(),
        s(&report),
        "--stats-cache".into(),
        s(&cache),
        "--quiet".into(),
    ];
    ptq_cli::run(base.clone()).unwrap();
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["statistics_from_cache"], false);
    assert!(r["quantizers"].as_array().unwrap().len() >= 5);
    assert!(cache.exists() && out.exists());
    let mut mixed = base.clone();
    mixed.extend(["--preset".into(), "mixed".into()]);
    ptq_cli::run(mixed).unwrap();
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["statistics_from_cache"], true);
    assert_eq!(r["preset"], "mixed");
    // The default chooses among three range estimators and says how; NNCF's
    // ranges alone on request.
    assert_eq!(r["range_errors"].as_array().unwrap().len(), 3, "{}", r["range_errors"]);
    let mut nncf = base.clone();
    nncf.extend(["--range-estimator".into(), "mean-min-max".into()]);
    ptq_cli::run(nncf).unwrap();
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(
        (r["range_estimator"].as_str(), r["range_errors"].as_array().map(Vec::len)),
        (Some("mean_min_max"), Some(0))
    );
    // An ignored-scope rule that matches nothing is an error naming it.
    let mut bad = base.clone();
    bad.extend(["--ignore-names".into(), "no_such_node".into()]);
    let e = ptq_cli::run(bad).unwrap_err().to_string();
    assert!(e.contains("no_such_node"), "{e}");
    // Never over the input.
    let mut over = base;
    let i = over.iter().position(|a| a == "--output").unwrap();
    over[i + 1] = s(&fx.join("model.onnx"));
    let before = std::fs::read(fx.join("model.onnx")).unwrap();
    assert!(ptq_cli::run(over).is_err());
    assert_eq!(std::fs::read(fx.join("model.onnx")).unwrap(), before);
}

#[test]
fn openvino_ir_through_inspect_run_convert_and_quantize() {
    let dir = tempfile::tempdir().unwrap();
    let fx = fixtures_dir().join("digits_cnn");
    let xml = fx.join("ir/model.xml");
    let s = |p: &std::path::Path| p.display().to_string();
    ptq_cli::run(["ptq", "inspect", &s(&xml)]).unwrap();
    let out = dir.path().join("out.npz");
    ptq_cli::run(["ptq", "run", "--model", &s(&xml), "--input", &s(&fx.join("inputs.npz")), "--output", &s(&out)])
        .unwrap();
    assert!(out.exists());
    // IR → IR, IR → ONNX, ONNX → IR.
    for (from, to) in [(xml.clone(), "a.xml"), (xml.clone(), "b.onnx"), (fx.join("model.onnx"), "c.xml")] {
        let to = dir.path().join(to);
        ptq_cli::run(["ptq", "convert", &s(&from), &s(&to)]).unwrap_or_else(|e| panic!("{to:?}: {e:#}"));
        ptq::load(&to).unwrap();
    }
    assert!(dir.path().join("a.bin").exists() && dir.path().join("c.bin").exists());
    let q = dir.path().join("q.xml");
    ptq_cli::run([
        "ptq",
        "quantize",
        "--model",
        &s(&xml),
        "--data",
        &s(&fx.join("calib.npz")),
        "--output",
        &s(&q),
        "--quiet",
    ])
    .unwrap();
    let text = std::fs::read_to_string(&q).unwrap();
    assert!(text.contains("type=\"FakeQuantize\"") && text.contains("element_type=\"i8\""));
}

#[test]
fn quantize_with_accuracy_control_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let fx = fixtures_dir().join("outlier_classifier");
    let s = |p: &std::path::Path| p.display().to_string();
    let (out, report) = (dir.path().join("ac.onnx"), dir.path().join("ac.json"));
    let args = |extra: &[&str]| {
        let mut v: Vec<String> = ["ptq", "quantize", "--quiet"].map(String::from).to_vec();
        for (k, p) in [("--model", fx.join("model.onnx")), ("--data", fx.join("calib.npz")), ("--output", out.clone())]
        {
            v.extend([k.to_string(), s(&p)]);
        }
        v.extend(extra.iter().map(|e| e.to_string()));
        v
    };
    // --max-drop needs validation data.
    let e = ptq_cli::run(args(&["--max-drop", "0.01"])).unwrap_err().to_string();
    assert!(e.contains("--validation"), "{e}");
    let valid = s(&fx.join("valid.npz"));
    ptq_cli::run(args(&["--validation", &valid, "--max-drop", "0.01", "--report", &s(&report)])).unwrap();
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let ac = &r["accuracy_control"];
    assert_eq!(ac["reached"], true, "{ac}");
    assert!(ac["int8_drop"].as_f64().unwrap() > 0.01);
    let reverted: Vec<&str> = ac["reverted_nodes"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(!reverted.is_empty() && reverted.len() <= 3, "{reverted:?}");
    assert!(out.exists());
    // The cosine metric needs no labels; an unreachable goal within one step still writes the best model.
    std::fs::remove_file(&out).unwrap();
    ptq_cli::run(args(&["--validation", &valid, "--metric", "cosine", "--max-iterations", "1", "--max-drop", "0"]))
        .unwrap();
    assert!(out.exists());
}

#[test]
fn bench_times_fp32_and_int8_and_names_the_tier() {
    let fx = fixtures_dir().join("digits_cnn");
    let (model, calib) = (fx.join("model.onnx"), fx.join("calib.npz"));
    let argv = |m: &std::path::Path, extra: &[&str]| {
        let mut v = vec!["bench", "--model", m.to_str().unwrap(), "--batch", "2", "--threads", "1"];
        v.extend(["--iters", "3", "--warmup", "1"]);
        v.extend(extra);
        v.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let r = ptq_cli::cmd::bench::json_report(argv(&model, &["--data", calib.to_str().unwrap()])).unwrap();
    let runs = r["runs"].as_array().unwrap();
    assert_eq!(runs.iter().map(|x| x["path"].as_str().unwrap()).collect::<Vec<_>>(), ["fp32", "int8"], "{r}");
    assert!(runs.iter().all(|x| x["median_ms"].as_f64().unwrap() > 0.0), "{r}");
    // The Gemm runs on the int8 kernels; the tier is one this CPU has.
    assert!(runs[1]["integer_nodes"].as_u64().unwrap() >= 1, "{r}");
    let tier = ptq::Int8Tier::parse(r["int8_tier"].as_str().unwrap()).unwrap();
    assert!(tier.is_available(), "{r}");
    assert!(r["int8_speedup"].as_f64().unwrap() > 0.0, "{r}");
    assert_eq!(r["batch"], 2, "{r}");
    // Without --batch or --dim, the first data item is the input timed, at
    // its own sizes (a sequence of 5 here, where synthetic inputs take 128).
    let dd = fixtures_dir().join("dynamic_dims");
    let (m, d) = (dd.join("model.onnx"), dd.join("inputs.npz"));
    let timed = |extra: &[&str]| {
        let mut v = vec!["bench", "--model", m.to_str().unwrap(), "--only", "fp32", "--iters", "2"];
        v.extend(extra);
        let r = ptq_cli::cmd::bench::json_report(v.iter().map(|x| x.to_string()).collect::<Vec<_>>()).unwrap();
        r["inputs"]["x"].clone()
    };
    assert_eq!(timed(&["--data", d.to_str().unwrap()]), serde_json::json!([1, 5, 24]));
    assert_eq!(timed(&[]), serde_json::json!([1, 128, 24]));
    assert_eq!(timed(&["--data", d.to_str().unwrap(), "--batch", "2"]), serde_json::json!([2, 128, 24]));

    // An already-quantized model: its float simulation against the integer path.
    let dir = tempfile::tempdir().unwrap();
    let q = dir.path().join("q.onnx");
    let s = |p: &std::path::Path| p.display().to_string();
    let quantize = ["ptq", "quantize", "--model", &s(&model), "--data", &s(&calib), "--output", &s(&q), "--quiet"];
    ptq_cli::run(quantize).unwrap();
    let r = ptq_cli::cmd::bench::json_report(argv(&q, &[])).unwrap();
    let paths: Vec<_> = r["runs"].as_array().unwrap().iter().map(|x| x["path"].as_str().unwrap().to_string()).collect();
    assert_eq!(paths, ["fake-quant", "int8"], "{r}");
    let r = ptq_cli::cmd::bench::json_report(argv(&model, &["--only", "fp32"])).unwrap();
    assert_eq!(r["runs"].as_array().unwrap().len(), 1, "{r}");
    assert!(r["int8_speedup"].is_null(), "{r}");

    // Real inputs instead of synthetic ones: timed as given, and a file
    // whose arrays do not fit the model is an error naming the input.
    let input = fx.join("inputs.npz");
    let real = |file: &std::path::Path| {
        let v =
            ["bench", "--model", &s(&model), "--input", &s(file), "--only", "fp32", "--iters", "2", "--warmup", "0"];
        ptq_cli::cmd::bench::json_report(v.iter().map(|x| x.to_string()).collect::<Vec<_>>())
    };
    let r = real(&input).unwrap();
    assert!(r["runs"][0]["median_ms"].as_f64().unwrap() > 0.0, "{r}");
    let wrong = dir.path().join("wrong.npz");
    ptq::npz::write(&wrong, &[("input".to_string(), ptq::Tensor::F32(ndarray::ArrayD::zeros(vec![1, 3])))]).unwrap();
    let e = real(&wrong).unwrap_err().to_string();
    assert!(e.contains("\"input\"") && e.contains("expected shape"), "{e}");
}

#[test]
fn tensorflow_models_through_inspect_run_and_convert_with_their_signature_and_tensors() {
    let tf = fixtures_dir().join("tf");
    let sm = tf.join("custom_signature/saved_model");
    let s = sm.to_str().unwrap();
    // The only signature is found by itself; another name is an error listing the real one.
    ptq_cli::run(["ptq", "inspect", s]).unwrap();
    ptq_cli::run(["ptq", "inspect", s, "--signature", "predict"]).unwrap();
    let e = format!("{:#}", ptq_cli::run(["ptq", "inspect", s, "--signature", "serving"]).unwrap_err());
    assert!(e.contains("no signature serving") && e.contains("predict"), "{e}");
    // Only TensorFlow models take these options.
    let onnx = fixtures_dir().join("digits_cnn/model.onnx");
    let e = format!("{:#}", ptq_cli::run(["ptq", "inspect", onnx.to_str().unwrap(), "--signature", "x"]).unwrap_err());
    assert!(e.contains("TensorFlow"), "{e}");
    // A frozen GraphDef with its output named; run and convert to ONNX.
    let pb = tf.join("frozen_graph/model.pb");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.npz");
    let inputs = tf.join("frozen_graph/inputs.npz");
    ptq_cli::run([
        "ptq",
        "run",
        "--model",
        pb.to_str().unwrap(),
        "--tf-outputs",
        "Identity:0",
        "--input",
        inputs.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ])
    .unwrap();
    assert!(ptq::npz::read(&out).unwrap().iter().any(|(k, _)| k == "Identity:0"));
    let onnx_out = dir.path().join("frozen.onnx");
    ptq_cli::run(["ptq", "convert", pb.to_str().unwrap(), onnx_out.to_str().unwrap()]).unwrap();
    assert!(ptq::load(&onnx_out).unwrap().graph().node_count() > 5);
    // Written back as a frozen GraphDef and as a SavedModel directory, both read again.
    for out in [dir.path().join("x.pb"), dir.path().join("x_saved")] {
        ptq_cli::run(["ptq", "convert", pb.to_str().unwrap(), out.to_str().unwrap()]).unwrap();
        assert!(ptq::load(&out).unwrap().graph().node_count() > 5, "{}", out.display());
    }
    assert!(dir.path().join("x_saved/saved_model.pb").is_file());
}
