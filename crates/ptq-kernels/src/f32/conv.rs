//! 2-D convolution: NCHW input, weights [M, C/group, KH, KW].
//!
//! Three paths, all with the same result up to summation order:
//! - depthwise (group == C, any channel multiplier M/C): a direct loop per
//!   output plane ([`super::depthwise`]);
//! - 1x1, stride 1, no padding: one GEMM per (batch, group), W·X, no im2col;
//! - anything else: im2col of a tile of output positions, then a GEMM, per
//!   (batch, group, tile), so the column buffer stays in cache and batch-1
//!   layers still have tasks to run in parallel.

use super::batched;
use super::depthwise;
use super::direct;
use super::gemm::{Gemm, sgemm};
use super::im2col::im2col;
use super::isa::Isa;
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

impl Conv2d {
    /// The per-plane geometry (output size from [`Conv2d::out_hw`]).
    pub(crate) fn plane(&self) -> Plane {
        let [oh, ow] = self.out_hw();
        Plane {
            h: self.h,
            w: self.w,
            kh: self.kh,
            kw: self.kw,
            sh: self.stride[0],
            sw: self.stride[1],
            dh: self.dilation[0],
            dw: self.dilation[1],
            pt: self.pads[0],
            pl: self.pads[1],
            oh,
            ow,
        }
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

/// One convolution call's operands, shared by the GEMM-based paths.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layer<'a> {
    pub p: &'a Conv2d,
    pub plane: Plane,
    /// Input and output channels per group.
    pub cg: usize,
    pub mg: usize,
    pub x: &'a [f32],
    pub w: &'a [f32],
    pub bias: Option<&'a [f32]>,
}

/// Target size in bytes of one im2col tile (rows = C/group·KH·KW, columns =
/// output positions). Measured on a ResNet 3x3 64→64 56×56 layer (Zen 4, 1
/// MiB L2): 256 KiB tiles lose about 10 % to per-GEMM packing, 2 MiB and up
/// lose 10 % to im2col traffic and leave too few tiles for two threads.
const TILE_BYTES: usize = 1 << 20;

/// Fewest output positions per im2col tile when splitting for threads: below
/// this each task's GEMM re-packs the whole weight matrix for too little work.
const MIN_TILE: usize = 64;

/// Output positions per im2col tile for `blocks` (batch, group) blocks of
/// `positions` output positions and a reduction of `kg`: within
/// [`TILE_BYTES`], and with [`Threads::Pool`] split further (down to
/// [`MIN_TILE`]) until there are two tasks per worker. Tiles are balanced so
/// the last one is not a sliver.
fn tile_width(kg: usize, positions: usize, blocks: usize, threads: Threads) -> usize {
    let by_cache = positions.div_ceil((TILE_BYTES / 4 / kg.max(1)).max(1));
    let by_threads = match threads {
        Threads::Single => 1,
        Threads::Pool => {
            let workers = crate::parallel::width(threads);
            let tiles = (2 * workers).div_ceil(blocks).min(positions / MIN_TILE);
            // Whole rounds of tasks for a single block (batch 1, no groups).
            if blocks == 1 && tiles >= workers { tiles - tiles % workers } else { tiles }
        }
    };
    positions.div_ceil(by_cache.max(by_threads).max(1))
}

/// y\[n, m, oh, ow\] = bias\[m\] + Σ x·w over the window (zero padding).
///
/// `x` is \[N, C, H, W\], `w` is \[M, C/group, KH, KW\], `bias` (if any) is \[M\]
/// and `y` is [N, M, OH, OW] with [OH, OW] = [`Conv2d::out_hw`]; prior
/// contents of `y` are ignored. With [`Threads::Pool`] work is split over
/// batch × group × tiles of output positions (or inside the GEMM when there
/// are too few tasks).
///
/// Panics if a slice length does not match the geometry, if `group` is 0 or
/// does not divide both C and M, or if a stride or dilation is 0.
pub fn conv2d(p: &Conv2d, x: &[f32], w: &[f32], bias: Option<&[f32]>, y: &mut [f32], threads: Threads) {
    conv2d_tiled(p, x, w, bias, y, threads, None);
}

/// [`conv2d`] with the im2col tile width (output positions) forced to
/// `tile` instead of derived from the cache budget (tests use it to cover
/// tile boundaries on small shapes).
pub(crate) fn conv2d_tiled(
    p: &Conv2d,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    threads: Threads,
    tile: Option<usize>,
) {
    assert!(p.group > 0, "conv2d: group is 0");
    assert!(
        p.c.is_multiple_of(p.group) && p.m.is_multiple_of(p.group),
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
    if let Some(row) = as_row(p) {
        return conv2d_tiled(&row, x, w, bias, y, threads, tile);
    }
    let plane = p.plane();
    let batched = tile.is_none() && batched::suits(p, &plane, cg);
    let layer = Layer { p, plane, cg, mg, x, w, bias };
    // A single-channel input (group 1, C 1) is "depthwise" too, but its
    // small planes go faster as one GEMM with K = KH·KW.
    if p.group == p.c && cg == 1 && !(p.group == 1 && batched) {
        depthwise::depthwise(&plane, p.c, mg, x, w, bias, y, threads);
    } else if p.kh == 1 && p.kw == 1 && p.stride == [1, 1] && p.pads == [0; 4] {
        pointwise(&layer, y, threads);
    } else if tile.is_none() && direct::suits(p, &plane) {
        direct::conv(&layer, y, threads);
    } else if batched {
        batched::conv(&layer, y, threads);
    } else {
        let kg = cg * p.kh * p.kw;
        let tile = tile.unwrap_or_else(|| tile_width(kg, oh * ow, p.n * p.group, threads)).clamp(1, oh * ow);
        im2col_gemm(&layer, y, threads, tile);
    }
}

/// A convolution along H of one-column images (W = KW = 1, no width
/// padding: a 1-D convolution as jax2tf and Keras' Conv1D export it) as the
/// same convolution along W. Input, weights and output have the same memory
/// either way, and the kernels are built for long rows: with W = 1 every
/// im2col and direct-conv row is one element long.
fn as_row(p: &Conv2d) -> Option<Conv2d> {
    (p.w == 1 && p.kw == 1 && p.h > 1 && p.pads[1] == 0 && p.pads[3] == 0).then(|| Conv2d {
        h: 1,
        w: p.h,
        kh: 1,
        kw: p.kh,
        stride: [1, p.stride[0]],
        dilation: [1, p.dilation[0]],
        pads: [0, p.pads[0], 0, p.pads[2]],
        ..*p
    })
}

/// 1x1, stride 1, unpadded: y_block\[mg, HW\] = W_g\[mg, cg\] · x_block\[cg, HW\]
/// per (batch, group), written in place (bias first, then beta = 1).
fn pointwise(l: &Layer<'_>, y: &mut [f32], threads: Threads) {
    let Layer { p, cg, mg, x, w, bias, .. } = *l;
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

/// General case: per (batch, group, tile of up to `tile` output positions),
/// im2col the tile into a scratch [cg·KH·KW, width] matrix, multiply by W_g
/// into a scratch [mg, width] result, and copy it out with the bias.
fn im2col_gemm(l: &Layer<'_>, y: &mut [f32], threads: Threads, tile: usize) {
    let Layer { p, cg, mg, x, w, bias, .. } = *l;
    let plane = &l.plane;
    let (hw, ohw) = (p.h * p.w, plane.oh * plane.ow);
    let kg = cg * p.kh * p.kw;
    let tiles = tasks::tiles(y, mg, ohw, tile);
    let isa = Isa::detect();
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
            im2col(isa, plane, cg, x_group, t.p0, t.width, col);
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::f32::testutil::{close, values};

    /// Direct convolution in f64: (value, Σ|term|) per output element.
    fn reference(p: &Conv2d, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<(f64, f64)> {
        let [oh, ow] = p.out_hw();
        let (cg, mg) = (p.c / p.group, p.m / p.group);
        let mut out = Vec::with_capacity(p.n * p.m * oh * ow);
        for b in 0..p.n {
            for mo in 0..p.m {
                let g = mo / mg;
                for oy in 0..oh {
                    for ox in 0..ow {
                        let bias = bias.map_or(0.0, |bias| bias[mo] as f64);
                        let (mut acc, mut mag) = (bias, bias.abs());
                        for ci in 0..cg {
                            for ky in 0..p.kh {
                                for kx in 0..p.kw {
                                    let iy = (oy * p.stride[0] + ky * p.dilation[0]) as isize - p.pads[0] as isize;
                                    let ix = (ox * p.stride[1] + kx * p.dilation[1]) as isize - p.pads[1] as isize;
                                    if iy < 0 || ix < 0 || iy >= p.h as isize || ix >= p.w as isize {
                                        continue;
                                    }
                                    let xv = x[((b * p.c + g * cg + ci) * p.h + iy as usize) * p.w + ix as usize];
                                    let wv = w[((mo * cg + ci) * p.kh + ky) * p.kw + kx];
                                    let t = xv as f64 * wv as f64;
                                    acc += t;
                                    mag += t.abs();
                                }
                            }
                        }
                        out.push((acc, mag));
                    }
                }
            }
        }
        out
    }

    #[derive(Clone, Copy, Debug)]
    enum Grouping {
        Dense,
        Two,
        Depthwise,
        Multiplier2,
    }

    #[derive(Clone, Copy, Debug)]
    struct Case {
        p: Conv2d,
        bias: bool,
        threads: Threads,
        tile: Option<usize>,
        seed: u64,
    }

    prop_compose! {
        fn case()(
            grouping in prop::sample::select(vec![Grouping::Dense, Grouping::Two, Grouping::Depthwise, Grouping::Multiplier2]),
            n in 1usize..4,
            per_group_c in 1usize..4,
            per_group_m in 1usize..4,
            [kh, kw] in prop::sample::select(vec![[1usize, 1], [3, 3], [5, 3]]),
            stride in [1usize..4, 1usize..4],
            dilation in [1usize..3, 1usize..3],
            pads in [0usize..3, 0usize..3, 0usize..3, 0usize..3],
            [h, w] in [1usize..12, 1usize..12],
            bias: bool,
            threads in prop::sample::select(vec![Threads::Single, Threads::Pool]),
            tile in prop::option::of(1usize..20),
            seed: u64,
        ) -> Case {
            let (group, c, m) = match grouping {
                Grouping::Dense => (1, per_group_c, per_group_m),
                Grouping::Two => (2, 2 * per_group_c, 2 * per_group_m),
                Grouping::Depthwise => (per_group_c + 1, per_group_c + 1, per_group_c + 1),
                Grouping::Multiplier2 => (per_group_c, per_group_c, 2 * per_group_c),
            };
            Case { p: Conv2d { n, c, h, w, m, kh, kw, stride, dilation, pads, group }, bias, threads, tile, seed }
        }
    }

    fn run(case: &Case) -> Result<(), TestCaseError> {
        let p = &case.p;
        let [oh, ow] = p.out_hw();
        let x = values(p.n * p.c * p.h * p.w, case.seed);
        let w = values(p.m * (p.c / p.group) * p.kh * p.kw, case.seed ^ 1);
        let bias = case.bias.then(|| values(p.m, case.seed ^ 2));
        let mut y = vec![f32::NAN; p.n * p.m * oh * ow];
        conv2d_tiled(p, &x, &w, bias.as_deref(), &mut y, case.threads, case.tile);
        let k = p.c / p.group * p.kh * p.kw;
        for (i, (&got, &(want, mag))) in y.iter().zip(&reference(p, &x, &w, bias.as_deref())).enumerate() {
            close(got, want, mag, k).map_err(|e| TestCaseError::fail(format!("y[{i}]: {e}")))?;
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn matches_reference(case in case()) {
            run(&case)?;
        }

        #[test]
        fn depthwise_long_rows_match_reference(
            mut case in case(),
            w in 30usize..80,
            multiplier in 1usize..3,
            [kh, kw] in prop::sample::select(vec![[3usize, 3], [5, 5], [5, 3], [1, 1]]),
        ) {
            // Output rows long enough for the row-by-row depthwise path.
            let p = &mut case.p;
            (p.group, p.m, p.w, p.h, p.kh, p.kw) = (p.c, p.c * multiplier, w, p.h.min(6), kh, kw);
            run(&case)?;
        }

        #[test]
        fn direct_rows_match_reference(
            mut case in case(),
            c in 1usize..12,
            m in 1usize..20,
            [kh, kw] in [1usize..6, 1usize..6],
            h in 1usize..6,
            w in 16usize..72,
        ) {
            // Stride 1, undilated, group 1, output rows of 16 and more: the
            // direct path on AVX-512 (the GEMM paths elsewhere).
            let p = &mut case.p;
            (p.c, p.m, p.kh, p.kw, p.h, p.w, p.group) = (c, m, kh, kw, h, w, 1);
            (p.stride, p.dilation, case.tile) = ([1, 1], [1, 1], None);
            run(&case)?;
        }

        #[test]
        fn one_column_images_match_reference(
            mut case in case(),
            h in 2usize..80,
            kh in 1usize..7,
            [top, bottom] in [0usize..3, 0usize..3],
        ) {
            // W = KW = 1 and no width padding: run along W instead.
            let p = &mut case.p;
            (p.h, p.w, p.kh, p.kw, p.pads) = (h, 1, kh, 1, [top, 0, bottom, 0]);
            prop_assert!(as_row(p).is_some());
            run(&case)?;
        }

        #[test]
        fn pointwise_matches_reference(mut case in case()) {
            case.p.kh = 1;
            case.p.kw = 1;
            case.p.stride = [1, 1];
            case.p.pads = [0; 4];
            run(&case)?;
        }
    }

    #[test]
    fn resnet_and_mobilenet_layers_match_reference() {
        let dense = Conv2d {
            n: 1,
            c: 16,
            h: 20,
            w: 20,
            m: 8,
            kh: 3,
            kw: 3,
            stride: [1, 1],
            dilation: [1, 1],
            pads: [1; 4],
            group: 1,
        };
        let strided = Conv2d { stride: [2, 2], pads: [0, 0, 1, 1], ..dense };
        let depthwise = Conv2d { m: 16, group: 16, ..dense };
        let pointwise = Conv2d { kh: 1, kw: 1, pads: [0; 4], ..dense };
        for p in [dense, strided, depthwise, pointwise] {
            for threads in [Threads::Single, Threads::Pool] {
                run(&Case { p, bias: true, threads, tile: None, seed: 3 }).unwrap();
            }
        }
    }

    #[test]
    fn batched_small_planes_match_reference() {
        // digits-CNN-like layers: many small images, so the batched path runs,
        // split into tasks on the pool (the first is large enough to split).
        let dense = Conv2d {
            n: 33,
            c: 16,
            h: 4,
            w: 5,
            m: 32,
            kh: 3,
            kw: 3,
            stride: [1, 1],
            dilation: [1, 1],
            pads: [1; 4],
            group: 1,
        };
        let single_channel = Conv2d { c: 1, m: 16, h: 8, w: 8, ..dense };
        let strided = Conv2d { stride: [2, 3], dilation: [1, 2], pads: [0, 2, 1, 1], ..dense };
        let grouped = Conv2d { group: 4, ..dense };
        // Output planes of at most 16 positions (one permute per tap on AVX-512).
        let tiny = Conv2d { h: 4, w: 4, ..dense };
        let tiny_dilated = Conv2d { h: 3, w: 3, dilation: [2, 1], pads: [2, 1, 2, 0], m: 5, ..dense };
        for p in [dense, single_channel, strided, grouped, tiny, tiny_dilated] {
            assert!(batched::suits(&p, &p.plane(), p.c / p.group), "{p:?}");
            for threads in [Threads::Single, Threads::Pool] {
                run(&Case { p, bias: true, threads, tile: None, seed: 5 }).unwrap();
                run(&Case { p, bias: false, threads, tile: None, seed: 6 }).unwrap();
            }
        }
    }

    #[test]
    fn out_hw_handles_kernels_larger_than_the_input() {
        let p = Conv2d {
            n: 1,
            c: 1,
            h: 2,
            w: 3,
            m: 1,
            kh: 3,
            kw: 3,
            stride: [1, 1],
            dilation: [1, 1],
            pads: [0; 4],
            group: 1,
        };
        assert_eq!(p.out_hw(), [0, 1]);
        conv2d(&p, &[0.0; 6], &[0.0; 9], None, &mut [], Threads::Single);
    }

    #[test]
    #[should_panic(expected = "conv2d: w length")]
    fn wrong_weight_length_panics() {
        let p = Conv2d {
            n: 1,
            c: 2,
            h: 3,
            w: 3,
            m: 2,
            kh: 3,
            kw: 3,
            stride: [1, 1],
            dilation: [1, 1],
            pads: [1; 4],
            group: 1,
        };
        conv2d(&p, &[0.0; 18], &[0.0; 17], None, &mut [0.0; 18], Threads::Single);
    }
}
