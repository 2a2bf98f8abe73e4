//! Graph rewrites the executor applies before it plans, each on the plan's
//! own copy of the graph, never the caller's. `canon` (quantizers in Q/DQ
//! form) and `fuse_gelu` turn valid IR into valid IR; `fuse` (Relu into
//! its producer's epilogue) and `fold` (constant folding) run inside the
//! lowering, on its scratch copy (see [`crate::lower::lower`]).

pub(crate) mod canon;
pub(crate) mod fold;
pub(crate) mod fuse;
pub(crate) mod fuse_gelu;
