//! AVX2 micro-kernel: `vpmaddubsw` + `vpmaddwd`.
//!
//! Rows are computed one at a time (4 per tile), 32 columns in 4 i32 and
//! 4 i16 accumulators.
//!
//! Saturation policy: exact for all inputs. `vpmaddubsw` adds two u8·s8
//! products into an i16 with saturation, and 2·255·(−128) does not fit, so
//! each activation byte is split as `a = lo + 128·hi` with `lo = a & 0x7f`
//! and `hi = a >> 7`. Pairs of `lo·b` lie in [−32512, 32512] and pairs of
//! `hi·b` in [−256, 254]: neither saturates. `vpmaddwd` widens each to i32
//! (`hi` pairs after summing up to 64 k-groups in i16, see [`row_tile`]),
//! so the tier is bit-exact with the reference with no restriction on
//! weights or activations, at 5 instructions per 32 multiply-adds (3 of them
//! multiplies) instead of 3.

use std::arch::x86_64::{
    __m256i, _mm256_add_epi16, _mm256_add_epi32, _mm256_loadu_si256, _mm256_madd_epi16, _mm256_maddubs_epi16,
    _mm256_set1_epi16, _mm256_set1_epi32, _mm256_setzero_si256, _mm256_storeu_si256,
};

use super::gemm::{ConvGeom, Micro, drive, drive_conv, tail_word};
use super::pack::{GROUP_BYTES, KG, PackedB};

pub(crate) struct Avx2;

/// Broadcasts the split halves of one activation word: (`a & 0x7f`, `a >> 7`) per byte.
///
/// # Safety
/// The CPU supports AVX2 (only called from [`row_tile`]).
#[inline(always)]
unsafe fn split(word: i32) -> (__m256i, __m256i) {
    // SAFETY: register-only intrinsics; the caller guarantees AVX2.
    unsafe { (_mm256_set1_epi32(word & 0x7f7f_7f7f), _mm256_set1_epi32((word >> 7) & 0x0101_0101)) }
}

/// Adds one k-group (4 depths × 32 columns at `bg`) of one row, whose
/// activation word is `word`: `lo` pairs widened into `acc` (i32), `hi`
/// pairs summed into `acc_hi` (i16).
///
/// # Safety
/// The CPU supports AVX2; `bg` points to `GROUP_BYTES` readable bytes.
#[inline(always)]
unsafe fn group(acc: &mut [__m256i; 4], acc_hi: &mut [__m256i; 4], word: i32, bg: *const i8) {
    // SAFETY: the caller guarantees AVX2 and the 128 bytes at `bg`.
    unsafe {
        let ones = _mm256_set1_epi16(1);
        let (lo, hi) = split(word);
        for q in 0..4 {
            let b = _mm256_loadu_si256(bg.add(32 * q).cast());
            let p = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, b), ones);
            acc[q] = _mm256_add_epi32(acc[q], p);
            acc_hi[q] = _mm256_add_epi16(acc_hi[q], _mm256_maddubs_epi16(hi, b));
        }
    }
}

/// k-groups whose `hi` pair sums may add up in i16 (see [`row_tile`]).
const HI_GROUPS: usize = 64;

/// Adds the `hi` pair sums, times 128, to the i32 accumulators and clears them.
///
/// # Safety
/// The CPU supports AVX2 (only called from [`row_tile`]).
#[inline(always)]
unsafe fn widen_hi(acc: &mut [__m256i; 4], acc_hi: &mut [__m256i; 4]) {
    // SAFETY: register-only intrinsics; the caller guarantees AVX2.
    unsafe {
        let c128 = _mm256_set1_epi16(128);
        for (lo, hi) in acc.iter_mut().zip(acc_hi.iter_mut()) {
            *lo = _mm256_add_epi32(*lo, _mm256_madd_epi16(*hi, c128));
            *hi = _mm256_setzero_si256();
        }
    }
}

/// One row of the tile (see [`Micro::tile`]).
///
/// The `hi` pair sums lie in [−256, 254], so at most [`HI_GROUPS`] = 64
/// k-groups of them add up in [−16 384, 16 256] without leaving i16; they
/// are widened, with weight 128, every 64 groups and at the end.
///
/// # Safety
/// [`Micro::tile`]'s contract for one row, on a CPU with AVX2.
#[inline(always)]
unsafe fn row_tile(a: *const u8, kbytes: usize, b: *const i8, c: *mut i32, init: *const i32) {
    // SAFETY: the caller guarantees AVX2, `kbytes` readable bytes at `a`
    // (the partial group goes through `tail_word`), whole packed groups at
    // `b`, and 32 i32 at `init` (readable) and `c` (writable).
    unsafe {
        let mut acc = [0, 1, 2, 3].map(|q| _mm256_loadu_si256(init.add(8 * q).cast()));
        let mut acc_hi = [_mm256_setzero_si256(); 4];
        let full = kbytes / KG;
        for g in 0..full {
            group(&mut acc, &mut acc_hi, std::ptr::read_unaligned(a.add(g * KG).cast()), b.add(g * GROUP_BYTES));
            if (g + 1) % HI_GROUPS == 0 {
                widen_hi(&mut acc, &mut acc_hi);
            }
        }
        // At most 63 groups are pending here, so the partial one fits too.
        let rest = kbytes - full * KG;
        if rest > 0 {
            group(&mut acc, &mut acc_hi, tail_word(a.add(full * KG), rest), b.add(full * GROUP_BYTES));
        }
        widen_hi(&mut acc, &mut acc_hi);
        for (q, v) in acc.iter().enumerate() {
            _mm256_storeu_si256(c.add(8 * q).cast(), *v);
        }
    }
}

impl Micro for Avx2 {
    const MR: usize = 4;

    #[inline(always)]
    unsafe fn tile(
        mr: usize,
        a: *const u8,
        lda: usize,
        kbytes: usize,
        b: *const i8,
        c: *mut i32,
        ldc: usize,
        zrow: *const i32,
    ) {
        for r in 0..mr {
            // SAFETY: forwarded contract, row `r < mr`.
            unsafe {
                let cr = c.add(r * ldc);
                let init = if zrow.is_null() { cr.cast_const() } else { zrow };
                row_tile(a.add(r * lda), kbytes, b, cr, init);
            }
        }
    }
}

/// The AVX2 tier's GEMM: the whole loop nest compiled with AVX2.
///
/// # Safety
/// The CPU supports AVX2; `a.len() == m * b.k()` and `c.len() == m * b.n()`.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn gemm(a: &[u8], m: usize, za: u8, b: &PackedB, c: &mut [i32]) {
    // SAFETY: forwarded from the caller.
    unsafe { drive::<Avx2>(a, m, za, b, c) }
}

/// The AVX2 tier's convolution (see [`drive_conv`]).
///
/// # Safety
/// The CPU supports the tier's instructions; `drive_conv`'s contract.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn conv(img: &[u8], g: &ConvGeom, rows: (usize, usize), za: u8, b: &PackedB, acc: &mut [i32]) {
    // SAFETY: forwarded from the caller.
    unsafe { drive_conv::<Avx2>(img, g, rows, za, b, acc) }
}
