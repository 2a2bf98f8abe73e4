//! What the rest of ptq knows about each op, declared once.
//!
//! Every method here matches every [`Op`] variant (and every kind of the
//! kind-carrying ops) without a wildcard arm, so adding a variant to
//! `define_ops!` or a kind to an op makes the compiler name each fact that
//! must be decided for it. Opaque ops are decided by their ONNX op type.
//!
//! The quantization role follows NNCF's CPU hardware setup
//! (`common/hardware/setups/cpu.py`): ops whose inputs run in int8
//! ("quantizable"), ops a quantizer can move through unchanged
//! ("agnostic"), and Concat, whose inputs share one scale. Every other op
//! runs in float and stops quantizers.

use super::Op;
use super::binary::BinaryKind;
use super::pool::PoolKind;
use super::reduce::ReduceKind;
use super::unary::UnaryKind;
use super::variadic::VariadicKind;

/// What an op does with 8-bit quantizers on CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuantRole {
    /// The activation inputs at `inputs` take int8; `weight` is the slot of
    /// a weight that gets its own per-channel quantizer when it is a
    /// constant.
    Quantizable { inputs: &'static [usize], weight: Option<usize> },
    /// Data input 0 passes through unchanged in value set (MaxPool, Reshape,
    /// Transpose...): a quantizer on the output may move to the input.
    Agnostic,
    /// Inputs are concatenated: quantizers moving up through it are cloned
    /// onto every input and share one scale.
    Concat,
    /// Runs in float; quantizers do not cross it.
    Float,
}

const WEIGHTED: QuantRole = QuantRole::Quantizable { inputs: &[0], weight: Some(1) };
const TWO_OPERANDS_WEIGHTED: QuantRole = QuantRole::Quantizable { inputs: &[0, 1], weight: Some(1) };
const TWO_OPERANDS: QuantRole = QuantRole::Quantizable { inputs: &[0, 1], weight: None };
const FIRST: QuantRole = QuantRole::Quantizable { inputs: &[0], weight: None };

/// Opaque op types NNCF quantizes (input 0).
const OPAQUE_QUANTIZABLE: &[&str] = &["LpNormalization", "MeanVarianceNormalization", "GroupNormalization"];

fn pool_role(kind: PoolKind) -> QuantRole {
    match kind {
        PoolKind::Avg => FIRST,
        PoolKind::Max => QuantRole::Agnostic,
    }
}

impl Op {
    /// The op's role for quantizer placement on CPU (see the module docs).
    pub fn quant_role(&self) -> QuantRole {
        use QuantRole::{Agnostic, Float};
        match self {
            Op::Conv(_) | Op::ConvTranspose(_) => WEIGHTED,
            Op::MatMul(_) | Op::Gemm(_) => TWO_OPERANDS_WEIGHTED,
            Op::Binary(b) => match b.kind {
                BinaryKind::Add
                | BinaryKind::Sub
                | BinaryKind::Mul
                | BinaryKind::Div
                | BinaryKind::Less
                | BinaryKind::LessOrEqual
                | BinaryKind::Greater
                | BinaryKind::GreaterOrEqual
                | BinaryKind::Equal => TWO_OPERANDS,
                BinaryKind::Pow => FIRST,
                BinaryKind::Mod { .. } | BinaryKind::And | BinaryKind::Or | BinaryKind::Xor | BinaryKind::PRelu => {
                    Float
                }
            },
            Op::Variadic(v) => match v.kind {
                VariadicKind::Max | VariadicKind::Min => TWO_OPERANDS,
                VariadicKind::Sum | VariadicKind::Mean => Float,
            },
            Op::Pool(p) => pool_role(p.kind),
            Op::GlobalPool(p) => pool_role(p.kind),
            Op::Reduce(r) => match r.kind {
                ReduceKind::Mean | ReduceKind::Sum | ReduceKind::L2 => FIRST,
                ReduceKind::Max => Agnostic,
                ReduceKind::Min
                | ReduceKind::Prod
                | ReduceKind::L1
                | ReduceKind::LogSum
                | ReduceKind::LogSumExp
                | ReduceKind::SumSquare => Float,
            },
            Op::Resize(_) => FIRST,
            Op::Unary(u) => match u.kind {
                UnaryKind::Identity => Agnostic,
                UnaryKind::Relu
                | UnaryKind::Sigmoid
                | UnaryKind::Tanh
                | UnaryKind::Sqrt
                | UnaryKind::Exp
                | UnaryKind::Log
                | UnaryKind::Neg
                | UnaryKind::Abs
                | UnaryKind::Reciprocal
                | UnaryKind::Floor
                | UnaryKind::Ceil
                | UnaryKind::Round
                | UnaryKind::Erf
                | UnaryKind::Sign
                | UnaryKind::Sin
                | UnaryKind::Cos
                | UnaryKind::Softplus
                | UnaryKind::Softsign
                | UnaryKind::HardSwish
                | UnaryKind::Mish
                | UnaryKind::Not
                | UnaryKind::IsNaN
                | UnaryKind::LeakyRelu { .. }
                | UnaryKind::HardSigmoid { .. }
                | UnaryKind::Elu { .. }
                | UnaryKind::Selu { .. }
                | UnaryKind::Celu { .. }
                | UnaryKind::ThresholdedRelu { .. }
                | UnaryKind::Gelu { .. } => Float,
            },
            Op::Reshape(_)
            | Op::Flatten(_)
            | Op::Squeeze(_)
            | Op::Unsqueeze(_)
            | Op::Transpose(_)
            | Op::Slice(_)
            | Op::Split(_)
            | Op::Tile(_)
            | Op::Expand(_)
            | Op::Pad(_)
            | Op::DepthToSpace(_)
            | Op::SpaceToDepth(_)
            | Op::Dropout(_) => Agnostic,
            Op::Concat(_) => QuantRole::Concat,
            Op::Opaque(o) if OPAQUE_QUANTIZABLE.contains(&o.op_type.as_str()) => FIRST,
            Op::Opaque(_)
            | Op::BatchNorm(_)
            | Op::Clip(_)
            | Op::Softmax(_)
            | Op::LayerNorm(_)
            | Op::InstanceNorm(_)
            | Op::Gather(_)
            | Op::GatherElements(_)
            | Op::ArgReduce(_)
            | Op::TopK(_)
            | Op::ShapeOf(_)
            | Op::Size(_)
            | Op::ConstantOfShape(_)
            | Op::Range(_)
            | Op::Cast(_)
            | Op::Where(_)
            | Op::Rnn(_)
            | Op::If(_)
            | Op::Loop(_)
            | Op::Scan(_)
            | Op::QuantizeLinear(_)
            | Op::DequantizeLinear(_)
            | Op::FakeQuantize(_) => Float,
        }
    }

    /// Axis of the weight's output channels for per-channel quantization,
    /// given the weight's rank: Conv `[M, C/g, k..]` → 0, ConvTranspose
    /// `[C, M/g, k..]` → 1, MatMul B `[.., K, N]` → last, Gemm B → 0 with
    /// `transB`, else 1. `None` quantizes per tensor (and for every op
    /// without a weight).
    pub fn weight_axis(&self, rank: usize) -> Option<usize> {
        match self {
            Op::Conv(_) => (rank >= 2).then_some(0),
            Op::ConvTranspose(_) => (rank >= 2).then_some(1),
            Op::MatMul(_) => (rank >= 2).then(|| rank - 1),
            Op::Gemm(g) => (rank == 2).then_some(if g.trans_b { 0 } else { 1 }),
            Op::BatchNorm(_)
            | Op::Pool(_)
            | Op::GlobalPool(_)
            | Op::Unary(_)
            | Op::Binary(_)
            | Op::Variadic(_)
            | Op::Clip(_)
            | Op::Softmax(_)
            | Op::LayerNorm(_)
            | Op::InstanceNorm(_)
            | Op::Reshape(_)
            | Op::Flatten(_)
            | Op::Transpose(_)
            | Op::Squeeze(_)
            | Op::Unsqueeze(_)
            | Op::Concat(_)
            | Op::Split(_)
            | Op::Slice(_)
            | Op::Gather(_)
            | Op::GatherElements(_)
            | Op::Expand(_)
            | Op::Tile(_)
            | Op::Pad(_)
            | Op::Resize(_)
            | Op::DepthToSpace(_)
            | Op::SpaceToDepth(_)
            | Op::Reduce(_)
            | Op::ArgReduce(_)
            | Op::TopK(_)
            | Op::ShapeOf(_)
            | Op::Size(_)
            | Op::ConstantOfShape(_)
            | Op::Range(_)
            | Op::Cast(_)
            | Op::Where(_)
            | Op::Dropout(_)
            | Op::Rnn(_)
            | Op::If(_)
            | Op::Loop(_)
            | Op::Scan(_)
            | Op::QuantizeLinear(_)
            | Op::DequantizeLinear(_)
            | Op::FakeQuantize(_)
            | Op::Opaque(_) => None,
        }
    }

    /// An op NNCF keeps in float for `ModelType.TRANSFORMER` (its ignored
    /// metatypes), so that only MatMul, Gemm and Conv inputs stay quantized.
    pub fn float_in_transformers(&self) -> bool {
        match self {
            Op::Binary(b) => matches!(
                b.kind,
                BinaryKind::Add
                    | BinaryKind::Sub
                    | BinaryKind::Mul
                    | BinaryKind::Div
                    | BinaryKind::Pow
                    | BinaryKind::Greater
                    | BinaryKind::GreaterOrEqual
                    | BinaryKind::Less
                    | BinaryKind::LessOrEqual
                    | BinaryKind::Equal
            ),
            Op::Unary(u) => u.kind == UnaryKind::Sqrt,
            Op::Variadic(v) => v.kind == VariadicKind::Max,
            Op::Pool(p) => p.kind == PoolKind::Avg,
            Op::Reduce(r) => matches!(r.kind, ReduceKind::Mean | ReduceKind::L2 | ReduceKind::Sum),
            Op::Squeeze(_) | Op::BatchNorm(_) | Op::InstanceNorm(_) | Op::LayerNorm(_) => true,
            Op::Opaque(o) => matches!(o.op_type.as_str(), "MeanVarianceNormalization" | "GroupNormalization"),
            Op::Conv(_)
            | Op::ConvTranspose(_)
            | Op::GlobalPool(_)
            | Op::Gemm(_)
            | Op::MatMul(_)
            | Op::Clip(_)
            | Op::Softmax(_)
            | Op::Reshape(_)
            | Op::Flatten(_)
            | Op::Transpose(_)
            | Op::Unsqueeze(_)
            | Op::Concat(_)
            | Op::Split(_)
            | Op::Slice(_)
            | Op::Gather(_)
            | Op::GatherElements(_)
            | Op::Expand(_)
            | Op::Tile(_)
            | Op::Pad(_)
            | Op::Resize(_)
            | Op::DepthToSpace(_)
            | Op::SpaceToDepth(_)
            | Op::ArgReduce(_)
            | Op::TopK(_)
            | Op::ShapeOf(_)
            | Op::Size(_)
            | Op::ConstantOfShape(_)
            | Op::Range(_)
            | Op::Cast(_)
            | Op::Where(_)
            | Op::Dropout(_)
            | Op::Rnn(_)
            | Op::If(_)
            | Op::Loop(_)
            | Op::Scan(_)
            | Op::QuantizeLinear(_)
            | Op::DequantizeLinear(_)
            | Op::FakeQuantize(_) => false,
        }
    }

    /// The outputs are a function of the inputs alone: running the op twice
    /// on the same inputs gives the same outputs and has no other effect.
    /// Dropout (random in training mode), control flow (whose bodies may
    /// hold anything) and opaque ops are not.
    pub fn is_pure(&self) -> bool {
        match self {
            Op::Dropout(_) | Op::If(_) | Op::Loop(_) | Op::Scan(_) | Op::Opaque(_) => false,
            Op::Conv(_)
            | Op::ConvTranspose(_)
            | Op::BatchNorm(_)
            | Op::Pool(_)
            | Op::GlobalPool(_)
            | Op::Gemm(_)
            | Op::MatMul(_)
            | Op::Unary(_)
            | Op::Binary(_)
            | Op::Variadic(_)
            | Op::Clip(_)
            | Op::Softmax(_)
            | Op::LayerNorm(_)
            | Op::InstanceNorm(_)
            | Op::Reshape(_)
            | Op::Flatten(_)
            | Op::Transpose(_)
            | Op::Squeeze(_)
            | Op::Unsqueeze(_)
            | Op::Concat(_)
            | Op::Split(_)
            | Op::Slice(_)
            | Op::Gather(_)
            | Op::GatherElements(_)
            | Op::Expand(_)
            | Op::Tile(_)
            | Op::Pad(_)
            | Op::Resize(_)
            | Op::DepthToSpace(_)
            | Op::SpaceToDepth(_)
            | Op::Reduce(_)
            | Op::ArgReduce(_)
            | Op::TopK(_)
            | Op::ShapeOf(_)
            | Op::Size(_)
            | Op::ConstantOfShape(_)
            | Op::Range(_)
            | Op::Cast(_)
            | Op::Where(_)
            | Op::Rnn(_)
            | Op::QuantizeLinear(_)
            | Op::DequantizeLinear(_)
            | Op::FakeQuantize(_) => true,
        }
    }

    /// The output holds exactly the elements of data input 0, each once,
    /// reshaped or with its axes permuted (Reshape, Flatten, Squeeze,
    /// Unsqueeze, Transpose): such an op commutes with any element-wise
    /// function, a per-tensor quantizer included.
    pub fn rearranges_elements(&self) -> bool {
        match self {
            Op::Reshape(_) | Op::Flatten(_) | Op::Squeeze(_) | Op::Unsqueeze(_) | Op::Transpose(_) => true,
            Op::Conv(_)
            | Op::ConvTranspose(_)
            | Op::BatchNorm(_)
            | Op::Pool(_)
            | Op::GlobalPool(_)
            | Op::Gemm(_)
            | Op::MatMul(_)
            | Op::Unary(_)
            | Op::Binary(_)
            | Op::Variadic(_)
            | Op::Clip(_)
            | Op::Softmax(_)
            | Op::LayerNorm(_)
            | Op::InstanceNorm(_)
            | Op::Concat(_)
            | Op::Split(_)
            | Op::Slice(_)
            | Op::Gather(_)
            | Op::GatherElements(_)
            | Op::Expand(_)
            | Op::Tile(_)
            | Op::Pad(_)
            | Op::Resize(_)
            | Op::DepthToSpace(_)
            | Op::SpaceToDepth(_)
            | Op::Reduce(_)
            | Op::ArgReduce(_)
            | Op::TopK(_)
            | Op::ShapeOf(_)
            | Op::Size(_)
            | Op::ConstantOfShape(_)
            | Op::Range(_)
            | Op::Cast(_)
            | Op::Where(_)
            | Op::Dropout(_)
            | Op::Rnn(_)
            | Op::If(_)
            | Op::Loop(_)
            | Op::Scan(_)
            | Op::QuantizeLinear(_)
            | Op::DequantizeLinear(_)
            | Op::FakeQuantize(_)
            | Op::Opaque(_) => false,
        }
    }
}
