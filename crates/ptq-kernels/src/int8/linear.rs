//! A quantized linear layer in one call: the u8×s8 product and its
//! epilogue, one block of rows at a time, so a block's i32 accumulators are
//! still in cache when the epilogue reads them and the whole `m × n`
//! accumulator matrix is never written out.

use std::mem::MaybeUninit;

use super::epilogue::{dequant_add_isa, dequant_isa, dequant_quant_isa};
use super::{Dequant, Int8Kernels, PackedB};
use crate::Threads;
use crate::f32::scratch::with_scratch_i32;
use crate::int8::INT8_PARALLEL_MACS;
use crate::uninit::{as_uninit, extend_with};

/// Accumulators per row block: 64 KiB of i32, which stays in L2 (and
/// mostly in L1) between the product and the epilogue.
const BLOCK_ACCUMULATORS: usize = 16 * 1024;

/// A multiple of every micro-kernel's tile height (1, 4 or 12 rows).
const TILE_ROWS: usize = 24;

impl Int8Kernels {
    /// `out = dequantize(A·B)`: [`Int8Kernels::gemm_u8s8`] followed by
    /// [`Int8Kernels::dequantize_acc`] with `d`, bit-identical to the two,
    /// with `out` row-major `m × b.n()`. Row blocks run on `threads` when
    /// the product is large enough to pay for it. Panics on a length
    /// mismatch.
    #[allow(clippy::too_many_arguments)]
    pub fn linear_f32(
        &self,
        a: &[u8],
        m: usize,
        za: u8,
        b: &PackedB,
        d: &Dequant<'_>,
        out: &mut [f32],
        threads: Threads,
    ) {
        // SAFETY: the epilogue writes only computed values.
        self.linear_f32_uninit(a, m, za, b, d, unsafe { as_uninit(out) }, threads);
    }

    /// [`Int8Kernels::linear_f32`] appending its `m × b.n()` results to
    /// `out`, which need not be initialised beforehand.
    #[allow(clippy::too_many_arguments)]
    pub fn linear_f32_extend(
        &self,
        a: &[u8],
        m: usize,
        za: u8,
        b: &PackedB,
        d: &Dequant<'_>,
        out: &mut Vec<f32>,
        threads: Threads,
    ) {
        // SAFETY: `linear` hands every row block of the slice to the
        // epilogue, which writes each of its elements.
        unsafe { extend_with(out, m * b.n(), |o| self.linear_f32_uninit(a, m, za, b, d, o, threads)) };
    }

    /// [`Int8Kernels::linear_f32_extend`] plus an addend of the output's
    /// shape (a residual connection): `dequantize(A·B) + addend`, the
    /// addition after the epilogue's activation. Panics unless `addend`
    /// has `m × b.n()` elements.
    #[allow(clippy::too_many_arguments)]
    pub fn linear_f32_add_extend(
        &self,
        a: &[u8],
        m: usize,
        za: u8,
        b: &PackedB,
        d: &Dequant<'_>,
        addend: &[f32],
        out: &mut Vec<f32>,
        threads: Threads,
    ) {
        let n = b.n();
        assert_eq!(
            addend.len(),
            m * n,
            "linear_f32_add: the addend has {} elements, {m}x{n} needs {}",
            addend.len(),
            m * n
        );
        check_columns("linear_f32_add", d, n);
        let fill = |o: &mut [MaybeUninit<f32>]| {
            self.linear(a, m, za, b, o, threads, |start, acc, o| {
                dequant_add_isa(self.isa, acc, n, d, &addend[start..start + o.len()], o)
            })
        };
        // SAFETY: `linear` hands every row block of the slice to the
        // epilogue, which writes each of its elements.
        unsafe { extend_with(out, m * n, fill) };
    }

    /// `out = quantize(dequantize(A·B))` to u8 with `scale` and
    /// `zero_point`: [`Int8Kernels::gemm_u8s8`] followed by
    /// [`Int8Kernels::dequantize_quantize_acc`], bit-identical to the two.
    /// Panics on a length mismatch.
    #[allow(clippy::too_many_arguments)]
    pub fn linear_u8(
        &self,
        a: &[u8],
        m: usize,
        za: u8,
        b: &PackedB,
        d: &Dequant<'_>,
        q: (f32, u8),
        out: &mut [u8],
        threads: Threads,
    ) {
        // SAFETY: the epilogue writes only computed values.
        self.linear_u8_uninit(a, m, za, b, d, q, unsafe { as_uninit(out) }, threads);
    }

    /// [`Int8Kernels::linear_u8`] appending its `m × b.n()` results to
    /// `out`, which need not be initialised beforehand.
    #[allow(clippy::too_many_arguments)]
    pub fn linear_u8_extend(
        &self,
        a: &[u8],
        m: usize,
        za: u8,
        b: &PackedB,
        d: &Dequant<'_>,
        q: (f32, u8),
        out: &mut Vec<u8>,
        threads: Threads,
    ) {
        // SAFETY: as in `linear_f32_extend`.
        unsafe { extend_with(out, m * b.n(), |o| self.linear_u8_uninit(a, m, za, b, d, q, o, threads)) };
    }

    #[allow(clippy::too_many_arguments)]
    fn linear_f32_uninit(
        &self,
        a: &[u8],
        m: usize,
        za: u8,
        b: &PackedB,
        d: &Dequant<'_>,
        out: &mut [MaybeUninit<f32>],
        threads: Threads,
    ) {
        check_columns("linear_f32", d, b.n());
        self.linear(a, m, za, b, out, threads, |_, acc, o| dequant_isa(self.isa, acc, b.n(), d, o));
    }

    #[allow(clippy::too_many_arguments)]
    fn linear_u8_uninit(
        &self,
        a: &[u8],
        m: usize,
        za: u8,
        b: &PackedB,
        d: &Dequant<'_>,
        (scale, zero_point): (f32, u8),
        out: &mut [MaybeUninit<u8>],
        threads: Threads,
    ) {
        check_columns("linear_u8", d, b.n());
        self.linear(a, m, za, b, out, threads, |_, acc, o| {
            dequant_quant_isa(self.isa, acc, b.n(), d, scale, zero_point, o)
        });
    }

    /// Runs the product one row block at a time and hands each block's
    /// first element's index, accumulators and output rows to `epilogue`,
    /// which must write all of them.
    #[allow(clippy::too_many_arguments)]
    fn linear<T: Send>(
        &self,
        a: &[u8],
        m: usize,
        za: u8,
        b: &PackedB,
        out: &mut [MaybeUninit<T>],
        threads: Threads,
        epilogue: impl Fn(usize, &[i32], &mut [MaybeUninit<T>]) + Sync,
    ) {
        let (k, n) = (b.k(), b.n());
        assert_eq!(a.len(), m * k, "linear: A has {} elements, {m}x{k} needs {}", a.len(), m * k);
        assert_eq!(out.len(), m * n, "linear: the output has {} elements, {m}x{n} needs {}", out.len(), m * n);
        if out.is_empty() {
            return;
        }
        // Whole tiles of every tier (1, 4 and 12 rows) unless the block is all of m.
        let rows = (BLOCK_ACCUMULATORS / n / TILE_ROWS * TILE_ROWS).max(TILE_ROWS).min(m);
        let macs = m.saturating_mul(n).saturating_mul(k);
        let threads = if macs < INT8_PARALLEL_MACS { Threads::Single } else { threads };
        crate::parallel::for_each_chunk_mut(
            out,
            rows * n,
            threads,
            || (),
            |_, (i, o)| {
                let r = o.len() / n;
                // The product overwrites every accumulator: the scratch need
                // not be cleared.
                with_scratch_i32(r * n, |acc| {
                    self.gemm_u8s8(&a[i * rows * k..][..r * k], r, za, b, acc);
                    epilogue(i * rows * n, acc, o);
                });
            },
        );
    }
}

/// Panics unless the epilogue has one scale (and bias) per column.
fn check_columns(what: &str, d: &Dequant<'_>, n: usize) {
    assert_eq!(d.scale_b.len(), n, "{what}: scale_b has {} entries, N is {n}", d.scale_b.len());
    assert!(
        d.bias.is_none_or(|b| b.len() == n),
        "{what}: bias has {} entries, N is {n}",
        d.bias.map_or(0, <[f32]>::len)
    );
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;
    use crate::int8::Activation;
    use crate::int8::tier::available;
    use crate::int8::u8s8::tests::bytes;
    use crate::{Pool, Threads};

    /// Both forms equal the product followed by the separate epilogue, bit
    /// for bit, on every tier, on one thread and on a pool.
    fn check(
        m: usize,
        k: usize,
        n: usize,
        za: u8,
        act: Activation,
        bias: bool,
        seed: u64,
    ) -> Result<(), TestCaseError> {
        let a = bytes(m * k, seed, false);
        let w: Vec<i8> = bytes(k * n, seed ^ 1, false).into_iter().map(|v| v as i8).collect();
        let packed = PackedB::new(&w, k, n);
        let sw: Vec<f32> = (0..n).map(|j| 1e-3 * (1.0 + (j % 7) as f32)).collect();
        let bv: Vec<f32> = (0..n).map(|j| (j % 5) as f32 - 2.0).collect();
        let d = Dequant { scale_a: 0.05, scale_b: &sw, bias: bias.then_some(&bv[..]), act };
        let pool = Arc::new(Pool::new(2).expect("pool"));
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for kernels in available() {
            let mut acc = vec![0i32; m * n];
            kernels.gemm_u8s8(&a, m, za, &packed, &mut acc);
            let mut want_f = vec![0f32; m * n];
            kernels.dequantize_acc(&acc, n, &d, &mut want_f);
            let mut want_u = vec![0u8; m * n];
            kernels.dequantize_quantize_acc(&acc, n, &d, 0.03, 17, &mut want_u);
            for threads in [Threads::Single, Threads::Pool] {
                let (mut f, mut u) = (vec![f32::NAN; m * n], vec![0u8; m * n]);
                pool.install(|| {
                    kernels.linear_f32(&a, m, za, &packed, &d, &mut f, threads);
                    kernels.linear_u8(&a, m, za, &packed, &d, (0.03, 17), &mut u, threads);
                });
                prop_assert_eq!(bits(&f), bits(&want_f), "{} {:?}", kernels.tier(), threads);
                prop_assert_eq!(&u, &want_u, "{} {:?}", kernels.tier(), threads);
                // The appending forms keep what was there and add the same values.
                let (mut fe, mut ue) = (vec![7.5f32], vec![9u8, 8]);
                pool.install(|| {
                    kernels.linear_f32_extend(&a, m, za, &packed, &d, &mut fe, threads);
                    kernels.linear_u8_extend(&a, m, za, &packed, &d, (0.03, 17), &mut ue, threads);
                });
                prop_assert_eq!(bits(&fe[1..]), bits(&want_f));
                prop_assert_eq!(&ue[2..], &want_u[..]);
                prop_assert_eq!((fe[0], &ue[..2]), (7.5, &[9u8, 8][..]));
                // A residual addend joins after the epilogue, as a separate Add would.
                let addend: Vec<f32> = (0..m * n).map(|i| (i % 13) as f32 * 0.25 - 1.5).collect();
                let mut fa = vec![];
                pool.install(|| kernels.linear_f32_add_extend(&a, m, za, &packed, &d, &addend, &mut fa, threads));
                let want_a: Vec<f32> = want_f.iter().zip(&addend).map(|(x, r)| x + r).collect();
                prop_assert_eq!(bits(&fa), bits(&want_a), "{} {:?} addend", kernels.tier(), threads);
            }
        }
        Ok(())
    }

    proptest! {
        /// Row counts that leave a partial last block, widths from one
        /// column to several blocks' worth.
        #[test]
        fn equals_the_product_then_the_epilogue(
            m in 1usize..80, k in 1usize..70, n in 1usize..700, za: u8, act in 0usize..3, bias: bool, seed: u64,
        ) {
            let act = [Activation::Identity, Activation::Relu, Activation::Gelu][act];
            check(m, k, n, za, act, bias, seed)?;
        }
    }

    /// A product large enough to run its row blocks on the pool.
    #[test]
    fn a_large_product_splits_its_blocks_across_the_pool() {
        let (m, k, n) = (200, 128, 520);
        assert!(m * k * n >= INT8_PARALLEL_MACS && m > BLOCK_ACCUMULATORS / n);
        check(m, k, n, 131, Activation::Gelu, true, 9).unwrap();
    }

    #[test]
    #[should_panic(expected = "needs")]
    fn a_short_output_is_rejected() {
        let k = Int8Kernels::detect();
        let b = PackedB::new(&[1, 2, 3, 4], 2, 2);
        let d = Dequant { scale_a: 1.0, scale_b: &[1.0, 1.0], bias: None, act: Activation::Identity };
        k.linear_f32(&[1, 2, 3, 4], 2, 0, &b, &d, &mut [0.0; 3], Threads::Single);
    }
}
