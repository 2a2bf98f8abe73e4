//! The blocked int8 GEMM loop nest shared by every tier; the tiers differ
//! only in their micro-kernel ([`Micro`]).

use super::pack::{GROUP_BYTES, KG, NR, PackedB};

/// k-groups per depth block: a 32-column panel slice of up to 24 KiB stays
/// in L1 while every row block of A passes over it. `cargo xtask bench-gemm`
/// at 128×768×3072 (one block deep) ran in 0.92 ms against 1.08 ms with 64
/// groups (three blocks, each reloading and storing the C tile).
pub(crate) const KC_GROUPS: usize = 192;
/// Most rows a micro-kernel tile may have.
const MAX_MR: usize = 12;
/// Rows of A per row block (its K-deep slice stays in L2).
const MC: usize = 120;

/// One tier's micro-kernel: computes an `mr`×[`NR`] tile of C over one depth
/// block of the packed panel.
pub(crate) trait Micro {
    /// Rows per full tile.
    const MR: usize;

    /// For rows `0..mr` (`1 <= mr <= MR`) and the 32 columns of one panel,
    /// over `kbytes <= 4 * KC_GROUPS` depths:
    /// `acc = init + Σ_{l < kbytes} A[r, l]·B[l, j]` stored to
    /// `c[r * ldc + j]`, where `init` is `zrow[j]` when `zrow` is non-null and
    /// the prior `c[r * ldc + j]` otherwise. All arithmetic wraps (i32).
    ///
    /// # Safety
    /// The CPU supports the tier's instructions; `a.add(r * lda + l)` is
    /// readable for `r < mr`, `l < kbytes`; `b` points to
    /// `kbytes.div_ceil(4) * GROUP_BYTES` readable packed bytes;
    /// `c.add(r * ldc + j)` is valid for reads and writes for `r < mr`,
    /// `j < 32`; `zrow`, if non-null, points to 32 readable i32.
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile(
        mr: usize,
        a: *const u8,
        lda: usize,
        kbytes: usize,
        b: *const i8,
        c: *mut i32,
        ldc: usize,
        zrow: *const i32,
    );
}

/// Reads the last `kbytes % 4` bytes of a row's depth block (the partial
/// group) as one little-endian word, zero-padded.
///
/// # Safety
/// `p.add(i)` is readable for `i < len`, `len < 4`.
#[inline(always)]
pub(crate) unsafe fn tail_word(p: *const u8, len: usize) -> i32 {
    let mut w = [0u8; 4];
    for (i, v) in w.iter_mut().enumerate().take(len) {
        // SAFETY: the caller guarantees `len` readable bytes at `p`.
        *v = unsafe { *p.add(i) };
    }
    i32::from_le_bytes(w)
}

/// C = A·B − za·colsum(B) for row-major A (m×k) and C (m×n), with the
/// micro-kernel `K`. Lengths are checked by the caller.
///
/// # Safety
/// The CPU supports `K`'s instructions; `a.len() == m * b.k()` and
/// `c.len() == m * b.n()`.
#[inline(always)]
pub(crate) unsafe fn drive<K: Micro>(a: &[u8], m: usize, za: u8, b: &PackedB, c: &mut [i32]) {
    let (k, n) = (b.k(), b.n());
    debug_assert!(a.len() == m * k && c.len() == m * n);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c.fill(0);
        return;
    }
    let neg_za = -i32::from(za);
    let zrow: Vec<i32> = b.col_sums_padded().iter().map(|&s| s.wrapping_mul(neg_za)).collect();
    let groups = b.groups();
    let mut edge = [0i32; MAX_MR * NR];
    assert!(K::MR <= MAX_MR, "micro-kernel tiles are at most MAX_MR rows");
    for m0 in (0..m).step_by(MC) {
        let m1 = (m0 + MC).min(m);
        for p in 0..b.panels() {
            let panel = b.panel(p);
            let n0 = p * NR;
            let nv = NR.min(n - n0);
            for g0 in (0..groups).step_by(KC_GROUPS) {
                let g1 = (g0 + KC_GROUPS).min(groups);
                let kbytes = (g1 * KG).min(k) - g0 * KG;
                let first = g0 == 0;
                let bp = panel[g0 * GROUP_BYTES..g1 * GROUP_BYTES].as_ptr();
                let zp = if first { zrow[n0..n0 + NR].as_ptr() } else { std::ptr::null() };
                for r0 in (m0..m1).step_by(K::MR) {
                    let mr = K::MR.min(m1 - r0);
                    let ap = a[r0 * k + g0 * KG..].as_ptr();
                    if nv == NR {
                        let cp = c[r0 * n + n0..].as_mut_ptr();
                        // SAFETY: rows r0..r0+mr < m of A hold k bytes each
                        // from `ap` on, and g0*4 + kbytes <= k; the B slice
                        // holds (g1 - g0) = ceil(kbytes / 4) groups; rows
                        // r0..r0+mr of C hold columns n0..n0+32 <= n;
                        // `zrow[n0..n0+32]` exists (padded to whole panels).
                        // The caller vouches for the CPU features.
                        unsafe { K::tile(mr, ap, k, kbytes, bp, cp, n, zp) };
                    } else {
                        // A partial panel: run the tile on a 32-wide copy.
                        if !first {
                            for r in 0..mr {
                                let row = (r0 + r) * n + n0;
                                edge[r * NR..r * NR + nv].copy_from_slice(&c[row..row + nv]);
                            }
                        }
                        // SAFETY: as above for A, B and `zp`; `edge` holds
                        // MAX_MR >= mr rows of 32 i32.
                        unsafe { K::tile(mr, ap, k, kbytes, bp, edge.as_mut_ptr(), NR, zp) };
                        for r in 0..mr {
                            let row = (r0 + r) * n + n0;
                            c[row..row + nv].copy_from_slice(&edge[r * NR..r * NR + nv]);
                        }
                    }
                }
            }
        }
    }
}
