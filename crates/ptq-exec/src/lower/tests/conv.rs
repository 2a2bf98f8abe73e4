//! Convolutions, depthwise ones and residual additions on the integer path.

use super::*;

#[test]
fn quantized_convolutions_run_on_int8_kernels_and_match_fake_quant() {
    use ptq_ir::ops::conv::Conv;
    // C·KH·KW = 288, enough for the integer path; padding, strides,
    // dilations and per-channel or per-tensor weight scales.
    let (n, c, h, w, m) = (2, 32, 7, 6, 5);
    let cases = [
        (Conv { pads: Some(vec![1, 1, 1, 1]), ..Conv::default() }, true, true),
        (Conv { strides: Some(vec![2, 1]), pads: Some(vec![0, 2, 1, 0]), ..Conv::default() }, false, false),
        (Conv { dilations: Some(vec![2, 2]), pads: Some(vec![2, 2, 2, 2]), ..Conv::default() }, true, false),
    ];
    for (ci, (op, per_channel, with_bias)) in cases.into_iter().enumerate() {
        let mut g = Graph::default();
        let (_, xdq) = quantized_input(&mut g, 0.04, 120);
        let scale = if per_channel { Tensor::from_f32s(&values(m, 5, 0.001, 0.01)) } else { Tensor::scalar_f32(0.004) };
        let wdq = dq_weight(&mut g, i8s(&[m, c, 3, 3], 9), scale, None, per_channel.then_some(0));
        let b = with_bias.then(|| konst(&mut g, "b", Tensor::from_f32s(&values(m, 3, -1.0, 1.0)))).flatten();
        let y = node(&mut g, "conv", Op::Conv(op), vec![Some(xdq), Some(wdq), b], "y");
        g.outputs_mut().push(y);
        let x = Tensor::F32(tensor(&[n, c, h, w], values(n * c * h * w, 13, -4.0, 6.0)));
        let (yf, _, _) = run(&g, false, true, &x);
        let plan =
            Plan::new(&g, &ExecOptions { threads: 1, optimize: true, integer: true, ..Default::default() }).unwrap();
        assert_eq!(plan.integer_nodes(), ["conv"], "case {ci}");
        let (yi, _, _) = run(&g, true, true, &x);
        assert_eq!(yi.len(), yf.len(), "case {ci}");
        let peak = yf.iter().fold(0f32, |a, v| a.max(v.abs()));
        for (a, b) in yi.iter().zip(&yf) {
            assert!((a - b).abs() <= 1e-5 * peak.max(1.0), "case {ci}: {a} vs {b}");
        }
    }
}

#[test]
fn depthwise_convolutions_run_on_int8_kernels_and_match_fake_quant() {
    use ptq_ir::ops::conv::Conv;
    let (n, c, h, w) = (2, 19, 7, 9);
    for (ci, (strides, pads)) in
        [(vec![1, 1], vec![1, 1, 1, 1]), (vec![2, 1], vec![0, 1, 2, 0])].into_iter().enumerate()
    {
        let mut g = Graph::default();
        let (_, xdq) = quantized_input(&mut g, 0.04, 120);
        let scale = Tensor::from_f32s(&values(c, 5, 0.001, 0.01));
        let wdq = dq_weight(&mut g, i8s(&[c, 1, 3, 3], 9), scale, None, Some(0));
        let b = konst(&mut g, "b", Tensor::from_f32s(&values(c, 3, -1.0, 1.0)));
        let op = Conv { group: c as i64, strides: Some(strides), pads: Some(pads), ..Conv::default() };
        let y = node(&mut g, "conv", Op::Conv(op), vec![Some(xdq), Some(wdq), b], "y");
        g.outputs_mut().push(y);
        let x = Tensor::F32(tensor(&[n, c, h, w], values(n * c * h * w, 13, -4.0, 6.0)));
        let (yf, _, _) = run(&g, false, true, &x);
        let (yi, nodes, _) = run(&g, true, true, &x);
        assert_eq!(nodes, ["conv"], "case {ci}");
        assert_close(&yi, &yf);
    }
}

#[test]
fn depthwise_convolutions_take_a_per_channel_input_scale_with_one_zero_point() {
    use ptq_ir::ops::conv::Conv;
    let (n, c, h, w) = (2, 11, 6, 7);
    for (zps, integer) in [(vec![128u8; c], true), ((0..c).map(|i| 120 + i as u8).collect::<Vec<_>>(), false)] {
        let mut g = Graph::default();
        let x = value(&mut g, "x");
        g.inputs_mut().push(x);
        let per_axis = |g: &mut Graph, tag: &str| {
            let s = konst(g, &format!("s{tag}"), Tensor::from_f32s(&values(c, 7, 0.01, 0.08)));
            let z = konst(g, &format!("z{tag}"), Tensor::U8(tensor(&[c], zps.clone())));
            (s, z)
        };
        let (s, z) = per_axis(&mut g, "q");
        let q = QuantizeLinear { axis: Some(1), ..QuantizeLinear::default() };
        let xq = node(&mut g, "q", Op::QuantizeLinear(q), vec![Some(x), s, z], "x_q");
        let (s, z) = per_axis(&mut g, "dq");
        let dq = Op::DequantizeLinear(DequantizeLinear { axis: Some(1), block_size: None });
        let xdq = node(&mut g, "dq_x", dq, vec![Some(xq), s, z], "x_dq");
        let wdq =
            dq_weight(&mut g, i8s(&[c, 1, 3, 3], 5), Tensor::from_f32s(&values(c, 5, 0.001, 0.01)), None, Some(0));
        let b = konst(&mut g, "b", Tensor::from_f32s(&values(c, 3, -1.0, 1.0)));
        let op = Conv { group: c as i64, pads: Some(vec![1, 1, 1, 1]), ..Conv::default() };
        let y = node(&mut g, "conv", Op::Conv(op), vec![Some(xdq), Some(wdq), b], "y");
        g.outputs_mut().push(y);
        let x = Tensor::F32(tensor(&[n, c, h, w], values(n * c * h * w, 13, -4.0, 6.0)));
        let (yf, _, _) = run(&g, false, true, &x);
        let (yi, nodes, _) = run(&g, true, true, &x);
        // Zero points that differ by channel would change the padding: float.
        assert_eq!(nodes.len(), usize::from(integer), "{nodes:?}");
        assert_close(&yi, &yf);
    }
}

#[test]
fn a_sole_quantizer_after_an_integer_convolution_runs_in_its_epilogue() {
    use ptq_ir::ops::conv::Conv;
    use ptq_ir::ops::unary::{Unary, UnaryKind};
    let (n, c, h, w, m) = (2, 32, 6, 5, 7);
    let mut g = Graph::default();
    let (_, xdq) = quantized_input(&mut g, 0.04, 120);
    let wdq = dq_weight(&mut g, i8s(&[m, c, 3, 3], 4), Tensor::from_f32s(&values(m, 5, 0.001, 0.01)), None, Some(0));
    let b = konst(&mut g, "b", Tensor::from_f32s(&values(m, 3, -1.0, 1.0)));
    let op = Conv { pads: Some(vec![1, 1, 1, 1]), ..Conv::default() };
    let y = node(&mut g, "conv", Op::Conv(op), vec![Some(xdq), Some(wdq), b], "y");
    let r = node(&mut g, "relu", Op::Unary(Unary { kind: UnaryKind::Relu }), vec![Some(y)], "r");
    let (so, zo) = (0.05, 3);
    let s = konst(&mut g, "so", Tensor::scalar_f32(so));
    let z = konst(&mut g, "zo", Tensor::U8(tensor(&[], vec![zo])));
    let q = node(&mut g, "q_out", Op::QuantizeLinear(QuantizeLinear::default()), vec![Some(r), s, z], "r_q");
    let s = konst(&mut g, "so2", Tensor::scalar_f32(so));
    let z = konst(&mut g, "zo2", Tensor::U8(tensor(&[], vec![zo])));
    let out = node(&mut g, "dq_out", Op::DequantizeLinear(DequantizeLinear::default()), vec![Some(q), s, z], "out");
    g.outputs_mut().push(out);
    let x = Tensor::F32(tensor(&[n, c, h, w], values(n * c * h * w, 13, -4.0, 6.0)));
    let (yf, _, _) = run(&g, false, true, &x);
    let (yi, nodes, seen) = run(&g, true, true, &x);
    assert_eq!(nodes, ["conv"]);
    // The u8 output comes from the convolution; its f32 output is gone.
    assert!(seen.contains(&"r_q".to_string()) && !seen.contains(&"r".to_string()), "{seen:?}");
    assert_eq!(yi.len(), yf.len());
    let mut moved = 0;
    for (a, b) in yi.iter().zip(&yf) {
        assert!((a - b).abs() <= so * 1.001, "{a} vs {b}");
        moved += usize::from(a != b);
    }
    assert!(moved * 100 <= yi.len(), "{moved} of {} outputs moved a step", yi.len());
}

#[test]
fn quantized_residual_additions_run_in_one_u8_pass() {
    use ptq_ir::ops::binary::{Binary, BinaryKind};
    use ptq_ir::ops::unary::{Unary, UnaryKind};
    let (n, c, h, w) = (2, 3, 4, 5);
    // Same shapes, with and without Relu; then a [1, C, 1, 1] addend that broadcasts.
    for (relu, b_shape) in [(true, vec![n, c, h, w]), (false, vec![n, c, h, w]), (true, vec![1, c, 1, 1])] {
        let mut g = Graph::default();
        let (_, xdq) = quantized_input(&mut g, 0.04, 120);
        let len: usize = b_shape.iter().product();
        let bq = konst(&mut g, "bq", Tensor::U8(tensor(&b_shape, (0..len).map(|i| (i * 37 % 251) as u8).collect())));
        let s = konst(&mut g, "sb", Tensor::scalar_f32(0.03));
        let z = konst(&mut g, "zb", Tensor::U8(tensor(&[], vec![100])));
        let bdq = node(&mut g, "dq_b", Op::DequantizeLinear(DequantizeLinear::default()), vec![bq, s, z], "b_dq");
        let mut v =
            node(&mut g, "add", Op::Binary(Binary { kind: BinaryKind::Add }), vec![Some(xdq), Some(bdq)], "sum");
        if relu {
            v = node(&mut g, "relu", Op::Unary(Unary { kind: UnaryKind::Relu }), vec![Some(v)], "r");
        }
        let s = konst(&mut g, "so", Tensor::scalar_f32(0.05));
        let z = konst(&mut g, "zo", Tensor::U8(tensor(&[], vec![90])));
        let q = node(&mut g, "q_out", Op::QuantizeLinear(QuantizeLinear::default()), vec![Some(v), s, z], "s_q");
        let s = konst(&mut g, "so2", Tensor::scalar_f32(0.05));
        let z = konst(&mut g, "zo2", Tensor::U8(tensor(&[], vec![90])));
        let out = node(&mut g, "dq_out", Op::DequantizeLinear(DequantizeLinear::default()), vec![Some(q), s, z], "out");
        g.outputs_mut().push(out);
        let x = Tensor::F32(tensor(&[n, c, h, w], values(n * c * h * w, 21, -5.0, 5.0)));
        let (yf, _, _) = run(&g, false, true, &x);
        let (yi, nodes, seen) = run(&g, true, true, &x);
        assert_eq!(nodes, ["add"], "relu {relu} {b_shape:?}");
        assert!(seen.contains(&"s_q".to_string()) && !seen.contains(&"sum".to_string()), "{seen:?}");
        // The same float operations in the same order: exactly equal.
        assert_eq!(yi, yf, "relu {relu} {b_shape:?}");
    }
}
