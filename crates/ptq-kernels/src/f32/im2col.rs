//! im2col: the input patches of a run of output positions, laid out as the
//! B operand of the convolution GEMM.

use super::conv::Plane;
use super::gather::gather;
use super::isa::multiversion;
use super::window::inside;

multiversion! {
    /// Writes columns `p0 .. p0 + width` of the im2col matrix of `x` into
    /// `col`; see [`im2col_body`].
    pub(crate) fn im2col(g: &Plane, channels: usize, x: &[f32], p0: usize, width: usize, col: &mut [f32]) => im2col_body;
}

/// Writes columns `p0 .. p0 + width` of the im2col matrix of `x` (`channels`
/// planes of H×W) into `col`, row-major [channels·KH·KW, width]: row
/// (c, ky, kx), column p = oy·OW + ox holds x\[c, oy·sh + ky·dh − pt,
/// ox·sw + kx·dw − pl\], or 0 where that falls in the padding.
#[inline(always)]
fn im2col_body(g: &Plane, channels: usize, x: &[f32], p0: usize, width: usize, col: &mut [f32]) {
    assert!(x.len() == channels * g.h * g.w && col.len() == channels * g.kh * g.kw * width);
    assert!(p0 + width <= g.oh * g.ow);
    let mut rows = col.chunks_exact_mut(width.max(1));
    for c in 0..channels {
        let x_c = &x[c * g.h * g.w..][..g.h * g.w];
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let Some(row) = rows.next() else { return };
                fill_row(g, x_c, ky, kx, p0, row);
            }
        }
    }
}

/// One im2col row (kernel tap ky, kx of one channel) over the output
/// positions `p0 .. p0 + row.len()`, one output row segment at a time.
#[inline(always)]
fn fill_row(g: &Plane, x_c: &[f32], ky: usize, kx: usize, p0: usize, row: &mut [f32]) {
    let (off_y, off_x) = (ky * g.dh, kx * g.dw);
    if g.ow > 0 && p0.is_multiple_of(g.ow) && row.len().is_multiple_of(g.ow) {
        // Whole output rows: the in-bounds column range is the same for every row.
        let (a, b) = inside(0, g.ow, g.sw, off_x, g.pl, g.w);
        let oy0 = p0 / g.ow;
        for (r, seg) in row.chunks_exact_mut(g.ow).enumerate() {
            let iy = (oy0 + r) * g.sh + off_y;
            if iy < g.pt || iy - g.pt >= g.h {
                seg.fill(0.0);
                continue;
            }
            let x_row = &x_c[(iy - g.pt) * g.w..][..g.w];
            seg[..a].fill(0.0);
            seg[b..].fill(0.0);
            if a < b {
                gather(&mut seg[a..b], &x_row[a * g.sw + off_x - g.pl..], g.sw);
            }
        }
        return;
    }
    let mut p = p0;
    let mut done = 0;
    while done < row.len() {
        let (oy, ox0) = (p / g.ow, p % g.ow);
        let ox1 = g.ow.min(ox0 + row.len() - done);
        let seg = &mut row[done..done + ox1 - ox0];
        let iy = oy * g.sh + off_y;
        if iy < g.pt || iy - g.pt >= g.h {
            seg.fill(0.0);
        } else {
            let x_row = &x_c[(iy - g.pt) * g.w..][..g.w];
            let (a, b) = inside(ox0, ox1, g.sw, off_x, g.pl, g.w);
            let (before, rest) = seg.split_at_mut(a - ox0);
            let (mid, after) = rest.split_at_mut(b - a);
            before.fill(0.0);
            after.fill(0.0);
            if a < b {
                gather(mid, &x_row[a * g.sw + off_x - g.pl..], g.sw);
            }
        }
        done += ox1 - ox0;
        p += ox1 - ox0;
    }
}
