//! OpenVINO IR (`.xml` + `.bin`, IR versions 10 and 11) for ptq.
//!
//! [`doc`] parses the XML into layers, ports and edges without
//! interpreting them; [`bin`] reads weight ranges from the `.bin` with
//! every offset and size checked against the file; [`element`] maps IR
//! element types to ptq-ir dtypes; [`export`] writes a graph back as IR v11
//! with quantizers as FakeQuantize and int8 weights. A malformed or hostile file is a typed
//! [`OpenVinoError`] naming the file and the layer, never a panic.

#![forbid(unsafe_code)]

pub mod bin;
pub mod doc;
pub mod element;
mod error;
pub mod export;
pub mod import;
mod ops;

pub use error::OpenVinoError;
pub use export::{ExportOptions, IrFiles, save, to_ir};
pub use import::{IrInfo, IrModel, import_bytes, load};
