//! Graph-to-graph passes.

pub mod fold_affine;
pub mod fold_bn;

pub use fold_affine::fold_channel_affine;
pub use fold_bn::{Folded, fold_batch_norms};
