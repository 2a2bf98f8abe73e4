//! Epilogues on i32 GEMM accumulators: dequantize to f32, requantize to u8.
//!
//! Each is one plain loop compiled per instruction set (the compiler
//! vectorises it). The compiler contracts nothing into fused multiply-adds;
//! the only ones are GELU's explicit `mul_add`s, which round once on every
//! build, so every build gives bit-identical results. The outputs are
//! written as `MaybeUninit`, every element of them, so callers can hand in
//! memory nobody has zeroed.

use std::mem::MaybeUninit;

use super::quantize::quantize_by;
use super::tier::Int8Kernels;
use crate::f32::erf::gelu_one;
use crate::f32::isa::multiversion;
use crate::uninit::as_uninit;

/// Dequantize epilogue: `out = act(acc·(scale_a·scale_b[j]) + bias[j])`.
#[derive(Clone, Copy, Debug)]
pub struct Dequant<'a> {
    /// Activation scale.
    pub scale_a: f32,
    /// Weight scale per column (N entries).
    pub scale_b: &'a [f32],
    /// f32 bias per column (N entries), if any.
    pub bias: Option<&'a [f32]>,
    /// Applied after the bias.
    pub act: Activation,
}

/// The element-wise function a [`Dequant`] epilogue applies last.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Activation {
    /// None.
    #[default]
    Identity,
    /// `max(x, 0)` (a NaN becomes 0).
    Relu,
    /// Exact GELU, `0.5·x·(1 + erf(x/√2))`, with the same operations as
    /// [`crate::gelu`], so the fused epilogue and a separate pass agree bit
    /// for bit.
    Gelu,
    /// HardSwish, `x · clamp(x / 6 + 0.5, 0, 1)`, with the same operations
    /// as [`hard_swish_one`] documents, so fusing it changes no bit.
    HardSwish,
}

/// HardSwish of one value: `x * (x / 6.0 + 0.5).clamp(0.0, 1.0)` in f32, the
/// expression the executor's HardSwish op evaluates (a NaN stays NaN).
#[inline(always)]
pub fn hard_swish_one(x: f32) -> f32 {
    x * (x / 6.0 + 0.5).clamp(0.0, 1.0)
}

/// Requantize epilogue to u8:
/// `out = clamp(round_half_even((acc + bias[j]) as f32 · multiplier[j]) + zero_point, min, max)`.
///
/// `acc + bias` wraps in i32; the conversion to f32 rounds to nearest; a
/// NaN product (only from a non-finite multiplier) gives `min`. ReLU is
/// `min = zero_point`. `bias` is the int32 bias at scale `s_a·s_b[j]`, and
/// `multiplier[j] = s_a·s_b[j] / s_out`.
#[derive(Clone, Copy, Debug)]
pub struct Requant<'a> {
    /// Per-column multiplier (N entries).
    pub multiplier: &'a [f32],
    /// i32 bias per column (N entries), if any.
    pub bias: Option<&'a [i32]>,
    /// Output zero point.
    pub zero_point: u8,
    /// Lowest output value.
    pub min: u8,
    /// Highest output value.
    pub max: u8,
}

fn check(what: &str, acc: usize, out: usize, n: usize, cols: &[(&str, usize)]) {
    assert!(n > 0 || acc == 0, "{what}: n = 0 with {acc} accumulators");
    assert!(n == 0 || acc.is_multiple_of(n), "{what}: {acc} accumulators are not rows of {n}");
    assert_eq!(out, acc, "{what}: output has {out} elements, the accumulators {acc}");
    for &(name, len) in cols {
        assert_eq!(len, n, "{what}: {name} has {len} entries, N is {n}");
    }
}

/// `out[i] = f(act(acc[i]·(scale_a·scale_b[j]) + bias[j]))` for the
/// [`Dequant`] epilogue followed by `f`. The activation is chosen outside
/// the loops, so each loop stays branch-free and vectorises.
#[inline(always)]
fn dequant_map<T>(acc: &[i32], n: usize, d: &Dequant<'_>, out: &mut [MaybeUninit<T>], f: impl Fn(f32) -> T) {
    match d.act {
        Activation::Identity => dequant_rows(acc, n, d, out, &f),
        Activation::Relu => dequant_rows(acc, n, d, out, |x| f(x.max(0.0))),
        Activation::Gelu => dequant_rows(acc, n, d, out, |x| f(gelu_one(x))),
        Activation::HardSwish => dequant_rows(acc, n, d, out, |x| f(hard_swish_one(x))),
    }
}

#[inline(always)]
fn dequant_rows<T>(acc: &[i32], n: usize, d: &Dequant<'_>, out: &mut [MaybeUninit<T>], f: impl Fn(f32) -> T) {
    for (row, o) in acc.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
        match d.bias {
            Some(bias) => {
                for (((o, &v), &sb), &b) in o.iter_mut().zip(row).zip(d.scale_b).zip(bias) {
                    o.write(f(v as f32 * (d.scale_a * sb) + b));
                }
            }
            None => {
                for ((o, &v), &sb) in o.iter_mut().zip(row).zip(d.scale_b) {
                    o.write(f(v as f32 * (d.scale_a * sb)));
                }
            }
        }
    }
}

#[inline(always)]
fn dequant_body(acc: &[i32], n: usize, d: &Dequant<'_>, out: &mut [MaybeUninit<f32>]) {
    dequant_map(acc, n, d, out, |x| x);
}

multiversion! {
    pub(crate) fn dequant_isa(acc: &[i32], n: usize, d: &Dequant<'_>, out: &mut [MaybeUninit<f32>]) => dequant_body;
}

/// [`dequant_body`] plus `addend` (row-major, the output's shape), added
/// after the activation: the float operations of the Add node it replaces,
/// in the same order. `addend` has as many elements as `acc`.
#[inline(always)]
fn dequant_add_body(acc: &[i32], n: usize, d: &Dequant<'_>, addend: &[f32], out: &mut [MaybeUninit<f32>]) {
    // Every output element needs its addend (the zip below would stop short).
    assert_eq!(addend.len(), acc.len(), "dequant_add: the addend has {} elements, not {}", addend.len(), acc.len());
    match d.act {
        Activation::Identity => dequant_add_rows(acc, n, d, addend, out, |x| x),
        Activation::Relu => dequant_add_rows(acc, n, d, addend, out, |x| x.max(0.0)),
        Activation::Gelu => dequant_add_rows(acc, n, d, addend, out, gelu_one),
        Activation::HardSwish => dequant_add_rows(acc, n, d, addend, out, hard_swish_one),
    }
}

#[inline(always)]
fn dequant_add_rows(
    acc: &[i32],
    n: usize,
    d: &Dequant<'_>,
    addend: &[f32],
    out: &mut [MaybeUninit<f32>],
    act: impl Fn(f32) -> f32,
) {
    let rows = acc.chunks_exact(n).zip(out.chunks_exact_mut(n)).zip(addend.chunks_exact(n));
    for ((row, o), add) in rows {
        match d.bias {
            Some(bias) => {
                for ((((o, &v), &sb), &b), &r) in o.iter_mut().zip(row).zip(d.scale_b).zip(bias).zip(add) {
                    o.write(act(v as f32 * (d.scale_a * sb) + b) + r);
                }
            }
            None => {
                for (((o, &v), &sb), &r) in o.iter_mut().zip(row).zip(d.scale_b).zip(add) {
                    o.write(act(v as f32 * (d.scale_a * sb)) + r);
                }
            }
        }
    }
}

multiversion! {
    pub(crate) fn dequant_add_isa(
        acc: &[i32],
        n: usize,
        d: &Dequant<'_>,
        addend: &[f32],
        out: &mut [MaybeUninit<f32>],
    ) => dequant_add_body;
}

/// [`dequant_body`] then QuantizeLinear per element, with the same float
/// operations in the same order except that it multiplies by `1 / scale`
/// where QuantizeLinear divides (see [`quantize_by`]): a byte can differ
/// from dequantizing and quantizing in two passes by one, where the value
/// lies within an ulp or so of a rounding boundary.
#[inline(always)]
fn dequant_quant_body(acc: &[i32], n: usize, d: &Dequant<'_>, scale: f32, zero_point: u8, out: &mut [MaybeUninit<u8>]) {
    let (inv, zp) = (1.0 / scale, f32::from(zero_point));
    if d.act != Activation::Gelu {
        dequant_map(acc, n, d, out, |x| quantize_by(x, inv, zp));
        return;
    }
    // GELU's long dependency chain schedules better as its own loop: each
    // run of up to 512 values of a row is dequantized and activated into a
    // buffer (2 KiB, in L1), then quantized (the same operations in the same
    // order). Each run reloads about twenty constants, so runs of 64 spent
    // a tenth of the time on that.
    const RUN: usize = 512;
    let mut buf = [MaybeUninit::<f32>::uninit(); RUN];
    let plain = Dequant { act: Activation::Identity, ..*d };
    for (row, o) in acc.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
        for (j0, (a, o)) in row.chunks(RUN).zip(o.chunks_mut(RUN)).enumerate() {
            let cols = j0 * RUN..j0 * RUN + a.len();
            let part = Dequant { scale_b: &d.scale_b[cols.clone()], bias: d.bias.map(|b| &b[cols]), ..plain };
            let b = &mut buf[..a.len()];
            dequant_rows(a, a.len(), &part, b, gelu_one);
            for (o, b) in o.iter_mut().zip(b.iter()) {
                // SAFETY: `dequant_rows` wrote every element of `b`.
                o.write(quantize_by(unsafe { b.assume_init() }, inv, zp));
            }
        }
    }
}

multiversion! {
    pub(crate) fn dequant_quant_isa(
        acc: &[i32],
        n: usize,
        d: &Dequant<'_>,
        scale: f32,
        zero_point: u8,
        out: &mut [MaybeUninit<u8>],
    ) => dequant_quant_body;
}

/// [`dequant_quant_body`] with one output scale per column, given as
/// `inv[j] = 1 / scale[j]`: a per-channel QuantizeLinear after the layer.
#[inline(always)]
fn dequant_quant_cols_body(
    acc: &[i32],
    n: usize,
    d: &Dequant<'_>,
    inv: &[f32],
    zero_point: u8,
    out: &mut [MaybeUninit<u8>],
) {
    let zp = f32::from(zero_point);
    match d.act {
        Activation::Identity => dequant_quant_cols_rows(acc, n, d, inv, zp, out, |x| x),
        Activation::Relu => dequant_quant_cols_rows(acc, n, d, inv, zp, out, |x| x.max(0.0)),
        Activation::Gelu => dequant_quant_cols_rows(acc, n, d, inv, zp, out, gelu_one),
        Activation::HardSwish => dequant_quant_cols_rows(acc, n, d, inv, zp, out, hard_swish_one),
    }
}

#[inline(always)]
fn dequant_quant_cols_rows(
    acc: &[i32],
    n: usize,
    d: &Dequant<'_>,
    inv: &[f32],
    zp: f32,
    out: &mut [MaybeUninit<u8>],
    f: impl Fn(f32) -> f32,
) {
    for (row, o) in acc.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
        match d.bias {
            Some(bias) => {
                for ((((o, &v), &sb), &b), &i) in o.iter_mut().zip(row).zip(d.scale_b).zip(bias).zip(inv) {
                    o.write(quantize_by(f(v as f32 * (d.scale_a * sb) + b), i, zp));
                }
            }
            None => {
                for (((o, &v), &sb), &i) in o.iter_mut().zip(row).zip(d.scale_b).zip(inv) {
                    o.write(quantize_by(f(v as f32 * (d.scale_a * sb)), i, zp));
                }
            }
        }
    }
}

multiversion! {
    pub(crate) fn dequant_quant_cols_isa(
        acc: &[i32],
        n: usize,
        d: &Dequant<'_>,
        inv: &[f32],
        zero_point: u8,
        out: &mut [MaybeUninit<u8>],
    ) => dequant_quant_cols_body;
}

/// One requantized value (see [`Requant`]); `v` already includes the bias.
#[inline(always)]
fn requant_one(v: i32, multiplier: f32, zp: f32, lo: f32, hi: f32) -> u8 {
    let x = (v as f32 * multiplier).round_ties_even() + zp;
    x.max(lo).min(hi) as u8
}

#[inline(always)]
fn requant_body(acc: &[i32], n: usize, q: &Requant<'_>, out: &mut [u8]) {
    let (lo, hi, zp) = (f32::from(q.min), f32::from(q.max), f32::from(q.zero_point));
    for (row, o) in acc.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
        match q.bias {
            Some(bias) => {
                for (((o, &v), &m), &b) in o.iter_mut().zip(row).zip(q.multiplier).zip(bias) {
                    *o = requant_one(v.wrapping_add(b), m, zp, lo, hi);
                }
            }
            None => {
                for ((o, &v), &m) in o.iter_mut().zip(row).zip(q.multiplier) {
                    *o = requant_one(v, m, zp, lo, hi);
                }
            }
        }
    }
}

multiversion! {
    fn requant_isa(acc: &[i32], n: usize, q: &Requant<'_>, out: &mut [u8]) => requant_body;
}

impl Int8Kernels {
    /// Dequantizes row-major accumulators (`acc.len() / n` rows of `n`) into
    /// `out` with [`Dequant`]. Panics on a length mismatch.
    pub fn dequantize_acc(&self, acc: &[i32], n: usize, d: &Dequant<'_>, out: &mut [f32]) {
        let bias = d.bias.map_or(n, <[f32]>::len);
        check("dequantize_acc", acc.len(), out.len(), n, &[("scale_b", d.scale_b.len()), ("bias", bias)]);
        if acc.is_empty() {
            return;
        }
        // SAFETY: the epilogue writes only computed values.
        dequant_isa(self.isa, acc, n, d, unsafe { as_uninit(out) });
    }

    /// Dequantizes row-major accumulators with [`Dequant`] and quantizes
    /// the result as [`Int8Kernels::quantize_u8`] does (`scale`,
    /// `zero_point`) in one pass, multiplying by `1 / scale` where it
    /// divides (so a byte can be one away from the two passes' where the
    /// value is within an ulp or so of a rounding boundary). Panics on a
    /// length mismatch.
    pub fn dequantize_quantize_acc(
        &self,
        acc: &[i32],
        n: usize,
        d: &Dequant<'_>,
        scale: f32,
        zero_point: u8,
        out: &mut [u8],
    ) {
        let bias = d.bias.map_or(n, <[f32]>::len);
        check("dequantize_quantize_acc", acc.len(), out.len(), n, &[("scale_b", d.scale_b.len()), ("bias", bias)]);
        if acc.is_empty() {
            return;
        }
        // SAFETY: the epilogue writes only computed values.
        dequant_quant_isa(self.isa, acc, n, d, scale, zero_point, unsafe { as_uninit(out) });
    }

    /// As [`Int8Kernels::dequantize_quantize_acc`] with one output scale
    /// per column (`scales`, N entries) and one zero point. Panics on a
    /// length mismatch.
    pub fn dequantize_quantize_acc_cols(
        &self,
        acc: &[i32],
        n: usize,
        d: &Dequant<'_>,
        scales: &[f32],
        zero_point: u8,
        out: &mut [u8],
    ) {
        let bias = d.bias.map_or(n, <[f32]>::len);
        let cols = [("scale_b", d.scale_b.len()), ("bias", bias), ("scales", scales.len())];
        check("dequantize_quantize_acc_cols", acc.len(), out.len(), n, &cols);
        if acc.is_empty() {
            return;
        }
        let inv: Vec<f32> = scales.iter().map(|s| 1.0 / s).collect();
        // SAFETY: the epilogue writes only computed values.
        dequant_quant_cols_isa(self.isa, acc, n, d, &inv, zero_point, unsafe { as_uninit(out) });
    }

    /// Requantizes row-major accumulators (`acc.len() / n` rows of `n`) to u8
    /// with [`Requant`]. Panics on a length mismatch or if `min > max`.
    pub fn requantize_acc(&self, acc: &[i32], n: usize, q: &Requant<'_>, out: &mut [u8]) {
        let bias = q.bias.map_or(n, <[i32]>::len);
        check("requantize_acc", acc.len(), out.len(), n, &[("multiplier", q.multiplier.len()), ("bias", bias)]);
        assert!(q.min <= q.max, "requantize_acc: min {} > max {}", q.min, q.max);
        if acc.is_empty() {
            return;
        }
        requant_isa(self.isa, acc, n, q, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::int8::tier::available;

    #[test]
    fn dequantize_example() {
        let k = Int8Kernels::detect();
        let mut out = [0.0; 4];
        let d = Dequant { scale_a: 0.5, scale_b: &[2.0, 0.25], bias: Some(&[1.0, -1.0]), act: Activation::Relu };
        k.dequantize_acc(&[3, 4, -5, 8], 2, &d, &mut out);
        assert_eq!(out, [4.0, 0.0, 0.0, 0.0]);
        let d = Dequant { act: Activation::Identity, bias: None, ..d };
        k.dequantize_acc(&[3, 4, -5, 8], 2, &d, &mut out);
        assert_eq!(out, [3.0, 0.5, -5.0, 1.0]);
    }

    #[test]
    fn requantize_rounds_half_to_even_and_clamps() {
        let k = Int8Kernels::detect();
        let q = Requant { multiplier: &[0.5], bias: Some(&[1]), zero_point: 10, min: 10, max: 200 };
        let mut out = [0u8; 7];
        // (acc + 1) / 2: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -1.5 -> -2 (clamped to 10), huge -> 200.
        k.requantize_acc(&[0, 2, 4, -4, 1000, i32::MAX, i32::MIN], 1, &q, &mut out);
        assert_eq!(out, [10, 12, 12, 10, 200, 10, 10]);
    }

    const ACTIVATIONS: [Activation; 4] =
        [Activation::Identity, Activation::Relu, Activation::Gelu, Activation::HardSwish];

    /// The activations equal their separate passes: ReLU clamps at zero
    /// (NaN too), GELU is [`crate::gelu`] bit for bit.
    #[test]
    fn activations_equal_their_separate_passes() {
        let n = 5;
        let acc: Vec<i32> = (-40..40).map(|i| i * 997).collect();
        let sb = [0.011, 0.003, 0.02, 0.0007, 0.05];
        let bias = [0.5, -1.0, 0.0, 2.0, -0.25];
        for t in available() {
            let plain = Dequant { scale_a: 0.1, scale_b: &sb, bias: Some(&bias), act: Activation::Identity };
            let mut want = vec![0f32; acc.len()];
            t.dequantize_acc(&acc, n, &plain, &mut want);
            let mut relu = want.clone();
            crate::relu(&mut relu);
            let mut gelu = want.clone();
            crate::gelu(&mut gelu);
            assert!(gelu.iter().zip(&want).any(|(g, w)| g != w && *w != 0.0));
            let hard_swish: Vec<f32> = want.iter().map(|&x| hard_swish_one(x)).collect();
            assert!(hard_swish.iter().zip(&want).any(|(h, w)| h != w && *w > 0.0 && *h > 0.0));
            let acts = [(Activation::Relu, relu), (Activation::Gelu, gelu), (Activation::HardSwish, hard_swish)];
            for (act, want) in acts {
                let mut got = vec![0f32; acc.len()];
                t.dequantize_acc(&acc, n, &Dequant { act, ..plain }, &mut got);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "{} {act:?}", t.tier());
            }
        }
    }

    /// The fused epilogue equals dequantize_acc then a quantization by
    /// `1 / scale` exactly, and dequantize_acc then quantize_u8 within one,
    /// on every tier, with and without bias, for every activation.
    #[test]
    fn dequantize_quantize_equals_the_two_passes() {
        let n = 19;
        let acc: Vec<i32> = (0..n * 11)
            .map(|i: usize| (i as i32).wrapping_mul(0x9E37_79B9u32 as i32) >> (i % 23))
            .chain([i32::MIN, i32::MAX, 0, -1, 1])
            .collect();
        let acc = &acc[..acc.len() / n * n];
        let sb: Vec<f32> = (0..n).map(|j| 1e-7 * (j as f32 + 1.0)).collect();
        let bias: Vec<f32> = (0..n).map(|j| j as f32 * 0.37 - 3.0).collect();
        for t in available().iter().chain([&Int8Kernels::detect()]) {
            for b in [Some(&bias[..]), None] {
                for act in ACTIVATIONS {
                    let d = Dequant { scale_a: 0.3, scale_b: &sb, bias: b, act };
                    let mut f = vec![0f32; acc.len()];
                    t.dequantize_acc(acc, n, &d, &mut f);
                    let (mut divided, mut got) = (vec![0u8; acc.len()], vec![0u8; acc.len()]);
                    t.quantize_u8(&f, 0.013, 77, &mut divided);
                    t.dequantize_quantize_acc(acc, n, &d, 0.013, 77, &mut got);
                    let want: Vec<u8> = f.iter().map(|&x| quantize_by(x, 1.0 / 0.013, 77.0)).collect();
                    assert_eq!(got, want, "{} bias {} {act:?}", t.tier(), b.is_some());
                    assert!(got.iter().zip(&divided).all(|(a, b)| a.abs_diff(*b) <= 1));
                    assert!(got.iter().zip(&divided).filter(|(a, b)| a != b).count() * 50 <= got.len());
                }
            }
        }
    }

    /// Every tier's build matches the baseline bit for bit on awkward values.
    #[test]
    fn tiers_agree() {
        let n = 37;
        let acc: Vec<i32> = (0..n * 9)
            .map(|i: usize| (i as i32).wrapping_mul(0x9E37_79B9u32 as i32) >> (i % 31))
            .chain([i32::MIN, i32::MAX, 0, -1, 1])
            .take(n * 9)
            .collect();
        let mult: Vec<f32> = (0..n).map(|j| 1e-6 * (j as f32 + 1.0) * if j % 3 == 0 { 1000.0 } else { 1.0 }).collect();
        let bias_i: Vec<i32> = (0..n as i32).map(|j| j * 1000 - 7000).collect();
        let bias_f: Vec<f32> = (0..n).map(|j| j as f32 * 0.1 - 1.5).collect();
        let tables = available();
        let base = Int8Kernels::detect();
        let q = Requant { multiplier: &mult, bias: Some(&bias_i), zero_point: 128, min: 3, max: 250 };
        let (mut rq0, mut dq0) = (vec![0u8; acc.len()], vec![vec![0f32; acc.len()]; ACTIVATIONS.len()]);
        let scalar = Int8Kernels::for_tier(crate::int8::Tier::Scalar).unwrap();
        scalar.requantize_acc(&acc, n, &q, &mut rq0);
        let dequant = |act| Dequant { scale_a: 0.02, scale_b: &mult, bias: Some(&bias_f), act };
        for (act, dq0) in ACTIVATIONS.into_iter().zip(&mut dq0) {
            scalar.dequantize_acc(&acc, n, &dequant(act), dq0);
        }
        for t in tables.iter().chain([&base]) {
            let mut rq = vec![0u8; acc.len()];
            t.requantize_acc(&acc, n, &q, &mut rq);
            assert_eq!(rq, rq0, "{}", t.tier());
            for (act, dq0) in ACTIVATIONS.into_iter().zip(&dq0) {
                let mut dq = vec![0f32; acc.len()];
                t.dequantize_acc(&acc, n, &dequant(act), &mut dq);
                assert_eq!(
                    dq.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                    dq0.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                    "{} {act:?}",
                    t.tier()
                );
            }
        }
        // Reference formula, written out.
        for (i, &v) in acc.iter().enumerate() {
            let j = i % n;
            let x = (v.wrapping_add(bias_i[j]) as f32 * mult[j]).round_ties_even() + 128.0;
            assert_eq!(rq0[i], x.clamp(3.0, 250.0) as u8);
        }
    }

    #[test]
    #[should_panic(expected = "multiplier has 2 entries, N is 3")]
    fn short_multiplier_panics() {
        let q = Requant { multiplier: &[1.0, 1.0], bias: None, zero_point: 0, min: 0, max: 255 };
        Int8Kernels::detect().requantize_acc(&[0; 6], 3, &q, &mut [0; 6]);
    }

    /// One scale per column gives, column by column, what the per-tensor
    /// epilogue gives with that column's scale, on every tier.
    #[test]
    fn per_column_output_scales_match_the_per_tensor_epilogue() {
        let n = 6;
        let acc: Vec<i32> = (-60..60).map(|i| i * 613 - 7).collect();
        let sb = [0.011, 0.003, 0.02, 0.0007, 0.05, 0.009];
        let bias = [0.5, -1.0, 0.0, 2.0, -0.25, 0.1];
        let scales = [0.05, 0.2, 0.013, 0.7, 0.031, 0.09];
        for t in available() {
            for act in ACTIVATIONS {
                for b in [Some(&bias[..]), None] {
                    let d = Dequant { scale_a: 0.1, scale_b: &sb, bias: b, act };
                    let mut got = vec![0u8; acc.len()];
                    t.dequantize_quantize_acc_cols(&acc, n, &d, &scales, 7, &mut got);
                    for (j, &s) in scales.iter().enumerate() {
                        let mut want = vec![0u8; acc.len()];
                        t.dequantize_quantize_acc(&acc, n, &d, s, 7, &mut want);
                        let col = |v: &[u8]| v.iter().skip(j).step_by(n).copied().collect::<Vec<_>>();
                        assert_eq!(col(&got), col(&want), "{:?} {act:?} column {j}", t.tier());
                    }
                }
            }
        }
    }
}
