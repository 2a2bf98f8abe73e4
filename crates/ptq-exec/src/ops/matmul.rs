//! MatMul with numpy batching and broadcasting.

use ptq_ir::Tensor;
use ptq_ir::ops::matmul::MatMul;
use ptq_kernels::{Threads, parallel, sgemm};

use super::{Out, one};
use crate::inputs::Inputs;
use crate::util::{array, broadcast_shape, contiguous, f32s};

/// Row-major strides (in matrices) of a batch shape broadcast to `out`: 0 where the dim is 1.
fn batch_strides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let pad = out.len() - shape.len();
    let mut strides = vec![0; out.len()];
    let mut s = 1;
    for i in (0..shape.len()).rev() {
        strides[i + pad] = if shape[i] == 1 { 0 } else { s };
        s *= shape[i];
    }
    strides
}

/// Multiply-adds of a batched product above which its matrices are split
/// across the pool, one product per task.
const PARALLEL_BATCH_MACS: usize = 1 << 17;

/// Runs MatMul in f32.
pub fn run(_op: &MatMul, ins: &mut Inputs, _n: usize) -> Out {
    let a = f32s(ins.get(0)?)?;
    let b = f32s(ins.get(1)?)?;
    if a.ndim() == 0 || b.ndim() == 0 {
        return Err("operands must have rank >= 1".into());
    }
    let mut ash = a.shape().to_vec();
    let mut bsh = b.shape().to_vec();
    if ash.len() == 1 {
        ash.insert(0, 1);
    }
    if bsh.len() == 1 {
        bsh.push(1);
    }
    let (m, k) = (ash[ash.len() - 2], ash[ash.len() - 1]);
    let (kb, n) = (bsh[bsh.len() - 2], bsh[bsh.len() - 1]);
    if k != kb {
        return Err(format!("inner dimensions differ: {:?} x {:?}", a.shape(), b.shape()));
    }
    let (ab, bb) = (&ash[..ash.len() - 2], &bsh[..bsh.len() - 2]);
    let batch = broadcast_shape(ab, bb)?;
    let count: usize = batch.iter().product();
    let (ad, bd) = (contiguous(a), contiguous(b));
    let mut y = vec![0f32; count * m * n];
    if bb.iter().product::<usize>() == 1 && !ab.is_empty() && ab.len() >= bb.len() {
        // B is one matrix: fold A's batch into its rows, one large GEMM.
        let g = ptq_kernels::Gemm::row_major(count * m, n, k, false, false);
        sgemm(&g, &ad, &bd, &mut y, ins.threads);
    } else {
        let (sa, sb) = (batch_strides(ab, &batch), batch_strides(bb, &batch));
        let g = ptq_kernels::Gemm::row_major(m, n, k, false, false);
        // Offsets of each batch item's A and B matrices.
        let offsets = |t: usize| {
            let (mut ia, mut ib, mut rest) = (0, 0, t);
            for d in (0..batch.len()).rev() {
                let i = rest % batch[d];
                rest /= batch[d];
                ia += i * sa[d];
                ib += i * sb[d];
            }
            (ia, ib)
        };
        let run = |t: usize, out: &mut [f32], threads: Threads| {
            let (ia, ib) = offsets(t);
            sgemm(&g, &ad[ia * m * k..(ia + 1) * m * k], &bd[ib * k * n..(ib + 1) * k * n], out, threads);
        };
        if m * n > 0 {
            if ins.threads == Threads::Pool && count > 1 && count * m * n * k >= PARALLEL_BATCH_MACS {
                // Many small products (attention heads): one per task.
                parallel::for_each_chunk_mut(
                    &mut y,
                    m * n,
                    Threads::Pool,
                    || (),
                    |(), (t, out)| run(t, out, Threads::Single),
                );
            } else {
                for (t, out) in y.chunks_mut(m * n).enumerate() {
                    run(t, out, ins.threads);
                }
            }
        }
    }
    let mut shape = batch;
    if a.ndim() > 1 {
        shape.push(m);
    }
    if b.ndim() > 1 {
        shape.push(n);
    }
    one(Tensor::F32(array(&shape, y)?))
}
