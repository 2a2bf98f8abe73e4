//! f32 kernel benchmarks: `sgemm` against the `gemm` and `matrixmultiply`
//! crates called directly on the same shapes (one thread each), and `conv2d`
//! on two real layers. Throughput is in FLOP (2 per multiply-add), so
//! criterion's "Gelem/s" reads as GFLOP/s; the slice kernels count elements.
//!
//! Quick run: `cargo bench -p ptq-kernels -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ptq_kernels::{Conv2d, Gemm, Threads, add_channel_bias, conv2d, exp, relu, sgemm, softmax_rows};

#[path = "support/bytes.rs"]
mod support;
use support::floats as data;

/// GEMM shapes as (M, K, N) from real layers.
const GEMM_SHAPES: &[(&str, usize, usize, usize)] = &[
    ("bert_qkv", 128, 768, 768),
    ("bert_ffn1", 128, 768, 3072),
    ("bert_ffn2", 128, 3072, 768),
    ("r50_conv2_im2col", 3136, 576, 64),
    ("r50_conv3_im2col", 784, 1152, 128),
    ("gemv", 1, 768, 768),
];

fn gemm_benches(c: &mut Criterion) {
    for &(name, m, k, n) in GEMM_SHAPES {
        let mut group = c.benchmark_group(format!("sgemm/{name}_{m}x{k}x{n}"));
        group.throughput(Throughput::Elements(2 * (m * n * k) as u64));
        let a = data(m * k, 1);
        let b = data(k * n, 2);
        let mut out = vec![0.0f32; m * n];
        let g = Gemm::row_major(m, n, k, false, false);
        group.bench_function("ptq", |bench| {
            bench.iter(|| sgemm(&g, black_box(&a), black_box(&b), &mut out, Threads::Single))
        });
        group.bench_function("gemm", |bench| {
            bench.iter(|| {
                // SAFETY: row-major A (m×k), B (k×n) and C (m×n) exactly fill
                // their buffers; C is a unique borrow and does not alias A or B.
                unsafe {
                    gemm::gemm(
                        m,
                        n,
                        k,
                        out.as_mut_ptr(),
                        1,
                        n as isize,
                        false,
                        black_box(&a).as_ptr(),
                        1,
                        k as isize,
                        black_box(&b).as_ptr(),
                        1,
                        n as isize,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    )
                }
            })
        });
        group.bench_function("matrixmultiply", |bench| {
            bench.iter(|| {
                // SAFETY: as above; matrixmultiply is single-threaded without
                // its `threading` feature.
                unsafe {
                    matrixmultiply::sgemm(
                        m,
                        k,
                        n,
                        1.0,
                        black_box(&a).as_ptr(),
                        k as isize,
                        1,
                        black_box(&b).as_ptr(),
                        n as isize,
                        1,
                        0.0,
                        out.as_mut_ptr(),
                        n as isize,
                        1,
                    )
                }
            })
        });
        group.finish();
    }
}

fn conv_benches(c: &mut Criterion) {
    let resnet = Conv2d {
        n: 1,
        c: 64,
        h: 56,
        w: 56,
        m: 64,
        kh: 3,
        kw: 3,
        stride: [1, 1],
        dilation: [1, 1],
        pads: [1; 4],
        group: 1,
    };
    let mobilenet_dw = Conv2d { c: 32, m: 32, h: 112, w: 112, group: 32, ..resnet };
    for (name, p) in [("resnet_3x3_64to64_56x56", resnet), ("mobilenet_dw3x3_32ch_112x112", mobilenet_dw)] {
        let [oh, ow] = p.out_hw();
        let macs = p.n * p.m * oh * ow * (p.c / p.group) * p.kh * p.kw;
        let mut group = c.benchmark_group(format!("conv2d/{name}"));
        group.throughput(Throughput::Elements(2 * macs as u64));
        let x = data(p.n * p.c * p.h * p.w, 3);
        let w = data(p.m * (p.c / p.group) * p.kh * p.kw, 4);
        let bias = data(p.m, 5);
        let mut y = vec![0.0f32; p.n * p.m * oh * ow];
        for threads in [Threads::Single, Threads::Pool] {
            group.bench_with_input(BenchmarkId::from_parameter(format!("{threads:?}")), &threads, |bench, &t| {
                bench.iter(|| conv2d(&p, black_box(&x), black_box(&w), Some(&bias), &mut y, t))
            });
        }
        group.finish();
    }
}

fn slice_benches(c: &mut Criterion) {
    // A ResNet activation (64×56×56) and BERT-base attention scores (12 heads
    // × 128 × 128, softmax over rows of 128).
    let act = data(64 * 56 * 56, 6);
    let bias = data(64, 7);
    let scores: Vec<f32> = data(12 * 128 * 128, 8).iter().map(|v| v * 8.0).collect();
    let mut group = c.benchmark_group("slice");
    let mut y = act.clone();
    group.throughput(Throughput::Elements(act.len() as u64));
    group.bench_function("relu_64x56x56", |bench| {
        bench.iter(|| {
            y.copy_from_slice(&act);
            relu(&mut y)
        })
    });
    group.bench_function("add_channel_bias_64x56x56", |bench| bench.iter(|| add_channel_bias(&mut y, &bias, 56 * 56)));
    let mut s = scores.clone();
    group.throughput(Throughput::Elements(scores.len() as u64));
    // In place, on the last iteration's output (rows of probabilities are
    // as good an input as any: the kernel has no branch on values). A fresh
    // copy per iteration would time the copy: `scores` and `s` together
    // are larger than L2.
    group.bench_function("softmax_rows_12x128x128", |bench| bench.iter(|| softmax_rows(black_box(&mut s), 128)));
    group.bench_function("exp_196608", |bench| {
        bench.iter(|| {
            s.copy_from_slice(&scores);
            exp(&mut s)
        })
    });
    group.bench_function("f32_exp_loop_196608", |bench| {
        bench.iter(|| {
            s.copy_from_slice(&scores);
            for v in s.iter_mut() {
                *v = v.exp();
            }
        })
    });
    group.finish();
}

criterion_group!(benches, gemm_benches, conv_benches, slice_benches);
criterion_main!(benches);
