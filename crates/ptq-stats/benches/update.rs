//! `TensorStats::update` on a 1M-element activation: per-tensor with and
//! without the histogram, per-channel along a middle axis (NCHW channels,
//! long contiguous runs) and along the last axis (channels-last).
//!
//! Quick run: `cargo bench -p ptq-stats --bench update -- --warm-up-time 1 --measurement-time 3`.
#![forbid(unsafe_code)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ptq_stats::{StatsConfig, TensorStats};

/// Deterministic data in [-1, 1).
fn data(len: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let shape = [1usize, 64, 128, 128];
    let x = data(shape.iter().product(), 7);
    let mut g = c.benchmark_group("update_1M");
    g.throughput(Throughput::Elements(x.len() as u64));
    let configs = [
        ("per_tensor", StatsConfig::per_tensor(0)),
        ("per_tensor_hist2048", StatsConfig::per_tensor(2048)),
        ("per_channel_axis1", StatsConfig::per_channel(1)),
    ];
    for (name, cfg) in configs {
        g.bench_function(name, |b| {
            let mut s = TensorStats::new(&cfg);
            b.iter(|| s.update(black_box(&shape), black_box(&x)))
        });
    }
    let last = [1usize, 1024, 1024];
    g.bench_function("per_channel_last_axis", |b| {
        let mut s = TensorStats::new(&StatsConfig::per_channel(2));
        b.iter(|| s.update(black_box(&last), black_box(&x)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
