//! Int8 kernels: u8 activations × s8 weights → i32 GEMM on packed weights,
//! with scalar, AVX2, AVX-512 VNNI and aarch64 NEON tiers chosen once from
//! the CPU (or pinned with `PTQ_CPU_TIER`), epilogues back to f32 or u8, and
//! slice quantize/dequantize.
//!
//! ```
//! use ptq_kernels::int8::{Int8Kernels, PackedB};
//! let k = Int8Kernels::detect();
//! let b = PackedB::new(&[1, -2, 3, 4], 2, 2); // B = [[1, -2], [3, 4]]
//! let mut c = [0i32; 2];
//! k.gemm_u8s8(&[10, 20], 1, 10, &b, &mut c); // A = [[10, 20]], za = 10
//! assert_eq!(c, [30, 40]);
//! ```

mod add;
mod conv;
mod depthwise;
mod epilogue;
mod gemm;
#[cfg(target_arch = "x86_64")]
mod kernel_avx2;
#[cfg(target_arch = "x86_64")]
mod kernel_avx512;
#[cfg(target_arch = "aarch64")]
mod kernel_neon;
mod kernel_scalar;
mod linear;
mod pack;
mod quantize;
mod reference;
mod tier;
mod u8s8;

pub use add::{QuantAdd, U8Quant};
pub use epilogue::{Activation, Dequant, Requant, hard_swish_one};
pub use gemm::ConvGeom;
pub use pack::PackedB;
pub use reference::gemm_u8s8_ref;
pub use tier::{Int8Kernels, TIER_ENV, Tier, TierError, active_tier, int8_kernels};
pub use u8s8::INT8_PARALLEL_MACS;
