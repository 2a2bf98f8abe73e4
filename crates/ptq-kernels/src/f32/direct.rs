//! Direct convolution on AVX-512 for stride-1, undilated, group-1 layers
//! whose output rows hold at least one vector (ResNet-style 3x3 layers):
//! no im2col matrix and no GEMM packing of it.
//!
//! Output channels go in blocks of [`OC`]. Per image, the input is copied
//! once into a zero-padded buffer wide enough for whole-vector loads; then,
//! per (channel block, output row, run of [`POS`] positions), [`OC`]×2
//! accumulators of 16 lanes take one fused multiply-add per (input channel,
//! tap, output channel) with the weight broadcast from a packed
//! [block][C·KH·KW][`OC`] copy, and masked stores write the row straight
//! into NCHW `y` with the bias added first.

use super::conv::{Conv2d, Layer, Plane};
#[cfg(target_arch = "x86_64")]
use super::isa::Isa;
use super::scratch::with_scratch;
use super::tasks;
use crate::Threads;

/// Output channels per block (accumulator rows).
const OC: usize = 8;
/// Output positions per run along a row: two 16-lane vectors.
const POS: usize = 32;

/// Whether [`conv`] handles this layer: AVX-512F, group 1, stride 1, no
/// dilation, and output rows of at least 16 positions.
pub(crate) fn suits(p: &Conv2d, plane: &Plane) -> bool {
    avx512() && p.group == 1 && p.stride == [1, 1] && p.dilation == [1, 1] && plane.ow >= 16 && plane.oh > 0 && p.m > 0
}

fn avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        Isa::detect() == Isa::Avx512
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Padded-buffer geometry of one image: rows of `pw` floats (the left pad,
/// the input row, then zeros to at least the last vector load's end), `ph`
/// rows per channel.
struct Padded {
    ph: usize,
    pw: usize,
}

impl Padded {
    fn new(p: &Conv2d, plane: &Plane) -> Padded {
        let ph = p.h + p.pads[0] + p.pads[2];
        // The last run loads POS floats from column (runs-1)·POS + kx ≤ ... + kw-1.
        let reach = plane.ow.div_ceil(POS) * POS + p.kw - 1;
        Padded { ph, pw: (p.w + p.pads[1] + p.pads[3]).max(reach) }
    }
}

/// y\[n, m\] = bias\[m\] + conv(x\[n\], w\[m\]) on the direct path; the caller
/// checked the lengths and [`suits`].
pub(crate) fn conv(l: &Layer<'_>, y: &mut [f32], threads: Threads) {
    let Layer { p, cg, w, .. } = *l;
    let kg = cg * p.kh * p.kw;
    let blocks = p.m.div_ceil(OC);
    PACKED.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            run(l, pack(w, kg, blocks, &mut buf), y, threads);
            if buf.len() > KEEP {
                *buf = Vec::new();
            }
        }
        Err(_) => run(l, pack(w, kg, blocks, &mut Vec::new()), y, threads),
    });
}

/// Largest packed weights (floats) kept between calls: 16 MiB.
const KEEP: usize = 1 << 22;

thread_local! {
    /// Packed weights of the last call on this thread: the allocation is
    /// reused, so a batch-1 call does not pay fresh pages for it.
    static PACKED: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Packs `w` ([M, kg]) into `buf` as [block][kg][OC]: block b, reduction
/// index r, lane o → w[b·OC + o, r], zero for channels past M.
fn pack<'a>(w: &[f32], kg: usize, blocks: usize, buf: &'a mut Vec<f32>) -> &'a [f32] {
    buf.clear();
    buf.resize(blocks * kg * OC, 0.0);
    for (oc, row) in w.chunks_exact(kg).enumerate() {
        let (b, o) = (oc / OC, oc % OC);
        for (r, &v) in row.iter().enumerate() {
            buf[(b * kg + r) * OC + o] = v;
        }
    }
    buf
}

/// [`conv`] with the weights packed.
fn run(l: &Layer<'_>, packed: &[f32], y: &mut [f32], threads: Threads) {
    let Layer { p, plane, cg, x, bias, .. } = *l;
    let kg = cg * p.kh * p.kw;
    let blocks = p.m.div_ceil(OC);
    let ohw = plane.oh * plane.ow;
    // Each image's channel blocks split into `parts` tasks when there are
    // fewer images than pool participants.
    let parts = match threads {
        Threads::Single => 1,
        Threads::Pool => crate::parallel::width(threads).div_ceil(p.n).clamp(1, blocks),
    };
    let per = blocks.div_ceil(parts) * OC;
    let mut jobs: Vec<(usize, usize, &mut [f32])> = vec![];
    for (img, y_img) in y.chunks_mut(p.m * ohw).enumerate() {
        for (part, y_part) in y_img.chunks_mut(per * ohw).enumerate() {
            jobs.push((img, part * per, y_part));
        }
    }
    let geo = Padded::new(p, &plane);
    let outer = if jobs.len() > 1 { threads } else { Threads::Single };
    tasks::for_each(
        jobs,
        outer,
        || (),
        |(), (img, oc0, y_part)| {
            let x_img = &x[img * p.c * p.h * p.w..][..p.c * p.h * p.w];
            with_scratch(cg * geo.ph * geo.pw, |padded| {
                pad_image(p, &geo, x_img, padded);
                for (k, y_block) in y_part.chunks_mut(OC * ohw).enumerate() {
                    let oc = oc0 + k * OC;
                    let mut b = [0f32; OC];
                    if let Some(bias) = bias {
                        for (d, &v) in b.iter_mut().zip(&bias[oc..]) {
                            *d = v;
                        }
                    }
                    let wb = &packed[oc / OC * kg * OC..][..kg * OC];
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: `suits` checked AVX-512F; `padded` holds cg
                    // planes of ph×pw with pw reaching every vector load,
                    // `wb` holds kg·OC weights and `y_block` whole planes
                    // of at most OC channels.
                    unsafe {
                        block(p, plane, &geo, padded, wb, &b, y_block)
                    };
                    #[cfg(not(target_arch = "x86_64"))]
                    let _ = (wb, b, &*padded, &*y_block);
                }
            });
        },
    );
}

/// Copies one image into `padded` (cg planes of ph×pw, zero borders).
fn pad_image(p: &Conv2d, geo: &Padded, x_img: &[f32], padded: &mut [f32]) {
    padded.fill(0.0);
    for (plane_in, plane_out) in x_img.chunks_exact(p.h * p.w).zip(padded.chunks_exact_mut(geo.ph * geo.pw)) {
        for (iy, row) in plane_in.chunks_exact(p.w).enumerate() {
            plane_out[(iy + p.pads[0]) * geo.pw + p.pads[1]..][..p.w].copy_from_slice(row);
        }
    }
}

/// One block of up to [`OC`] output channels over the whole output plane.
///
/// # Safety
/// The CPU must support AVX-512F. `padded` must hold `p.c` planes of
/// `geo.ph`×`geo.pw` with `geo.pw ≥ ⌈ow/POS⌉·POS + kw − 1` and
/// `geo.ph ≥ oh + kh − 1`; `wb` must hold C·KH·KW·[`OC`] floats; `y`
/// must be a whole number (≤ [`OC`]) of oh×ow planes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn block(p: &Conv2d, plane: Plane, geo: &Padded, padded: &[f32], wb: &[f32], bias: &[f32; OC], y: &mut [f32]) {
    use std::arch::x86_64::{__m512, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_mask_storeu_ps, _mm512_set1_ps};
    let (oh, ow) = (plane.oh, plane.ow);
    let ohw = oh * ow;
    let channels = y.len() / ohw;
    let (kh, kw, pw) = (p.kh, p.kw, geo.pw);
    let plane_len = geo.ph * geo.pw;
    assert!(channels <= OC && channels * ohw == y.len());
    assert!(padded.len() >= p.c * plane_len && wb.len() >= p.c * kh * kw * OC);
    assert!(geo.ph >= oh + kh - 1 && pw >= ow.div_ceil(POS) * POS + kw - 1);
    let src = padded.as_ptr();
    let dst = y.as_mut_ptr();
    for oy in 0..oh {
        for x0 in (0..ow).step_by(POS) {
            let n = POS.min(ow - x0);
            let masks = [super::isa::lane_mask(n), super::isa::lane_mask(n.saturating_sub(16))];
            let mut acc: [[__m512; 2]; OC] = [[_mm512_set1_ps(0.0); 2]; OC];
            for (o, a) in acc.iter_mut().enumerate() {
                *a = [_mm512_set1_ps(bias[o]); 2];
            }
            // SAFETY: row oy + ky < ph and columns x0 + kx .. x0 + kx + POS
            // ≤ pw (the asserts), so both loads stay in channel c's padded
            // plane; `w` advances OC per (c, ky, kx), kg·OC in all, which
            // `wb` holds.
            unsafe {
                let mut w = wb.as_ptr();
                for c in 0..p.c {
                    for ky in 0..kh {
                        let row = src.add(c * plane_len + (oy + ky) * pw + x0);
                        for kx in 0..kw {
                            let (v0, v1) = (_mm512_loadu_ps(row.add(kx)), _mm512_loadu_ps(row.add(kx + 16)));
                            for (o, a) in acc.iter_mut().enumerate() {
                                let wv = _mm512_set1_ps(*w.add(o));
                                a[0] = _mm512_fmadd_ps(v0, wv, a[0]);
                                a[1] = _mm512_fmadd_ps(v1, wv, a[1]);
                            }
                            w = w.add(OC);
                        }
                    }
                }
            }
            for (o, a) in acc.iter().enumerate().take(channels) {
                // SAFETY: plane o < channels, row oy, columns x0 .. x0 + n
                // inside y; the masks cover the first n lanes.
                unsafe {
                    let out = dst.add(o * ohw + oy * ow + x0);
                    _mm512_mask_storeu_ps(out, masks[0], a[0]);
                    if n > 16 {
                        _mm512_mask_storeu_ps(out.add(16), masks[1], a[1]);
                    }
                }
            }
        }
    }
}
