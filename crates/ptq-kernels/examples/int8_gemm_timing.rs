//! Times the int8 GEMM on every tier this CPU has and the f32 `sgemm` on one
//! M×K×N shape, one thread, and prints one JSON object of median
//! milliseconds (`cargo xtask bench-gemm` runs it beside onnxruntime's
//! MatMulInteger).
//!
//! usage: `int8_gemm_timing [M K N [ITERS]]` (default 128 768 3072 30).
//!
//! Where the CPU has AVX-512 VNNI it also measures one core's `vpdpbusd`
//! peak (independent accumulator chains on register operands), so the GEMM
//! can be quoted as a fraction of what this core really does.

use std::time::Instant;

use ptq_kernels::int8::{Int8Kernels, PackedB, Tier};
use ptq_kernels::{Gemm, Threads, sgemm};

#[path = "../benches/support/bytes.rs"]
mod support;
mod timing;
use support::bytes;

/// Median milliseconds of `iters` calls of `f`, after two untimed ones.
fn median_ms(iters: usize, f: impl FnMut()) -> f64 {
    let t = timing::sorted_seconds(iters, f);
    t[t.len() / 2] * 1e3
}

fn main() {
    let args: Result<Vec<usize>, _> = std::env::args().skip(1).map(|a| a.parse::<usize>()).collect();
    let (m, k, n, iters) = match args.as_deref() {
        Ok([]) => (128, 768, 3072, 30),
        Ok(&[m, k, n]) => (m, k, n, 30),
        Ok(&[m, k, n, i]) => (m, k, n, i),
        _ => {
            eprintln!("usage: int8_gemm_timing [M K N [ITERS]]");
            std::process::exit(2);
        }
    };
    let a = bytes(m * k, 1);
    let b: Vec<i8> = bytes(k * n, 2).into_iter().map(|v| v as i8).collect();
    let packed = PackedB::new(&b, k, n);
    // The same weights halved to 7 bits, as the overflow fix stores them.
    let b7: Vec<i8> = b.iter().map(|&v| v >> 1).collect();
    let packed7 = PackedB::new(&b7, k, n);
    let mut out = vec![0i32; m * n];
    let mut fields = vec![format!("\"m\":{m},\"k\":{k},\"n\":{n}")];
    for tier in Tier::ALL {
        let Ok(kernels) = Int8Kernels::for_tier(tier) else { continue };
        let ms = median_ms(iters, || kernels.gemm_u8s8(&a, m, 3, &packed, &mut out));
        fields.push(format!("\"{}\":{ms}", tier.name()));
        let ms = median_ms(iters, || kernels.gemm_u8s8(&a, m, 3, &packed7, &mut out));
        fields.push(format!("\"{}_7bit\":{ms}", tier.name()));
    }
    let af: Vec<f32> = a.iter().map(|&v| f32::from(v) - 3.0).collect();
    let bf: Vec<f32> = b.iter().map(|&v| f32::from(v)).collect();
    let mut outf = vec![0f32; m * n];
    let g = Gemm::row_major(m, n, k, false, false);
    let ms = median_ms(iters, || sgemm(&g, &af, &bf, &mut outf, Threads::Single));
    fields.push(format!("\"f32_sgemm\":{ms}"));
    if let Some(gops) = vnni_peak_gops() {
        fields.push(format!("\"vnni_peak_gops\":{gops}"));
    }
    println!("{{{}}}", fields.join(","));
}

/// One core's `vpdpbusd zmm` throughput in int8 operations per second (2
/// per multiply-add, 64 multiply-adds per instruction), best of 21 trials of
/// 12 independent chains; `None` without AVX-512 VNNI.
fn vnni_peak_gops() -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512vnni") {
        const ROUNDS: usize = 1 << 20;
        let best = (0..21)
            .map(|_| {
                let t = Instant::now();
                // SAFETY: AVX-512 VNNI (and with it AVX-512F) was detected above.
                std::hint::black_box(unsafe { dpbusd_chains(ROUNDS) });
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        return Some((ROUNDS * 12 * 64 * 2) as f64 / best / 1e9);
    }
    None
}

/// `rounds` × 12 `vpdpbusd` on independent accumulators.
///
/// # Safety
/// The CPU must support AVX-512F and AVX-512 VNNI.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vnni")]
unsafe fn dpbusd_chains(rounds: usize) -> i32 {
    use std::arch::x86_64::*;
    let a = _mm512_set1_epi8(std::hint::black_box(3));
    let b = _mm512_set1_epi8(std::hint::black_box(-2));
    let mut acc = [_mm512_setzero_si512(); 12];
    for _ in 0..rounds {
        for c in acc.iter_mut() {
            *c = _mm512_dpbusd_epi32(*c, a, b);
        }
    }
    acc.iter().fold(0, |s, &c| s.wrapping_add(_mm512_reduce_add_epi32(c)))
}
