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
