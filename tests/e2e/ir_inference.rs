//! ptq-ir's shape and dtype inference, checked against ONNX's reference
//! shape inference on every intermediate value of every fixture.

#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use ptq_ir::{Dim, Fact};
use ptq_tests::{fixtures_dir, onnx_fixtures, onnx_infer, require_python_runtimes};

/// Facts of all non-constant values by name, inferred by ptq from the
/// inputs alone (declared intermediate facts removed first).
fn ptq_facts(model: &ptq_onnx::OnnxModel) -> HashMap<String, Fact> {
    let mut g = model.graph.clone();
    let keep: Vec<_> = g.inputs().to_vec();
    for (i, v) in g.values_mut().iter_mut().enumerate() {
        if v.constant.is_none() && !keep.contains(&ptq_ir::ValueId(i)) {
            v.fact = Fact::default();
            v.declared = false;
        }
    }
    ptq_ir::infer::infer_facts(&mut g).unwrap();
    g.values().iter().filter(|v| v.constant.is_none()).map(|v| (v.name.clone(), v.fact.clone())).collect()
}

#[test]
fn inference_agrees_with_onnx_reference() {
    require_python_runtimes();
    let mut report = vec![];
    let mut failures = vec![];
    for name in onnx_fixtures() {
        let tmp = tempfile::tempdir().unwrap();
        let src = fixtures_dir().join(&name).join("model.onnx");
        let out = tmp.path().join("inferred.onnx");
        let r = onnx_infer(&src, &out);
        assert!(r.ok, "{name}: {}", r.output);
        // Importing the reference facts runs our inference against them: any
        // contradiction is a warning (or, for a dtype, an error) naming the
        // value and node.
        let reference = match ptq_onnx::load(&out) {
            Ok(m) if m.warnings.is_empty() => m,
            Ok(m) => {
                failures.extend(m.warnings.iter().map(|w| format!("{name}: {w}")));
                continue;
            }
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let ours = ptq_facts(&ptq_onnx::load(&src).unwrap());
        let (mut total, mut as_precise) = (0, 0);
        for v in reference.graph.values().iter().filter(|v| v.declared && v.constant.is_none()) {
            let (Some(rs), Some(rd)) = (&v.fact.shape, v.fact.dtype) else { continue };
            total += 1;
            let Some(f) = ours.get(&v.name) else { continue };
            let precise = f.dtype == Some(rd)
                && f.shape.as_ref().is_some_and(|s| {
                    s.len() == rs.len() && s.iter().zip(rs).all(|(a, b)| !matches!(b, Dim::Known(_)) || a == b)
                });
            if precise {
                as_precise += 1;
            } else {
                eprintln!("{name}: {} ptq {f} onnx {}", v.name, v.fact);
            }
        }
        report.push(format!("{name}: {as_precise}/{total} values inferred at least as precisely as ONNX"));
    }
    eprintln!("{}", report.join("\n"));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
