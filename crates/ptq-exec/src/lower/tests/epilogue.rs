//! Epilogues (bias, activation, residual, quantizer), quantizer moves,
//! lookup tables and channels-last exchange between integer kernels.

use ptq_ir::ops::conv::Conv;

use super::*;

/// QuantizeLinear then DequantizeLinear of `v` at (`s`, `z`); returns the
/// u8 and the dequantized values.
fn requantized(g: &mut Graph, v: ValueId, name: &str, s: f32, z: u8) -> (ValueId, ValueId) {
    let (s1, z1) = (
        konst(g, &format!("{name}_s"), Tensor::scalar_f32(s)),
        konst(g, &format!("{name}_z"), Tensor::U8(tensor(&[], vec![z]))),
    );
    let q = node(
        g,
        &format!("{name}_q"),
        Op::QuantizeLinear(QuantizeLinear::default()),
        vec![Some(v), s1, z1],
        &format!("{name}_u8"),
    );
    let (s2, z2) = (
        konst(g, &format!("{name}_s2"), Tensor::scalar_f32(s)),
        konst(g, &format!("{name}_z2"), Tensor::U8(tensor(&[], vec![z]))),
    );
    let dq = node(
        g,
        &format!("{name}_dq"),
        Op::DequantizeLinear(DequantizeLinear::default()),
        vec![Some(q), s2, z2],
        &format!("{name}_f"),
    );
    (q, dq)
}

/// A linear layer as exporters write it — MatMul → Add(bias) → Relu or
/// GELU → QuantizeLinear, with a Shape reading the activation's output —
/// whose result goes through Reshape and Transpose, each wrapped in a
/// Q/DQ pair of the same parameters: the integer path runs the bias, the
/// activation and the quantizer in the MatMul's epilogue, moves u8
/// through the Reshape and the Transpose, and dequantizes once at the
/// end. It agrees with the fake-quant path within one step. The tanh
/// GELU has no epilogue: it and its quantizer stay separate nodes.
#[test]
fn a_linear_layer_fuses_bias_activation_and_quantizer_and_moves_u8_through_reshapes() {
    for (kind, fused) in
        [(UnaryKind::Relu, true), (UnaryKind::Gelu { tanh: false }, true), (UnaryKind::Gelu { tanh: true }, false)]
    {
        linear_layer_with(kind, fused);
    }
}

fn linear_layer_with(kind: UnaryKind, fused: bool) {
    use ptq_ir::ops::binary::{Binary, BinaryKind};
    use ptq_ir::ops::reshape::Reshape;
    use ptq_ir::ops::shape_of::ShapeOf;
    use ptq_ir::ops::transpose::Transpose;
    let (k, n) = (40, 24);
    let mut g = Graph::default();
    let (_, xdq) = quantized_input(&mut g, 0.05, 120);
    let sw: Vec<f32> = values(n, 7, 0.001, 0.01);
    let wdq = dq_weight(&mut g, i8s(&[k, n], 3), Tensor::from_f32s(&sw), None, Some(1));
    let mm = node(&mut g, "mm", Op::MatMul(MatMul), vec![Some(xdq), Some(wdq)], "mm_out");
    let b = konst(&mut g, "b", Tensor::from_f32s(&values(n, 5, -0.5, 0.5)));
    let lin = node(&mut g, "bias", Op::Binary(Binary { kind: BinaryKind::Add }), vec![b, Some(mm)], "lin");
    let act = node(&mut g, "act", Op::Unary(Unary { kind }), vec![Some(lin)], "act");
    let shape = node(&mut g, "shape", Op::ShapeOf(ShapeOf::default()), vec![Some(act)], "shape");
    let step = 0.02;
    let (_, a) = requantized(&mut g, act, "a", step, 3);
    let to = konst(&mut g, "to", Tensor::I64(tensor(&[4], vec![2, 3, 4, 6])));
    let r = node(&mut g, "reshape", Op::Reshape(Reshape::default()), vec![Some(a), to], "r");
    let (_, r) = requantized(&mut g, r, "b", step, 3);
    let t = node(&mut g, "transpose", Op::Transpose(Transpose { perm: Some(vec![0, 2, 1, 3]) }), vec![Some(r)], "t");
    let (_, y) = requantized(&mut g, t, "c", step, 3);
    g.outputs_mut().extend([y, shape]);
    let x = Tensor::F32(tensor(&[2, 3, k], values(6 * k, 11, -6.0, 6.5)));
    let (yf, _, _) = run(&g, false, false, &x);
    let (yi, ni, seen) = run(&g, true, false, &x);
    assert_eq!(ni, vec!["mm".to_string()]);
    assert_eq!(yi.len(), yf.len());
    let worst = yi.iter().zip(&yf).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst <= step * 1.0001, "{kind:?}: worst difference {worst} exceeds one step {step}");
    assert!(yf.iter().any(|&v| v > 0.0) && yf.contains(&0.0), "the activation should clip some values");
    let epilogue = ["lin", "act"];
    for gone in ["mm_out", "a_f", "r", "b_u8", "b_f", "t", "c_u8"].iter().chain(epilogue.iter().filter(|_| fused)) {
        assert!(!seen.contains(&gone.to_string()), "{kind:?}: {gone} is still computed: {seen:?}");
    }
    for kept in ["a_u8", "shape", "c_f"].iter().chain(epilogue.iter().filter(|_| !fused)) {
        assert!(seen.contains(&kept.to_string()), "{kind:?}: {kept} is not computed: {seen:?}");
    }
    let plan =
        Plan::new(&g, &ExecOptions { threads: 1, optimize: false, integer: true, ..Default::default() }).unwrap();
    let out = plan.run(vec![("x".into(), x)]).unwrap();
    assert_eq!(out[1].1.to_f64_vec(), vec![2.0, 3.0, 24.0]);
}

/// A residual connection after a linear layer — MatMul → Add(bias) →
/// Add(another tensor) — runs in the MatMul's epilogue, with an addend
/// of the output's shape and with one that broadcasts, and agrees with
/// the fake-quant path up to f32 summation rounding.
#[test]
fn a_residual_add_after_a_linear_layer_runs_in_the_epilogue() {
    use ptq_ir::ops::binary::Binary;
    let (k, n) = (40, 24);
    for r_shape in [vec![2, 3, n], vec![n]] {
        let mut g = Graph::default();
        let (_, xdq) = quantized_input(&mut g, 0.05, 120);
        let r = g.add_value(Value { name: "r".into(), ..Value::default() });
        g.inputs_mut().push(r);
        let sw: Vec<f32> = values(n, 7, 0.001, 0.01);
        let wdq = dq_weight(&mut g, i8s(&[k, n], 3), Tensor::from_f32s(&sw), None, Some(1));
        let mm = node(&mut g, "mm", Op::MatMul(MatMul), vec![Some(xdq), Some(wdq)], "mm_out");
        let b = konst(&mut g, "b", Tensor::from_f32s(&values(n, 5, -0.5, 0.5)));
        let lin = node(&mut g, "bias", Op::Binary(Binary { kind: BinaryKind::Add }), vec![Some(mm), b], "lin");
        let y = node(&mut g, "res", Op::Binary(Binary { kind: BinaryKind::Add }), vec![Some(r), Some(lin)], "y");
        g.outputs_mut().push(y);
        let x = Tensor::F32(tensor(&[2, 3, k], values(6 * k, 11, -6.0, 6.5)));
        let rv = Tensor::F32(tensor(&r_shape, values(r_shape.iter().product(), 3, -2.0, 2.0)));
        let plan = |integer: bool| {
            Plan::new(&g, &ExecOptions { threads: 1, optimize: false, integer, ..Default::default() }).unwrap()
        };
        let (float, int) = (plan(false), plan(true));
        let inputs = vec![("x".to_string(), x.clone()), ("r".to_string(), rv.clone())];
        let (yf, yi) = (float.run(inputs.clone()).unwrap(), int.run(inputs).unwrap());
        assert_eq!(int.integer_nodes(), ["mm".to_string()]);
        assert_eq!(int.schedule().count(), 2, "the quantizer and the MatMul only");
        assert_eq!(yi[0].1.shape(), [2, 3, n]);
        let (yf, yi) = (yf[0].1.to_f64_vec(), yi[0].1.to_f64_vec());
        let max = yf.iter().fold(0f64, |m, v| m.max(v.abs()));
        for (a, b) in yi.iter().zip(&yf) {
            assert!((a - b).abs() <= 1e-5 * max, "{r_shape:?}: integer {a}, f32 {b}");
        }
    }
}

/// A QuantizeLinear after a Transpose of floats (attention's context
/// before its output projection) moves before it on the integer path:
/// the Transpose then moves bytes, the outputs are the same bits, and a
/// Shape of the transposed tensor still gives its shape.
#[test]
fn a_quantizer_after_a_transpose_moves_before_it() {
    use ptq_ir::ops::shape_of::ShapeOf;
    use ptq_ir::ops::transpose::Transpose;
    let mut g = Graph::default();
    let x = g.add_value(Value { name: "x".into(), ..Value::default() });
    g.inputs_mut().push(x);
    let t = node(&mut g, "transpose", Op::Transpose(Transpose { perm: Some(vec![0, 2, 1]) }), vec![Some(x)], "t");
    let shape = node(&mut g, "shape", Op::ShapeOf(ShapeOf::default()), vec![Some(t)], "shape");
    let (q, y) = requantized(&mut g, t, "o", 0.03, 7);
    g.outputs_mut().extend([q, y, shape]);
    let x = Tensor::F32(tensor(&[2, 3, 5], values(30, 5, -3.0, 3.0)));
    let plan = |integer: bool| {
        Plan::new(&g, &ExecOptions { threads: 1, optimize: false, integer, ..Default::default() }).unwrap()
    };
    let (float, int) = (plan(false), plan(true));
    let (yf, yi) = (float.run(vec![("x".into(), x.clone())]).unwrap(), int.run(vec![("x".into(), x)]).unwrap());
    for (f, i) in yf.iter().zip(&yi) {
        assert_eq!((f.1.dtype(), f.1.shape()), (i.1.dtype(), i.1.shape()), "{}", f.0);
        assert_eq!(f.1.to_f64_vec(), i.1.to_f64_vec(), "{}", f.0);
    }
    assert_eq!(yi[2].1.to_f64_vec(), vec![2.0, 5.0, 3.0]);
    let ig = int.graph();
    let producers = ig.producers();
    let (_, tn) = ig.iter_nodes().find(|(_, n)| matches!(n.op, Op::Transpose(_))).unwrap();
    let (qn, _) = producers[&tn.inputs[0].unwrap()];
    assert!(matches!(ig.node(qn).unwrap().op, Op::QuantizeLinear(_)), "the Transpose reads the quantizer");
}

/// DequantizeLinear → HardSwish → QuantizeLinear on u8 runs as one
/// table lookup that gives exactly the float path's bytes.
#[test]
fn a_quantized_activation_runs_as_a_table_with_the_float_paths_bytes() {
    let mut g = Graph::default();
    let (_, xdq) = quantized_input(&mut g, 0.05, 120);
    let h = node(&mut g, "hswish", Op::Unary(Unary { kind: UnaryKind::HardSwish }), vec![Some(xdq)], "h");
    let (q, y) = requantized(&mut g, h, "o", 0.03, 10);
    g.outputs_mut().extend([q, y]);
    let x = Tensor::F32(tensor(&[2, 3, 7], values(42, 5, -7.0, 7.0)));
    let plan = |integer: bool| {
        Plan::new(&g, &ExecOptions { threads: 1, optimize: false, integer, ..Default::default() }).unwrap()
    };
    let (float, int) = (plan(false), plan(true));
    assert_eq!(int.integer_nodes(), ["hswish".to_string()]);
    let (yf, yi) = (float.run(vec![("x".into(), x.clone())]).unwrap(), int.run(vec![("x".into(), x.clone())]).unwrap());
    assert_eq!(yf[0].1.to_i64_vec(), yi[0].1.to_i64_vec(), "u8 bytes");
    assert_eq!(yf[1].1.to_f64_vec(), yi[1].1.to_f64_vec());
    let (_, _, seen) = run(&g, true, false, &x);
    assert!(!seen.contains(&"x_dq".to_string()) && !seen.contains(&"h".to_string()), "{seen:?}");
}

/// SiLU as exporters write it, `x · sigmoid(x)` between a u8
/// DequantizeLinear and QuantizeLinear, is one table lookup too, with the
/// float path's bytes, in either operand order; a Mul that also reads
/// something else keeps the float path.
#[test]
fn a_quantized_silu_runs_as_a_table_with_the_float_paths_bytes() {
    use ptq_ir::ops::binary::{Binary, BinaryKind};
    for (swapped, extra_reader) in [(false, false), (true, false), (false, true)] {
        let mut g = Graph::default();
        let (_, xdq) = quantized_input(&mut g, 0.05, 120);
        let sig = node(&mut g, "sigmoid", Op::Unary(Unary { kind: UnaryKind::Sigmoid }), vec![Some(xdq)], "sig");
        let ins = if swapped { vec![Some(sig), Some(xdq)] } else { vec![Some(xdq), Some(sig)] };
        let m = node(&mut g, "mul", Op::Binary(Binary { kind: BinaryKind::Mul }), ins, "silu");
        let (q, y) = requantized(&mut g, m, "o", 0.03, 10);
        g.outputs_mut().extend([q, y]);
        if extra_reader {
            let r = node(&mut g, "relu", Op::Unary(Unary { kind: UnaryKind::Relu }), vec![Some(xdq)], "r");
            g.outputs_mut().push(r);
        }
        let x = Tensor::F32(tensor(&[2, 3, 7], values(42, 5, -7.0, 7.0)));
        let plan = |integer: bool| {
            Plan::new(&g, &ExecOptions { threads: 1, optimize: false, integer, ..Default::default() }).unwrap()
        };
        let (float, int) = (plan(false), plan(true));
        let tabled = int.integer_nodes().contains(&"sigmoid".to_string());
        assert_eq!(tabled, !extra_reader, "swapped {swapped}, extra reader {extra_reader}: {:?}", int.integer_nodes());
        let (yf, yi) =
            (float.run(vec![("x".into(), x.clone())]).unwrap(), int.run(vec![("x".into(), x.clone())]).unwrap());
        assert_eq!(yf[0].1.to_i64_vec(), yi[0].1.to_i64_vec(), "u8 bytes");
        assert_eq!(yf[1].1.to_f64_vec(), yi[1].1.to_f64_vec());
        let (_, _, seen) = run(&g, true, false, &x);
        assert_eq!(seen.contains(&"silu".to_string()), extra_reader, "{seen:?}");
    }
}

/// Per-channel (axis 1) u8 Q/DQ pair on `v` with one zero point.
fn channel_requantized(g: &mut Graph, v: ValueId, name: &str, scales: &[f32], z: u8) -> ValueId {
    let c = scales.len();
    let params = |g: &mut Graph, tag: &str| {
        let s = konst(g, &format!("{name}_s{tag}"), Tensor::from_f32s(scales));
        let zt = konst(g, &format!("{name}_z{tag}"), Tensor::U8(tensor(&[c], vec![z; c])));
        (s, zt)
    };
    let (s, zt) = params(g, "q");
    let q = QuantizeLinear { axis: Some(1), ..QuantizeLinear::default() };
    let xq = node(g, &format!("{name}_q"), Op::QuantizeLinear(q), vec![Some(v), s, zt], &format!("{name}_u8"));
    let (s, zt) = params(g, "dq");
    let dq = Op::DequantizeLinear(DequantizeLinear { axis: Some(1), block_size: None });
    node(g, &format!("{name}_dq"), dq, vec![Some(xq), s, zt], &format!("{name}_f32"))
}

/// MobileNetV3's order: conv → per-channel Q/DQ → depthwise, and
/// HardSwish → per-channel Q/DQ → depthwise. The convolution quantizes
/// per channel in its epilogue, the HardSwish is one table per channel,
/// and every node runs on the integer path, within a step of the
/// fake-quant path.
#[test]
fn per_channel_quantizers_after_convolutions_and_tables_stay_on_the_integer_path() {
    let (n, c, h, w) = (2, 24, 6, 5);
    let mut g = Graph::default();
    let (_, xdq) = quantized_input(&mut g, 0.04, 120);
    let weight = |g: &mut Graph, tag: &str, shape: &[usize], seed: u64| {
        let wq = konst(g, &format!("w_{tag}"), i8s(shape, seed));
        let sw = konst(g, &format!("sw_{tag}"), Tensor::from_f32s(&values(c, 5, 0.001, 0.01)));
        let dq = Op::DequantizeLinear(DequantizeLinear { axis: Some(0), block_size: None });
        node(g, &format!("dq_w_{tag}"), dq, vec![wq, sw], &format!("w_dq_{tag}"))
    };
    let wdq = weight(&mut g, "pw", &[c, c, 1, 1], 3);
    let y1 = node(&mut g, "pw", Op::Conv(Conv::default()), vec![Some(xdq), Some(wdq), None], "y1");
    let s1 = values(c, 7, 0.01, 0.05);
    let d1 = channel_requantized(&mut g, y1, "a", &s1, 128);
    let dw = |g: &mut Graph, x: ValueId, tag: &str| {
        let wdq = weight(g, tag, &[c, 1, 3, 3], 9);
        let op = Conv { group: c as i64, pads: Some(vec![1, 1, 1, 1]), ..Conv::default() };
        node(g, tag, Op::Conv(op), vec![Some(x), Some(wdq), None], &format!("{tag}_out"))
    };
    let y2 = dw(&mut g, d1, "dw1");
    let (_, y2dq) = requantized(&mut g, y2, "b", 0.02, 128);
    let hs = node(&mut g, "hswish", Op::Unary(Unary { kind: UnaryKind::HardSwish }), vec![Some(y2dq)], "hs");
    let d3 = channel_requantized(&mut g, hs, "c", &values(c, 3, 0.005, 0.03), 0);
    let y4 = dw(&mut g, d3, "dw2");
    g.outputs_mut().push(y4);
    let x = Tensor::F32(tensor(&[n, c, h, w], values(n * c * h * w, 13, -4.0, 6.0)));
    let (yf, _, _) = run(&g, false, true, &x);
    let (yi, nodes, _) = run(&g, true, true, &x);
    let mut nodes = nodes;
    nodes.sort();
    assert_eq!(nodes, ["dw1", "dw2", "hswish", "pw"]);
    // A byte one step off in the epilogue moves a depthwise output by
    // at most 9 taps · 127 · its weight scale · the channel's step.
    let bound = 9.0 * 127.0 * 0.01 * 0.05 * 1.01 + 1e-4;
    for (a, b) in yi.iter().zip(&yf) {
        assert!((a - b).abs() <= bound, "{a} vs {b}");
    }
}

/// Two residual blocks (conv → Relu → Q/DQ → conv → Q/DQ → Add with the
/// block input → Relu → Q/DQ): the u8 tensors the integer kernels pass
/// to each other stay channels-last, the others (the first block's
/// input, the second block's output) NCHW, and the result equals the
/// fake-quant path's within one step.
#[test]
fn integer_kernels_exchange_channels_last_tensors() {
    use ptq_ir::ops::binary::{Binary, BinaryKind};
    let (n, c, h, w) = (2, 32, 5, 6);
    let mut g = Graph::default();
    let (_, mut xdq) = quantized_input(&mut g, 0.04, 120);
    for b in 0..2 {
        let mut v = xdq;
        for (i, relu) in [(0, true), (1, false)] {
            let scale = Tensor::from_f32s(&values(c, 5 + i, 0.0005, 0.002));
            let wq = konst(&mut g, &format!("w{b}{i}"), i8s(&[c, c, 3, 3], 4 + 10 * b + i));
            let sw = konst(&mut g, &format!("sw{b}{i}"), scale);
            let dq = Op::DequantizeLinear(DequantizeLinear { axis: Some(0), block_size: None });
            let wdq = node(&mut g, &format!("dq_w{b}{i}"), dq, vec![wq, sw], &format!("w_dq{b}{i}"));
            let bias = konst(&mut g, &format!("bias{b}{i}"), Tensor::from_f32s(&values(c, 3 + i, -0.5, 0.5)));
            let op = Conv { pads: Some(vec![1, 1, 1, 1]), ..Conv::default() };
            v = node(&mut g, &format!("conv{b}{i}"), Op::Conv(op), vec![Some(v), Some(wdq), bias], &format!("y{b}{i}"));
            if relu {
                v = node(
                    &mut g,
                    &format!("relu{b}{i}"),
                    Op::Unary(Unary { kind: UnaryKind::Relu }),
                    vec![Some(v)],
                    &format!("r{b}{i}"),
                );
            }
            v = requantized(&mut g, v, &format!("c{b}{i}"), 0.03, if relu { 0 } else { 128 }).1;
        }
        let sum = node(
            &mut g,
            &format!("add{b}"),
            Op::Binary(Binary { kind: BinaryKind::Add }),
            vec![Some(v), Some(xdq)],
            &format!("sum{b}"),
        );
        let r = node(
            &mut g,
            &format!("relu_add{b}"),
            Op::Unary(Unary { kind: UnaryKind::Relu }),
            vec![Some(sum)],
            &format!("ra{b}"),
        );
        xdq = requantized(&mut g, r, &format!("a{b}"), 0.05, 0).1;
    }
    g.outputs_mut().push(xdq);
    let x = Tensor::F32(tensor(&[n, c, h, w], values(n * c * h * w, 17, -4.0, 6.0)));
    let (yf, _, _) = run(&g, false, true, &x);
    let plan = Plan::new(&g, &ExecOptions { threads: 1, optimize: true, integer: true, ..Default::default() }).unwrap();
    assert_eq!(plan.integer_nodes().len(), 6, "{:?}", plan.integer_nodes());
    let names: Vec<String> = plan.graph().values().iter().map(|v| v.name.clone()).collect();
    let mut shapes = HashMap::new();
    let out = plan
        .run_with_probe(vec![("x".into(), x.clone())], &Probe::All, &mut |v, t| {
            shapes.insert(names[v.0].clone(), t.shape().to_vec());
        })
        .unwrap();
    let (nchw, nhwc) = (vec![n, c, h, w], vec![n, h, w, c]);
    // Written and read by integer kernels only: channels-last.
    for v in ["c00_u8", "c01_u8", "a0_u8", "c10_u8", "c11_u8"] {
        assert_eq!(shapes[v], nhwc, "{v}");
    }
    // The first block's input and the second block's output are NCHW.
    assert_eq!(shapes["x_q"], nchw);
    assert_eq!(shapes["a1_u8"], nchw);
    let yi: Vec<f32> = out[0].1.to_f64_vec().iter().map(|&v| v as f32).collect();
    assert_eq!(yi.len(), yf.len());
    let mut moved = 0;
    for (a, b) in yi.iter().zip(&yf) {
        assert!((a - b).abs() <= 0.05 * 1.001, "{a} vs {b}");
        moved += usize::from(a != b);
    }
    assert!(moved * 100 <= yi.len(), "{moved} of {} outputs moved a step", yi.len());
    assert!(yf.iter().filter(|&&v| v > 0.0).count() * 4 > yf.len(), "the output is mostly zero");
}

/// A quantized input (scale 0.04, zero point 120) through a 1x1 convolution
/// of `c` to `c` channels with per-channel int8 weights and `bias`; its f32
/// output `y`.
fn quantized_pointwise_conv(g: &mut Graph, c: usize, bias: Option<ValueId>) -> ValueId {
    let (_, xdq) = quantized_input(g, 0.04, 120);
    let wq = konst(g, "w", i8s(&[c, c, 1, 1], 3));
    let sw = konst(g, "sw", Tensor::from_f32s(&values(c, 5, 0.002, 0.02)));
    let dq = Op::DequantizeLinear(DequantizeLinear { axis: Some(0), block_size: None });
    let wdq = node(g, "dq_w", dq, vec![wq, sw], "w_dq");
    let conv = Op::Conv(Conv::default());
    node(g, "conv", conv, vec![Some(xdq), Some(wdq), bias], "y")
}

/// MobileNetV3's Conv → HardSwish → Q/DQ: the HardSwish runs in the
/// convolution's epilogue, which then quantizes too, so neither the
/// HardSwish nor the f32 convolution output is materialised; without a
/// quantizer after it the epilogue writes the HardSwish's f32 output. A
/// convolution output with a second reader keeps the HardSwish separate.
/// Each equals the fake-quant path within f32 summation rounding (the
/// quantized output within one step).
#[test]
fn a_hard_swish_after_a_convolution_runs_in_its_epilogue() {
    let (n, c, h, w) = (2, 16, 5, 4);
    for (quantized, second_reader) in [(true, false), (false, false), (true, true)] {
        let mut g = Graph::default();
        let bias = konst(&mut g, "bias", Tensor::from_f32s(&values(c, 3, -1.0, 1.0)));
        let y = quantized_pointwise_conv(&mut g, c, bias);
        let hs = node(&mut g, "hswish", Op::Unary(Unary { kind: UnaryKind::HardSwish }), vec![Some(y)], "hs");
        let out = if quantized { requantized(&mut g, hs, "o", 0.02, 20).1 } else { hs };
        g.outputs_mut().push(out);
        if second_reader {
            let r = node(&mut g, "relu", Op::Unary(Unary { kind: UnaryKind::Relu }), vec![Some(y)], "r");
            g.outputs_mut().push(r);
        }
        let x = Tensor::F32(tensor(&[n, c, h, w], values(n * c * h * w, 13, -4.0, 6.0)));
        let (yf, _, _) = run(&g, false, false, &x);
        let (yi, nodes, seen) = run(&g, true, false, &x);
        let case = format!("quantized {quantized}, second reader {second_reader}: {nodes:?} {seen:?}");
        assert!(nodes.contains(&"conv".to_string()), "{case}");
        // The HardSwish output is seen as the graph output, or when it ran apart.
        assert_eq!(seen.contains(&"hs".to_string()), second_reader || !quantized, "{case}");
        assert_eq!(seen.contains(&"y".to_string()), second_reader, "{case}");
        if quantized {
            for (a, b) in yi.iter().zip(&yf) {
                assert!((a - b).abs() <= 0.02 * 1.01, "{case}: {a} vs {b}");
            }
        } else {
            assert_close(&yi, &yf);
        }
    }
}

/// OpenVINO IR's form, Conv → Add of a `[1, M, 1, 1]` (or `[M, 1, 1]`)
/// constant → Relu → Q/DQ: the bias, the Relu and the quantizer all run in
/// the convolution's epilogue, within one step of the fake-quant path. A
/// constant of any other shape stays a separate Add.
#[test]
fn an_openvino_bias_add_and_relu_run_in_the_convolutions_epilogue() {
    use ptq_ir::ops::binary::{Binary, BinaryKind};
    let (n, c, h, w) = (2, 16, 5, 4);
    for bias_shape in [vec![1, c, 1, 1], vec![c, 1, 1], vec![1, c, 1, w]] {
        let mut g = Graph::default();
        let y = quantized_pointwise_conv(&mut g, c, None);
        let len: usize = bias_shape.iter().product();
        let b = konst(&mut g, "b", Tensor::F32(tensor(&bias_shape, values(len, 3, -1.0, 1.0))));
        let added = node(&mut g, "add", Op::Binary(Binary { kind: BinaryKind::Add }), vec![Some(y), b], "yb");
        let r = node(&mut g, "relu", Op::Unary(Unary { kind: UnaryKind::Relu }), vec![Some(added)], "r");
        let out = requantized(&mut g, r, "o", 0.02, 0).1;
        g.outputs_mut().push(out);
        let x = Tensor::F32(tensor(&[n, c, h, w], values(n * c * h * w, 13, -4.0, 6.0)));
        let (yf, _, _) = run(&g, false, false, &x);
        let (yi, nodes, seen) = run(&g, true, false, &x);
        let folded = bias_shape.len() < 4 || bias_shape[3] == 1;
        let case = format!("bias {bias_shape:?}: {nodes:?} {seen:?}");
        assert!(nodes.contains(&"conv".to_string()), "{case}");
        for v in ["y", "yb", "r"] {
            assert_eq!(seen.contains(&v.to_string()), !folded, "{v}: {case}");
        }
        for (a, b) in yi.iter().zip(&yf) {
            assert!((a - b).abs() <= 0.02 * 1.01, "{case}: {a} vs {b}");
        }
    }
}
