use std::collections::HashMap;

use ptq_ir::{Graph, Op, Tensor, ValueId};

use crate::placement::{ActQuantizer, Scheme, WeightQuantizer};
use crate::qdq::{Plan, apply};
use crate::spec::{symmetric_activation, symmetric_weight};
use crate::testgraph::*;

/// The node that writes `v`.
fn producer(g: &Graph, v: ValueId) -> &ptq_ir::Node {
    g.iter_nodes().map(|(_, n)| n).find(|n| n.outputs.first().copied().flatten() == Some(v)).unwrap()
}

/// What `layer` reads at input `slot`.
fn input(g: &Graph, layer: &str, slot: usize) -> ValueId {
    g.iter_nodes().find(|(_, n)| n.name == layer).and_then(|(_, n)| n.inputs[slot]).unwrap()
}

#[test]
fn biases_are_int32_only_where_the_output_is_quantized_and_repeats_share_parameters() {
    // x → conv1 → relu → conv2 → pool → conv3 → output; every input and
    // weight quantized, and conv2's output (read by the pool) too.
    let mut b = G::default();
    let x = b.input("x", &[1, 2, 6, 6]);
    let (w1, b1) = (b.weight("w1", &[4, 2, 3, 3]), vector(&mut b, "b1", &[0.1; 4]));
    let c1 = b.node("conv1", conv(), &[x, w1, b1]);
    let r = b.node("relu", relu(), &[c1]);
    let (w2, b2) = (b.weight("w2", &[4, 4, 3, 3]), vector(&mut b, "b2", &[0.2; 4]));
    let c2 = b.node("conv2", conv(), &[r, w2, b2]);
    let p = b.node("pool", max_pool(), &[c2]);
    let (w3, b3) = (b.weight("w3", &[2, 4, 3, 3]), vector(&mut b, "b3", &[0.3; 2]));
    let c3 = b.node("conv3", conv(), &[p, w3, b3]);
    b.output(c3);
    let mut g = b.g;
    let node = |g: &Graph, name: &str| g.iter_nodes().find(|(_, n)| n.name == name).unwrap().0;
    let act = |v: ValueId, reader: &str, slot: usize| {
        let q = ActQuantizer {
            value: v,
            readers: vec![(node(&g, reader), slot)],
            scheme: Scheme::Symmetric,
            unified: None,
            axis: None,
        };
        (q, symmetric_activation(4.0, true))
    };
    let acts = vec![act(x, "conv1", 0), act(r, "conv2", 0), act(c2, "pool", 0)];
    let weights: Vec<_> = [(w1, "conv1", 4), (w2, "conv2", 4), (w3, "conv3", 2)]
        .into_iter()
        .map(|(w, reader, m)| {
            let q =
                WeightQuantizer { value: w, readers: vec![(node(&g, reader), 1)], axis: Some(0), half_range: false };
            (q, symmetric_weight(&vec![1.0; m], Some(0), false))
        })
        .collect();
    apply(&mut g, &Plan { acts: &acts, weights: &weights, biases: &HashMap::new() }).unwrap();

    // conv1 (through its Relu) and conv2 write quantized tensors: int32
    // biases behind a DequantizeLinear with no zero point. conv3's output
    // stays float: its bias stays float too.
    for layer in ["conv1", "conv2"] {
        let dq = producer(&g, input(&g, layer, 2));
        assert!(matches!(dq.op, Op::DequantizeLinear(_)), "{layer}: {:?}", dq.op);
        assert_eq!(dq.inputs.len(), 2, "{layer}: a zero point");
        assert!(matches!(g.constant(dq.inputs[0].unwrap()), Some(Tensor::I32(_))), "{layer}");
    }
    let b3 = input(&g, "conv3", 2);
    assert!(matches!(g.constant(b3), Some(Tensor::F32(_))), "conv3's bias: {:?}", g.value(b3).name);

    // The pool's output repeats conv2's output quantizer with the same
    // scale and zero point constants.
    let q_of = |g: &Graph, dq_out: ValueId| {
        let dq = producer(g, dq_out);
        let q = producer(g, dq.inputs[0].unwrap());
        assert!(matches!(q.op, Op::QuantizeLinear(_)));
        (q.inputs[1], q.inputs[2], dq.inputs[1], dq.inputs[2])
    };
    let before_pool = q_of(&g, input(&g, "pool", 0));
    let after_pool = q_of(&g, input(&g, "conv3", 0));
    assert_eq!(before_pool, after_pool);

    // Names: q<N> for what the readers read, the weights keep theirs.
    let name = |v: ValueId| g.value(v).name.clone();
    assert_eq!(name(input(&g, "conv1", 0)), "q0");
    assert_eq!(name(producer(&g, input(&g, "conv1", 1)).inputs[0].unwrap()), "w1_quantized");
    assert!(g.iter_nodes().all(|(_, n)| n.name.len() < 24), "long names");
}
