//! AVX2 micro-kernel: `vpmaddubsw` + `vpmaddwd`, exact for all inputs.
//!
//! `vpmaddubsw` adds two u8·s8 products into an i16 with saturation. Two
//! forms keep the sums exact:
//! - **Fitting groups** ([`PackedB::pairs_fit_i16`]): no pair of adjacent
//!   weights can leave i16 (their positive parts and their negative parts
//!   each add up to at most 128, so |a₁·w₁ + a₂·w₂| ≤ 255·128). Every pair
//!   of 7-bit weights fits, so the overflow fix makes every group fit. One
//!   `vpmaddubsw`, one `vpmaddwd` and one add per 32 multiply-adds; tiles of
//!   [`Avx2::MR`] rows × 16 columns in 10 i32 accumulators, each B load
//!   shared by the tile's rows ([`fitting_rows`]).
//! - **Other groups**: each activation byte is split as `a = lo + 128·hi`
//!   with `lo = a & 0x7f` and `hi = a >> 7`. Pairs of `lo·b` lie in
//!   [−32512, 32512] and pairs of `hi·b` in [−256, 254]: neither saturates.
//!   `vpmaddwd` widens each to i32 (`hi` pairs after summing up to 64
//!   k-groups in i16, see [`row_tile`]). Rows are computed one at a time, 32
//!   columns in 4 i32 and 4 i16 accumulators, at 5 instructions per 32
//!   multiply-adds (3 of them multiplies).
//!
//! A tile uses the fitting form when every group of its depth block fits,
//! which the packed weights record per panel and group.

use std::arch::x86_64::{
    __m256i, _mm256_add_epi16, _mm256_add_epi32, _mm256_loadu_si256, _mm256_madd_epi16, _mm256_maddubs_epi16,
    _mm256_set1_epi16, _mm256_set1_epi32, _mm256_setzero_si256, _mm256_storeu_si256,
};

use super::gemm::{ConvGeom, Micro, Runs, drive, drive_conv, tail_word};
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

/// The fitting form's tile body for a compile-time row count, over the
/// runs of [`Micro::tile_runs`]: two halves of 16 columns, each in `2·MR`
/// i32 accumulators.
///
/// # Safety
/// [`Micro::tile_runs_fitting`]'s contract with `mr == MR`, on a CPU with
/// AVX2.
#[inline(always)]
unsafe fn fitting_rows<const MR: usize>(
    a: *const u8,
    lda: usize,
    runs: Runs,
    b: *const i8,
    c: *mut i32,
    ldc: usize,
    zrow: *const i32,
) {
    // SAFETY: the caller guarantees AVX2, that no pair in the groups at `b`
    // can saturate (so each `vpmaddubsw` lane is the exact pair sum), and
    // that every pointer below stays inside the memory `Micro::tile_runs`
    // describes: rows r < MR of A, each run up to `runs.len` bytes (a
    // partial group, only in a single run, goes through `tail_word`), the
    // runs' packed groups of B one after another, 32 i32 per row of C and
    // of `zrow`.
    unsafe {
        let ones = _mm256_set1_epi16(1);
        let full = runs.len / KG;
        for half in 0..2 {
            let col = 16 * half;
            let mut acc = [[_mm256_setzero_si256(); 2]; MR];
            for (r, row) in acc.iter_mut().enumerate() {
                let src = if zrow.is_null() { c.add(r * ldc + col).cast_const() } else { zrow.add(col) };
                *row = [_mm256_loadu_si256(src.cast()), _mm256_loadu_si256(src.add(8).cast())];
            }
            let mut bh = b.add(64 * half);
            let mut a_run = a;
            for run in 0..runs.count {
                a_run = a.add(run * runs.stride);
                for g in 0..full {
                    let b0 = _mm256_loadu_si256(bh.add(g * GROUP_BYTES).cast());
                    let b1 = _mm256_loadu_si256(bh.add(g * GROUP_BYTES + 32).cast());
                    for (r, row) in acc.iter_mut().enumerate() {
                        let av = _mm256_set1_epi32(std::ptr::read_unaligned(a_run.add(r * lda + g * KG).cast::<i32>()));
                        row[0] = _mm256_add_epi32(row[0], _mm256_madd_epi16(_mm256_maddubs_epi16(av, b0), ones));
                        row[1] = _mm256_add_epi32(row[1], _mm256_madd_epi16(_mm256_maddubs_epi16(av, b1), ones));
                    }
                }
                bh = bh.add(full * GROUP_BYTES);
            }
            let rest = runs.len - full * KG;
            if rest > 0 {
                let b0 = _mm256_loadu_si256(bh.cast());
                let b1 = _mm256_loadu_si256(bh.add(32).cast());
                for (r, row) in acc.iter_mut().enumerate() {
                    let av = _mm256_set1_epi32(tail_word(a_run.add(r * lda + full * KG), rest));
                    row[0] = _mm256_add_epi32(row[0], _mm256_madd_epi16(_mm256_maddubs_epi16(av, b0), ones));
                    row[1] = _mm256_add_epi32(row[1], _mm256_madd_epi16(_mm256_maddubs_epi16(av, b1), ones));
                }
            }
            for (r, row) in acc.iter().enumerate() {
                _mm256_storeu_si256(c.add(r * ldc + col).cast(), row[0]);
                _mm256_storeu_si256(c.add(r * ldc + col + 8).cast(), row[1]);
            }
        }
    }
}

impl Micro for Avx2 {
    const MR: usize = 5;

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

    #[inline(always)]
    unsafe fn tile_runs_fitting(
        mr: usize,
        a: *const u8,
        lda: usize,
        runs: Runs,
        b: *const i8,
        c: *mut i32,
        ldc: usize,
        zrow: *const i32,
    ) {
        // SAFETY: forwarded contract; `mr` selects the matching row count.
        unsafe {
            match mr {
                5 => fitting_rows::<5>(a, lda, runs, b, c, ldc, zrow),
                4 => fitting_rows::<4>(a, lda, runs, b, c, ldc, zrow),
                3 => fitting_rows::<3>(a, lda, runs, b, c, ldc, zrow),
                2 => fitting_rows::<2>(a, lda, runs, b, c, ldc, zrow),
                _ => fitting_rows::<1>(a, lda, runs, b, c, ldc, zrow),
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
