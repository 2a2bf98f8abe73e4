//! A rough size of one op's work, used to decide whether splitting it across
//! threads pays for the hand-off.
//!
//! A plan built with `threads: 1` runs every step with `Threads::Single`.
//! Otherwise a step whose estimate (or, for an integer step, the cost its
//! kernel reports) reaches [`PARALLEL_WORK`] runs with `Threads::Pool`
//! (the plan's own `ptq_kernels::Pool` when `threads ≥ 2`, rayon's current
//! pool when `threads: 0`) and every other step runs inline on the calling
//! thread.

use ptq_ir::Op;

use crate::inputs::Inputs;

/// Work (multiply-adds, or elements touched) at or above which a step runs
/// with [`ptq_kernels::Threads::Pool`] on the plan's pool; below it the step
/// runs on the calling thread alone. The pool's workers spin between steps,
/// so a hand-off costs about a microsecond; `cargo xtask bench --threads 2`
/// was fastest on the digits and MobileNet fixtures at 2^18 (2^16 split
/// MobileNet's small element-wise steps and made it slower; 2^20 and up left
/// digits' first convolution on one core).
pub const PARALLEL_WORK: usize = 1 << 18;

/// What one step of the lowered program costs on its inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cost {
    /// Multiply-adds (or elements touched), compared with [`PARALLEL_WORK`].
    pub work: usize,
    /// Elements of the largest output, checked against the plan's limit.
    pub output_elements: usize,
}

/// Estimated multiply-adds of `op` on `inputs`: for Conv / ConvTranspose
/// numel(x)/C · numel(w) (exact for stride 1, "same" padding), for MatMul and
/// Gemm numel(A) · N, and for everything else the largest input's element
/// count.
pub fn estimate(op: &Op, ins: &Inputs) -> usize {
    let numel = |i: usize| ins.opt(i).map_or(0, |t| t.len());
    let dim = |i: usize, from_end: usize| {
        ins.opt(i).and_then(|t| t.shape().len().checked_sub(from_end).map(|a| t.shape()[a])).unwrap_or(1)
    };
    let largest = (0..ins.slots.len()).map(numel).max().unwrap_or(0);
    match op {
        Op::Conv(_) | Op::ConvTranspose(_) => {
            let c = ins.opt(0).and_then(|t| t.shape().get(1).copied()).unwrap_or(1).max(1);
            (numel(0) / c).saturating_mul(numel(1))
        }
        Op::MatMul(_) | Op::Gemm(_) => numel(0).saturating_mul(dim(1, 1)),
        _ => largest,
    }
}
