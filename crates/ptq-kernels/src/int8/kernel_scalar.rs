//! Portable micro-kernel: plain wrapping i32 multiply-adds over the packed
//! panel, for CPUs without a SIMD tier (and as the `scalar` tier).

use super::gemm::{ConvGeom, Micro, drive, drive_conv, tail_word};
use super::pack::{GROUP_BYTES, KG, NR, PackedB};

pub(crate) struct Scalar;

impl Micro for Scalar {
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
        let groups = kbytes.div_ceil(KG);
        // SAFETY: `Micro::tile`'s contract: `groups` packed groups at `b`,
        // `kbytes` bytes of each of `mr` rows at `a` (the partial last group
        // is read with `tail_word`), `mr` rows of 32 i32 at `c`, and 32 i32
        // at `zrow` when it is non-null.
        unsafe {
            let b = std::slice::from_raw_parts(b, groups * GROUP_BYTES);
            for r in 0..mr {
                let mut acc = [0i32; NR];
                for (j, v) in acc.iter_mut().enumerate() {
                    *v = if zrow.is_null() { *c.add(r * ldc + j) } else { *zrow.add(j) };
                }
                let row = a.add(r * lda);
                for g in 0..groups {
                    let word = if (g + 1) * KG <= kbytes {
                        i32::from_le_bytes(std::ptr::read_unaligned(row.add(g * KG).cast::<[u8; 4]>()))
                    } else {
                        tail_word(row.add(g * KG), kbytes - g * KG)
                    };
                    let av = word.to_le_bytes().map(i32::from);
                    let group = &b[g * GROUP_BYTES..(g + 1) * GROUP_BYTES];
                    for (j, v) in acc.iter_mut().enumerate() {
                        let bw = &group[j * KG..j * KG + KG];
                        let dot = av[0] * i32::from(bw[0])
                            + av[1] * i32::from(bw[1])
                            + av[2] * i32::from(bw[2])
                            + av[3] * i32::from(bw[3]);
                        *v = v.wrapping_add(dot);
                    }
                }
                for (j, v) in acc.iter().enumerate() {
                    *c.add(r * ldc + j) = *v;
                }
            }
        }
    }
}

/// The scalar tier's GEMM (see [`drive`]).
///
/// # Safety
/// `a.len() == m * b.k()` and `c.len() == m * b.n()`.
pub(crate) unsafe fn gemm(a: &[u8], m: usize, za: u8, b: &PackedB, c: &mut [i32]) {
    // SAFETY: the scalar kernel needs no CPU feature; the caller checked the
    // lengths.
    unsafe { drive::<Scalar>(a, m, za, b, c) }
}

/// The scalar tier's convolution (see [`drive_conv`]).
///
/// # Safety
/// The CPU supports the tier's instructions; `drive_conv`'s contract.
pub(crate) unsafe fn conv(img: &[u8], g: &ConvGeom, rows: (usize, usize), za: u8, b: &PackedB, acc: &mut [i32]) {
    // SAFETY: forwarded from the caller.
    unsafe { drive_conv::<Scalar>(img, g, rows, za, b, acc) }
}
