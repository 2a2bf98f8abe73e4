//! Runs a [`ptq_ir::Graph`] on the CPU.
//!
//! [`Plan::new`] checks once that every op is supported (listing all that are
//! not), fixes the schedule and computes when each value dies; [`Plan::run`]
//! executes it, dropping intermediates after their last use and reusing dying
//! buffers in place where an op allows. [`Plan::run_with_probe`] shows chosen
//! intermediate tensors to a closure without copying them, which is how
//! calibration statistics are collected.
//!
//! Inside: `plan.rs` builds the schedule and runs it; `ops/` holds one
//! kernel per op; `passes/` holds the graph rewrites; `lower/` turns the
//! graph into the steps a plan runs, integer kernels included
//! ([`ExecOptions::integer`]); `limits.rs` refuses an output past
//! [`ExecOptions::max_elements`] before it is allocated; `memo.rs` reuses
//! shape arithmetic across runs; `work.rs` decides which steps use the
//! plan's threads. A plan rewrites its own copy of the graph, never the
//! caller's.
#![forbid(unsafe_code)]

mod error;
mod inputs;
mod limits;
mod lower;
mod memo;
mod ops;
mod passes;
mod plan;
mod util;
mod work;

pub use error::ExecError;
pub use limits::DEFAULT_MAX_ELEMENTS;
pub use passes::fold::fold_shrinking_constants;
pub use plan::{BodyProbe, ExecOptions, Plan, Probe};
/// The int8 kernel tier the integer path runs (`PTQ_CPU_TIER`, else the
/// CPU's best), and its type.
pub use ptq_kernels::int8::{Tier as Int8Tier, active_tier as int8_tier};
