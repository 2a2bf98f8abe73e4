//! ptq: post-training 8-bit quantization of neural networks.
//!
//! This facade loads models in any supported format (ONNX; OpenVINO IR for
//! reading) into one framework-neutral graph ([`ptq_ir::Graph`]), quantizes
//! them with NNCF's defaults, and writes them back. Frontends are behind
//! cargo features (`onnx`, `openvino`, both on by default).
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
pub use model::{Model, load};
pub use ptq_algos as algos;
pub use ptq_exec as exec;
pub use ptq_ir as ir;
pub use quantize::{
    Event, IgnoredScope, ModelType, OverflowFix, Preset, QuantizeOptions, QuantizedModel, RangeEstimator, Report,
    Subgraph, quantize, quantize_with_events,
};

/// The types most programs need.
pub mod prelude {
    pub use crate::{Dataset, Error, Format, Model, QuantizeOptions, load, quantize};
    pub use ptq_ir::prelude::*;
}
