//! Single-precision kernels.

mod arith;
mod batched;
mod conv;
mod conv_transpose;
mod depthwise;
mod direct;
mod elementwise;
pub(crate) mod erf;
mod exp;
mod gather;
mod gemm;
mod im2col;
pub(crate) mod isa;
mod layer_norm;
mod max_pool;
pub(crate) mod scratch;
mod softmax;
mod tanh;
mod tasks;
mod window;

#[cfg(test)]
pub(crate) mod testutil;

pub use arith::{Arith, arith};
pub use conv::{Conv2d, conv2d};
pub use conv_transpose::{ConvTranspose2d, conv_transpose2d};
pub use elementwise::{add_channel_bias, relu};
pub use erf::{erf, gelu};
pub use exp::exp;
pub use gemm::{Gemm, sgemm};
pub use layer_norm::layer_norm_rows;
pub use max_pool::max_pool_2x2;
pub use softmax::softmax_rows;
pub use tanh::{sigmoid, tanh};
