//! AVX-512 VNNI micro-kernel: 12 rows × 32 columns in 24 zmm accumulators,
//! one `vpdpbusd` per 16 columns × 4 depths (u8 A broadcast as one i32, s8 B
//! from the packed panel). `vpdpbusd` sums the four u8·s8 products exactly
//! and adds them to i32 with wrap-around, so results equal the reference.

use std::arch::x86_64::{
    _mm512_dpbusd_epi32, _mm512_loadu_si512, _mm512_set1_epi32, _mm512_setzero_si512, _mm512_storeu_si512,
};

use super::gemm::{ConvGeom, Micro, Runs, drive, drive_conv, tail_word};
use super::pack::{GROUP_BYTES, KG, PackedB};

pub(crate) struct Avx512Vnni;

/// The tile body for a compile-time row count, over the runs of
/// [`Micro::tile_runs`] (a plain tile is one run).
///
/// # Safety
/// [`Micro::tile_runs`]'s contract with `mr == MR`, on a CPU with AVX-512F
/// and AVX-512 VNNI.
#[inline(always)]
unsafe fn tile_rows<const MR: usize>(
    a: *const u8,
    lda: usize,
    runs: Runs,
    b: *const i8,
    c: *mut i32,
    ldc: usize,
    zrow: *const i32,
) {
    // SAFETY: the caller guarantees the CPU features and that every pointer
    // below stays inside the memory `Micro::tile_runs` describes: rows
    // r < MR of A, each run up to `runs.len` bytes (a partial group, only
    // in a single run, goes through `tail_word`), the runs' packed groups
    // of B one after another, 32 i32 per row of C and of `zrow`.
    unsafe {
        let mut acc = [[_mm512_setzero_si512(); 2]; MR];
        if zrow.is_null() {
            for (r, row) in acc.iter_mut().enumerate() {
                row[0] = _mm512_loadu_si512(c.add(r * ldc).cast());
                row[1] = _mm512_loadu_si512(c.add(r * ldc + 16).cast());
            }
        } else {
            let z0 = _mm512_loadu_si512(zrow.cast());
            let z1 = _mm512_loadu_si512(zrow.add(16).cast());
            for row in acc.iter_mut() {
                *row = [z0, z1];
            }
        }
        let full = runs.len / KG;
        let mut b = b;
        let mut a_run = a;
        for run in 0..runs.count {
            a_run = a.add(run * runs.stride);
            for g in 0..full {
                let b0 = _mm512_loadu_si512(b.add(g * GROUP_BYTES).cast());
                let b1 = _mm512_loadu_si512(b.add(g * GROUP_BYTES + 64).cast());
                for (r, row) in acc.iter_mut().enumerate() {
                    let av = _mm512_set1_epi32(std::ptr::read_unaligned(a_run.add(r * lda + g * KG).cast::<i32>()));
                    row[0] = _mm512_dpbusd_epi32(row[0], av, b0);
                    row[1] = _mm512_dpbusd_epi32(row[1], av, b1);
                }
            }
            b = b.add(full * GROUP_BYTES);
        }
        let rest = runs.len - full * KG;
        if rest > 0 {
            let b0 = _mm512_loadu_si512(b.cast());
            let b1 = _mm512_loadu_si512(b.add(64).cast());
            for (r, row) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_epi32(tail_word(a_run.add(r * lda + full * KG), rest));
                row[0] = _mm512_dpbusd_epi32(row[0], av, b0);
                row[1] = _mm512_dpbusd_epi32(row[1], av, b1);
            }
        }
        for (r, row) in acc.iter().enumerate() {
            _mm512_storeu_si512(c.add(r * ldc).cast(), row[0]);
            _mm512_storeu_si512(c.add(r * ldc + 16).cast(), row[1]);
        }
    }
}

impl Micro for Avx512Vnni {
    const MR: usize = 12;

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
        // SAFETY: a plain tile is one run.
        unsafe { Self::tile_runs(mr, a, lda, Runs::one(kbytes), b, c, ldc, zrow) }
    }

    #[inline(always)]
    unsafe fn tile_runs(
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
                12 => tile_rows::<12>(a, lda, runs, b, c, ldc, zrow),
                11 => tile_rows::<11>(a, lda, runs, b, c, ldc, zrow),
                10 => tile_rows::<10>(a, lda, runs, b, c, ldc, zrow),
                9 => tile_rows::<9>(a, lda, runs, b, c, ldc, zrow),
                8 => tile_rows::<8>(a, lda, runs, b, c, ldc, zrow),
                7 => tile_rows::<7>(a, lda, runs, b, c, ldc, zrow),
                6 => tile_rows::<6>(a, lda, runs, b, c, ldc, zrow),
                5 => tile_rows::<5>(a, lda, runs, b, c, ldc, zrow),
                4 => tile_rows::<4>(a, lda, runs, b, c, ldc, zrow),
                3 => tile_rows::<3>(a, lda, runs, b, c, ldc, zrow),
                2 => tile_rows::<2>(a, lda, runs, b, c, ldc, zrow),
                _ => tile_rows::<1>(a, lda, runs, b, c, ldc, zrow),
            }
        }
    }
}

/// The AVX-512 VNNI tier's GEMM: the whole loop nest compiled with the
/// features, so the micro-kernel inlines into it.
///
/// # Safety
/// The CPU supports AVX-512F, AVX-512BW and AVX-512 VNNI;
/// `a.len() == m * b.k()` and `c.len() == m * b.n()`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(crate) unsafe fn gemm(a: &[u8], m: usize, za: u8, b: &PackedB, c: &mut [i32]) {
    // SAFETY: forwarded from the caller.
    unsafe { drive::<Avx512Vnni>(a, m, za, b, c) }
}

/// The AVX-512 VNNI tier's convolution (see [`drive_conv`]).
///
/// # Safety
/// The CPU supports AVX-512F, AVX-512BW and AVX-512 VNNI; `drive_conv`'s
/// contract.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(crate) unsafe fn conv(img: &[u8], g: &ConvGeom, rows: (usize, usize), za: u8, b: &PackedB, acc: &mut [i32]) {
    // SAFETY: forwarded from the caller.
    unsafe { drive_conv::<Avx512Vnni>(img, g, rows, za, b, acc) }
}
