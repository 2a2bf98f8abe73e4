//! Convolution over small feature maps: the im2col columns of several images
//! side by side, so one GEMM covers them all instead of one tiny GEMM per
//! image.
//!
//! Images are split into contiguous runs, one task each (as many tasks as
//! pool participants when the work pays for the hand-off); a task builds the
//! columns of its images per group into a scratch matrix
//! [cg·KH·KW, images·OH·OW], multiplies by W_g and scatters the result, plus
//! bias, into its part of y.

use super::conv::{Conv2d, Layer, Plane};
use super::gemm::{Gemm, sgemm};
#[cfg(target_arch = "x86_64")]
use super::isa::lane_mask;
use super::isa::{Isa, multiversion};
use super::scratch::with_scratch;
use super::tasks;
use crate::Threads;

/// Largest column matrix (elements) a task builds: 4 MiB.
pub(crate) const COL_LIMIT: usize = 1 << 20;

/// Multiply-adds per task below which a second task costs more than it saves.
const MIN_TASK_MACS: usize = 1 << 19;

/// Whether [`conv`] should handle this layer: more than one image, small
/// output planes, and all columns of one group within [`COL_LIMIT`].
pub(crate) fn suits(p: &Conv2d, plane: &Plane, cg: usize) -> bool {
    let ohw = plane.oh * plane.ow;
    p.n > 1 && ohw < 256 && ohw.saturating_mul(p.n).saturating_mul(cg * p.kh * p.kw) <= COL_LIMIT
}

/// y\[n, m\] = bias\[m\] + conv(x\[n\], w\[m\]) for small planes; the caller
/// checked every length against the geometry.
pub(crate) fn conv(l: &Layer<'_>, y: &mut [f32], threads: Threads) {
    let Layer { p, plane, cg, x, .. } = *l;
    let ohw = plane.oh * plane.ow;
    let macs = p.n * p.m * ohw * cg * p.kh * p.kw;
    let tasks = match threads {
        Threads::Single => 1,
        Threads::Pool => crate::parallel::width(threads).min(macs / MIN_TASK_MACS).clamp(1, p.n),
    };
    let per = p.n.div_ceil(tasks);
    let (chw, mohw) = (p.c * p.h * p.w, p.m * ohw);
    let jobs: Vec<(usize, &mut [f32])> = y.chunks_mut(per * mohw).enumerate().collect();
    let inner = if jobs.len() > 1 { Threads::Single } else { threads };
    let outer = if jobs.len() > 1 { Threads::Pool } else { Threads::Single };
    tasks::for_each(
        jobs,
        outer,
        || (),
        |(), (job, y_run)| {
            let images = y_run.len() / mohw;
            let x_run = &x[job * per * chw..][..images * chw];
            run_images(&Layer { x: x_run, ..*l }, images, y_run, inner);
        },
    );
}

/// [`conv`] for `images` consecutive images on one task.
fn run_images(l: &Layer<'_>, images: usize, y: &mut [f32], threads: Threads) {
    let Layer { p, plane, cg, mg, .. } = *l;
    let ohw = plane.oh * plane.ow;
    let kg = cg * p.kh * p.kw;
    let cols = images * ohw;
    let (ph, pw) = (p.h + p.pads[0] + p.pads[2], p.w + p.pads[1] + p.pads[3]);
    let (np, nc, no) = (cg * ph * pw, kg * cols, mg * cols);
    with_scratch(np + nc + no, |scratch| {
        let (padded, rest) = scratch.split_at_mut(np);
        let (col, out) = rest.split_at_mut(nc);
        // Borders stay zero: only the interior is rewritten per image. The
        // column matrix is written in full and the GEMM does not read `out`.
        padded.fill(0.0);
        fill_and_multiply(l, images, y, threads, [padded, col, out]);
    });
}

/// The body of [`run_images`] on its scratch buffers.
/// `scratch` is [padded image, column matrix, GEMM result].
fn fill_and_multiply(l: &Layer<'_>, images: usize, y: &mut [f32], threads: Threads, scratch: [&mut [f32]; 3]) {
    let Layer { p, plane, cg, mg, x, w, bias } = *l;
    let plane = &plane;
    let [padded, col, out] = scratch;
    let ohw = plane.oh * plane.ow;
    let kg = cg * p.kh * p.kw;
    let cols = images * ohw;
    let (ph, pw) = (p.h + p.pads[0] + p.pads[2], p.w + p.pads[1] + p.pads[3]);
    let hw = p.h * p.w;
    let isa = Isa::detect();
    for grp in 0..p.group {
        for b in 0..images {
            let x_group = &x[(b * p.c + grp * cg) * hw..][..cg * hw];
            for (c, src) in x_group.chunks_exact(hw).enumerate() {
                for (iy, row) in src.chunks_exact(p.w).enumerate() {
                    let dst = &mut padded[(c * ph + iy + p.pads[0]) * pw + p.pads[1]..][..p.w];
                    // SAFETY: both slices are `p.w` long and distinct borrows.
                    unsafe { copy_short(row.as_ptr(), dst.as_mut_ptr(), p.w) };
                }
            }
            columns(isa, plane, cg, [ph, pw], padded, b * ohw, cols, col);
        }
        let w_group = &w[grp * mg * kg..][..mg * kg];
        sgemm(&Gemm::row_major(mg, cols, kg, false, false), w_group, col, out, threads);
        let bias = bias.map(|b| &b[grp * mg..][..mg]);
        scatter(isa, &out[..mg * cols], mg, ohw, bias, &mut y[grp * mg * ohw..], p.m * ohw);
    }
}

multiversion! {
    /// Scatters the GEMM result `out` ([`rows`, images·`ohw`]) into NCHW
    /// `y`: row r, image b goes to `y[b·stride + r·ohw ..][..ohw]`, plus
    /// `bias[r]`.
    fn scatter(out: &[f32], rows: usize, ohw: usize, bias: Option<&[f32]>, y: &mut [f32], stride: usize) => scatter_body;
}

#[inline(always)]
fn scatter_body(out: &[f32], rows: usize, ohw: usize, bias: Option<&[f32]>, y: &mut [f32], stride: usize) {
    if rows == 0 || ohw == 0 || out.len() < rows {
        return;
    }
    for (r, src_row) in out.chunks_exact(out.len() / rows).enumerate() {
        let bv = bias.map_or(0.0, |b| b[r]);
        for (b, src) in src_row.chunks_exact(ohw).enumerate() {
            for (d, &s) in y[b * stride + r * ohw..][..ohw].iter_mut().zip(src) {
                *d = s + bv;
            }
        }
    }
}

/// Writes the im2col columns of one zero-padded image (`cg` planes of
/// `ph`×`pw`) into columns `first .. first + OH·OW` of `col`, a row-major
/// [cg·KH·KW, `cols`] matrix.
#[allow(clippy::too_many_arguments)]
fn columns(
    isa: Isa,
    g: &Plane,
    cg: usize,
    [ph, pw]: [usize; 2],
    padded: &[f32],
    first: usize,
    cols: usize,
    col: &mut [f32],
) {
    let (oh, ow) = (g.oh, g.ow);
    let taps = g.kh * g.kw;
    assert!(padded.len() >= cg * ph * pw && first + oh * ow <= cols && col.len() >= cg * taps * cols);
    if oh == 0 || ow == 0 {
        return;
    }
    // The last tap of the last output reads row (oh-1)·sh + (kh-1)·dh and
    // column (ow-1)·sw + (kw-1)·dw of the padded plane.
    assert!((oh - 1) * g.sh + (g.kh - 1) * g.dh < ph && (ow - 1) * g.sw + (g.kw - 1) * g.dw < pw);
    let src = padded.as_ptr();
    let dst = col.as_mut_ptr();
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx512 && oh * ow <= 16 && tiny_span(g, pw) <= 32 {
        // SAFETY: AVX-512F was detected; the asserts above bound every
        // window, and `columns_tiny_plane` masks its loads to `tiny_span`.
        unsafe { columns_tiny_plane(g, cg, [ph, pw], padded, first, cols, dst) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx512 && g.sw == 1 && ow <= 16 {
        // SAFETY: AVX-512F was detected; the asserts above bound every
        // row this reads and writes, as in the loop below.
        unsafe { columns_short_rows(g, cg, [ph, pw], src, first, cols, dst) };
        return;
    }
    let _ = isa;
    for_each_row(g, cg, [ph, pw], first, cols, |s, d| {
        // SAFETY: by the asserts above, s + (ow-1)·sw < cg·ph·pw
        // ≤ padded.len() (row index < ph, column index < pw) and
        // d + ow ≤ k·cols + cols ≤ col.len(); `col` is a unique
        // borrow distinct from `padded`.
        unsafe {
            if g.sw == 1 {
                copy_short(src.add(s), dst.add(d), ow);
            } else {
                for ox in 0..ow {
                    *dst.add(d + ox) = *src.add(s + ox * g.sw);
                }
            }
        }
    });
}

/// Calls `f(s, d)` for every output row of every tap: `s` is the offset in
/// the padded image of the row's first input (channel c, kernel tap
/// (ky, kx), output row oy) and `d` its offset in the column matrix (row
/// `(c·KH + ky)·KW + kx`, from column `first + oy·OW`).
#[inline(always)]
fn for_each_row(
    g: &Plane,
    cg: usize,
    [ph, pw]: [usize; 2],
    first: usize,
    cols: usize,
    mut f: impl FnMut(usize, usize),
) {
    for c in 0..cg {
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let k = (c * g.kh + ky) * g.kw + kx;
                for oy in 0..g.oh {
                    f((c * ph + oy * g.sh + ky * g.dh) * pw + kx * g.dw, k * cols + first + oy * g.ow);
                }
            }
        }
    }
}

/// Floats of one padded channel plane that the windows of one kernel row
/// (`ky`) read, from the first window's first tap to the last window's last.
#[cfg(target_arch = "x86_64")]
fn tiny_span(g: &Plane, pw: usize) -> usize {
    (g.oh - 1) * g.sh * pw + (g.ow - 1) * g.sw + (g.kw - 1) * g.dw + 1
}

/// [`columns`] for output planes of at most 16 positions whose windows for
/// one kernel row lie within 32 consecutive floats of the padded plane: per
/// (channel, kernel row) two masked loads, then per kernel column one
/// two-register permute that gathers the whole output plane's taps, and one
/// masked store.
///
/// # Safety
/// The CPU must support AVX-512F; `oh·ow ≤ 16`, `tiny_span ≤ 32`, and the
/// bounds `columns` asserts must hold.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn columns_tiny_plane(
    g: &Plane,
    cg: usize,
    [ph, pw]: [usize; 2],
    padded: &[f32],
    first: usize,
    cols: usize,
    dst: *mut f32,
) {
    use std::arch::x86_64::{_mm512_loadu_si512, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps, _mm512_permutex2var_ps};
    let (oh, ow) = (g.oh, g.ow);
    let span = tiny_span(g, pw);
    let (lo_mask, hi_mask) = (lane_mask(span), lane_mask(span.saturating_sub(16)));
    let out_mask = lane_mask(oh * ow);
    // Per kernel column, the offset (from the kernel row's first float) of
    // each output position's tap; unused lanes point at 0.
    let mut index = vec![[0i32; 16]; g.kw];
    for (kx, idx) in index.iter_mut().enumerate() {
        for oy in 0..oh {
            for ox in 0..ow {
                idx[oy * ow + ox] = (oy * g.sh * pw + ox * g.sw + kx * g.dw) as i32;
            }
        }
    }
    let src = padded.as_ptr();
    for c in 0..cg {
        for ky in 0..g.kh {
            let base = (c * ph + ky * g.dh) * pw;
            // SAFETY: the windows of row `ky` span `span` floats from `base`,
            // inside channel c's padded plane (the asserts in `columns`); the
            // masks keep both loads within them. Each store writes `oh·ow`
            // floats of column-matrix row k from `first`, inside `col`.
            unsafe {
                let lo = _mm512_maskz_loadu_ps(lo_mask, src.add(base));
                let hi = _mm512_maskz_loadu_ps(hi_mask, src.add(base + 16));
                for (kx, idx) in index.iter().enumerate() {
                    let k = (c * g.kh + ky) * g.kw + kx;
                    let idx = _mm512_loadu_si512(idx.as_ptr().cast());
                    let v = _mm512_permutex2var_ps(lo, idx, hi);
                    _mm512_mask_storeu_ps(dst.add(k * cols + first), out_mask, v);
                }
            }
        }
    }
}

/// [`columns`] for stride-1 rows of at most 16 outputs: one masked AVX-512
/// load and store per row.
///
/// # Safety
/// The CPU must support AVX-512F, and the bounds `columns` asserts must hold
/// for `src` (the padded image) and `dst` (the column matrix).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn columns_short_rows(
    g: &Plane,
    cg: usize,
    [ph, pw]: [usize; 2],
    src: *const f32,
    first: usize,
    cols: usize,
    dst: *mut f32,
) {
    use std::arch::x86_64::{_mm512_mask_storeu_ps, _mm512_maskz_loadu_ps};
    let mask = lane_mask(g.ow);
    for_each_row(g, cg, [ph, pw], first, cols, |s, d| {
        // SAFETY: the caller's bounds cover `ow` elements from `s` and `d`;
        // masked-off lanes are neither read nor written.
        unsafe {
            let v = _mm512_maskz_loadu_ps(mask, src.add(s));
            _mm512_mask_storeu_ps(dst.add(d), mask, v);
        }
    });
}

/// Copies `len` floats from `src` to `dst` in 4-wide pieces, without the
/// call a `memcpy` of a few elements would cost.
///
/// # Safety
/// `src..src+len` must be readable, `dst..dst+len` writable, not overlapping.
#[inline(always)]
unsafe fn copy_short(src: *const f32, dst: *mut f32, len: usize) {
    let mut i = 0;
    // SAFETY: every access is below `len`, inside the ranges the caller vouched for.
    unsafe {
        while i + 4 <= len {
            dst.add(i).cast::<[f32; 4]>().write_unaligned(src.add(i).cast::<[f32; 4]>().read_unaligned());
            i += 4;
        }
        while i < len {
            *dst.add(i) = *src.add(i);
            i += 1;
        }
    }
}
