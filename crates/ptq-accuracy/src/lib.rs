//! Quantization with accuracy control (NNCF's
//! `quantize_with_accuracy_control`): quantize, measure the metric drop
//! against the float model, and while it exceeds `max_drop` revert to float
//! the quantizer group whose reversion helps the metric most on the items
//! that suffer most, with one-step rollback when a reversion makes things
//! worse. The best model found is returned with a report, whether or not
//! the goal was met.
//!
//! Calibration runs once. Reverting a group rebuilds the graph from
//! ptq-algos' [`Setup`](ptq_algos::Setup) with the group's activation
//! quantizers left out (and, with the default [`RestoreMode`], its weight
//! quantizers and corrected biases too). Groups come from
//! `ptq_algos::groups`. The validation function ([`Validate`]) scores a
//! graph on item indices and may be called from several threads at once:
//! ranking scores candidate groups in parallel batches.

#![forbid(unsafe_code)]

mod control;
mod drop;
mod error;
mod options;
mod rank;
mod report;

pub use control::{Controlled, Event, Validate, Validation, quantize_with_accuracy_control};
pub use drop::accuracy_drop;
pub use error::AccuracyError;
pub use options::{AccuracyOptions, DropType};
pub use ptq_algos::RestoreMode;
pub use report::{AccuracyReport, Outcome, Step};
