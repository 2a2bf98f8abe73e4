//! Times `conv2d` (f32) on every distinct convolution shape of ResNet-50
//! (torchvision, 224×224, batch 1), one thread, on the f32 build that
//! `PTQ_CPU_TIER` selects (else the widest this CPU has): the minimum and
//! median of many calls, and GFLOP/s at the minimum, weighted by how often
//! the shape occurs in the model so the total is the model's convolution
//! time.
//!
//! usage: `conv_timing [ITERS]` (default 20).

use std::hint::black_box;

use ptq_kernels::{Conv2d, Threads, conv2d};

#[path = "../benches/support/bytes.rs"]
mod support;
mod timing;
use support::floats;

/// (name, count in the model, C, H=W, M, K, stride)
const SHAPES: &[(&str, usize, usize, usize, usize, usize, usize)] = &[
    ("stem 7x7/2 3->64 @224", 1, 3, 224, 64, 7, 2),
    ("l1 1x1 64->64 @56", 1, 64, 56, 64, 1, 1),
    ("l1 3x3 64->64 @56", 3, 64, 56, 64, 3, 1),
    ("l1 1x1 64->256 @56", 4, 64, 56, 256, 1, 1),
    ("l1 1x1 256->64 @56", 2, 256, 56, 64, 1, 1),
    ("l2 1x1 256->128 @56", 1, 256, 56, 128, 1, 1),
    ("l2 3x3/2 128->128 @56", 1, 128, 56, 128, 3, 2),
    ("l2 1x1/2 256->512 @56", 1, 256, 56, 512, 1, 2),
    ("l2 3x3 128->128 @28", 3, 128, 28, 128, 3, 1),
    ("l2 1x1 128->512 @28", 4, 128, 28, 512, 1, 1),
    ("l2 1x1 512->128 @28", 3, 512, 28, 128, 1, 1),
    ("l3 1x1 512->256 @28", 1, 512, 28, 256, 1, 1),
    ("l3 3x3/2 256->256 @28", 1, 256, 28, 256, 3, 2),
    ("l3 1x1/2 512->1024 @28", 1, 512, 28, 1024, 1, 2),
    ("l3 3x3 256->256 @14", 5, 256, 14, 256, 3, 1),
    ("l3 1x1 256->1024 @14", 6, 256, 14, 1024, 1, 1),
    ("l3 1x1 1024->256 @14", 5, 1024, 14, 256, 1, 1),
    ("l4 1x1 1024->512 @14", 1, 1024, 14, 512, 1, 1),
    ("l4 3x3/2 512->512 @14", 1, 512, 14, 512, 3, 2),
    ("l4 1x1/2 1024->2048 @14", 1, 1024, 14, 2048, 1, 2),
    ("l4 3x3 512->512 @7", 2, 512, 7, 512, 3, 1),
    ("l4 1x1 512->2048 @7", 3, 512, 7, 2048, 1, 1),
    ("l4 1x1 2048->512 @7", 2, 2048, 7, 512, 1, 1),
];

fn main() {
    let iters = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    let tier = std::env::var("PTQ_CPU_TIER").unwrap_or_else(|_| "widest".into());
    println!("f32 build: {tier}; {iters} calls each, one thread");
    let mut total = 0.0;
    for &(name, count, c, hw, m, k, s) in SHAPES {
        let pad = k / 2;
        let p = Conv2d {
            n: 1,
            c,
            h: hw,
            w: hw,
            m,
            kh: k,
            kw: k,
            stride: [s, s],
            dilation: [1, 1],
            pads: [pad; 4],
            group: 1,
        };
        let [oh, ow] = p.out_hw();
        let x = floats(c * hw * hw, 1);
        let w = floats(m * c * k * k, 2);
        let bias = floats(m, 3);
        let mut y = vec![0f32; m * oh * ow];
        let t = timing::sorted_seconds(iters, || {
            conv2d(&p, black_box(&x), black_box(&w), Some(&bias), &mut y, Threads::Single)
        });
        let flops = 2.0 * (m * oh * ow * c * k * k) as f64;
        total += t[0] * count as f64;
        println!(
            "{name:<26} x{count}  min {:>8.3} ms  median {:>8.3} ms  {:>6.1} GFLOP/s",
            t[0] * 1e3,
            t[t.len() / 2] * 1e3,
            flops / t[0] / 1e9
        );
    }
    println!("all convolutions (minimum × count): {:.2} ms", total * 1e3);
}
