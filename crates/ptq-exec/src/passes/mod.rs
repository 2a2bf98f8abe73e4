//! Graph rewrites the executor applies before it plans: constant folding,
//! Relu fusion into the preceding MatMul/Conv and GELU pattern fusion.
//! Each runs on the plan's own copy of the graph, never the caller's.

pub(crate) mod fold;
pub(crate) mod fuse;
pub(crate) mod fuse_gelu;
