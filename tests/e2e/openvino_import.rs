//! OpenVINO IR fixtures (made by tests/fixtures/generate_ir.py) through the
//! IR importer and ptq-exec, against OpenVINO runtime's outputs; and
//! corrupted IRs, which must give errors, never panics.

#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use std::path::Path;

use ptq_exec::{ExecOptions, Plan};
use ptq_tests::fixtures_dir;

/// Worst |got − want| / (1e-4·|want| max 1e-5) over all elements.
fn worst(got: &ptq::Tensor, want: &ptq::Tensor) -> f64 {
    let (g, w) = (got.to_f64_vec(), want.to_f64_vec());
    assert_eq!(g.len(), w.len());
    g.iter().zip(&w).map(|(a, b)| (a - b).abs() / (1e-4 * b.abs()).max(1e-5)).fold(0.0, f64::max)
}

#[test]
fn ir_fixtures_match_openvino_runtime() {
    let dirs = ptq_tests::ir_fixture_dirs();
    assert!(dirs.len() >= 3, "IR fixtures missing: {dirs:?}");
    let mut failures = vec![];
    for dir in dirs {
        let label = dir.parent().unwrap().file_name().unwrap().to_string_lossy().to_string();
        let model = match ptq_openvino::load(dir.join("model.xml")) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{label}: {e}"));
                continue;
            }
        };
        let inputs_path = ptq_tests::ir_inputs(&dir);
        let inputs = ptq::npz::read(inputs_path).unwrap();
        let want = ptq::npz::read(dir.join("outputs.npz")).unwrap();
        let plan = match Plan::new(
            &model.graph,
            &ExecOptions { threads: 1, optimize: false, integer: false, ..Default::default() },
        ) {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("{label}: {e}"));
                continue;
            }
        };
        let got = match plan.run(inputs) {
            Ok(g) => g,
            Err(e) => {
                failures.push(format!("{label}: {e}"));
                continue;
            }
        };
        for (k, w) in &want {
            let Some((_, g)) = got.iter().find(|(n, _)| n == k) else {
                failures.push(format!(
                    "{label}: no output {k} (have {:?})",
                    got.iter().map(|(n, _)| n).collect::<Vec<_>>()
                ));
                continue;
            };
            let e = worst(g, w);
            eprintln!("{label}/{k}: worst {e:.3} of tolerance");
            if e > 1.0 {
                failures.push(format!("{label}/{k}: error {e:.2}x the tolerance"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Deterministic corruption of the XML and the bin: every result is an
/// error or a graph, never a panic.
#[test]
fn corrupted_irs_never_panic() {
    let src = fixtures_dir().join("digits_cnn/ir");
    let xml = std::fs::read(src.join("model.xml")).unwrap();
    let bin = std::fs::read(src.join("model.bin")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (x, b) = (dir.path().join("m.xml"), dir.path().join("m.bin"));
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut ok, mut err) = (0, 0);
    for i in 0..600 {
        let (mut mx, mut mb) = (xml.clone(), bin.clone());
        match i % 4 {
            0 => mx.truncate((next() as usize) % mx.len()),
            1 => {
                for _ in 0..4 {
                    let at = (next() as usize) % mx.len();
                    mx[at] = b"0123456789-,<>\"=x "[(next() as usize) % 18];
                }
            }
            2 => mb.truncate((next() as usize) % mb.len()),
            _ => {
                let at = (next() as usize) % mx.len();
                mx.splice(at..at, b"99999999999".iter().copied());
            }
        }
        std::fs::write(&x, &mx).unwrap();
        std::fs::write(&b, &mb).unwrap();
        match ptq_openvino::load(&x) {
            Ok(_) => ok += 1,
            Err(e) => {
                assert!(e.to_string().contains("m.xml") || e.to_string().contains("m.bin"), "{e}");
                err += 1;
            }
        }
    }
    eprintln!("corrupted IRs: {err} rejected, {ok} accepted");
    assert!(err > 300);
    let missing = ptq_openvino::load(Path::new("/nonexistent/m.xml")).unwrap_err().to_string();
    assert!(missing.contains("/nonexistent/m.xml"), "{missing}");
}

#[test]
fn digits_ir_quantizes_like_its_onnx_source_and_converts_to_onnx() {
    let fx = fixtures_dir().join("digits_cnn");
    let model = ptq::load(fx.join("ir/model.xml")).unwrap();
    assert!(model.describe_source().contains("OpenVINO IR v11"));
    let data = ptq::Dataset::from_npz_batched(fx.join("calib.npz")).unwrap();
    let q = ptq::quantize(&model, &data, &ptq::QuantizeOptions::default()).unwrap();
    // The IR's MatMul(transpose_b) weight and Conv + Add biases are found.
    assert_eq!(q.report.counts().1, 3);
    assert!(q.report.bias_corrections.iter().filter(|c| c.applied).count() >= 2);
    let (valid, labels) = ptq::eval::labeled(&fx.join("valid.npz")).unwrap();
    let labels = labels.unwrap();
    let f = ptq::eval::top1(&ptq::eval::first_outputs(&model, &valid, 1).unwrap(), &labels);
    let i8 = ptq::eval::top1(&ptq::eval::first_outputs(&q.model, &valid, 1).unwrap(), &labels);
    assert!(100.0 * (f - i8) <= 0.5, "FP32 {f} INT8 {i8}");
    // IR → ONNX and IR → IR both work; the written IR (FakeQuantize, int8
    // weights) reads back and evaluates like the Q/DQ graph it came from.
    let dir = tempfile::tempdir().unwrap();
    q.model.save(dir.path().join("q.onnx")).unwrap();
    q.model.save(dir.path().join("q.xml")).unwrap();
    let back = ptq::load(dir.path().join("q.xml")).unwrap();
    let n_fq = back.graph().iter_nodes().filter(|(_, n)| n.op.name() == "FakeQuantize").count();
    let n_q = q.model.graph().iter_nodes().filter(|(_, n)| n.op.name() == "QuantizeLinear").count();
    assert_eq!(n_fq, n_q, "one FakeQuantize per QuantizeLinear→DequantizeLinear pair");
    let a = ptq::eval::first_outputs(&q.model, &valid, 1).unwrap();
    let b = ptq::eval::first_outputs(&back, &valid, 1).unwrap();
    let cos = ptq::eval::mean_cosine(&a, &b);
    assert!(cos > 0.9999, "re-read IR cosine {cos}");
}
