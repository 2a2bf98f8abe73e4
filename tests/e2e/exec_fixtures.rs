//! ptq-exec runs every fixture and matches onnxruntime's committed outputs
//! within 1e-4 relative error (1e-5 absolute floor).

#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use ptq_exec::{ExecOptions, Plan, Probe};
use ptq_ir::Tensor;
use ptq_tests::{fixtures_dir, onnx_fixtures};

/// Largest violation of `|a - b| <= max(1e-5, 1e-4 |b|)`, as a ratio (<= 1 passes).
fn worst_error(got: &Tensor, want: &Tensor) -> Result<f64, String> {
    if got.dtype() != want.dtype() || got.shape() != want.shape() {
        return Err(format!("got {}{:?}, want {}{:?}", got.dtype(), got.shape(), want.dtype(), want.shape()));
    }
    let (g, w) = (got.to_f64_vec(), want.to_f64_vec());
    Ok(g.iter().zip(&w).map(|(a, b)| (a - b).abs() / (1e-4 * b.abs()).max(1e-5)).fold(0.0, f64::max))
}

#[test]
fn fixtures_match_onnxruntime() {
    let mut failures = vec![];
    // As written, and rewritten for speed (batch norms folded, Relus fused).
    for (name, optimize) in onnx_fixtures().into_iter().flat_map(|n| [(n.clone(), false), (n, true)]) {
        let dir = fixtures_dir().join(&name);
        let model = ptq_onnx::load(dir.join("model.onnx")).unwrap();
        let plan = Plan::new(&model.graph, &ExecOptions { threads: 2, optimize, integer: false, ..Default::default() })
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let name = if optimize { format!("{name} (optimized)") } else { name };
        let inputs = ptq::npz::read(dir.join("inputs.npz")).unwrap();
        let want = ptq::npz::read(dir.join("outputs.npz")).unwrap();
        let got = match plan.run(inputs) {
            Ok(g) => g,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        for (k, w) in &want {
            let g = &got.iter().find(|(n, _)| n == k).unwrap_or_else(|| panic!("{name}: no output {k}")).1;
            match worst_error(g, w) {
                Ok(e) if e <= 1.0 => eprintln!("{name}/{k}: ok (worst {e:.3} of tolerance)"),
                Ok(e) => failures.push(format!("{name}/{k}: error {e:.2}x the tolerance")),
                Err(m) => failures.push(format!("{name}/{k}: {m}")),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn probe_sees_every_intermediate_once() {
    let dir = fixtures_dir().join("digits_cnn");
    let model = ptq_onnx::load(dir.join("model.onnx")).unwrap();
    let plan = Plan::new(&model.graph, &ExecOptions::default()).unwrap();
    let inputs = ptq::npz::read(dir.join("inputs.npz")).unwrap();
    let mut seen = vec![];
    plan.run_with_probe(inputs, &Probe::All, &mut |v, t| seen.push((v, t.shape().to_vec()))).unwrap();
    let produced = model.graph.iter_nodes().map(|(_, n)| n.output_ids().count()).sum::<usize>() + 1;
    assert_eq!(seen.len(), produced);
    let mut ids: Vec<_> = seen.iter().map(|(v, _)| *v).collect();
    ids.dedup();
    assert_eq!(ids.len(), seen.len());
}

#[test]
fn unsupported_ops_fail_before_running_naming_each_type() {
    let mut g = ptq_onnx::load(fixtures_dir().join("digits_cnn/model.onnx")).unwrap().graph;
    let mut renamed = ptq_ir::Patch::new();
    let mut count = 0;
    for (id, n) in g.iter_nodes() {
        if matches!(n.op, ptq_ir::Op::Unary(_) | ptq_ir::Op::Gemm(_)) {
            let t = if matches!(n.op, ptq_ir::Op::Gemm(_)) { "FancyGemm" } else { "FancyRelu" };
            renamed.set_op(id, ptq_ir::ops::opaque::Opaque { op_type: t.into(), domain: "x".into(), attrs: vec![] });
            count += 1;
        }
    }
    renamed.apply(&mut g).unwrap();
    assert!(count >= 2);
    let e = Plan::new(&g, &ExecOptions::default()).unwrap_err().to_string();
    assert!(e.contains("FancyGemm") && e.contains("FancyRelu"), "{e}");
    assert_eq!(e.matches("FancyRelu").count(), 1, "each type once: {e}");
}

/// The TensorFlow fixtures (tests/fixtures/tf/, made by generate_tf.py):
/// each SavedModel or frozen GraphDef imports and runs within the distance
/// between onnxruntime and TensorFlow on the same model after tf2onnx
/// (`ort_vs_tf` in its meta.json; 1e-6 relative where that is smaller or
/// tf2onnx failed), as max |ptq − tf| / max |tf|. A model with an op ptq
/// does not lower (the GRU's TensorList loop) is an error naming the op.
#[test]
fn tensorflow_fixtures_match_tensorflow() {
    let root = fixtures_dir().join("tf");
    let mut names: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| root.join(n).join("meta.json").is_file())
        .collect();
    names.sort();
    assert!(names.len() >= 6, "{names:?}");
    let mut failures = vec![];
    for name in names {
        let dir = root.join(&name);
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).unwrap()).unwrap();
        let path = if dir.join("saved_model").is_dir() { dir.join("saved_model") } else { dir.join("model.pb") };
        let model = match ptq::load(&path) {
            Ok(m) => m,
            Err(e) if name == "gru" => {
                let msg = e.to_string();
                assert!(msg.contains("unsupported op TensorList") && msg.contains("gru"), "{msg}");
                eprintln!("{name}: {msg}");
                continue;
            }
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let ort = meta["ort_vs_tf"]["rel"].as_f64();
        let tolerance = ort.unwrap_or(0.0).max(1e-6);
        // As read, and written back by ptq (SavedModel, or GraphDef for a .pb) and read again.
        let tmp = tempfile::tempdir().unwrap();
        let written = tmp.path().join(if path.is_dir() { "written" } else { "written.pb" });
        model.save(&written).unwrap();
        let again = ptq::load(&written).unwrap_or_else(|e| panic!("{name}: reading back what ptq wrote: {e}"));
        for (how, model) in [("read", &model), ("written and read back", &again)] {
            let plan = Plan::new(model.graph(), &ExecOptions { threads: 2, ..Default::default() }).unwrap();
            let got = plan.run(ptq::npz::read(dir.join("inputs.npz")).unwrap()).unwrap();
            for (k, want) in ptq::npz::read(dir.join("outputs.npz")).unwrap() {
                let g = &got.iter().find(|(n, _)| *n == k).unwrap_or_else(|| panic!("{name}: no output {k}")).1;
                assert_eq!(g.shape(), want.shape(), "{name}/{k}");
                let (g, w) = (g.to_f64_vec(), want.to_f64_vec());
                let scale = w.iter().fold(0.0f64, |m, x| m.max(x.abs()));
                let d = g.iter().zip(&w).fold(0.0f64, |m, (a, b)| m.max((a - b).abs())) / scale;
                eprintln!(
                    "{name}/{k} ({how}): ptq {d:.2e}, onnxruntime after tf2onnx {}",
                    ort.map_or("failed".into(), |o| format!("{o:.2e}"))
                );
                if d > tolerance {
                    failures.push(format!("{name}/{k} ({how}): {d:.2e} from TensorFlow, tolerance {tolerance:.2e}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every ONNX fixture written as a SavedModel by ptq runs in TensorFlow with
/// onnxruntime's outputs (stored with the fixture), within 1e-5 of the
/// output's largest magnitude: the NCHW graph becomes NHWC inside, with the
/// signature keeping the ONNX input and output names.
#[test]
fn onnx_fixtures_written_as_savedmodels_run_in_tensorflow_like_onnxruntime() {
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = vec![];
    for name in onnx_fixtures() {
        let dir = fixtures_dir().join(&name);
        let model = ptq::load(dir.join("model.onnx")).unwrap();
        let saved = tmp.path().join(&name);
        if let Err(e) = model.save(&saved) {
            failures.push(format!("{name}: {e}"));
            continue;
        }
        let out = tmp.path().join(format!("{name}.npz"));
        let r = ptq_tests::tf_outputs(&saved, &dir.join("inputs.npz"), &out, false);
        if !r.ok {
            failures.push(format!(
                "{name}: TensorFlow: {}",
                r.output.lines().rev().take(3).collect::<Vec<_>>().join(" / ")
            ));
            continue;
        }
        let got = ptq::npz::read(&out).unwrap();
        for (k, want) in ptq::npz::read(dir.join("outputs.npz")).unwrap() {
            let Some((_, g)) = got.iter().find(|(n, _)| *n == k) else {
                failures.push(format!("{name}: no output {k} from TensorFlow"));
                continue;
            };
            let (g, w) = (g.to_f64_vec(), want.to_f64_vec());
            let scale = w.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1e-30);
            let d = g.iter().zip(&w).fold(0.0f64, |m, (a, b)| m.max((a - b).abs())) / scale;
            eprintln!("{name}/{k}: TensorFlow to onnxruntime {d:.2e}");
            if g.len() != w.len() || d > 1e-5 {
                failures.push(format!("{name}/{k}: {} values against {}, distance {d:.2e}", g.len(), w.len()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
