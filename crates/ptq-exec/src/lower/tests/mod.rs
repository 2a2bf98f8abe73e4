use ndarray::{ArrayD, IxDyn};
use ptq_ir::ops::binary::BinaryKind;
use ptq_ir::ops::dequantize::DequantizeLinear;
use ptq_ir::ops::gemm::Gemm;
use ptq_ir::ops::matmul::MatMul;
use ptq_ir::ops::quantize::QuantizeLinear;
use ptq_ir::ops::unary::{Unary, UnaryKind};
use ptq_ir::{ConstSource, Graph, Node, Op, Tensor, Value, ValueId};

use super::*;
use crate::{ExecOptions, Plan, Probe};

/// Deterministic values in `[lo, hi)`.
fn values(len: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            lo + (hi - lo) * ((s >> 40) as f32 / (1u64 << 24) as f32)
        })
        .collect()
}

fn tensor<T>(shape: &[usize], v: Vec<T>) -> ArrayD<T> {
    ArrayD::from_shape_vec(IxDyn(shape), v).unwrap()
}

fn value(g: &mut Graph, name: &str) -> ValueId {
    g.add_value(Value { name: name.into(), ..Value::default() })
}

fn node(g: &mut Graph, name: &str, op: Op, inputs: Vec<Option<ValueId>>, out: &str) -> ValueId {
    let y = value(g, out);
    g.add_node(Node { name: name.into(), op, inputs, outputs: vec![Some(y)], doc: String::new(), meta: vec![] });
    y
}

fn konst(g: &mut Graph, name: &str, t: Tensor) -> Option<ValueId> {
    Some(g.add_constant(name, t, ConstSource::Stored))
}

/// x → QuantizeLinear(sx, zx) → DequantizeLinear → x_dq; returns (x, x_dq).
fn quantized_input(g: &mut Graph, sx: f32, zx: u8) -> (ValueId, ValueId) {
    let x = value(g, "x");
    g.inputs_mut().push(x);
    let s = konst(g, "sx", Tensor::scalar_f32(sx));
    let z = konst(g, "zx", Tensor::U8(tensor(&[], vec![zx])));
    let q = node(g, "q", Op::QuantizeLinear(QuantizeLinear::default()), vec![Some(x), s, z], "x_q");
    let s = konst(g, "sx2", Tensor::scalar_f32(sx));
    let z = konst(g, "zx2", Tensor::U8(tensor(&[], vec![zx])));
    let dq = node(g, "dq_x", Op::DequantizeLinear(DequantizeLinear::default()), vec![Some(q), s, z], "x_dq");
    (x, dq)
}

/// DequantizeLinear of a constant weight.
fn dq_weight(g: &mut Graph, w: Tensor, scale: Tensor, zp: Option<Tensor>, axis: Option<i64>) -> ValueId {
    let w = konst(g, "w", w);
    let s = konst(g, "sw", scale);
    let z = zp.and_then(|z| konst(g, "zw", z));
    node(g, "dq_w", Op::DequantizeLinear(DequantizeLinear { axis, block_size: None }), vec![w, s, z], "w_dq")
}

fn i8s(shape: &[usize], seed: u64) -> Tensor {
    let v = values(shape.iter().product(), seed, -128.0, 128.0).iter().map(|v| v.floor() as i8).collect();
    Tensor::I8(tensor(shape, v))
}

fn run(g: &Graph, integer: bool, optimize: bool, x: &Tensor) -> (Vec<f32>, Vec<String>, Vec<String>) {
    let plan = Plan::new(g, &ExecOptions { threads: 1, optimize, integer, ..Default::default() }).unwrap();
    let mut seen = vec![];
    let names: Vec<String> = plan.graph().values().iter().map(|v| v.name.clone()).collect();
    let out = plan
        .run_with_probe(vec![("x".into(), x.clone())], &Probe::All, &mut |v, _| seen.push(names[v.0].clone()))
        .unwrap();
    let y = out[0].1.to_f64_vec().iter().map(|&v| v as f32).collect();
    (y, plan.integer_nodes().to_vec(), seen)
}

/// Integer and f32 results agree up to f32 summation rounding.
fn assert_close(int: &[f32], float: &[f32]) {
    assert_eq!(int.len(), float.len());
    let max = float.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(max > 0.0);
    for (i, (a, b)) in int.iter().zip(float).enumerate() {
        assert!((a - b).abs() <= 1e-4 * max, "element {i}: integer {a}, f32 {b} (max {max})");
    }
}

mod conv;
mod epilogue;

#[test]
fn batched_matmul_runs_in_integers_and_matches_f32() {
    let (k, n) = (37, 45);
    let mut g = Graph::default();
    let (_, xdq) = quantized_input(&mut g, 0.05, 120);
    let sw: Vec<f32> = values(n, 7, 0.001, 0.01);
    let wdq =
        dq_weight(&mut g, i8s(&[k, n], 3), Tensor::from_f32s(&sw), Some(Tensor::I8(tensor(&[n], vec![0; n]))), Some(1));
    let y = node(&mut g, "mm", Op::MatMul(MatMul), vec![Some(xdq), Some(wdq)], "y");
    g.outputs_mut().push(y);
    let x = Tensor::F32(tensor(&[2, 3, k], values(6 * k, 11, -6.0, 6.5)));
    let (yf, nf, seen_f) = run(&g, false, false, &x);
    let (yi, ni, seen_i) = run(&g, true, false, &x);
    assert!(nf.is_empty());
    assert_eq!(ni, vec!["mm".to_string()]);
    assert_close(&yi, &yf);
    assert!(seen_f.contains(&"x_dq".to_string()) && seen_f.contains(&"w_dq".to_string()));
    assert!(!seen_i.contains(&"x_dq".to_string()) && !seen_i.contains(&"w_dq".to_string()), "{seen_i:?}");
    assert!(seen_i.contains(&"x_q".to_string()) && seen_i.contains(&"y".to_string()));
}

/// Gemm with transB, an int32 bias dequantized at scale sx·sw, and a Relu
/// that `optimize` fuses into it.
fn gemm_graph(k: usize, n: usize, relu: bool, w_zp: i8) -> Graph {
    let (sx, swv) = (0.04f32, 0.003f32);
    let mut g = Graph::default();
    let (_, xdq) = quantized_input(&mut g, sx, 131);
    let wdq =
        dq_weight(&mut g, i8s(&[n, k], 5), Tensor::scalar_f32(swv), Some(Tensor::I8(tensor(&[], vec![w_zp]))), None);
    let b: Vec<i32> = values(n, 9, -2000.0, 2000.0).iter().map(|&v| v as i32).collect();
    let bq = konst(&mut g, "b_q", Tensor::I32(tensor(&[n], b)));
    let bs = konst(&mut g, "b_s", Tensor::scalar_f32(sx * swv));
    let bdq = node(&mut g, "dq_b", Op::DequantizeLinear(DequantizeLinear::default()), vec![bq, bs], "b_dq");
    let gemm = Gemm { trans_b: true, ..Gemm::default() };
    let mut y = node(&mut g, "gemm", Op::Gemm(gemm), vec![Some(xdq), Some(wdq), Some(bdq)], "g");
    if relu {
        y = node(&mut g, "relu", Op::Unary(Unary { kind: UnaryKind::Relu }), vec![Some(y)], "y");
    }
    g.outputs_mut().push(y);
    g
}

#[test]
fn gemm_trans_b_with_int32_bias_and_fused_relu() {
    let (k, n) = (70, 33);
    let x = Tensor::F32(tensor(&[5, k], values(5 * k, 13, -5.0, 5.0)));
    for (relu, optimize) in [(false, false), (true, false), (true, true)] {
        let g = gemm_graph(k, n, relu, 0);
        let (yf, _, _) = run(&g, false, optimize, &x);
        let (yi, ni, seen) = run(&g, true, optimize, &x);
        assert_eq!(ni, vec!["gemm".to_string()], "relu {relu}, optimize {optimize}");
        assert_close(&yi, &yf);
        assert!(!seen.contains(&"b_dq".to_string()));
        if relu {
            assert!(yi.iter().all(|&v| v >= 0.0) && yi.contains(&0.0));
        }
    }
}

#[test]
fn unsupported_weights_stay_in_f32() {
    let (k, n) = (8, 6);
    let x = Tensor::F32(tensor(&[5, k], values(5 * k, 1, -1.0, 1.0)));
    // Nonzero weight zero point.
    let g = gemm_graph(k, n, false, 3);
    let (yf, _, _) = run(&g, false, false, &x);
    let (yi, ni, _) = run(&g, true, false, &x);
    assert!(ni.is_empty());
    assert_eq!(yi, yf);
    // u8 weights, and per-row (axis 0) scales on a MatMul weight.
    for (w, axis, scales) in [(Tensor::U8(tensor(&[k, n], vec![3; k * n])), Some(1), n), (i8s(&[k, n], 2), Some(0), k)]
    {
        let mut g = Graph::default();
        let (_, xdq) = quantized_input(&mut g, 0.01, 128);
        let wdq = dq_weight(&mut g, w, Tensor::from_f32s(&vec![0.5; scales]), None, axis);
        let y = node(&mut g, "mm", Op::MatMul(MatMul), vec![Some(xdq), Some(wdq)], "y");
        g.outputs_mut().push(y);
        let (yf, _, _) = run(&g, false, false, &x);
        let (yi, ni, _) = run(&g, true, false, &x);
        assert!(ni.is_empty());
        assert_eq!(yi, yf);
    }
}

/// `cargo test -p ptq-exec --release -- --ignored --nocapture int8_matmul_timing`
#[test]
#[ignore]
fn int8_matmul_timing() {
    let (m, k, n) = (128, 768, 3072);
    let mut g = Graph::default();
    let (_, xdq) = quantized_input(&mut g, 0.05, 128);
    let sw = values(n, 7, 0.001, 0.01);
    let wdq = dq_weight(&mut g, i8s(&[k, n], 3), Tensor::from_f32s(&sw), None, Some(1));
    let y = node(&mut g, "mm", Op::MatMul(MatMul), vec![Some(xdq), Some(wdq)], "y");
    g.outputs_mut().push(y);
    let x = Tensor::F32(tensor(&[m, k], values(m * k, 11, -6.0, 6.0)));
    for integer in [false, true] {
        let plan = Plan::new(&g, &ExecOptions { threads: 1, optimize: true, integer, ..Default::default() }).unwrap();
        let mut best = f64::INFINITY;
        for _ in 0..10 {
            let t = std::time::Instant::now();
            plan.run(vec![("x".into(), x.clone())]).unwrap();
            best = best.min(t.elapsed().as_secs_f64());
        }
        let (_, steps) = plan.run_profiled(vec![("x".into(), x.clone())]).unwrap();
        println!("integer {integer}: best {:.2} ms per run; steps {steps:?}", best * 1e3);
    }
}
