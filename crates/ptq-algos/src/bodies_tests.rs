//! Quantization inside `If` and `Loop` bodies.

use ndarray::{ArrayD, IxDyn, arr0};
use ptq_exec::{ExecOptions, Plan};
use ptq_ir::ops::body::Body;
use ptq_ir::ops::if_::If;
use ptq_ir::ops::loop_::Loop;
use ptq_ir::{ConstSource, DType, Fact, Graph, NodeId, Op, Tensor, Value};

use crate::calibrate::{self, Item};
use crate::options::QuantizeOptions;
use crate::scope::IgnoredScope;
use crate::testgraph::{G, matmul, sigmoid};

fn f32s(shape: &[usize], k: usize) -> Tensor {
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n).map(|i| (((i * 7 + k * 13) % 19) as f32 - 9.0) / 6.0).collect();
    Tensor::F32(ArrayD::from_shape_vec(IxDyn(shape), data).unwrap())
}

fn bool_input(g: &mut Graph, name: &str) {
    let v = g.add_value(Value {
        name: name.into(),
        fact: Fact::new(DType::Bool, ptq_ir::fact::known_shape(&[])),
        ..Value::default()
    });
    g.inputs_mut().push(v);
}

/// A branch reading the outer `x` and weight `w` by name: x·w → Sigmoid.
fn branch(prefix: &str, w: &str) -> Body {
    let mut t = G::default();
    let x = t.input("x", &[1, 8]);
    let w = t.input(w, &[8, 4]);
    let y = t.node(&format!("{prefix}_mm"), matmul(), &[x, w]);
    let r = t.node(&format!("{prefix}_sigmoid"), sigmoid(), &[y]);
    t.output(r);
    Body::new(t.g, 0)
}

/// x, c → If(c) { x·w1 → Sigmoid } else { x·w2 → Sigmoid }.
fn if_model() -> Graph {
    let mut b = G::default();
    let x = b.input("x", &[1, 8]);
    bool_input(&mut b.g, "c");
    let c = b.g.inputs()[1];
    let w1 = b.weight("w1", &[8, 4]);
    let w2 = b.weight("w2", &[8, 4]);
    let op = If { then_branch: branch("then", "w1"), else_branch: branch("else", "w2") };
    let y = b.node("branch", op, &[c, x, w1, x, w2]);
    b.output(y);
    b.g
}

fn if_items(n: usize, cond: bool) -> Vec<Item> {
    (0..n).map(|k| vec![("x".into(), f32s(&[1, 8], k)), ("c".into(), Tensor::Bool(arr0(cond).into_dyn()))]).collect()
}

/// h0 → Loop(3 trips) { h ← sigmoid(h·w) } with `w` captured from outside.
fn loop_model() -> Graph {
    let mut t = G::default();
    let i = t.g.add_value(Value { name: "i".into(), fact: Fact::new(DType::I64, vec![]), ..Value::default() });
    t.g.inputs_mut().push(i);
    bool_input(&mut t.g, "cond_in");
    let cond = t.g.inputs()[1];
    let h = t.input("h", &[1, 4]);
    let w = t.input("w", &[4, 4]);
    let y = t.node("step_mm", matmul(), &[h, w]);
    let s = t.node("step_sigmoid", sigmoid(), &[y]);
    *t.g.outputs_mut() = vec![cond, s];
    let body = Body::new(t.g, 3);

    let mut b = G::default();
    let h0 = b.input("h0", &[1, 4]);
    let m = b.g.add_constant("M", Tensor::I64(arr0(3).into_dyn()), ConstSource::Stored);
    let go = b.g.add_constant("go", Tensor::Bool(arr0(true).into_dyn()), ConstSource::Stored);
    let w = b.weight("w", &[4, 4]);
    let out = b.node("loop", Loop { body }, &[m, go, h0, w]);
    b.output(out);
    b.g
}

fn loop_items(n: usize) -> Vec<Item> {
    (0..n).map(|k| vec![("h0".into(), f32s(&[1, 4], k))]).collect()
}

fn pass(subset: usize, record: &[NodeId]) -> calibrate::Pass<'_> {
    calibrate::Pass { subset, record, threads: 1, ..Default::default() }
}

fn node(g: &Graph, name: &str) -> NodeId {
    g.find_node(name).unwrap()
}

fn has_quantizers(g: &Graph) -> bool {
    g.iter_nodes().any(|(_, n)| matches!(n.op, Op::QuantizeLinear(_)))
}

fn quantize(g: &Graph, items: Vec<Item>, opts: &QuantizeOptions) -> crate::Quantized {
    let mut it = items.into_iter().map(Ok);
    crate::quantize_graph(g, &mut it, opts, &mut |_| {}).unwrap()
}

fn run(g: &Graph, item: Item, integer: bool) -> Vec<f32> {
    let plan = Plan::new(g, &ExecOptions { threads: 1, integer, ..Default::default() }).unwrap();
    let out = plan.run(item).unwrap();
    let Tensor::F32(a) = &out[0].1 else { panic!("{:?}", out[0].1) };
    a.iter().copied().collect()
}

#[test]
fn calibration_records_what_the_taken_branch_and_each_iteration_receive() {
    let g = if_model();
    let id = node(&g, "branch");
    let mut it = if_items(5, true).into_iter().map(Ok);
    let c = calibrate::calibrate(&g, &mut it, &pass(300, &[id]), &mut |_| {}).unwrap();
    // Only the then branch ran, once per item, on its captures (x, w1).
    assert_eq!(c.bodies.keys().collect::<Vec<_>>(), [&(id, 0)]);
    let runs = &c.bodies[&(id, 0)];
    assert_eq!(runs.len(), 5);
    assert_eq!(*runs[2][0], f32s(&[1, 8], 2));
    assert_eq!(runs[2][1].shape(), &[8, 4]);

    let g = loop_model();
    let id = node(&g, "loop");
    let mut it = loop_items(4).into_iter().map(Ok);
    let c = calibrate::calibrate(&g, &mut it, &pass(300, &[id]), &mut |_| {}).unwrap();
    let runs = &c.bodies[&(id, 0)];
    assert_eq!(runs.len(), 12, "3 iterations of 4 items");
    let trips: Vec<i64> = runs.iter().take(3).map(|r| r[0].to_i64_vec().unwrap()[0]).collect();
    assert_eq!(trips, [0, 1, 2]);
    // With a subset of 5, an evenly spaced sample of at most 5 runs.
    let mut it = loop_items(4).into_iter().map(Ok);
    let c = calibrate::calibrate(&g, &mut it, &pass(5, &[id]), &mut |_| {}).unwrap();
    assert!((1..=5).contains(&c.bodies[&(id, 0)].len()), "{}", c.bodies[&(id, 0)].len());
}

#[test]
fn the_matmul_inside_a_branch_is_quantized_with_a_per_channel_weight() {
    let g = if_model();
    let q = quantize(&g, if_items(8, true), &QuantizeOptions::default());
    let id = node(&q.graph, "branch");
    let n = q.graph.node(id).unwrap();
    // The captured weights became constants of their branches.
    assert_eq!(n.inputs.len(), 3, "cond, then's x, else's x");
    let Op::If(o) = &n.op else { panic!() };
    assert!(has_quantizers(&o.then_branch.graph));
    // The else branch never ran: left as it was, and reported.
    assert!(!has_quantizers(&o.else_branch.graph));
    assert!(q.report.ignored.iter().any(|r| r.node == "branch/else_branch" && r.reason.contains("never ran")));
    let rows: Vec<(&str, &str)> = q.report.quantizers.iter().map(|r| (r.kind, r.tensor.as_str())).collect();
    assert!(rows.contains(&("weight", "branch/then_branch/w1")), "{rows:?}");
    assert!(rows.contains(&("activation", "branch/then_branch/x")), "{rows:?}");
    let w = q.report.quantizers.iter().find(|r| r.tensor == "branch/then_branch/w1").unwrap();
    assert_eq!(w.spec.scale.len(), 4, "per output channel");
    // The quantized model runs, on the float and the integer path, close to
    // the float model but not equal to it.
    let item = if_items(9, true).pop().unwrap();
    let want = run(&g, item.clone(), false);
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    for integer in [false, true] {
        let got = run(&q.graph, item.clone(), integer);
        let err = got.iter().zip(&want).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(err > 0.0 && err < 0.02 * scale, "integer {integer}: {err} of {scale}");
    }
    // Taking the float else branch still works.
    let item = if_items(9, false).pop().unwrap();
    assert_eq!(run(&q.graph, item.clone(), false), run(&g, item, false));
}

#[test]
fn loop_bodies_stay_float_unless_asked() {
    let g = loop_model();
    let q = quantize(&g, loop_items(6), &QuantizeOptions::default());
    let Op::Loop(l) = &q.graph.node(node(&q.graph, "loop")).unwrap().op else { panic!() };
    assert!(!has_quantizers(&l.body.graph));
    assert!(q.report.ignored.iter().any(|r| r.node == "loop" && r.reason.contains("loop body kept in float")));

    let opts = QuantizeOptions { quantize_loop_bodies: true, ..QuantizeOptions::default() };
    let q = quantize(&g, loop_items(6), &opts);
    let Op::Loop(l) = &q.graph.node(node(&q.graph, "loop")).unwrap().op else { panic!() };
    assert!(has_quantizers(&l.body.graph));
    assert!(q.report.quantizers.iter().any(|r| r.kind == "weight" && r.tensor == "loop/body/w"));
    let item = loop_items(7).pop().unwrap();
    let (want, got) = (run(&g, item.clone(), false), run(&q.graph, item, true));
    let err = got.iter().zip(&want).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(err > 0.0 && err < 0.05, "{err}");
}

#[test]
fn a_body_node_in_a_strict_ignored_scope_is_found_and_kept_float() {
    let g = if_model();
    let scope = IgnoredScope { names: vec!["then_mm".into()], ..IgnoredScope::new() };
    let q = quantize(&g, if_items(4, true), &QuantizeOptions { ignored_scope: scope, ..QuantizeOptions::default() });
    let Op::If(o) = &q.graph.node(node(&q.graph, "branch")).unwrap().op else { panic!() };
    assert!(!has_quantizers(&o.then_branch.graph));
    assert!(q.report.ignored.iter().any(|r| r.node == "branch/then_branch/then_mm"));
    // A name found nowhere is still an error.
    let scope = IgnoredScope { names: vec!["nowhere".into()], ..IgnoredScope::new() };
    let mut it = if_items(4, true).into_iter().map(Ok);
    let opts = QuantizeOptions { ignored_scope: scope, ..QuantizeOptions::default() };
    assert!(crate::quantize_graph(&g, &mut it, &opts, &mut |_| {}).is_err());
}

/// Every name a node writes, in `g` and in the bodies nested in it.
fn written_names(g: &Graph, out: &mut Vec<String>) {
    for (_, n) in g.iter_nodes() {
        out.extend(n.outputs.iter().flatten().map(|&v| g.value(v).name.clone()));
        for body in n.op.bodies() {
            written_names(&body.graph, out);
        }
    }
}

#[test]
fn quantizers_in_both_branches_keep_every_name_written_once() {
    // Both branches run, so both get quantizers: ONNX's single assignment
    // holds across the model, as onnxruntime checks when it loads it.
    let g = if_model();
    let mut items = if_items(4, true);
    items.extend(if_items(4, false));
    let q = quantize(&g, items, &QuantizeOptions::default());
    let Op::If(o) = &q.graph.node(node(&q.graph, "branch")).unwrap().op else { panic!() };
    assert!(has_quantizers(&o.then_branch.graph) && has_quantizers(&o.else_branch.graph));
    let mut names = vec![];
    written_names(&q.graph, &mut names);
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("branch/else_branch/q")), "{names:?}");
}
