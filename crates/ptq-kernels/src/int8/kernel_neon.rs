//! aarch64 NEON micro-kernel: u8 and s8 widened to i16 and multiplied into
//! i32 lanes with `smlal` (exact, wrapping like the reference). One row at a
//! time, 32 columns in 32 four-lane accumulators (one lane per depth of the
//! k-group), summed across lanes at the end. A `udot`/`usdot` kernel would
//! be faster; this one only needs base NEON, present on every aarch64 CPU.

use std::arch::aarch64::{
    int32x4_t, vaddvq_s32, vcreate_u8, vdupq_n_s32, vget_high_s8, vget_high_s16, vget_low_s8, vget_low_s16,
    vget_low_u16, vld1q_s8, vmlal_s16, vmovl_s8, vmovl_u8, vreinterpret_s16_u16,
};

use super::gemm::{ConvGeom, Micro, drive, drive_conv, tail_word};
use super::pack::{GROUP_BYTES, KG, NR, PackedB};

pub(crate) struct Neon;

impl Micro for Neon {
    const MR: usize = 1;

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
        let groups = kbytes.div_ceil(KG);
        // SAFETY: `Micro::tile`'s contract: `groups` packed groups at `b`,
        // `kbytes` bytes of each of `mr` rows at `a` (the partial group goes
        // through `tail_word`), `mr` rows of 32 i32 at `c`, 32 i32 at `zrow`
        // when non-null. NEON is part of the aarch64 baseline.
        unsafe {
            for r in 0..mr {
                let mut acc: [int32x4_t; NR] = [vdupq_n_s32(0); NR];
                for g in 0..groups {
                    let ap = a.add(r * lda + g * KG);
                    let word = if (g + 1) * KG <= kbytes {
                        std::ptr::read_unaligned(ap.cast::<i32>())
                    } else {
                        tail_word(ap, kbytes - g * KG)
                    };
                    // The four activations as i16 (u8 fits without sign issues).
                    let av = vreinterpret_s16_u16(vget_low_u16(vmovl_u8(vcreate_u8(u64::from(word as u32)))));
                    for q in 0..NR / 4 {
                        // 16 bytes: columns 4q..4q+4, four depths each.
                        let bv = vld1q_s8(b.add(g * GROUP_BYTES + 16 * q));
                        let lo = vmovl_s8(vget_low_s8(bv));
                        let hi = vmovl_s8(vget_high_s8(bv));
                        acc[4 * q] = vmlal_s16(acc[4 * q], vget_low_s16(lo), av);
                        acc[4 * q + 1] = vmlal_s16(acc[4 * q + 1], vget_high_s16(lo), av);
                        acc[4 * q + 2] = vmlal_s16(acc[4 * q + 2], vget_low_s16(hi), av);
                        acc[4 * q + 3] = vmlal_s16(acc[4 * q + 3], vget_high_s16(hi), av);
                    }
                }
                for (j, v) in acc.iter().enumerate() {
                    let init = if zrow.is_null() { *c.add(r * ldc + j) } else { *zrow.add(j) };
                    *c.add(r * ldc + j) = init.wrapping_add(vaddvq_s32(*v));
                }
            }
        }
    }
}

/// The NEON tier's GEMM.
///
/// # Safety
/// `a.len() == m * b.k()` and `c.len() == m * b.n()`.
pub(crate) unsafe fn gemm(a: &[u8], m: usize, za: u8, b: &PackedB, c: &mut [i32]) {
    // SAFETY: NEON is always present on aarch64; the caller checked lengths.
    unsafe { drive::<Neon>(a, m, za, b, c) }
}

/// The NEON tier's convolution (see [`drive_conv`]).
///
/// # Safety
/// The CPU supports the tier's instructions; `drive_conv`'s contract.
pub(crate) unsafe fn conv(img: &[u8], g: &ConvGeom, rows: (usize, usize), za: u8, b: &PackedB, acc: &mut [i32]) {
    // SAFETY: forwarded from the caller.
    unsafe { drive_conv::<Neon>(img, g, rows, za, b, acc) }
}
