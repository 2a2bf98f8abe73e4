//! CPU compute kernels for the ptq executor.
//!
//! [`mod@f32`] holds the single-precision kernels: [`sgemm`] over strided views,
//! [`conv2d`] (im2col + GEMM, a direct depthwise path, 1x1 as a plain GEMM,
//! a direct AVX-512 path for stride-1 layers),
//! [`conv_transpose2d`] (GEMM + col2im) and slice kernels
//! ([`add_channel_bias`], [`relu`], [`softmax_rows`], [`exp`]).
//!
//! [`int8`] holds the integer path's kernels: u8×s8→i32 GEMM on weights
//! packed once, convolution read in place from a padded channels-last
//! image, depthwise convolution, epilogues back to f32 or u8, a quantized
//! add, and slice quantize/dequantize, with scalar, AVX2, AVX-512 VNNI and
//! NEON tiers chosen once per process (or pinned with `PTQ_CPU_TIER`); the
//! tests hold every tier to the results of the scalar one.
//! [`layout`] transposes between channels-first and channels-last.
//!
//! The f32 kernels dispatched per instruction set give the same bits on
//! every build (no contracted multiply-adds; explicit `mul_add` where a
//! fused one is wanted). `PTQ_CPU_TIER` pins their build too (`scalar` →
//! baseline, `avx2`, `avx512vnni` → AVX-512), so one machine can time a
//! lower tier's f32 path; `sgemm` (the `gemm` crate) chooses its own.
//!
//! [`Pool`] is a spinning thread pool for short parallel sections, and
//! [`parallel`] sends [`Threads::Pool`] work to it (or to rayon).
//!
//! Every public function is safe: it checks slice lengths against the shape it
//! is given and panics on a mismatch. This is the only workspace crate allowed
//! `unsafe`; each `unsafe` block says why it is sound. The crate depends on no
//! other workspace crate.

pub mod f32;
pub mod int8;
pub mod layout;
pub mod parallel;
mod pool;
mod threads;
mod uninit;

pub use f32::{
    Arith, Conv2d, ConvTranspose2d, Gemm, add_channel_bias, arith, conv_transpose2d, conv2d, erf, exp, gelu,
    layer_norm_rows, max_pool_2x2, relu, sgemm, sigmoid, softmax_rows, tanh,
};
pub use pool::{Claims, Pool, SPIN};
pub use threads::Threads;
