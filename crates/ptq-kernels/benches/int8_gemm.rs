//! int8 GEMM (u8×s8→i32, packed B) on each int8 tier this CPU has, against
//! the crate's own f32 `sgemm`, on BERT-base's FFN1 shape and BERT-tiny's projections, one thread.
//! Throughput is in operations (2 per multiply-add): criterion's "Gelem/s"
//! reads as GOPS. Packing B is done once, outside the timed loop.
//!
//! Quick run: `cargo bench -p ptq-kernels --bench int8_gemm -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ptq_kernels::int8::{Activation, Dequant, Int8Kernels, PackedB, Tier};
use ptq_kernels::{Gemm, Threads, sgemm};

#[path = "support/bytes.rs"]
mod support;
use support::bytes;

/// (name, M, K, N).
const SHAPES: &[(&str, usize, usize, usize)] = &[
    ("bert_ffn1", 128, 768, 3072),
    // BERT-tiny's (hidden 128, FFN 512) projections on 128 tokens.
    ("bert_tiny_qkv", 128, 128, 128),
    ("bert_tiny_ffn1", 128, 128, 512),
    ("bert_tiny_ffn2", 128, 512, 128),
];

fn int8_gemm(c: &mut Criterion) {
    for &(name, m, k, n) in SHAPES {
        let mut group = c.benchmark_group(format!("int8_gemm/{name}_{m}x{k}x{n}"));
        group.throughput(Throughput::Elements(2 * (m * n * k) as u64));
        let a = bytes(m * k, 1);
        let b: Vec<i8> = bytes(k * n, 2).into_iter().map(|v| v as i8).collect();
        let packed = PackedB::new(&b, k, n);
        let mut out = vec![0i32; m * n];
        for tier in Tier::ALL {
            let Ok(kernels) = Int8Kernels::for_tier(tier) else { continue };
            group.bench_function(tier.name(), |bench| {
                bench.iter(|| kernels.gemm_u8s8(black_box(&a), m, 3, black_box(&packed), &mut out))
            });
        }
        // The whole quantized linear layer (product and dequantizing
        // epilogue in row blocks), on the best tier.
        let kernels = Int8Kernels::detect();
        let sw = vec![1e-3f32; n];
        let bias = vec![0.5f32; n];
        let d = Dequant { scale_a: 0.02, scale_b: &sw, bias: Some(&bias), act: Activation::Identity };
        let mut y = vec![0f32; m * n];
        group.bench_function(format!("linear_f32_{}", kernels.tier()), |bench| {
            bench.iter(|| kernels.linear_f32(black_box(&a), m, 3, &packed, &d, &mut y, Threads::Single))
        });
        let af: Vec<f32> = a.iter().map(|&v| f32::from(v) - 3.0).collect();
        let bf: Vec<f32> = b.iter().map(|&v| f32::from(v)).collect();
        let mut outf = vec![0f32; m * n];
        let g = Gemm::row_major(m, n, k, false, false);
        group.bench_function("f32_sgemm", |bench| {
            bench.iter(|| sgemm(&g, black_box(&af), black_box(&bf), &mut outf, Threads::Single))
        });
        group.finish();
    }
}

criterion_group!(benches, int8_gemm);
criterion_main!(benches);
