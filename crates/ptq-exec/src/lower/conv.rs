//! Integer execution of quantized 2-D convolutions (part of
//! [`ExecOptions::integer`](crate::ExecOptions::integer), lowered by
//! [`lower`]).
//!
//! A Conv (group 1 with at least [`MIN_REDUCTION`] multiply-adds per
//! output, or depthwise and undilated: one input channel per filter)
//! whose input is a u8 per-tensor DequantizeLinear and whose
//! weight is a DequantizeLinear of a constant i8 `[M, C, KH, KW]` tensor
//! (zero point 0, one scale or one per output channel) reads the u8 input.
//! Each image is copied channels-last into a buffer padded with the
//! activation zero point (which dequantizes to 0) and multiplied by the
//! weights packed once as `[KH·KW·C, M]` (a depthwise kernel's as
//! `[KH·KW, C]`, run by [`Int8Kernels::depthwise_u8s8`]): in place by
//! [`Int8Kernels::conv_u8s8`] when the kernel is undilated and its rows hold
//! whole 4-deep groups, else through a `[OH·OW, KH·KW·C]` patch matrix. The
//! i32 result is dequantized with the bias (or OpenVINO IR's bias Add) and
//! an activation (a fused Relu, or a Relu, GELU or HardSwish that alone
//! reads it), or quantized by a fused QuantizeLinear, in NCHW or, for
//! tensors the integer kernels pass each other, channels-last
//! ([`crate::lower::layout`]).

use ptq_ir::ops::conv::Conv;
use ptq_ir::pattern::Producers;
use ptq_ir::{Graph, NodeId, Op, Patch, Tensor, ValueId, View};
use ptq_kernels::int8::{Activation, ConvGeom, Dequant, Int8Kernels, PackedB};
use ptq_kernels::layout::{transpose_f32, transpose_u8};

use crate::inputs::Inputs;
use crate::lower::{
    IntKernel, Lowered, activation, bias, channel_activation, channel_bias_add, dequantizer, dq_parts, relu_activation,
    sole_activation, sole_channel_quantizer, sole_hard_swish, sole_quantizer, weight_scales,
};
use crate::ops::conv::{as_2d, per_axis, resolve_pads};
use crate::ops::{Kernel, Out, one};
use crate::util::{array, contiguous};
use crate::work::Cost;

/// Fewest multiply-adds per output (C·KH·KW) for which the integer path
/// pays. With the convolution read in place and channels-last tensors
/// between integer kernels, `ptq bench --only int8` on one thread (best of
/// 500 runs) gave: digits_cnn batch 1 0.017 → 0.011 ms when its 3x3 16→32
/// (144) joined, resnet_stage batch 1 0.65 → 0.61 ms with its 3x3 stem
/// (27), mobilenet_block 0.104 → 0.095 ms with its pointwise convolutions
/// (16–64); at 8, digits_cnn's 3x3 1→8 (9) joining made batch 8 slower
/// (0.031 → 0.041 ms) and mobilenet_block too (0.095 → 0.110 ms).
pub const MIN_REDUCTION: usize = 16;

/// A Conv run on the int8 kernels.
pub struct IntConv {
    pub op: Conv,
    pub weights: ConvWeights,
    /// Input channels and kernel size the weights were packed for.
    pub c: usize,
    pub kernel: [usize; 2],
    /// Activation zero point and scale.
    pub za: u8,
    pub sa: f32,
    /// Weight scale per output channel.
    pub sw: Vec<f32>,
    /// f32 bias per output channel.
    pub bias: Option<Vec<f32>>,
    /// The activation the epilogue applies: a fused Relu, or the Relu,
    /// GELU or HardSwish that alone read the (bias-added) output.
    pub act: Activation,
    /// Scale and zero point of a QuantizeLinear fused after the
    /// convolution: the output is then its u8 tensor (same values as the
    /// f32 output quantized by that node) instead of the f32 one.
    pub out_q: Option<(f32, u8)>,
    /// With `out_q`, one scale per output channel instead of its one (a
    /// per-channel QuantizeLinear, axis 1, one zero point).
    pub out_q_cols: Option<Vec<f32>>,
    /// The input is `[N, H, W, C]` (see [`crate::lower::layout`]).
    pub in_nhwc: bool,
    /// The (u8, `out_q`) output is written `[N, OH, OW, M]`.
    pub out_nhwc: bool,
    pub kernels: &'static Int8Kernels,
}

/// The weights of an [`IntConv`].
pub enum ConvWeights {
    /// Group 1: packed `KH·KW·C × M`.
    Gemm(PackedB),
    /// Depthwise (C = M groups of one channel): i8 `[KH·KW, M]`.
    Depthwise(Vec<i8>),
}

impl IntConv {
    /// Output channels.
    fn m(&self) -> usize {
        match &self.weights {
            ConvWeights::Gemm(p) => p.n(),
            ConvWeights::Depthwise(_) => self.c,
        }
    }

    /// The fused QuantizeLinear's epilogue: one scale, or one per channel.
    fn requantize(&self, acc: &[i32], m: usize, d: &Dequant<'_>, (scale, zp): (f32, u8), out: &mut [u8]) {
        match &self.out_q_cols {
            Some(scales) => self.kernels.dequantize_quantize_acc_cols(acc, m, d, scales, zp, out),
            None => self.kernels.dequantize_quantize_acc(acc, m, d, scale, zp, out),
        }
    }
}

impl std::fmt::Debug for IntConv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntConv")
            .field("c", &self.c)
            .field("m", &self.m())
            .field("depthwise", &matches!(self.weights, ConvWeights::Depthwise(_)))
            .field("kernel", &self.kernel)
            .field("za", &self.za)
            .field("act", &self.act)
            .field("out_q", &self.out_q)
            .field("in_nhwc", &self.in_nhwc)
            .field("out_nhwc", &self.out_nhwc)
            .field("tier", &self.kernels.tier())
            .finish()
    }
}

/// `[M, C, KH, KW]` i8 weights as the row-major `[KH·KW·C, M]` matrix the
/// GEMM multiplies the channels-last patches by (row `(ky·KW + kx)·C + c`).
pub fn conv_weight_matrix(w: &[i8], [m, c, kh, kw]: [usize; 4]) -> Vec<i8> {
    let mut b = vec![0i8; w.len()];
    for (i, &v) in w.iter().enumerate() {
        let (o, rest) = (i / (c * kh * kw), i % (c * kh * kw));
        let (ch, ky, kx) = (rest / (kh * kw), rest / kw % kh, rest % kw);
        b[((ky * kw + kx) * c + ch) * m + o] = v;
    }
    b
}

impl Kernel for IntConv {
    /// Work as for the f32 Conv: input positions times weight elements;
    /// the output is taken as large as the input with `M` channels.
    fn cost(&self, ins: &Inputs) -> Option<Cost> {
        let positions = ins.opt(0)?.len() / self.c.max(1);
        let weights = match &self.weights {
            ConvWeights::Gemm(p) => p.k() * p.n(),
            ConvWeights::Depthwise(w) => w.len(),
        };
        Some(Cost { work: positions.saturating_mul(weights), output_elements: positions.saturating_mul(self.m()) })
    }

    fn run(&self, ins: &mut Inputs, _n: usize) -> Out {
        let x = ins.get(0)?;
        let Tensor::U8(a) = x else {
            return Err(format!("integer path: the quantized activation is {}, expected u8", x.dtype()));
        };
        let (n, c, h, w) = match (a.shape(), self.in_nhwc) {
            (&[n, c, h, w], false) => (n, c, h, w),
            (&[n, h, w, c], true) => (n, c, h, w),
            (shape, _) => return Err(format!("integer path: input {shape:?} is not 4-D")),
        };
        if h == 0 || w == 0 {
            return Err(format!("integer path: input {:?} has an empty plane", a.shape()));
        }
        if c != self.c {
            return Err(format!("integer path: input has {c} channels, the weights {}", self.c));
        }
        let [kh, kw] = self.kernel;
        let stride = per_axis(&self.op.strides, 2, "strides")?;
        let dil = per_axis(&self.op.dilations, 2, "dilations")?;
        let pads = resolve_pads(self.op.auto_pad, &self.op.pads, &[h, w], &[kh, kw], &stride, &dil)?;
        let [sh, sw] = as_2d(&stride, 1)?;
        let [dh, dw] = as_2d(&dil, 1)?;
        let ((pt, pb), (pl, pr)) = (pads[0], pads[1]);
        let out_len = |len: usize, p0: usize, p1: usize, k: usize, s: usize, d: usize| {
            (len + p0 + p1).checked_sub((k - 1) * d + 1).map(|v| v / s + 1)
        };
        let (Some(oh), Some(ow)) = (out_len(h, pt, pb, kh, sh, dh), out_len(w, pl, pr, kw, sw, dw)) else {
            return Err("the kernel is larger than the padded input".into());
        };
        let (p, k, m) = (oh * ow, c * kh * kw, self.m());
        let xd = contiguous(a);
        let (hp, wp) = (h + pt + pb, w + pl + pr);
        // f32 output, or u8 when a QuantizeLinear was fused (`out_q`).
        let (mut yf, mut yq) = match self.out_q {
            None => (vec![0f32; n * m * p], vec![]),
            Some(_) => (vec![], vec![0u8; n * m * p]),
        };
        let d = Dequant { scale_a: self.sa, scale_b: &self.sw, bias: self.bias.as_deref(), act: self.act };
        with_scratch(|s| {
            // Refilled only when the layout or the zero point changes: the
            // interior is rewritten for every image and the border is not.
            let key = [h, w, c, pt, pl, hp, wp, usize::from(self.za)];
            if s.padded_key != key {
                s.padded.clear();
                s.padded.resize(hp * wp * c, self.za);
                s.padded_key = key;
            }
            let acc = grown(&mut s.acc, p * m);
            let yt = grown(&mut s.yt, OUT_TILE.min(p) * m);
            let ytq = grown(&mut s.ytq, OUT_TILE.min(p) * m);
            for (img, x_img) in xd.chunks_exact(c * h * w).enumerate() {
                // Row by row: input row iy of every channel, [c, w] with a
                // stride of one plane, becomes padded row iy + pt, [w, c].
                for iy in 0..h {
                    let dst = &mut s.padded[((iy + pt) * wp + pl) * c..][..w * c];
                    if self.in_nhwc {
                        dst.copy_from_slice(&x_img[iy * w * c..][..w * c]);
                    } else {
                        transpose_u8(&x_img[iy * w..], c, w, h * w, dst, c);
                    }
                }
                let geom = ConvGeom { c, hp, wp, kh, kw, stride: [sh, sw] };
                match &self.weights {
                    ConvWeights::Depthwise(w) => self.kernels.depthwise_u8s8(&s.padded, &geom, self.za, w, acc),
                    // Read the kernel rows where they lie in the padded image.
                    ConvWeights::Gemm(b) if dh == 1 && dw == 1 && geom.in_place() => {
                        self.kernels.conv_u8s8(&s.padded, &geom, self.za, b, acc, ins.threads);
                    }
                    ConvWeights::Gemm(b) => {
                        let patches = grown(&mut s.patches, p * k);
                        im2col(&s.padded, &geom, [dh, dw], [oh, ow], patches);
                        self.kernels.gemm_u8s8_threads(patches, p, self.za, b, acc, ins.threads);
                    }
                }
                if let (Some((scale, zp)), true) = (self.out_q, self.out_nhwc) {
                    // The accumulators are already [positions, channels].
                    let y_img = &mut yq[img * m * p..][..m * p];
                    self.requantize(acc, m, &d, (scale, zp), y_img);
                    continue;
                }
                // A tile of positions at a time, so the tile is still in L1
                // when it is transposed into the planes.
                for (t, rows) in acc.chunks(OUT_TILE * m).enumerate() {
                    let positions = rows.len() / m;
                    match self.out_q {
                        None => {
                            let tile = &mut yt[..rows.len()];
                            self.kernels.dequantize_acc(rows, m, &d, tile);
                            let y_img = &mut yf[img * m * p..][..m * p];
                            transpose_f32(tile, positions, m, m, &mut y_img[t * OUT_TILE..], p);
                        }
                        Some((scale, zp)) => {
                            let tile = &mut ytq[..rows.len()];
                            self.requantize(rows, m, &d, (scale, zp), tile);
                            let y_img = &mut yq[img * m * p..][..m * p];
                            transpose_u8(tile, positions, m, m, &mut y_img[t * OUT_TILE..], p);
                        }
                    }
                }
            }
        });
        let shape = if self.out_nhwc { [n, oh, ow, m] } else { [n, m, oh, ow] };
        one(match self.out_q {
            None => Tensor::F32(array(&shape, yf)?),
            Some(_) => Tensor::U8(array(&shape, yq)?),
        })
    }
}

/// The integer step for Conv `id`, if [`match_conv`] matches: it reads
/// the u8 input. Run in the epilogue, each when it alone reads what came
/// before: a per-channel bias Add (a bias-less Conv without a fused Relu),
/// then a Relu, GELU or HardSwish, then a QuantizeLinear (per tensor, or
/// per output channel), whose u8 output the step then writes.
pub(crate) fn lower(view: &View<'_>, id: NodeId, relu: bool, kernels: &'static Int8Kernels) -> Option<Lowered> {
    let g = view.graph;
    let mut m = match_conv(g, view.producers(), id, relu, kernels)?;
    let consumers = view.consumers();
    let conv_out = g.node(id)?.outputs.first().copied().flatten();
    let mut out = conv_out;
    let mut patch = Patch::new();
    if !relu {
        // OpenVINO IR writes a convolution's bias as an Add of a
        // `[1, M, 1, 1]` constant: the epilogue adds it, with the same f32
        // addition.
        let channels = m.kernel.m();
        if m.kernel.bias.is_none()
            && let Some((add, add_out, b)) = out.and_then(|v| channel_bias_add(g, consumers, v, channels))
        {
            m.kernel.bias = Some(b);
            patch.remove_node(add);
            out = Some(add_out);
        }
        // A Relu, GELU or HardSwish that alone reads the output runs in the
        // epilogue.
        let act = out.and_then(|v| {
            sole_activation(g, consumers, v)
                .or_else(|| sole_hard_swish(g, consumers, v).map(|(n, o)| (n, o, Activation::HardSwish)))
        });
        if let Some((node, act_out, act)) = act {
            m.kernel.act = act;
            patch.remove_node(node);
            out = Some(act_out);
        }
    }
    let fused = out.and_then(|out| match sole_quantizer(g, consumers, out) {
        Some(q) => Some(q),
        None => {
            let (q, q_out, scales, zp) = sole_channel_quantizer(g, consumers, out, Some(m.kernel.sw.len()))?;
            let first = scales[0];
            m.kernel.out_q_cols = Some(scales);
            Some((q, q_out, first, zp))
        }
    });
    if let Some((q, q_out, scale, zp)) = fused {
        m.kernel.out_q = Some((scale, zp));
        patch.remove_node(q);
        out = Some(q_out);
    }
    if let Some(v) = out.filter(|&v| Some(v) != conv_out) {
        patch.set_output(id, 0, v);
    }
    patch.set_inputs(id, vec![Some(m.xq.into())]);
    Some(Lowered { patch, kernel: IntKernel::Conv(Box::new(m.kernel)), bypassed: m.dqs })
}

/// What [`match_conv`] found: the kernel, the u8 input value
/// the step reads instead, and the DequantizeLinear nodes it bypasses.
pub struct Matched {
    pub kernel: IntConv,
    pub xq: ValueId,
    pub dqs: Vec<NodeId>,
}

/// Matches a Conv that the int8 kernels can run (see the module docs).
pub fn match_conv(
    g: &Graph,
    producers: &Producers,
    id: NodeId,
    relu: bool,
    kernels: &'static Int8Kernels,
) -> Option<Matched> {
    let node = g.node(id)?;
    let Op::Conv(op) = &node.op else { return None };
    if node.output_ids().count() != 1 {
        return None;
    }
    let a = node.inputs.first().copied().flatten()?;
    let b = node.inputs.get(1).copied().flatten()?;
    let (adq, bdq) = (dequantizer(g, producers, a)?, dequantizer(g, producers, b)?);
    let (wop, wq, s, z) = dq_parts(g, bdq)?;
    let Tensor::I8(w) = g.constant(wq)? else { return None };
    let &[m, cg, kh, kw] = w.shape() else { return None };
    // Group 1 with enough depth, or depthwise (one input channel per
    // filter, undilated).
    let depthwise = op.group > 1 && op.group == m as i64 && cg == 1;
    let undilated = op.dilations.as_deref().is_none_or(|d| d.iter().all(|&v| v == 1));
    let dense = op.group <= 1 && cg * kh * kw >= MIN_REDUCTION;
    if m == 0 || !(dense || depthwise && undilated) {
        return None;
    }
    let c = if depthwise { m } else { cg };
    let mut sw = weight_scales(g, wop, s, z, (4, 0), m)?;
    // A depthwise filter reads one channel, so a per-channel input scale
    // joins that filter's weight scale.
    let (xq, za, sa) = if depthwise {
        let (xq, za, sa) = channel_activation(g, adq, 4, m)?;
        sw.iter_mut().zip(&sa).for_each(|(w, a)| *w *= a);
        (xq, za, 1.0)
    } else {
        activation(g, adq)?
    };
    let mut dqs = vec![adq, bdq];
    let bias_vals = match node.inputs.get(2).copied().flatten() {
        None => None,
        Some(cv) => {
            let (vals, cdq) = bias(g, producers, cv, m)?;
            dqs.extend(cdq);
            Some(vals)
        }
    };
    let wd = contiguous(w);
    let weights = if depthwise {
        // [M, 1, KH, KW] → [KH·KW, M].
        let taps = kh * kw;
        ConvWeights::Depthwise((0..taps * m).map(|i| wd[(i % m) * taps + i / m]).collect())
    } else {
        ConvWeights::Gemm(PackedB::new(&conv_weight_matrix(&wd, [m, c, kh, kw]), c * kh * kw, m))
    };
    let kernel = IntConv {
        op: op.clone(),
        weights,
        c,
        kernel: [kh, kw],
        za,
        sa,
        sw,
        bias: bias_vals,
        act: relu_activation(relu),
        out_q: None,
        out_q_cols: None,
        in_nhwc: false,
        out_nhwc: false,
        kernels,
    };
    Some(Matched { kernel, xq, dqs })
}

/// Output positions dequantized and transposed per step (64 positions of
/// 64 channels is 16 KiB of f32).
const OUT_TILE: usize = 64;

/// Per-thread buffers of [`IntConv`], kept across runs: a convolution's
/// column matrix and accumulators run to megabytes, and fresh allocations
/// of that size cost page faults and zeroing on every run.
#[derive(Default)]
struct Scratch {
    padded: Vec<u8>,
    /// `[h, w, c, pt, pl, hp, wp, za]` of the image in `padded`.
    padded_key: [usize; 8],
    patches: Vec<u8>,
    acc: Vec<i32>,
    yt: Vec<f32>,
    ytq: Vec<u8>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

/// Runs `f` on this thread's [`Scratch`], or on fresh buffers if it is in use.
fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut s) => f(&mut s),
        Err(_) => f(&mut Scratch::default()),
    })
}

/// The first `len` elements of `v`, grown (with zeros) if it is shorter;
/// callers overwrite what they use.
fn grown<T: Copy + Default>(v: &mut Vec<T>, len: usize) -> &mut [T] {
    if v.len() < len {
        v.resize(len, T::default());
    }
    &mut v[..len]
}

/// The channels-last patch matrix `[oh·ow, kh·kw·c]` of a padded `[hp, wp,
/// c]` image, for dilated kernels or kernel rows that split 4-deep groups
/// (the others are read in place by `conv_u8s8`).
fn im2col(padded: &[u8], g: &ConvGeom, [dh, dw]: [usize; 2], [_, ow]: [usize; 2], patches: &mut [u8]) {
    let (c, [sh, sw]) = (g.c, g.stride);
    let (kw, k) = (g.kw, g.kh * g.kw * g.c);
    for (pos, row) in patches.chunks_exact_mut(k).enumerate() {
        let (oy, ox) = (pos / ow, pos % ow);
        for ky in 0..g.kh {
            let start = ((oy * sh + ky * dh) * g.wp + ox * sw) * c;
            let dst = &mut row[ky * kw * c..][..kw * c];
            if dw == 1 {
                dst.copy_from_slice(&padded[start..start + kw * c]);
            } else {
                for (kx, seg) in dst.chunks_exact_mut(c).enumerate() {
                    seg.copy_from_slice(&padded[start + kx * dw * c..][..c]);
                }
            }
        }
    }
}
