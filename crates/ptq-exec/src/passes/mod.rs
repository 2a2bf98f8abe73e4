//! Graph rewrites the executor applies, on the plan's own copy of the
//! graph, never the caller's. IR to IR, on the graph the plan holds: with
//! [`ExecOptions::optimize`](crate::ExecOptions::optimize), batch norms
//! folded into the convolution before them
//! (`ptq_ir::passes::fold_batch_norms`) and the exported exact GELU fused
//! into one node ([`fuse_gelu`]); with
//! [`ExecOptions::integer`](crate::ExecOptions::integer), quantizers put in
//! Q/DQ form ([`canon`]). Inside the lowering, on its scratch copy
//! ([`crate::lower::lower`]): a Relu fused into the Conv, Gemm or MatMul
//! before it ([`fuse`]), and, after the integer rewrite (which must read
//! the i8 weights before their dequantization folds away), every node whose
//! inputs are all constants evaluated once ([`fold`]). Values that
//! disappear are not seen by probes.

pub(crate) mod canon;
pub(crate) mod fold;
pub(crate) mod fuse;
pub(crate) mod fuse_gelu;
pub(crate) mod gather_rows;
