//! Times the transformer-shaped elementwise kernels on the best tier this
//! CPU has, one thread: the minimum and median of many calls (criterion's
//! benches report the mean of a sustained run; on a shared machine the
//! minimum is the steadier figure).
//!
//! usage: `elementwise_timing [ITERS]` (default 1000); prints one line per
//! kernel: the minimum and the median, in microseconds and in nanoseconds
//! per element.
//!
//! Kernels and shapes (bert_tiny at batch 8, seq 128, per block of rows):
//! QuantizeLinear on 128 Ki floats, the fused bias + GELU + quantize
//! epilogue on 128×512 accumulators, the identity quantizing epilogue on
//! the same, Softmax on 12×128×128 scores in place, LayerNorm on rows of
//! 128.

use std::hint::black_box;

use ptq_kernels::int8::{Activation, Dequant, Int8Kernels};
use ptq_kernels::{layer_norm_rows, softmax_rows};

#[path = "../benches/support/bytes.rs"]
mod support;
mod timing;
use support::floats;

/// Minimum and median microseconds of `iters` calls of `f`, after two
/// untimed ones.
fn time_us(iters: usize, f: impl FnMut()) -> (f64, f64) {
    let t = timing::sorted_seconds(iters, f);
    (t[0] * 1e6, t[t.len() / 2] * 1e6)
}

fn report(what: &str, (min, median): (f64, f64), elements: usize) {
    let per = |us: f64| us * 1e3 / elements as f64;
    println!("{what:<44} min {min:>8.2} µs ({:.3} ns/element), median {median:>8.2} µs ({:.3})", per(min), per(median));
}

fn main() {
    let iters = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let k = Int8Kernels::detect();
    println!("tier {}, {iters} calls each", k.tier());

    let x: Vec<f32> = floats(128 * 1024, 1).iter().map(|v| 3.0 * v).collect();
    let mut q = vec![0u8; x.len()];
    report("quantize_u8 (128 Ki)", time_us(iters, || k.quantize_u8(black_box(&x), 0.013, 128, &mut q)), x.len());

    let (rows, cols) = (128, 512);
    let acc: Vec<i32> = floats(rows * cols, 2).iter().map(|v| (v * 20_000.0) as i32).collect();
    let sw: Vec<f32> = floats(cols, 3).iter().map(|v| 1e-4 * (1.5 + v)).collect();
    let bias = floats(cols, 4);
    let mut out = vec![0u8; rows * cols];
    for act in [Activation::Identity, Activation::Gelu] {
        let d = Dequant { scale_a: 0.02, scale_b: &sw, bias: Some(&bias), act };
        let us = time_us(iters, || k.dequantize_quantize_acc(black_box(&acc), cols, &d, 0.02, 10, &mut out));
        report(&format!("dequantize_quantize_acc {act:?} (128x512)"), us, acc.len());
    }

    // In place on the previous call's output: the kernel has no branch on
    // values, and a copy per call would be timed too.
    let mut scores: Vec<f32> = floats(12 * 128 * 128, 5).iter().map(|v| 8.0 * v).collect();
    let n = scores.len();
    report("softmax_rows (12x128x128, rows of 128)", time_us(iters, || softmax_rows(black_box(&mut scores), 128)), n);

    let mut h = floats(1024 * 128, 6);
    let (scale, shift) = (floats(128, 7), floats(128, 8));
    let n = h.len();
    let us = time_us(iters, || layer_norm_rows(black_box(&mut h), &scale, Some(&shift), 1e-12, None, None));
    report("layer_norm_rows (1024 rows of 128)", us, n);
}
