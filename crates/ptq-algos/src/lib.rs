//! Post-training quantization algorithms over ptq-ir graphs, with NNCF's
//! defaults: batch-norm folding, quantizer placement from a hardware table
//! ([`hw`]) with propagation through quantization-agnostic ops, ranges from
//! calibration statistics ([`spec`]), FastBiasCorrection ([`bias`]), and
//! Q/DQ insertion ([`qdq`]). [`quantize_graph`] runs them in order.

#![forbid(unsafe_code)]

pub mod activations;
pub mod algorithm;
pub mod bias;
pub mod bias_correction;
pub mod bodies;
#[cfg(test)]
mod bodies_tests;
pub mod cache;
pub mod calibrate;
pub mod channel_alignment;
pub mod diagnose;
pub mod embeddings;
mod error;
pub mod fast_bias_correction;
pub mod fold;
pub mod groups;
pub mod hw;
pub mod min_max;
pub mod options;
pub mod overflow;
pub mod pipeline;
#[cfg(test)]
mod pipeline_tests;
pub mod placement;
#[cfg(test)]
mod placement_tests;
pub mod pool;
pub mod qdq;
#[cfg(test)]
mod qdq_tests;
pub mod range;
pub mod range_choice;
pub mod report;
pub mod scope;
pub mod se_block;
pub mod smooth_quant;
#[cfg(test)]
mod smooth_quant_tests;
pub mod spec;
pub mod structure;
#[cfg(test)]
mod testgraph;
pub mod weight_range;

pub use cache::StatsCache;
pub use calibrate::Item;
pub use error::AlgoError;
pub use groups::{Group, RestoreMode};
pub use options::{ModelType, OverflowFix, Preset, QuantizeOptions};
pub use pipeline::{Event, Exclusions, Quantized, Setup, quantize_graph};
pub use range::RangeEstimator;
pub use report::Report;
pub use scope::{IgnoredScope, Subgraph};
pub use smooth_quant::SmoothQuantAlphas;
pub use spec::QuantSpec;
pub use weight_range::WeightRange;
