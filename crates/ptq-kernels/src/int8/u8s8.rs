//! The public u8×s8→i32 GEMM entry point, and the tests that hold every
//! tier to the scalar reference.

use super::pack::PackedB;
use super::tier::Int8Kernels;
use crate::Threads;

/// Products with fewer multiply-adds than this stay on the calling thread in
/// [`Int8Kernels::gemm_u8s8_threads`].
pub const INT8_PARALLEL_MACS: usize = 1 << 22;

impl Int8Kernels {
    /// C\[m×n\] = Σ_k (A\[m,k\] − za)·B\[k,n\] with A row-major u8 (`m × b.k()`),
    /// B packed s8 weights and C row-major i32 (`m × b.n()`), overwritten.
    ///
    /// Computed as A·B − za·colsum(B) in wrapping i32, which is exactly
    /// [`gemm_u8s8_ref`](super::gemm_u8s8_ref) for every input (exact
    /// integers while K ≤ 65 793). One thread. Panics if `a` or `c` does not
    /// have the length the shape needs.
    pub fn gemm_u8s8(&self, a: &[u8], m: usize, za: u8, b: &PackedB, c: &mut [i32]) {
        let (k, n) = (b.k(), b.n());
        let a_len = m.checked_mul(k).unwrap_or_else(|| panic!("gemm_u8s8: {m}x{k} overflows"));
        let c_len = m.checked_mul(n).unwrap_or_else(|| panic!("gemm_u8s8: {m}x{n} overflows"));
        assert_eq!(a.len(), a_len, "gemm_u8s8: A has {} elements, {m}x{k} needs {a_len}", a.len());
        assert_eq!(c.len(), c_len, "gemm_u8s8: C has {} elements, {m}x{n} needs {c_len}", c.len());
        // SAFETY: `self` exists only for a tier the CPU supports (see
        // `Int8Kernels::for_tier`), and the lengths were just checked.
        unsafe { (self.gemm)(a, m, za, b, c) }
    }

    /// [`Int8Kernels::gemm_u8s8`], with [`Threads::Pool`] splitting the rows
    /// of A and C into blocks across the current pool when the product
    /// has at least [`INT8_PARALLEL_MACS`] multiply-adds. The result is the
    /// same either way (integer arithmetic). Panics as `gemm_u8s8` does.
    pub fn gemm_u8s8_threads(&self, a: &[u8], m: usize, za: u8, b: &PackedB, c: &mut [i32], threads: Threads) {
        let (k, n) = (b.k(), b.n());
        let macs = m.saturating_mul(n).saturating_mul(k);
        let workers = crate::parallel::width(threads);
        if threads == Threads::Single || macs < INT8_PARALLEL_MACS || workers < 2 || m < 16 || k == 0 || n == 0 {
            self.gemm_u8s8(a, m, za, b, c);
            return;
        }
        // Two blocks per worker for balance, whole 8-row tiles each.
        let rows = m.div_ceil(2 * workers).next_multiple_of(8);
        assert_eq!(a.len(), m * k, "gemm_u8s8: A has {} elements, {m}x{k} needs {}", a.len(), m * k);
        assert_eq!(c.len(), m * n, "gemm_u8s8: C has {} elements, {m}x{n} needs {}", c.len(), m * n);
        crate::parallel::for_each_chunk_mut(
            c,
            rows * n,
            threads,
            || (),
            |(), (i, cb)| {
                let ab = &a[i * rows * k..][..cb.len() / n * k];
                self.gemm_u8s8(ab, ab.len() / k, za, b, cb);
            },
        );
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::int8::gemm_u8s8_ref;
    use crate::int8::tier::available;

    /// Deterministic bytes; `extreme` draws only from the ends of the range.
    /// The int8 kernels' tests share it.
    pub(crate) fn bytes(len: usize, seed: u64, extreme: bool) -> Vec<u8> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let v = (s >> 24) as u8;
                if extreme { if v & 1 == 0 { 0 } else { 255 } } else { v }
            })
            .collect()
    }

    /// Compares every available tier with the reference on one problem,
    /// with 8-bit weights or, when `seven`, 7-bit ones (the overflow fix),
    /// which the AVX2 tier multiplies in its fitting form.
    fn check(m: usize, k: usize, n: usize, za: u8, seed: u64, extreme: bool) -> Result<(), String> {
        let b = bytes(k * n, seed ^ 0xABCD, extreme).into_iter().map(|v| v.wrapping_sub(128) as i8).collect();
        check_b(m, k, n, za, seed, extreme, b)
    }

    /// [`check`] with the weights halved to 7 bits.
    fn check7(m: usize, k: usize, n: usize, za: u8, seed: u64, extreme: bool) -> Result<(), String> {
        let b = bytes(k * n, seed ^ 0xABCD, extreme).into_iter().map(|v| (v.wrapping_sub(128) as i8) >> 1).collect();
        check_b(m, k, n, za, seed, extreme, b)
    }

    /// [`check`] for given weights.
    fn check_b(m: usize, k: usize, n: usize, za: u8, seed: u64, extreme: bool, b: Vec<i8>) -> Result<(), String> {
        let a = bytes(m * k, seed, extreme);
        let mut want = vec![0i32; m * n];
        gemm_u8s8_ref(&a, &b, m, k, n, za, &mut want);
        let packed = PackedB::new(&b, k, n);
        for t in available() {
            let mut c = vec![0x5555_5555i32; m * n];
            t.gemm_u8s8(&a, m, za, &packed, &mut c);
            if let Some(i) = (0..m * n).find(|&i| c[i] != want[i]) {
                return Err(format!(
                    "{} tier, {m}x{k}x{n} za={za}: C[{}, {}] = {}, reference {}",
                    t.tier(),
                    i / n,
                    i % n,
                    c[i],
                    want[i]
                ));
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn tiers_match_reference(
            m in 1usize..20, k in 0usize..80, n in 1usize..70,
            za: u8, seed: u64, extreme in prop::bool::weighted(0.2),
        ) {
            check(m, k, n, za, seed, extreme).map_err(TestCaseError::fail)?;
        }

        /// Depths across several 256-deep blocks.
        #[test]
        fn tiers_match_reference_deep(m in 1usize..12, k in 250usize..600, n in 1usize..40, za: u8, seed: u64) {
            check(m, k, n, za, seed, false).map_err(TestCaseError::fail)?;
        }

        /// 7-bit weights: every pair fits in i16, the AVX2 tier's fitting form.
        #[test]
        fn tiers_match_reference_seven_bit(
            m in 1usize..20, k in 0usize..900, n in 1usize..70,
            za: u8, seed: u64, extreme in prop::bool::weighted(0.2),
        ) {
            check7(m, k, n, za, seed, extreme).map_err(TestCaseError::fail)?;
        }

        /// 7-bit weights with a few 8-bit pairs that could saturate: the
        /// depth blocks holding them take the split form, the others the
        /// fitting one.
        #[test]
        fn tiers_match_reference_mixed_pairs(
            m in 1usize..14, k in 700usize..1700, n in 1usize..70, za: u8, seed: u64,
            hot in prop::collection::vec((0usize..1700, 0usize..70), 1..4),
        ) {
            let mut b: Vec<i8> =
                bytes(k * n, seed ^ 0xABCD, false).into_iter().map(|v| (v.wrapping_sub(128) as i8) >> 1).collect();
            for (kk, j) in hot {
                let (kk, j) = ((kk % k) & !1, j % n);
                b[kk * n + j] = -128;
                if kk + 1 < k {
                    b[(kk + 1) * n + j] = -100;
                }
            }
            check_b(m, k, n, za, seed, false, b).map_err(TestCaseError::fail)?;
        }
    }

    #[test]
    fn fixed_shapes_including_k_4096() {
        for (m, k, n, za) in [
            (1, 4096, 33, 0),
            (9, 4096, 65, 255),
            (131, 771, 97, 128),
            (8, 1, 32, 7),
            (17, 3, 31, 200),
            (129, 64, 1, 1),
        ] {
            check(m, k, n, za, 42, false).unwrap();
        }
    }

    /// All-extreme operands: every product at ±32 640, the sums at the edge
    /// of what one `vpmaddubsw` pair could hold (saturation would show).
    #[test]
    fn extreme_values_k_4096() {
        let (m, k, n) = (10, 4096, 35);
        // The 7-bit cases are the largest pairs that fit in i16 (the AVX2 tier's fitting form).
        let cases = [(255u8, -128i8, 0u8), (255, 127, 0), (0, -128, 255), (255, -128, 255), (128, 127, 0)];
        let seven = [(255u8, 64i8, 0u8), (255, -64, 0), (0, -64, 255), (255, -64, 255)];
        for (av, bv, za) in cases.into_iter().chain(seven) {
            let a = vec![av; m * k];
            let b = vec![bv; k * n];
            let packed = PackedB::new(&b, k, n);
            let want = (i32::from(av) - i32::from(za)) * i32::from(bv) * k as i32;
            for t in available() {
                let mut c = vec![0; m * n];
                t.gemm_u8s8(&a, m, za, &packed, &mut c);
                assert!(c.iter().all(|&v| v == want), "{} tier: {av}x{bv} za={za}", t.tier());
            }
        }
        check(m, k, n, 255, 3, true).unwrap();
        check(m, k, n, 0, 4, true).unwrap();
        check7(m, k, n, 255, 3, true).unwrap();
        check7(m, k, n, 0, 4, true).unwrap();
    }

    #[test]
    fn rayon_matches_single_thread() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        for (m, k, n) in [(203, 300, 97), (16, 4096, 64), (5, 10, 7)] {
            let a = bytes(m * k, 9, false);
            let b: Vec<i8> = bytes(k * n, 10, false).into_iter().map(|v| v as i8).collect();
            let packed = PackedB::new(&b, k, n);
            for t in available() {
                let mut single = vec![0; m * n];
                t.gemm_u8s8_threads(&a, m, 77, &packed, &mut single, Threads::Single);
                let mut par = vec![1; m * n];
                pool.install(|| t.gemm_u8s8_threads(&a, m, 77, &packed, &mut par, Threads::Pool));
                assert_eq!(par, single, "{} tier, {m}x{k}x{n}", t.tier());
            }
        }
    }

    #[test]
    fn empty_shapes() {
        for t in available() {
            t.gemm_u8s8(&[], 0, 3, &PackedB::new(&[1; 12], 3, 4), &mut []);
            t.gemm_u8s8(&[1; 6], 2, 3, &PackedB::new(&[], 3, 0), &mut []);
            let mut c = [7; 8];
            t.gemm_u8s8(&[], 2, 3, &PackedB::new(&[], 0, 4), &mut c);
            assert_eq!(c, [0; 8]);
        }
    }

    #[test]
    #[should_panic(expected = "A has 5 elements")]
    fn short_a_panics() {
        Int8Kernels::detect().gemm_u8s8(&[0; 5], 2, 0, &PackedB::new(&[0; 6], 3, 2), &mut [0; 4]);
    }
}
