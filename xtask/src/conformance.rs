//! `cargo xtask conformance`: runs the ONNX backend node tests through
//! `ptq_onnx::load` and `ptq_exec::Plan`, writes docs/CONFORMANCE.md and checks
//! the passing tests against tests/conformance/expected_passes.txt.
//!
//! The tests come from the `onnx` Python package (pinned in
//! tests/requirements.txt): `<onnx>/backend/test/data/node/<test>/` holds
//! `model.onnx` and `test_data_set_0/{input,output}_<i>.pb`. The folder is
//! `$PTQ_ONNX_NODE_TESTS` when set, otherwise found by asking `$PTQ_PYTHON`
//! (default `python3`) where `onnx` is installed, after installing
//! tests/requirements.txt (skipped with `PTQ_SKIP_PIP=1`).
//!
//! Each test is classified under one ONNX op type: the type of the model's
//! last node, and for `*_expanded*` tests (functions expanded into several
//! nodes) the op of the test named by the part before `_expanded`.
//! Outputs are compared like the ONNX backend runner does: same dtype and
//! shape, integers and bools exactly, floats within
//! `|a - b| <= ATOL + RTOL * |b|` with NaN equal to NaN. Test data stores
//! bfloat16 as uint16 bit patterns; those are reinterpreted where the model
//! declares (or the executor produces) bf16.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use protobuf::Message;
use ptq_ir::Tensor;

/// Relative tolerance of float comparisons (the ONNX backend runner's default).
const RTOL: f64 = 1e-3;
/// Absolute tolerance of float comparisons (the ONNX backend runner's default).
const ATOL: f64 = 1e-7;

/// The operators the executor targets; at least 95 % of their node tests should pass.
const LISTED_OPS: &[&str] = &[
    "Conv",
    "ConvTranspose",
    "BatchNormalization",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "Gemm",
    "MatMul",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Pow",
    "Sqrt",
    "Exp",
    "Log",
    "Neg",
    "Abs",
    "Reciprocal",
    "Floor",
    "Ceil",
    "Round",
    "Relu",
    "LeakyRelu",
    "PRelu",
    "Sigmoid",
    "Tanh",
    "HardSigmoid",
    "HardSwish",
    "Clip",
    "Erf",
    "Gelu",
    "Softmax",
    "LogSoftmax",
    "LayerNormalization",
    "InstanceNormalization",
    "Reshape",
    "Flatten",
    "Transpose",
    "Squeeze",
    "Unsqueeze",
    "Concat",
    "Split",
    "Slice",
    "Gather",
    "GatherElements",
    "Expand",
    "Tile",
    "Pad",
    "Resize",
    "DepthToSpace",
    "ReduceMean",
    "ReduceSum",
    "ReduceMax",
    "ReduceMin",
    "ReduceL2",
    "ArgMax",
    "TopK",
    "Shape",
    "Size",
    "ConstantOfShape",
    "Range",
    "Cast",
    "Where",
    "Equal",
    "Greater",
    "GreaterOrEqual",
    "Less",
    "LessOrEqual",
    "Not",
    "And",
    "Or",
    "Identity",
    "Dropout",
    "LSTM",
    "GRU",
    "QuantizeLinear",
    "DequantizeLinear",
];

const EXPECTED: &str = "tests/conformance/expected_passes.txt";
const REPORT: &str = "docs/CONFORMANCE.md";

/// How one test ended.
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Pass,
    /// Wrong values, shape or dtype, or a panic; with a short reason.
    Fail(String),
    /// Import error, unsupported op or run-time error; with the message's first line.
    Error(String),
}

#[derive(Debug)]
struct TestResult {
    name: String,
    op: String,
    outcome: Outcome,
    time: Duration,
}

/// Runs every node test, writes the report and compares with the expected
/// passes; `update` rewrites the expected passes instead of failing on
/// regressions.
pub fn run(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let (mut update, mut verbose) = (false, false);
    for a in args {
        match a.as_str() {
            "--update" => update = true,
            "--verbose" => verbose = true,
            other => bail!("unknown argument {other:?}; usage: cargo xtask conformance [--update] [--verbose]"),
        }
    }
    if std::env::var_os("PTQ_SKIP_PIP").is_none() && std::env::var_os("PTQ_ONNX_NODE_TESTS").is_none() {
        crate::pip_install("tests/requirements.txt")?;
    }
    let dir = node_tests_dir()?;
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(Result::ok)
        .filter(|e| e.path().join("model.onnx").is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    if names.is_empty() {
        bail!("no node tests in {}", dir.display());
    }
    println!("conformance: running {} ONNX node tests from {}", names.len(), dir.display());

    // Classify first: expanded tests borrow the op of their base test.
    let mut ops: BTreeMap<String, String> = BTreeMap::new();
    for n in names.iter().filter(|n| !n.contains("_expanded")) {
        ops.insert(n.clone(), last_op_type(&dir.join(n).join("model.onnx")));
    }
    for n in names.iter().filter(|n| n.contains("_expanded")) {
        let base = n.split("_expanded").next().unwrap_or(n);
        let op = ops.get(base).cloned().unwrap_or_else(|| last_op_type(&dir.join(n).join("model.onnx")));
        ops.insert(n.clone(), op);
    }

    let start = Instant::now();
    let results = run_all(&dir, &names, &ops);
    let elapsed = start.elapsed();

    let report = render(&results);
    std::fs::write(root.join(REPORT), report).with_context(|| format!("writing {REPORT}"))?;

    let (listed, all) = totals(&results);
    println!(
        "conformance: listed ops {}/{} pass ({:.1} %), all {}/{} pass ({:.1} %) in {:.1} s; wrote {REPORT}",
        listed.0,
        listed.1,
        percent(listed.0, listed.1),
        all.0,
        all.1,
        percent(all.0, all.1),
        elapsed.as_secs_f64()
    );
    if verbose {
        for r in results.iter().filter(|r| r.outcome != Outcome::Pass) {
            let kind = if matches!(r.outcome, Outcome::Fail(_)) { "fail" } else { "error" };
            println!("{} ({}, {kind}): {}", r.name, r.op, reason(&r.outcome));
        }
    }
    let mut slow: Vec<&TestResult> = results.iter().collect();
    slow.sort_by_key(|r| std::cmp::Reverse(r.time));
    let slow: Vec<String> = slow.iter().take(5).map(|r| format!("{} {:.2} s", r.name, r.time.as_secs_f64())).collect();
    println!("conformance: slowest: {}", slow.join(", "));
    let panics: Vec<&TestResult> =
        results.iter().filter(|r| matches!(&r.outcome, Outcome::Fail(m) if m.starts_with("panic"))).collect();
    for r in &panics {
        if let Outcome::Fail(m) = &r.outcome {
            println!("conformance: PANIC in {}: {m}", r.name);
        }
    }

    let passing: BTreeSet<&str> =
        results.iter().filter(|r| r.outcome == Outcome::Pass).map(|r| r.name.as_str()).collect();
    let expected_path = root.join(EXPECTED);
    if update {
        if let Some(parent) = expected_path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        let mut text = String::new();
        for n in &passing {
            text.push_str(n);
            text.push('\n');
        }
        std::fs::write(&expected_path, text).with_context(|| format!("writing {EXPECTED}"))?;
        println!("conformance: wrote {} passing tests to {EXPECTED}", passing.len());
        return Ok(());
    }
    let expected_text = match std::fs::read_to_string(&expected_path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {EXPECTED}")),
    };
    let expected: BTreeSet<&str> = expected_text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let newly: Vec<&&str> = passing.difference(&expected).collect();
    if !newly.is_empty() {
        const SHOWN: usize = 20;
        let mut list = newly.iter().take(SHOWN).map(|s| **s).collect::<Vec<_>>().join(" ");
        if newly.len() > SHOWN {
            let _ = write!(list, " … and {} more", newly.len() - SHOWN);
        }
        println!("conformance: {} tests pass that {EXPECTED} does not list (add with --update): {list}", newly.len());
    }
    let regressions: Vec<&TestResult> = results.iter().filter(|r| expected.contains(r.name.as_str())).collect();
    let regressions: Vec<String> = regressions
        .iter()
        .filter(|r| r.outcome != Outcome::Pass)
        .map(|r| format!("{} ({})", r.name, reason(&r.outcome)))
        .chain(expected.iter().filter(|n| !ops.contains_key(**n)).map(|n| format!("{n} (no such test)")))
        .collect();
    if !regressions.is_empty() {
        bail!("{} tests of {EXPECTED} no longer pass:\n  {}", regressions.len(), regressions.join("\n  "));
    }
    Ok(())
}

/// The folder of the ONNX node tests.
fn node_tests_dir() -> anyhow::Result<PathBuf> {
    if let Some(d) = std::env::var_os("PTQ_ONNX_NODE_TESTS") {
        return Ok(PathBuf::from(d));
    }
    let py = crate::python::interpreter()?;
    let out = Command::new(&py)
        .args(["-c", "import onnx, os; print(os.path.dirname(onnx.__file__))"])
        .output()
        .with_context(|| format!("running {py}"))?;
    if !out.status.success() {
        bail!(
            "{py} cannot import onnx ({}); install it with `{py} -m pip install -r tests/requirements.txt` \
             or set PTQ_ONNX_NODE_TESTS",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let onnx = String::from_utf8(out.stdout).context("onnx path is not UTF-8")?;
    Ok(Path::new(onnx.trim()).join("backend/test/data/node"))
}

/// The op type of a model file's last node, or `"?"` when it cannot be read.
fn last_op_type(model: &Path) -> String {
    std::fs::read(model)
        .ok()
        .and_then(|b| onnx_protobuf::ModelProto::parse_from_bytes(&b).ok())
        .and_then(|m| m.graph.node.last().map(|n| n.op_type.clone()))
        .unwrap_or_else(|| "?".into())
}

/// Runs the tests on all cores, each inside `catch_unwind`.
fn run_all(dir: &Path, names: &[String], ops: &BTreeMap<String, String>) -> Vec<TestResult> {
    let default_hook = std::panic::take_hook();
    // Panics are reported per test; keep the default hook's backtrace noise out.
    std::panic::set_hook(Box::new(|_| {}));
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(names.len()));
    let workers = std::thread::available_parallelism().map_or(1, usize::from).min(names.len());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(name) = names.get(i) else { break };
                    let start = Instant::now();
                    let path = dir.join(name);
                    let outcome = match std::panic::catch_unwind(|| run_one(&path)) {
                        Ok(o) => o,
                        Err(p) => Outcome::Fail(format!("panic: {}", first_line(&panic_message(&p)))),
                    };
                    let r = TestResult {
                        name: name.clone(),
                        op: ops.get(name).cloned().unwrap_or_else(|| "?".into()),
                        outcome,
                        time: start.elapsed(),
                    };
                    results.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(r);
                }
            });
        }
    });
    std::panic::set_hook(default_hook);
    let mut results = results.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    results.sort_by(|a, b| a.name.cmp(&b.name));
    results
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".into()
    }
}

fn first_line(s: &str) -> String {
    const MAX: usize = 160;
    let line = s.lines().next().unwrap_or("").trim();
    if line.chars().count() > MAX { format!("{}…", line.chars().take(MAX).collect::<String>()) } else { line.into() }
}

/// The serialized tensors `<prefix>_<i>.pb` of a data set, in index order.
fn read_tensors(set: &Path, prefix: &str) -> Result<Vec<Tensor>, String> {
    let mut i = 0;
    let mut out = vec![];
    loop {
        let p = set.join(format!("{prefix}_{i}.pb"));
        if !p.is_file() {
            return Ok(out);
        }
        let bytes = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        let label = format!("{prefix}_{i}.pb");
        let (_, t) = ptq_onnx::decode_tensor(&bytes, &label).map_err(|e| e.to_string())?;
        out.push(t);
        i += 1;
    }
}

fn run_one(test: &Path) -> Outcome {
    let model = match ptq_onnx::load(test.join("model.onnx")) {
        Ok(m) => m,
        Err(e) => return Outcome::Error(format!("import: {}", first_line(&strip_path(&e.to_string(), test)))),
    };
    let set = test.join("test_data_set_0");
    let inputs = match read_tensors(&set, "input") {
        Ok(v) => v,
        Err(e) => return Outcome::Error(format!("input: {}", first_line(&e))),
    };
    let expected = match read_tensors(&set, "output") {
        Ok(v) => v,
        Err(e) => return Outcome::Error(format!("output: {}", first_line(&e))),
    };
    let graph = &model.graph;
    let plan = match ptq_exec::Plan::new(
        graph,
        &ptq_exec::ExecOptions { threads: 1, optimize: false, integer: false, ..Default::default() },
    ) {
        Ok(p) => p,
        Err(e) => return Outcome::Error(format!("plan: {}", first_line(&e.to_string()))),
    };
    let declared = graph.inputs().iter().filter(|&&v| graph.value(v).constant.is_none()).map(|&v| graph.value(v));
    let feeds: Vec<(String, Tensor)> =
        declared.zip(inputs).map(|(v, t)| (v.name.clone(), bf16_from_bits(t, v.fact.dtype))).collect();
    let outputs = match plan.run(feeds) {
        Ok(o) => o,
        Err(e) => return Outcome::Error(format!("run: {}", first_line(&e.to_string()))),
    };
    if outputs.len() != expected.len() {
        return Outcome::Fail(format!("{} outputs, expected {}", outputs.len(), expected.len()));
    }
    for (i, ((_, got), want)) in outputs.into_iter().zip(expected).enumerate() {
        let want = bf16_from_bits(want, Some(got.dtype()));
        if let Err(why) = compare(&got, &want) {
            return Outcome::Fail(format!("output {i}: {why}"));
        }
    }
    Outcome::Pass
}

/// The test data stores bfloat16 tensors as their uint16 bit patterns (numpy
/// has no bfloat16); reinterprets such a tensor when `dtype` says bf16.
fn bf16_from_bits(t: Tensor, dtype: Option<ptq_ir::DType>) -> Tensor {
    match (t, dtype) {
        (Tensor::U16(a), Some(ptq_ir::DType::BF16)) => Tensor::BF16(a.mapv(half::bf16::from_bits)),
        (t, _) => t,
    }
}

/// Drops the test folder from messages so the report does not depend on where onnx is installed.
fn strip_path(msg: &str, test: &Path) -> String {
    let prefix = format!("{}/", test.display());
    msg.replace(&prefix, "")
}

/// Checks `got` against `want`: dtype, shape, then values.
fn compare(got: &Tensor, want: &Tensor) -> Result<(), String> {
    if got.dtype() != want.dtype() {
        return Err(format!("dtype {}, expected {}", got.dtype(), want.dtype()));
    }
    if got.shape() != want.shape() {
        return Err(format!("shape {:?}, expected {:?}", got.shape(), want.shape()));
    }
    let (bad, first) = if got.dtype().is_float() {
        let (g, w) = (got.to_f64_vec(), want.to_f64_vec());
        let close = |a: f64, b: f64| a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= ATOL + RTOL * b.abs();
        let bad: Vec<usize> = (0..g.len()).filter(|&i| !close(g[i], w[i])).collect();
        (bad.len(), bad.first().map(|&i| (i, g[i].to_string(), w[i].to_string())))
    } else {
        // Integers, bools and strings compare exactly.
        let (g, w) = (exact_values(got), exact_values(want));
        let bad: Vec<usize> = (0..g.len()).filter(|&i| g[i] != w[i]).collect();
        (bad.len(), bad.first().map(|&i| (i, g[i].clone(), w[i].clone())))
    };
    match first {
        None => Ok(()),
        Some((i, g, w)) => {
            Err(format!("{bad} of {} values differ; first at flat index {i}: {g}, expected {w}", got.len()))
        }
    }
}

/// The elements of a non-float tensor as text that is equal exactly when the values are.
fn exact_values(t: &Tensor) -> Vec<String> {
    match t {
        Tensor::String(a) => a.iter().map(|s| format!("{s:?}")).collect(),
        Tensor::U64(a) => a.iter().map(u64::to_string).collect(),
        t => t.to_i64_vec().unwrap_or_default().iter().map(i64::to_string).collect(),
    }
}

fn reason(o: &Outcome) -> &str {
    match o {
        Outcome::Pass => "pass",
        Outcome::Fail(m) | Outcome::Error(m) => m,
    }
}

fn percent(a: usize, b: usize) -> f64 {
    if b == 0 { 100.0 } else { 100.0 * a as f64 / b as f64 }
}

fn is_listed(op: &str) -> bool {
    LISTED_OPS.contains(&op)
}

/// `((pass, total) over listed ops, (pass, total) over all)`.
fn totals(results: &[TestResult]) -> ((usize, usize), (usize, usize)) {
    let listed: Vec<&TestResult> = results.iter().filter(|r| is_listed(&r.op)).collect();
    (
        (listed.iter().filter(|r| r.outcome == Outcome::Pass).count(), listed.len()),
        (results.iter().filter(|r| r.outcome == Outcome::Pass).count(), results.len()),
    )
}

/// The Markdown report.
fn render(results: &[TestResult]) -> String {
    #[derive(Default)]
    struct Row {
        pass: usize,
        fail: usize,
        error: usize,
    }
    let mut rows: BTreeMap<&str, Row> = BTreeMap::new();
    for r in results {
        let row = rows.entry(r.op.as_str()).or_default();
        match r.outcome {
            Outcome::Pass => row.pass += 1,
            Outcome::Fail(_) => row.fail += 1,
            Outcome::Error(_) => row.error += 1,
        }
    }
    let (listed, all) = totals(results);
    let count = |f: fn(&Outcome) -> bool, listed_only: bool| {
        results.iter().filter(|r| (!listed_only || is_listed(&r.op)) && f(&r.outcome)).count()
    };
    let is_fail = |o: &Outcome| matches!(o, Outcome::Fail(_));
    let is_error = |o: &Outcome| matches!(o, Outcome::Error(_));
    let mut s = String::new();
    s.push_str("# ONNX node test conformance\n\n");
    s.push_str(
        "Generated by `cargo xtask conformance` (xtask/src/conformance.rs); do not edit by hand, \
         rerun the command instead.\n\n",
    );
    let _ = writeln!(
        s,
        "The executor (`ptq_exec::Plan`, one thread) runs every ONNX backend node test of the `onnx` \
         package pinned in tests/requirements.txt on its `test_data_set_0` and is compared with the \
         expected outputs: same dtype and shape, integers and bools exactly, floats within \
         `|a - b| <= {ATOL:e} + {RTOL:e} * |b|` (NaN equals NaN). A test counts under the op type of its \
         model's node; `*_expanded*` tests count under the op of their unexpanded test. *fail* means \
         wrong dtype, shape or values (or a panic); *error* means the model did not import, an op is \
         unsupported or the run failed.\n"
    );
    s.push_str("| tests | pass | fail | error | pass rate |\n|---|---:|---:|---:|---:|\n");
    let _ = writeln!(
        s,
        "| listed ops | {} | {} | {} | {:.1} % |",
        listed.0,
        count(is_fail, true),
        count(is_error, true),
        percent(listed.0, listed.1)
    );
    let _ = writeln!(
        s,
        "| all | {} | {} | {} | {:.1} % |\n",
        all.0,
        count(is_fail, false),
        count(is_error, false),
        percent(all.0, all.1)
    );
    s.push_str("## Per op\n\n**Bold** ops are the listed ops: the executor's target set, of whose tests at least 95 % should pass.\n\n");
    s.push_str("| op | pass | fail | error | pass rate |\n|---|---:|---:|---:|---:|\n");
    let mut ordered: Vec<(&&str, &Row)> = rows.iter().collect();
    ordered.sort_by_key(|(op, _)| (op.to_ascii_lowercase(), **op));
    for (op, row) in ordered {
        let total = row.pass + row.fail + row.error;
        let name = if is_listed(op) { format!("**{op}**") } else { op.to_string() };
        let _ =
            writeln!(s, "| {name} | {} | {} | {} | {:.1} % |", row.pass, row.fail, row.error, percent(row.pass, total));
    }
    let missing: Vec<&str> = LISTED_OPS.iter().copied().filter(|op| !rows.contains_key(op)).collect();
    if !missing.is_empty() {
        let _ = writeln!(s, "\nListed ops without node tests: {}.", missing.join(", "));
    }
    s.push_str("\n## Listed ops: tests that do not pass\n\n");
    let mut any = false;
    for r in results.iter().filter(|r| is_listed(&r.op) && r.outcome != Outcome::Pass) {
        any = true;
        let kind = if matches!(r.outcome, Outcome::Fail(_)) { "fail" } else { "error" };
        let _ = writeln!(s, "- `{}` ({}, {kind}): {}", r.name, r.op, reason(&r.outcome).replace('|', "\\|"));
    }
    if !any {
        s.push_str("None.\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32s(v: &[f32]) -> Tensor {
        Tensor::from_f32s(v)
    }

    #[test]
    fn tolerance_is_relative_to_the_expected_value() {
        assert!(compare(&f32s(&[1000.0]), &f32s(&[1000.9])).is_ok());
        assert!(compare(&f32s(&[1000.0]), &f32s(&[1001.5])).is_err());
        assert!(compare(&f32s(&[f32::NAN, f32::INFINITY]), &f32s(&[f32::NAN, f32::INFINITY])).is_ok());
        assert!(compare(&f32s(&[0.0]), &f32s(&[1e-6])).is_err());
    }

    #[test]
    fn dtype_and_shape_must_match() {
        assert!(compare(&Tensor::from_i64s(&[1]), &f32s(&[1.0])).unwrap_err().contains("dtype"));
        assert!(compare(&f32s(&[1.0, 2.0]), &f32s(&[1.0])).unwrap_err().contains("shape"));
        assert!(compare(&Tensor::from_i64s(&[1, 2]), &Tensor::from_i64s(&[1, 3])).unwrap_err().contains("1 of 2"));
    }

    #[test]
    fn strings_and_u64_compare_exactly() {
        let s = |v: &[&str]| {
            let mut t = Tensor::zeros(ptq_ir::DType::String, &[v.len()]);
            if let Tensor::String(a) = &mut t {
                a.iter_mut().zip(v).for_each(|(e, x)| *e = x.to_string());
            }
            t
        };
        assert!(compare(&s(&["a", "b"]), &s(&["a", "b"])).is_ok());
        assert!(compare(&s(&["a", "b"]), &s(&["a", "c"])).unwrap_err().contains("\"c\""));
        let u = |v: u64| Tensor::from_le_bytes(ptq_ir::DType::U64, &[1], &v.to_le_bytes()).unwrap();
        assert!(compare(&u(u64::MAX), &u(u64::MAX)).is_ok());
        assert!(compare(&u(u64::MAX), &u(u64::MAX - 1)).is_err());
    }
}
