//! A rough size of one op's work, used to decide whether splitting it across
//! threads pays for the hand-off.

use ptq_ir::Op;

use crate::inputs::Inputs;

/// Work (multiply-adds, or elements touched) at or above which a step runs
/// on the plan's thread pool with [`ptq_kernels::Threads::Rayon`]; below it
/// the step runs on the calling thread alone. Waking a worker and waiting for
/// it can cost as much as 4·10⁶ multiply-adds on one core on a loaded
/// machine (measured with `ptq bench` on the digits fixture: splitting its
/// 2.4·10⁶-MAC convolution over two threads made the whole run slower).
pub const PARALLEL_WORK: usize = 1 << 22;

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
