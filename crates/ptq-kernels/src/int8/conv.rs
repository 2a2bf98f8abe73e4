//! Int8 convolution read in place from a padded channels-last image: the
//! GEMM of the im2col patches by the packed weights, without the patches.

use super::gemm::ConvGeom;
use super::pack::PackedB;
use super::tier::Int8Kernels;
use super::u8s8::INT8_PARALLEL_MACS;
use crate::Threads;

impl Int8Kernels {
    /// `acc[(oy·ow + ox)·M + j] = Σ (img[((oy·sh + ky)·wp + ox·sw + kx)·c + ch] − za) · B[(ky·kw + kx)·c + ch, j]`
    /// over `ky < kh`, `kx < kw`, `ch < c`: exactly
    /// [`Int8Kernels::gemm_u8s8`] of the channels-last im2col patch matrix
    /// (`[oh·ow, kh·kw·c]`) by `b`, for an undilated convolution of `img`,
    /// a `[hp, wp, c]` u8 image already padded with the zero point
    /// ([`ConvGeom`]). The kernel rows are read where they lie in the
    /// image, so no patch matrix is built.
    ///
    /// [`Threads::Pool`] splits the output rows across the current pool
    /// when there are at least [`INT8_PARALLEL_MACS`] multiply-adds; the
    /// result is the same. Panics unless `g.in_place()` (each kernel row of
    /// `kw·c` bytes holds whole 4-deep groups, or `kh == 1`),
    /// `b.k() == kh·kw·c`, `img.len() == hp·wp·c` and
    /// `acc.len() == oh·ow·b.n()`.
    pub fn conv_u8s8(&self, img: &[u8], g: &ConvGeom, za: u8, b: &PackedB, acc: &mut [i32], threads: Threads) {
        assert!(g.in_place(), "conv_u8s8: kernel rows of {}x{} bytes split 4-deep groups", g.kw, g.c);
        assert!(g.stride.iter().all(|&s| s > 0), "conv_u8s8: zero stride");
        let k = g.kh.checked_mul(g.kw).and_then(|v| v.checked_mul(g.c));
        assert_eq!(k, Some(b.k()), "conv_u8s8: weights of depth {} for a {}x{}x{} kernel", b.k(), g.kh, g.kw, g.c);
        let img_len = g.hp.checked_mul(g.wp).and_then(|v| v.checked_mul(g.c));
        assert_eq!(Some(img.len()), img_len, "conv_u8s8: image of {} bytes for {g:?}", img.len());
        let [oh, ow] = g.out();
        let n = b.n();
        assert_eq!(acc.len(), oh * ow * n, "conv_u8s8: {} accumulators for {oh}x{ow}x{n}", acc.len());
        let macs = acc.len().saturating_mul(b.k());
        let workers = crate::parallel::width(threads);
        if threads == Threads::Single || macs < INT8_PARALLEL_MACS || workers < 2 || oh < 2 || n == 0 || ow == 0 {
            // SAFETY: the table exists only for a tier the CPU supports
            // (`Int8Kernels::for_tier`); the shapes were just checked.
            unsafe { (self.conv)(img, g, (0, oh), za, b, acc) };
            return;
        }
        // Two blocks of output rows per worker, for balance.
        let rows = oh.div_ceil(2 * workers);
        crate::parallel::for_each_chunk_mut(
            acc,
            rows * ow * n,
            threads,
            || (),
            |(), (i, block)| {
                let oy0 = i * rows;
                let oy1 = oy0 + block.len() / (ow * n);
                // SAFETY: as above, for output rows oy0..oy1 <= oh.
                unsafe { (self.conv)(img, g, (oy0, oy1), za, b, block) };
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::int8::gemm_u8s8_ref;
    use crate::int8::tier::available;

    fn bytes(len: usize, seed: u64) -> Vec<u8> {
        crate::int8::u8s8::tests::bytes(len, seed, false)
    }

    /// Every tier, one and several threads, against the reference GEMM of
    /// the explicit patch matrix, with 8-bit weights and with 7-bit ones
    /// (which the AVX2 tier multiplies in its fitting form).
    fn check(g: ConvGeom, m: usize, za: u8, seed: u64) -> Result<(), String> {
        check_bits(g, m, za, seed, 0)?;
        check_bits(g, m, za, seed, 1)
    }

    /// [`check`] with the weights shifted right by `shift` bits.
    fn check_bits(g: ConvGeom, m: usize, za: u8, seed: u64, shift: u32) -> Result<(), String> {
        let img = bytes(g.hp * g.wp * g.c, seed);
        let k = g.kh * g.kw * g.c;
        let w: Vec<i8> = bytes(k * m, seed ^ 0x5A5A).into_iter().map(|v| (v as i8) >> shift).collect();
        let [oh, ow] = g.out();
        let mut patches = Vec::with_capacity(oh * ow * k);
        for oy in 0..oh {
            for ox in 0..ow {
                for ky in 0..g.kh {
                    let at = ((oy * g.stride[0] + ky) * g.wp + ox * g.stride[1]) * g.c;
                    patches.extend_from_slice(&img[at..at + g.kw * g.c]);
                }
            }
        }
        let mut want = vec![0i32; oh * ow * m];
        gemm_u8s8_ref(&patches, &w, oh * ow, k, m, za, &mut want);
        let packed = PackedB::new(&w, k, m);
        for t in available() {
            for threads in [Threads::Single, Threads::Pool] {
                let mut acc = vec![0x5555_5555; want.len()];
                t.conv_u8s8(&img, &g, za, &packed, &mut acc, threads);
                if let Some(i) = (0..acc.len()).find(|&i| acc[i] != want[i]) {
                    return Err(format!(
                        "{} {threads:?} {g:?} m={m} weights >> {shift}: acc[{i}] = {}, want {}",
                        t.tier(),
                        acc[i],
                        want[i]
                    ));
                }
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn tiers_match_the_patch_gemm(
            groups in 1usize..12, kh in 1usize..4, kw in 1usize..4, sh in 1usize..3, sw in 1usize..3,
            extra_h in 0usize..9, extra_w in 0usize..20, m in 1usize..70, za: u8, seed: u64,
        ) {
            // The fewest channels for which kw·c is a multiple of 4
            // (4 / gcd(kw, 4)), times `groups`.
            let c = groups * 4 / [4, 1, 2, 1][kw % 4];
            let g = ConvGeom { c, hp: kh + extra_h, wp: kw + extra_w, kh, kw, stride: [sh, sw] };
            check(g, m, za, seed).map_err(TestCaseError::fail)?;
        }

        /// One kernel row of any width, with a partial group at its end.
        #[test]
        fn single_kernel_rows_of_any_depth(c in 1usize..40, kw in 1usize..4, wp in 4usize..30, m in 1usize..40, za: u8, seed: u64) {
            let g = ConvGeom { c, hp: 3, wp, kh: 1, kw, stride: [1, 1] };
            check(g, m, za, seed).map_err(TestCaseError::fail)?;
        }
    }

    /// Depths across several blocks: whole kernel rows per block, and kernel
    /// rows deeper than a block.
    #[test]
    fn deep_kernels_span_blocks() {
        for (c, kh, kw) in [(100, 3, 3), (64, 5, 5), (1000, 2, 1), (2052, 1, 1)] {
            let g = ConvGeom { c, hp: kh + 2, wp: kw + 13, kh, kw, stride: [1, 1] };
            check(g, 37, 9, c as u64).unwrap();
        }
    }

    /// The ResNet 3x3 layer shape, padded 32×32 with 64 channels, through
    /// enough work to use the pool.
    #[test]
    fn resnet_layer() {
        let g = ConvGeom { c: 64, hp: 34, wp: 34, kh: 3, kw: 3, stride: [1, 1] };
        check(g, 64, 3, 1).unwrap();
    }

    #[test]
    #[should_panic(expected = "split 4-deep groups")]
    fn kernel_rows_splitting_groups_panic() {
        let g = ConvGeom { c: 3, hp: 4, wp: 4, kh: 3, kw: 3, stride: [1, 1] };
        let b = PackedB::new(&[0; 27], 27, 1);
        Int8Kernels::detect().conv_u8s8(&[0; 48], &g, 0, &b, &mut [0; 4], Threads::Single);
    }
}
