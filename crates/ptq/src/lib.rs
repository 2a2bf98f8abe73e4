//! ptq: post-training 8-bit quantization of neural networks.
//!
//! This facade loads models in any supported format (ONNX, OpenVINO IR)
//! into one framework-neutral graph ([`Graph`]), quantizes them with
//! NNCF's defaults, and writes them back in the same format, or in the
//! other one when the output's extension names it ([`Model::save`]).
//! Frontends are behind cargo features (`onnx`, `openvino`, both on by
//! default); the crate builds and its tests pass with either alone or with
//! none, where loading or saving that format is [`Error::FormatNotBuilt`].
//!
//! The facade re-exports the types a program needs from the crates below
//! it (graph types, the executor's [`Plan`] and [`ExecOptions`], the
//! statistics cache), not whole crates; the `ptq` command line uses
//! nothing else.
//!
//! ```no_run
//! let model = ptq::load("model.onnx")?;
//! let calibration = ptq::Dataset::open("calib.npz")?;
//! let q = ptq::quantize(&model, &calibration, &ptq::QuantizeOptions::default())?;
//! let (activations, weights) = q.report.counts();
//! println!("{activations} activation and {weights} weight quantizers");
//! q.model.save("model.int8.onnx")?;
//! # Ok::<(), ptq::Error>(())
//! ```
#![forbid(unsafe_code)]

pub mod accuracy;
mod dataset;
mod error;
pub mod eval;
mod format;
mod model;
pub mod npz;
mod quantize;

pub use accuracy::{AccuracyControlled, AccuracyOptions, AccuracyReport, DropType, quantize_with_accuracy_control};
pub use dataset::{Dataset, Item, ItemResult};
pub use error::Error;
pub use format::Format;
#[cfg(feature = "onnx")]
pub use model::load_onnx_bytes;
pub use model::{LoadOptions, Model, load, load_with};
pub use quantize::{
    Event, IgnoredScope, ModelType, OverflowFix, Preset, QuantizeOptions, QuantizedModel, QuantizerRow, RangeEstimator,
    Report, SMOOTH_QUANT_OUTLIER_RATIO, SmoothQuantAlphas, Subgraph, WeightRange, quantize, quantize_with_events,
};

// The graph a model is held in, as far as a program reads it. Building or
// rewriting graphs is the business of the `ptq-ir` crate itself.
pub use ptq_ir::fact::shape_string;
pub use ptq_ir::summary::Summary;
pub use ptq_ir::{DType, Dim, Fact, Graph, Node, NodeId, Op, Shape, Tensor, Value, ValueId};
// Running a model on ptq's executor.
pub use ptq_exec::{ExecError, ExecOptions, Int8Tier, Plan, Probe, int8_tier};
// The statistics cache a quantization can reuse across runs.
pub use ptq_algos::StatsCache;
// The errors inside [`Error`], for callers that sort them by kind.
pub use ptq_accuracy::AccuracyError;
pub use ptq_algos::AlgoError;

/// The types most programs need.
pub mod prelude {
    pub use crate::{DType, Dim, Graph, Tensor};
    pub use crate::{Dataset, Error, Format, Model, QuantizeOptions, load, quantize};
}
