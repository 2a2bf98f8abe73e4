//! The int8 path's elementwise kernels on one ResNet feature map (64
//! channels × 32×32 positions), on the best tier this CPU has, one thread:
//! the fused dequantize-quantize epilogue, QuantizeLinear and the u8 add;
//! and the epilogue of a transformer's GELU layer. Throughput is in
//! elements (of the feature map; the GELU case has 64 Ki elements too).
//!
//! Quick run: `cargo bench -p ptq-kernels --bench int8_elementwise -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ptq_kernels::int8::{Activation, Dequant, Int8Kernels, QuantAdd, U8Quant};

#[path = "support/bytes.rs"]
mod support;
use support::{bytes, floats};

const CHANNELS: usize = 64;
const POSITIONS: usize = 32 * 32;

fn elementwise(c: &mut Criterion) {
    let k = Int8Kernels::detect();
    let len = CHANNELS * POSITIONS;
    let mut group = c.benchmark_group(format!("int8_elementwise/{}", k.tier()));
    group.throughput(Throughput::Elements(len as u64));
    let acc: Vec<i32> =
        bytes(4 * len, 1).chunks_exact(4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], 0]) - (1 << 23)).collect();
    let sw: Vec<f32> = floats(CHANNELS, 2).iter().map(|v| 1e-4 * (1.5 + v)).collect();
    let bias = floats(CHANNELS, 3);
    let d = Dequant { scale_a: 0.02, scale_b: &sw, bias: Some(&bias), act: Activation::Relu };
    let mut out = vec![0u8; len];
    group.bench_function("dequantize_quantize_acc", |b| {
        b.iter(|| k.dequantize_quantize_acc(black_box(&acc), CHANNELS, &d, 0.013, 0, &mut out))
    });
    // A transformer's first feed-forward layer: 128 tokens × 512 columns,
    // bias, exact GELU, then the quantizer.
    let (rows, cols) = (128, 512);
    let acc_ffn: Vec<i32> = acc.iter().cycle().take(rows * cols).map(|v| v >> 8).collect();
    let sw_ffn: Vec<f32> = floats(cols, 7).iter().map(|v| 1e-3 * (1.5 + v)).collect();
    let bias_ffn = floats(cols, 8);
    let gelu = Dequant { scale_a: 0.02, scale_b: &sw_ffn, bias: Some(&bias_ffn), act: Activation::Gelu };
    let mut out_ffn = vec![0u8; rows * cols];
    group.bench_function("dequantize_quantize_acc_gelu_128x512", |b| {
        b.iter(|| k.dequantize_quantize_acc(black_box(&acc_ffn), cols, &gelu, 0.02, 10, &mut out_ffn))
    });
    let x: Vec<f32> = floats(len, 4).iter().map(|v| 3.0 * v).collect();
    group.bench_function("quantize_u8", |b| b.iter(|| k.quantize_u8(black_box(&x), 0.013, 128, &mut out)));
    let (a, bb) = (bytes(len, 5), bytes(len, 6));
    let p = QuantAdd {
        a: U8Quant { scale: 0.031, zero_point: 0 },
        b: U8Quant { scale: 0.017, zero_point: 0 },
        relu: true,
        out: U8Quant { scale: 0.045, zero_point: 0 },
    };
    group.bench_function("add_u8", |b| b.iter(|| k.add_u8(black_box(&a), black_box(&bb), &p, &mut out)));
    group.finish();
}

criterion_group!(benches, elementwise);
criterion_main!(benches);
