//! A small graph builder for unit tests.

use ndarray::{ArrayD, IxDyn};
use ptq_ir::ops::binary::{Binary, BinaryKind};
use ptq_ir::ops::conv::Conv;
use ptq_ir::ops::matmul::MatMul;
use ptq_ir::ops::pool::{Pool, PoolKind};
use ptq_ir::ops::spatial::AutoPad;
use ptq_ir::ops::unary::{Unary, UnaryKind};
use ptq_ir::{ConstSource, DType, Fact, Graph, Node, Op, Tensor, Value, ValueId};

/// Builds graphs node by node; every value is f32.
#[derive(Debug, Default)]
pub struct G {
    pub g: Graph,
}

impl G {
    pub fn input(&mut self, name: &str, shape: &[usize]) -> ValueId {
        let v = self.g.add_value(Value {
            name: name.into(),
            fact: Fact::new(DType::F32, ptq_ir::fact::known_shape(shape)),
            ..Value::default()
        });
        self.g.inputs_mut().push(v);
        v
    }

    pub fn weight(&mut self, name: &str, shape: &[usize]) -> ValueId {
        let n: usize = shape.iter().product();
        let data: Vec<f32> = (0..n).map(|i| ((i * 37 % 17) as f32 - 8.0) / 8.0).collect();
        let t = Tensor::F32(ArrayD::from_shape_vec(IxDyn(shape), data).unwrap_or_default());
        self.g.add_constant(name, t, ConstSource::Stored)
    }

    pub fn node(&mut self, name: &str, op: impl Into<Op>, inputs: &[ValueId]) -> ValueId {
        let out = self.g.add_value(Value {
            name: format!("{name}_out"),
            fact: Fact::dtype_only(Some(DType::F32)),
            ..Value::default()
        });
        self.g.add_node(Node {
            name: name.into(),
            op: op.into(),
            inputs: inputs.iter().map(|&v| Some(v)).collect(),
            outputs: vec![Some(out)],
            doc: String::new(),
            meta: vec![],
        });
        out
    }

    pub fn output(&mut self, v: ValueId) {
        self.g.outputs_mut().push(v);
    }
}

pub fn conv() -> Conv {
    Conv { group: 1, pads: Some(vec![1, 1, 1, 1]), auto_pad: AutoPad::NotSet, ..Conv::default() }
}

pub fn relu() -> Unary {
    Unary { kind: UnaryKind::Relu }
}

pub fn sigmoid() -> Unary {
    Unary { kind: UnaryKind::Sigmoid }
}

pub fn add() -> Binary {
    Binary { kind: BinaryKind::Add }
}

pub fn mul() -> Binary {
    Binary { kind: BinaryKind::Mul }
}

pub fn matmul() -> MatMul {
    MatMul
}

pub fn max_pool() -> Pool {
    Pool {
        kind: PoolKind::Max,
        auto_pad: AutoPad::NotSet,
        ceil_mode: false,
        count_include_pad: false,
        dilations: None,
        kernel_shape: vec![2, 2],
        pads: None,
        storage_order: 0,
        strides: Some(vec![2, 2]),
    }
}

/// x → conv1 → relu → {conv2, conv3} → add → maxpool → conv4, with eight
/// calibration items: conv2 and conv3 share their input quantizer.
pub fn conv_chain() -> (Graph, Vec<crate::calibrate::Item>) {
    let mut b = G::default();
    let x = b.input("x", &[1, 2, 6, 6]);
    let w1 = b.weight("w1", &[4, 2, 3, 3]);
    let c1 = b.node("conv1", conv(), &[x, w1]);
    let r = b.node("relu1", relu(), &[c1]);
    let w2 = b.weight("w2", &[4, 4, 3, 3]);
    let w3 = b.weight("w3", &[4, 4, 3, 3]);
    let c2 = b.node("conv2", conv(), &[r, w2]);
    let c3 = b.node("conv3", conv(), &[r, w3]);
    let s = b.node("add", add(), &[c2, c3]);
    let p = b.node("pool", max_pool(), &[s]);
    let w4 = b.weight("w4", &[2, 4, 3, 3]);
    let c4 = b.node("conv4", conv(), &[p, w4]);
    b.output(c4);
    let items = (0..8)
        .map(|k| {
            let data: Vec<f32> = (0..72).map(|i| (((i * 7 + k * 13) % 23) as f32 - 11.0) / 5.0).collect();
            vec![("x".to_string(), Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[1, 2, 6, 6]), data).unwrap_or_default()))]
        })
        .collect();
    (b.g, items)
}

/// x → conv1 → relu → dw (depthwise 3x3) → relu → conv2 → output, and
/// relu's output also read by `side` when `shared`.
pub fn depthwise_block(shared: bool) -> G {
    let mut b = G::default();
    let x = b.input("x", &[1, 2, 8, 8]);
    let w1 = b.weight("w1", &[4, 2, 3, 3]);
    let c1 = b.node("conv1", conv(), &[x, w1]);
    let r1 = b.node("relu1", relu(), &[c1]);
    let wd = b.weight("wd", &[4, 1, 3, 3]);
    let d = b.node("dw", Conv { group: 4, ..conv() }, &[r1, wd]);
    let r2 = b.node("relu2", relu(), &[d]);
    let w2 = b.weight("w2", &[4, 4, 3, 3]);
    let c2 = b.node("conv2", conv(), &[r2, w2]);
    b.output(c2);
    if shared {
        let w3 = b.weight("w3", &[4, 4, 3, 3]);
        let side = b.node("side", conv(), &[r1, w3]);
        b.output(side);
    }
    ptq_ir::infer::infer_facts(&mut b.g).unwrap();
    b
}

/// A constant f32 vector.
pub fn vector(b: &mut G, name: &str, v: &[f32]) -> ValueId {
    b.g.add_constant(name, Tensor::from_f32s(v), ConstSource::Stored)
}

/// x → conv1 (+bias) → relu → conv2 (+bias) → relu → conv3 (+bias), with
/// twelve calibration items of inputs centred off zero.
pub fn biased_conv_chain() -> (Graph, Vec<crate::calibrate::Item>) {
    let mut b = G::default();
    let x = b.input("x", &[1, 3, 6, 6]);
    let w1 = b.weight("w1", &[6, 3, 3, 3]);
    let b1 = vector(&mut b, "b1", &[0.3, -0.2, 0.5, 0.1, -0.4, 0.25]);
    let c1 = b.node("conv1", conv(), &[x, w1, b1]);
    let r1 = b.node("relu1", relu(), &[c1]);
    let w2 = b.weight("w2", &[5, 6, 3, 3]);
    let b2 = vector(&mut b, "b2", &[0.2, 0.7, -0.3, 0.15, -0.05]);
    let c2 = b.node("conv2", conv(), &[r1, w2, b2]);
    let r2 = b.node("relu2", relu(), &[c2]);
    let w3 = b.weight("w3", &[4, 5, 3, 3]);
    let b3 = vector(&mut b, "b3", &[0.1, -0.1, 0.2, -0.2]);
    let c3 = b.node("conv3", conv(), &[r2, w3, b3]);
    b.output(c3);
    ptq_ir::infer::infer_facts(&mut b.g).unwrap();
    let items = (0..12)
        .map(|k| {
            let data: Vec<f32> = (0..108).map(|i| (((i * 11 + k * 5) % 29) as f32 - 9.0) / 6.0).collect();
            vec![("x".to_string(), Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[1, 3, 6, 6]), data).unwrap_or_default()))]
        })
        .collect();
    (b.g, items)
}
