//! ptq: post-training 8-bit quantization of neural networks.
//!
//! This facade loads models in any supported format into one framework-neutral
//! graph ([`ptq_ir::Graph`]) and writes them back. Frontends are behind cargo
//! features (`onnx`, on by default).
//!
//! ```no_run
//! let model = ptq::load("model.onnx")?;
//! println!("{} nodes", model.graph().node_count());
//! model.save("copy.onnx")?;
//! # Ok::<(), ptq::Error>(())
//! ```
#![forbid(unsafe_code)]

mod error;
mod format;
mod model;
pub mod npz;

pub use error::Error;
pub use format::Format;
pub use model::{Model, load};
pub use ptq_exec as exec;
pub use ptq_ir as ir;

/// The types most programs need.
pub mod prelude {
    pub use crate::{Error, Format, Model, load};
    pub use ptq_ir::prelude::*;
}
