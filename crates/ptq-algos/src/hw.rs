//! The CPU hardware table, as data: what each op type does with quantizers.
//!
//! Follows NNCF's CPU setup (`common/hardware/setups/cpu.py`) in ONNX op
//! names: ops whose inputs run in int8 ("quantizable"), ops a quantizer can
//! move through unchanged ("agnostic"), and Concat, whose inputs share one
//! scale. Ops absent from the table run in float and stop quantizers.

use ptq_ir::{Graph, NodeId, Op};

/// What an op type does with quantizers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
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

/// The CPU table: op type → role.
pub const CPU: &[(&str, Role)] = &[
    ("Conv", Role::Quantizable { inputs: &[0], weight: Some(1) }),
    ("ConvTranspose", Role::Quantizable { inputs: &[0], weight: Some(1) }),
    ("MatMul", Role::Quantizable { inputs: &[0, 1], weight: Some(1) }),
    ("Gemm", Role::Quantizable { inputs: &[0, 1], weight: Some(1) }),
    ("Add", Role::Quantizable { inputs: &[0, 1], weight: None }),
    ("Sub", Role::Quantizable { inputs: &[0, 1], weight: None }),
    ("Mul", Role::Quantizable { inputs: &[0, 1], weight: None }),
    ("Div", Role::Quantizable { inputs: &[0, 1], weight: None }),
    ("Max", Role::Quantizable { inputs: &[0, 1], weight: None }),
    ("Min", Role::Quantizable { inputs: &[0, 1], weight: None }),
    ("Less", Role::Quantizable { inputs: &[0, 1], weight: None }),
    ("LessOrEqual", Role::Quantizable { inputs: &[0, 1], weight: None }),
    ("Greater", Role::Quantizable { inputs: &[0, 1], weight: None }),
    ("GreaterOrEqual", Role::Quantizable { inputs: &[0, 1], weight: None }),
    ("Equal", Role::Quantizable { inputs: &[0, 1], weight: None }),
    ("Pow", Role::Quantizable { inputs: &[0], weight: None }),
    ("AveragePool", Role::Quantizable { inputs: &[0], weight: None }),
    ("GlobalAveragePool", Role::Quantizable { inputs: &[0], weight: None }),
    ("ReduceMean", Role::Quantizable { inputs: &[0], weight: None }),
    ("ReduceSum", Role::Quantizable { inputs: &[0], weight: None }),
    ("ReduceL2", Role::Quantizable { inputs: &[0], weight: None }),
    ("LpNormalization", Role::Quantizable { inputs: &[0], weight: None }),
    ("MeanVarianceNormalization", Role::Quantizable { inputs: &[0], weight: None }),
    ("GroupNormalization", Role::Quantizable { inputs: &[0], weight: None }),
    ("Resize", Role::Quantizable { inputs: &[0], weight: None }),
    ("MaxPool", Role::Agnostic),
    ("GlobalMaxPool", Role::Agnostic),
    ("ReduceMax", Role::Agnostic),
    ("Reshape", Role::Agnostic),
    ("Flatten", Role::Agnostic),
    ("Squeeze", Role::Agnostic),
    ("Unsqueeze", Role::Agnostic),
    ("Transpose", Role::Agnostic),
    ("Slice", Role::Agnostic),
    ("Split", Role::Agnostic),
    ("Tile", Role::Agnostic),
    ("Expand", Role::Agnostic),
    ("Pad", Role::Agnostic),
    ("DepthToSpace", Role::Agnostic),
    ("SpaceToDepth", Role::Agnostic),
    ("Identity", Role::Agnostic),
    ("Dropout", Role::Agnostic),
    ("Concat", Role::Concat),
];

/// Op types a transformer model keeps in float (NNCF's ignored metatypes for
/// `ModelType.TRANSFORMER`): only MatMul, Gemm and Conv inputs stay
/// quantized.
pub const TRANSFORMER_FLOAT: &[&str] = &[
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Pow",
    "Sqrt",
    "Squeeze",
    "AveragePool",
    "ReduceMean",
    "ReduceL2",
    "ReduceSum",
    "Max",
    "Greater",
    "GreaterOrEqual",
    "Less",
    "LessOrEqual",
    "Equal",
    "BatchNormalization",
    "InstanceNormalization",
    "LayerNormalization",
    "MeanVarianceNormalization",
    "GroupNormalization",
];

/// The role of `op` on CPU.
pub fn role(op: &Op) -> Role {
    let name = op.name();
    CPU.iter().find(|(n, _)| *n == name).map_or(Role::Float, |&(_, r)| r)
}

/// Axis of a weight's output channels for per-channel quantization, given
/// the weight's rank: Conv [M, C/g, k..] → 0, ConvTranspose [C, M/g, k..] →
/// 1, MatMul B [.., K, N] → last, Gemm B → 0 with `transB`, else 1. `None`
/// quantizes per tensor.
pub fn weight_axis(op: &Op, rank: usize) -> Option<usize> {
    match op {
        Op::Conv(_) if rank >= 2 => Some(0),
        Op::ConvTranspose(_) if rank >= 2 => Some(1),
        Op::MatMul(_) if rank >= 2 => Some(rank - 1),
        Op::Gemm(g) if rank == 2 => Some(if g.trans_b { 0 } else { 1 }),
        _ => None,
    }
}

/// The input channel count of node `n` when it is a depthwise convolution
/// (NNCF's DepthwiseConvolution metatype): a Conv with more than one group
/// and one input channel per group, its weight `[M, 1, k...]` with M a
/// multiple of the groups, reading a tensor of rank 3 or more.
pub fn depthwise_channels(g: &Graph, n: NodeId) -> Option<usize> {
    let node = g.node(n)?;
    let Op::Conv(op) = &node.op else { return None };
    let groups = usize::try_from(op.group).ok().filter(|&c| c > 1)?;
    let w = node.inputs.get(1).copied().flatten()?;
    let ws = g.value(w).fact.shape.as_ref()?;
    let (Some(m), Some(1)) = (ws.first().and_then(|d| d.known()), ws.get(1).and_then(|d| d.known())) else {
        return None;
    };
    let x = node.inputs.first().copied().flatten()?;
    let rank = g.value(x).fact.shape.as_ref().map(|s| s.len())?;
    (ws.len() >= 3 && rank >= 3 && m % groups as u64 == 0).then_some(groups)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_op_type_appears_once() {
        let mut seen = HashSet::new();
        for (name, _) in CPU {
            assert!(seen.insert(name), "{name} listed twice");
        }
    }

    #[test]
    fn quantizable_weight_slot_is_not_an_activation_slot_except_matmul() {
        for (name, r) in CPU {
            if let Role::Quantizable { weight: Some(w), inputs } = r {
                assert!(inputs.contains(w) == matches!(*name, "MatMul" | "Gemm"), "{name}");
            }
        }
    }
}
