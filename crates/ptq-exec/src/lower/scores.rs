//! Attention's scores after `Q·Kᵀ`: a mask Add and a last-axis Softmax
//! that the integer MatMul ([`crate::lower::act_matmul`]) applies to each
//! output matrix right after computing it, while it is in cache, instead of
//! as two more passes over the whole scores tensor (part of
//! [`ExecOptions::integer`](crate::ExecOptions::integer)).
//!
//! The operations are those of the Add and Softmax nodes, on the same
//! values in the same order (f32 addition is commutative, and Softmax runs
//! `ptq_kernels::softmax_rows` either way), so the results are the same
//! bits.

use std::collections::HashMap;

use ndarray::ArrayD;
use ptq_ir::ops::binary::{Binary, BinaryKind};
use ptq_ir::ops::softmax::SoftmaxKind;
use ptq_ir::{Graph, NodeId, Op, ValueId};

use crate::lower::act_matmul::batches;
use crate::util::sole_reader;

/// What follows the product: the nodes the MatMul takes over, the value
/// it then writes, and the mask it adds (if any).
pub(crate) struct ScoresTail {
    pub removed: Vec<NodeId>,
    pub output: ValueId,
    pub mask: Option<ValueId>,
}

/// Matches `v → Softmax` or `v → Add(mask) → Softmax`, each node the only
/// reader of the value before it, the Softmax over the last axis, the mask
/// of a known rank no larger than the scores' (so the Add keeps the scores'
/// rank and the Softmax's axis means the same).
pub(crate) fn match_scores_tail(
    g: &Graph,
    consumers: &HashMap<ValueId, Vec<(NodeId, usize)>>,
    v: ValueId,
) -> Option<ScoresTail> {
    let rank = g.value(v).fact.shape.as_ref()?.len();
    let last_axis_softmax = |n: NodeId| match &g.node(n)?.op {
        Op::Softmax(s) if s.kind == SoftmaxKind::Softmax && s.is_last_axis(rank) => {
            g.node(n)?.outputs.first().copied().flatten()
        }
        _ => None,
    };
    let (r, slot) = sole_reader(g, consumers, v)?;
    let node = g.node(r)?;
    match &node.op {
        Op::Softmax(_) => Some(ScoresTail { removed: vec![r], output: last_axis_softmax(r)?, mask: None }),
        Op::Binary(Binary { kind: BinaryKind::Add }) if node.inputs.len() == 2 && slot < 2 => {
            let mask = node.inputs[1 - slot]?;
            (g.value(mask).fact.shape.as_ref()?.len() <= rank).then_some(())?;
            let add_out = node.outputs.first().copied().flatten()?;
            let (s, 0) = sole_reader(g, consumers, add_out)? else { return None };
            Some(ScoresTail { removed: vec![r, s], output: last_axis_softmax(s)?, mask: Some(mask) })
        }
        _ => None,
    }
}

/// Where a mask that broadcasts into the scores `[batch.., m, n]` without
/// enlarging them is read: per output matrix, the offset of its first row;
/// between rows and between columns, a stride (0 where the mask repeats).
pub(crate) struct MaskLayout {
    bases: Vec<usize>,
    row_stride: usize,
    col_stride: usize,
}

impl MaskLayout {
    /// The layout of a contiguous mask of shape `mask` against scores of
    /// shape `out` (rank ≥ 2), or None unless every mask axis (right
    /// aligned) is 1 or the scores' size and the mask's rank is no larger.
    pub(crate) fn new(mask: &[usize], out: &[usize]) -> Option<MaskLayout> {
        let r = out.len();
        (r >= 2 && mask.len() <= r).then_some(())?;
        let padded: Vec<usize> = std::iter::repeat_n(1, r - mask.len()).chain(mask.iter().copied()).collect();
        padded.iter().zip(out).all(|(&d, &o)| d == 1 || d == o).then_some(())?;
        // The mask's matrix for each output matrix, as for a MatMul operand.
        let (_, pairs) = batches(out, &padded).ok()?;
        let (rows, cols) = (padded[r - 2], padded[r - 1]);
        Some(MaskLayout {
            bases: pairs.iter().map(|&(_, im)| im * rows * cols).collect(),
            row_stride: if rows == 1 { 0 } else { cols },
            col_stride: usize::from(cols != 1),
        })
    }

    /// Adds the mask's part for output matrix `i` to `block`, its rows of
    /// `n` scores.
    pub(crate) fn add(&self, i: usize, block: &mut [f32], n: usize, mask: &[f32]) {
        if n == 0 {
            return;
        }
        for (row, scores) in block.chunks_exact_mut(n).enumerate() {
            let at = self.bases[i] + row * self.row_stride;
            if self.col_stride == 0 {
                let m = mask[at];
                scores.iter_mut().for_each(|v| *v += m);
            } else {
                scores.iter_mut().zip(&mask[at..at + n]).for_each(|(v, &m)| *v += m);
            }
        }
    }
}

/// The general case, for a mask [`MaskLayout`] does not take (one that
/// enlarges the scores when broadcast): the Add with NumPy broadcasting,
/// then the Softmax over the last axis, on the whole tensor.
pub(crate) fn add_then_softmax(scores: &ArrayD<f32>, mask: &ArrayD<f32>) -> Result<ArrayD<f32>, String> {
    let mut sum = (scores + mask).as_standard_layout().into_owned();
    let n = *sum.shape().last().ok_or("the scores have rank 0")?;
    // A fresh standard-layout array is one slice.
    if let Some(s) = sum.as_slice_mut()
        && n > 0
    {
        ptq_kernels::softmax_rows(s, n);
    }
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::MaskLayout;

    #[test]
    fn mask_layouts_follow_broadcasting() {
        // [2, 1, 1, 4] against [2, 3, 2, 4]: one row per batch, repeated.
        let l = MaskLayout::new(&[2, 1, 1, 4], &[2, 3, 2, 4]).unwrap();
        assert_eq!((l.bases, l.row_stride, l.col_stride), (vec![0, 0, 0, 4, 4, 4], 0, 1));
        // [2, 4] against [3, 2, 4]: the same matrix for every batch.
        let l = MaskLayout::new(&[2, 4], &[3, 2, 4]).unwrap();
        assert_eq!((l.bases, l.row_stride, l.col_stride), (vec![0, 0, 0], 4, 1));
        // A scalar per matrix.
        let l = MaskLayout::new(&[3, 1, 1], &[3, 2, 4]).unwrap();
        assert_eq!((l.bases, l.row_stride, l.col_stride), (vec![0, 1, 2], 0, 0));
        // Masks that would enlarge the scores.
        assert!(MaskLayout::new(&[2, 1, 4], &[1, 2, 4]).is_none());
        assert!(MaskLayout::new(&[1, 1, 2, 4], &[2, 4]).is_none());
    }

    #[test]
    fn adding_a_mask_reads_its_rows_and_columns() {
        let l = MaskLayout::new(&[2, 1, 3], &[2, 2, 3]).unwrap();
        let mask = [1.0, 2.0, 3.0, 10.0, 20.0, 30.0];
        let mut block = [0.0; 6];
        l.add(1, &mut block, 3, &mask);
        assert_eq!(block, [10.0, 20.0, 30.0, 10.0, 20.0, 30.0]);
    }
}
