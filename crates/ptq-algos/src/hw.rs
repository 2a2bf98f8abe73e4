//! The CPU hardware setup: what each op does with quantizers.
//!
//! The per-op facts live on the op itself ([`Op::quant_role`],
//! [`Op::weight_axis`], [`Op::float_in_transformers`] in
//! `ptq_ir::ops::facts`), matched exhaustively so that a new op must be
//! decided there; this module adds the graph-level facts placement needs
//! and names the role type as placement uses it.

use ptq_ir::{Graph, NodeId, Op};

/// What an op type does with quantizers.
pub use ptq_ir::ops::facts::QuantRole as Role;

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

/// Whether `op` is a Relu or a Clip: the activations a Q/DQ runtime fuses
/// into the convolution (or GEMM) in front of it.
pub fn fused_activation(op: &Op) -> bool {
    matches!(op, Op::Unary(u) if u.kind == ptq_ir::ops::unary::UnaryKind::Relu) || matches!(op, Op::Clip(_))
}

#[cfg(test)]
mod tests {
    use ptq_ir::ops::binary::{Binary, BinaryKind};
    use ptq_ir::ops::concat::Concat;
    use ptq_ir::ops::matmul::MatMul;
    use ptq_ir::ops::reshape::Reshape;
    use ptq_ir::ops::unary::{Unary, UnaryKind};

    use super::*;

    #[test]
    fn roles_follow_nncf_cpu_setup() {
        assert_eq!(Op::MatMul(MatMul).quant_role(), Role::Quantizable { inputs: &[0, 1], weight: Some(1) });
        assert_eq!(
            Op::Binary(Binary { kind: BinaryKind::Pow }).quant_role(),
            Role::Quantizable { inputs: &[0], weight: None }
        );
        assert_eq!(Op::Reshape(Reshape { allowzero: false }).quant_role(), Role::Agnostic);
        assert_eq!(Op::Concat(Concat { axis: 1 }).quant_role(), Role::Concat);
        assert_eq!(Op::Unary(Unary { kind: UnaryKind::Sigmoid }).quant_role(), Role::Float);
        assert_eq!(Op::MatMul(MatMul).weight_axis(3), Some(2));
        assert!(Op::Binary(Binary { kind: BinaryKind::Add }).float_in_transformers());
        assert!(!Op::MatMul(MatMul).float_in_transformers());
    }

    #[test]
    fn quantizable_weight_slot_is_not_an_activation_slot_except_matmul() {
        // Conv's weight is not an activation input; MatMul's and Gemm's may be either.
        let conv = ptq_ir::ops::conv::Conv::default();
        let Role::Quantizable { inputs, weight: Some(w) } = Op::Conv(conv).quant_role() else { panic!() };
        assert!(!inputs.contains(&w));
        let Role::Quantizable { inputs, weight: Some(w) } = Op::MatMul(MatMul).quant_role() else { panic!() };
        assert!(inputs.contains(&w));
    }
}
