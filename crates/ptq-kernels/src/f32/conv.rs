//! 2-D convolution: NCHW input, weights [M, C/group, KH, KW].
//!
//! Three paths, all with the same result up to summation order:
//! - depthwise (group == C, any channel multiplier M/C): a direct loop per
//!   output plane ([`super::depthwise`]);
//! - 1x1, stride 1, no padding: one GEMM per (batch, group), W·X, no im2col;
//! - anything else: im2col of a tile of output positions, then a GEMM, per
//!   (batch, group, tile), so the column buffer stays in cache and batch-1
//!   layers still have tasks to run in parallel.

use super::depthwise;
use super::gemm::{Gemm, sgemm};
use super::im2col::im2col;
use super::tasks::{self, Tile};
use super::window::{out_len, product};
use crate::Threads;

/// 2-D convolution geometry, NCHW input, weights [M, C/group, KH, KW].
///
/// `pads` is [top, left, bottom, right]; `stride` and `dilation` are
/// [vertical, horizontal].
#[derive(Clone, Copy, Debug)]
pub struct Conv2d {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub m: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    pub pads: [usize; 4],
    pub group: usize,
}

impl Conv2d {
    /// Output [OH, OW] (ONNX `Conv`, floor rounding); a dimension is 0 when
    /// the padded input is smaller than the dilated kernel. Panics if a stride
    /// is 0 or on overflow.
    pub fn out_hw(&self) -> [usize; 2] {
        [
            out_len(self.h, self.pads[0], self.pads[2], self.kh, self.stride[0], self.dilation[0]),
            out_len(self.w, self.pads[1], self.pads[3], self.kw, self.stride[1], self.dilation[1]),
        ]
    }
}

/// The part of the geometry one input plane → output plane loop needs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plane {
    pub h: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub dh: usize,
    pub dw: usize,
    pub pt: usize,
    pub pl: usize,
    pub oh: usize,
    pub ow: usize,
}

/// Target size in bytes of one im2col tile (rows = C/group·KH·KW, columns =
/// output positions): small enough to stay in L2 next to the GEMM's packed
/// panels.
const TILE_BYTES: usize = 256 * 1024;

/// Fewest output positions per im2col tile, so each GEMM stays wide enough
/// to run at full speed.
const MIN_TILE: usize = 64;

/// y\[n, m, oh, ow\] = bias\[m\] + Σ x·w over the window (zero padding).
///
/// `x` is [N, C, H, W], `w` is [M, C/group, KH, KW], `bias` (if any) is [M]
/// and `y` is [N, M, OH, OW] with [OH, OW] = [`Conv2d::out_hw`]; prior
/// contents of `y` are ignored. With [`Threads::Rayon`] work is split over
/// batch × group × tiles of output positions (or inside the GEMM when there
/// are too few tasks).
///
/// Panics if a slice length does not match the geometry, if `group` is 0 or
/// does not divide both C and M, or if a stride or dilation is 0.
pub fn conv2d(p: &Conv2d, x: &[f32], w: &[f32], bias: Option<&[f32]>, y: &mut [f32], threads: Threads) {
    assert!(p.group > 0, "conv2d: group is 0");
    assert!(
        p.c % p.group == 0 && p.m % p.group == 0,
        "conv2d: group {} does not divide C {} and M {}",
        p.group,
        p.c,
        p.m
    );
    assert!(p.dilation[0] > 0 && p.dilation[1] > 0, "conv2d: dilation is 0");
    let [oh, ow] = p.out_hw();
    let (cg, mg) = (p.c / p.group, p.m / p.group);
    assert_eq!(x.len(), product(&[p.n, p.c, p.h, p.w], "conv2d x"), "conv2d: x length");
    assert_eq!(w.len(), product(&[p.m, cg, p.kh, p.kw], "conv2d w"), "conv2d: w length");
    assert_eq!(y.len(), product(&[p.n, p.m, oh, ow], "conv2d y"), "conv2d: y length");
    if let Some(b) = bias {
        assert_eq!(b.len(), p.m, "conv2d: bias length");
    }
    if y.is_empty() {
        return;
    }
    let plane = Plane {
        h: p.h,
        w: p.w,
        kh: p.kh,
        kw: p.kw,
        sh: p.stride[0],
        sw: p.stride[1],
        dh: p.dilation[0],
        dw: p.dilation[1],
        pt: p.pads[0],
        pl: p.pads[1],
        oh,
        ow,
    };
    if p.group == p.c && cg == 1 {
        depthwise::depthwise(&plane, p.c, mg, x, w, bias, y, threads);
    } else if p.kh == 1 && p.kw == 1 && p.stride == [1, 1] && p.pads == [0; 4] {
        pointwise(p, cg, mg, x, w, bias, y, threads);
    } else {
        im2col_gemm(p, &plane, cg, mg, x, w, bias, y, threads);
    }
}

/// 1x1, stride 1, unpadded: y_block\[mg, HW\] = W_g\[mg, cg\] · x_block\[cg, HW\]
/// per (batch, group), written in place (bias first, then beta = 1).
#[allow(clippy::too_many_arguments)]
fn pointwise(
    p: &Conv2d,
    cg: usize,
    mg: usize,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    threads: Threads,
) {
    let hw = p.h * p.w;
    let blocks: Vec<(usize, &mut [f32])> = y.chunks_mut(mg * hw).enumerate().collect();
    let (outer, inner) = tasks::split(blocks.len(), threads);
    let mut g = Gemm::row_major(mg, hw, cg, false, false);
    g.beta = if bias.is_some() { 1.0 } else { 0.0 };
    tasks::for_each(
        blocks,
        outer,
        || (),
        |(), (block, y_block)| {
            let (b, grp) = (block / p.group, block % p.group);
            if let Some(bias) = bias {
                for (row, &v) in y_block.chunks_mut(hw).zip(&bias[grp * mg..(grp + 1) * mg]) {
                    row.fill(v);
                }
            }
            let x_block = &x[(b * p.c + grp * cg) * hw..][..cg * hw];
            let w_group = &w[grp * mg * cg..][..mg * cg];
            sgemm(&g, w_group, x_block, y_block, inner);
        },
    );
}

/// General case: per (batch, group, tile of output positions), im2col the
/// tile into a scratch [cg·KH·KW, width] matrix, multiply by W_g into a
/// scratch [mg, width] result, and copy it out with the bias.
#[allow(clippy::too_many_arguments)]
fn im2col_gemm(
    p: &Conv2d,
    plane: &Plane,
    cg: usize,
    mg: usize,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    threads: Threads,
) {
    let (hw, ohw) = (p.h * p.w, plane.oh * plane.ow);
    let kg = cg * p.kh * p.kw;
    let tile = (TILE_BYTES / 4 / kg.max(1)).max(MIN_TILE).min(ohw);
    let tiles = tasks::tiles(y, mg, ohw, tile);
    let (outer, inner) = tasks::split(tiles.len(), threads);
    tasks::for_each(
        tiles,
        outer,
        || (vec![0.0f32; kg * tile], vec![0.0f32; mg * tile]),
        |(col, out), t: Tile<'_>| {
            let (b, grp) = (t.block / p.group, t.block % p.group);
            let x_group = &x[(b * p.c + grp * cg) * hw..][..cg * hw];
            let w_group = &w[grp * mg * kg..][..mg * kg];
            let col = &mut col[..kg * t.width];
            let out = &mut out[..mg * t.width];
            im2col(plane, cg, x_group, t.p0, t.width, col);
            sgemm(&Gemm::row_major(mg, t.width, kg, false, false), w_group, col, out, inner);
            for (r, (dst, src)) in t.rows.into_iter().zip(out.chunks_exact(t.width)).enumerate() {
                let b = bias.map_or(0.0, |bias| bias[grp * mg + r]);
                for (d, &s) in dst.iter_mut().zip(src) {
                    *d = s + b;
                }
            }
        },
    );
}
