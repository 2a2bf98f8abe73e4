//! Graph-to-graph passes.

pub mod fold_bn;

pub use fold_bn::{Folded, fold_batch_norms};
