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

    /// [`Micro::tile`] over a depth made of `runs.count` runs of `runs.len`
    /// bytes: depth `i·runs.len + l` of row `r` is at
    /// `a.add(r * lda + i * runs.stride + l)`, and the B groups of the runs
    /// follow each other at `b`. `runs.len` is a multiple of 4 when
    /// `runs.count > 1`; the depth is at most `4 * KC_GROUPS`. A tier may
    /// override this to keep its accumulators in registers across runs.
    ///
    /// # Safety
    /// As [`Micro::tile`], for every run.
    #[allow(clippy::too_many_arguments)]
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
        let groups = runs.len / KG;
        for i in 0..runs.count {
            let init = if i == 0 { zrow } else { std::ptr::null() };
            // SAFETY: run i satisfies `tile`'s contract (the caller's).
            unsafe {
                Self::tile(mr, a.add(i * runs.stride), lda, runs.len, b.add(i * groups * GROUP_BYTES), c, ldc, init)
            };
        }
    }

    /// [`Micro::tile_runs`] where no pair of adjacent weights in the B
    /// groups can make `vpmaddubsw` saturate ([`PackedB::pairs_fit_i16`]),
    /// so a tier may add each pair of products in i16. Tiers whose sums are
    /// exact anyway keep this default.
    ///
    /// # Safety
    /// As [`Micro::tile_runs`], and the B groups satisfy the above.
    #[allow(clippy::too_many_arguments)]
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
        // SAFETY: forwarded contract.
        unsafe { Self::tile_runs(mr, a, lda, runs, b, c, ldc, zrow) }
    }
}

/// [`Micro::tile_runs`], or [`Micro::tile_runs_fitting`] when `fits`.
///
/// # Safety
/// As [`Micro::tile_runs`]; `fits` only if no pair of `b`'s groups can
/// saturate ([`PackedB::pairs_fit_i16`]).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn tile_either<K: Micro>(
    fits: bool,
    mr: usize,
    a: *const u8,
    lda: usize,
    runs: Runs,
    b: *const i8,
    c: *mut i32,
    ldc: usize,
    zrow: *const i32,
) {
    // SAFETY: forwarded contract.
    unsafe {
        if fits {
            K::tile_runs_fitting(mr, a, lda, runs, b, c, ldc, zrow)
        } else {
            K::tile_runs(mr, a, lda, runs, b, c, ldc, zrow)
        }
    }
}

/// A depth split into `count` runs of `len` bytes, `stride` bytes apart in
/// each row of A (a convolution's kernel rows in a channels-last image).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Runs {
    pub count: usize,
    pub len: usize,
    pub stride: usize,
}

impl Runs {
    /// One contiguous run of `len` bytes.
    pub(crate) fn one(len: usize) -> Runs {
        Runs { count: 1, len, stride: 0 }
    }
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

/// `-za·colsum(B)` per column, padded to whole panels: the accumulators'
/// start, which folds the activation zero point out.
fn zero_point_row(b: &PackedB, za: u8) -> Vec<i32> {
    let neg_za = -i32::from(za);
    b.col_sums_padded().iter().map(|&s| s.wrapping_mul(neg_za)).collect()
}

/// Runs one tile into rows `row0..row0 + mr`, columns `n0..n0 + nv` of the
/// row-major C (`n` columns), through the 32-wide `edge` copy when the
/// panel is partial (`nv < NR`). `zp` is null except on the first depth
/// block, where it points to the panel's slice of the zero-point row.
///
/// # Safety
/// `K::tile_runs`'s contract for `a`, `lda`, `runs` and `b`; the rows and
/// columns lie inside `c`; `mr <= MAX_MR`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn tile_into<K: Micro>(
    (mr, a, lda, runs, b, fits): (usize, *const u8, usize, Runs, *const i8, bool),
    c: &mut [i32],
    n: usize,
    (row0, n0, nv): (usize, usize, usize),
    zp: *const i32,
    edge: &mut [i32; MAX_MR * NR],
) {
    if nv == NR {
        let cp = c[row0 * n + n0..].as_mut_ptr();
        // SAFETY: rows row0..row0+mr of C hold columns n0..n0+32 <= n; the
        // rest is the caller's.
        unsafe { tile_either::<K>(fits, mr, a, lda, runs, b, cp, n, zp) };
        return;
    }
    if zp.is_null() {
        for r in 0..mr {
            let row = (row0 + r) * n + n0;
            edge[r * NR..r * NR + nv].copy_from_slice(&c[row..row + nv]);
        }
    }
    // SAFETY: `edge` holds MAX_MR >= mr rows of 32 i32; the rest is the
    // caller's.
    unsafe { tile_either::<K>(fits, mr, a, lda, runs, b, edge.as_mut_ptr(), NR, zp) };
    for r in 0..mr {
        let row = (row0 + r) * n + n0;
        c[row..row + nv].copy_from_slice(&edge[r * NR..r * NR + nv]);
    }
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
    let zrow = zero_point_row(b, za);
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
                let bp = panel[g0 * GROUP_BYTES..g1 * GROUP_BYTES].as_ptr();
                let zp = if g0 == 0 { zrow[n0..n0 + NR].as_ptr() } else { std::ptr::null() };
                let fits = b.pairs_fit_i16(p, g0, g1);
                for r0 in (m0..m1).step_by(K::MR) {
                    let mr = K::MR.min(m1 - r0);
                    let ap = a[r0 * k + g0 * KG..].as_ptr();
                    // SAFETY: rows r0..r0+mr < m of A hold k bytes each from
                    // `ap` on, and g0*4 + kbytes <= k; the B slice holds
                    // (g1 - g0) = ceil(kbytes / 4) groups; `zrow[n0..n0+32]`
                    // exists (padded to whole panels); mr <= K::MR <= MAX_MR.
                    // The caller vouches for the CPU features.
                    unsafe {
                        tile_into::<K>((mr, ap, k, Runs::one(kbytes), bp, fits), c, n, (r0, n0, nv), zp, &mut edge);
                    }
                }
            }
        }
    }
}

/// The shape of an int8 convolution over one channels-last u8 image that is
/// already padded (with the activation zero point): `[hp, wp, c]` in,
/// `[oh·ow, M]` accumulators out, undilated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    /// Channels.
    pub c: usize,
    /// Padded height and width.
    pub hp: usize,
    pub wp: usize,
    /// Kernel height and width.
    pub kh: usize,
    pub kw: usize,
    /// Vertical and horizontal stride.
    pub stride: [usize; 2],
}

impl ConvGeom {
    /// Output height and width (0 when the kernel is larger than the image).
    pub fn out(&self) -> [usize; 2] {
        let o = |len: usize, k: usize, s: usize| if len < k || s == 0 { 0 } else { (len - k) / s + 1 };
        [o(self.hp, self.kh, self.stride[0]), o(self.wp, self.kw, self.stride[1])]
    }

    /// Whether the kernel rows can be read in place: each (`kw·c` bytes)
    /// holds whole 4-deep groups, or there is a single one.
    pub fn in_place(&self) -> bool {
        self.kh == 1 || (self.kw * self.c).is_multiple_of(4)
    }
}

/// The depth blocks of a convolution: `(offset in the image, runs, first
/// group)`, each at most `4 * KC_GROUPS` deep and made of whole kernel rows,
/// or of one slice of a kernel row that is deeper than that.
fn conv_blocks(g: &ConvGeom) -> Vec<(usize, Runs, usize)> {
    let (len, stride) = (g.kw * g.c, g.wp * g.c);
    let kc = KC_GROUPS * KG;
    if g.kh * len <= kc {
        return vec![(0, Runs { count: g.kh, len, stride }, 0)];
    }
    if len <= kc {
        let per = kc / len;
        return (0..g.kh)
            .step_by(per)
            .map(|r0| (r0 * stride, Runs { count: per.min(g.kh - r0), len, stride }, r0 * len / KG))
            .collect();
    }
    (0..g.kh)
        .flat_map(|r| {
            (0..len).step_by(kc).map(move |off| (r * stride + off, Runs::one(kc.min(len - off)), (r * len + off) / KG))
        })
        .collect()
}

/// Output rows `oy0..oy1` of the convolution `g` of `img` (see
/// [`ConvGeom`]) by the packed `[kh·kw·c, M]` weights: `acc` holds those
/// rows, `(oy1 − oy0)·ow × M`.
///
/// # Safety
/// The CPU supports `K`'s instructions; `img.len() == hp·wp·c`,
/// `b.k() == kh·kw·c`, `g.in_place()`, `oy1 <= oh` and
/// `acc.len() == (oy1 − oy0)·ow·b.n()`.
#[inline(always)]
pub(crate) unsafe fn drive_conv<K: Micro>(
    img: &[u8],
    g: &ConvGeom,
    (oy0, oy1): (usize, usize),
    za: u8,
    b: &PackedB,
    acc: &mut [i32],
) {
    let n = b.n();
    let [_, ow] = g.out();
    let [sh, sw] = g.stride;
    if n == 0 || oy1 <= oy0 || ow == 0 {
        return;
    }
    if b.k() == 0 {
        acc.fill(0);
        return;
    }
    let zrow = zero_point_row(b, za);
    let blocks = conv_blocks(g);
    let mut edge = [0i32; MAX_MR * NR];
    assert!(K::MR <= MAX_MR, "micro-kernel tiles are at most MAX_MR rows");
    // Output rows per block: about MC positions, whose image rows stay in L2.
    let rows_per_block = MC.div_ceil(ow).max(1);
    for y0 in (oy0..oy1).step_by(rows_per_block) {
        let y1 = (y0 + rows_per_block).min(oy1);
        for p in 0..b.panels() {
            let panel = b.panel(p);
            let n0 = p * NR;
            let nv = NR.min(n - n0);
            for (bi, &(off, runs, g0)) in blocks.iter().enumerate() {
                let groups = runs.count * runs.len.div_ceil(KG);
                let bp = panel[g0 * GROUP_BYTES..(g0 + groups) * GROUP_BYTES].as_ptr();
                let zp = if bi == 0 { zrow[n0..n0 + NR].as_ptr() } else { std::ptr::null() };
                let fits = b.pairs_fit_i16(p, g0, g0 + groups);
                for oy in y0..y1 {
                    for ox0 in (0..ow).step_by(K::MR) {
                        let mr = K::MR.min(ow - ox0);
                        // Row r of the tile is output (oy, ox0 + r): its
                        // patch starts sw·c bytes after row r − 1's.
                        let ap = img[(oy * sh * g.wp + ox0 * sw) * g.c + off..].as_ptr();
                        let row0 = (oy - oy0) * ow + ox0;
                        // SAFETY: the last byte read, of row mr − 1 in the
                        // last run, is at image position
                        // ((oy·sh + kh − 1)·wp + (ox0 + mr − 1)·sw + kw − 1)·c + c − 1
                        // < hp·wp·c since oy < oh and ox0 + mr <= ow; the
                        // B slice holds the block's groups; `acc` holds
                        // rows row0..row0+mr; mr <= K::MR <= MAX_MR. The
                        // caller vouches for the CPU features.
                        unsafe {
                            tile_into::<K>((mr, ap, sw * g.c, runs, bp, fits), acc, n, (row0, n0, nv), zp, &mut edge);
                        }
                    }
                }
            }
        }
    }
}
