//! Placement on small graphs.

use ptq_ir::ops::concat::Concat;
use ptq_ir::ops::flatten::Flatten;
use ptq_ir::ops::softmax::{Softmax, SoftmaxKind};

use crate::options::{ModelType, Preset, QuantizeOptions};
use crate::placement::{Placement, Scheme, place};
use crate::scope::{IgnoredScope, Subgraph};
use crate::testgraph::*;

fn names(g: &ptq_ir::Graph, p: &crate::placement::Placement) -> Vec<String> {
    p.acts.iter().map(|q| g.value(q.value).name.clone()).collect()
}

/// x → conv1 → relu → maxpool → conv2 → relu → output.
fn cnn() -> G {
    let mut b = G::default();
    let x = b.input("x", &[1, 2, 8, 8]);
    let w1 = b.weight("w1", &[4, 2, 3, 3]);
    let c1 = b.node("conv1", conv(), &[x, w1]);
    let r1 = b.node("relu1", relu(), &[c1]);
    let p = b.node("pool", max_pool(), &[r1]);
    let w2 = b.weight("w2", &[4, 4, 3, 3]);
    let c2 = b.node("conv2", conv(), &[p, w2]);
    let r2 = b.node("relu2", relu(), &[c2]);
    b.output(r2);
    b
}

#[test]
fn quantizers_move_up_through_max_pool_and_stop_at_relu() {
    let b = cnn();
    let p = place(&b.g, &QuantizeOptions::default()).unwrap();
    assert_eq!(names(&b.g, &p), ["x", "relu1_out"]);
    assert_eq!(p.weights.len(), 2);
    assert!(p.weights.iter().all(|w| w.axis == Some(0)));
    assert_eq!(p.preset, Some(Preset::Performance));
    assert!(p.acts.iter().all(|q| q.scheme == Scheme::Symmetric));
    // The default overflow fix decides after calibration (crate::overflow).
    assert!(p.weights.iter().all(|w| !w.half_range));
    // NNCF's default: the first convolution only.
    let opts = QuantizeOptions { overflow_fix: crate::OverflowFix::FirstLayer, ..QuantizeOptions::default() };
    let p = place(&b.g, &opts).unwrap();
    let half: Vec<bool> = p.weights.iter().map(|w| w.half_range).collect();
    assert_eq!(half.iter().filter(|&&h| h).count(), 1);
    assert!(p.weights.iter().any(|w| w.half_range && b.g.value(w.value).name == "w1"));
}

#[test]
fn a_branch_that_does_not_want_quantization_keeps_the_quantizer_on_the_edge() {
    let mut b = G::default();
    let x = b.input("x", &[1, 2, 8, 8]);
    let r = b.node("relu", relu(), &[x]);
    let w = b.weight("w", &[2, 2, 3, 3]);
    let c = b.node("conv", conv(), &[r, w]);
    let s = b.node("sig", sigmoid(), &[r]);
    b.output(c);
    b.output(s);
    let p = place(&b.g, &QuantizeOptions::default()).unwrap();
    assert_eq!(p.acts.len(), 1);
    let conv = b.g.find_node("conv").unwrap();
    assert_eq!(p.acts[0].readers, vec![(conv, 0)]);
}

#[test]
fn concat_inputs_share_one_scale_group() {
    let mut b = G::default();
    let x = b.input("x", &[1, 2, 8, 8]);
    let y = b.input("y", &[1, 2, 8, 8]);
    let rx = b.node("rx", relu(), &[x]);
    let ry = b.node("ry", relu(), &[y]);
    let cat = b.node("cat", Concat { axis: 1 }, &[rx, ry]);
    let w = b.weight("w", &[2, 4, 3, 3]);
    let c = b.node("conv", conv(), &[cat, w]);
    b.output(c);
    let p = place(&b.g, &QuantizeOptions::default()).unwrap();
    assert_eq!(names(&b.g, &p), ["rx_out", "ry_out"]);
    assert!(p.acts[0].unified.is_some() && p.acts[0].unified == p.acts[1].unified);
}

#[test]
fn bias_adds_and_decomposed_activations_get_no_quantizers_but_residual_adds_do() {
    let mut b = G::default();
    let x = b.input("x", &[1, 2, 8, 8]);
    let bias = b.weight("bias", &[1, 2, 1, 1]);
    let a = b.node("bias_add", add(), &[x, bias]);
    let s = b.node("sig", sigmoid(), &[a]);
    let swish = b.node("swish", mul(), &[a, s]);
    let w = b.weight("w", &[2, 2, 3, 3]);
    let c = b.node("conv", conv(), &[swish, w]);
    let res = b.node("residual", add(), &[c, x]);
    let w2 = b.weight("w2", &[2, 2, 3, 3]);
    let c2 = b.node("conv2", conv(), &[res, w2]);
    b.output(c2);
    let p = place(&b.g, &QuantizeOptions::default()).unwrap();
    let readers: Vec<String> = p.acts.iter().flat_map(|q| q.readers.iter().map(|&(n, _)| b.g.node_label(n))).collect();
    assert!(!readers.iter().any(|r| r == "bias_add" || r == "swish"), "{readers:?}");
    assert_eq!(readers.iter().filter(|r| *r == "residual").count(), 2, "{readers:?}");
    assert!(readers.iter().any(|r| r == "conv"), "{readers:?}");
}

#[test]
fn a_bias_computed_from_constants_is_a_bias_add_too() {
    // paddle2onnx writes a convolution's bias as Add(conv, Reshape(Constant)).
    let mut b = G::default();
    let x = b.input("x", &[1, 2, 8, 8]);
    let w = b.weight("w", &[2, 2, 3, 3]);
    let c = b.node("conv", conv(), &[x, w]);
    let raw = b.weight("raw_bias", &[2]);
    let shape = b.g.add_constant(
        "bias_shape",
        ptq_ir::Tensor::I64(ndarray::arr1(&[1i64, 2, 1, 1]).into_dyn()),
        ptq_ir::ConstSource::Stored,
    );
    let bias = b.node("bias_reshape", ptq_ir::ops::reshape::Reshape::default(), &[raw, shape]);
    let a = b.node("bias_add", add(), &[c, bias]);
    b.output(a);
    let p = place(&b.g, &QuantizeOptions::default()).unwrap();
    let readers: Vec<String> = p.acts.iter().flat_map(|q| q.readers.iter().map(|&(n, _)| b.g.node_label(n))).collect();
    assert_eq!(readers, vec!["conv".to_string()], "{:?}", names(&b.g, &p));
}

/// Q·Kᵀ → Softmax → ·V with linear layers: the transformer shape.
fn attention() -> G {
    let mut b = G::default();
    let x = b.input("x", &[1, 4, 8]);
    let wq = b.weight("wq", &[8, 8]);
    let wk = b.weight("wk", &[8, 8]);
    let q = b.node("q", matmul(), &[x, wq]);
    let k = b.node("k", matmul(), &[x, wk]);
    let scores = b.node("scores", matmul(), &[q, k]);
    let sm = b.node("softmax", Softmax { kind: SoftmaxKind::Softmax, axis: -1, coerce_2d: false }, &[scores]);
    let out = b.node("context", matmul(), &[sm, x]);
    let res = b.node("residual", add(), &[out, x]);
    let f = b.node("flat", Flatten { axis: 1 }, &[res]);
    b.output(f);
    b
}

#[test]
fn transformer_structure_is_detected_and_changes_the_defaults() {
    let b = attention();
    let p = place(&b.g, &QuantizeOptions::default()).unwrap();
    assert_eq!(p.model_type, Some(ModelType::Transformer));
    assert!(p.model_type_reason.contains("softmax"), "{}", p.model_type_reason);
    assert_eq!(p.preset, Some(Preset::Mixed));
    let ctx = b.g.find_node("context").unwrap();
    let res = b.g.find_node("residual").unwrap();
    assert!(p.ignored.contains_key(&ctx) && p.ignored.contains_key(&res));
    // act×act MatMul inputs are symmetric; the linear layers' input is asymmetric.
    let scores = b.g.find_node("scores").unwrap();
    for q in &p.acts {
        let want = if q.readers.iter().any(|&(n, _)| n == scores) { Scheme::Symmetric } else { Scheme::Asymmetric };
        assert_eq!(q.scheme, want, "{:?}", b.g.value(q.value).name);
    }
    let off = place(&b.g, &QuantizeOptions { detect_model_type: false, ..QuantizeOptions::default() }).unwrap();
    assert_eq!(off.model_type, None);
    assert!(!off.ignored.contains_key(&ctx));
}

#[test]
fn ignored_scope_rules_apply_and_unmatched_rules_are_errors() {
    let b = cnn();
    let scope = IgnoredScope {
        names: vec!["conv2".into()],
        patterns: vec!["rel".into()],
        types: vec!["MaxPool".into()],
        subgraphs: vec![Subgraph { inputs: vec!["conv1".into()], outputs: vec!["relu1".into()] }],
        strict: true,
    };
    let p = place(&b.g, &QuantizeOptions { ignored_scope: scope, ..QuantizeOptions::default() }).unwrap();
    assert_eq!(p.ignored.len(), 5, "{:?}", p.ignored);
    assert!(p.weights.is_empty() || p.weights.iter().all(|w| b.g.value(w.value).name != "w2"));
    assert!(p.acts.iter().all(|q| q.readers.iter().all(|&(n, _)| b.g.node_label(n) != "conv2")));
    let bad = IgnoredScope {
        names: vec!["nope".into()],
        patterns: vec!["^zzz".into()],
        types: vec!["LSTM".into()],
        strict: true,
        ..IgnoredScope::default()
    };
    let e = place(&b.g, &QuantizeOptions { ignored_scope: bad.clone(), ..QuantizeOptions::default() }).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("nope") && msg.contains("zzz") && msg.contains("LSTM"), "{msg}");
    let lax = IgnoredScope { strict: false, ..bad };
    assert!(place(&b.g, &QuantizeOptions { ignored_scope: lax, ..QuantizeOptions::default() }).is_ok());
}

#[test]
fn conv_outputs_read_by_float_ops_get_quantizers_only_when_asked() {
    // x → conv1 → sigmoid (float) → conv2 → relu → output.
    let mut b = G::default();
    let x = b.input("x", &[1, 2, 8, 8]);
    let w1 = b.weight("w1", &[4, 2, 3, 3]);
    let c1 = b.node("conv1", conv(), &[x, w1]);
    let s = b.node("sig", sigmoid(), &[c1]);
    let w2 = b.weight("w2", &[4, 4, 3, 3]);
    let c2 = b.node("conv2", conv(), &[s, w2]);
    let r2 = b.node("relu2", relu(), &[c2]);
    b.output(r2);
    let nncf = place(&b.g, &QuantizeOptions::default()).unwrap();
    assert_eq!(names(&b.g, &nncf), ["x", "sig_out"]);
    let opts = QuantizeOptions { quantize_conv_outputs: Some(true), ..QuantizeOptions::default() };
    let ort = place(&b.g, &opts).unwrap();
    // conv1's output feeds a float op: quantized; conv2's (through relu) is the graph output: float.
    assert_eq!(names(&b.g, &ort), ["x", "conv1_out", "sig_out"]);
    // The format's default (ONNX) adds them too, but not for the
    // transformer model type, unless asked for.
    let by_default = QuantizeOptions { conv_outputs_by_default: true, ..QuantizeOptions::default() };
    assert_eq!(names(&b.g, &place(&b.g, &by_default).unwrap()), ["x", "conv1_out", "sig_out"]);
    let transformer = QuantizeOptions { model_type: Some(crate::ModelType::Transformer), ..by_default.clone() };
    assert!(!names(&b.g, &place(&b.g, &transformer).unwrap()).contains(&"conv1_out".to_string()));
    let asked = QuantizeOptions { quantize_conv_outputs: Some(true), ..transformer };
    assert!(names(&b.g, &place(&b.g, &asked).unwrap()).contains(&"conv1_out".to_string()));
}

#[test]
fn a_convolution_whose_float_readers_lead_to_an_output_keeps_its_output_float() {
    // x → conv → relu → head conv → sigmoid → output (silero-vad's decoder):
    // quantizing the head's logits would round the answer itself.
    let mut b = G::default();
    let x = b.input("x", &[1, 2, 8, 8]);
    let w1 = b.weight("w1", &[4, 2, 3, 3]);
    let c1 = b.node("conv1", conv(), &[x, w1]);
    let r1 = b.node("relu1", relu(), &[c1]);
    let w2 = b.weight("w2", &[1, 4, 1, 1]);
    let head = b.node("head", conv(), &[r1, w2]);
    let s = b.node("sig", sigmoid(), &[head]);
    b.output(s);
    let opts = QuantizeOptions { quantize_conv_outputs: Some(true), ..QuantizeOptions::default() };
    let p = place(&b.g, &opts).unwrap();
    assert_eq!(names(&b.g, &p), ["x", "relu1_out"]);
}

#[test]
fn squeeze_and_excitation_gates_stay_float_and_their_mul_and_residual_add_are_quantized() {
    use ptq_ir::ops::global_pool::GlobalPool;
    use ptq_ir::ops::pool::PoolKind;
    use ptq_ir::ops::unary::{Unary, UnaryKind};
    let mut b = G::default();
    let x = b.input("x", &[1, 4, 8, 8]);
    let w = b.weight("w", &[4, 4, 3, 3]);
    let c = b.node("conv", conv(), &[x, w]);
    let r = b.node("relu", relu(), &[c]);
    let gap = b.node("gap", GlobalPool { kind: PoolKind::Avg }, &[r]);
    let w1 = b.weight("w1", &[2, 4, 1, 1]);
    let fc1 = b.node("fc1", conv(), &[gap, w1]);
    let a1 = b.node("act", relu(), &[fc1]);
    let w2 = b.weight("w2", &[4, 2, 1, 1]);
    let fc2 = b.node("fc2", conv(), &[a1, w2]);
    let gate = b.node("gate", Unary { kind: UnaryKind::HardSigmoid { alpha: 1.0 / 6.0, beta: 0.5 } }, &[fc2]);
    let scaled = b.node("scale", mul(), &[r, gate]);
    // x + x·gate(x), as PP-OCR's RSE layers write it: a residual add, not an
    // activation written out (the gate comes through convolutions).
    let res = b.node("residual", add(), &[r, scaled]);
    let w3 = b.weight("w3", &[4, 4, 1, 1]);
    let y = b.node("proj", conv(), &[res, w3]);
    b.output(y);
    let p = place(&b.g, &QuantizeOptions::default()).unwrap();
    let readers: Vec<String> = p.acts.iter().flat_map(|q| q.readers.iter().map(|&(n, _)| b.g.node_label(n))).collect();
    for inner in ["fc1", "act", "fc2", "gate"] {
        assert!(!readers.iter().any(|r| r == inner), "{inner}: {readers:?}");
        assert!(p.ignored.keys().any(|&n| b.g.node_label(n) == inner), "{inner} not ignored: {:?}", p.ignored);
    }
    assert_eq!(readers.iter().filter(|r| *r == "scale").count(), 2, "{readers:?}");
    assert_eq!(readers.iter().filter(|r| *r == "residual").count(), 2, "{readers:?}");
    assert!(readers.iter().any(|r| r == "proj"), "{readers:?}");
    // The gate's weights are stored in int8 all the same (weight only), per
    // output channel, unless turned off or in the user's ignored scope.
    let weights = |p: &Placement| -> Vec<(String, Option<usize>)> {
        p.weights.iter().flat_map(|q| q.readers.iter().map(|&(n, _)| (b.g.node_label(n), q.axis))).collect()
    };
    let w = weights(&p);
    for fc in ["fc1", "fc2"] {
        assert!(w.contains(&(fc.to_string(), Some(0))), "{fc}: {w:?}");
    }
    let off = place(&b.g, &QuantizeOptions { quantize_se_weights: false, ..QuantizeOptions::default() }).unwrap();
    let w = weights(&off);
    assert!(!w.iter().any(|(n, _)| n == "fc1" || n == "fc2"), "{w:?}");
    assert!(w.iter().any(|(n, _)| n == "proj"), "{w:?}");
    let scope = IgnoredScope { names: vec!["fc2".into()], ..IgnoredScope::new() };
    let user = place(&b.g, &QuantizeOptions { ignored_scope: scope, ..QuantizeOptions::default() }).unwrap();
    let w = weights(&user);
    assert!(w.iter().any(|(n, _)| n == "fc1") && !w.iter().any(|(n, _)| n == "fc2"), "{w:?}");
}

#[test]
fn a_tensor_read_only_by_depthwise_convolutions_is_quantized_per_channel() {
    let b = depthwise_block(false);
    let p = place(&b.g, &QuantizeOptions::default()).unwrap();
    let axes: Vec<(String, Option<usize>)> = p.acts.iter().map(|q| (b.g.value(q.value).name.clone(), q.axis)).collect();
    assert_eq!(axes, [("x".to_string(), None), ("relu1_out".to_string(), Some(1)), ("relu2_out".to_string(), None)]);
    // Also read by a dense convolution: one per-tensor quantizer serves both.
    let b = depthwise_block(true);
    let p = place(&b.g, &QuantizeOptions::default()).unwrap();
    let q = p.acts.iter().find(|q| b.g.value(q.value).name == "relu1_out").unwrap();
    assert_eq!((q.readers.len(), q.axis), (2, None));
    // Turned off (for TensorFlow): per tensor.
    let b = depthwise_block(false);
    let p =
        place(&b.g, &QuantizeOptions { per_channel_depthwise_inputs: false, ..QuantizeOptions::default() }).unwrap();
    assert!(p.acts.iter().all(|q| q.axis.is_none()));
}

#[test]
fn inputs_that_weightless_ops_carry_to_an_output_stay_float() {
    // x → conv → relu → GlobalAveragePool → output: the mean's
    // input quantizer would round the answer itself.
    use ptq_ir::ops::global_pool::GlobalPool;
    use ptq_ir::ops::pool::PoolKind;
    let mut b = G::default();
    let x = b.input("x", &[1, 2, 8, 8]);
    let w = b.weight("w", &[4, 2, 3, 3]);
    let c = b.node("conv", conv(), &[x, w]);
    let r = b.node("relu", relu(), &[c]);
    let m = b.node("mean", GlobalPool { kind: PoolKind::Avg }, &[r]);
    b.output(m);
    let p = place(&b.g, &QuantizeOptions::default()).unwrap();
    assert_eq!(names(&b.g, &p), ["x"]);
    assert!(p.ignored.values().any(|why| why.starts_with("model head")), "{:?}", p.ignored);
}

#[test]
fn a_depthwise_input_written_by_a_quantized_op_stays_per_tensor_but_a_bias_add_does_not_count() {
    // x → conv1 → [bias Add] → dw → relu → conv2 → output.
    let per_channel = |bias: bool| {
        let mut b = G::default();
        let x = b.input("x", &[1, 2, 8, 8]);
        let w1 = b.weight("w1", &[4, 2, 3, 3]);
        let mut v = b.node("conv1", conv(), &[x, w1]);
        if bias {
            let k = b.weight("k", &[1, 4, 1, 1]);
            v = b.node("bias", add(), &[v, k]);
        }
        let wd = b.weight("wd", &[4, 1, 3, 3]);
        let d = b.node("dw", ptq_ir::ops::conv::Conv { group: 4, ..conv() }, &[v, wd]);
        let r = b.node("relu", relu(), &[d]);
        let w2 = b.weight("w2", &[4, 4, 3, 3]);
        let c2 = b.node("conv2", conv(), &[r, w2]);
        b.output(c2);
        ptq_ir::infer::infer_facts(&mut b.g).unwrap();
        let p = place(&b.g, &QuantizeOptions::default()).unwrap();
        let dw_input = p.acts.iter().find(|q| q.readers.iter().any(|&(n, _)| b.g.node_label(n) == "dw")).unwrap();
        dw_input.axis
    };
    // onnxruntime would fuse conv1 with the quantizer after it into a
    // QLinearConv, which takes no per-channel output scale.
    assert_eq!(per_channel(false), None);
    assert_eq!(per_channel(true), Some(1));
}

#[test]
fn a_depthwise_input_after_a_float_op_with_a_quantized_input_is_per_channel() {
    // x → conv1 → sigmoid → dw → relu → conv2, with conv1's output
    // quantized for the sigmoid (--conv-outputs): onnxruntime fuses no
    // float op with its quantizers, so the depthwise input is per channel.
    let mut b = G::default();
    let x = b.input("x", &[1, 2, 8, 8]);
    let w1 = b.weight("w1", &[4, 2, 3, 3]);
    let c1 = b.node("conv1", conv(), &[x, w1]);
    let s = b.node("sig", sigmoid(), &[c1]);
    let wd = b.weight("wd", &[4, 1, 3, 3]);
    let d = b.node("dw", ptq_ir::ops::conv::Conv { group: 4, ..conv() }, &[s, wd]);
    let r = b.node("relu", relu(), &[d]);
    let w2 = b.weight("w2", &[4, 4, 3, 3]);
    let c2 = b.node("conv2", conv(), &[r, w2]);
    b.output(c2);
    ptq_ir::infer::infer_facts(&mut b.g).unwrap();
    let opts = QuantizeOptions { quantize_conv_outputs: Some(true), ..QuantizeOptions::default() };
    let p = place(&b.g, &opts).unwrap();
    assert!(p.acts.iter().any(|q| b.g.value(q.value).name == "conv1_out"), "{:?}", names(&b.g, &p));
    let q = p.acts.iter().find(|q| b.g.value(q.value).name == "sig_out").unwrap();
    assert_eq!(q.axis, Some(1));
}
